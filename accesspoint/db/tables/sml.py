"""The local SML's registry: SMPs and the participants they serve.

Read by the node's authoritative DNS server on every NAPTR query (by
`dns_label`), written through the SML SOAP API (`accesspoint.sml_store`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base


class SmlSmp(Base):
    """An SMP registered at our SML; `owner` is its client certificate's id (subject:serial)."""

    __tablename__ = "sml_smp"

    smp_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    logical_address: Mapped[str] = mapped_column(sa.String(500))
    physical_address: Mapped[str] = mapped_column(sa.String(64))
    owner: Mapped[str] = mapped_column(sa.String(1000))


class SmlParticipant(Base):
    """A participant in our SML zone; `dns_label` is `<base32 sha256>.<scheme>` (zone-relative)."""

    __tablename__ = "sml_participant"

    participant_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    smp_id: Mapped[str] = mapped_column(sa.ForeignKey("sml_smp.smp_id", ondelete="CASCADE"), index=True)
    dns_label: Mapped[str] = mapped_column(sa.String(100), unique=True)
    migration_key: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
