"""W5: sharing a client's connections by invite link, with SEC-1..7 for the link.

One invitation (one token, one email) can carry both connections; each
connection keeps its own `Share` row and state. Accepting consumes the token
with a single guarded UPDATE (SEC-2), so a second use - or a concurrent one -
finds nothing to update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Environment, Organisation
from accesspoint.db.tables.sharing import Connection, Invitation, Share

from . import audit, orgs, ratelimit
from .context import Context, Services

__all__ = [
    "ConnectionStatus",
    "connection_statuses",
    "share_connections",
    "resend",
    "withdraw",
    "revoke_share",
    "lookup",
    "InviteView",
    "view",
    "accept",
    "decline",
    "consume",
]


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One row of the accountant's Connections list (W5.6)."""

    connection_id: int
    kind: str
    label: str
    display: shares.ShareDisplay
    share_id: int | None
    email: str
    invitation_id: int | None
    sent_at: datetime | None
    expires_at: datetime | None
    times_sent: int
    by: str  # active: who accepted; revoked: who revoked
    when: datetime | None


def _current_share(db: Session, connection_id: int) -> Share | None:
    return db.scalar(sa.select(Share).where(Share.connection_id == connection_id).order_by(Share.id.desc()).limit(1))


def connection_statuses(db: Session, organisation_id: int, now: datetime) -> list[ConnectionStatus]:
    out = []
    for kind, conn in sorted(orgs.connections_of(db, organisation_id).items(),
                             key=lambda kv: shares.CONNECTION_KINDS.index(kv[0])):
        share = _current_share(db, conn.id)
        inv = db.get(Invitation, share.invitation_id) if share and share.invitation_id else None
        display = shares.share_display(share.status if share else None, share.outcome if share else "",
                                       inv.status if inv else None, inv.expires_at if inv else None, now)
        by, when = "", None
        if share and share.status == "active":
            grantee = db.get(User, share.grantee_user_id) if share.grantee_user_id else None
            by, when = (grantee.email if grantee else share.email), share.activated_at
        elif share and (share.status == "revoked" or share.outcome == "revoked"):
            who = db.get(User, share.revoked_by) if share.revoked_by else None
            by, when = (who.email if who else ""), share.revoked_at
        elif share and share.outcome in ("declined", "not_accepted", "expired") and inv is not None:
            when = inv.decided_at or inv.expires_at
        out.append(ConnectionStatus(
            conn.id, kind, shares.CONNECTION_LABELS[kind], display, share.id if share else None,
            share.email if share else "", inv.id if inv else None, inv.last_sent_at if inv else None,
            inv.expires_at if inv else None, inv.sent_count if inv else 0, by, when))
    return out


def _org_facts(db: Session, organisation_id: int) -> tuple[Organisation, Environment]:
    org = db.get(Organisation, organisation_id)
    assert org is not None
    env = db.get(Environment, org.environment_id)
    assert env is not None
    return org, env


def _invite_mail(svc: Services, db: Session, inv: Invitation, token: str, kinds: list[str],
                 reminder: int = 0):
    org, env = _org_facts(db, inv.organisation_id)  # type: ignore[arg-type]
    inviter = db.get(User, inv.inviter_user_id)
    return shares.build_invite_mail(shares.InviteMail(
        to=inv.email, firm=env.name, inviter=(inviter.name or inviter.email) if inviter else env.name,
        organisation=org.name, identifiers=[i.value for i in org.identifiers], connections=kinds,
        link=svc.link(f"/i/{token}"), expires_at=inv.expires_at, reminder=reminder))


def _shares_of(db: Session, invitation_id: int, status: str | None = "invited") -> list[tuple[Share, Connection]]:
    q = sa.select(Share, Connection).join(Connection, Connection.id == Share.connection_id).where(
        Share.invitation_id == invitation_id)
    if status:
        q = q.where(Share.status == status)
    return [(s, c) for s, c in db.execute(q.order_by(Connection.kind))]


def share_connections(svc: Services, ctx: Context, user_id: int, organisation_id: int, email: str,
                      kinds: list[str]) -> int:
    """W5.2: invite `email` to the chosen connections in one email; return the invitation id.

    EC-3: connections already invited (pending) or active keep their row; if every
    chosen one is, the existing invitation is returned and no email goes out. The
    answer is the same whether or not `email` has an account (SEC-6).
    """
    email = shares.normalise_email(email)
    kinds = [k for k in shares.CONNECTION_KINDS if k in set(kinds)]
    if not kinds:
        raise shares.InvalidInput("Choose at least one connection to share.")
    ratelimit.hit(svc, ctx, "invite", f"user:{user_id}")
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        orgs.require_member(db, user, organisation_id)
        conns = orgs.connections_of(db, organisation_id)
        fresh: list[Connection] = []
        existing_inv: int | None = None
        for kind in kinds:
            share = _current_share(db, conns[kind].id)
            if share is not None and share.status == "active":
                existing_inv = existing_inv or share.invitation_id
                continue
            if share is not None and share.status == "invited":
                inv = db.get(Invitation, share.invitation_id) if share.invitation_id else None
                if inv is not None and inv.status == "pending" and inv.expires_at > ctx.now:
                    existing_inv = existing_inv or inv.id
                    continue
                # A pending row past its expiry: settle it before inviting again (EC-5).
                if inv is not None and inv.status == "pending":
                    _expire(db, ctx, inv)
            fresh.append(conns[kind])
        if not fresh:
            assert existing_inv is not None
            return existing_inv
        token, token_hash = shares.mint_token()
        inv = Invitation(kind="share", environment_id=user.environment_id, inviter_user_id=user.id,
                         organisation_id=organisation_id, email=email, token_hash=token_hash, status="pending",
                         expires_at=ctx.now + shares.invite_ttl(svc.invite_ttl_days), sent_count=1,
                         last_sent_at=ctx.now, reminders_sent=0, created_at=ctx.now)
        db.add(inv)
        db.flush()
        for conn in fresh:
            db.add(Share(connection_id=conn.id, invitation_id=inv.id, email=email,
                         rights=",".join(shares.DEFAULT_RIGHTS[conn.kind]), status="invited", created_at=ctx.now))
        audit.record(db, ctx, "invitation.created", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     organisation_id=organisation_id, environment_id=user.environment_id, after="pending",
                     detail={"connections": [c.kind for c in fresh], "email": email,
                             "expires_at": inv.expires_at.isoformat()})
        mail = _invite_mail(svc, db, inv, token, [c.kind for c in fresh])
        audit.record(db, ctx, "invitation.sent", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     organisation_id=organisation_id)
        inv_id = inv.id
    svc.mailer.send(mail)
    return inv_id


def _expire(db: Session, ctx: Context, inv: Invitation) -> None:
    shares.check_transition(shares.InvitationState, inv.status, "expired")
    inv.status, inv.decided_at = "expired", ctx.now
    for share, _ in _shares_of(db, inv.id):
        share.status, share.outcome = "not_shared", "expired"
    audit.record(db, ctx, "invitation.expired", actor_id=None, object_type="invitation", object_id=inv.id,
                 organisation_id=inv.organisation_id, before="pending", after="expired")


def _inviter_side(db: Session, user: User, inv: Invitation) -> None:
    if inv.kind != "share" or inv.organisation_id is None:
        raise shares.NotAllowed("No such invitation.")
    orgs.require_member(db, user, inv.organisation_id)


def resend(svc: Services, ctx: Context, user_id: int, invitation_id: int) -> int:
    """Mint a new token and supersede the old invitation: only the newest link works (SEC-3, E3)."""
    with svc.sessions() as db:
        row = db.get(Invitation, invitation_id)
        # Keyed by organisation and address: each resend makes a new row, so an id key would reset.
        key = f"share:{row.organisation_id}:{row.email}" if row is not None else f"invitation:{invitation_id}"
    ratelimit.hit(svc, ctx, "resend", key)
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        old = db.get(Invitation, invitation_id)
        if user is None or old is None:
            raise shares.NotAllowed("No such invitation.")
        _inviter_side(db, user, old)
        if old.status != "pending":
            raise shares.InvalidInput("Only a pending invitation can be resent; invite again instead.")
        pairs = _shares_of(db, old.id)
        token, token_hash = shares.mint_token()
        new = Invitation(kind="share", environment_id=old.environment_id, inviter_user_id=user.id,
                         organisation_id=old.organisation_id, email=old.email, token_hash=token_hash,
                         status="pending", expires_at=ctx.now + shares.invite_ttl(svc.invite_ttl_days),
                         sent_count=old.sent_count + 1, last_sent_at=ctx.now, reminders_sent=0, created_at=ctx.now)
        db.add(new)
        db.flush()
        shares.check_transition(shares.InvitationState, old.status, "revoked")
        old.status, old.reason, old.superseded_by, old.decided_at = "revoked", "superseded", new.id, ctx.now
        for share, _ in pairs:
            share.invitation_id = new.id
        audit.record(db, ctx, "invitation.resent", actor_id=user.id, object_type="invitation", object_id=new.id,
                     organisation_id=old.organisation_id, before="pending", after="pending",
                     detail={"supersedes": old.id, "times_sent": new.sent_count})
        mail = _invite_mail(svc, db, new, token, [c.kind for _, c in pairs])
        new_id = new.id
    svc.mailer.send(mail)
    return new_id


def withdraw(svc: Services, ctx: Context, user_id: int, invitation_id: int) -> None:
    """EC-1: the inviter withdraws a pending invitation; the link dies at once."""
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        inv = db.get(Invitation, invitation_id)
        if user is None or inv is None:
            raise shares.NotAllowed("No such invitation.")
        _inviter_side(db, user, inv)
        shares.check_transition(shares.InvitationState, inv.status, "revoked")
        inv.status, inv.reason, inv.decided_at = "revoked", "withdrawn", ctx.now
        for share, _ in _shares_of(db, inv.id):
            share.status, share.outcome, share.revoked_at, share.revoked_by = "not_shared", "revoked", ctx.now, user.id
        audit.record(db, ctx, "invitation.revoked", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     organisation_id=inv.organisation_id, before="pending", after="revoked",
                     detail={"reason": "withdrawn"})


def revoke_share(svc: Services, ctx: Context, user_id: int, share_id: int) -> str:
    """Either side ends a share (W5.7). Active: the grantee loses access on the next request (SEC-9).
    Invited: that connection leaves the invitation (a *Withdraw* on one connection's row touches only
    that connection); the link dies when nothing is left in it. Returns the state it had: active or
    invited, so the page can say "revoked" or "withdrawn"."""
    notify = None
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        share = db.get(Share, share_id)
        if user is None or share is None:
            raise shares.NotAllowed("No such share.")
        conn = db.get(Connection, share.connection_id)
        assert conn is not None
        owner_side = orgs.membership(db, user.id, conn.organisation_id) is not None
        grantee_side = share.grantee_user_id == user.id
        if not (owner_side or grantee_side):
            raise shares.NotAllowed("No such share.")
        before = share.status
        if share.status == "active":
            shares.check_transition(shares.ShareState, share.status, "revoked")
            share.status, share.revoked_at, share.revoked_by = "revoked", ctx.now, user.id
        elif share.status == "invited" and owner_side:
            shares.check_transition(shares.ShareState, share.status, "not_shared")
            share.status, share.outcome, share.revoked_at, share.revoked_by = "not_shared", "revoked", ctx.now, user.id
            inv = db.get(Invitation, share.invitation_id) if share.invitation_id else None
            if inv is not None and inv.status == "pending" and not _shares_of(db, inv.id):
                inv.status, inv.reason, inv.decided_at = "revoked", "share_revoked", ctx.now
                audit.record(db, ctx, "invitation.revoked", actor_id=user.id, object_type="invitation",
                             object_id=inv.id, organisation_id=inv.organisation_id, before="pending",
                             after="revoked", detail={"reason": "share_revoked"})
        else:
            raise shares.InvalidTransition(f"a {share.status} share cannot be revoked")
        audit.record(db, ctx, "share.revoked", actor_id=user.id, object_type="share", object_id=share.id,
                     organisation_id=conn.organisation_id, before=before, after=share.status,
                     detail={"connection": conn.kind, "by": "grantee" if grantee_side and not owner_side else "owner"})
        if grantee_side and not owner_side and share.invitation_id:
            inv = db.get(Invitation, share.invitation_id)
            inviter = db.get(User, inv.inviter_user_id) if inv else None
            org = db.get(Organisation, conn.organisation_id)
            if inviter is not None and org is not None:
                notify = shares.build_outcome_mail(to=inviter.email, what=f"the share of {shares.CONNECTION_LABELS[conn.kind]}",
                                                   organisation=org.name, by=user.email, outcome="revoked")
    if notify is not None:
        svc.mailer.send(notify)
    return before


def lookup(db: Session, token: str, now: datetime) -> Invitation:
    """The pending, unexpired invitation of `token`, or the one uniform InviteInvalid (SEC-6).

    Read-only: GET pages call this and never change state (SEC-5).
    """
    inv = db.scalar(sa.select(Invitation).where(Invitation.token_hash == shares.hash_token(token or "")))
    if inv is None or inv.status != "pending" or inv.expires_at <= now:
        raise shares.InviteInvalid()
    return inv


@dataclass(frozen=True, slots=True)
class InviteView:
    """What the landing and confirm pages show: enough for the client to check who invites (SEC-11)."""

    invitation_id: int
    kind: str
    email: str
    firm: str
    inviter: str
    organisation: str
    identifiers: tuple[str, ...]
    connections: tuple[str, ...]
    expires_at: datetime
    request_id: int | None = None


def view(db: Session, inv: Invitation) -> InviteView:
    env = db.get(Environment, inv.environment_id)
    inviter = db.get(User, inv.inviter_user_id)
    firm = env.name if env else ""
    who = (inviter.name or inviter.email) if inviter else firm
    if inv.kind == "auth_request":
        from accesspoint.db.tables.sharing import AuthorisationRequest

        req = db.scalar(sa.select(AuthorisationRequest).where(AuthorisationRequest.invitation_id == inv.id))
        assert req is not None
        return InviteView(inv.id, inv.kind, inv.email, firm, who, req.client_name, (req.client_identifier,), (),
                          inv.expires_at, req.id)
    if inv.kind == "user":
        return InviteView(inv.id, inv.kind, inv.email, firm, who, firm, (), (), inv.expires_at)
    org = db.get(Organisation, inv.organisation_id) if inv.organisation_id else None
    kinds = tuple(c.kind for _, c in _shares_of(db, inv.id))
    return InviteView(inv.id, inv.kind, inv.email, firm, who, org.name if org else "",
                      tuple(i.value for i in org.identifiers) if org else (), kinds, inv.expires_at)


def consume(db: Session, ctx: Context, inv: Invitation, *, status: str, user_id: int) -> None:
    """SEC-2: the one atomic state change of a link; raises InviteInvalid if someone was first."""
    shares.check_transition(shares.InvitationState, "pending", status)
    done = db.execute(sa.update(Invitation).where(
        Invitation.id == inv.id, Invitation.token_hash == inv.token_hash,
        Invitation.status == "pending", Invitation.expires_at > ctx.now,
    ).values(status=status, accepted_by=user_id if status == "accepted" else None, decided_at=ctx.now))
    if done.rowcount != 1:
        raise shares.InviteInvalid()


def _bound_invitation(db: Session, ctx: Context, user: User, token: str) -> Invitation:
    inv = lookup(db, token, ctx.now)
    # SEC-4 / EC-4: checked before anything changes; a mismatch creates nothing.
    shares.check_invited_email(invited=inv.email, user_email=user.email, verified=user.email_verified_at is not None)
    return inv


def _share_invitation(db: Session, ctx: Context, user_id: int,
                      token: str) -> tuple[User, Invitation, list[tuple[Share, Connection]]]:
    user = db.get(User, user_id)
    assert user is not None
    inv = _bound_invitation(db, ctx, user, token)
    if inv.kind != "share":
        raise shares.InviteInvalid()
    return user, inv, _shares_of(db, inv.id)


def accept(svc: Services, ctx: Context, user_id: int, token: str, kinds: list[str], *, text_shown: str) -> list[int]:
    """W5.3: the signed-in invitee accepts the chosen connections; return the ids of the active shares.

    Connections the invitee unticks are *not accepted* (not declined: the invitation was accepted;
    EC-2: onboarding then shows partial, and the accountant can re-invite the missing one).
    """
    ratelimit.hit(svc, ctx, "token", ctx.ip or "-")
    with svc.sessions.begin() as db:
        user, inv, pairs = _share_invitation(db, ctx, user_id, token)
        chosen = [s for s, c in pairs if c.kind in set(kinds)]
        if not chosen:
            raise shares.InvalidInput("Tick at least one connection, or decline the invitation.")
        consume(db, ctx, inv, status="accepted", user_id=user.id)
        activated, not_accepted = [], []
        for share, conn in pairs:
            if share in chosen:
                shares.check_transition(shares.ShareState, share.status, "active")
                # EC-3: never a second active share of this connection for this user.
                db.execute(sa.update(Share).where(Share.connection_id == conn.id, Share.grantee_user_id == user.id,
                                                  Share.status == "active", Share.id != share.id)
                           .values(status="revoked", revoked_at=ctx.now, revoked_by=user.id))
                share.status, share.grantee_user_id, share.activated_at = "active", user.id, ctx.now
                activated.append(share)
            else:
                share.status, share.outcome = "not_shared", "not_accepted"
                not_accepted.append(conn.kind)
        db.flush()
        org, _ = _org_facts(db, inv.organisation_id)  # type: ignore[arg-type]
        # SEC-8: consent evidence - who, when, IP, user agent, the text shown, the rights.
        audit.record(db, ctx, "invitation.accepted", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     organisation_id=org.id, before="pending", after="accepted",
                     detail={"text_shown": text_shown, "email": user.email,
                             "accepted": {s.id: s.rights for s in activated}, "not_accepted": not_accepted})
        for s in activated:
            audit.record(db, ctx, "share.activated", actor_id=user.id, object_type="share", object_id=s.id,
                         organisation_id=org.id, before="invited", after="active", detail={"rights": s.rights})
        inviter = db.get(User, inv.inviter_user_id)
        labels = ", ".join(shares.CONNECTION_LABELS[c.kind] for s, c in pairs if s in activated)
        mail = shares.build_outcome_mail(to=inviter.email, what=f"your invitation ({labels})", organisation=org.name,
                                         by=user.email, outcome="accepted") if inviter else None
        ids = [s.id for s in activated]
    if mail is not None:
        svc.mailer.send(mail)
    return ids


def decline(svc: Services, ctx: Context, user_id: int, token: str) -> None:
    ratelimit.hit(svc, ctx, "token", ctx.ip or "-")
    with svc.sessions.begin() as db:
        user, inv, pairs = _share_invitation(db, ctx, user_id, token)
        consume(db, ctx, inv, status="declined", user_id=user.id)
        for share, _ in pairs:
            share.status, share.outcome = "not_shared", "declined"
        org, _ = _org_facts(db, inv.organisation_id)  # type: ignore[arg-type]
        audit.record(db, ctx, "invitation.declined", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     organisation_id=org.id, before="pending", after="declined")
        inviter = db.get(User, inv.inviter_user_id)
        mail = shares.build_outcome_mail(to=inviter.email, what="your invitation", organisation=org.name,
                                         by=user.email, outcome="declined") if inviter else None
    if mail is not None:
        svc.mailer.send(mail)
