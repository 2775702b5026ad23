"""Revocation over real OCSP and CRL HTTP served by the test PKI on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import certs
from certs import RejectReason, RevocationStatus


def now() -> datetime:
    return datetime.now(UTC)


def test_good_certificate_by_ocsp(pki: certs.TestPki, responder: certs.RevocationServer) -> None:
    ap = pki.issue_ap("PBE000001")
    result = certs.RevocationChecker().status(ap.cert, pki.ap_ca.cert, at=now())
    assert (result.status, result.source) == (RevocationStatus.GOOD, "ocsp")


def test_revoked_certificate_by_ocsp_is_rejected(pki: certs.TestPki, responder: certs.RevocationServer) -> None:
    ap = pki.issue_ap("PBE000002")
    trust = pki.trust_store()
    assert certs.verify_ap_certificate(ap.cert, trust=trust, at=now(), revocation=certs.RevocationChecker()).value == "PBE000002"
    pki.revoke(ap.cert)
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(ap.cert, trust=trust, at=now(), revocation=certs.RevocationChecker(soft_fail=True))
    assert exc.value.reason is RejectReason.REVOKED
    assert "OCSP" in str(exc.value)


def test_crl_is_the_fallback_when_ocsp_is_down(fresh_pki: certs.TestPki) -> None:
    ap = fresh_pki.issue_ap("PBE000003")
    fresh_pki.revoke(ap.cert)
    good = fresh_pki.issue_ap("PBE000004")
    with certs.RevocationServer(fresh_pki, ocsp_enabled=False) as server:
        checker = certs.RevocationChecker()
        revoked = checker.status(ap.cert, fresh_pki.ap_ca.cert, at=now())
        fine = checker.status(good.cert, fresh_pki.ap_ca.cert, at=now())
    assert (revoked.status, revoked.source) == (RevocationStatus.REVOKED, "crl")
    assert (fine.status, fine.source) == (RevocationStatus.GOOD, "crl")
    assert "POST /ocsp" in server.requests and "GET /crl/ap-ca.crl" in server.requests


def test_answers_are_cached_until_next_update(fresh_pki: certs.TestPki) -> None:
    ap = fresh_pki.issue_ap("PBE000005")
    with certs.RevocationServer(fresh_pki) as server:
        checker = certs.RevocationChecker()
        first = checker.status(ap.cert, fresh_pki.ap_ca.cert, at=now())
        for _ in range(5):
            assert checker.status(ap.cert, fresh_pki.ap_ca.cert, at=now()).status is RevocationStatus.GOOD
        assert len(server.requests) == 1
        assert first.next_update is not None
        # Past nextUpdate the checker asks again (and the old answer would be stale anyway).
        checker.status(ap.cert, fresh_pki.ap_ca.cert, at=first.next_update + timedelta(seconds=1))
        assert len(server.requests) >= 2


def test_unreachable_responders_soft_and_hard_fail(fresh_pki: certs.TestPki) -> None:
    ap = fresh_pki.issue_ap("PBE000006")  # nothing serves its OCSP/CRL URLs
    trust = fresh_pki.trust_store()
    soft = certs.RevocationChecker(soft_fail=True, timeout=2)
    assert certs.verify_ap_certificate(ap.cert, trust=trust, at=now(), revocation=soft).value == "PBE000006"
    assert soft.status(ap.cert, fresh_pki.ap_ca.cert, at=now()).status is RevocationStatus.UNKNOWN
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(ap.cert, trust=trust, at=now(), revocation=certs.RevocationChecker(timeout=2))
    assert exc.value.reason is RejectReason.REVOCATION_UNKNOWN


def test_an_answer_signed_by_someone_else_is_not_believed(fresh_pki: certs.TestPki, tmp_path) -> None:
    """A responder that is not the issuer (here: another PKI's CA) must not be able to say 'good'."""
    ap = fresh_pki.issue_ap("PBE000007")
    fresh_pki.revoke(ap.cert)
    impostor = certs.TestPki.generate(tmp_path / "impostor")
    forged = impostor.ocsp_response  # signs with the impostor's CA key

    class Forging(certs.RevocationServer):
        pass

    server = Forging(fresh_pki, crl_enabled=False)
    server.pki = type("P", (), {"ocsp_response": staticmethod(forged), "ca_named": fresh_pki.ca_named,
                                "crl": fresh_pki.crl, "revocation_url": fresh_pki.revocation_url})()
    with server:
        result = certs.RevocationChecker().status(ap.cert, fresh_pki.ap_ca.cert, at=now())
    assert result.status is RevocationStatus.UNKNOWN
    assert "OCSP" in result.detail


def test_revoking_a_foreign_certificate_is_refused(fresh_pki: certs.TestPki, pki: certs.TestPki) -> None:
    with pytest.raises(certs.CertError):
        fresh_pki.revoke(pki.issue_ap("PBE000008").cert)
