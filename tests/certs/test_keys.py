from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

import certs


def test_pem_pair_round_trip(pki: certs.TestPki, tmp_path: Path) -> None:
    key_path, cert_path = pki.issue_ap("PBE000123").write(tmp_path, "ap")
    pair = certs.load_key_pair(key_path, cert_path)
    assert certs.common_name(pair.cert) == "PBE000123"


def test_pkcs12_with_password(pki: certs.TestPki, tmp_path: Path) -> None:
    ap = pki.issue_ap("PBE000123")
    p12 = tmp_path / "ap.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"ap", ap.key, ap.cert, [pki.ap_ca.cert], BestAvailableEncryption(b"s3cret")))
    pair = certs.load_key_pair(p12, password="s3cret")
    assert pair.cert == ap.cert and pair.chain == (pki.ap_ca.cert,)
    with pytest.raises(certs.CertificateLoadError, match="wrong password"):
        certs.load_key_pair(p12, password="nope")


def test_real_peppol_pkcs12(testdata: Path) -> None:
    pair = certs.load_pkcs12(testdata / "phase4/keys/peppol-expired-ap-cert-pw-peppol.p12", "peppol")
    assert certs.common_name(pair.cert) == "POP000306"


def test_mismatched_pair_is_refused(pki: certs.TestPki, tmp_path: Path) -> None:
    key_path, _ = pki.issue_ap("PBE000123").write(tmp_path, "one")
    _, cert_path = pki.issue_ap("PBE000123").write(tmp_path, "two")
    with pytest.raises(certs.CertificateLoadError, match="does not belong"):
        certs.load_key_pair(key_path, cert_path)


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(certs.CertificateLoadError, match="cannot read"):
        certs.load_certificate(tmp_path / "absent.pem")
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(certs.CertificateLoadError):
        certs.load_certificate(tmp_path / "junk.pem")
    with pytest.raises(certs.CertificateLoadError):
        certs.load_private_key(tmp_path / "junk.pem")


def test_testpki_reloads_from_disk(pki: certs.TestPki) -> None:
    again = certs.TestPki.load(pki.directory)
    assert again.root.cert == pki.root.cert and again.revocation_url == pki.revocation_url
    with pytest.raises(certs.CertError):
        certs.TestPki.generate(pki.directory)


def test_leaf_extensions_mirror_g3(pki: certs.TestPki) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert = pki.issue_ap("PBE000123").cert
    assert cert.public_key().key_size == 2048
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and ku.data_encipherment and not ku.key_cert_sign
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "PEPPOL TEST AP"
    tls = pki.issue_tls("localhost", "127.0.0.1").cert
    sans = tls.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]


def test_certificate_der_is_each_certificates_own(pki: certs.TestPki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    one, two = pki.issue_ap("PBE000123").cert, pki.issue_ap("PBE000456").cert
    for _ in range(2):  # the second round is answered from the cache
        assert certs.certificate_der(one) == one.public_bytes(Encoding.DER)
        assert certs.certificate_der(two) == two.public_bytes(Encoding.DER)
    copy = x509.load_der_x509_certificate(certs.certificate_der(one))
    assert certs.same_certificate(one, copy) and certs.same_certificate(one, one)
    assert not certs.same_certificate(one, two)


def test_certificate_der_cache_survives_being_full_and_reused_ids(pki: certs.TestPki) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from certs import keys

    der = pki.issue_ap("PBE000789").cert.public_bytes(Encoding.DER)
    # more short-lived objects than the cache holds: ids are reused once an object is freed, but an
    # entry holds its certificate, so no two live certificates ever share one
    for _ in range(keys._DER_CACHE_SIZE + 10):
        cert = x509.load_der_x509_certificate(der)
        assert certs.certificate_der(cert) == der
    assert len(keys._der_by_id) <= keys._DER_CACHE_SIZE
    other = pki.issue_ap("PBE000790").cert
    assert certs.certificate_der(other) == other.public_bytes(Encoding.DER)
