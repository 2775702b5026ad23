"""The MIME parser: tolerant of real-world variants, strict about ambiguity, fuzzed with Hypothesis."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import as4
from as4.blob import Blob
from as4.mime import MultipartParser, OutboundPart, _parse_content_type_email, parse_content_type, parse_multipart, \
    render_multipart

CT = 'multipart/related; boundary="b1"; type="application/soap+xml"'


def test_preamble_missing_root_cid_base64_and_digit_ids():
    body = (b"This is a preamble that some peers send.\r\n"
            b"--b1\r\nContent-Type: application/soap+xml\r\n\r\n<root/>\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-ID: <1234@example.com>\r\n\r\n" + base64.encodebytes(b"\x00\x01binary\xff" * 50) +
            b"\r\n--b1--\r\nepilogue")
    root, att = parse_multipart(CT, body)
    assert root.content_id is None and root.body.read() == b"<root/>"
    assert att.content_id == "1234@example.com"
    assert att.body.read() == b"\x00\x01binary\xff" * 50


def test_bare_lf_line_endings_and_folded_headers():
    body = (b"--b1\nContent-Type: application/soap+xml;\n charset=UTF-8\n\n<a/>\n"
            b"--b1\nContent-ID: <x@y>\n\nDATA\n--b1--\n")
    root, att = parse_multipart(CT, body)
    assert root.headers["content-type"] == "application/soap+xml; charset=UTF-8"
    assert att.body.read() == b"DATA"


def test_start_parameter_selects_the_root(aps, now):
    body = (b"--b1\r\nContent-ID: <att@x>\r\n\r\nATT\r\n"
            b"--b1\r\nContent-ID: <root@x>\r\nContent-Type: application/soap+xml\r\n\r\n<r/>\r\n--b1--\r\n")
    with pytest.raises(as4.InvalidHeader):  # root chosen by `start` is parsed as SOAP: not an envelope
        as4.parse_message(CT + '; start="<root@x>"', body)


@pytest.mark.parametrize("body", [
    b"",
    b"no boundary at all",
    b"--b1\r\nContent-Type: a/b\r\n\r\nunterminated",
    b"--b1\r\nBroken header line\r\n\r\nx\r\n--b1--",
    b"--b1\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!\r\n--b1--",
    b"--b1\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nx\r\n--b1--",
])
def test_broken_mime_is_0007(body):
    with pytest.raises(as4.MimeInconsistency):
        parse_multipart(CT, body)


def test_part_and_size_limits():
    many = b"".join(b"--b1\r\nContent-ID: <%d@x>\r\n\r\nx\r\n" % i for i in range(100)) + b"--b1--"
    with pytest.raises(as4.MimeInconsistency):
        parse_multipart(CT, many)
    with pytest.raises(as4.MimeInconsistency):
        parse_multipart(CT, b"--b1\r\n\r\n" + b"x" * 2000 + b"\r\n--b1--", max_bytes=1000)


bodies = st.lists(st.binary(max_size=300), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=bodies, cut=st.integers(min_value=1, max_value=64), data=st.data())
def test_render_then_parse_in_any_chunking_is_identity(parts, cut, data):
    rendered = render_multipart([OutboundPart([("Content-ID", f"<{i}@x>")], Blob.from_bytes(p))
                                 for i, p in enumerate(parts)])
    raw = b"".join(rendered.iter_bytes())
    parser = MultipartParser(rendered.content_type)
    pos = 0
    while pos < len(raw):
        n = data.draw(st.integers(min_value=1, max_value=cut))
        parser.feed(raw[pos:pos + n])
        pos += n
    got = parser.finish()
    assert [p.body.read() for p in got] == parts
    assert [p.content_id for p in got] == [f"{i}@x" for i in range(len(parts))]


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=2000), ctype=st.sampled_from([CT, "application/soap+xml", "text/xml",
                                                              "multipart/related", "multipart/related; boundary=",
                                                              "", "application/octet-stream"]))
def test_parse_message_raises_only_as4error(body, ctype):
    try:
        as4.parse_message(ctype, body)
    except as4.As4Error:
        pass


xml_fragments = st.lists(st.sampled_from([
    "<S12:Envelope xmlns:S12='http://www.w3.org/2003/05/soap-envelope'>", "</S12:Envelope>",
    "<S12:Header>", "</S12:Header>", "<S12:Body/>",
    "<eb:Messaging xmlns:eb='http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/'>", "</eb:Messaging>",
    "<eb:UserMessage>", "</eb:UserMessage>", "<eb:SignalMessage>", "</eb:SignalMessage>",
    "<eb:MessageInfo>", "</eb:MessageInfo>", "<eb:MessageId>m@x</eb:MessageId>",
    "<eb:Timestamp>2026-01-01T00:00:00Z</eb:Timestamp>", "<eb:Timestamp>garbage</eb:Timestamp>",
    "<eb:PartyInfo><eb:From><eb:PartyId>P</eb:PartyId><eb:Role>r</eb:Role></eb:From></eb:PartyInfo>",
    "<eb:Receipt/>", "<eb:Error errorCode='EBMS:0004' severity='failure'/>", "<!DOCTYPE x>", "&amp;", "&x;",
    "<eb:PayloadInfo><eb:PartInfo href='cid:a'/></eb:PayloadInfo>",
]), max_size=25)


@settings(max_examples=400, deadline=None)
@given(fragments=xml_fragments)
def test_xml_parser_on_structured_junk_raises_only_as4error(fragments):
    try:
        as4.parse_message("application/soap+xml", "".join(fragments).encode())
    except as4.As4Error:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=4), cut=st.one_of(st.none(), st.integers(min_value=0)))
def test_mutated_real_messages_never_crash_the_receiver(aps, now, flips, cut):
    out = _message(aps, now)
    data = bytearray(out.body)
    for pos, x in flips:
        data[pos % len(data)] ^= x
    if cut is not None:
        data = data[: cut % len(data)]
    receiver = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                            policy=as4.ReceiverPolicy(check_revocation=False))
    handled = receiver.handle(out.content_type, bytes(data), at=now)
    # either still intact (flips landed in ignorable bytes) or a signed error; never an exception
    assert handled.response is not None
    if handled.document is None:
        assert handled.error is not None and handled.response.is_error


_cache: dict = {}


def _message(aps, now):
    if "m" not in _cache:
        from tests.as4.conftest import make_sbd

        _cache["m"] = as4.build_user_message(make_sbd(), key=aps.sender.key, cert=aps.sender.cert,
                                             receiver_cert=aps.receiver.cert, at=now)
    return _cache["m"]


_CONTENT_TYPES = [
    'multipart/related; boundary="----=_Part_0_1950117092.1769701143986"; type="application/soap+xml"',
    "multipart/related;boundary=MIMEBoundary_abc;type=\"application/soap+xml\";start=\"<root@x>\"",
    "Multipart/Related; BOUNDARY=b1; start=<root@x>; start-info=application/soap+xml",
    "application/soap+xml;charset=UTF-8", "application/soap+xml; charset=UTF-8", "application/xml", "",
    "text/xml;", 'a/b; x="semi;colon"; y=2', 'a/b; x="unclosed; y=2', "a/b; bare; k = v ; ;",
    'a/b; q=""; r="<>"; s=<x>; t="\'"', "a/b=c; k=v", " A/B ; K=V",
    # the email module's cases: RFC 2231, escapes, folding, non-ASCII
    "a/b; name*=utf-8''%E2%82%AC", 'a/b; x="a\\"b"', "a/b;\r\n boundary=x", "a/b; k=\u00e9",
]


@pytest.mark.parametrize("value", _CONTENT_TYPES)
def test_parse_content_type_matches_the_email_module(value: str) -> None:
    assert parse_content_type(value) == _parse_content_type_email(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='aB/=;" <>\t-*\\', max_size=40))
def test_parse_content_type_matches_the_email_module_on_any_ascii(value: str) -> None:
    assert parse_content_type(value) == _parse_content_type_email(value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='ab;"= ', max_size=30))
def test_split_params_cuts_exactly_at_the_semicolons_outside_quotes(value: str) -> None:
    from as4.mime import _split_params

    items = _split_params(value)
    assert ";".join(items) == value
    cuts, pos = [], -1
    for item in items[:-1]:
        pos += len(item) + 1
        cuts.append(pos)
    outside = [i for i, c in enumerate(value) if c == ";" and value[:i].count('"') % 2 == 0]
    assert cuts == outside
