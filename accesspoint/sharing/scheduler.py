"""Time-driven work of sharing: expire old links and send the day-3 and day-10 reminders.

The node's scheduler calls `run_due(svc, now)` periodically (every few minutes is
plenty); tests call it with a pinned clock. A reminder mints a fresh token for
the same invitation (only hashes are stored, so the old link cannot be re-sent);
the expiry does not move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

import shares
from accesspoint.db.tables.accounts import EmailToken, WebSession
from accesspoint.db.tables.sharing import AuthorisationRequest, Invitation

from . import audit, invites
from .context import Context, Services

__all__ = ["SweepResult", "run_due"]


@dataclass(frozen=True, slots=True)
class SweepResult:
    expired: int
    reminded: int


def run_due(svc: Services, now: datetime) -> SweepResult:
    ctx = Context(now=now, ip="", user_agent="scheduler")
    expired = reminded = 0
    with svc.sessions.begin() as db:
        for inv in db.scalars(sa.select(Invitation).where(Invitation.status == "pending",
                                                          Invitation.expires_at <= now)):
            invites._expire(db, ctx, inv)
            if inv.kind == "auth_request":
                db.execute(sa.update(AuthorisationRequest).where(
                    AuthorisationRequest.invitation_id == inv.id, AuthorisationRequest.status == "pending")
                    .values(status="expired", decided_at=now))
            expired += 1
    with svc.sessions.begin() as db:
        # Ended sessions and used or stale email links are of no further use; the audit log keeps the history.
        db.execute(sa.delete(WebSession).where(WebSession.expires_at <= now))
        db.execute(sa.delete(EmailToken).where(EmailToken.expires_at <= now))
    due = []
    with svc.sessions() as db:
        for inv in db.scalars(sa.select(Invitation).where(Invitation.status == "pending",
                                                          Invitation.expires_at > now)):
            if shares.reminder_due(last_sent_at=inv.last_sent_at, reminders_sent=inv.reminders_sent,
                                   expires_at=inv.expires_at, now=now):
                due.append(inv.id)
    for inv_id in due:
        mail = None
        with svc.sessions.begin() as db:
            inv = db.get(Invitation, inv_id)
            if inv is None or inv.status != "pending":
                continue
            token, token_hash = shares.mint_token()
            # Guarded like a consume: a concurrent accept or resend wins and we skip.
            done = db.execute(sa.update(Invitation).where(
                Invitation.id == inv.id, Invitation.status == "pending",
                Invitation.reminders_sent == inv.reminders_sent,
            ).values(token_hash=token_hash, reminders_sent=inv.reminders_sent + 1))
            if done.rowcount != 1:
                continue
            db.refresh(inv)
            if inv.kind == "share":
                kinds = [c.kind for _, c in invites._shares_of(db, inv.id)]
                mail = invites._invite_mail(svc, db, inv, token, kinds, reminder=inv.reminders_sent)
            elif inv.kind == "user":
                from accesspoint.db.tables.accounts import User
                from accesspoint.db.tables.organisations import Environment

                env, inviter = db.get(Environment, inv.environment_id), db.get(User, inv.inviter_user_id)
                mail = shares.build_colleague_mail(
                    to=inv.email, firm=env.name if env else "", inviter=(inviter.name or inviter.email) if inviter
                    else "", link=svc.link(f"/i/{token}"), expires_at=inv.expires_at, node_name=svc.node_name)
                mail.replace_header("Subject", "Reminder: " + str(mail["Subject"]))
            else:
                from .requests import _mail

                req = db.scalar(sa.select(AuthorisationRequest).where(AuthorisationRequest.invitation_id == inv.id))
                if req is not None:
                    mail = _mail(svc, db, req, inv, token, reminder=inv.reminders_sent)
            audit.record(db, ctx, "invitation.reminded", actor_id=None, object_type="invitation", object_id=inv.id,
                         organisation_id=inv.organisation_id, detail={"reminder": inv.reminders_sent})
        if mail is not None:
            svc.mailer.send(mail)
            reminded += 1
    return SweepResult(expired, reminded)
