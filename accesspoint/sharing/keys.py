"""Connection keys (E18): API keys for one organisation's documents API.

A key is a 256-bit secret shown once and stored only as its SHA-256. It is
scoped to one organisation and lives no longer than the grant it came from: an
org admin's membership, or an accepted authorisation request (the intermediary's
key). That grant is read again on *every* use (SEC-9), so revoking the request,
ending the partnership or removing the membership makes the key fail on the next
request even before the key row itself is marked revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.sharing import ApiKey, AuthorisationRequest, Partnership

from . import audit, orgs
from .context import Context, Services

__all__ = ["KEY_PREFIX", "IssuedKey", "KeyView", "issue", "issue_for_request", "authenticate", "list_for", "list_for_requests",
           "revoke", "revoke_where"]

#: Marks our secrets in logs and secret scanners; the rest is `shares.mint_token()` (256 bits).
KEY_PREFIX = "pnk_"
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """The only moment the secret exists outside the client: show it once, never store it."""

    id: int
    name: str
    organisation_id: int
    secret: str


@dataclass(frozen=True, slots=True)
class KeyView:
    id: int
    name: str
    prefix: str
    organisation_id: int
    status: str
    origin: str
    created_at: datetime
    last_used_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "organisation_id": self.organisation_id,
                "status": self.status, "origin": self.origin, "created_at": self.created_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None}


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise shares.InvalidInput("Give the key a name, e.g. the software that will use it.")
    return name[:100]


def _new(db: Session, ctx: Context, user: User, organisation_id: int, name: str, *, via_request: int | None = None,
         via_membership: int | None = None, environment_id: int | None = None) -> IssuedKey:
    token, _ = shares.mint_token()
    secret = KEY_PREFIX + token
    key = ApiKey(organisation_id=organisation_id, name=name, prefix=secret[:12],
                 key_hash=shares.hash_token(secret), status="active", reason="", created_by=user.id,
                 via_request_id=via_request, via_membership_id=via_membership, created_at=ctx.now)
    db.add(key)
    db.flush()
    audit.record(db, ctx, "key.issued", actor_id=user.id, object_type="api_key", object_id=key.id,
                 organisation_id=organisation_id, environment_id=environment_id or user.environment_id,
                 after="active", detail={"name": name, "prefix": key.prefix,
                                         "via": "request" if via_request else "membership",
                                         "request": via_request})
    return IssuedKey(key.id, name, organisation_id, secret)


def issue(svc: Services, ctx: Context, user_id: int, organisation_id: int, name: str) -> IssuedKey:
    """An org admin issues a key for their own organisation; it ends with their admin membership."""
    name = _name(name)
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        if user is None:
            raise shares.NotAllowed("You have no access to this organisation.")
        orgs.require_member(db, user, organisation_id, admin=True)
        m = orgs.membership(db, user.id, organisation_id)
        assert m is not None
        return _new(db, ctx, user, organisation_id, name, via_membership=m.id)


def issue_for_request(svc: Services, ctx: Context, user_id: int, request_id: int, name: str) -> IssuedKey:
    """W3.4 accepted: the requester's side (advanced or admin) issues a key for the client organisation [E18]."""
    name = _name(name)
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        req = db.get(AuthorisationRequest, request_id)
        if user is None or req is None or req.requester_environment_id != user.environment_id:
            raise shares.NotAllowed("No such request.")
        if user.environment_role not in ("advanced", "admin"):
            raise shares.NotAllowed("Only advanced users and admins can issue connection keys.")
        if req.status != "accepted" or req.organisation_id is None or not _request_holds(db, req):
            raise shares.InvalidTransition("Keys can only be issued for an accepted request.")
        return _new(db, ctx, user, req.organisation_id, name, via_request=req.id)


def _request_holds(db: Session, req: AuthorisationRequest) -> bool:
    """The request's grant: accepted, its partnership active, the requester still a member."""
    if req.status != "accepted" or req.organisation_id is None or req.partnership_id is None:
        return False
    p = db.get(Partnership, req.partnership_id)
    if p is None or p.status != "active":
        return False
    return orgs.membership(db, req.requester_user_id, req.organisation_id) is not None


def _grant_holds(db: Session, key: ApiKey) -> bool:
    if key.via_request_id is not None:
        req = db.get(AuthorisationRequest, key.via_request_id)
        return req is not None and req.organisation_id == key.organisation_id and _request_holds(db, req)
    if key.via_membership_id is not None:
        m = db.get(Membership, key.via_membership_id)
        return (m is not None and m.organisation_id == key.organisation_id and m.status == "active"
                and m.role == "org_admin")
    return False


def authenticate(db: Session, secret: str, now: datetime) -> int | None:
    """The organisation a presented key acts for, or None (unknown, revoked, or its grant has ended).

    Looked up by hash (a unique index), so no secret is compared in variable time.
    """
    if not secret.startswith(KEY_PREFIX) or len(secret) > 100:
        return None
    key = db.scalar(sa.select(ApiKey).where(ApiKey.key_hash == shares.hash_token(secret)))
    if key is None or key.status != "active" or not _grant_holds(db, key):
        return None
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_GRANULARITY:
        key.last_used_at = now
    return key.organisation_id


def _view(db: Session, k: ApiKey) -> KeyView:
    """A key as listed: one whose grant has ended shows revoked even before its row says so."""
    status = k.status if k.status != "active" or _grant_holds(db, k) else "revoked"
    origin = f"request:{k.via_request_id}" if k.via_request_id else "admin"
    return KeyView(k.id, k.name, k.prefix, k.organisation_id, status, origin, k.created_at, k.last_used_at)


def list_for(db: Session, user: User, organisation_id: int) -> list[KeyView]:
    """An org admin's view of the organisation's keys, without secrets."""
    orgs.require_member(db, user, organisation_id, admin=True)
    rows = db.scalars(sa.select(ApiKey).where(ApiKey.organisation_id == organisation_id).order_by(ApiKey.id.desc()))
    return [_view(db, k) for k in rows]


def list_for_requests(db: Session, user: User) -> list[KeyView]:
    """The intermediary's keys: those issued through its environment's requests."""
    rows = db.scalars(sa.select(ApiKey).join(AuthorisationRequest, AuthorisationRequest.id == ApiKey.via_request_id)
                      .where(AuthorisationRequest.requester_environment_id == user.environment_id)
                      .order_by(ApiKey.id.desc()))
    return [_view(db, k) for k in rows]


def revoke(svc: Services, ctx: Context, user_id: int, key_id: int) -> None:
    """Org admins revoke any key of their organisation; the intermediary those of its requests."""
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        key = db.get(ApiKey, key_id)
        if user is None or key is None:
            raise shares.NotAllowed("No such key.")
        m = orgs.membership(db, user.id, key.organisation_id)
        req = db.get(AuthorisationRequest, key.via_request_id) if key.via_request_id else None
        ours = req is not None and req.requester_environment_id == user.environment_id \
            and user.environment_role in ("advanced", "admin")
        if not ((m is not None and m.role == "org_admin") or ours):
            raise shares.NotAllowed("No such key.")
        if key.status != "active":
            raise shares.InvalidTransition("This key is already revoked.")
        key.status, key.reason, key.revoked_at = "revoked", "by_admin", ctx.now
        audit.record(db, ctx, "key.revoked", actor_id=user.id, object_type="api_key", object_id=key.id,
                     organisation_id=key.organisation_id, environment_id=user.environment_id,
                     before="active", after="revoked", detail={"reason": "by_admin"})


def revoke_where(db: Session, ctx: Context, condition: sa.ColumnElement[bool], *, reason: str,
                 actor_id: int | None) -> int:
    """Mark the matching active keys revoked (SEC-9: ending a grant drops its keys); returns how many."""
    rows = list(db.scalars(sa.select(ApiKey).where(condition, ApiKey.status == "active")))
    for key in rows:
        key.status, key.reason, key.revoked_at = "revoked", reason, ctx.now
        audit.record(db, ctx, "key.revoked", actor_id=actor_id, object_type="api_key", object_id=key.id,
                     organisation_id=key.organisation_id, before="active", after="revoked",
                     detail={"reason": reason})
    return len(rows)
