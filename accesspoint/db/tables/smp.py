"""Our SMP's participants and their service metadata (unsigned, as registered)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base


class SmpParticipant(Base):
    """A ServiceGroup we publish; the id is `scheme::value`, value lower-case (ids are case-insensitive)."""

    __tablename__ = "smp_participant"

    participant_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    created_at: Mapped[sa.DateTime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class SmpService(Base):
    """One document type of a participant; `xml` is the smp:ServiceMetadata, signed when served."""

    __tablename__ = "smp_service"

    participant_id: Mapped[str] = mapped_column(
        sa.String(200), sa.ForeignKey("smp_participant.participant_id", ondelete="CASCADE"), primary_key=True)
    # Document type ids are case-sensitive and up to 500 chars + scheme (PFUOI 4.4).
    document_type_id: Mapped[str] = mapped_column(sa.String(540), primary_key=True)
    xml: Mapped[bytes] = mapped_column(sa.LargeBinary)
    updated_at: Mapped[sa.DateTime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now(), onupdate=sa.func.now())
