"""W3: authorisation requests from an intermediary to a client, and the partnerships they create."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.organisations import Environment, Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import AuthorisationRequest, Invitation, Partnership

from . import audit, invites, orgs, ratelimit
from .context import Context, Services

__all__ = ["create", "resend", "cancel", "for_requester", "inbox", "get_for_client", "accept", "refuse", "revoke"]


def _mail(svc: Services, db: Session, req: AuthorisationRequest, inv: Invitation, token: str, reminder: int = 0):
    env = db.get(Environment, req.requester_environment_id)
    requester = db.get(User, req.requester_user_id)
    return shares.build_request_mail(
        to=req.client_email, firm=env.name if env else "", requester=(requester.name or requester.email)
        if requester else "", client_name=req.client_name, client_identifier=req.client_identifier,
        costs_paid_by=req.costs_paid_by, link=svc.link(f"/i/{token}"), expires_at=inv.expires_at, reminder=reminder)


def _new(db: Session, svc: Services, ctx: Context, user: User, *, client_name: str, client_email: str,
         client_identifier: str, software_package: str, costs_paid_by: str, sent_count: int = 1):
    token, token_hash = shares.mint_token()
    inv = Invitation(kind="auth_request", environment_id=user.environment_id, inviter_user_id=user.id,
                     organisation_id=None, email=client_email, token_hash=token_hash, status="pending",
                     expires_at=ctx.now + shares.invite_ttl(svc.invite_ttl_days), sent_count=sent_count,
                     last_sent_at=ctx.now, reminders_sent=0, created_at=ctx.now)
    db.add(inv)
    db.flush()
    req = AuthorisationRequest(
        requester_environment_id=user.environment_id, requester_user_id=user.id, client_name=client_name,
        client_email=client_email, client_identifier=client_identifier, software_package=software_package,
        costs_paid_by=costs_paid_by, status="pending", invitation_id=inv.id, created_at=ctx.now)
    db.add(req)
    db.flush()
    audit.record(db, ctx, "request.created", actor_id=user.id, object_type="authorisation_request",
                 object_id=req.id, environment_id=user.environment_id, after="pending",
                 detail={"client_identifier": client_identifier, "costs_paid_by": costs_paid_by})
    return req, inv, token


def create(svc: Services, ctx: Context, user_id: int, *, client_name: str, client_email: str,
           client_identifier: str, software_package: str = "", costs_paid_by: str = "client") -> int:
    """W3.1: advanced or admin users only (E7); returns the request id."""
    client_email = shares.normalise_email(client_email)
    pid = orgs.parse_identifier(client_identifier)
    if not client_name.strip():
        raise shares.InvalidInput("Enter the client's name.")
    if costs_paid_by not in shares.PAYERS:
        raise shares.InvalidInput("Choose who pays.")
    ratelimit.hit(svc, ctx, "request", f"user:{user_id}")
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        if user.environment_role not in ("advanced", "admin"):
            raise shares.NotAllowed("Only advanced users and admins can send authorisation requests.")
        req, inv, token = _new(db, svc, ctx, user, client_name=client_name.strip()[:200], client_email=client_email,
                               client_identifier=pid.value, software_package=software_package.strip()[:200],
                               costs_paid_by=costs_paid_by)
        mail = _mail(svc, db, req, inv, token)
        req_id = req.id
    svc.mailer.send(mail)
    return req_id


def _requester_side(db: Session, user_id: int, request_id: int) -> tuple[User, AuthorisationRequest]:
    user = db.get(User, user_id)
    req = db.get(AuthorisationRequest, request_id)
    if user is None or req is None or req.requester_environment_id != user.environment_id:
        raise shares.NotAllowed("No such request.")
    return user, req


def _kill_link(db: Session, ctx: Context, req: AuthorisationRequest, reason: str) -> None:
    inv = db.get(Invitation, req.invitation_id) if req.invitation_id else None
    if inv is not None and inv.status == "pending":
        inv.status, inv.reason, inv.decided_at = "revoked", reason, ctx.now


def cancel(svc: Services, ctx: Context, user_id: int, request_id: int, *, reason: str = "withdrawn") -> None:
    """W3.4 cancelled: the requester withdraws before acceptance; the link dies at once (E4)."""
    with svc.sessions.begin() as db:
        user, req = _requester_side(db, user_id, request_id)
        shares.check_transition(shares.RequestState, req.status, "cancelled")
        req.status, req.reason, req.decided_at, req.decided_by = "cancelled", reason, ctx.now, user.id
        _kill_link(db, ctx, req, reason)
        audit.record(db, ctx, "request.cancelled", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=user.environment_id, before="pending", after="cancelled",
                     detail={"reason": reason})


def resend(svc: Services, ctx: Context, user_id: int, request_id: int) -> int:
    """W3.4: a resend replaces the request; the old one is cancelled (superseded) and its link dies (E3)."""
    with svc.sessions() as db:
        row = db.get(AuthorisationRequest, request_id)
        key = f"request:{row.requester_environment_id}:{row.client_email}" if row is not None else f"request:{request_id}"
    ratelimit.hit(svc, ctx, "resend", key)
    with svc.sessions.begin() as db:
        user, old = _requester_side(db, user_id, request_id)
        shares.check_transition(shares.RequestState, old.status, "cancelled")
        old_inv = db.get(Invitation, old.invitation_id) if old.invitation_id else None
        old.status, old.reason, old.decided_at, old.decided_by = "cancelled", "superseded", ctx.now, user.id
        _kill_link(db, ctx, old, "superseded")
        req, inv, token = _new(db, svc, ctx, user, client_name=old.client_name, client_email=old.client_email,
                               client_identifier=old.client_identifier, software_package=old.software_package,
                               costs_paid_by=old.costs_paid_by,
                               sent_count=(old_inv.sent_count if old_inv else 1) + 1)
        if old_inv is not None:
            old_inv.superseded_by = inv.id
        audit.record(db, ctx, "request.resent", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=user.environment_id, detail={"supersedes": old.id})
        mail = _mail(svc, db, req, inv, token)
        req_id = req.id
    svc.mailer.send(mail)
    return req_id


def for_requester(db: Session, user: User, status: str | None = None) -> list[tuple[AuthorisationRequest, Invitation | None]]:
    q = sa.select(AuthorisationRequest, Invitation).outerjoin(
        Invitation, Invitation.id == AuthorisationRequest.invitation_id).where(
        AuthorisationRequest.requester_environment_id == user.environment_id)
    if status:
        q = q.where(AuthorisationRequest.status == status)
    return [(r, i) for r, i in db.execute(q.order_by(AuthorisationRequest.id.desc()))]


def inbox(db: Session, user: User) -> list[tuple[AuthorisationRequest, str]]:
    """Inbox → Requests (W3.2): requests addressed to the user's verified email, with the firm's name."""
    if user.email_verified_at is None:
        return []
    rows = db.execute(sa.select(AuthorisationRequest, Environment.name).join(
        Environment, Environment.id == AuthorisationRequest.requester_environment_id).where(
        AuthorisationRequest.client_email == user.email,
        AuthorisationRequest.status.in_(("pending", "accepted", "refused")))
        .order_by(AuthorisationRequest.id.desc()))
    return [(r, n) for r, n in rows]


def get_for_client(db: Session, user: User, request_id: int) -> tuple[AuthorisationRequest, str]:
    req = db.get(AuthorisationRequest, request_id)
    if req is None or user.email_verified_at is None or req.client_email != user.email:
        raise shares.NotAllowed("No such request.")
    env = db.get(Environment, req.requester_environment_id)
    return req, env.name if env else ""


def _pending_invitation(db: Session, ctx: Context, req: AuthorisationRequest) -> Invitation:
    inv = db.get(Invitation, req.invitation_id) if req.invitation_id else None
    if req.status != "pending" or inv is None or inv.status != "pending" or inv.expires_at <= ctx.now:
        raise shares.InviteInvalid("This request is no longer open.")
    return inv


def accept(svc: Services, ctx: Context, user_id: int, request_id: int, *, organisation_id: int | None,
           organisation_name: str = "", text_shown: str = "") -> int:
    """W3.4 accepted: partnership created or reused, the requester becomes a member, payer set; returns org id."""
    ratelimit.hit(svc, ctx, "token", ctx.ip or "-")
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        req, firm = get_for_client(db, user, request_id)
        inv = _pending_invitation(db, ctx, req)
        if organisation_id:
            org = orgs.require_member(db, user, organisation_id, admin=True)
        else:
            existing = db.scalar(sa.select(OrganisationIdentifier).where(
                OrganisationIdentifier.value == req.client_identifier))
            if existing is not None:
                org = orgs.require_member(db, user, existing.organisation_id, admin=True)
            else:
                org = orgs.create_organisation(db, ctx, user, organisation_name or req.client_name,
                                               [req.client_identifier])
        if org.environment_id == req.requester_environment_id:
            raise shares.InvalidInput("This organisation is already in the requester's environment.")
        invites.consume(db, ctx, inv, status="accepted", user_id=user.id)
        shares.check_transition(shares.RequestState, req.status, "accepted")
        a, b = sorted((req.requester_environment_id, org.environment_id))
        partnership = db.scalar(sa.select(Partnership).where(
            Partnership.environment_a_id == a, Partnership.environment_b_id == b))
        if partnership is None:
            partnership = Partnership(environment_a_id=a, environment_b_id=b, origin="authorisation_request",
                                      status="active", created_at=ctx.now)
            db.add(partnership)
            db.flush()
        elif partnership.status != "active":
            shares.check_transition(shares.PartnershipState, partnership.status, "active")
            partnership.status, partnership.ended_at = "active", None
        m = db.scalar(sa.select(Membership).where(Membership.user_id == req.requester_user_id,
                                                   Membership.organisation_id == org.id))
        if m is None:
            m = Membership(user_id=req.requester_user_id, organisation_id=org.id, role="member", status="active",
                           via_partnership_id=partnership.id, created_at=ctx.now)
            db.add(m)
        elif m.status != "active":
            m.status, m.via_partnership_id = "active", partnership.id
        before_payer = org.payer
        org.payer = f"intermediary:{req.requester_environment_id}" if req.costs_paid_by == "intermediary" else "own"
        req.status, req.decided_at, req.decided_by = "accepted", ctx.now, user.id
        req.organisation_id, req.partnership_id = org.id, partnership.id
        db.flush()
        audit.record(db, ctx, "request.accepted", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, organisation_id=org.id, environment_id=user.environment_id,
                     before="pending", after="accepted",
                     detail={"text_shown": text_shown, "firm": firm, "costs_paid_by": req.costs_paid_by,
                             "partnership": partnership.id})
        audit.record(db, ctx, "membership.added", actor_id=user.id, object_type="membership", object_id=m.id,
                     organisation_id=org.id, after="active:member", detail={"via_partnership": partnership.id})
        if before_payer != org.payer:
            audit.record(db, ctx, "organisation.payer_changed", actor_id=user.id, object_type="organisation",
                         object_id=org.id, organisation_id=org.id, before=before_payer, after=org.payer)
        requester = db.get(User, req.requester_user_id)
        mail = shares.build_outcome_mail(to=requester.email, what="your authorisation request",
                                         organisation=org.name, by=user.email, outcome="accepted") if requester else None
        org_id = org.id
    if mail is not None:
        svc.mailer.send(mail)
    return org_id


def refuse(svc: Services, ctx: Context, user_id: int, request_id: int) -> None:
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        req, _ = get_for_client(db, user, request_id)
        inv = _pending_invitation(db, ctx, req)
        invites.consume(db, ctx, inv, status="declined", user_id=user.id)
        shares.check_transition(shares.RequestState, req.status, "refused")
        req.status, req.decided_at, req.decided_by = "refused", ctx.now, user.id
        audit.record(db, ctx, "request.refused", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=req.requester_environment_id, before="pending", after="refused")
        requester = db.get(User, req.requester_user_id)
        mail = shares.build_outcome_mail(to=requester.email, what="your authorisation request",
                                         organisation=req.client_name, by=user.email, outcome="refused") if requester else None
    if mail is not None:
        svc.mailer.send(mail)


def revoke(svc: Services, ctx: Context, user_id: int, request_id: int) -> None:
    """W3.4 revoked, by either party: memberships granted through the partnership go, payer reverts (E4)."""
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        req = db.get(AuthorisationRequest, request_id)
        if user is None or req is None:
            raise shares.NotAllowed("No such request.")
        requester_side = req.requester_environment_id == user.environment_id
        client_side = req.organisation_id is not None and orgs.membership(db, user.id, req.organisation_id) is not None \
            and not requester_side
        if not (requester_side or client_side):
            raise shares.NotAllowed("No such request.")
        shares.check_transition(shares.RequestState, req.status, "revoked")
        req.status, req.decided_at, req.decided_by = "revoked", ctx.now, user.id
        org = db.get(Organisation, req.organisation_id) if req.organisation_id else None
        if org is not None:
            db.execute(sa.update(Membership).where(
                Membership.organisation_id == org.id, Membership.via_partnership_id == req.partnership_id,
                Membership.status == "active").values(status="removed"))
            before_payer = org.payer
            org.payer = "own"
            if before_payer != "own":
                audit.record(db, ctx, "organisation.payer_changed", actor_id=user.id, object_type="organisation",
                             object_id=org.id, organisation_id=org.id, before=before_payer, after="own")
        still = db.scalar(sa.select(sa.func.count()).select_from(AuthorisationRequest).where(
            AuthorisationRequest.partnership_id == req.partnership_id, AuthorisationRequest.status == "accepted"))
        p = db.get(Partnership, req.partnership_id) if req.partnership_id else None
        if p is not None and not still and p.status == "active":
            p.status, p.ended_at = "ended", ctx.now
        # SEC-9: its connection keys stop working (they are also re-checked on every use).
        from . import keys
        keys.revoke_where(db, ctx, keys.ApiKey.via_request_id == req.id, reason="request_revoked", actor_id=user.id)
        audit.record(db, ctx, "request.revoked", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, organisation_id=req.organisation_id, environment_id=user.environment_id,
                     before="accepted", after="revoked")
