"""Trusted senders as org admins and the operator manage them: create, invite, (de)activate, list.

`actor` is the user acting in the web app or the API (an org admin of the organisation, else
`NotAllowed`), or None for the operator's CLI. Every change goes to the organisation's audit
log (SEC-10).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.orm import Session

from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.intake import TrustedSender
from accesspoint.db.tables.organisations import Organisation
from accesspoint.mail import Mailer
from accesspoint.sharing import audit
from accesspoint.sharing.context import Context
from accesspoint.sharing.orgs import require_member

from .rules import SenderEvent, SenderState, Whitelist, WhitelistKind, new_receiver_address, normalise_address, transition

__all__ = ["CONTEXTS", "SenderView", "create_sender", "find_sender", "senders_of", "send_invitation",
           "set_state", "verified_users", "view"]

#: W7.1's document contexts: where an accepted invoice goes.
CONTEXTS = {"sales_draft": "Draft sales invoice", "purchase": "Purchase invoice"}


@dataclass(frozen=True, slots=True)
class SenderView:
    id: str
    organisation_id: int
    organisation_name: str
    name: str
    context: str
    receiver_address: str
    whitelist: Whitelist
    contact_email: str
    state: SenderState
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "organisation_id": self.organisation_id, "organisation": self.organisation_name,
                "name": self.name, "context": self.context, "receiver_address": self.receiver_address,
                "whitelist": {"kind": self.whitelist.kind.value, "value": self.whitelist.value},
                "contact_email": self.contact_email, "state": self.state.value,
                "created_at": self.created_at.isoformat()}

    @property
    def whitelist_text(self) -> str:
        if self.whitelist.kind is WhitelistKind.VERIFIED_USERS:
            return "verified users of the organisation"
        return ("the address " if self.whitelist.kind is WhitelistKind.ADDRESS else "anyone at ") + self.whitelist.value


def view(db: Session, sender: TrustedSender) -> SenderView:
    org = db.get(Organisation, sender.organisation_id)
    return SenderView(
        id=sender.public_id, organisation_id=sender.organisation_id, organisation_name=org.name if org else "",
        name=sender.name, context=sender.context, receiver_address=sender.receiver_address,
        whitelist=Whitelist(WhitelistKind(sender.whitelist_kind), sender.whitelist_value),
        contact_email=sender.contact_email, state=SenderState(sender.state), created_at=sender.created_at)


def _allowed(db: Session, actor: User | None, organisation_id: int) -> Organisation:
    if actor is not None:
        return require_member(db, actor, organisation_id, admin=True)  # raises NotAllowed
    org = db.get(Organisation, organisation_id)
    if org is None:
        raise LookupError(f"no organisation {organisation_id}")
    return org


def create_sender(db: Session, ctx: Context, actor: User | None, *, organisation_id: int, domain: str,
                  whitelist: Whitelist, contact_email: str, context: str = "sales_draft", name: str = "") -> SenderView:
    """A new sender in `draft`, with a fresh receiver address at the intake `domain`."""
    org = _allowed(db, actor, organisation_id)
    if context not in CONTEXTS:
        raise ValueError(f"document context {context!r} is not one of {', '.join(CONTEXTS)}")
    contact = normalise_address(contact_email)
    while True:  # 60 random bits: a collision is a test of this loop, not a real event
        address = new_receiver_address(domain)
        if db.scalar(sa.select(TrustedSender.id).where(TrustedSender.receiver_address == address)) is None:
            break
    sender = TrustedSender(
        public_id=str(uuid.uuid4()), organisation_id=org.id, context=context, name=name.strip()[:200],
        receiver_address=address, whitelist_kind=whitelist.kind.value, whitelist_value=whitelist.value,
        contact_email=contact, state=SenderState.DRAFT.value, created_by=actor.id if actor else None,
        created_at=ctx.now, updated_at=ctx.now)
    db.add(sender)
    db.flush()
    audit.record(db, ctx, "trusted_sender.created", actor_id=actor.id if actor else None,
                 object_type="trusted_sender", object_id=sender.id, organisation_id=org.id, after="draft",
                 detail={"address": address, "whitelist": whitelist.kind.value, "value": whitelist.value,
                         "context": context})
    return view(db, sender)


def find_sender(db: Session, sender_id: str) -> TrustedSender:
    sender = db.scalar(sa.select(TrustedSender).where(TrustedSender.public_id == sender_id))
    if sender is None:
        raise LookupError(f"no trusted sender {sender_id!r}")
    return sender


def senders_of(db: Session, actor: User | None, organisation_id: int | None = None) -> list[SenderView]:
    """The senders of one organisation, or (operator, no organisation) of every organisation.

    A user sees only the senders of organisations they administer (W7.1).
    """
    query = sa.select(TrustedSender).order_by(TrustedSender.id)
    if organisation_id is not None:
        _allowed(db, actor, organisation_id)
        query = query.where(TrustedSender.organisation_id == organisation_id)
    elif actor is not None:
        admin_of = sa.select(Membership.organisation_id).where(
            Membership.user_id == actor.id, Membership.status == "active", Membership.role == "org_admin")
        query = query.where(TrustedSender.organisation_id.in_(admin_of))
    return [view(db, s) for s in db.scalars(query)]


def _move(db: Session, ctx: Context, actor: User | None, sender: TrustedSender, event: SenderEvent) -> SenderState:
    before = SenderState(sender.state)
    after = transition(before, event)  # raises TransitionRefused
    sender.state = after.value
    sender.updated_at = ctx.now
    audit.record(db, ctx, f"trusted_sender.{event.value}", actor_id=actor.id if actor else None,
                 object_type="trusted_sender", object_id=sender.id, organisation_id=sender.organisation_id,
                 before=before.value, after=after.value)
    return after


def send_invitation(db: Session, ctx: Context, actor: User | None, sender_id: str, mailer: Mailer, *,
                    node_name: str) -> SenderView:
    """Mail the contact where to send invoices (W7.2 *Send invitation*); draft -> invited.

    The mail goes out before the commit: a mail server that refuses it leaves the sender in
    draft, and the user sees why. A second invitation is a resend.
    """
    sender = find_sender(db, sender_id)
    org = _allowed(db, actor, sender.organisation_id)
    _move(db, ctx, actor, sender, SenderEvent.SEND_INVITATION)
    v = view(db, sender)
    msg = EmailMessage()
    msg["To"] = sender.contact_email
    msg["Subject"] = f"Send your invoices for {org.name} to {sender.receiver_address}"
    msg.set_content(
        f"Hello,\n\n{org.name} receives its invoices through {node_name}. From now on, please email each\n"
        f"invoice as a UBL (XML) attachment, optionally with its PDF, to:\n\n    {sender.receiver_address}\n\n"
        f"Mail is accepted from {v.whitelist_text}. Mail from anyone else, without an invoice or with an\n"
        f"invoice that does not pass the Peppol BIS Billing 3.0 rules is refused, and this address is told why.\n")
    mailer.send(msg)
    return v


def set_state(db: Session, ctx: Context, actor: User | None, sender_id: str, *, active: bool) -> SenderView:
    """*Update status*: activate (from draft, invited or inactive) or deactivate."""
    sender = find_sender(db, sender_id)
    _allowed(db, actor, sender.organisation_id)
    _move(db, ctx, actor, sender, SenderEvent.ACTIVATE if active else SenderEvent.DEACTIVATE)
    return view(db, sender)


def verified_users(db: Session, organisation_id: int) -> frozenset[str]:
    """The verified addresses of everyone with rights on the organisation: its active members,
    which includes the intermediary's users once an authorisation request was accepted (the
    acceptance makes them members)."""
    rows = db.scalars(
        sa.select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.organisation_id == organisation_id, Membership.status == "active",
            User.email_verified_at.is_not(None)))
    return frozenset(normalise_address(e) for e in rows)
