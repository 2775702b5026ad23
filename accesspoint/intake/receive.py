"""From a mail the listener took to a stored verdict: accepted (drafts made) or rejected (why).

The rule is AS4's: what the SMTP server acknowledged is stored. `receive` commits the mail,
its verdict and its drafts in one transaction and only then returns, so the listener's 250
(or 550 for a rejection, which is stored too) always follows a commit. A client that lost
the reply sends the same mail again; the duplicate keys (Message-ID, SHA-256, per sender)
find the stored copy and nothing is stored or drafted twice.

Rejections are mailed to the sender's contact after the commit (a mail server that is down
must not lose the verdict) and written to the organisation's audit log with it.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import shares

from accesspoint.db.tables.documents import Document
from accesspoint.db.tables.intake import IntakeDraft, IntakeMessage, TrustedSender
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier
from accesspoint.delivery import ledger
from accesspoint.delivery.errors import DocumentRejected
from accesspoint.delivery.facts import OutgoingDocument, read_outgoing, summary_columns
from accesspoint.mail import MailError, Mailer
from accesspoint.sharing import audit
from accesspoint.sharing.context import Context

from .message import MailFacts, read_mail
from .rules import DmarcVerdict, SenderEvent, SenderState, Whitelist, WhitelistKind, normalise_address, transition
from .senders import verified_users

__all__ = ["Intake", "Outcome", "Recipient", "DmarcCheck"]

log = logging.getLogger(__name__)

#: Returns the fatal rule ids of a UBL document (empty = acceptable), as the outbox's validator.
Validator = Callable[[bytes], Sequence[str]]
#: (raw mail, From domain) -> the DMARC verdict and a line saying how it was reached.
DmarcCheck = Callable[[bytes, str], tuple[DmarcVerdict, str]]


class Recipient(enum.Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one mail for one receiver address."""

    address: str
    #: "accepted", "rejected" or "duplicate" (already stored: the first verdict stands).
    outcome: str
    reason: str = ""
    detail: str = ""
    message_id: str | None = None
    drafts: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.outcome in ("accepted", "duplicate")


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


#: Sentences for the contact, per reason.
REASONS = {
    "not-whitelisted": "the sender is not on the list of senders allowed to use this address",
    "dmarc-fail": "the sender's domain is allowed, but this mail failed its DMARC check (it may be forged)",
    "no-from": "the mail has no single From address",
    "no-invoice": "the mail carries no UBL invoice or credit note (attach it as an .xml file)",
    "unreadable": "the XML attachment is not a UBL invoice or credit note that can be read",
    "invalid": "the invoice does not pass the Peppol BIS Billing 3.0 rules",
    "wrong-organisation": "the invoice is not from (or, for purchase invoices, not to) this organisation",
    "organisation-not-active": "the organisation may not send or receive invoices yet",
    "duplicate-invoice": "this invoice (same supplier, number and date) was received before",
}


class Intake:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime], mailer: Mailer,
                 validator: Validator | None = None, dmarc: DmarcCheck | None = None,
                 node_name: str = "peppol-node") -> None:
        self.sessions = sessions
        self.clock = clock
        self.mailer = mailer
        self.validator = validator
        self.dmarc = dmarc
        self.node_name = node_name

    # -- RCPT ------------------------------------------------------------------------------------
    def recipient(self, address: str) -> Recipient:
        """Whether RCPT TO `address` is taken: a known receiver address of a sender that is not
        inactive. The listener answers 550 otherwise, before any of the mail is sent."""
        try:
            address = normalise_address(address)
        except ValueError:
            return Recipient.UNKNOWN
        with self.sessions() as db:
            state = db.scalar(sa.select(TrustedSender.state).where(TrustedSender.receiver_address == address))
        if state is None:
            return Recipient.UNKNOWN
        return Recipient.INACTIVE if state == SenderState.INACTIVE.value else Recipient.KNOWN

    # -- DATA ------------------------------------------------------------------------------------
    def receive(self, raw: bytes, *, recipients: Sequence[str], mail_from: str = "", peer: str = "") -> list[Outcome]:
        """Store `raw` once per receiver address with its verdict; returns after the commits."""
        facts = read_mail(raw)
        verdict, verdict_detail = DmarcVerdict.NONE, "not checked"
        if facts.header_from and self.dmarc is not None:
            try:
                verdict, verdict_detail = self.dmarc(raw, facts.header_from.rpartition("@")[2])
            except Exception as exc:  # noqa: BLE001 - DNS trouble is not the sender's fault: record it
                verdict, verdict_detail = DmarcVerdict.NONE, f"could not check: {exc}"[:500]
        outcomes = []
        for address in dict.fromkeys(normalise_address(r) for r in recipients):
            outcomes.append(self._receive_one(raw, facts, address, mail_from=mail_from, peer=peer,
                                              verdict=verdict, verdict_detail=verdict_detail))
        for outcome in outcomes:
            if outcome.outcome == "rejected":
                self._notify(outcome)
        return outcomes

    def _receive_one(self, raw: bytes, facts: MailFacts, address: str, *, mail_from: str, peer: str,
                     verdict: DmarcVerdict, verdict_detail: str) -> Outcome:
        now = self.clock()
        with self.sessions() as db:
            sender = db.scalar(sa.select(TrustedSender).where(TrustedSender.receiver_address == address))
            if sender is None or sender.state == SenderState.INACTIVE.value:
                # Refused at RCPT already; a sender made inactive between RCPT and DATA lands here.
                return Outcome(address, "rejected", "inactive-sender", "this address does not take mail")
            duplicate = self._stored(db, sender.id, facts)
            if duplicate is not None:
                return duplicate
            message = IntakeMessage(
                public_id=str(uuid.uuid4()), sender_id=sender.id, message_id=facts.message_id, sha256=facts.sha256,
                mail_from=mail_from[:320], header_from=facts.header_from[:320], subject=facts.subject, peer=peer[:100],
                dmarc=verdict.value, dmarc_detail=verdict_detail[:500], outcome="accepted", raw=raw, received_at=now)
            db.add(message)
            drafts: list[str] = []
            documents: list[OutgoingDocument] = []
            try:
                documents = self._check(db, sender, facts, verdict)  # reads only
            except _Rejected as rejected:
                message.outcome, message.reason, message.detail = "rejected", rejected.reason, rejected.detail
            db.flush()
            if message.outcome == "accepted":
                drafts = self._file(db, sender, message, documents, facts, now)
            ctx = Context(now=now, ip=peer)
            if message.outcome == "accepted":
                before = SenderState(sender.state)
                after = transition(before, SenderEvent.FIRST_INVOICE)
                if after is not before:
                    sender.state, sender.updated_at = after.value, now
                    audit.record(db, ctx, "trusted_sender.first_invoice", actor_id=None, object_type="trusted_sender",
                                 object_id=sender.id, organisation_id=sender.organisation_id,
                                 before=before.value, after=after.value)
            audit.record(db, ctx, f"intake.mail_{message.outcome}", actor_id=None, object_type="intake_message",
                         object_id=message.id, organisation_id=sender.organisation_id,
                         detail={"address": address, "from": facts.header_from, "reason": message.reason,
                                 "dmarc": verdict.value, "drafts": len(drafts)})
            try:
                db.commit()
            except sa.exc.IntegrityError:
                # The same mail on another connection a moment ago (a client retrying at once).
                db.rollback()
                duplicate = self._stored(db, sender.id, facts)
                if duplicate is None:
                    raise
                return duplicate
            log.info("intake mail for %s %s%s", address, message.outcome,
                     f" ({message.reason})" if message.reason else "",
                     extra={"event": "intake_mail", "outcome": message.outcome, "reason": message.reason,
                            "intake_message": message.public_id})
            return Outcome(address, message.outcome, message.reason, message.detail, message.public_id, tuple(drafts))

    @staticmethod
    def _stored(db: Session, sender_id: int, facts: MailFacts) -> Outcome | None:
        same = IntakeMessage.sha256 == facts.sha256
        if facts.message_id:
            same = sa.or_(same, IntakeMessage.message_id == facts.message_id)
        row = db.scalar(sa.select(IntakeMessage).where(IntakeMessage.sender_id == sender_id, same)
                        .order_by(IntakeMessage.id))
        if row is None:
            return None
        address = db.scalar(sa.select(TrustedSender.receiver_address).where(TrustedSender.id == sender_id))
        return Outcome(address or "", "duplicate", row.reason, row.detail, row.public_id)

    def _check(self, db: Session, sender: TrustedSender, facts: MailFacts,
               verdict: DmarcVerdict) -> list[OutgoingDocument]:
        """The invoices of an acceptable mail, or `_Rejected` with the first reason that applies."""
        if not facts.header_from:
            raise _Rejected("no-from", REASONS["no-from"])
        rule = Whitelist(WhitelistKind(sender.whitelist_kind), sender.whitelist_value)
        users = verified_users(db, sender.organisation_id) if rule.kind is WhitelistKind.VERIFIED_USERS else frozenset()
        if not rule.allows(facts.header_from, verified_users=users, dmarc=verdict):
            if rule.kind is WhitelistKind.DOMAIN and Whitelist(WhitelistKind.DOMAIN, rule.value).allows(
                    facts.header_from):
                raise _Rejected("dmarc-fail", f"{REASONS['dmarc-fail']}: {facts.header_from}")
            raise _Rejected("not-whitelisted", f"{REASONS['not-whitelisted']}: {facts.header_from}")
        if not facts.xml:
            raise _Rejected("no-invoice", REASONS["no-invoice"])
        org = db.get(Organisation, sender.organisation_id)
        if org is None or not shares.activation.may_exchange(org.status):  # W1.3, as for AS4
            why = shares.activation.why_not_active(org.status, org.status_reason) if org else "it was deleted"
            raise _Rejected("organisation-not-active", f"{REASONS['organisation-not-active']}: {why}")
        ours = {f"{s}:{v}" for s, v in db.execute(
            sa.select(OrganisationIdentifier.scheme, OrganisationIdentifier.value)
            .where(OrganisationIdentifier.organisation_id == sender.organisation_id))}
        documents = []
        for attachment in facts.xml:
            try:
                doc = read_outgoing(attachment.content)
            except DocumentRejected as exc:
                raise _Rejected("unreadable", f"{attachment.filename or 'the XML'}: {exc}") from None
            party = doc.sender if sender.context == "sales_draft" else doc.receiver
            if f"{party.scheme}:{party.value}" not in ours:
                raise _Rejected("wrong-organisation", f"{REASONS['wrong-organisation']}: {doc.number} names {party}")
            if sender.context == "purchase" and db.scalar(sa.select(Document.id).where(
                    Document.organisation_id == sender.organisation_id, Document.direction == "in",
                    Document.duplicate_key == doc.duplicate_key)) is not None:
                raise _Rejected("duplicate-invoice", f"{REASONS['duplicate-invoice']}: {doc.number}")
            if self.validator is not None:
                fatal = tuple(self.validator(doc.content))
                if fatal:
                    raise _Rejected("invalid", f"{doc.number or attachment.filename}: {REASONS['invalid']}: "
                                               + ", ".join(fatal))
            documents.append(doc)
        return documents

    def _file(self, db: Session, sender: TrustedSender, message: IntakeMessage, documents: list[OutgoingDocument],
              facts: MailFacts, now: datetime) -> list[str]:
        """Drafts (sales context) or purchase documents for the organisation; their public ids."""
        pdf = facts.pdf[0].content if len(facts.pdf) == 1 and len(documents) == 1 else None
        ids = []
        for doc in documents:
            public_id = str(uuid.uuid4())
            if sender.context == "sales_draft":
                db.add(IntakeDraft(
                    public_id=public_id, message_id=message.id, organisation_id=sender.organisation_id,
                    content=doc.content, pdf=pdf, number=doc.number, buyer_name=doc.buyer_name[:300],
                    buyer_id=str(doc.receiver)[:170], document_name=f"Invoice {doc.number}"[:200],
                    description=f"{doc.number} to {doc.buyer_name}, by email from {facts.header_from}"[:1000],
                    state="draft", created_at=now))
            else:
                db.add(Document(
                    public_id=public_id, organisation_id=sender.organisation_id, direction="in",
                    connection="peppol_purchase", sender_id=str(doc.sender), receiver_id=str(doc.receiver),
                    document_type_id=str(doc.document_type_id), process_id=str(doc.process_id),
                    instance_identifier=doc.instance_identifier or str(uuid.uuid4()), number=doc.number,
                    issue_date=doc.issue_date, country_c1=doc.country_c1, buyer_email=None,
                    duplicate_key=doc.duplicate_key, content=doc.content, pdf=pdf, created_at=now,
                    **summary_columns(doc.summary)))
                # W4: a document received through the node (by mail), charged to the payer of now.
                ledger.record(db, at=now, organisation_id=sender.organisation_id, direction="in", channel="email",
                              document_public_id=public_id)
            ids.append(public_id)
        return ids

    # -- rejections ------------------------------------------------------------------------------
    def _notify(self, outcome: Outcome) -> None:
        """Tell the sender's contact why a mail was refused; remember that it was told."""
        with self.sessions() as db:
            row = db.scalar(sa.select(IntakeMessage).where(IntakeMessage.public_id == outcome.message_id))
            if row is None:
                return
            sender = db.get(TrustedSender, row.sender_id)
            msg = EmailMessage()
            msg["To"] = sender.contact_email
            msg["Subject"] = f"Invoice mail refused: {REASONS.get(row.reason, row.reason)}"[:200]
            msg.set_content(
                f"A mail to {sender.receiver_address} was refused by {self.node_name}.\n\n"
                f"From:     {row.header_from or row.mail_from or '(none)'}\n"
                f"Subject:  {row.subject or '(none)'}\n"
                f"Received: {row.received_at.isoformat(timespec='seconds')}\n"
                f"Reason:   {row.reason}\n\n{row.detail}\n\n"
                "Nothing from this mail was sent on. Correct it and send it again.\n")
            try:
                self.mailer.send(msg)
            except MailError as exc:
                log.warning("could not tell %s of a refused mail: %s", sender.contact_email, exc)
                return
            row.notified_at = self.clock()
            db.commit()

