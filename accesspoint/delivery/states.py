"""The outbox state machine (product.md W8.3), as one table.

    created ──► sent ──► delivered        (AS4 receipt verified, or stored in an internal inbox)
       │          └────► opened           (email: a person opened the document link)
       ├──► needs_email ──► created       (no Peppol route and no address yet; a user gives one)
       ├──► delivered                     (internal: no separate hand-off step)
       └──► failed ──► created            (resend, W8.4)
    sent ──► failed                       (negative MLS after the AS4 receipt)

A failed *attempt* that will be retried is not a transition: the entry keeps its
state and gets an `attempt-failed` event and a later `next_attempt_at`.
"""

from __future__ import annotations

import enum

__all__ = ["State", "TRANSITIONS", "FINAL_STATES", "InvalidTransition", "check_transition"]


class State(enum.Enum):
    CREATED = "created"
    NEEDS_EMAIL = "needs_email"
    SENT = "sent"
    #: product.md calls it `received`; the API says `delivered`, as the issue does.
    DELIVERED = "delivered"
    OPENED = "opened"
    FAILED = "failed"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.SENT, State.DELIVERED, State.NEEDS_EMAIL, State.FAILED}),
    State.NEEDS_EMAIL: frozenset({State.CREATED, State.FAILED}),
    State.SENT: frozenset({State.DELIVERED, State.OPENED, State.FAILED}),
    # A negative MLS can arrive after the receipt: the receiving AP could not hand the
    # document to its end user (MLS 1.1 `RE`), so delivery did fail after all.
    State.DELIVERED: frozenset({State.FAILED}),
    State.OPENED: frozenset(),
    State.FAILED: frozenset({State.CREATED}),
}

#: States in which no worker has anything to do.
FINAL_STATES = frozenset({State.DELIVERED, State.OPENED, State.FAILED})


class InvalidTransition(ValueError):
    """A caller asked for a move the state machine does not allow (a bug or a stale request)."""

    def __init__(self, current: State, target: State) -> None:
        super().__init__(f"an outbox entry cannot go from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: State, target: State) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
