"""Identifiers: syntax, normalisation, printing, and the checks beyond syntax."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ubl
from ubl import DocumentTypeId, IdentifierError, IdentifierProblem, ParticipantId, ProcessId

P = IdentifierProblem


@pytest.mark.parametrize(
    "text, expected",
    [
        ("iso6523-actorid-upis::0088:123abc", "iso6523-actorid-upis::0088:123abc"),
        ("0088:123abc", "iso6523-actorid-upis::0088:123abc"),
        ("0088:123ABC", "iso6523-actorid-upis::0088:123abc"),
        ("ISO6523-ACTORID-UPIS::0088:123ABC", "iso6523-actorid-upis::0088:123abc"),
        ("  9925:BE0848934496 ", "iso6523-actorid-upis::9925:be0848934496"),
        ("0242:987654-AB_C.d-e~f", "iso6523-actorid-upis::0242:987654-ab_c.d-e~f"),
    ],
)
def test_participant_parse_normalises(text: str, expected: str) -> None:
    pid = ParticipantId.parse(text)
    assert str(pid) == expected
    assert pid.scheme == "iso6523-actorid-upis"
    assert ParticipantId.parse(str(pid)) == pid


def test_participant_parts_and_equality() -> None:
    pid = ParticipantId.parse("0088:5798000000001")
    assert (pid.icd, pid.identifier, pid.value) == ("0088", "5798000000001", "0088:5798000000001")
    assert pid == ParticipantId.of("0088", "5798000000001")
    assert hash(pid) == hash(ParticipantId.parse("ISO6523-ACTORID-UPIS::0088:5798000000001"))
    with pytest.raises(AttributeError):
        pid.value = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", P.EMPTY),
        ("   ", P.EMPTY),
        ("iso6523-actorid-upis::", P.EMPTY_VALUE),
        ("busdox-actorid-upis::0088:1", P.UNSUPPORTED_SCHEME),
        ("iso6523::0088:1", P.BAD_SCHEME),
        ("iso6523-actorid-upis-x-y-z-too-long-scheme::0088:1", P.BAD_SCHEME),
        ("123abc", P.MISSING_ICD),
        ("88:123", P.BAD_ICD),
        ("00880:123", P.BAD_ICD),
        ("abcd:123", P.BAD_ICD),
        ("0088:", P.EMPTY_VALUE),
        ("0088:" + "1" * 131, P.TOO_LONG),
        ("0088:12 34", P.BAD_CHARACTERS),
        ("0088:12/34", P.BAD_CHARACTERS),
        ("0088:äbc", P.BAD_CHARACTERS),
        ("urn:oasis:names:tc:ebcore:partyid-type:iso6523:0060:1234567890128", P.BAD_ICD),
    ],
)
def test_participant_parse_errors(text: str, problem: IdentifierProblem) -> None:
    with pytest.raises(IdentifierError) as info:
        ParticipantId.parse(text)
    assert info.value.problem is problem
    assert isinstance(info.value, ValueError) and isinstance(info.value, ubl.UblError)


def test_participant_max_length_is_accepted() -> None:
    assert ParticipantId.parse("0088:" + "a" * 130).identifier == "a" * 130


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        ParticipantId.parse(88)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "0088:5798000000001",  # GLN
        "0208:0848934496",  # KBO/BCE, mod 97
        "9925:BE0848934496",  # Belgian VAT (OpenPeppol's own id)
        "9925:0848934496",  # without the country prefix
        "9944:NL123456782B01",  # Dutch VAT
        "0106:12345678",  # KvK: 8 digits, no check digit
        "0190:00000001003214345000",  # OIN: 20 digits
        "0192:974760673",  # Norwegian org number
        "0007:2120000787",  # Swedish org number
        "0002:784301772",  # SIREN
        "9930:DE136695976",  # German VAT
        "0242:987654",  # SPID
        "0204:991-01234-56",  # Leitweg-ID
        "9915:test",  # AT:GOV, no structure known
    ],
)
def test_check_participant_accepts(text: str) -> None:
    ubl.check_participant_id(ParticipantId.parse(text), on=dt.date(2026, 11, 22))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("0088:5798000000002", P.BAD_CHECK_DIGIT),
        ("0088:123abc", P.BAD_FORMAT),
        ("0088:579800000000", P.BAD_FORMAT),
        ("0208:0848934497", P.BAD_CHECK_DIGIT),
        ("0208:2848934496", P.BAD_FORMAT),
        ("9925:BE0848934497", P.BAD_CHECK_DIGIT),
        ("9925:BE08489344", P.BAD_FORMAT),
        ("9944:NL123456783B01", P.BAD_CHECK_DIGIT),
        ("0106:1234567", P.BAD_FORMAT),
        ("0190:1234", P.BAD_FORMAT),
        ("0192:974760674", P.BAD_CHECK_DIGIT),
        ("0242:98765", P.BAD_FORMAT),
        ("9999:elonia", P.UNKNOWN_ICD),
        ("0000:xxxx", P.UNKNOWN_ICD),
        ("9954:00000001003214345000", P.REMOVED_ICD),  # NL:OIN, removed 2026-03-31
        ("0037:12345678", P.REMOVED_ICD),
    ],
)
def test_check_participant_rejects(text: str, problem: IdentifierProblem) -> None:
    with pytest.raises(IdentifierError) as info:
        ubl.check_participant_id(ParticipantId.parse(text), on=dt.date(2026, 11, 22))
    assert info.value.problem is problem


def test_deprecated_icd_stops_on_its_removal_date() -> None:
    pid = ParticipantId.parse("0193:ABCD1234")  # UBLBE, deprecated, removal 2026-07-07
    ubl.check_participant_id(pid, on=dt.date(2026, 7, 6))
    with pytest.raises(IdentifierError) as info:
        ubl.check_participant_id(pid, on=dt.date(2026, 7, 7))
    assert info.value.problem is P.REMOVED_ICD


def test_sml_vector_ids(testdata) -> None:
    """Scheme-qualified participants in the SML vectors: `NNNN:...` ones parse, the
    ones without an ICD (peppol-commons uses them only to test hashing) are MISSING_ICD."""
    vectors = json.loads((testdata / "sml-dns" / "dns-name-vectors.json").read_text())
    parsed = rejected = 0
    for entry in vectors["naptr_bdxl"]:
        if entry.get("participant_scheme") != "iso6523-actorid-upis":
            continue
        text = f"{entry['participant_scheme']}::{entry['participant_value']}"
        if ":" in entry["participant_value"]:
            assert ParticipantId.parse(text).value == entry["participant_value"].lower()
            parsed += 1
        else:
            with pytest.raises(IdentifierError) as info:
                ParticipantId.parse(text)
            assert info.value.problem is P.MISSING_ICD
            rejected += 1
    assert parsed > 5 and rejected >= 1


BIS_INVOICE = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
    "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)


def test_document_type_parse_is_case_sensitive() -> None:
    doc = DocumentTypeId.parse(BIS_INVOICE)
    assert doc == ubl.BIS_BILLING_INVOICE
    assert str(doc) == BIS_INVOICE
    assert DocumentTypeId.parse(doc.value) == doc
    assert DocumentTypeId.parse(BIS_INVOICE.replace("Invoice##", "INVOICE##")) != doc
    assert doc.root_namespace == "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    assert doc.local_name == "Invoice"
    assert doc.customization_id == "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    assert doc.version == "2.1"


def test_wildcard_document_type() -> None:
    text = (
        "peppol-doctype-wildcard::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
        "##urn:peppol:pint:billing-1@eu-1::2.1"
    )
    doc = DocumentTypeId.parse(text)
    assert doc.scheme == "peppol-doctype-wildcard" and str(doc) == text


def test_unstructured_document_type_has_no_parts() -> None:
    doc = DocumentTypeId.parse("busdox-docid-qns::something")
    assert doc.root_namespace is doc.local_name is doc.customization_id is doc.version is None


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", P.EMPTY),
        ("busdox-docid-qns::", P.EMPTY_VALUE),
        ("Busdox-docid-qns::x", P.BAD_SCHEME),
        ("busdox-docid-other::x", P.UNSUPPORTED_SCHEME),
        ("busdox-docid-qns::" + "x" * 501, P.TOO_LONG),
        ("busdox-docid-qns::urn:x::Invoice##a b::2.1", P.BAD_CHARACTERS),
        ("busdox-docid-qns::urn:x::Invoice##\u20ac::2.1", P.BAD_CHARACTERS),
    ],
)
def test_document_type_errors(text: str, problem: IdentifierProblem) -> None:
    with pytest.raises(IdentifierError) as info:
        DocumentTypeId.parse(text)
    assert info.value.problem is problem


def test_process_parse() -> None:
    proc = ProcessId.parse("cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    assert proc == ubl.BIS_BILLING_PROCESS
    assert proc == ProcessId.parse("urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    assert str(proc) == "cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    assert ProcessId.parse("busdox-procid-transport::busdox:noprocess").value == "busdox:noprocess"
    assert ProcessId.parse("cenbii-procid-ubl::URN:X") != ProcessId.parse("cenbii-procid-ubl::urn:x")


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", P.EMPTY),
        ("cenbii-procid-ubl::", P.EMPTY_VALUE),
        ("cenbii-procid-other::x", P.UNSUPPORTED_SCHEME),
        ("cenbii-procid-ubl::" + "x" * 201, P.TOO_LONG),
        ("cenbii-procid-ubl::urn:x y", P.BAD_CHARACTERS),
    ],
)
def test_process_errors(text: str, problem: IdentifierProblem) -> None:
    with pytest.raises(IdentifierError) as info:
        ProcessId.parse(text)
    assert info.value.problem is problem


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~", min_size=1, max_size=130)


@given(icd=st.from_regex(r"\A[0-9]{4}\Z"), local=_local)
def test_participant_round_trip(icd: str, local: str) -> None:
    pid = ParticipantId.of(icd, local)
    assert ParticipantId.parse(str(pid)) == pid
    assert ParticipantId.parse(f"{icd}:{local.upper()}") == pid


@given(st.text(max_size=200))
def test_participant_parse_raises_only_identifier_error(text: str) -> None:
    try:
        ParticipantId.parse(text)
    except IdentifierError:
        pass


@given(st.text(max_size=600))
def test_document_type_parse_raises_only_identifier_error(text: str) -> None:
    try:
        doc = DocumentTypeId.parse(text)
    except IdentifierError:
        return
    assert DocumentTypeId.parse(str(doc)) == doc


@pytest.mark.parametrize("code", range(0x100))
def test_document_type_refuses_exactly_latin1_whitespace_and_controls(code: int) -> None:
    """The regex scan refuses the same characters as str.isspace() or a C0 control (the rule it replaced)."""
    ch = chr(code)
    refused = ch.isspace() or code < 0x20
    value = f"urn:x::Invoice##a{ch}b::2.1"
    if refused:
        with pytest.raises(IdentifierError) as info:
            DocumentTypeId("busdox-docid-qns", value)
        assert info.value.problem is P.BAD_CHARACTERS
    else:
        assert DocumentTypeId("busdox-docid-qns", value).value == value
