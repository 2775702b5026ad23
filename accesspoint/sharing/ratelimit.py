"""Sliding-window rate limits (SEC-7) kept in the database, so every worker process sees them.

A hit is committed in its own short transaction: a failed login must count even
though the login itself rolls back.
"""

from __future__ import annotations

import sqlalchemy as sa

import shares
from accesspoint.db.tables.accounts import RateLimitHit

from .context import Context, Services

__all__ = ["hit"]


def hit(svc: Services, ctx: Context, rule: str, key: str) -> None:
    """Count one `rule` action for `key`; raise `shares.RateLimited` when over the limit."""
    limit = shares.RATE_LIMITS[rule]
    bucket = f"{rule}:{key}"[:200]
    since = ctx.now - limit.window
    with svc.sessions.begin() as db:
        db.execute(sa.delete(RateLimitHit).where(RateLimitHit.key == bucket, RateLimitHit.at < since))
        count = db.scalar(sa.select(sa.func.count()).select_from(RateLimitHit)
                          .where(RateLimitHit.key == bucket, RateLimitHit.at >= since))
        if (count or 0) >= limit.limit:
            raise shares.RateLimited("Too many attempts. Please wait a while and try again.")
        db.add(RateLimitHit(key=bucket, at=ctx.now))
