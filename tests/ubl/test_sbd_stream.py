"""`split_sbd` against `parse_sbd`: the same envelope and the same business message, or the same problem.

Every peppol-commons envelope (good and bad), the other implementations' envelopes, fed in chunk
sizes from one byte up; then the cases only a streaming reader has (namespaces inherited from the
root, a business message that crosses chunk boundaries, large text), and hostile input.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import ubl
from tests.conftest import TESTDATA
from ubl import SbdhError, SbdhProblem, SbdStreamUnsuitable, parse_sbd, split_sbd

CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, etree.XMLParser(huge_tree=True)), method="c14n")


def _split(data: bytes, size: int, texts=()) -> tuple[ubl.SplitSbd, bytes]:
    out: list[bytes] = []
    split = split_sbd((data[i:i + size] for i in range(0, len(data), size)), out.append, texts=texts)
    payload = b"".join(out)
    assert split.payload_size == len(payload)
    return split, payload


def assert_same_as_parse_sbd(data: bytes, size: int) -> str:
    """Split `data` in `size`-byte chunks; compare with parse_sbd. Returns what happened."""
    try:
        expected = parse_sbd(data)
    except SbdhError as exc:
        with pytest.raises((SbdhError, SbdStreamUnsuitable)) as info:
            _split(data, size)
        if isinstance(info.value, SbdhError):
            assert info.value.problem is exc.problem, (str(info.value), str(exc))
        return f"error {exc.problem.value}"
    try:
        split, payload = _split(data, size)
    except SbdStreamUnsuitable:
        return "unsuitable"  # the caller reads it whole: parse_sbd's answer above
    got = split.envelope
    for name in ("sender", "receiver", "document_type_id", "process_id", "instance_identifier", "creation_time",
                 "country_c1", "standard", "type_version", "type", "mls_to", "mls_type", "additional_scopes",
                 "warnings"):
        assert getattr(got, name) == getattr(expected, name), name
    # the original bytes with the inherited namespaces: the same document as lxml's serialisation
    assert _c14n(payload) == _c14n(expected.payload)
    return "ok"


def _corpus() -> list[str]:
    commons = TESTDATA / "peppol-commons" / "sbdh"
    if not commons.is_dir():
        return ["missing"]
    names = [str(p.relative_to(TESTDATA)) for p in sorted(commons.glob("*/*")) if p.is_file()]
    return names + [
        "phase4/peppol-client/examples/base-sbdh.xml", "oxalis/sbdh/outbound-peppol-bis-invoice-sbdh.xml",
        "oxalis/sbdh/commons-peppol-bis-invoice-sbdh.xml", "oxalis/sbdh/outbound-simple-sbd.xml",
        "oxalis-as4/sbdh/cef-sbd.xml", "oxalis/sbdh/commons-ehf-invoice-no-sbdh.xml",
        "oxalis/sbdh/commons-sample-sbd-with-asic.xml",
    ]


@pytest.mark.parametrize("rel", _corpus())
def test_every_known_envelope_splits_as_parse_sbd_reads_it(testdata: Path, rel: str) -> None:
    data = (testdata / rel).read_bytes()
    outcomes = {assert_same_as_parse_sbd(data, size) for size in (1, 13, 4096, len(data))}
    assert len(outcomes) == 1, outcomes  # chunking never changes the answer
    if "/good/" in rel:
        assert outcomes == {"ok"}


def _build(payload: bytes, **kw) -> bytes:
    args = dict(sender=ubl.ParticipantId.parse("0088:5798000000001"), receiver=ubl.ParticipantId.parse("9925:be0848934496"),
                document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS, country_c1="BE",
                payload=payload, creation_time=dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc),
                instance_identifier="3f0a4f5e-1111-4222-8333-444455556666")
    args.update(kw)
    return ubl.build_sbd(**args)


INVOICE = (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
           b"<cbc:ID>INV-1</cbc:ID><cbc:Note>%s</cbc:Note><cbc:ID>second</cbc:ID></Invoice>")


def test_a_large_business_message_streams_in_original_bytes_with_the_texts_asked_for() -> None:
    big = b"QUJD" * 500_000  # 2 MB of base64 in one text node
    data = _build(INVOICE % big)
    split, payload = _split(data, 65536, texts=[(CBC + "ID",), (CBC + "Note",), (CBC + "Missing",)])
    assert split.envelope.instance_identifier == "3f0a4f5e-1111-4222-8333-444455556666"
    assert split.envelope.payload.startswith(b"<Invoice") and len(split.envelope.payload) < 300
    assert payload == INVOICE % big  # nothing to inherit: the bytes exactly as sent
    assert split.texts[(CBC + "ID",)] == "INV-1"  # the first one, as find() gives
    assert len(split.texts[(CBC + "Note",)]) == ubl.sbd_stream.MAX_TEXT_CHARS  # bounded
    assert (CBC + "Missing",) not in split.texts


def test_namespaces_declared_on_the_root_are_carried_into_the_business_message() -> None:
    sbd = _build(INVOICE % b"x")
    # move the cbc declaration to the root and use a prefixed root element for the invoice
    data = sbd.replace(b'<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"',
                       b'<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"'
                       b' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
                       b' xmlns:inv="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"')
    data = data.replace(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
                        b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">',
                        b"<inv:Invoice>").replace(b"</Invoice>", b"</inv:Invoice>")
    assert b"<inv:Invoice>" in data
    assert assert_same_as_parse_sbd(data, 7) == "ok"
    _, payload = _split(data, 7)
    root = etree.fromstring(payload)  # standalone: every prefix bound
    assert root.tag == "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    assert root.find(CBC + "ID").text == "INV-1"


@pytest.mark.parametrize("mutation, problem", [
    (lambda d: d.replace(b"<HeaderVersion>1.0<", b"<HeaderVersion>2.0<"), SbdhProblem.INVALID_HEADER_VERSION),
    (lambda d: d.replace(b"</Invoice>", b"</Invoic>"), SbdhProblem.INVALID_SBD_XML),
    (lambda d: d.replace(b"</Invoice>", b"</Invoice><Extra xmlns='urn:x'/>"), SbdhProblem.INVALID_SBD_XML),
    (lambda d: d.replace(b"INV-1", b"&undefined;"), SbdhProblem.INVALID_SBD_XML),
    (lambda d: d[:-40], SbdhProblem.INVALID_SBD_XML),
    (lambda d: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + d.split(b"?>", 1)[1],
     SbdhProblem.INVALID_SBD_XML),
])
def test_bad_sbds_give_the_problem_parse_sbd_gives(mutation, problem) -> None:
    data = mutation(_build(INVOICE % (b"QUJD" * 1000)))
    with pytest.raises(SbdhError) as expected:
        parse_sbd(data)
    assert expected.value.problem is problem
    with pytest.raises(SbdhError) as info:
        _split(data, 500)
    assert info.value.problem is problem, str(info.value)


def test_what_bytes_cannot_represent_is_left_to_parse_sbd() -> None:
    latin = _build(INVOICE % b"caf\xc3\xa9").decode().encode("iso-8859-1")
    latin = latin.replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'").replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert b"ISO-8859-1" in latin[:60]
    empty = re.sub(rb"<Invoice .*</Invoice>", b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
                   _build(INVOICE % b"x"), flags=re.S)
    assert b"Invoice-2\"/>" in empty
    utf16 = _build(INVOICE % b"x").decode().replace("UTF-8", "UTF-16").encode("utf-16")
    long_end_tag = _build(INVOICE % b"x").replace(b"</Invoice>", b"</Invoice" + b" " * 70_000 + b">")
    long_comment_after = _build(INVOICE % b"x").replace(b"</Invoice>", b"</Invoice><!--" + b" " * (1 << 21) + b"-->")
    for data in (latin, utf16, long_end_tag, long_comment_after):
        parse_sbd(data)  # fine as a whole
        with pytest.raises(SbdStreamUnsuitable):
            _split(data, 100)


@pytest.mark.parametrize("business_message", [
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" a="/>"  />',
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"></Invoice >',
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><!-- only a comment --></Invoice>',
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">text only /&gt; </Invoice>',
])
def test_business_messages_without_children_end_where_they_end(business_message: bytes) -> None:
    data = re.sub(rb"<Invoice .*</Invoice>", business_message, _build(INVOICE % b"x"), flags=re.S)
    for size in (1, 5, 64, len(data)):
        assert assert_same_as_parse_sbd(data, size) == "ok"
        assert _split(data, size)[1] == business_message


def test_a_binary_content_payload_streams() -> None:
    """Peppol's BinaryContent wrapper: one element, one huge text node, no child to count."""
    wrapped = (b'<BinaryContent xmlns="http://peppol.eu/xsd/ticc/envelope/1.0" mimeType="application/pdf">'
               + b"JVBERi0x" * 300_000 + b"</BinaryContent>")
    sbd = _build(INVOICE % b"x")
    data = re.sub(rb"<Invoice .*</Invoice>", lambda _: wrapped, sbd, flags=re.S)
    assert assert_same_as_parse_sbd(data, 65536) == "ok"
    assert _split(data, 65536)[1] == wrapped


def test_nesting_is_limited_as_libxml2_limits_it() -> None:
    deep = b"<a>" * 3000 + b"</a>" * 3000
    data = _build(INVOICE % b"x").replace(b"<cbc:Note>x</cbc:Note>", b"<cbc:Note>" + deep + b"</cbc:Note>")
    with pytest.raises(SbdhError) as info:
        _split(data, 4096)
    assert info.value.problem is SbdhProblem.INVALID_SBD_XML


def test_an_envelope_without_a_business_message_is_left_to_parse_sbd() -> None:
    data = _build(INVOICE % b"x")
    head = data.split(b"<Invoice")[0] + b"</StandardBusinessDocument>"
    with pytest.raises(SbdStreamUnsuitable):
        _split(head, 50)
    with pytest.raises(SbdhError):
        parse_sbd(head)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=3000), st.sampled_from([b"<", b">", b"/", b"x", b"\x00", b"&", b" ", b'"']),
       st.integers(min_value=1, max_value=300))
def test_mutated_sbds_split_as_parse_sbd_reads_them(pos: int, junk: bytes, size: int) -> None:
    data = _build(INVOICE % (b"QUJD" * 200))
    pos = pos % len(data)
    assert_same_as_parse_sbd(data[:pos] + junk + data[pos + 1:], size)


def test_the_corpus_is_the_one_test_sbdh_uses() -> None:
    path = TESTDATA / "peppol-commons" / "sbdh-expected-errors.json"
    if not path.exists():
        pytest.skip("third-party test data not found")
    bad = {"peppol-commons/" + rel for rel in json.loads(path.read_text())["expected_error"]}
    assert bad <= set(_corpus())
