"""Bad input: tampering, missing security, signature wrapping, XXE, gzip bombs. Each gets its ebMS code."""

from __future__ import annotations

import gzip
import os
import re

import pytest
from lxml import etree

import as4
from as4 import _xenc
from as4._xml import NS
from as4.blob import Blob
from as4.mime import OutboundPart, parse_multipart, render_multipart
from tests.as4.conftest import make_sbd


def rx(aps, **policy):
    return as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False, **policy))


def sealed(aps, now, sbd=None):
    out = as4.build_user_message(sbd or make_sbd(), key=aps.sender.key, cert=aps.sender.cert,
                                 receiver_cert=aps.receiver.cert, at=now)
    parts = parse_multipart(out.content_type, out.body)
    return out, parts[0].body.read(), parts[1]


def repack(soap: bytes, attachment_cid: str, attachment: bytes) -> tuple[str, bytes]:
    r = render_multipart([
        OutboundPart([("Content-Type", "application/soap+xml")], Blob.from_bytes(soap)),
        OutboundPart([("Content-Type", "application/octet-stream"), ("Content-ID", f"<{attachment_cid}>")],
                     Blob.from_bytes(attachment)),
    ])
    return r.content_type, b"".join(r.iter_bytes())


def code_of(aps, now, content_type, body, **policy):
    handled = rx(aps, **policy).handle(content_type, body, at=now)
    assert handled.document is None, "a rejected message must not be handed on for storage"
    assert handled.response is not None and handled.response.is_error
    return handled.error.code.code


def test_untouched_message_is_accepted(aps, now):
    out, soap, att = sealed(aps, now)
    ct, body = repack(soap, att.content_id, att.body.read())
    assert rx(aps).handle(ct, body, at=now).document is not None


def test_tampered_header_is_0101(aps, now):
    out, soap, att = sealed(aps, now)
    soap = re.sub(rb"<eb:ConversationId>[^<]*<", b"<eb:ConversationId>forged<", soap)
    assert code_of(aps, now, *repack(soap, att.content_id, att.body.read())) == "EBMS:0101"


def test_tampered_body_is_0101(aps, now):
    out, soap, att = sealed(aps, now)
    soap = re.sub(rb"(<S12:Body[^>]*)/>", rb"\1><injected/></S12:Body>", soap)
    assert b"<injected/>" in soap
    assert code_of(aps, now, *repack(soap, att.content_id, att.body.read())) == "EBMS:0101"


def test_tampered_attachment_with_the_right_key_is_0101(aps, now):
    """Someone holding the content key swaps the payload: it decrypts, but the signed digest differs."""
    out, soap, att = sealed(aps, now)
    inbound = as4.parse_message(out.content_type, out.body)
    key = _xenc.decrypt_key(inbound.security.find("xenc:EncryptedKey", NS), aps.receiver.key)
    forged = _xenc.encrypt_blob(Blob.from_bytes(gzip.compress(make_sbd("forged"))), key).read()
    assert code_of(aps, now, *repack(soap, att.content_id, forged)) == "EBMS:0101"


def test_flipped_ciphertext_is_0102(aps, now):
    out, soap, att = sealed(aps, now)
    data = bytearray(att.body.read())
    data[len(data) // 2] ^= 0x01
    assert code_of(aps, now, *repack(soap, att.content_id, bytes(data))) == "EBMS:0102"


def test_unsigned_is_0103(aps, now):
    out, soap, att = sealed(aps, now)
    root = etree.fromstring(soap)
    sig = root.find(".//ds:Signature", NS)
    sig.getparent().remove(sig)
    assert code_of(aps, now, *repack(etree.tostring(root), att.content_id, att.body.read())) == "EBMS:0103"


def test_no_security_header_is_0103(aps, now):
    out, soap, att = sealed(aps, now)
    root = etree.fromstring(soap)
    sec = root.find(".//wsse:Security", NS)
    sec.getparent().remove(sec)
    assert code_of(aps, now, *repack(etree.tostring(root), att.content_id, att.body.read())) == "EBMS:0103"


def test_signed_but_not_encrypted_is_0103(aps, now):
    out, soap, att = sealed(aps, now)
    root = etree.fromstring(soap)
    for tag in ("xenc:EncryptedKey", "xenc:EncryptedData"):
        el = root.find(f".//{tag}", NS)
        el.getparent().remove(el)
    assert code_of(aps, now, *repack(etree.tostring(root), att.content_id, att.body.read())) == "EBMS:0103"


def test_signature_wrapping_is_0101(aps, now):
    """Move the signed eb:Messaging into the security header and put a forged one in its place."""
    out, soap, att = sealed(aps, now)
    root = etree.fromstring(soap)
    header = root.find("S12:Header", NS)
    original = header.find("eb:Messaging", NS)
    forged = etree.fromstring(etree.tostring(original))
    del forged.attrib["{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"]
    forged.find(".//eb:ConversationId", NS).text = "forged"
    header.remove(original)
    root.find(".//wsse:Security", NS).append(original)
    header.append(forged)
    assert code_of(aps, now, *repack(etree.tostring(root), att.content_id, att.body.read())) == "EBMS:0101"


@pytest.mark.parametrize("where", [b"<ds:SignedInfo", b"<eb:Messaging"])
def test_uncanonicalisable_signed_xml_is_0101(aps, now, where):
    """A relative namespace URI makes libxml2's c14n fail: an ebMS error, not an lxml exception (found by fuzzing)."""
    out, soap, att = sealed(aps, now)
    i = soap.index(where)
    soap = soap[:i] + where + b' xmlns:rel="relative/uri" rel:x="1"' + soap[i + len(where):]
    assert code_of(aps, now, *repack(soap, att.content_id, att.body.read())) == "EBMS:0101"


def test_duplicate_ids_are_0101(aps, now):
    out, soap, att = sealed(aps, now)
    root = etree.fromstring(soap)
    messaging = root.find(".//eb:Messaging", NS)
    copy = etree.fromstring(etree.tostring(messaging))
    root.find(".//wsse:Security", NS).append(copy)
    assert code_of(aps, now, *repack(etree.tostring(root), att.content_id, att.body.read())) == "EBMS:0101"


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE S12:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"><S12:Header>&xxe;</S12:Header><S12:Body/></S12:Envelope>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"><S12:Header>&lol3;</S12:Header><S12:Body/></S12:Envelope>"""


@pytest.mark.parametrize("doc", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_doctype_and_entities_are_refused(aps, now, doc):
    with pytest.raises(as4.InvalidHeader):
        as4.parse_message("application/soap+xml", doc)
    assert code_of(aps, now, "application/soap+xml", doc) == "EBMS:0009"


def test_xxe_in_the_sbd_is_refused(aps, now):
    sbd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + make_sbd().split(b"?>", 1)[1]
    out = as4.build_user_message(sbd, key=aps.sender.key, cert=aps.sender.cert, receiver_cert=aps.receiver.cert,
                                 at=now, original_sender="0088:1111111111111", final_recipient="0088:2222222222222",
                                 document_type_id="busdox-docid-qns::x", process_id="p")
    assert code_of(aps, now, out.content_type, out.body) == "EBMS:0004"


def test_gzip_bomb_is_0303(aps, now, tmp_path):
    bomb = make_sbd(filler="<Note>" + "A" * (4 * 1024 * 1024) + "</Note>")
    out = as4.build_user_message(bomb, key=aps.sender.key, cert=aps.sender.cert, receiver_cert=aps.receiver.cert,
                                 at=now)
    assert out.size < 100_000  # 4 MB of 'A' compresses ~1000x
    assert code_of(aps, now, out.content_type, out.body, max_compression_ratio=100) == "EBMS:0303"
    assert code_of(aps, now, out.content_type, out.body, max_payload_bytes=1024 * 1024) == "EBMS:0303"


def test_not_gzip_is_0303(aps, now):
    out, soap, att = sealed(aps, now)
    inbound = as4.parse_message(out.content_type, out.body)
    key = _xenc.decrypt_key(inbound.security.find("xenc:EncryptedKey", NS), aps.receiver.key)
    # re-sign is impossible for an attacker; we are the sender here, so build with a broken gzip body
    from as4 import message as message_mod

    real = message_mod.gzip_blob
    message_mod.gzip_blob = lambda blob, level=6: Blob.from_bytes(os.urandom(64))
    try:
        out2 = as4.build_user_message(make_sbd(), key=aps.sender.key, cert=aps.sender.cert,
                                      receiver_cert=aps.receiver.cert, at=now)
    finally:
        message_mod.gzip_blob = real
    assert key  # (the first message decrypts fine; only the second is broken)
    assert code_of(aps, now, out2.content_type, out2.body) == "EBMS:0303"


def test_missing_attachment_is_0007(aps, now):
    out, soap, att = sealed(aps, now)
    r = render_multipart([OutboundPart([("Content-Type", "application/soap+xml")], Blob.from_bytes(soap))])
    assert code_of(aps, now, r.content_type, b"".join(r.iter_bytes())) == "EBMS:0007"


def test_not_multipart_is_0007(aps, now):
    assert code_of(aps, now, "text/plain", b"hello") == "EBMS:0007"
