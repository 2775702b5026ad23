"""Who pays (product.md W4): one row per document sent or received, against the payer of that moment.

A ledger, not a bill: no prices, no credit. The row is written in the same
transaction as the state change it records (the outbox entry becoming sent or
delivered, the inbox storing a received document), so a transaction is counted
exactly when it happened. The payer is copied at that moment: a later change of
payer (an authorisation request accepted or revoked) applies from then on and
never rewrites old rows.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base
from accesspoint.db.tables.accounts import UtcDateTime


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        # The Paid by view: one payer's rows, by month.
        sa.Index("ix_ledger_payer_at", "payer_environment_id", "at"),
        # The client's own view: one organisation's rows, newest first.
        sa.Index("ix_ledger_organisation_at", "organisation_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: The organisation the document was sent by or received for. No cascade: a deleted
    #: organisation stays as a tombstone row, and what was charged stays charged.
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    #: "out" (sent) or "in" (received).
    direction: Mapped[str] = mapped_column(sa.String(3))
    #: peppol | internal | email
    channel: Mapped[str] = mapped_column(sa.String(10))
    #: The document's public id; a reference, not a foreign key, because deleting an
    #: organisation deletes its documents (§5 Retention) while the ledger keeps the count.
    #: Unique: a document is one transaction, however often its delivery was attempted.
    document_public_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    #: The organisation's payer then, as stored on it: "own" or "intermediary:<environment id>".
    payer: Mapped[str] = mapped_column(sa.String(50))
    #: The environment that pays: the intermediary's, or the organisation's own environment then.
    payer_environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"))
