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


class NetworkRegistration(Base):
    """Whether a participant should receive on this node, and where its SML registration stands.

    The SMP rows above say what we publish; this says what the SML was told. Registering at the SML
    needs the SML to answer, which a command run while `serve` is down (local SML) or while the SML
    is unreachable cannot wait for, so the wish is written first (`sml_state = "pending"`) and
    `serve` finishes it at start-up. States: pending | registered | withdrawn | refused (another
    SMP holds the participant: it receives at another access point).
    """

    __tablename__ = "network_registration"

    participant_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    receive: Mapped[bool] = mapped_column(sa.Boolean)
    sml_state: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[sa.DateTime] = mapped_column(sa.DateTime(timezone=True))
