"""The text-built envelopes (as4/_envelope.py): their signed parts are what lxml's c14n makes of the tree form.

The sender digests the canonical form it writes instead of canonicalising a parsed tree; these tests hold
that form byte-identical to lxml's exclusive c14n of the tree-built header (`ebms.build_messaging`,
serialised and parsed as a receiver would) and of the wire form as parsed, with awkward values too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

import as4
from as4 import _envelope, _wss
from as4._xml import DS, S12, WSSE, WSU
from as4.ebms import (ErrorItem, ErrorSignal, Party, PartInfo, Property, Receipt, SignalMessage, UserMessage,
                      build_messaging)
from as4.message import parse_message
from as4.signals import build_receipt, verify_signal

AT = datetime(2026, 12, 7, 7, 0, 28, 501999, tzinfo=UTC)
ODD = 'a&b<c>d"e\'f\tg\nh\ri \u00e9\u20ac\U0001f600 ]]>'


def _in_envelope(messaging_xml: bytes) -> etree._Element:
    """`messaging_xml` as the second header child of a parsed S12 envelope (where the receiver finds it)."""
    doc = (f'<S12:Envelope xmlns:S12="{S12}"><S12:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"/>'
           ).encode() + messaging_xml + b"</S12:Header><S12:Body/></S12:Envelope>"
    return etree.fromstring(doc)[0][1]


def _tree_c14n(msg: UserMessage | SignalMessage, nri: tuple[etree._Element, ...] = ()) -> bytes:
    el = build_messaging(msg, messaging_id="msg-1", soap_ns=S12)
    if nri:
        target = el.find(".//{http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0}NonRepudiationInformation")
        for ref in nri:
            part = etree.SubElement(target, "{http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0}"
                                            "MessagePartNRInformation")
            part.append(ref)
    envelope = etree.Element(f"{{{S12}}}Envelope", nsmap={"S12": S12})
    etree.SubElement(etree.SubElement(envelope, f"{{{S12}}}Header"), f"{{{WSSE}}}Security").addnext(el)
    parsed = etree.fromstring(etree.tostring(envelope))
    return _wss.c14n(parsed[0][1], ("S12",))


def _user_message(value: str) -> UserMessage:
    return UserMessage(
        message_id=f"id-{value}@x", timestamp=AT,
        from_party=Party(f"POP{value}", "urn:fdc:peppol.eu:2017:identifiers:ap", "initiator"),
        to_party=Party("POP2", None, f"r{value}"), service=f"s{value}", service_type=f"t{value}",
        action=f"a{value}", conversation_id=f"c{value}", agreement_ref=f"ag{value}",
        agreement_ref_type=f"ty{value}", agreement_pmode=f"pm{value}",
        properties=(Property("originalSender", f"0088:{value}", "iso6523-actorid-upis"), Property("p", value)),
        parts=(PartInfo(f"att-{value}@x", (Property("MimeType", "application/xml"), Property("n", value))),),
        ref_to_message_id=f"ref{value}", mpc=f"mpc{value}")


@pytest.mark.parametrize("value", ["plain", ODD, ""])
def test_user_message_header_is_the_canonical_form_of_the_tree(value: str) -> None:
    wire, canonical = _envelope.messaging(_user_message(value), "msg-1")
    assert canonical.encode() == _tree_c14n(_user_message(value))
    assert _wss.c14n(_in_envelope(wire.encode()), ("S12",)) == canonical.encode()


@pytest.mark.parametrize("value", ["plain", ODD])
def test_error_signal_header_is_the_canonical_form_of_the_tree(value: str) -> None:
    item = ErrorItem(code="EBMS:0004", severity="failure", category="Content", short_description=f"Other{value}",
                     origin="ebMS", ref_to_message_in_error=f"m{value}", description=value, detail=f"d{value}")
    sm = SignalMessage("sig@x", AT, f"m{value}", error=ErrorSignal((item, item)))
    wire, canonical = _envelope.messaging(sm, "msg-1")
    assert canonical.encode() == _tree_c14n(sm)
    assert _wss.c14n(_in_envelope(wire.encode()), ("S12",)) == canonical.encode()


def _received_references(aps, now) -> tuple[etree._Element, ...]:
    out = as4.build_user_message(_sbd(), key=aps.sender.key, cert=aps.sender.cert, receiver_cert=aps.receiver.cert,
                                 at=now)
    inbound = parse_message(out.content_type, out.body)
    return tuple(inbound.security.iterfind(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference"))


def _sbd() -> bytes:
    from tests.as4.conftest import make_sbd

    return make_sbd("envelope-1")


def test_receipt_header_is_the_canonical_form_of_the_tree(aps, now) -> None:
    refs = _received_references(aps, now)
    sm = SignalMessage("r@x", AT, "m@x", receipt=Receipt(()))
    copies = tuple(_wss.c14n(r).decode() for r in refs)
    assert all(_envelope.reference_fits(c) for c in copies)
    wire, canonical = _envelope.messaging(sm, "msg-1", copies)
    assert canonical.encode() == _tree_c14n(sm, tuple(etree.fromstring(etree.tostring(r)) for r in refs))
    assert _wss.c14n(_in_envelope(wire.encode()), ("S12",)) == canonical.encode()


@pytest.mark.parametrize("reference", [
    # prefixes the receipt's eb:Messaging renders itself: alone and in context they canonicalise differently
    f'<Reference xmlns="{DS}" URI="#x"><DigestMethod Algorithm="{_wss.SHA256}"/><DigestValue>AA==</DigestValue>'
    "</Reference>",
    f'<ds:Reference xmlns:ds="{DS}" xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"'
    ' eb:x="1" URI="#x"><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>',
    f'<ds:Reference xmlns:ds="{DS}" xmlns:S12="{S12}" S12:y="2" URI="#x"><ds:DigestValue>AA==</ds:DigestValue>'
    "</ds:Reference>",
])
def test_receipt_with_references_in_context_prefixes_still_verifies(aps, now, reference: str) -> None:
    copy = _wss.c14n(etree.fromstring(reference)).decode()
    assert not _envelope.reference_fits(copy)
    receipt = build_receipt("m@x", (etree.fromstring(reference),), key=aps.receiver.key, cert=aps.receiver.cert,
                            at=now)
    inbound = parse_message(receipt.content_type, receipt.body)
    assert verify_signal(inbound).certificate == aps.receiver.cert


def test_sent_message_and_receipt_verify(aps, now) -> None:
    """End to end through our receiver: every digest and both signatures of the text-built envelopes check."""
    out = as4.build_user_message(_sbd(), key=aps.sender.key, cert=aps.sender.cert, receiver_cert=aps.receiver.cert,
                                 at=now, conversation_id=ODD.replace("\r", ""))
    receiver = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                            policy=as4.ReceiverPolicy(check_revocation=False))
    handled = receiver.handle(out.content_type, out.body, at=now)
    assert handled.document is not None, handled.error
    assert handled.document.user_message.conversation_id == ODD.replace("\r", "")
    as4.verify_receipt(handled.response.content_type, handled.response.body, sent=out,
                       receiver_cert=aps.receiver.cert, at=now)


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "\ud800", "\ufffe"])
def test_values_that_are_not_xml_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        _envelope.messaging(_user_message(bad), "msg-1")
