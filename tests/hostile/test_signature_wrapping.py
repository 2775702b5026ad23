"""XML signature wrapping and its relatives, against AS4 messages and SMP answers.

A signature proves something about *some* bytes; these attacks make the
verifier check one element while the application reads another, or change what
the application reads without changing what C14N sees (comments). The rule:
after a successful verification, the values we act on are exactly the signed
ones, or the input is refused.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

import as4
import smp
import ubl
from as4.blob import Blob
from as4.mime import OutboundPart, parse_multipart, render_multipart
from tests.hostile.conftest import Pki, make_sbd

_now = datetime.now(UTC)
NOW = _now.replace(microsecond=_now.microsecond // 1000 * 1000)
DS = "http://www.w3.org/2000/09/xmldsig#"
SMP_NS = "http://busdox.org/serviceMetadata/publishing/1.0/"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"


# --- SMP --------------------------------------------------------------------------------------------------

def _service_info(pki: Pki, address: str) -> smp.ServiceInformation:
    return smp.ServiceInformation(
        participant_id=ubl.ParticipantId.parse("0088:2222222222222"), document_type_id=ubl.BIS_BILLING_INVOICE,
        processes=(smp.ProcessMetadata(process_id=ubl.BIS_BILLING_PROCESS, endpoints=(smp.Endpoint(
            transport_profile=smp.TRANSPORT_AS4_V2, address=address,
            certificate_der=pki.receiver.cert.public_bytes(Encoding.DER)),)),))


@pytest.fixture(scope="module")
def signed_smp(pki: Pki) -> bytes:
    return smp.sign_service_metadata(smp.render_service_metadata(_service_info(pki, "https://ap.example/as4")),
                                     key=pki.smp.key, certificate=pki.smp.cert)


def _addresses(verified: smp.VerifiedServiceMetadata) -> set[str]:
    info = verified.metadata.information
    assert info is not None
    return {e.address for p in info.processes for e in p.endpoints}


def _refused_or_original(pki: Pki, data: bytes) -> None:
    try:
        verified = smp.verify_service_metadata(data, trust=pki.trust, at=NOW)
    except smp.SmpError:
        return
    assert _addresses(verified) == {"https://ap.example/as4"}


def test_the_untouched_smp_answer_verifies(pki: Pki, signed_smp: bytes) -> None:
    assert _addresses(smp.verify_service_metadata(signed_smp, trust=pki.trust, at=NOW)) == {"https://ap.example/as4"}


def test_smp_forged_metadata_before_the_signed_one_is_refused(pki: Pki, signed_smp: bytes) -> None:
    forged = etree.fromstring(smp.render_service_metadata(_service_info(pki, "https://evil.example/as4")))
    root = etree.fromstring(signed_smp)
    root.insert(0, forged)
    with pytest.raises(smp.SmpError):
        smp.verify_service_metadata(etree.tostring(root), trust=pki.trust, at=NOW)


def test_smp_signed_document_wrapped_inside_a_forged_one_is_refused(pki: Pki, signed_smp: bytes) -> None:
    """XSW: the verifier finds the (valid) signature deep inside; the reader takes the forged top level."""
    original = etree.fromstring(signed_smp)
    forged_root = etree.Element(f"{{{SMP_NS}}}SignedServiceMetadata", nsmap={"smp": SMP_NS})
    forged = etree.fromstring(smp.render_service_metadata(_service_info(pki, "https://evil.example/as4")))
    forged_root.append(forged)
    holder = etree.SubElement(forged, "{urn:x-wrapper}Extension")
    holder.append(original)
    _refused_or_original(pki, etree.tostring(forged_root))
    # and the signature moved to the top with the original kept as a sibling
    original = etree.fromstring(signed_smp)
    sig = original.find(f"{{{DS}}}Signature")
    forged_root = etree.Element(f"{{{SMP_NS}}}SignedServiceMetadata", nsmap={"smp": SMP_NS})
    forged_root.append(etree.fromstring(smp.render_service_metadata(_service_info(pki, "https://evil.example/as4"))))
    forged_root.append(sig)
    _refused_or_original(pki, etree.tostring(forged_root))


def test_smp_comment_inside_a_signed_value_does_not_truncate_it(pki: Pki, signed_smp: bytes) -> None:
    """C14N drops comments, so the digest still matches; a reader using .text would see only the first half."""
    data = signed_smp.replace(b"https://ap.example/as4", b"https://ap.example<!-- -->/as4", 1)
    assert data != signed_smp
    _refused_or_original(pki, data)


def test_smp_certificate_swapped_in_keyinfo_is_refused(pki: Pki, signed_smp: bytes) -> None:
    other = pki.pki.issue_smp("POP000009")
    root = etree.fromstring(signed_smp)
    x509 = root.find(f".//{{{DS}}}X509Certificate")
    x509.text = base64.b64encode(other.cert.public_bytes(Encoding.DER)).decode()
    with pytest.raises(smp.SmpError):
        smp.verify_service_metadata(etree.tostring(root), trust=pki.trust, at=NOW)


def test_smp_answer_signed_by_an_access_point_certificate_is_untrusted(pki: Pki) -> None:
    """Role confusion: a valid Peppol certificate, but from the AP CA, not the SMP CA."""
    data = smp.sign_service_metadata(smp.render_service_metadata(_service_info(pki, "https://evil.example/as4")),
                                     key=pki.sender.key, certificate=pki.sender.cert)
    with pytest.raises(smp.SmpSignatureError):
        smp.verify_service_metadata(data, trust=pki.trust, at=NOW)


# --- AS4 ---------------------------------------------------------------------------------------------------

def _receiver(pki: Pki) -> as4.Receiver:
    return as4.Receiver(key=pki.receiver.key, cert=pki.receiver.cert, trust=pki.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False))


def _split(out: as4.OutboundMessage) -> tuple[bytes, str, bytes]:
    parts = parse_multipart(out.content_type, out.body)
    return parts[0].body.read(), parts[1].content_id, parts[1].body.read()


def _repack(soap: bytes, cid: str, attachment: bytes) -> tuple[str, bytes]:
    r = render_multipart([
        OutboundPart([("Content-Type", "application/soap+xml")], Blob.from_bytes(soap)),
        OutboundPart([("Content-Type", "application/octet-stream"), ("Content-ID", f"<{cid}>")],
                     Blob.from_bytes(attachment)),
    ])
    return r.content_type, b"".join(r.iter_bytes())


@pytest.fixture(scope="module")
def sealed(pki: Pki) -> as4.OutboundMessage:
    return as4.build_user_message(make_sbd(), key=pki.sender.key, cert=pki.sender.cert,
                                  receiver_cert=pki.receiver.cert, at=NOW)


def test_as4_comment_inside_signed_header_values_does_not_change_them(pki: Pki, sealed: as4.OutboundMessage) -> None:
    """The final recipient 0088:2222222222222 read as 0088:2222 would route the invoice to someone else."""
    soap, cid, attachment = _split(sealed)
    for needle in (b"2222222222222", b"POP000001", b"urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"):
        assert needle in soap
        forged = soap.replace(needle, needle[:4] + b"<!---->" + needle[4:])
        handled = _receiver(pki).handle(*_repack(forged, cid, attachment), at=NOW)
        if handled.document is not None:
            assert handled.document.user_message == sealed.user_message, needle


def test_as4_message_signed_with_an_smp_certificate_is_0101(pki: Pki) -> None:
    out = as4.build_user_message(make_sbd(), key=pki.smp.key, cert=pki.smp.cert, receiver_cert=pki.receiver.cert,
                                 at=NOW)
    handled = _receiver(pki).handle(out.content_type, out.body, at=NOW)
    assert handled.document is None and handled.error.code.code == "EBMS:0101"


def test_as4_body_and_messaging_swapped_into_an_unsigned_place_is_refused(pki: Pki,
                                                                          sealed: as4.OutboundMessage) -> None:
    """Put the signed eb:Messaging into the Body and a forged one in the Header."""
    soap, cid, attachment = _split(sealed)
    root = etree.fromstring(soap)
    header = root.find("{http://www.w3.org/2003/05/soap-envelope}Header")
    body = root.find("{http://www.w3.org/2003/05/soap-envelope}Body")
    signed = header.find(f"{{{EB}}}Messaging")
    forged = etree.fromstring(etree.tostring(signed))
    for el in forged.iter(f"{{{EB}}}ConversationId"):
        el.text = "forged"
    header.replace(signed, forged)
    body.append(signed)
    handled = _receiver(pki).handle(*_repack(etree.tostring(root), cid, attachment), at=NOW)
    assert handled.document is None and handled.error.code.code in {"EBMS:0101", "EBMS:0009", "EBMS:0103"}


def test_as4_attachment_under_another_content_id_is_refused(pki: Pki, sealed: as4.OutboundMessage) -> None:
    """The signed cid: reference must name the part actually read."""
    soap, cid, attachment = _split(sealed)
    r = render_multipart([
        OutboundPart([("Content-Type", "application/soap+xml")], Blob.from_bytes(soap)),
        OutboundPart([("Content-Type", "application/octet-stream"), ("Content-ID", "<decoy@x>")],
                     Blob.from_bytes(b"decoy")),
        OutboundPart([("Content-Type", "application/octet-stream"), ("Content-ID", f"<{cid}>")],
                     Blob.from_bytes(attachment)),
    ])
    handled = _receiver(pki).handle(r.content_type, b"".join(r.iter_bytes()), at=NOW)
    if handled.document is not None:  # an extra unsigned part may be ignored, but never delivered as the document
        assert b"".join(handled.document.sbd.chunks()) == make_sbd()
        assert all(b"decoy" not in b"".join(p.content.chunks()) for p in handled.document.payloads)
    swapped = _repack(soap, "decoy@x", attachment)
    handled = _receiver(pki).handle(*swapped, at=NOW)
    assert handled.document is None and handled.error is not None
