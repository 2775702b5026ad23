"""Environments (tenants) and the organisations they hold, with their Peppol identifiers.

Shared ground of two areas: sharing (accounts, memberships, connections) and
delivery (a document belongs to an organisation; inbound routing finds the
organisation by its participant identifier).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accesspoint.db import Base


class Environment(Base):
    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: draft -> verifying -> active | rejected (product.md W1)
    status: Mapped[str] = mapped_column(sa.String(20), default="draft")
    #: Why it is in that state, in words for its admins: the verifier's verdict, e.g. a rejection's
    #: reason (shares.activation). The full history is in the audit log.
    status_reason: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")
    peppol_send: Mapped[bool] = mapped_column(default=True)
    #: Off by default: receiving costs money (product.md §2).
    peppol_receive: Mapped[bool] = mapped_column(default=False)
    #: "own" (the environment's own organisation) or "client" (an intermediary registered it for a
    #: client, who takes it over by accepting an authorisation request: W3.3). Drives what the
    #: accountant's pages offer, never who has access (memberships do that).
    held_for: Mapped[str] = mapped_column(sa.String(20), default="own", server_default="own")
    #: "own" or "intermediary:<environment id>" (product.md W4)
    payer: Mapped[str] = mapped_column(sa.String(50), default="own")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    identifiers: Mapped[list[OrganisationIdentifier]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )


class OrganisationIdentifier(Base):
    """A Peppol participant id of an organisation; unique across the node."""

    __tablename__ = "organisation_identifiers"
    __table_args__ = (sa.UniqueConstraint("scheme", "value", name="uq_organisation_identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(sa.String(25), default="iso6523-actorid-upis")
    #: Normalised (lower-case) "ICD:id", e.g. "0208:0123456749".
    value: Mapped[str] = mapped_column(sa.String(140))

    organisation: Mapped[Organisation] = relationship(back_populates="identifiers")
