"""The audit log (SEC-8, SEC-10): append-only, no invoice content, no tokens."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from accesspoint.db.tables.sharing import AuditEvent

from .context import Context

__all__ = ["record", "for_organisation", "by_actor"]


def record(db: Session, ctx: Context, action: str, *, actor_id: int | None, object_type: str,
           object_id: int | None = None, organisation_id: int | None = None, environment_id: int | None = None,
           before: str = "", after: str = "", detail: dict[str, Any] | None = None) -> None:
    db.add(AuditEvent(
        at=ctx.now, actor_user_id=actor_id, environment_id=environment_id, organisation_id=organisation_id,
        object_type=object_type, object_id=object_id, action=action, before=before, after=after,
        detail=json.dumps(detail or {}, sort_keys=True, default=str), ip=ctx.ip[:64], user_agent=ctx.user_agent[:300],
    ))


def for_organisation(db: Session, organisation_id: int, limit: int = 200) -> list[AuditEvent]:
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == organisation_id)
                           .order_by(AuditEvent.id.desc()).limit(limit)))


def by_actor(db: Session, user_id: int, limit: int = 200) -> list[AuditEvent]:
    return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.actor_user_id == user_id)
                           .order_by(AuditEvent.id.desc()).limit(limit)))
