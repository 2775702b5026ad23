"""W6 partnerships without an authorisation request: stored, audited and mailed (rules in `shares.partnerships`).

A relationship manager asks another environment's relationship manager by email
address; the asked environment accepts or rejects; either side ends an active
one. Nothing here creates a membership or a share: a partnership alone gives no
access to any organisation (SEC-12), which `orgs.require_member` enforces since
it looks at memberships only.

Partnerships are stored one row per pair of environments and episode: a rejected
or ended one stays as history, and a new request makes a new row (at most one
open - pending or active - row per pair, held by a partial unique index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Environment
from accesspoint.db.tables.sharing import AuthorisationRequest, Partnership

from . import audit
from .context import Context, Services

__all__ = ["PartnershipView", "request", "accept", "reject", "end", "list_for", "current_between"]

_OPEN = ("pending", "active")


def _party(user: User) -> shares.Party:
    return shares.Party(user.environment_id, user.environment_role, user.relationship_manager)


def _facts(db: Session, p: Partnership) -> shares.PartnershipFacts:
    mandates = db.scalar(sa.select(sa.func.count()).select_from(AuthorisationRequest).where(
        AuthorisationRequest.partnership_id == p.id, AuthorisationRequest.status == "accepted")) or 0
    return shares.PartnershipFacts(p.environment_a_id, p.environment_b_id, p.status, p.requester_environment_id,
                                   open_mandates=mandates)


def current_between(db: Session, env_x: int, env_y: int) -> Partnership | None:
    """The pair's open partnership, else its newest ended one (reusable by an authorisation request),
    else None; a rejected one is never reused."""
    a, b = sorted((env_x, env_y))
    rows = list(db.scalars(sa.select(Partnership).where(
        Partnership.environment_a_id == a, Partnership.environment_b_id == b,
        Partnership.status.in_((*_OPEN, "ended"))).order_by(Partnership.id.desc())))
    return next((p for p in rows if p.status in _OPEN), rows[0] if rows else None)


def _user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise shares.NotAllowed("Log in first.")
    return user


def _env_name(db: Session, env_id: int | None) -> str:
    env = db.get(Environment, env_id) if env_id else None
    return env.name if env is not None else ""


def request(svc: Services, ctx: Context, user_id: int, email: str) -> int:
    """Ask the relationship manager with address `email` for a partnership; returns its id.

    Raises NotAllowed (not a relationship manager), InvalidInput (the address is no relationship
    manager of another environment, or the two environments already have an open partnership).
    """
    email = shares.normalise_email(email)
    with svc.sessions.begin() as db:
        user = _user(db, user_id)
        target = db.scalar(sa.select(User).where(User.email == email, User.email_verified_at.is_not(None)))
        shares.check_may_request(_party(user), _party(target) if target is not None else None)
        assert target is not None
        a, b = sorted((user.environment_id, target.environment_id))
        existing = db.scalar(sa.select(Partnership).where(
            Partnership.environment_a_id == a, Partnership.environment_b_id == b, Partnership.status.in_(_OPEN)))
        firm, other = _env_name(db, user.environment_id), _env_name(db, target.environment_id)
        if existing is not None:
            raise shares.InvalidInput(f"Your environment and {other} already have a {existing.status} partnership.")
        p = Partnership(environment_a_id=a, environment_b_id=b, origin="manual", status="pending",
                        created_at=ctx.now, requester_environment_id=user.environment_id, requested_by=user.id,
                        requested_of=target.id)
        db.add(p)
        try:
            db.flush()
        except sa.exc.IntegrityError:
            # The other side asked at the same moment: the partial unique index kept one open row.
            raise shares.InvalidInput(f"Your environment and {other} already have an open partnership.") from None
        audit.record(db, ctx, "partnership.requested", actor_id=user.id, object_type="partnership", object_id=p.id,
                     environment_id=user.environment_id, after="pending",
                     detail={"to": target.email, "to_environment": target.environment_id})
        mail = shares.build_partnership_request_mail(
            to=target.email, firm=firm, requester=user.name or user.email, requester_email=user.email,
            link=svc.link("/partners"), node_name=svc.node_name)
        pid = p.id
    svc.mailer.send(mail)
    return pid


def _decide(svc: Services, ctx: Context, user_id: int, partnership_id: int, target: str, outcome: str) -> None:
    with svc.sessions.begin() as db:
        user = _user(db, user_id)
        p = db.get(Partnership, partnership_id, with_for_update=True)
        if p is None or user.environment_id not in (p.environment_a_id, p.environment_b_id):
            raise shares.NotAllowed("No such partnership.")
        shares.check_may_decide(_party(user), _facts(db, p), target)
        before, p.status, p.decided_by, p.decided_at = p.status, target, user.id, ctx.now
        audit.record(db, ctx, f"partnership.{outcome}", actor_id=user.id, object_type="partnership", object_id=p.id,
                     environment_id=user.environment_id, before=before, after=target)
        requester = db.get(User, p.requested_by) if p.requested_by else None
        mail = shares.build_partnership_outcome_mail(
            to=requester.email, firm=_env_name(db, user.environment_id), by=user.name or user.email,
            outcome=outcome) if requester is not None else None
    if mail is not None:
        svc.mailer.send(mail)


def accept(svc: Services, ctx: Context, user_id: int, partnership_id: int) -> None:
    """pending -> active, by a relationship manager of the environment that was asked."""
    _decide(svc, ctx, user_id, partnership_id, "active", "accepted")


def reject(svc: Services, ctx: Context, user_id: int, partnership_id: int) -> None:
    """pending -> rejected, by a relationship manager of the environment that was asked."""
    _decide(svc, ctx, user_id, partnership_id, "rejected", "rejected")


def end(svc: Services, ctx: Context, user_id: int, partnership_id: int) -> None:
    """active -> ended, by either side's relationship manager; the other side is told."""
    with svc.sessions.begin() as db:
        user = _user(db, user_id)
        p = db.get(Partnership, partnership_id, with_for_update=True)
        if p is None:
            raise shares.NotAllowed("No such partnership.")
        shares.check_may_end(_party(user), _facts(db, p))
        p.status, p.ended_at, p.ended_by = "ended", ctx.now, user.id
        audit.record(db, ctx, "partnership.ended", actor_id=user.id, object_type="partnership", object_id=p.id,
                     environment_id=user.environment_id, before="active", after="ended")
        # The other side's person in this partnership (who asked, or who was asked).
        other_id = p.requested_of if user.environment_id == p.requester_environment_id else p.requested_by
        other = db.get(User, other_id) if other_id else None
        mail = shares.build_partnership_outcome_mail(
            to=other.email, firm=_env_name(db, user.environment_id), by=user.name or user.email,
            outcome="ended") if other is not None else None
    if mail is not None:
        svc.mailer.send(mail)


@dataclass(frozen=True, slots=True)
class PartnershipView:
    id: int
    status: str
    origin: str
    #: The other environment's name.
    partner: str
    #: "outgoing" (we asked), "incoming" (we were asked) or "" (made by an authorisation request)
    direction: str
    requested_by: str
    requested_of: str
    created_at: datetime
    decided_at: datetime | None
    ended_at: datetime | None
    may_decide: bool
    may_end: bool

    def as_json(self) -> dict[str, object]:
        def ts(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"id": self.id, "status": self.status, "origin": self.origin, "partner": self.partner,
                "direction": self.direction, "requested_by": self.requested_by, "requested_of": self.requested_of,
                "created_at": ts(self.created_at), "decided_at": ts(self.decided_at), "ended_at": ts(self.ended_at),
                "may_decide": self.may_decide, "may_end": self.may_end}


def list_for(db: Session, user: User) -> list[PartnershipView]:
    """Every partnership of the user's environment, open ones first, newest first."""
    env = user.environment_id
    rows = db.scalars(sa.select(Partnership).where(
        sa.or_(Partnership.environment_a_id == env, Partnership.environment_b_id == env))
        .order_by(Partnership.id.desc()))
    party = _party(user)
    out = []
    for p in rows:
        facts = _facts(db, p)
        other = p.environment_b_id if p.environment_a_id == env else p.environment_a_id
        direction = "" if p.requester_environment_id is None else (
            "outgoing" if p.requester_environment_id == env else "incoming")
        try:
            shares.check_may_decide(party, facts, "active")
            may_decide = True
        except shares.ShareError:
            may_decide = False
        try:
            shares.check_may_end(party, facts)
            may_end = True
        except shares.ShareError:
            may_end = False
        by = db.get(User, p.requested_by) if p.requested_by else None
        of = db.get(User, p.requested_of) if p.requested_of else None
        out.append(PartnershipView(p.id, p.status, p.origin, _env_name(db, other), direction,
                                   by.email if by else "", of.email if of else "", p.created_at, p.decided_at,
                                   p.ended_at, may_decide, may_end))
    out.sort(key=lambda v: v.status not in _OPEN)
    return out
