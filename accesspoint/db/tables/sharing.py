"""Connections, shares, invitations, authorisation requests, partnerships and the audit log.

States are strings whose allowed values and transitions live in `shares._states`;
the database only stores them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base
from accesspoint.db.tables.accounts import UtcDateTime


class Connection(Base):
    """Exactly two per organisation: peppol_purchase and peppol_sales (product.md §2)."""

    __tablename__ = "connections"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "kind", name="uq_connection_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Invitation(Base):
    """An emailed, single-use link (SEC-1..7). Only the SHA-256 of the token is stored."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: share | auth_request
    kind: Mapped[str] = mapped_column(sa.String(20))
    environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    inviter_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True, index=True)
    #: Normalised; never edited (EC-1: withdraw and invite the right address instead).
    email: Mapped[str] = mapped_column(sa.String(320), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: pending | accepted | declined | expired | revoked
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    #: Why it was revoked: withdrawn | superseded | share_revoked | organisation_deleted
    reason: Mapped[str] = mapped_column(sa.String(30), default="")
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_count: Mapped[int] = mapped_column(default=1)
    last_sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    reminders_sent: Mapped[int] = mapped_column(default=0)
    accepted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    superseded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("invitations.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Share(Base):
    """One sharing cycle of a connection; the newest row per connection is its current state.

    invited -> active | not_shared (outcome declined/expired/revoked); active -> revoked.
    """

    __tablename__ = "shares"
    __table_args__ = (
        # Never two active shares of one connection with one grantee (product.md §2, EC-3).
        sa.Index("uq_active_share", "connection_id", "grantee_user_id", unique=True,
                 sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invitations.id"), nullable=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    grantee_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True, index=True)
    #: Comma-separated subset of view,download,pay,send.
    rights: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(20))
    #: The last outcome shown while not_shared: declined | expired | revoked.
    outcome: Mapped[str] = mapped_column(sa.String(20), default="")
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Partnership(Base):
    """Symmetric link between two environments; grants nothing by itself (E5, E6)."""

    __tablename__ = "partnerships"
    __table_args__ = (
        # At most one open (pending or active) partnership per pair of environments (a < b).
        sa.Index("uq_open_partnership", "environment_a_id", "environment_b_id", unique=True,
                 sqlite_where=sa.text("status IN ('pending', 'active')"),
                 postgresql_where=sa.text("status IN ('pending', 'active')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_a_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    environment_b_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    #: authorisation_request | manual
    origin: Mapped[str] = mapped_column(sa.String(30))
    #: pending | active | rejected | ended
    status: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    #: W6 (origin manual): the environment and user who asked, and the other environment's
    #: relationship manager they asked. Empty for partnerships made by authorisation requests.
    requester_environment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("environments.id"), nullable=True)
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    requested_of: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True, index=True)
    #: Who accepted or rejected it, and when; who ended it.
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)


class AuthorisationRequest(Base):
    """W3: an intermediary asks a client for a mandate (machtigingsverzoek)."""

    __tablename__ = "authorisation_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    requester_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    client_name: Mapped[str] = mapped_column(sa.String(200))
    client_email: Mapped[str] = mapped_column(sa.String(320), index=True)
    client_identifier: Mapped[str] = mapped_column(sa.String(160))
    software_package: Mapped[str] = mapped_column(sa.String(200), default="")
    #: intermediary | client
    costs_paid_by: Mapped[str] = mapped_column(sa.String(20))
    #: pending | accepted | refused | cancelled | expired | revoked
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    reason: Mapped[str] = mapped_column(sa.String(30), default="")
    invitation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invitations.id"), nullable=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), nullable=True)
    partnership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partnerships.id"), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Append-only record of who did what (SEC-8, SEC-10). Never holds invoice content or tokens."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True, index=True)
    environment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("environments.id"), nullable=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True, index=True)
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(sa.String(60))
    before: Mapped[str] = mapped_column(sa.String(40), default="")
    after: Mapped[str] = mapped_column(sa.String(40), default="")
    #: JSON: consent evidence (text shown, rights, payer) and other non-secret detail.
    detail: Mapped[str] = mapped_column(sa.Text, default="{}")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")


class ApiKey(Base):
    """A connection key (E18): a bearer secret for one organisation's documents API.

    Only the SHA-256 of the secret is stored; the secret is shown once at issuance.
    A key lives no longer than the grant it came from (SEC-9): the authorisation
    request (`via_request_id`) or the issuing admin's membership (`via_membership_id`),
    which is checked again on every use.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: The first characters of the secret, so people can tell their keys apart; not enough to guess it.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: active | revoked
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    #: Why it was revoked: by_admin | request_revoked | membership_removed | organisation_deleted
    reason: Mapped[str] = mapped_column(sa.String(30), default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    via_request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("authorisation_requests.id", ondelete="SET NULL"), nullable=True, index=True)
    via_membership_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("memberships.id", ondelete="SET NULL"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class OrganisationDeletion(Base):
    """EC-9 / §5 Retention: a deletion asked by one environment admin and approved inside the platform."""

    __tablename__ = "organisation_deletions"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    #: requested | approved | cancelled
    status: Mapped[str] = mapped_column(sa.String(20), default="requested")
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: The requester was offered the export and confirmed having it or not needing it.
    export_acknowledged: Mapped[bool] = mapped_column(default=False)
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    #: JSON: what the approval removed (counts) and any deregistration that failed.
    detail: Mapped[str] = mapped_column(sa.Text, default="{}")
