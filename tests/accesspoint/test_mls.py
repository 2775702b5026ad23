"""MLS build/parse: official examples read back, our output passes the official MLS rules, round trips."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ubl
from accesspoint import mls

EXAMPLES = ["AB", "AB2", "AB3", "AP", "RE", "RE2", "RE3", "RE4"]


@pytest.fixture(scope="module")
def mls_rules(testdata):
    return ubl.Validator(rules_dir=testdata / "phive-rules" / "mls-1.0.1", select=["mls"])


@pytest.mark.parametrize("name", EXAMPLES)
def test_official_examples_read_and_rebuild_valid(testdata, mls_rules, name):
    data = (testdata / "phive-rules" / "mls-1.0.1" / "test-files" / f"MessageLevelStatus_Example_{name}.xml").read_bytes()
    status = mls.parse_mls(data)
    assert status.response_code.value == name[:2]
    rebuilt = mls.build_mls(status)
    assert mls.parse_mls(rebuilt) == status
    report = mls_rules.validate(rebuilt, xsd=False)
    assert report.valid, [f.rule_id for f in report.fatal]


def test_negative_status_without_reason_is_refused_and_positive_with_lines_too():
    at = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    with pytest.raises(mls.MlsError):
        mls.MessageLevelStatus("1", at, "000001", "000002", mls.ResponseCode.REJECTED, "x")
    with pytest.raises(mls.MlsError):
        mls.MessageLevelStatus("1", at, "000001", "000002", mls.ResponseCode.ACCEPTED, "x",
                               lines=(mls.MlsLine("d", mls.StatusReason.SYNTAX),))
    with pytest.raises(mls.MlsError):
        mls.MessageLevelStatus("1", at, "POP000001", "000002", mls.ResponseCode.ACCEPTED, "x")
    assert mls.spid_for_seat("POP000306") == "000306"
    assert str(mls.spis_participant("POP000306")) == "iso6523-actorid-upis::0242:000306"


@pytest.mark.parametrize("data", [b"", b"<x/>", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>"])
def test_garbage_is_an_mls_error(data):
    with pytest.raises(mls.MlsError):
        mls.parse_mls(data)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), min_size=1, max_size=40).map(
    str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(code=st.sampled_from(list(mls.ResponseCode)), ref=_text, description=_text,
       lines=st.lists(st.tuples(_text, st.sampled_from(list(mls.StatusReason))), min_size=1, max_size=3),
       seconds=st.integers(0, 10**9))
def test_parse_of_build_is_identity(code, ref, description, lines, seconds):
    at = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    negative = code is mls.ResponseCode.REJECTED
    status = mls.MessageLevelStatus(
        "id-1", at, "000001", "000002", code, ref, description=description if negative else None,
        lines=tuple(mls.MlsLine(d, r) for d, r in lines) if negative else ())
    assert mls.parse_mls(mls.build_mls(status)) == status
