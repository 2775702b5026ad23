"""The environment's people: colleagues join only by invitation (product.md §2 Environment: no auto-join),
start as *basic*, and the environment's admins change their roles (E7)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Environment
from accesspoint.db.tables.sharing import Invitation

from . import accounts, audit, invites, ratelimit
from .context import Context, Services

__all__ = ["ENVIRONMENT_ROLES", "colleagues", "pending", "invite_colleague", "withdraw", "set_role",
           "set_relationship_manager", "sign_up_from_invite"]

ENVIRONMENT_ROLES = ("basic", "advanced", "admin")


def _admin(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.environment_role != "admin":
        raise shares.NotAllowed("Only the environment's admins manage its users.")
    return user


def colleagues(db: Session, user: User) -> list[User]:
    return list(db.scalars(sa.select(User).where(User.environment_id == user.environment_id).order_by(User.email)))


def pending(db: Session, user: User) -> list[Invitation]:
    return list(db.scalars(sa.select(Invitation).where(
        Invitation.environment_id == user.environment_id, Invitation.kind == "user",
        Invitation.status == "pending").order_by(Invitation.id.desc())))


def invite_colleague(svc: Services, ctx: Context, admin_id: int, email: str) -> int:
    """Invite a colleague into the admin's environment; same answer whether the address has an account (SEC-6)."""
    email = shares.normalise_email(email)
    ratelimit.hit(svc, ctx, "invite", f"user:{admin_id}")
    with svc.sessions.begin() as db:
        admin = _admin(db, admin_id)
        existing = db.scalar(sa.select(Invitation).where(
            Invitation.environment_id == admin.environment_id, Invitation.kind == "user", Invitation.email == email,
            Invitation.status == "pending", Invitation.expires_at > ctx.now))
        if existing is not None:
            return existing.id
        token, token_hash = shares.mint_token()
        inv = Invitation(kind="user", environment_id=admin.environment_id, inviter_user_id=admin.id,
                         organisation_id=None, email=email, token_hash=token_hash, status="pending",
                         expires_at=ctx.now + shares.invite_ttl(svc.invite_ttl_days), sent_count=1,
                         last_sent_at=ctx.now, reminders_sent=0, created_at=ctx.now)
        db.add(inv)
        db.flush()
        env = db.get(Environment, admin.environment_id)
        audit.record(db, ctx, "invitation.created", actor_id=admin.id, object_type="invitation", object_id=inv.id,
                     environment_id=admin.environment_id, after="pending", detail={"kind": "user", "email": email})
        mail = shares.build_colleague_mail(to=email, firm=env.name if env else "", inviter=admin.name or admin.email,
                                           link=svc.link(f"/i/{token}"), expires_at=inv.expires_at,
                                           node_name=svc.node_name)
        inv_id = inv.id
    svc.mailer.send(mail)
    return inv_id


def withdraw(svc: Services, ctx: Context, admin_id: int, invitation_id: int) -> None:
    with svc.sessions.begin() as db:
        admin = _admin(db, admin_id)
        inv = db.get(Invitation, invitation_id)
        if inv is None or inv.kind != "user" or inv.environment_id != admin.environment_id:
            raise shares.NotAllowed("No such invitation.")
        shares.check_transition(shares.InvitationState, inv.status, "revoked")
        inv.status, inv.reason, inv.decided_at = "revoked", "withdrawn", ctx.now
        audit.record(db, ctx, "invitation.revoked", actor_id=admin.id, object_type="invitation", object_id=inv.id,
                     environment_id=admin.environment_id, before="pending", after="revoked")


def set_role(svc: Services, ctx: Context, admin_id: int, user_id: int, role: str) -> None:
    if role not in ENVIRONMENT_ROLES:
        raise shares.InvalidInput("Unknown role.")
    with svc.sessions.begin() as db:
        admin = _admin(db, admin_id)
        user = db.get(User, user_id)
        if user is None or user.environment_id != admin.environment_id:
            raise shares.NotAllowed("No such user.")
        if user.environment_role == "admin" and role != "admin":
            admins = db.scalar(sa.select(sa.func.count()).select_from(User).where(
                User.environment_id == admin.environment_id, User.environment_role == "admin"))
            if (admins or 0) <= 1:
                raise shares.InvalidInput("An environment keeps at least one admin.")
        before, user.environment_role = user.environment_role, role
        audit.record(db, ctx, "user.role_changed", actor_id=admin.id, object_type="user", object_id=user.id,
                     environment_id=admin.environment_id, before=before, after=role)


def set_relationship_manager(svc: Services, ctx: Context, admin_id: int, user_id: int, on: bool) -> None:
    """An admin names (or un-names) a relationship manager: who may form partnerships (W6, E7).

    The flag is only half of it: partnerships also need the advanced or admin role. Taking the
    flag away ends nothing already formed (a partnership grants no access anyway, SEC-12).
    """
    with svc.sessions.begin() as db:
        admin = _admin(db, admin_id)
        user = db.get(User, user_id)
        if user is None or user.environment_id != admin.environment_id:
            raise shares.NotAllowed("No such user.")
        before, user.relationship_manager = user.relationship_manager, bool(on)
        if before != user.relationship_manager:
            audit.record(db, ctx, "user.relationship_manager_changed", actor_id=admin.id, object_type="user",
                         object_id=user.id, environment_id=admin.environment_id, before=str(before).lower(),
                         after=str(user.relationship_manager).lower())


def sign_up_from_invite(svc: Services, ctx: Context, token: str, form: accounts.SignUp) -> int:
    """Sign-up with the email locked to the invited address; returns the new user's id.

    The click on the emailed link proved the mailbox, so the account is verified at
    once (SEC-4). A colleague invitation puts the user into the inviter's
    environment as *basic* and is consumed here; share and request invitations
    give the user an environment of their own and still need the explicit confirm.
    """
    ratelimit.hit(svc, ctx, "signup", ctx.ip or "-")
    with svc.sessions.begin() as db:
        inv = invites.lookup(db, token, ctx.now)
        form = accounts.SignUp(email=inv.email, password=form.password, name=form.name,
                               organisation_name=form.organisation_name)
        if inv.kind != "user":
            return accounts.create_verified_user(db, svc, ctx, form).id
        if db.scalar(sa.select(User.id).where(User.email == inv.email)) is not None:
            raise shares.InvalidInput("An account with this address exists already; it belongs to another "
                                      "environment. Ask support to move it.")
        shares.check_password_strength(form.password, email=inv.email)
        user = User(email=inv.email, name=form.name.strip()[:200], password_hash=svc.hasher.hash(form.password),
                    environment_id=inv.environment_id, environment_role="basic", relationship_manager=False,
                    email_verified_at=ctx.now, created_at=ctx.now)
        db.add(user)
        db.flush()
        invites.consume(db, ctx, inv, status="accepted", user_id=user.id)
        audit.record(db, ctx, "invitation.accepted", actor_id=user.id, object_type="invitation", object_id=inv.id,
                     environment_id=inv.environment_id, before="pending", after="accepted",
                     detail={"kind": "user", "role": "basic"})
        return user.id
