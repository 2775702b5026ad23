"""The trusted-sender rules (product.md W7), without mail or a database."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accesspoint.intake import (
    DmarcVerdict,
    SenderEvent,
    SenderState,
    TransitionRefused,
    Whitelist,
    WhitelistKind,
    new_receiver_address,
    normalise_address,
    transition,
)


def test_receiver_addresses_are_fresh_lower_case_and_at_the_intake_domain() -> None:
    addresses = {new_receiver_address("Intake.Example.NL.") for _ in range(2000)}
    assert len(addresses) == 2000
    assert all(re.fullmatch(r"[a-z2-7]{12}@intake\.example\.nl", a) for a in addresses)


@pytest.mark.parametrize("domain", ["", "a@b.nl", "two words.nl"])
def test_a_receiver_address_needs_a_domain(domain: str) -> None:
    with pytest.raises(ValueError):
        new_receiver_address(domain)


def test_one_address_matches_case_blind_and_nothing_else() -> None:
    rule = Whitelist(WhitelistKind.ADDRESS, "Facturen@Bakkerij.nl")
    assert rule.allows("<facturen@bakkerij.NL>")
    assert not rule.allows("info@bakkerij.nl")
    assert not rule.allows("facturen@bakkerij.nl.evil.example")
    assert not rule.allows("not an address")


def test_a_domain_matches_that_domain_only_and_never_when_dmarc_fails() -> None:
    rule = Whitelist(WhitelistKind.DOMAIN, "@e-boekhouden.nl")
    assert rule.value == "e-boekhouden.nl"
    assert rule.allows("noreply@E-Boekhouden.nl", dmarc=DmarcVerdict.PASS)
    assert rule.allows("noreply@e-boekhouden.nl", dmarc=DmarcVerdict.NONE)
    assert not rule.allows("noreply@e-boekhouden.nl", dmarc=DmarcVerdict.FAIL)
    assert not rule.allows("noreply@mail.e-boekhouden.nl", dmarc=DmarcVerdict.PASS)
    assert not rule.allows("noreply@e-boekhouden.nl.example", dmarc=DmarcVerdict.PASS)


def test_verified_users_are_the_addresses_the_caller_gives() -> None:
    rule = Whitelist(WhitelistKind.VERIFIED_USERS)
    users = frozenset({"Jan@Peeters.be", "boekhouder@kantoor.nl"})
    assert rule.allows("jan@peeters.be", verified_users=users)
    assert rule.allows("BOEKHOUDER@kantoor.nl", verified_users=users)
    assert not rule.allows("someone@peeters.be", verified_users=users)
    assert not rule.allows("jan@peeters.be")


@pytest.mark.parametrize("kind, value", [(WhitelistKind.ADDRESS, "nope"), (WhitelistKind.DOMAIN, "x@y.nl"),
                                         (WhitelistKind.DOMAIN, "localhost"), (WhitelistKind.VERIFIED_USERS, "a@b.nl")])
def test_malformed_rules_are_refused(kind: WhitelistKind, value: str) -> None:
    with pytest.raises(ValueError):
        Whitelist(kind, value)


def test_the_states_of_product_md_w7() -> None:
    s = transition(SenderState.DRAFT, SenderEvent.SEND_INVITATION)
    assert s is SenderState.INVITED
    assert transition(s, SenderEvent.FIRST_INVOICE) is SenderState.ACTIVE
    assert transition(SenderState.DRAFT, SenderEvent.ACTIVATE) is SenderState.ACTIVE  # *Update status*
    assert transition(SenderState.ACTIVE, SenderEvent.DEACTIVATE) is SenderState.INACTIVE
    assert transition(SenderState.INACTIVE, SenderEvent.ACTIVATE) is SenderState.ACTIVE
    for refused in [(SenderState.INACTIVE, SenderEvent.FIRST_INVOICE), (SenderState.INACTIVE, SenderEvent.SEND_INVITATION),
                    (SenderState.ACTIVE, SenderEvent.SEND_INVITATION), (SenderState.INACTIVE, SenderEvent.DEACTIVATE)]:
        with pytest.raises(TransitionRefused):
            transition(*refused)


@given(st.sampled_from(list(SenderState)), st.sampled_from(list(SenderEvent)))
def test_every_transition_is_defined_or_refused_never_a_crash(state: SenderState, event: SenderEvent) -> None:
    try:
        assert transition(state, event) in SenderState
    except TransitionRefused:
        pass


@given(st.text(max_size=60))
def test_normalising_any_text_gives_an_address_or_a_clear_error(text: str) -> None:
    try:
        a = normalise_address(text)
    except ValueError:
        return
    assert a == a.lower() and "@" in a and normalise_address(a) == a
