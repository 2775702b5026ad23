"""Sign-up, email verification, login and server-side sessions.

Sessions are rows (the cookie or bearer token is random; only its SHA-256 is
stored), looked up on every request; nothing about rights is kept in them
(SEC-9). Sign-up and login answer the same way whether or not an address has an
account (SEC-6).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import EmailToken, User, WebSession
from accesspoint.db.tables.organisations import Environment

from . import audit, ratelimit
from .context import Context, Services

__all__ = [
    "SESSION_LIFETIME",
    "SignUp",
    "sign_up",
    "verify_email",
    "authenticate",
    "open_session",
    "load_session",
    "close_session",
    "create_verified_user",
]

#: A session ends after 12 hours regardless of activity; short enough for shared devices.
SESSION_LIFETIME = timedelta(hours=12)
VERIFY_TTL = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class SignUp:
    email: str
    password: str
    name: str = ""
    organisation_name: str = ""


def _new_user(db: Session, svc: Services, ctx: Context, form: SignUp, *, verified: bool) -> User:
    email = shares.normalise_email(form.email)
    shares.check_password_strength(form.password, email=email)
    env = Environment(name=(form.organisation_name or form.name or email).strip()[:200], created_at=ctx.now)
    db.add(env)
    db.flush()
    # W1.1 / EC-8: the first user of a new environment is its admin.
    user = User(email=email, name=form.name.strip()[:200], password_hash=svc.hasher.hash(form.password),
                environment_id=env.id, environment_role="admin", relationship_manager=False,
                email_verified_at=ctx.now if verified else None, created_at=ctx.now)
    db.add(user)
    db.flush()
    audit.record(db, ctx, "user.signed_up", actor_id=user.id, object_type="user", object_id=user.id,
                 environment_id=env.id, after="verified" if verified else "unverified")
    return user


def sign_up(svc: Services, ctx: Context, form: SignUp) -> None:
    """Create an unverified account and mail the verification link.

    For an address that already has an account we mail a notice instead and
    return the same way, so the page cannot reveal who has an account (SEC-6).
    """
    ratelimit.hit(svc, ctx, "signup", ctx.ip or "-")
    email = shares.normalise_email(form.email)
    shares.check_password_strength(form.password, email=email)
    with svc.sessions.begin() as db:
        existing = db.scalar(sa.select(User).where(User.email == email))
        if existing is not None:
            msg = shares.build_verification_mail(to=email, link=svc.link("/login"), node_name=svc.node_name)
            del msg["Subject"]
            msg["Subject"] = f"You already have a {svc.node_name} account"
            msg.set_content(f"Someone tried to sign up with this address. You already have an account: "
                            f"log in at {svc.link('/login')}.\nIf this was not you, ignore this email.\n")
            mail = msg
        else:
            user = _new_user(db, svc, ctx, form, verified=False)
            token, token_hash = shares.mint_token()
            db.add(EmailToken(purpose="verify", user_id=user.id, token_hash=token_hash, status="pending",
                              expires_at=ctx.now + VERIFY_TTL, created_at=ctx.now))
            mail = shares.build_verification_mail(to=email, link=svc.link(f"/verify/{token}"),
                                                  node_name=svc.node_name)
    svc.mailer.send(mail)


def create_verified_user(db: Session, svc: Services, ctx: Context, form: SignUp) -> User:
    """Sign-up from an invitation: the click on the emailed link proved the mailbox (SEC-4)."""
    email = shares.normalise_email(form.email)
    if db.scalar(sa.select(User.id).where(User.email == email)) is not None:
        raise shares.InvalidInput("An account with this address exists already: log in instead.")
    return _new_user(db, svc, ctx, form, verified=True)


def peek_verification(svc: Services, token: str, now: datetime) -> bool:
    """GET only looks (SEC-5): is this verification link usable?"""
    with svc.sessions() as db:
        row = db.scalar(sa.select(EmailToken).where(EmailToken.token_hash == shares.hash_token(token)))
        return row is not None and row.status == "pending" and row.expires_at > now


def verify_email(svc: Services, ctx: Context, token: str) -> int:
    """Consume a verification link atomically (SEC-2); return the user id."""
    ratelimit.hit(svc, ctx, "token", ctx.ip or "-")
    with svc.sessions.begin() as db:
        token_hash = shares.hash_token(token)
        row = db.scalar(sa.select(EmailToken).where(EmailToken.token_hash == token_hash))
        if row is None:
            raise shares.InviteInvalid()
        done = db.execute(sa.update(EmailToken).where(
            EmailToken.id == row.id, EmailToken.status == "pending", EmailToken.expires_at > ctx.now,
        ).values(status="used"))
        if done.rowcount != 1:
            raise shares.InviteInvalid()
        user = db.get(User, row.user_id)
        assert user is not None
        if user.email_verified_at is None:
            user.email_verified_at = ctx.now
        audit.record(db, ctx, "user.email_verified", actor_id=user.id, object_type="user", object_id=user.id,
                     environment_id=user.environment_id, before="unverified", after="verified")
        return user.id


def authenticate(svc: Services, ctx: Context, email: str, password: str) -> int:
    """Return the user id for a correct email and password; one uniform error otherwise."""
    ratelimit.hit(svc, ctx, "login_ip", ctx.ip or "-")
    try:
        email = shares.normalise_email(email)
    except shares.InvalidInput:
        email = ""
    ratelimit.hit(svc, ctx, "login", email or "-")
    wrong = shares.NotAllowed("The email address or password is wrong.")
    with svc.sessions.begin() as db:
        user = db.scalar(sa.select(User).where(User.email == email)) if email else None
        if user is None:
            svc.hasher.dummy_verify(password)
            raise wrong
        if not svc.hasher.verify(password, user.password_hash):
            raise wrong
        if user.email_verified_at is None:
            raise shares.NotAllowed("Confirm your email address first: we sent you a link when you signed up.")
        if svc.hasher.needs_rehash(user.password_hash):
            user.password_hash = svc.hasher.hash(password)
        audit.record(db, ctx, "user.logged_in", actor_id=user.id, object_type="user", object_id=user.id,
                     environment_id=user.environment_id)
        return user.id


def open_session(db: Session, ctx: Context, user_id: int) -> tuple[str, str]:
    """Start a session; return `(token, csrf_token)`. The token goes into the cookie or API header."""
    token, token_hash = shares.mint_token()
    csrf = secrets.token_urlsafe(32)
    db.add(WebSession(token_hash=token_hash, user_id=user_id, csrf_token=csrf, created_at=ctx.now,
                      expires_at=ctx.now + SESSION_LIFETIME, ip=ctx.ip[:64], user_agent=ctx.user_agent[:300]))
    return token, csrf


def load_session(db: Session, token: str, now: datetime) -> tuple[WebSession, User] | None:
    """The live session and its user for `token`, or None; read fresh on every request (SEC-9)."""
    if not token:
        return None
    row = db.execute(sa.select(WebSession, User).join(User, User.id == WebSession.user_id)
                     .where(WebSession.token_hash == shares.hash_token(token))).first()
    if row is None:
        return None
    session, user = row
    if session.expires_at <= now:
        return None
    return session, user


def close_session(db: Session, token: str) -> None:
    db.execute(sa.delete(WebSession).where(WebSession.token_hash == shares.hash_token(token)))
