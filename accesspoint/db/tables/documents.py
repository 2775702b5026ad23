"""Documents, the outbox (the delivery queue), inbound AS4 messages and the transaction log.

The outbox *is* the queue: a worker finds due work with `next_attempt_at <= now`
and takes it by setting a lease (`claimed_by`, `lease_until`). PostgreSQL
workers select candidates with `FOR UPDATE SKIP LOCKED`; on SQLite the single
database writer makes the conditional claim UPDATE atomic. Either way a claim
is an UPDATE guarded on the previous lease, so two workers never both win.

`transactions` is the append-only log Peppol Reporting (TSR, EUSR) is built
from: one row per Peppol exchange that got a positive AS4 receipt.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from accesspoint.db import Base


class Document(Base):
    """A business document sent or received by one of the node's organisations (product.md §2)."""

    __tablename__ = "documents"
    __table_args__ = (
        # Same supplier + type + number + issue date in the same direction is the same
        # document (product.md §2 "duplicates matched on supplier id + date + number").
        sa.UniqueConstraint("organisation_id", "direction", "duplicate_key", name="uq_document_duplicate"),
        # The selective column first (migration 0020): with `direction` first, PostgreSQL served
        # the duplicate lookup from this index on a young table and read the whole inbox.
        sa.Index("ix_documents_instance", "instance_identifier", "direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    #: No index of its own: uq_document_duplicate leads with it (migration 0020).
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"))
    #: "out" (sales, sent by us) or "in" (purchase, received).
    direction: Mapped[str] = mapped_column(sa.String(3))
    #: The connection it belongs to: "peppol_sales" (out) or "peppol_purchase" (in).
    connection: Mapped[str] = mapped_column(sa.String(20))
    sender_id: Mapped[str] = mapped_column(sa.String(170))
    receiver_id: Mapped[str] = mapped_column(sa.String(170))
    document_type_id: Mapped[str] = mapped_column(sa.String(600))
    process_id: Mapped[str] = mapped_column(sa.String(250))
    #: SBDH InstanceIdentifier: the correlation key for MLS and reporting.
    instance_identifier: Mapped[str] = mapped_column(sa.String(200))
    number: Mapped[str] = mapped_column(sa.String(200), default="")
    issue_date: Mapped[str] = mapped_column(sa.String(10), default="")
    country_c1: Mapped[str] = mapped_column(sa.String(2), default="ZZ")
    #: The buyer's contact email in the document: the prefill when an address is needed.
    buyer_email: Mapped[str | None] = mapped_column(sa.String(320), nullable=True)
    duplicate_key: Mapped[str] = mapped_column(sa.String(64))
    # What the outbox and inbox lists show (ubl.DocumentSummary, migration 0018); NULL for documents
    # stored before, whose pages fall back to the participant ids.
    #: The seller's and the buyer's names (legal name, else trading name).
    seller_name: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    buyer_name: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    #: BT-115, the amount due, exactly as the document writes it (text: never rounded through a float).
    payable_amount: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    #: BT-5, the document currency (ISO 4217).
    currency: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    #: The business document (UBL) as submitted or received, without the SBDH. Empty for a large
    #: received one, whose bytes are in `document_chunks`: read it with `document_content`.
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    #: Recipient's business status (product.md W8.3): under_review | accepted | rejected | paid.
    business_status: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class DocumentChunk(Base):
    """One piece (1 MB) of a large received document, in order of `seq` (issue 14).

    Why rows and not one value: the receiver writes a 100 MB invoice from its spooled file chunk by
    chunk, in the transaction that stores the message, and so never holds it in memory.
    """

    __tablename__ = "document_chunks"

    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


_CHUNKS = sa.select(DocumentChunk.__table__.c.data).where(
    DocumentChunk.__table__.c.document_id == sa.bindparam("document_id")).order_by(DocumentChunk.__table__.c.seq)


def document_content(connection: sa.Connection | Session, document_id: int, content: bytes) -> bytes:
    """A document's bytes: `content` itself, or for a chunked one (empty `content`) its chunks joined.

    The pages and exports that show a document read it whole; only the receiver streams.
    """
    if content:
        return content
    return b"".join(connection.execute(_CHUNKS, {"document_id": document_id}).scalars())


class OutboxEntry(Base):
    """One outgoing delivery of a document (product.md §2 OutboxEntry, W8)."""

    __tablename__ = "outbox_entries"
    __table_args__ = (sa.Index("ix_outbox_due", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    #: "document" (a business document) or "mls" (a Message Level Status we owe a sender).
    kind: Mapped[str] = mapped_column(sa.String(10), default="document")
    #: accesspoint.outbox_states.State value.
    state: Mapped[str] = mapped_column(sa.String(20), index=True)
    #: internal | peppol | email, once chosen.
    channel: Mapped[str | None] = mapped_column(sa.String(10), nullable=True)
    #: The participant id the route was found for (candidate ids are tried in order).
    routed_to: Mapped[str | None] = mapped_column(sa.String(170), nullable=True)
    #: AS4 endpoint URL, or the email address mail went to.
    endpoint: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    #: Email address for the fallback (given at submit or later for needs_email).
    email: Mapped[str | None] = mapped_column(sa.String(320), nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: How often a failed entry was sent again (W8.4); part of the AS4 MessageId.
    resends: Mapped[int] = mapped_column(default=0)
    #: When a worker should next look at it; NULL = nothing to do (final). For `needs_email`: the end of
    #: the wait for a person to give the address, when a worker fails it (RetryPolicy.needs_email_timeout).
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    as4_message_id: Mapped[str | None] = mapped_column(sa.String(300), nullable=True, index=True)
    #: The signed AS4 receipt (non-repudiation evidence), or the internal inbox document id.
    receipt: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    remote_seat_id: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    #: Machine-readable reason of the last failure (e.g. "EBMS:0004", "smtp:550", "no-route").
    error_code: Mapped[str | None] = mapped_column(sa.String(50), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    #: Latest MLS response code received for this entry (AP, AB, RE).
    mls_status: Mapped[str | None] = mapped_column(sa.String(2), nullable=True)
    #: SHA-256 of the email link token (opened tracking); the token itself is never stored.
    link_token_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), nullable=True)

    document: Mapped[Document] = relationship(lazy="joined", innerjoin=True)
    events: Mapped[list[OutboxEvent]] = relationship(
        back_populates="entry", order_by="OutboxEvent.id", lazy="select", cascade="all, delete-orphan"
    )


class OutboxEvent(Base):
    """Append-only: every transition (and every failed attempt) of an outbox entry."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox_entries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    from_state: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(sa.String(20))
    #: What happened: "submitted", "routed", "attempt-failed", "resend", "mls", ... .
    action: Mapped[str] = mapped_column(sa.String(30))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    worker: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)

    entry: Mapped[OutboxEntry] = relationship(back_populates="events")


class OutboxUpload(Base):
    """A document uploaded in the web app, waiting for its second click, *Send* (W8.2 preflight).

    The upload is checked and its route shown first; the bytes stay here, not in the browser, so
    *Send* posts an id instead of the document again (up to 10 MB). Only the user who uploaded it
    may send it, through the connection it was uploaded to (whose access is checked again then).
    Rows live for `accesspoint.web.outbox_pages.UPLOAD_TTL`: *Send* deletes its row, and each
    new upload deletes the expired ones.
    """

    __tablename__ = "outbox_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    connection_id: Mapped[int] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)


class InboundMessage(Base):
    """An AS4 UserMessage this node accepted; the key of duplicate detection (protocol.md §1.8)."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    as4_message_id: Mapped[str] = mapped_column(sa.String(300), unique=True)
    instance_identifier: Mapped[str] = mapped_column(sa.String(200), index=True)
    sender_seat_id: Mapped[str] = mapped_column(sa.String(20))
    document_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
    )
    #: The receipt we answered with, so a duplicate gets the same answer.
    receipt: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Transaction(Base):
    """One Peppol exchange with a positive AS4 receipt: the input of TSR and EUSR (protocol.md §4)."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)
    #: "out" (we were C2) or "in" (we were C3).
    direction: Mapped[str] = mapped_column(sa.String(3))
    #: "business", "mls" (counted in TSR, not EUSR) or "report" (never counted).
    kind: Mapped[str] = mapped_column(sa.String(10), default="business")
    #: The other access point's seat id (C3 when we send, C2 when we receive).
    other_seat_id: Mapped[str] = mapped_column(sa.String(20))
    document_type_id: Mapped[str] = mapped_column(sa.String(600))
    process_id: Mapped[str] = mapped_column(sa.String(250))
    transport_profile: Mapped[str] = mapped_column(sa.String(50), default="peppol-transport-as4-v2_0")
    #: Our end user (C1 when sending, C4 when receiving) and its country.
    end_user_id: Mapped[str] = mapped_column(sa.String(170))
    c1_country: Mapped[str] = mapped_column(sa.String(2), default="ZZ")
    c4_country: Mapped[str | None] = mapped_column(sa.String(2), nullable=True)
    instance_identifier: Mapped[str] = mapped_column(sa.String(200))
