"""certs.CertificateVerifier remembers chain checks: it must never accept what the full check rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import certs
import certs.chain
from certs import RejectReason, Role

NOW = datetime.now(UTC)


@pytest.fixture
def full_checks(monkeypatch: pytest.MonkeyPatch) -> list[x509.Certificate]:
    """The certificates the full chain check was run on (the real check still runs)."""
    seen: list[x509.Certificate] = []
    real = certs.chain.verify_certificate_details

    def counting(cert, *args, **kwargs):
        seen.append(cert)
        return real(cert, *args, **kwargs)

    monkeypatch.setattr(certs.chain, "verify_certificate_details", counting)
    return seen


def test_the_same_certificate_in_new_bytes_is_checked_once(pki: certs.TestPki, full_checks) -> None:
    ap = pki.issue_ap("PNL000101")
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    trust = pki.trust_store()
    der = ap.cert.public_bytes(serialization.Encoding.DER)
    for _ in range(3):  # a new object per message, as a BinarySecurityToken or an SMP answer gives
        assert verifier.verify(x509.load_der_x509_certificate(der), trust=trust, at=NOW) == certs.SeatId("PNL000101")
    assert len(full_checks) == 1
    other = pki.issue_ap("PNL000102")
    assert verifier.verify(other.cert, trust=trust, at=NOW) == certs.SeatId("PNL000102")
    assert len(full_checks) == 2


def test_outside_the_validity_window_the_full_check_answers(pki: certs.TestPki) -> None:
    ap = pki.issue_ap("PNL000103")
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    trust = pki.trust_store()
    assert verifier.verify(ap.cert, trust=trust, at=NOW) == certs.SeatId("PNL000103")
    for at, reason in ((ap.cert.not_valid_after_utc + timedelta(seconds=1), RejectReason.EXPIRED),
                       (ap.cert.not_valid_before_utc - timedelta(seconds=1), RejectReason.NOT_YET_VALID)):
        with pytest.raises(certs.CertificateRejected) as info:
            verifier.verify(ap.cert, trust=trust, at=at)
        assert info.value.reason is reason


def test_the_window_is_narrowed_by_the_cas_above_the_leaf(fresh_pki: certs.TestPki) -> None:
    """A leaf valid beyond its CAs is refused once they have expired, though the leaf has not."""
    ca_end = fresh_pki.ap_ca.cert.not_valid_after_utc
    ap = fresh_pki.issue_ap("PNL000104", not_after=ca_end + timedelta(days=30))
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    trust = fresh_pki.trust_store()
    assert verifier.verify(ap.cert, trust=trust, at=NOW) == certs.SeatId("PNL000104")
    with pytest.raises(certs.CertificateRejected) as info:
        verifier.verify(ap.cert, trust=trust, at=ca_end + timedelta(seconds=1))
    assert info.value.reason is RejectReason.EXPIRED and " CA " in str(info.value)


def test_a_refusal_is_not_remembered_and_the_role_is_kept(pki: certs.TestPki, full_checks) -> None:
    smp = pki.issue_smp("PNL000105")
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    for _ in range(2):
        with pytest.raises(certs.CertificateRejected) as info:
            verifier.verify(smp.cert, trust=pki.trust_store(), at=NOW)
        assert info.value.reason is RejectReason.WRONG_ISSUER
    assert len(full_checks) == 2
    assert certs.CertificateVerifier(Role.SMP).verify(smp.cert, trust=pki.trust_store(), at=NOW) == certs.SeatId("PNL000105")


def test_another_trust_store_is_checked_afresh(pki: certs.TestPki, tmp_path) -> None:
    ap = pki.issue_ap("PNL000106")
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    assert verifier.verify(ap.cert, trust=pki.trust_store(), at=NOW) == certs.SeatId("PNL000106")
    with pytest.raises(certs.CertificateRejected):  # same CA names, other keys: the signature fails
        verifier.verify(ap.cert, trust=certs.TestPki.generate(tmp_path / "other").trust_store(), at=NOW)


def test_revocation_is_asked_at_every_call(fresh_pki: certs.TestPki) -> None:
    ap = fresh_pki.issue_ap("PNL000107")
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT)
    trust = fresh_pki.trust_store()
    with certs.RevocationServer(fresh_pki):
        assert verifier.verify(ap.cert, trust=trust, at=NOW,
                               revocation=certs.RevocationChecker(soft_fail=False)) == certs.SeatId("PNL000107")
        fresh_pki.revoke(ap.cert)
        with pytest.raises(certs.CertificateRejected) as info:
            verifier.verify(ap.cert, trust=trust, at=NOW, revocation=certs.RevocationChecker(soft_fail=False))
        assert info.value.reason is RejectReason.REVOKED


def test_a_full_cache_starts_again_rather_than_growing(pki: certs.TestPki, full_checks) -> None:
    verifier = certs.CertificateVerifier(Role.ACCESS_POINT, size=2)
    trust = pki.trust_store()
    issued = [pki.issue_ap(f"PNL00011{i}") for i in range(3)]
    for ap in issued:
        verifier.verify(ap.cert, trust=trust, at=NOW)
    verifier.verify(issued[2].cert, trust=trust, at=NOW)  # kept: the newest
    assert len(full_checks) == 3
    verifier.verify(issued[0].cert, trust=trust, at=NOW)  # dropped when the cache was full
    assert len(full_checks) == 4
