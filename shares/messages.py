"""The emails of the sharing domain, built as `email.message.EmailMessage` (no sending here).

SEC-11: each names the inviting firm and the organisation (name + number) so the
client can check them; no invoice data, and never a token in the subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from .policy import CONNECTION_LABELS

__all__ = [
    "Mailer",
    "InviteMail",
    "build_invite_mail",
    "build_request_mail",
    "build_verification_mail",
    "build_outcome_mail",
    "build_colleague_mail",
]


class Mailer(Protocol):
    """What the domain needs from the node's mail edge (accesspoint.mail.Mailer satisfies it)."""

    def send(self, message: EmailMessage) -> str: ...


@dataclass(frozen=True, slots=True)
class InviteMail:
    to: str
    firm: str
    inviter: str
    organisation: str
    identifiers: Sequence[str]
    connections: Sequence[str]
    link: str
    expires_at: datetime
    reminder: int = 0  # 0 = first send, n = n-th reminder


def _message(to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def build_invite_mail(m: InviteMail) -> EmailMessage:
    ids = ", ".join(m.identifiers) or "no Peppol identifier yet"
    conns = "\n".join(f"  - {CONNECTION_LABELS[c]}" for c in m.connections)
    prefix = "Reminder: " if m.reminder else ""
    subject = f"{prefix}{m.firm} shares the Peppol connections of {m.organisation} with you"
    lines = [
        f"{m.inviter} of {m.firm} invites you to access these connections of",
        f"{m.organisation} ({ids}):",
        conns,
        "",
        "Open this link to review the invitation, then log in or create your free account",
        "and confirm:",
        m.link,
        "",
        f"The link works once and expires on {m.expires_at:%Y-%m-%d %H:%M} UTC.",
    ]
    if m.reminder:
        lines += ["", "This reminder carries a fresh link; links in earlier emails no longer work."]
    lines += ["", "If you did not expect this, ignore this email: nothing happens unless you confirm."]
    return _message(m.to, subject, "\n".join(lines))


def build_request_mail(*, to: str, firm: str, requester: str, client_name: str, client_identifier: str,
                       costs_paid_by: str, link: str, expires_at: datetime, reminder: int = 0) -> EmailMessage:
    prefix = "Reminder: " if reminder else ""
    payer = firm if costs_paid_by == "intermediary" else client_name
    body = "\n".join([
        f"{requester} of {firm} asks for your authorisation to manage Peppol e-invoicing for",
        f"{client_name} ({client_identifier}).",
        f"Transaction costs will be paid by: {payer}.",
        "",
        "Review and accept or refuse the request here (log in or create your free account):",
        link,
        "",
        f"The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC.",
        "You also find the request under Inbox → Requests once you are logged in.",
    ])
    return _message(to, f"{prefix}Authorisation request from {firm}", body)


def build_verification_mail(*, to: str, link: str, node_name: str) -> EmailMessage:
    body = "\n".join([
        f"Confirm your email address to activate your {node_name} account:",
        link,
        "",
        "If you did not sign up, ignore this email.",
    ])
    return _message(to, f"Confirm your email address for {node_name}", body)


def build_outcome_mail(*, to: str, what: str, organisation: str, by: str, outcome: str) -> EmailMessage:
    """Tell the inviter/requester that `what` for `organisation` was accepted, declined, refused or revoked."""
    body = f"{by} has {outcome} {what} for {organisation}.\n"
    return _message(to, f"{what[0].upper()}{what[1:]} for {organisation} {outcome}", body)


def build_colleague_mail(*, to: str, firm: str, inviter: str, link: str, expires_at: datetime,
                         node_name: str) -> EmailMessage:
    body = "\n".join([
        f"{inviter} invites you to join {firm} on {node_name}.",
        "",
        "Create your account here (the link works once):",
        link,
        "",
        f"The link expires on {expires_at:%Y-%m-%d %H:%M} UTC. If you did not expect this, ignore this email.",
    ])
    return _message(to, f"{inviter} invites you to join {firm}", body)
