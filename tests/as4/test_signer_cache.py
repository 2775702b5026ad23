"""Receiver.verify_signer keeps successful chain checks: the cache must never accept what the full check rejects."""

from __future__ import annotations

from datetime import timedelta

import pytest

import as4
import certs
from tests.as4.conftest import make_sbd


def receiver_for(aps, **kw):
    return as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False), **kw)


def test_cached_chain_is_not_used_outside_the_validity_period(aps, now):
    rx = receiver_for(aps)
    cert = aps.sender.cert
    assert rx.verify_signer(cert, now) == "POP000001"
    assert rx.verify_signer(cert, now + timedelta(minutes=5)) == "POP000001"  # from the cache
    for at, reason in ((cert.not_valid_after_utc + timedelta(seconds=1), certs.RejectReason.EXPIRED),
                       (cert.not_valid_before_utc - timedelta(seconds=1), certs.RejectReason.NOT_YET_VALID)):
        with pytest.raises(certs.CertificateRejected) as info:
            rx.verify_signer(cert, at)
        assert info.value.reason is reason


def test_a_message_accepted_once_is_refused_after_the_signer_expired(aps, now):
    rx = receiver_for(aps)
    out = as4.build_user_message(make_sbd("cache-1"), key=aps.sender.key, cert=aps.sender.cert,
                                 receiver_cert=aps.receiver.cert, at=now)
    assert rx.handle(out.content_type, out.body, at=now).error is None
    late = aps.sender.cert.not_valid_after_utc + timedelta(days=1)
    handled = rx.handle(out.content_type, out.body, at=late)
    assert handled.error is not None and handled.error.code is as4.EbmsError.FAILED_AUTHENTICATION


def test_revocation_is_asked_even_when_the_chain_is_cached(now, tmp_path):
    pki = certs.TestPki.generate(tmp_path / "pki")
    me, peer = pki.issue_ap("POP000010"), pki.issue_ap("POP000011")
    with certs.RevocationServer(pki):
        rx = as4.Receiver(key=me.key, cert=me.cert, trust=pki.trust_store(),
                          revocation=certs.RevocationChecker(soft_fail=False))
        assert rx.verify_signer(peer.cert, now) == "POP000011"
        pki.revoke(peer.cert)
        rx.revocation = certs.RevocationChecker(soft_fail=False)  # a checker without yesterday's answer
        with pytest.raises(certs.CertificateRejected) as info:
            rx.verify_signer(peer.cert, now)
        assert info.value.reason is certs.RejectReason.REVOKED


def test_another_trust_store_is_checked_afresh(aps, now, tmp_path):
    rx = receiver_for(aps)
    assert rx.verify_signer(aps.sender.cert, now) == "POP000001"
    rx.trust = certs.TestPki.generate(tmp_path / "other").trust_store()
    with pytest.raises(certs.CertificateRejected):
        rx.verify_signer(aps.sender.cert, now)
