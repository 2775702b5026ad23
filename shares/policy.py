"""Pure rules of the sharing domain: emails, expiry, reminders, onboarding and rate limits.

Time is always an argument (`now`); nothing here reads the clock or a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from ._states import InvitationState, ShareState
from .errors import InvalidInput, InviteForOtherAddress

__all__ = [
    "normalise_email",
    "DEFAULT_INVITE_TTL_DAYS",
    "invite_ttl",
    "REMINDER_DAYS",
    "reminder_due",
    "CONNECTION_KINDS",
    "CONNECTION_LABELS",
    "ALL_RIGHTS",
    "parse_rights",
    "Onboarding",
    "onboarding",
    "ShareDisplay",
    "share_display",
    "check_invited_email",
    "RateLimit",
    "RATE_LIMITS",
    "PAYERS",
    "DEFAULT_RIGHTS",
    "OrgRelation",
    "HELD_FOR",
    "org_relation",
    "offers_share_with_client",
]

_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")


def normalise_email(text: str) -> str:
    """Trim and lower-case an address; raise `InvalidInput` if it is not one.

    Lower-casing the local part is technically lossy (RFC 5321 §2.4), but every
    provider we meet treats it case-insensitively and one account per mailbox is
    what the product needs (§2 User: "stored lower-case").
    """
    email = (text or "").strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput("Enter a valid email address.")
    return email


#: SEC-3: default 14 days, configurable 1..30.
DEFAULT_INVITE_TTL_DAYS = 14


def invite_ttl(days: int = DEFAULT_INVITE_TTL_DAYS) -> timedelta:
    if not 1 <= days <= 30:
        raise ValueError(f"invite TTL must be 1..30 days, not {days}")
    return timedelta(days=days)


#: SEC-3 ★: reminders on day 3 and day 10 after the (last) send.
REMINDER_DAYS = (3, 10)


def reminder_due(*, last_sent_at: datetime, reminders_sent: int, expires_at: datetime, now: datetime) -> bool:
    """Whether the next reminder of a pending invitation is due at `now`.

    Reminders count from the last (re)send, so a resend restarts the schedule; none
    is sent once the link has expired.
    """
    if now >= expires_at or reminders_sent >= len(REMINDER_DAYS):
        return False
    return now >= last_sent_at + timedelta(days=REMINDER_DAYS[reminders_sent])


#: Exactly two per organisation (product.md §2 Connection).
CONNECTION_KINDS = ("peppol_purchase", "peppol_sales")
CONNECTION_LABELS = {
    "peppol_purchase": "Peppol – purchase invoices",
    "peppol_sales": "Peppol – sales invoices",
}
ALL_RIGHTS = ("view", "download", "pay", "send")
#: Rights an accepted share grants: send only makes sense on the sales connection.
DEFAULT_RIGHTS = {
    "peppol_purchase": ("view", "download", "pay"),
    "peppol_sales": ("view", "download", "send"),
}


def parse_rights(text: str) -> frozenset[str]:
    rights = frozenset(r for r in (text or "").split(",") if r)
    unknown = rights - set(ALL_RIGHTS)
    if unknown:
        raise InvalidInput(f"unknown rights: {', '.join(sorted(unknown))}")
    return rights


class Onboarding(str, Enum):
    """Per client (W5.6): how many of its two connections are actively shared."""

    NONE = "none"
    PARTIAL = "partial"
    COMPLETE = "complete"


def onboarding(states: list[str | ShareState]) -> Onboarding:
    active = sum(1 for s in states if ShareState(s) is ShareState.ACTIVE)
    if active == 0:
        return Onboarding.NONE
    if active < len(CONNECTION_KINDS):
        return Onboarding.PARTIAL
    return Onboarding.COMPLETE


@dataclass(frozen=True, slots=True)
class ShareDisplay:
    """What the accountant sees for one connection (W5.6)."""

    key: str  # not_shared | invited | declined | not_accepted | expired | active | revoked
    label: str


_LABELS = {
    "not_shared": "Not shared",
    "invited": "Invited",
    "declined": "Declined",
    #: The client accepted the invitation but left this connection unticked (EC-2): not a refusal.
    "not_accepted": "Not accepted",
    "expired": "Expired",
    "active": "Active",
    "revoked": "Revoked",
}


def share_display(share_state: str | None, outcome: str, invitation_state: str | None,
                  invitation_expires_at: datetime | None, now: datetime) -> ShareDisplay:
    """Fold the share row, its last outcome and its invitation into one shown state.

    The invitation row is the single source of truth for expiry (SEC-3): a pending
    invitation past `expires_at` shows as Expired even before the sweep marks it.
    """
    if share_state is None:
        key = "not_shared"
    elif share_state == ShareState.INVITED.value:
        if (invitation_state == InvitationState.PENDING.value and invitation_expires_at is not None
                and invitation_expires_at <= now) or invitation_state == InvitationState.EXPIRED.value:
            key = "expired"
        else:
            key = "invited"
    elif share_state == ShareState.NOT_SHARED.value:
        key = outcome if outcome in ("declined", "not_accepted", "expired", "revoked") else "not_shared"
    else:
        key = share_state
    return ShareDisplay(key, _LABELS[key])


class OrgRelation(str, Enum):
    """How an organisation stands to the environment looking at it (the accountant's pages, W5.1)."""

    #: The environment's own organisation (the firm itself, or a client looking at its own).
    OURS = "ours"
    #: A client's: registered for the client here (held_for "client"), or held by the client's
    #: environment and reached through an authorisation (a membership via the partnership).
    CLIENT = "client"


#: Organisation.held_for values.
HELD_FOR = ("own", "client")


def org_relation(*, organisation_environment_id: int, held_for: str, viewer_environment_id: int) -> OrgRelation:
    """Our organisation or a client's, as seen from `viewer_environment_id`."""
    if organisation_environment_id != viewer_environment_id:
        return OrgRelation.CLIENT
    return OrgRelation.CLIENT if held_for == "client" else OrgRelation.OURS


def offers_share_with_client(relation: OrgRelation) -> bool:
    """"Share with your client" belongs on a client's organisation only: on the firm's own, and on a
    client's own organisation seen by that client, there is no client to share with (issue 12)."""
    return relation is OrgRelation.CLIENT


def check_invited_email(*, invited: str, user_email: str, verified: bool) -> None:
    """SEC-4: only a signed-in user whose *verified* email is the invited one may accept."""
    if not verified or normalise_email(user_email) != normalise_email(invited):
        raise InviteForOtherAddress()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` hits per `window` for one key (SEC-7)."""

    name: str
    limit: int
    window: timedelta


RATE_LIMITS = {
    "invite": RateLimit("invite", 50, timedelta(hours=1)),  # per inviter
    "resend": RateLimit("resend", 5, timedelta(days=1)),  # per invitation / request
    "token": RateLimit("token", 60, timedelta(minutes=10)),  # per IP on link endpoints
    "login": RateLimit("login", 10, timedelta(minutes=15)),  # per email
    "login_ip": RateLimit("login_ip", 50, timedelta(minutes=15)),  # per IP (offices share one address)
    "signup": RateLimit("signup", 20, timedelta(hours=1)),  # per IP
    "request": RateLimit("request", 50, timedelta(hours=1)),  # authorisation requests per requester
}

#: W3/W4 costs_paid_by
PAYERS = ("intermediary", "client")
