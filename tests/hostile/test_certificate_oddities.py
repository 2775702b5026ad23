"""Certificates that cryptography parses but rejects with its own exceptions, not ValueError.

A version other than v1/v3 raises `x509.InvalidVersion` on load; an extension present twice raises
`x509.DuplicateExtension`, lazily, when `.extensions` is first read. Neither is a ValueError, so code
that catches ValueError alone let such a certificate (from a BinarySecurityToken, an SMP answer or a
file) escape as a crash. The hypothesis suite finds them at random; these are the two fixed cases,
built by editing the DER of a real test certificate.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import as4
import certs
import smp
from tests.as4.conftest import make_sbd
from tests.hostile.conftest import Pki


def _tlv(data: bytes, pos: int) -> tuple[int, int]:
    """(start of the body, its length) of the DER element at `pos`."""
    length, header = data[pos + 1], 2
    if length & 0x80:
        n = length & 0x7F
        length, header = int.from_bytes(data[pos + 2:pos + 2 + n], "big"), 2 + n
    return pos + header, length


def _element(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + body


def _children(data: bytes, pos: int) -> list[bytes]:
    start, length = _tlv(data, pos)
    out, at = [], start
    while at < start + length:
        body, n = _tlv(data, at)
        out.append(data[at:body + n])
        at = body + n
    return out


def duplicate_first_extension(der: bytes) -> bytes:
    """The certificate with its first extension repeated (the CA signature no longer matches, on purpose)."""
    cert = _children(der, 0)
    tbs = _children(cert[0], 0)
    assert tbs[-1][0] == 0xA3  # [3] extensions
    extensions = _children(_children(tbs[-1], 0)[0], 0)
    new_extensions = _element(0xA3, _element(0x30, b"".join([*extensions, extensions[0]])))
    return _element(0x30, b"".join([_element(0x30, b"".join([*tbs[:-1], new_extensions])), *cert[1:]]))


def bad_version(der: bytes) -> bytes:
    v3 = b"\xa0\x03\x02\x01\x02"
    assert v3 in der
    return der.replace(v3, b"\xa0\x03\x02\x01\x07", 1)


@pytest.fixture(scope="module")
def der(pki: Pki) -> bytes:
    return pki.sender.cert.public_bytes(Encoding.DER)


def test_the_edited_certificates_raise_cryptographys_own_exceptions(der: bytes) -> None:
    """The premise: if cryptography ever turns these into ValueError, the tests below still hold."""
    with pytest.raises(x509.DuplicateExtension):
        list(x509.load_der_x509_certificate(duplicate_first_extension(der)).extensions)
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(bad_version(der))


@pytest.mark.parametrize("edit", [duplicate_first_extension, bad_version])
def test_the_loaders_raise_a_cert_error(der: bytes, edit) -> None:
    blob = edit(der)
    with pytest.raises(certs.CertificateLoadError):
        certs.load_certificate(blob)
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(blob) + b"-----END CERTIFICATE-----\n"
    with pytest.raises(certs.CertificateLoadError):
        certs.load_certificates(pem)


def test_a_duplicate_extension_is_a_malformed_certificate_for_the_chain_check(pki: Pki, der: bytes) -> None:
    cert = x509.load_der_x509_certificate(duplicate_first_extension(der))
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(cert, trust=pki.trust, at=datetime.now(UTC))
    assert exc.value.reason is certs.RejectReason.MALFORMED


@pytest.mark.parametrize("edit", [duplicate_first_extension, bad_version])
def test_an_as4_message_whose_token_holds_such_a_certificate_is_ebms_0101(pki: Pki, der: bytes, edit) -> None:
    now = datetime.now(UTC)
    out = as4.build_user_message(make_sbd(), key=pki.sender.key, cert=pki.sender.cert,
                                 receiver_cert=pki.receiver.cert, at=now)
    token = base64.b64encode(der)
    assert token in out.body
    body = out.body.replace(token, base64.b64encode(edit(der)))
    receiver = as4.Receiver(key=pki.receiver.key, cert=pki.receiver.cert, trust=pki.trust,
                            policy=as4.ReceiverPolicy(check_revocation=False))
    handled = receiver.handle(out.content_type, body, at=now)
    assert handled.error is not None and handled.error.code is as4.EbmsError.FAILED_AUTHENTICATION
    assert "no readable certificate" in handled.error.detail


def test_an_smp_endpoint_certificate_of_a_bad_version_is_an_smp_parse_error(der: bytes) -> None:
    """(A duplicate extension loads, lazily: the chain check above then calls it malformed.)"""
    endpoint = smp.Endpoint(transport_profile=smp.TRANSPORT_AS4_V2, address="https://ap.example/as4",
                            certificate_der=bad_version(der))
    with pytest.raises(smp.SmpParseError):
        endpoint.certificate()
