"""Every state machine of the sharing domain, as tables (product.md W2, W3, W5, W6).

A transition not listed here is a bug or an attack; `check_transition` raises
`InvalidTransition` for it, so callers never compare state strings by hand.
"""

from __future__ import annotations

from enum import Enum

from .errors import InvalidTransition

__all__ = [
    "InvitationState",
    "ShareState",
    "RequestState",
    "PartnershipState",
    "MembershipState",
    "TRANSITIONS",
    "check_transition",
]


class InvitationState(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    #: withdrawn by the inviter, superseded by a resend, share revoked or organisation deleted (W5.5)
    REVOKED = "revoked"


class ShareState(str, Enum):
    NOT_SHARED = "not_shared"
    INVITED = "invited"
    ACTIVE = "active"
    REVOKED = "revoked"


class RequestState(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REVOKED = "revoked"


class PartnershipState(str, Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    ENDED = "ended"


class MembershipState(str, Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REMOVED = "removed"


_I, _S, _R, _P, _M = InvitationState, ShareState, RequestState, PartnershipState, MembershipState

TRANSITIONS: dict[type[Enum], dict[Enum, frozenset[Enum]]] = {
    # W5.5 invitation: pending -> accepted | declined | expired | revoked; all others final.
    InvitationState: {
        _I.PENDING: frozenset({_I.ACCEPTED, _I.DECLINED, _I.EXPIRED, _I.REVOKED}),
    },
    # W5.5 share: not_shared -> invited -> active -> revoked. A declined, expired or revoked
    # invitation sends the share back to not_shared (outcome kept); a revoked share may be
    # shared again (EC-6: a new invite).
    ShareState: {
        _S.NOT_SHARED: frozenset({_S.INVITED}),
        _S.INVITED: frozenset({_S.ACTIVE, _S.NOT_SHARED}),
        _S.ACTIVE: frozenset({_S.REVOKED}),
        _S.REVOKED: frozenset({_S.INVITED}),
    },
    # W3.4 request: pending -> accepted | refused | cancelled | expired; accepted -> revoked.
    RequestState: {
        _R.PENDING: frozenset({_R.ACCEPTED, _R.REFUSED, _R.CANCELLED, _R.EXPIRED}),
        _R.ACCEPTED: frozenset({_R.REVOKED}),
    },
    # W6 partnership: pending -> active | rejected; active -> ended. An ended partnership may be
    # re-activated by a new accepted request (W3.4 "or an existing one reused").
    PartnershipState: {
        _P.PENDING: frozenset({_P.ACTIVE, _P.REJECTED}),
        _P.ACTIVE: frozenset({_P.ENDED}),
        _P.ENDED: frozenset({_P.ACTIVE}),
    },
    # W2 membership: pending -> active -> removed; a removed member can only come back
    # through a *new* invitation, never through a reused link (SEC-2).
    MembershipState: {
        _M.PENDING: frozenset({_M.ACTIVE, _M.REMOVED}),
        _M.ACTIVE: frozenset({_M.REMOVED}),
        _M.REMOVED: frozenset({_M.ACTIVE}),
    },
}


def check_transition(machine: type[Enum], current: str | Enum, target: str | Enum) -> None:
    """Raise `InvalidTransition` unless `machine` allows `current -> target`."""
    cur = machine(current)
    tgt = machine(target)
    if tgt not in TRANSITIONS[machine].get(cur, frozenset()):
        raise InvalidTransition(f"{machine.__name__}: {cur.value} -> {tgt.value} is not allowed")
