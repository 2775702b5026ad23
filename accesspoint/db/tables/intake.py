"""Mail intake (issue 13, W7): trusted senders, the mail they sent, and the drafts it became.

- `trusted_senders`: one generated receiver address per sender, with its whitelist rule,
  contact email and state (`accesspoint.intake.rules`).
- `intake_messages`: every mail the listener took for a known address, raw, stored (and
  committed) before the SMTP 250, with its verdict: accepted or rejected with the reason.
  The two unique keys are the duplicate rule: the same Message-ID, or the same bytes, for the
  same sender is the same mail (a client that retries after a lost 250 sends both again).
- `intake_drafts`: each invoice an accepted mail carried, waiting for a user to send it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base
from accesspoint.db.tables.accounts import UtcDateTime


class TrustedSender(Base):
    __tablename__ = "trusted_senders"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: "sales_draft" (the invoice becomes a draft sales invoice) or "purchase" (it lands in the
    #: organisation's purchase inbox).
    context: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    receiver_address: Mapped[str] = mapped_column(sa.String(320), unique=True)
    whitelist_kind: Mapped[str] = mapped_column(sa.String(20))
    whitelist_value: Mapped[str] = mapped_column(sa.String(320), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(320))
    state: Mapped[str] = mapped_column(sa.String(20), default="draft")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IntakeMessage(Base):
    __tablename__ = "intake_messages"
    __table_args__ = (
        sa.UniqueConstraint("sender_id", "message_id", name="uq_intake_message_id"),
        sa.UniqueConstraint("sender_id", "sha256", name="uq_intake_message_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    sender_id: Mapped[int] = mapped_column(sa.ForeignKey("trusted_senders.id", ondelete="CASCADE"), index=True)
    #: The Message-ID header as sent (None when the mail had none: then only the hash dedups).
    message_id: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    mail_from: Mapped[str] = mapped_column(sa.String(320), default="")
    header_from: Mapped[str] = mapped_column(sa.String(320), default="")
    subject: Mapped[str] = mapped_column(sa.String(500), default="")
    peer: Mapped[str] = mapped_column(sa.String(100), default="")
    #: DMARC verdict for the From domain: pass | fail | none.
    dmarc: Mapped[str] = mapped_column(sa.String(10), default="none")
    dmarc_detail: Mapped[str] = mapped_column(sa.String(500), default="")
    #: "accepted" or "rejected".
    outcome: Mapped[str] = mapped_column(sa.String(20))
    #: Why it was rejected: not-whitelisted | no-invoice | invalid | unreadable | wrong-organisation
    #: | inactive-sender.
    reason: Mapped[str] = mapped_column(sa.String(40), default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    #: When the contact was told of the rejection (None: not yet, or nothing to tell).
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class IntakeDraft(Base):
    __tablename__ = "intake_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("intake_messages.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: The UBL as it came (never edited: W7.3, only saved and sent).
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    number: Mapped[str] = mapped_column(sa.String(200), default="")
    buyer_name: Mapped[str] = mapped_column(sa.String(300), default="")
    buyer_id: Mapped[str] = mapped_column(sa.String(170), default="")
    #: W8.1: generated, editable; the only fields a user may change.
    document_name: Mapped[str] = mapped_column(sa.String(200), default="")
    description: Mapped[str] = mapped_column(sa.String(1000), default="")
    #: "draft" (waiting) or "sent" (handed to the outbox; `outbox_entry` says how it went).
    state: Mapped[str] = mapped_column(sa.String(20), default="draft")
    outbox_entry: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
