"""People and their access: users, web/API sessions, email tokens, memberships, rate-limit hits.

Nothing here caches a right: a session row names a user and nothing else, so a
removed membership or revoked share is refused on the very next request
(product.md SEC-9).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from accesspoint.db import Base


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no time zone type and hands back naive values; comparing those with
    the node's aware clock would raise, so results are tagged UTC here (the node
    only ever writes UTC).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored normalised (lower-case, trimmed); unique across the node.
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    #: "scrypt$n$r$p$salt$hash" (shares.passwords).
    password_hash: Mapped[str] = mapped_column(sa.String(300))
    environment_id: Mapped[int] = mapped_column(sa.ForeignKey("environments.id"), index=True)
    #: basic | advanced | admin (product.md §2 User).
    environment_role: Mapped[str] = mapped_column(sa.String(20), default="basic")
    relationship_manager: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebSession(Base):
    """A server-side session: the cookie or bearer token is a random id, stored here only as SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")


class EmailToken(Base):
    """Single-use email links that are not invitations: address verification."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(20))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Membership(Base):
    """A user's rights on one organisation (product.md §2 Membership, W2)."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    #: member | org_admin
    role: Mapped[str] = mapped_column(sa.String(20), default="member")
    #: pending | active | removed
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    via_partnership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partnerships.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RateLimitHit(Base):
    """One counted action; the limiter counts hits per key inside a sliding window (SEC-7)."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (sa.Index("ix_rate_limit_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
