"""Organisation activation rules (product.md W1.3): the state table and the two shipped verifiers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import shares
from shares.activation import (
    ActivationCase,
    ActivationState,
    Mandate,
    MandateVerifier,
    OperatorDecision,
    OperatorVerifier,
    Verdict,
    check_activation,
    decide,
    may_exchange,
    why_not_active,
)

A = ActivationState
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def case(state=A.VERIFYING, **evidence) -> ActivationCase:
    return ActivationCase(organisation_id=7, state=state, identifiers=("0208:0123456749",), **evidence)


@pytest.mark.parametrize("current, target", [
    (A.DRAFT, A.VERIFYING), (A.VERIFYING, A.ACTIVE), (A.VERIFYING, A.REJECTED), (A.REJECTED, A.VERIFYING),
    (A.ACTIVE, A.DELETED), (A.DRAFT, A.DELETED),
])
def test_allowed(current, target):
    check_activation(current, target)


@pytest.mark.parametrize("current, target", [
    (A.DRAFT, A.ACTIVE), (A.DRAFT, A.REJECTED), (A.ACTIVE, A.REJECTED), (A.ACTIVE, A.VERIFYING),
    (A.REJECTED, A.ACTIVE), (A.DELETED, A.ACTIVE), (A.VERIFYING, A.DRAFT),
])
def test_refused(current, target):
    with pytest.raises(shares.InvalidTransition):
        check_activation(current, target)


def test_a_mandate_activates_and_goes_first():
    mandate = Mandate(request_id=3, firm="Boekhouder & Co", identifier="0208:0123456749", accepted_at=T0,
                      firm_verified=True)
    verdict = decide(case(mandate=mandate, operator_decision=OperatorDecision(False, "ops@node.test", "wrong")))
    assert verdict == Verdict(A.ACTIVE, "mandate",
                              "mandate for 0208:0123456749 given to Boekhouder & Co (authorisation request 3)")


def test_a_mandate_from_an_unverified_firm_waits_for_the_operator():
    """Anyone can sign up as a "firm" and accept its own request: that alone proves nothing."""
    mandate = Mandate(request_id=3, firm="Self-made BV", identifier="0208:0123456749", accepted_at=T0)
    assert decide(case(mandate=mandate)) is None
    assert decide(case(mandate=mandate, operator_decision=OperatorDecision(True, "cli"))).verifier == "operator"


def test_the_operator_approves_or_rejects_with_a_reason():
    assert decide(case(operator_decision=OperatorDecision(True, "ops@node.test"))) == Verdict(
        A.ACTIVE, "operator", "approved by ops@node.test")
    assert decide(case(operator_decision=OperatorDecision(False, "cli", "KBO name differs"))) == Verdict(
        A.REJECTED, "operator", "KBO name differs")
    with pytest.raises(shares.InvalidInput):
        OperatorDecision(False, "cli", "  ")
    with pytest.raises(shares.InvalidInput):
        OperatorDecision(True, "cli", "x" * 501)


def test_an_organisation_the_operator_added_is_active_at_once_others_wait():
    assert decide(case(added_by_operator=True)).state is A.ACTIVE
    assert decide(case()) is None
    # Only a case under verification is decided: a draft was never submitted.
    assert decide(case(A.DRAFT, added_by_operator=True)) is None
    assert MandateVerifier().assess(case()) is None and OperatorVerifier().assess(case()) is None


def test_verifiers_are_pluggable():
    class KboName:
        name = "kbo"

        def assess(self, c):
            return Verdict(A.REJECTED, self.name, "name not in the KBO")

    assert decide(case(added_by_operator=True), (KboName(), OperatorVerifier())).verifier == "kbo"
    with pytest.raises(ValueError):
        Verdict(A.VERIFYING, "x", "")


def test_only_active_exchanges_and_every_other_state_says_why():
    assert may_exchange("active") and why_not_active("active") == ""
    for state in (A.DRAFT, A.VERIFYING, A.REJECTED, A.DELETED):
        assert not may_exchange(state)
        assert why_not_active(state)
    assert "KBO name differs" in why_not_active("rejected", "KBO name differs")
