"""The 42 participant-id -> DNS-name vectors of ../shared/testdata/sml-dns."""

from __future__ import annotations

import json

import pytest

import sml
from sml import InvalidParticipant, Zone, bdxl_name, cname_name, legacy_cname_name, naptr_name
from ubl import ParticipantId


@pytest.fixture(scope="module")
def vectors(testdata):
    return json.loads((testdata / "sml-dns" / "dns-name-vectors.json").read_text())


def _load():
    from tests.conftest import TESTDATA

    path = TESTDATA / "sml-dns" / "dns-name-vectors.json"
    if not path.exists():
        return {"naptr_bdxl": [], "cname_legacy": [], "naptr_regexp": [], "naptr_bdxl_invalid": []}
    return json.loads(path.read_text())


_V = _load()


def test_vector_counts(vectors):
    assert len(vectors["naptr_bdxl"]) + len(vectors["cname_legacy"]) == 42


@pytest.mark.parametrize("v", _V["naptr_bdxl"], ids=lambda v: f"{v['participant_value']}@{v['dns_zone']}")
def test_naptr_vectors(v):
    name = bdxl_name(
        v["participant_value"],
        v["dns_zone"],
        scheme=v["participant_scheme"],
        lowercase_value=v["lowercase_value_before_hash"],
        include_scheme=v["scheme_label_included"],
    )
    # DNS compares case-insensitively; Holodeck prints the label in upper case.
    assert name == v["expected_name"].lower()
    if v["participant_scheme"] and v["scheme_label_included"] and v["lowercase_value_before_hash"]:
        # The Peppol entry point gives the same name from a parsed id and from text.
        pid = f"{v['participant_scheme']}::{v['participant_value']}"
        assert naptr_name(pid, v["dns_zone"]) == name
        assert naptr_name(ParticipantId.parse(pid), Zone(v["dns_zone"])) == name


@pytest.mark.parametrize("v", _V["cname_legacy"], ids=lambda v: f"{v['participant_value']}@{v['dns_zone']}")
def test_cname_vectors(v):
    name = legacy_cname_name(v["participant_value"], v["dns_zone"], scheme=v["participant_scheme"])
    assert name == v["expected_name"]
    if v["participant_scheme"] and v["participant_value"]:
        pid = f"{v['participant_scheme']}::{v['participant_value']}"
        assert cname_name(pid, v["dns_zone"]) == name


@pytest.mark.parametrize("v", _V["naptr_bdxl_invalid"], ids=lambda v: v["participant_value"])
def test_invalid_vectors(v):
    assert v["participant_scheme"] is None
    with pytest.raises(InvalidParticipant):
        naptr_name(v["participant_value"], v["dns_zone"])


def test_policy7_example_on_each_zone():
    label = "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"
    pid = ParticipantId.parse("0088:123ABC")
    assert naptr_name(pid, Zone.TEST) == f"{label}.iso6523-actorid-upis.participant.sml.test.tech.peppol.org"
    assert naptr_name(pid, Zone.PRODUCTION) == f"{label}.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org"
    assert naptr_name(pid, Zone.EC_PRODUCTION) == f"{label}.iso6523-actorid-upis.edelivery.tech.ec.europa.eu"
    assert naptr_name(pid, Zone.EC_TEST) == f"{label}.iso6523-actorid-upis.acc.edelivery.tech.ec.europa.eu"
    assert naptr_name(pid, "My.Private.Zone.") == f"{label}.iso6523-actorid-upis.my.private.zone"


def test_zone_names():
    assert Zone.named("production") is Zone.PRODUCTION
    assert Zone.named("TEST") is Zone.TEST
    assert Zone.named("ec-test") is Zone.EC_TEST
    assert Zone.named("test-ec") is Zone.EC_TEST and Zone.named("prod") is Zone.PRODUCTION
    assert Zone.named("participant.sml.test.tech.peppol.org.") is Zone.TEST
    custom = Zone.named("sml.example.net")
    assert custom.domain == "sml.example.net" and custom.management_url is None
    for bad in ("", "a..b", "-x.example", "x" * 64 + ".example", "spa ce.example"):
        with pytest.raises(ValueError):
            Zone(bad)


@pytest.mark.parametrize(
    "text", ["0088:123abc", "iso6523-actorid-upis::", "iso6523-actorid-upis::0088", "other-actorid-upis::0088:1", 42]
)
def test_naptr_name_rejects(text):
    with pytest.raises((InvalidParticipant, TypeError)):
        naptr_name(text, Zone.TEST)


def test_invalid_participant_is_a_value_error_and_sml_error():
    with pytest.raises(ValueError):
        naptr_name("iso6523-actorid-upis::bad id", Zone.TEST)
    with pytest.raises(sml.SmlError):
        naptr_name("iso6523-actorid-upis::bad id", Zone.TEST)
