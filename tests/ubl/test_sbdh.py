"""SBDH: the 45 peppol-commons envelopes classified as upstream does, other
implementations' envelopes, and build/parse round trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ubl
from tests.conftest import TESTDATA
from ubl import MlsType, ParticipantId, SbdhError, SbdhProblem, build_sbd, parse_sbd

COMMONS = "peppol-commons"


def _expected(testdata: Path) -> dict[str, str]:
    return json.loads((testdata / COMMONS / "sbdh-expected-errors.json").read_text())["expected_error"]


def _good_files() -> list[str]:
    return [
        "good-additional-scopes.xml", "good-bis3-full.xml", "good-bis3-with-country_c1.xml",
        "good-bis3-with-mls-to.xml", "good-bis3-with-mls-type.xml", "good-bis3.xml", "good-gxs1.xml",
        "good-hybrid-invoice.xml", "good-order-with-qty-ph.xml", "good-to-9915-test.xml",
        "good-type-version-20.xml", "good-v11.xml", "good-with-timezone.xml", "good.xml",
    ]


def test_all_45_envelopes_are_covered(testdata: Path) -> None:
    good = sorted(p.name for p in (testdata / COMMONS / "sbdh" / "good").iterdir())
    bad = sorted(f"sbdh/bad/{p.name}" for p in (testdata / COMMONS / "sbdh" / "bad").iterdir())
    assert good == sorted(_good_files())
    assert bad == sorted(_expected(testdata))
    assert len(good) + len(bad) == 45


@pytest.mark.parametrize("name", _good_files())
def test_good_envelopes_parse(testdata: Path, name: str) -> None:
    sbd = parse_sbd((testdata / COMMONS / "sbdh" / "good" / name).read_bytes())
    assert sbd.sender.scheme == "iso6523-actorid-upis"
    assert sbd.country_c1 == "AT"
    assert sbd.creation_time.tzinfo is not None
    assert sbd.payload.startswith(b"<")
    # the payload is a complete document by itself (namespaces carried along)
    assert sbd.payload_root[1] in {"Invoice", "Order", "BinaryContent"}
    assert not [w for w in sbd.warnings if w.problem is not SbdhProblem.INVALID_PROCESS_IDENTIFIER]


@pytest.mark.parametrize("name", _good_files())
def test_without_payload_reads_the_same_header(testdata: Path, name: str) -> None:
    data = (testdata / COMMONS / "sbdh" / "good" / name).read_bytes()
    header = parse_sbd(data, with_payload=False)
    assert header.payload == b""
    whole = parse_sbd(data)
    assert header == dataclasses.replace(whole, payload=b"") and header.warnings == whole.warnings


def test_good_xml_reads_as_upstream_says(testdata: Path) -> None:
    """peppol-commons' README values for good.xml."""
    sbd = parse_sbd((testdata / COMMONS / "sbdh" / "good" / "good.xml").read_bytes())
    assert str(sbd.sender) == "iso6523-actorid-upis::0088:7315458756324"
    assert str(sbd.receiver) == "iso6523-actorid-upis::0088:4562458856624"
    assert sbd.country_c1 == "AT"
    assert sbd.standard == "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    assert (sbd.type_version, sbd.type) == ("2.1", "Invoice")
    assert sbd.instance_identifier == "3739db04-7e4e-4c89-b170-c543dd252249"
    assert sbd.creation_time == dt.datetime(2013, 2, 19, 5, 10, 10, tzinfo=dt.timezone.utc)
    assert str(sbd.document_type_id) == (
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:www.cenbii.eu:"
        "transaction:biitrns010:ver2.0:extended:urn:www.peppol.eu:bis:peppol4a:ver2.0::2.1"
    )
    assert str(sbd.process_id) == "cenbii-procid-ubl::urn:www.cenbii.eu:profile:bii04:ver1.0"
    assert sbd.payload_root == ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "Invoice")
    assert sbd.mls_to is None and sbd.mls_type is None


def test_mls_scopes(testdata: Path) -> None:
    sbd = parse_sbd((testdata / COMMONS / "sbdh" / "good" / "good-bis3-full.xml").read_bytes())
    assert sbd.mls_to == ParticipantId.parse("9915:test")
    assert sbd.mls_type is MlsType.ALWAYS_SEND


def test_additional_scopes_are_kept(testdata: Path) -> None:
    sbd = parse_sbd((testdata / COMMONS / "sbdh" / "good" / "good-v11.xml").read_bytes())
    assert ("AddAttr1", "Value1", None) in sbd.additional_scopes
    assert ("AddAttr3", "", None) in sbd.additional_scopes


def test_hybrid_binary_payload(testdata: Path) -> None:
    sbd = parse_sbd((testdata / COMMONS / "sbdh" / "good" / "good-hybrid-invoice.xml").read_bytes())
    mime, data = sbd.binary_content()
    assert mime == "application/pdf" and data.startswith(b"%PDF-")


def _bad_cases() -> list[tuple[str, str]]:
    path = TESTDATA / COMMONS / "sbdh-expected-errors.json"
    if not path.exists():
        return [("missing", "missing")]
    return sorted(json.loads(path.read_text())["expected_error"].items())


@pytest.mark.parametrize("rel, expected", _bad_cases())
def test_bad_envelopes_give_upstream_error(testdata: Path, rel: str, expected: str) -> None:
    data = (testdata / COMMONS / rel).read_bytes()
    code = expected.split()[0]
    if "warning only" in expected:
        sbd = parse_sbd(data)
        assert [w.problem.value for w in sbd.warnings] == [code]
        assert sbd.mls_to is None
        return
    with pytest.raises(SbdhError) as info:
        parse_sbd(data)
    assert info.value.problem.value == code, str(info.value)


@pytest.mark.parametrize("rel, expected", _bad_cases())
def test_without_payload_refuses_the_same(testdata: Path, rel: str, expected: str) -> None:
    """Every check runs without the payload too, the business message's included."""
    data = (testdata / COMMONS / rel).read_bytes()
    if "warning only" in expected:
        assert parse_sbd(data, with_payload=False).warnings == parse_sbd(data).warnings
        return
    with pytest.raises(SbdhError) as info:
        parse_sbd(data, with_payload=False)
    assert info.value.problem.value == expected.split()[0], str(info.value)


@pytest.mark.parametrize(
    "rel, outcome",
    [
        ("phase4/peppol-client/examples/base-sbdh.xml", "ok"),
        ("oxalis/sbdh/outbound-peppol-bis-invoice-sbdh.xml", "ok"),  # no time zone: warning, read as UTC
        ("oxalis/sbdh/commons-peppol-bis-invoice-sbdh.xml", "INVALID_SCOPE_COUNT"),  # pre-2024: no COUNTRY_C1
        ("oxalis-as4/sbdh/as2-peppol-bis-invoice-sbdh.xml", "INVALID_SCOPE_COUNT"),
        ("oxalis/sbdh/outbound-simple-sbd.xml", "INVALID_SBD_XML"),  # payload in the SBDH namespace
        ("oxalis-as4/sbdh/cef-sbd.xml", "INVALID_SBD_XML"),
        ("oxalis-as4/sbdh/simple-sbd.xml", "INVALID_SBD_XML"),
        ("oxalis/sbdh/commons-ehf-invoice-no-sbdh.xml", "INVALID_SBD_XML"),  # a bare invoice
        ("oxalis/sbdh/commons-sample-sbd-with-asic.xml", "INVALID_STANDARD"),  # Standard says Tender, payload is ASiC
    ],
)
def test_other_implementations_envelopes(testdata: Path, rel: str, outcome: str) -> None:
    data = (testdata / rel).read_bytes()
    if outcome == "ok":
        sbd = parse_sbd(data)
        assert sbd.document_type_id == ubl.BIS_BILLING_INVOICE
        return
    with pytest.raises(SbdhError) as info:
        parse_sbd(data)
    assert info.value.problem.value == outcome


INVOICE = (
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
    b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
    b"<cbc:ID>INV-1</cbc:ID></Invoice>"
)
AT = dt.datetime(2026, 11, 22, 10, 30, 0, tzinfo=dt.timezone.utc)


def _build(**kw) -> bytes:
    args = dict(
        sender=ParticipantId.parse("0088:5798000000001"),
        receiver=ParticipantId.parse("9925:be0848934496"),
        document_type_id=ubl.BIS_BILLING_INVOICE,
        process_id=ubl.BIS_BILLING_PROCESS,
        country_c1="BE",
        payload=INVOICE,
        creation_time=AT,
        instance_identifier="3f0a4f5e-1111-4222-8333-444455556666",
    )
    args.update(kw)
    return build_sbd(**args)


def test_build_then_parse() -> None:
    data = _build(mls_to=ParticipantId.parse("0242:987654"), mls_type=MlsType.ALWAYS_SEND)
    sbd = parse_sbd(data)
    assert sbd.sender == ParticipantId.parse("0088:5798000000001")
    assert sbd.receiver == ParticipantId.parse("9925:BE0848934496")
    assert sbd.document_type_id == ubl.BIS_BILLING_INVOICE
    assert sbd.process_id == ubl.BIS_BILLING_PROCESS
    assert sbd.country_c1 == "BE"
    assert sbd.creation_time == AT
    assert sbd.instance_identifier == "3f0a4f5e-1111-4222-8333-444455556666"
    assert (sbd.standard, sbd.type, sbd.type_version) == (
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "Invoice", "2.1")
    assert sbd.mls_to == ParticipantId.parse("0242:987654")
    assert sbd.mls_type is MlsType.ALWAYS_SEND
    assert sbd.payload == INVOICE
    assert b"<CreationDateAndTime>2026-11-22T10:30:00Z</CreationDateAndTime>" in data


def test_build_is_valid_against_gs1_xsd(testdata: Path) -> None:
    """What we send passes the GS1 SBDH 1.3 schema that other APs may apply."""
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(testdata / "ph-sbdh" / "xsd" / "StandardBusinessDocumentHeader.xsd")))
    doc = etree.fromstring(_build(mls_type=MlsType.FAILURE_ONLY))
    schema.assertValid(doc)


def test_build_generates_instance_identifier() -> None:
    a = parse_sbd(_build(instance_identifier=None)).instance_identifier
    b = parse_sbd(_build(instance_identifier=None)).instance_identifier
    assert a != b and len(a) == 36


def test_build_refuses_what_parse_would_reject() -> None:
    with pytest.raises(SbdhError) as info:
        _build(country_c1="be")
    assert info.value.problem is SbdhProblem.INVALID_COUNTRY_C1
    with pytest.raises(SbdhError) as info:
        _build(document_type_id=ubl.BIS_BILLING_CREDIT_NOTE)  # payload is an Invoice
    assert info.value.problem is SbdhProblem.INVALID_DOCUMENT_TYPE_IDENTIFIER
    with pytest.raises(SbdhError) as info:
        _build(payload=b"not xml")
    assert info.value.problem is SbdhProblem.INVALID_BUSINESS_MESSAGE
    with pytest.raises(ValueError):
        _build(creation_time=dt.datetime(2026, 1, 1))


def test_doctype_declaration_is_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + _build().split(b"?>", 1)[1]
    with pytest.raises(SbdhError) as info:
        parse_sbd(evil)
    assert info.value.problem is SbdhProblem.INVALID_SBD_XML


@settings(max_examples=200)
@given(st.binary(max_size=400))
def test_parse_raises_only_sbdh_error(data: bytes) -> None:
    try:
        parse_sbd(data)
    except SbdhError:
        pass


@settings(max_examples=100)
@given(st.integers(min_value=0, max_value=2000), st.sampled_from([b"<", b">", b"/", b"x", b"\x00", b"&", b" "]))
def test_mutated_envelope_raises_only_sbdh_error(pos: int, junk: bytes) -> None:
    data = _build()
    pos = pos % len(data)
    try:
        parse_sbd(data[:pos] + junk + data[pos + 1 :])
    except SbdhError:
        pass
