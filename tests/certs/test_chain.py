"""Chain validation against the real Peppol G3 CAs and our own test PKI."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import certs
from certs import RejectReason

NOW = datetime.now(UTC)


def _bst_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    return [
        x509.load_der_x509_certificate(base64.b64decode(m.group(1)))
        for m in re.finditer(rb"BinarySecurityToken[^>]*>([A-Za-z0-9+/=\s]+)<", data)
    ]


@pytest.fixture(scope="module")
def g3_leaf(testdata: Path) -> x509.Certificate:
    """The G3 test AP certificate phase4 signed a real Peppol message with (2026-01)."""
    leaves = [c for c in _bst_certs(testdata / "phase4/peppol-client/dump-raw.as4out") if "G3" in c.issuer.rfc4514_string()]
    assert len(leaves) == 1
    return leaves[0]


@pytest.fixture(scope="module")
def g2_leaf(testdata: Path) -> x509.Certificate:
    leaves = [c for c in _bst_certs(testdata / "phase4/peppol-client/dump-raw.as4out") if "G2" in c.issuer.rfc4514_string()]
    assert len(leaves) == 1
    return leaves[0]


def test_builtin_sets_are_the_published_g3_cas(testdata: Path) -> None:
    published = {
        certs.load_certificate(p).fingerprint(hashes.SHA256())
        for p in (testdata / "peppol-commons/trustedca/2025").glob("*.pem")
    }
    builtin = set()
    for name in ("production", "test"):
        store = certs.TrustStore.builtin(name)
        builtin |= {c.fingerprint(hashes.SHA256()) for c in (*store.roots, *store.all_issuing_cas())}
        assert len(store.issuing_cas(certs.Role.ACCESS_POINT)) == 1
        assert len(store.issuing_cas(certs.Role.SMP)) == 1
    assert builtin == published


def test_g3_test_ap_certificate_is_accepted(g3_leaf: x509.Certificate) -> None:
    at = datetime(2026, 1, 29, tzinfo=UTC)
    seat = certs.verify_ap_certificate(g3_leaf, trust=certs.TrustStore.builtin("test"), at=at)
    assert seat == certs.SeatId("POP000306")


def test_g3_test_ap_certificate_from_a_second_ap_is_accepted(testdata: Path) -> None:
    (leaf,) = _bst_certs(testdata / "phase4/phase4-test/testfiles/TestReceipt12.xml")
    seat = certs.verify_ap_certificate(leaf, trust=certs.TrustStore.builtin("test"), at=datetime(2025, 12, 5, tzinfo=UTC))
    assert seat.value == "PDE000576"


def test_test_store_files_from_testdata_accept_the_same_leaf(testdata: Path, g3_leaf: x509.Certificate) -> None:
    store = certs.TrustStore.from_pem_files(sorted((testdata / "peppol-commons/derived-pem/ap-test-truststore").glob("*.pem")))
    assert certs.verify_ap_certificate(g3_leaf, trust=store, at=datetime(2026, 1, 29, tzinfo=UTC)).value == "POP000306"


def test_g3_test_certificate_is_not_a_production_certificate(g3_leaf: x509.Certificate) -> None:
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(g3_leaf, trust=certs.TrustStore.builtin("production"), at=datetime(2026, 1, 29, tzinfo=UTC))
    assert exc.value.reason is RejectReason.UNTRUSTED
    assert "PEPPOL ACCESS POINT TEST CA - G3" in str(exc.value)


def test_expired_g3_certificate_is_rejected_with_the_date(g3_leaf: x509.Certificate) -> None:
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(g3_leaf, trust=certs.TrustStore.builtin("test"), at=datetime(2027, 9, 1, tzinfo=UTC))
    assert exc.value.reason is RejectReason.EXPIRED
    assert "expired on 2027-08-29" in str(exc.value)


def test_g2_certificate_is_no_longer_trusted(g2_leaf: x509.Certificate) -> None:
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(g2_leaf, trust=certs.TrustStore.builtin("test"), at=datetime(2026, 1, 29, tzinfo=UTC))
    assert exc.value.reason is RejectReason.UNTRUSTED


def test_expired_g2_certificate_under_the_g2_store(testdata: Path) -> None:
    store = certs.TrustStore.from_pem_files(sorted((testdata / "peppol-commons/derived-pem/pilot-truststore").glob("*.pem")))
    cert = certs.load_certificate(testdata / "peppol-commons/certs/peppol-ap-cert-expired.pem")
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(cert, trust=store, at=NOW)
    assert exc.value.reason is RejectReason.EXPIRED


def test_local_pki_ap_certificate(pki: certs.TestPki) -> None:
    ap = pki.issue_ap("PBE000123")
    assert certs.verify_ap_certificate(ap.cert, trust=pki.trust_store(), at=NOW).value == "PBE000123"
    smp = pki.issue_smp("PBE000123")
    assert certs.verify_smp_certificate(smp.cert, trust=pki.trust_store(), at=NOW).value == "PBE000123"


def test_smp_certificate_is_not_an_ap_certificate(pki: certs.TestPki) -> None:
    smp = pki.issue_smp("PBE000123")
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(smp.cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.WRONG_ISSUER
    assert "SMP" in str(exc.value)
    ap = pki.issue_ap("PBE000123")
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_smp_certificate(ap.cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.WRONG_ISSUER


def test_certificate_of_another_pki_is_untrusted(pki: certs.TestPki, fresh_pki: certs.TestPki) -> None:
    stranger = fresh_pki.issue_ap("PBE000123")
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(stranger.cert, trust=pki.trust_store(), at=NOW)
    # Same CA *name* as ours, different key: the issuer's signature does not verify.
    assert exc.value.reason is RejectReason.BAD_SIGNATURE


def test_certificate_from_an_unknown_ca_name(pki: certs.TestPki, g3_leaf: x509.Certificate) -> None:
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(g3_leaf, trust=pki.trust_store(), at=datetime(2026, 1, 29, tzinfo=UTC))
    assert exc.value.reason is RejectReason.UNTRUSTED


def test_not_yet_valid_and_expired_local_certificates(tmp_path: Path) -> None:
    pki = certs.TestPki.generate(tmp_path / "old-pki", now=NOW - timedelta(days=900))
    future = pki.issue_ap("PBE000123", not_before=NOW + timedelta(days=2))
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(future.cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.NOT_YET_VALID
    old = pki.issue_ap("PBE000123", not_before=NOW - timedelta(days=800), not_after=NOW - timedelta(days=70))
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(old.cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.EXPIRED
    # The injectable clock: the same certificate was fine back then.
    assert certs.verify_ap_certificate(old.cert, trust=pki.trust_store(), at=NOW - timedelta(days=100)).value == "PBE000123"


def test_cn_must_be_a_seat_id(pki: certs.TestPki) -> None:
    odd = pki.issue_ap("not-a-seat", check_seat=False)
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(odd.cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.NO_SEAT_ID


def test_a_ca_certificate_is_not_a_leaf(pki: certs.TestPki) -> None:
    with pytest.raises(certs.CertificateRejected):
        certs.verify_ap_certificate(pki.ap_ca.cert, trust=pki.trust_store(), at=NOW)


def test_naive_time_is_a_programming_error(pki: certs.TestPki) -> None:
    with pytest.raises(ValueError):
        certs.verify_ap_certificate(pki.issue_ap("PBE000123").cert, trust=pki.trust_store(), at=datetime.now())


@pytest.mark.parametrize("value", ["PBE000123", "POP000306", "PXX000001"])
def test_seat_ids(value: str) -> None:
    assert str(certs.SeatId(value)) == value


@pytest.mark.parametrize("value", ["", "pbe000123", "PB000123", "PBE00012", "PBE0001234", "XBE000123", "PBE00012A"])
def test_bad_seat_ids(value: str) -> None:
    with pytest.raises(ValueError):
        certs.SeatId(value)


def test_unknown_builtin_set() -> None:
    with pytest.raises(certs.CertError):
        certs.TrustStore.builtin("staging")


def test_signatures_are_remembered_but_dates_and_other_keys_are_checked_every_time(
        pki: certs.TestPki, fresh_pki: certs.TestPki) -> None:
    from certs.chain import _signed_by

    ap = pki.issue_ap("PBE000124")
    certs.verify_ap_certificate(ap.cert, trust=pki.trust_store(), at=NOW)
    before = _signed_by.cache_info()
    certs.verify_ap_certificate(ap.cert, trust=pki.trust_store(), at=NOW)
    after = _signed_by.cache_info()
    # The second check verifies no signature: both links (leaf <- CA, CA <- root) are remembered.
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 0)
    # The same names under another key are a new cache key, and still refused.
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(fresh_pki.issue_ap("PBE000124").cert, trust=pki.trust_store(), at=NOW)
    assert exc.value.reason is RejectReason.BAD_SIGNATURE
    # A remembered signature does not make an expired certificate valid.
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(ap.cert, trust=pki.trust_store(), at=NOW + timedelta(days=4000))
    assert exc.value.reason is RejectReason.EXPIRED
