from __future__ import annotations

import pytest

from sml import NoMatchingSmpService
from sml.naptr import NaptrRecord, apply_regexp, select_smp_url, smp_naptr
from tests.sml.test_names import _V

NAME = "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq.iso6523-actorid-upis.participant.sml.test.tech.peppol.org"


@pytest.mark.parametrize("v", _V["naptr_regexp"], ids=lambda v: v["regexp"])
def test_regexp_vectors(v):
    assert apply_regexp(v["regexp"], v["input"]) == v["expected"]


def test_observed_peppol_record():
    rec = NaptrRecord(100, 10, "U", "Meta:SMP", "!.*!https://smp.host!", ".")
    assert select_smp_url([rec], NAME + ".") == "https://smp.host"


def test_order_then_preference_and_filters():
    records = [
        NaptrRecord(100, 20, "U", "Meta:SMP", "!^.*$!https://pref20!"),
        NaptrRecord(200, 1, "U", "Meta:SMP", "!^.*$!https://order200!"),
        NaptrRecord(100, 10, "u", "meta:smp", "!^.*$!https://pref10!"),
        NaptrRecord(50, 1, "S", "Meta:SMP", "!^.*$!https://flag-s!"),
        NaptrRecord(50, 1, "U", "Meta:Other", "!^.*$!https://other!"),
    ]
    assert select_smp_url(records, NAME) == "https://pref10"
    # a broken best record falls through to the next one
    records.append(NaptrRecord(1, 1, "U", "Meta:SMP", "!^nomatch$!https://x!"))
    assert select_smp_url(records, NAME) == "https://pref10"


@pytest.mark.parametrize(
    "records",
    [
        [],
        [NaptrRecord(100, 10, "U", "Meta:Other", "!.*!https://x!")],
        [NaptrRecord(100, 10, "", "Meta:SMP", "!.*!https://x!")],
        [NaptrRecord(100, 10, "U", "Meta:SMP", "broken")],
        [NaptrRecord(100, 10, "U", "Meta:SMP", "!.*!https://x!", "next.example.")],
    ],
)
def test_no_matching_service(records):
    with pytest.raises(NoMatchingSmpService) as info:
        select_smp_url(records, NAME)
    assert info.value.name == NAME and not info.value.retryable


def test_regexp_details():
    assert apply_regexp("#^(.*)\\.example$#https://\\1/smp#", "host.example") == "https://host/smp"
    assert apply_regexp("!^HOST$!https://h!i", "host") == "https://h"
    assert apply_regexp("!^.*$!https://a\\!b!", "x") == "https://a!b"
    for bad in ("!^(a+)+$!x!", "!(a|aa)*b!x!", "!" + "a" * 2000 + "!x!", "", "!!", "1abc1d1", "!a!b", "!a!b!x", "!(!b!", "!(a)!\\2!"):
        with pytest.raises(ValueError):
            apply_regexp(bad, "a")


def test_smp_naptr_round_trip():
    rec = smp_naptr("https://smp.example/path")
    assert select_smp_url([rec], NAME) == "https://smp.example/path"
    with pytest.raises(ValueError):
        smp_naptr("https://a!b")
