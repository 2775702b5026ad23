"""Third-party AS4 material (../shared/testdata/phase4, domibus): real receipts, a real UserMessage, keys."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

import as4
import certs
from as4 import _wss, _xenc
from as4._xml import NS, parse_xml

RECEIPTS = ["helger.as4in", "governikus.as4in", "dataport1-mustunderstand.as4in"]


def g2_trust(testdata: Path) -> certs.TrustStore:
    return certs.TrustStore.from_pem_files(sorted((testdata / "peppol-commons/derived-pem/pilot-truststore").glob("*.pem")))


def g3_trust(testdata: Path) -> certs.TrustStore:
    return certs.TrustStore.from_pem_files(sorted((testdata / "peppol-commons/derived-pem/ap-test-truststore").glob("*.pem")))


def load(path: Path) -> as4.InboundMessage:
    headers, body = as4.split_message_headers(path.read_bytes())
    return as4.parse_message(headers.get("content-type", "application/soap+xml"), body)


@pytest.mark.parametrize("name", RECEIPTS)
def test_real_g2_receipts_verify_and_chain_to_the_pilot_truststore(testdata, name):
    inbound = load(testdata / "phase4/peppol-client/verify" / name)
    signal = inbound.message
    assert isinstance(signal, as4.SignalMessage) and signal.receipt is not None
    assert signal.receipt.references, "NRI must list the references of the received message"
    sig = as4.verify_signal(inbound)
    seat = certs.verify_ap_certificate(sig.certificate, trust=g2_trust(testdata), at=signal.timestamp)
    assert str(seat).startswith("P")


def test_g3_receipt_chains_to_the_g3_test_truststore(testdata):
    inbound = load(testdata / "phase4/phase4-test/testfiles/TestReceipt12.xml")
    sig = as4.verify_signal(inbound)
    seat = certs.verify_ap_certificate(sig.certificate, trust=g3_trust(testdata), at=inbound.message.timestamp)
    assert str(seat) == "PDE000576"
    with pytest.raises(certs.CertificateRejected):
        certs.verify_ap_certificate(sig.certificate, trust=g2_trust(testdata), at=inbound.message.timestamp)


def test_soap11_receipt_signature_verifies_but_does_not_cover_the_header(testdata):
    """TestReceipt11's signature is good, but it signs only Body and BST: not proof of anything."""
    inbound = load(testdata / "phase4/phase4-test/testfiles/TestReceipt11.xml")
    sig = _wss.verify(inbound.security, attachments={})
    assert sig.certificate.subject.rfc4514_string() == "CN=ph-as4,C=AT"
    with pytest.raises(as4.As4Error) as info:
        as4.verify_signal(inbound)
    assert info.value.code is as4.EbmsError.FAILED_AUTHENTICATION


def test_tampered_dataport_receipt_is_rejected(testdata):
    inbound = load(testdata / "phase4/peppol-client/verify/dataport1.as4in")
    with pytest.raises(as4.FailedAuthentication):
        as4.verify_signal(inbound)


def test_dump_raw_parses_verifies_and_cannot_be_decrypted(testdata):
    inbound = load(testdata / "phase4/peppol-client/dump-raw.as4out")
    um = inbound.message
    assert um.message_id == "17a7c374-efe3-41e2-ac0d-8a8f47529e47@phase4"
    assert (um.from_party.party_id, um.to_party.party_id) == ("POP000306", "POP000306")
    assert um.property("finalRecipient").value == "9915:helger"
    as4.peppol.check_user_message(um)  # phase4's own message passes our profile check
    sig = _wss.verify(inbound.security, attachments=None)
    assert [r.uri.split(":")[0].split("-")[0] for r in sig.references] == ["#phase4", "#id", "cid"]
    seat = certs.verify_ap_certificate(sig.certificate, trust=g3_trust(testdata), at=um.timestamp)
    assert str(seat) == "POP000306"
    # the receiver's key is not public: with the expired G2 POP000306 key (a different key pair) it is 0102
    pair = certs.load_pkcs12(testdata / "phase4/derived-pem/peppol-expired-ap-cert/cert.p12", "peppol")
    with pytest.raises(as4.FailedDecryption) as info:
        as4.open_user_message(inbound, key=pair.key, verify_signer=lambda c, at: "POP000306", at=um.timestamp)
    assert info.value.code.code == "EBMS:0102"
    assert info.value.ref_to_message_id == um.message_id


def test_dump_raw_tampered_header_is_0101(testdata):
    headers, body = as4.split_message_headers((testdata / "phase4/peppol-client/dump-raw.as4out").read_bytes())
    body = body.replace(b"9915:helger</eb:Property>", b"9915:helgeR</eb:Property>")
    inbound = as4.parse_message(headers["content-type"], body)
    with pytest.raises(as4.FailedAuthentication):
        _wss.verify(inbound.security, attachments=None)


DOMIBUS = [
    ("msh-test/bst_x509v3_incoming_message.xml", "red_gw", "bst"),
    ("msh-test/bst_X509PKIPathv1_incoming_message.xml", "red_gw", "bst"),
    ("msh-test/is_incoming_message.xml", "red_gw", "issuer-serial"),
    ("msh-test/ski_incoming_message.xml", "red_gw", "ski"),
    ("msh-test-module/SoapRequest.xml", "red_gw", "ski"),
    ("msh-test-module/SoapRequestBinaryToken.xml", "red_gw", "ski"),
    ("msh-test-module/MSHAS4Request.xml", "blue_gw", "ski"),
]


@pytest.mark.parametrize(("name", "who", "kind"), DOMIBUS)
def test_domibus_encrypted_keys_decrypt_with_the_sample_key(testdata, name, who, kind):
    root = parse_xml((testdata / "domibus" / name).read_bytes())
    (ek,) = root.iterfind(".//xenc:EncryptedKey", NS)
    info = _xenc.describe_encrypted_key(ek)
    assert info.key_reference == kind
    key = certs.load_private_key(testdata / f"domibus/derived-pem/gateway_keystore/{who}.key.pem")
    assert len(_xenc.decrypt_key(ek, key)) == 16
    other = certs.load_private_key(
        testdata / f"domibus/derived-pem/gateway_keystore/{'blue_gw' if who == 'red_gw' else 'red_gw'}.key.pem")
    with pytest.raises(as4.FailedDecryption):
        _xenc.decrypt_key(ek, other)


def test_domibus_pkipath_token_yields_the_leaf(testdata):
    root = parse_xml((testdata / "domibus/msh-test/bst_X509PKIPathv1_incoming_message.xml").read_bytes())
    ek = root.find(".//xenc:EncryptedKey", NS)
    red = certs.load_certificate(testdata / "domibus/derived-pem/gateway_truststore/red_gw.cert.pem")
    assert _xenc.describe_encrypted_key(ek).certificate == red


def test_domibus_non_bst_key_reference_is_policy_noncompliance(testdata, aps, now):
    """Peppol requires BST references (protocol.md §1.7); an IssuerSerial EncryptedKey is 0103."""
    root = parse_xml((testdata / "domibus/msh-test/is_incoming_message.xml").read_bytes())
    assert _xenc.describe_encrypted_key(root.find(".//xenc:EncryptedKey", NS)).key_reference != "bst"


PHASE4_FIXTURES = [
    ("WrongSigningAlgorithm.xml", "EBMS:0101"),
    ("WrongSigningDigestAlgorithm.xml", "EBMS:0101"),
    ("TwoUserMessages.xml", "EBMS:0003"),
    ("UserMessageNoPartyID.xml", "EBMS:0009"),
    ("NoResponder.xml", "EBMS:0009"),
    ("WrongCompression.mime", "EBMS:0003"),
]


@pytest.mark.parametrize(("name", "code"), PHASE4_FIXTURES)
def test_phase4_fixtures_give_phase4s_error_codes(testdata, aps, now, name, code):
    headers, body = as4.split_message_headers((testdata / "phase4/phase4-test/testfiles" / name).read_bytes())
    rx = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                      policy=as4.ReceiverPolicy(check_revocation=False))
    handled = rx.handle(headers.get("content-type", "application/soap+xml"), body, at=now)
    assert handled.document is None
    assert handled.error is not None and handled.error.code.code == code
    signal = as4.parse_message(handled.response.content_type, handled.response.body).message
    assert signal.error.errors[0].code == code


@pytest.mark.parametrize("name", ["ErrorMessage.xml", "ErrorMessageWithFault.xml", "ErrorMessageNoRefToMessageID.xml"])
def test_incoming_error_signals_are_accepted_without_an_answer(testdata, aps, now, name):
    body = (testdata / "phase4/phase4-test/testfiles" / name).read_bytes()
    rx = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust)
    handled = rx.handle("application/soap+xml", body, at=now)
    assert handled.response is None and handled.error is None and handled.document is None


VALID_EBMS = ["soap11test/BundledMessage.xml", "soap11test/ErrorMessage.xml", "soap11test/ReceiptMessage.xml",
              "soap11test/UserMessage.xml", "soap11test/UserMessageResponse.xml", "soap12test/UserMessage12.xml",
              "soap12test/test-2023-03-15.xml"]
INVALID_EBMS = ["soap11test/MessageInfoIDMissing.xml", "soap11test/MessageInfoImaginaryTimestamp.xml",
                "soap11test/MessageInfoMissing.xml", "soap11test/NoMessaging.xml"]


@pytest.mark.parametrize("name", INVALID_EBMS)
def test_phase4_invalid_headers_are_rejected(testdata, name):
    with pytest.raises(as4.As4Error) as info:
        as4.parse_message("application/soap+xml", (testdata / "phase4/phase4-lib" / name).read_bytes())
    assert info.value.code.code == "EBMS:0009"


@pytest.mark.parametrize("name", VALID_EBMS)
def test_phase4_valid_headers_parse(testdata, name):
    """Header-level fixtures (no MIME parts): the eb:Messaging parser accepts them."""
    from as4.ebms import parse_messaging

    root = parse_xml((testdata / "phase4/phase4-lib" / name).read_bytes())
    messaging = root.find(".//eb:Messaging", NS)
    try:
        message = parse_messaging(messaging)
    except as4.ValueInconsistent:
        assert "Bundled" in name  # one message per request: bundling is refused on purpose
        return
    assert message.message_id


def test_helger_receipt_inspect_with_pinned_time(testdata):
    inbound = load(testdata / "phase4/peppol-client/verify/helger.as4in")
    cert = as4.verify_signal(inbound).certificate
    with pytest.raises(certs.CertificateRejected):  # expired today
        certs.verify_ap_certificate(cert, trust=g2_trust(testdata), at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"))
