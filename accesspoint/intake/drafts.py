"""Draft sales invoices that arrived by mail (W7.3): look, name, send. Never edit.

The supplier's package made the invoice; the organisation only decides to send it. So the UBL
is kept as it came (no debtor or line changes: a wrong invoice is corrected at the source and
mailed again), only the document name and description (W8.1) may be changed, and *Send* hands
the bytes to the outbox like any upload: validation, duplicate check, network first, email
fallback, the outbox history. Sending twice is harmless: the outbox's duplicate rule (same
supplier, number, date) returns the first entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from accesspoint.db.tables.accounts import User
from accesspoint.delivery.outbox import EntryView, Outbox
from accesspoint.db.tables.intake import IntakeDraft, IntakeMessage, TrustedSender
from accesspoint.sharing import audit
from accesspoint.sharing.context import Context
from accesspoint.sharing.orgs import require_member

__all__ = ["DraftView", "drafts_of", "find_draft", "mark_sent", "rename_draft", "send_draft", "view_draft"]


@dataclass(frozen=True, slots=True)
class DraftView:
    id: str
    organisation_id: int
    number: str
    buyer_name: str
    buyer_id: str
    document_name: str
    description: str
    state: str
    outbox_entry: str | None
    received_from: str
    receiver_address: str
    has_pdf: bool
    created_at: datetime
    sent_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "organisation_id": self.organisation_id, "number": self.number,
                "buyer": {"name": self.buyer_name, "id": self.buyer_id}, "document_name": self.document_name,
                "description": self.description, "state": self.state, "outbox_entry": self.outbox_entry,
                "received_from": self.received_from, "receiver_address": self.receiver_address,
                "has_pdf": self.has_pdf, "created_at": self.created_at.isoformat(),
                "sent_at": self.sent_at.isoformat() if self.sent_at else None}


def view_draft(db: Session, draft: IntakeDraft) -> DraftView:
    message = db.get(IntakeMessage, draft.message_id)
    sender = db.get(TrustedSender, message.sender_id) if message else None
    return DraftView(
        id=draft.public_id, organisation_id=draft.organisation_id, number=draft.number, buyer_name=draft.buyer_name,
        buyer_id=draft.buyer_id, document_name=draft.document_name, description=draft.description, state=draft.state,
        outbox_entry=draft.outbox_entry, received_from=message.header_from if message else "",
        receiver_address=sender.receiver_address if sender else "", has_pdf=draft.pdf is not None,
        created_at=draft.created_at, sent_at=draft.sent_at)


def _allowed(db: Session, actor: User | None, organisation_id: int) -> None:
    if actor is not None:
        require_member(db, actor, organisation_id)  # any member may send the organisation's invoices


def drafts_of(db: Session, actor: User | None, organisation_id: int, *, state: str | None = None) -> list[DraftView]:
    _allowed(db, actor, organisation_id)
    query = sa.select(IntakeDraft).where(IntakeDraft.organisation_id == organisation_id).order_by(IntakeDraft.id.desc())
    if state:
        query = query.where(IntakeDraft.state == state)
    return [view_draft(db, d) for d in db.scalars(query)]


def find_draft(db: Session, actor: User | None, draft_id: str) -> IntakeDraft:
    draft = db.scalar(sa.select(IntakeDraft).where(IntakeDraft.public_id == draft_id))
    if draft is None:
        raise LookupError(f"no draft {draft_id!r}")
    _allowed(db, actor, draft.organisation_id)
    return draft


def rename_draft(db: Session, ctx: Context, actor: User | None, draft_id: str, *, document_name: str,
                 description: str) -> DraftView:
    """*Save*: the name and description are the only things a user changes (W8.1, W7.3)."""
    draft = find_draft(db, actor, draft_id)
    if draft.state != "draft":
        raise ValueError("this invoice was sent already")
    name = document_name.strip()
    if not name:
        raise ValueError("a document name is needed")
    draft.document_name, draft.description = name[:200], description.strip()[:1000]
    audit.record(db, ctx, "intake.draft_saved", actor_id=actor.id if actor else None, object_type="intake_draft",
                 object_id=draft.id, organisation_id=draft.organisation_id)
    return view_draft(db, draft)


def mark_sent(db: Session, ctx: Context, actor: User | None, draft: IntakeDraft, entry_id: str) -> DraftView:
    """Record that the outbox took the draft as `entry_id` (the caller submitted it)."""
    if draft.state == "draft":
        draft.state, draft.outbox_entry, draft.sent_at = "sent", entry_id, ctx.now
        audit.record(db, ctx, "intake.draft_sent", actor_id=actor.id if actor else None, object_type="intake_draft",
                     object_id=draft.id, organisation_id=draft.organisation_id, before="draft", after="sent",
                     detail={"outbox_entry": entry_id})
    return view_draft(db, draft)


def send_draft(sessions: sessionmaker[Session], outbox: Outbox, ctx: Context, actor: User | None,
               draft_id: str) -> tuple[DraftView, EntryView]:
    """*Send*: submit the draft's UBL to the outbox as the organisation; returns the draft and its
    outbox entry. Raises `DocumentRejected` (e.g. sending is switched off) with nothing changed."""
    with sessions() as db:
        draft = find_draft(db, actor, draft_id)
        content, organisation_id, entry_id = draft.content, draft.organisation_id, draft.outbox_entry
    if entry_id is None:
        entry_id = outbox.submit(content, organisation_id=organisation_id).entry.id
    with sessions() as db:
        v = mark_sent(db, ctx, actor, find_draft(db, actor, draft_id), entry_id)
        db.commit()
    return v, outbox.get(v.outbox_entry or entry_id)
