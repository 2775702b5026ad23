"""`build_sbd` checks the tree it built instead of parsing its own output back (issue 14).

The promise is unchanged: a caller can never send an envelope we would ourselves reject. So the
reference here is the parse-back itself: `build_sbd` with its own checks switched off, then
`parse_sbd` of what it wrote. The two must give the same bytes, or a refusal with the same problem.
(When this fast path was written it was also held to a frozen copy of the old module, on the
testdata envelopes and Hypothesis mutations; `test_sbdh.py` and tests/hostile pin those now.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ubl
from tests.conftest import TESTDATA
from tests.hostile.conftest import make_sbd
from ubl import ParticipantId, SbdhError, sbdh

AT = dt.datetime(2026, 11, 22, 10, 30, tzinfo=dt.timezone.utc)
INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
INVOICE = (
    f'<Invoice xmlns="{INVOICE_NS}" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:'
    'CommonBasicComponents-2"><cbc:ID>INV-1</cbc:ID><cbc:Note>caf\u00e9 &amp; <![CDATA[<b>]]></cbc:Note></Invoice>'
).encode()


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.astuple(value)
    return value


def _outcome(fn, *args, **kwargs) -> object:
    """What a call gives: its result, or the SbdhError's problem and detail."""
    try:
        return ("ok", _plain(fn(*args, **kwargs)))
    except SbdhError as exc:
        return ("SbdhError", exc.problem.value, str(exc))
    except ValueError as exc:  # build_sbd: a caller's bug (naive time, a string XML cannot carry)
        return ("ValueError", type(exc).__name__)


@contextlib.contextmanager
def _unchecked_build() -> Iterator[None]:
    """`build_sbd` writing its envelope without checking it (what it did before its parse-back)."""
    read_envelope, too_deep = sbdh._read_envelope, sbdh._too_deep_in_sbd

    def read_unless_built(root, *, with_payload):  # noqa: ANN001, ANN202
        return read_envelope(root, with_payload=True) if with_payload else None
    sbdh._read_envelope, sbdh._too_deep_in_sbd = read_unless_built, lambda *args: False
    try:
        yield
    finally:
        sbdh._read_envelope, sbdh._too_deep_in_sbd = read_envelope, too_deep


def _built_then_parsed_back(**args: object) -> bytes:
    with _unchecked_build():
        out = ubl.build_sbd(**args)  # type: ignore[arg-type]
    ubl.parse_sbd(out)
    return out


_WORDS = st.sampled_from(["", " ", "BE", "be", "B E", "\u00a0BE", "BE\n", "2.1", "2.x", "1.0", "x y", "a\rb", "\t",
                          "caf\u00e9", "\x85", "\u2028", "id-1", "\x00", "\ufffe", "FAILURE_ONLY"])
_TEXT = st.one_of(_WORDS, st.text(max_size=12))


def _payloads() -> list[bytes]:
    found = [
        INVOICE,
        b'<?xml version="1.0" encoding="ISO-8859-1"?><Invoice xmlns="' + INVOICE_NS.encode() + b'">\xe9</Invoice>',
        b"<Invoice><ID>1</ID></Invoice>",  # no namespace: in the SBD it would fall into the SBDH one
        b'<p:Invoice xmlns:p="' + INVOICE_NS.encode() + b'"><ID/></p:Invoice>',
        b'<sh:X xmlns:sh="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"/>',
        b'<BinaryContent xmlns="http://peppol.eu/xsd/ticc/envelope/1.0" mimeType="application/pdf">JVBERi0=</BinaryContent>',
        b"<!-- before --><Invoice xmlns='" + INVOICE_NS.encode() + b"'  ><a></a><?pi x?></Invoice><!-- after -->",
        b"not xml",
        b'<!DOCTYPE Invoice><Invoice xmlns="' + INVOICE_NS.encode() + b'"/>',
    ]
    example = TESTDATA / "peppol-bis-invoice-3" / "examples" / "base-example.xml"
    if example.exists():
        found.append(example.read_bytes())
    return found


def _build_args(draw_payload: bytes, **kw: object) -> dict[str, object]:
    args: dict[str, object] = dict(
        sender=ParticipantId.parse("0088:5798000000001"), receiver=ParticipantId.parse("9925:be0848934496"),
        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS, country_c1="BE",
        payload=draw_payload, creation_time=AT, instance_identifier="3f0a4f5e-1111-4222-8333-444455556666")
    args.update(kw)
    return args


def _both_builds(args: dict[str, object]) -> tuple[object, object]:
    """(build_sbd as it is, the reference: built unchecked, then parsed back)."""
    return _outcome(ubl.build_sbd, **args), _outcome(_built_then_parsed_back, **args)


_OVERRIDES = {
    "payload": st.sampled_from(_payloads()),
    "country_c1": _TEXT,
    "instance_identifier": _TEXT.filter(bool),  # empty: a fresh UUID, different each time
    "type_version": st.one_of(st.none(), _TEXT),
    "mls_type": st.sampled_from(list(ubl.MlsType)),
    "mls_to": st.just(ParticipantId.parse("0242:987654")),
    "additional_scopes": st.lists(st.tuples(_TEXT, _TEXT, st.one_of(st.none(), _TEXT)), max_size=3).map(tuple),
    "document_type_id": st.just(ubl.BIS_BILLING_CREDIT_NOTE),
    "creation_time": st.just(AT.replace(tzinfo=None)),
}


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_build_gives_the_same_bytes_or_refusal(data: st.DataObject) -> None:
    """A valid set of arguments with one to three of them replaced, so each check is reached."""
    names = data.draw(st.lists(st.sampled_from(sorted(_OVERRIDES)), min_size=1, max_size=3, unique=True))
    args = _build_args(INVOICE, **{name: data.draw(_OVERRIDES[name], label=name) for name in names})
    new, old = _both_builds(args)
    if new[0] == "SbdhError" and old[0] == "SbdhError":
        assert new[1] == old[1]  # the same problem; a depth detail may be worded differently
    else:
        assert new == old


def _nested(depth: int) -> bytes:
    return f'<Invoice xmlns="{INVOICE_NS}">'.encode() + b"<a>" * (depth - 1) + b"</a>" * (depth - 1) + b"</Invoice>"


@pytest.mark.parametrize("depth, refused", [(2046, False), (2047, False), (2048, True)])
def test_build_refuses_nesting_only_a_reparse_would_see(depth: int, refused: bool) -> None:
    """The payload parses alone (libxml2's limit: 2048 levels), but one level down in the SBD it may not."""
    args = _build_args(_nested(depth))
    new, old = _both_builds(args)
    assert (new[0], old[0]) == (("SbdhError", "SbdhError") if refused else ("ok", "ok"))
    if refused:
        assert new[1] == old[1] == "INVALID_SBD_XML"
    else:
        assert new == old


def test_build_checks_nesting_in_an_encoding_without_ascii_lt() -> None:
    """A UTF-16 payload is refused as before; in an encoding where `<` is not the byte 0x3C (EBCDIC),
    counting that byte proves nothing, so the XPath decides even for a short payload."""
    payload = _nested(2048).decode().encode("utf-16")
    args = _build_args(payload)
    new, old = _both_builds(args)
    assert new[:2] == old[:2] == ("SbdhError", "INVALID_SBD_XML")
    from ubl import sbdh

    assert sbdh._too_deep_in_sbd(b"", "IBM037", ubl.parse_untrusted_xml(_nested(2048)).getroot())


_SPACES = ["\t", "\r", "\n", " ", "\xa0", "\x85", "\u2003", "\u3000", "\x1c", "\x1f", "\u200b", "x", "&#160;", "&#x85;"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_text_between_the_envelopes_elements_is_allowed_only_if_it_is_whitespace(data: st.DataObject) -> None:
    """Text around the envelope's elements: Unicode whitespace is allowed, anything else refused."""
    sbd = make_sbd()
    start, end = sbd.index(b"<Invoice"), sbd.index(b"</Invoice>") + len(b"</Invoice>")
    # Between two of the envelope's tags (not inside a value, not inside the business message).
    gaps = [i for i in range(1, len(sbd)) if sbd[i - 1:i + 1] == b"><" and not start < i < end]
    at = data.draw(st.sampled_from(gaps))
    text = "".join(data.draw(st.lists(st.sampled_from(_SPACES), min_size=1, max_size=3))).encode()
    mutated = sbd[:at] + text + sbd[at:]
    got = _outcome(ubl.parse_sbd, mutated)
    # What the parser sees between the elements (character references resolved): whitespace by
    # str.isspace is allowed there, anything else is text content and refused.
    seen = text.decode().replace("&#160;", "\xa0").replace("&#x85;", "\x85")
    xml_chars = all(c in "\t\n\r" or c >= " " for c in seen)  # \x1c-\x1f are spaces XML cannot carry
    if xml_chars and seen.isspace():
        assert got[0] == "ok", got
    else:
        assert got[:2] == ("SbdhError", "INVALID_SBD_XML"), got
