"""Organisation activation (product.md W1.3): `draft -> verifying -> active | rejected`, decided by verifiers.

An organisation sends and receives invoices in a company's name, so before the node does either
someone must have checked that the people who added it may act for that company. How that is
proven differs per platform (eConnect: a 1-cent payment and a human check; Banqup: the legal
representative's identity; Billit: the name in the KBO), so the proof is pluggable: a `Verifier`
looks at the facts of one case and answers *active*, *rejected* or `None` ("not mine to decide").
The node asks its verifiers in order and the first verdict wins (`decide`). Two ship:

- `MandateVerifier`: an intermediary's recorded mandate activates. A mandate is an accepted
  authorisation request for the organisation's identifier (W3.4): the client confirmed the
  requester's details and the consent text, which is stored as evidence (SEC-8). It counts only
  when the intermediary is itself verified (its environment holds an active organisation of its
  own): anyone can sign up and send a request, so an unverified "firm" accepting its own request
  would otherwise activate any number it likes. Its case waits for the operator instead.
- `OperatorVerifier`: the node's operator (support, product.md §1) approves or rejects by hand,
  in the web app or the CLI; an organisation the operator adds themself is active at once
  (the operator is the one who would check it).

No verifier ever turns an active organisation back: only deletion ends it. Pure: no database,
no clock; `accesspoint.sharing.activation` gathers the facts and stores the outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .errors import InvalidInput, InvalidTransition

__all__ = [
    "ActivationState",
    "ACTIVATION_TRANSITIONS",
    "check_activation",
    "Mandate",
    "OperatorDecision",
    "ActivationCase",
    "Verdict",
    "Verifier",
    "MandateVerifier",
    "OperatorVerifier",
    "SHIPPED_VERIFIERS",
    "decide",
    "may_exchange",
    "why_not_active",
    "MAX_REASON_LENGTH",
]

#: A rejection reason is shown to the organisation's admins; a paragraph is plenty.
MAX_REASON_LENGTH = 500


class ActivationState(str, enum.Enum):
    DRAFT = "draft"
    VERIFYING = "verifying"
    ACTIVE = "active"
    REJECTED = "rejected"
    #: Deletion (accesspoint.sharing.deletion) ends every state; named so every stored status has a name.
    DELETED = "deleted"


_A = ActivationState

ACTIVATION_TRANSITIONS: dict[ActivationState, frozenset[ActivationState]] = {
    _A.DRAFT: frozenset({_A.VERIFYING, _A.DELETED}),
    _A.VERIFYING: frozenset({_A.ACTIVE, _A.REJECTED, _A.DELETED}),
    # Asked again after fixing what the reason said (a wrong number, a missing document).
    _A.REJECTED: frozenset({_A.VERIFYING, _A.DELETED}),
    _A.ACTIVE: frozenset({_A.DELETED}),
}


def check_activation(current: str | ActivationState, target: str | ActivationState) -> None:
    """Raise `InvalidTransition` unless the activation table allows `current -> target`."""
    cur, tgt = ActivationState(current), ActivationState(target)
    if tgt not in ACTIVATION_TRANSITIONS.get(cur, frozenset()):
        raise InvalidTransition(f"ActivationState: {cur.value} -> {tgt.value} is not allowed")


@dataclass(frozen=True, slots=True)
class Mandate:
    """An accepted authorisation request for one of the organisation's identifiers (W3.4)."""

    request_id: int
    #: The requesting firm (its environment's name) and the identifier the mandate names.
    firm: str
    identifier: str
    accepted_at: datetime
    #: The firm is verified itself: its environment holds an active organisation of its own.
    firm_verified: bool = False


@dataclass(frozen=True, slots=True)
class OperatorDecision:
    """The node operator's hand decision; `operator` says who (an email, or "cli" for the shell)."""

    approve: bool
    operator: str
    reason: str = ""

    def __post_init__(self) -> None:
        if len(self.reason) > MAX_REASON_LENGTH:
            raise InvalidInput(f"Keep the reason under {MAX_REASON_LENGTH} characters.")
        if not self.approve and not self.reason.strip():
            raise InvalidInput("Say why the organisation is rejected: its admins read this to fix it.")


@dataclass(frozen=True, slots=True)
class ActivationCase:
    """What a verifier may look at: the organisation's state and the evidence gathered so far."""

    organisation_id: int
    state: ActivationState
    identifiers: tuple[str, ...]
    #: The organisation was added by one of the node's operators.
    added_by_operator: bool = False
    mandate: Mandate | None = None
    operator_decision: OperatorDecision | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    state: ActivationState
    #: Which verifier decided (stored in the audit log and shown on the organisation page).
    verifier: str
    reason: str

    def __post_init__(self) -> None:
        if self.state not in (ActivationState.ACTIVE, ActivationState.REJECTED):
            raise ValueError(f"a verdict is active or rejected, not {self.state.value}")


class Verifier(Protocol):
    """Decides a case or passes (`None`); must not raise for a case it does not handle."""

    name: str

    def assess(self, case: ActivationCase) -> Verdict | None: ...


@dataclass(frozen=True, slots=True)
class MandateVerifier:
    name: str = "mandate"

    def assess(self, case: ActivationCase) -> Verdict | None:
        m = case.mandate
        if m is None or not m.firm_verified:
            return None
        return Verdict(ActivationState.ACTIVE, self.name,
                       f"mandate for {m.identifier} given to {m.firm} (authorisation request {m.request_id})")


@dataclass(frozen=True, slots=True)
class OperatorVerifier:
    name: str = "operator"

    def assess(self, case: ActivationCase) -> Verdict | None:
        d = case.operator_decision
        if d is not None:
            if d.approve:
                return Verdict(ActivationState.ACTIVE, self.name,
                               f"approved by {d.operator}" + (f": {d.reason.strip()}" if d.reason.strip() else ""))
            return Verdict(ActivationState.REJECTED, self.name, d.reason.strip())
        if case.added_by_operator:
            return Verdict(ActivationState.ACTIVE, self.name, "added by the node's operator")
        return None


#: What the node runs unless configured otherwise: a mandate first (it needs nobody), then support.
SHIPPED_VERIFIERS: tuple[Verifier, ...] = (MandateVerifier(), OperatorVerifier())


def decide(case: ActivationCase, verifiers: tuple[Verifier, ...] = SHIPPED_VERIFIERS) -> Verdict | None:
    """The first verifier's verdict for a case being verified, or None (it keeps waiting).

    Only a `verifying` case is decided: a draft has not been submitted, and an active or rejected
    one was decided already (a rejected one is submitted again first).
    """
    if case.state is not ActivationState.VERIFYING:
        return None
    for verifier in verifiers:
        verdict = verifier.assess(case)
        if verdict is not None:
            return verdict
    return None


def may_exchange(state: str | ActivationState) -> bool:
    """Only an active organisation sends or receives documents (W1.4)."""
    return ActivationState(state) is ActivationState.ACTIVE


def why_not_active(state: str | ActivationState, reason: str = "") -> str:
    """The plain-words answer to "why can't we send or receive?", or "" for an active organisation."""
    s = ActivationState(state)
    if s is ActivationState.ACTIVE:
        return ""
    if s is ActivationState.DRAFT:
        return ("Not activated yet: this organisation cannot send or receive invoices until it is verified. "
                "Ask for activation; a mandate from your accountant also activates it.")
    if s is ActivationState.VERIFYING:
        return ("Waiting for verification by the node's operator: sending and receiving start once it is "
                "approved (or once a client accepts an authorisation request for it).")
    if s is ActivationState.REJECTED:
        return ("Activation was rejected" + (f": {reason}" if reason else "") +
                ". Fix what is said and ask again; until then it cannot send or receive invoices.")
    return "This organisation was deleted."
