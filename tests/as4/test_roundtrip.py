"""Our sender core meets our receiver core in memory (h11's ConnectionPair idea), no HTTP."""

from __future__ import annotations

import gzip

import pytest
from lxml import etree

import as4
from as4._xml import NS
from tests.as4.conftest import make_sbd


def receiver_for(aps, **policy):
    return as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False, **policy))


def build(aps, now, sbd=None, **kw):
    return as4.build_user_message(sbd or make_sbd(), key=aps.sender.key, cert=aps.sender.cert,
                                  receiver_cert=aps.receiver.cert, at=now, **kw)


def test_exchange_delivers_the_sbd_and_a_receipt_that_verifies(aps, now):
    sbd = make_sbd("inv-rt")
    out = build(aps, now, sbd)
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    assert handled.error is None
    doc = handled.document
    assert doc.sbd.read() == sbd
    assert doc.seat_id == "POP000001"
    assert doc.sbdh.instance_identifier == "inv-rt"
    um = doc.user_message
    assert um.action.startswith("busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##")
    assert (um.service_type, um.service) == ("cenbii-procid-ubl", "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    receipt = as4.verify_receipt(handled.response.content_type, handled.response.body, sent=out,
                                 receiver_cert=aps.receiver.cert, at=now)
    assert receipt.ref_to_message_id == out.message_id
    assert {r.uri for r in receipt.references} == {r.uri for r in out.signed_references}
    assert len(receipt.references) == 3


def test_wire_format_matches_the_peppol_profile(aps, now):
    out = build(aps, now)
    inbound = as4.parse_message(out.content_type, out.body)
    sec = inbound.security
    assert sec.find("wsse:BinarySecurityToken", NS) is not None
    em = sec.find("xenc:EncryptedKey/xenc:EncryptionMethod", NS)
    assert em.get("Algorithm") == "http://www.w3.org/2009/xmlenc11#rsa-oaep"
    assert em.find("xenc11:MGF", NS).get("Algorithm") == "http://www.w3.org/2009/xmlenc11#mgf1sha256"
    assert sec.find("xenc:EncryptedData/xenc:EncryptionMethod", NS).get("Algorithm") == \
        "http://www.w3.org/2009/xmlenc11#aes128-gcm"
    assert sec.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == \
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    agreement = inbound.messaging.find(".//eb:AgreementRef", NS)
    assert agreement.text == "urn:fdc:peppol.eu:2017:agreements:tia:ap_provider" and not agreement.attrib
    assert inbound.message.from_party.party_id_type == "urn:fdc:peppol.eu:2017:identifiers:ap"
    assert len(inbound.body) == 0  # Peppol: empty Body, payloads as attachments
    # the attachment on the wire is ciphertext, not gzip
    (part,) = inbound.attachments.values()
    with pytest.raises(OSError):
        gzip.decompress(part.body.read())


def test_duplicate_handled_by_store_returns_same_receipt(aps, now, tmp_path):
    store = as4.DirectoryStore(tmp_path)
    out = build(aps, now, make_sbd("dup-1"))
    rx = receiver_for(aps)
    first = rx.handle(out.content_type, out.body, at=now)
    s1 = store.store(first.document, first.response)
    second = rx.handle(out.content_type, out.body, at=now)
    s2 = store.store(second.document, second.response)
    assert not s1.duplicate and s2.duplicate
    assert s2.receipt == s1.receipt
    assert len(store.messages()) == 1
    # same SBDH InstanceIdentifier under a new MessageId: not stored again, receipt names the new id
    again = build(aps, now, make_sbd("dup-1"))
    third = rx.handle(again.content_type, again.body, at=now)
    s3 = store.store(third.document, third.response)
    assert s3.duplicate and len(store.messages()) == 1
    as4.verify_receipt(third.response.content_type, s3.receipt, sent=again, receiver_cert=aps.receiver.cert,
                       at=now)


def test_receipt_for_another_message_is_invalid(aps, now):
    a, b = build(aps, now), build(aps, now)
    handled = receiver_for(aps).handle(a.content_type, a.body, at=now)
    with pytest.raises(as4.InvalidReceipt):
        as4.verify_receipt(handled.response.content_type, handled.response.body, sent=b,
                           receiver_cert=aps.receiver.cert, at=now)


def test_receipt_signed_by_someone_else_is_invalid(aps, now):
    out = build(aps, now)
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    with pytest.raises(as4.InvalidReceipt):
        as4.verify_receipt(handled.response.content_type, handled.response.body, sent=out,
                           receiver_cert=aps.other.cert, at=now)


def test_receipt_with_wrong_nri_digest_is_invalid(aps, now):
    out = build(aps, now)
    rx = receiver_for(aps)
    handled = rx.handle(out.content_type, out.body, at=now)
    nri = [etree.fromstring(etree.tostring(e)) for e in handled.document.nri]
    nri[0].find("ds:DigestValue", NS).text = "AAAA" + nri[0].find("ds:DigestValue", NS).text[4:]
    forged = as4.build_receipt(out.message_id, tuple(nri), key=aps.receiver.key, cert=aps.receiver.cert, at=now)
    with pytest.raises(as4.InvalidReceipt):
        as4.verify_receipt(forged.content_type, forged.body, sent=out, receiver_cert=aps.receiver.cert, at=now)


def test_error_signal_becomes_peer_rejected_with_the_code(aps, now):
    out = build(aps, now, make_sbd(receiver="0088:9999999999999"))
    rx = receiver_for(aps, accept=frozenset({"iso6523-actorid-upis::0088:2222222222222"}))
    handled = rx.handle(out.content_type, out.body, at=now)
    assert handled.document is None and handled.response.is_error
    with pytest.raises(as4.PeerRejected) as info:
        as4.verify_receipt(handled.response.content_type, handled.response.body, sent=out,
                           receiver_cert=aps.receiver.cert, at=now)
    assert info.value.code is as4.EbmsError.OTHER
    assert info.value.error_detail == "PEPPOL:NOT_SERVICED"
    # and the error signal itself is signed by the receiver
    inbound = as4.parse_message(handled.response.content_type, handled.response.body)
    assert as4.verify_signal(inbound).certificate == aps.receiver.cert


def test_wrong_recipient_certificate_is_0102(aps, now):
    out = as4.build_user_message(make_sbd(), key=aps.sender.key, cert=aps.sender.cert,
                                 receiver_cert=aps.other.cert, at=now)
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    assert handled.error.code is as4.EbmsError.FAILED_DECRYPTION


def test_signer_must_match_from_party(aps, now):
    out = build(aps, now, from_party="POP000003")
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    assert handled.error.code is as4.EbmsError.FAILED_AUTHENTICATION


def test_revoked_signer_is_0101(aps, now, tmp_path):
    import certs

    pki = certs.TestPki.generate(tmp_path / "pki")
    good, bad = pki.issue_ap("POP000010"), pki.issue_ap("POP000011")
    pki.revoke(bad.cert)
    with certs.RevocationServer(pki):
        rx = as4.Receiver(key=good.key, cert=good.cert, trust=pki.trust_store(),
                          revocation=certs.RevocationChecker(soft_fail=False))
        out = as4.build_user_message(make_sbd(), key=bad.key, cert=bad.cert, receiver_cert=good.cert, at=now)
        handled = rx.handle(out.content_type, out.body, at=now)
        assert handled.error is not None and handled.error.code is as4.EbmsError.FAILED_AUTHENTICATION
        assert "revoked" in handled.error.detail


def test_sbdh_must_match_message_properties(aps, now):
    out = build(aps, now, make_sbd(), original_sender="0088:5555555555555")
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    assert handled.error.code is as4.EbmsError.VALUE_INCONSISTENT


def test_untrusted_signer_is_0101(aps, now, tmp_path):
    import certs

    other_pki = certs.TestPki.generate(tmp_path / "other")
    stranger = other_pki.issue_ap("POP000099")
    out = as4.build_user_message(make_sbd(), key=stranger.key, cert=stranger.cert,
                                 receiver_cert=aps.receiver.cert, at=now)
    handled = receiver_for(aps).handle(out.content_type, out.body, at=now)
    assert handled.error.code is as4.EbmsError.FAILED_AUTHENTICATION
