"""Chain validation for Peppol AP and SMP certificates.

Peppol chains are fixed: root -> issuing CA (AP or SMP) -> leaf. We check that
exact shape instead of running general RFC 5280 path building, which would also
accept paths Peppol does not have. Time is an argument (`at`), so tests can pin
it and receivers can check a signature as of the moment it was received.
"""

from __future__ import annotations

import functools
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs.errors import CertificateRejected, RejectReason
from certs.keys import certificate_der, materialise
from dataclasses import dataclass

from certs.revocation import RevocationChecker, RevocationResult
from certs.seat import SeatId, common_name
from certs.trust import Role, TrustStore

__all__ = [
    "CertificateVerifier",
    "VerifiedCertificate",
    "verify_ap_certificate",
    "verify_smp_certificate",
    "verify_certificate",
    "verify_certificate_details",
]

MIN_RSA_BITS = 2048


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _check_validity(cert: x509.Certificate, at: datetime, what: str) -> None:
    if at < cert.not_valid_before_utc:
        raise CertificateRejected(
            RejectReason.NOT_YET_VALID,
            f"{what} {_describe(cert)} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        )
    if at > cert.not_valid_after_utc:
        raise CertificateRejected(
            RejectReason.EXPIRED,
            f"{what} {_describe(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    return _signed_by(cert, issuer)


@functools.lru_cache(maxsize=512)
def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key signed `cert`: a pure function of the two certificates' bytes.

    Remembered because an access point checks the same few certificates on every message (the
    receiver's before a send, the signer of each receipt, each sender's at the receiver), and the
    two public-key verifications per chain were ~3% of a sending node's CPU. Only the signatures
    are remembered: validity dates, revocation and the leaf rules are checked at every call.
    Certificates compare and hash by their DER, so a changed certificate is a new key.
    """
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _check_ca(cert: x509.Certificate, what: str) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise CertificateRejected(RejectReason.UNTRUSTED, f"{what} {_describe(cert)} is not a CA certificate")


def _check_leaf(cert: x509.Certificate, role: Role) -> None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if bc.ca:
            raise CertificateRejected(RejectReason.NOT_A_LEAF, f"{_describe(cert)} is a CA, not an end entity")
    except x509.ExtensionNotFound:
        pass
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CertificateRejected(
            RejectReason.WEAK_KEY, f"{_describe(cert)}: Peppol requires an RSA key of at least {MIN_RSA_BITS} bits"
        )
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    # Every Peppol AP/SMP leaf signs (AS4 messages, receipts, SMP answers).
    if ku is not None and not ku.digital_signature:
        raise CertificateRejected(RejectReason.KEY_USAGE, f"{_describe(cert)}: key usage lacks digitalSignature")
    # An AP certificate is also the one senders encrypt to (RSA-OAEP key transport).
    if role is Role.ACCESS_POINT and ku is not None and not ku.key_encipherment:
        raise CertificateRejected(RejectReason.KEY_USAGE, f"{_describe(cert)}: key usage lacks keyEncipherment")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
        raise CertificateRejected(RejectReason.KEY_USAGE, f"{_describe(cert)}: extended key usage lacks clientAuth")


@dataclass(frozen=True, slots=True)
class VerifiedCertificate:
    """What a successful check established: the seat, the issuing CA, and the revocation answer."""

    seat_id: SeatId
    issuer: x509.Certificate
    revocation: RevocationResult | None


def verify_certificate(
    cert: x509.Certificate,
    role: Role,
    *,
    trust: TrustStore,
    at: datetime,
    revocation: RevocationChecker | None = None,
) -> SeatId:
    """Check `cert` as a Peppol certificate for `role` at time `at`; return its seat id.

    See `verify_certificate_details` for the checks and errors.
    """
    return verify_certificate_details(cert, role, trust=trust, at=at, revocation=revocation).seat_id


def verify_certificate_details(
    cert: x509.Certificate,
    role: Role,
    *,
    trust: TrustStore,
    at: datetime,
    revocation: RevocationChecker | None = None,
) -> VerifiedCertificate:
    """Check `cert` as a Peppol certificate for `role` at time `at`.

    Raises `CertificateRejected` with the first failing check, in an order that
    gives the most useful message: wrong issuer before expiry before revocation.
    With `revocation=None` revocation is not checked (callers must decide that
    consciously, e.g. for historic samples whose CAs no longer answer).
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    try:
        materialise(cert)
    except ValueError as exc:  # materialise turns every parse failure into one
        raise CertificateRejected(RejectReason.MALFORMED, f"the certificate cannot be parsed: {exc}") from None
    what = {Role.ACCESS_POINT: "access point certificate", Role.SMP: "SMP certificate"}[role]

    issuer = next((ca for ca in trust.issuing_cas(role) if _issued_by(cert, ca)), None)
    if issuer is None:
        other = Role.SMP if role is Role.ACCESS_POINT else Role.ACCESS_POINT
        wrong = next((ca for ca in trust.issuing_cas(other) if _issued_by(cert, ca)), None)
        if wrong is not None:
            raise CertificateRejected(
                RejectReason.WRONG_ISSUER,
                f"{what} {_describe(cert)} was issued by {_describe(wrong)}, which issues "
                f"{'SMP' if other is Role.SMP else 'access point'} certificates",
            )
        if any(cert.issuer == ca.subject for ca in trust.issuing_cas(role)):
            raise CertificateRejected(
                RejectReason.BAD_SIGNATURE, f"{what} {_describe(cert)}: the issuer's signature does not verify"
            )
        raise CertificateRejected(
            RejectReason.UNTRUSTED,
            f"{what} {_describe(cert)} was issued by {cert.issuer.rfc4514_string()}, "
            f"which is not a trusted Peppol {'AP' if role is Role.ACCESS_POINT else 'SMP'} CA "
            f"in trust set {trust.name!r}",
        )
    root = next((r for r in trust.roots if _issued_by(issuer, r)), None)
    if root is None:
        raise CertificateRejected(
            RejectReason.UNTRUSTED, f"issuing CA {_describe(issuer)} does not chain to a root of trust set {trust.name!r}"
        )
    _check_ca(issuer, "issuing CA")
    _check_validity(root, at, "root CA")
    _check_validity(issuer, at, "issuing CA")
    _check_validity(cert, at, what)
    _check_leaf(cert, role)
    cn = common_name(cert)
    if cn is None or not SeatId.is_valid(cn):
        raise CertificateRejected(RejectReason.NO_SEAT_ID, f"{what} subject CN {cn!r} is not a Peppol seat id")
    result = revocation.check(cert, issuer, at=at) if revocation is not None else None
    return VerifiedCertificate(SeatId(cn), issuer, result)


def verify_ap_certificate(
    cert: x509.Certificate, *, trust: TrustStore, at: datetime, revocation: RevocationChecker | None = None
) -> SeatId:
    """An access point's certificate (AS4 signing/encryption): issued by an AP CA."""
    return verify_certificate(cert, Role.ACCESS_POINT, trust=trust, at=at, revocation=revocation)


def verify_smp_certificate(
    cert: x509.Certificate, *, trust: TrustStore, at: datetime, revocation: RevocationChecker | None = None
) -> SeatId:
    """An SMP's signing certificate: issued by an SMP CA."""
    return verify_certificate(cert, Role.SMP, trust=trust, at=at, revocation=revocation)


@dataclass(frozen=True, slots=True)
class _CheckedChain:
    seat_id: SeatId
    issuer: x509.Certificate
    #: the window in which the leaf, its issuer and every root the issuer could chain to are valid
    not_before: datetime
    not_after: datetime


class CertificateVerifier:
    """`verify_certificate_details` for one role, remembering each certificate's chain check.

    An access point meets the same few peer certificates on every message (each sender's at the
    receiver; the receiver's before a send and again as the signer of its receipt), and the full
    check re-parses the certificate and its extensions each time: about 7% of a sending node's
    CPU. The chain part (issuer, CA and leaf profile, seat id) is a pure function of the
    certificate, the trust store and `at`, and `at` matters only through validity periods. So a
    successful answer is kept per certificate (keyed on its DER, `certs.keys.certificate_der`) with the window in
    which every certificate involved is valid, and reused only for an `at` inside it and the same
    trust store. Failures are never kept. Revocation is asked at every call (the checker keeps
    its own answers only while they are fresh).
    """

    def __init__(self, role: Role, *, size: int = 1024) -> None:
        self.role = role
        self.size = size
        self._chains: dict[bytes, _CheckedChain] = {}  # by DER
        self._trust: TrustStore | None = None

    def verify(self, cert: x509.Certificate, *, trust: TrustStore, at: datetime,
               revocation: RevocationChecker | None = None) -> SeatId:
        """The seat id of `cert`, or `CertificateRejected` as `verify_certificate` raises it."""
        if self._trust is not trust:
            self._chains, self._trust = {}, trust
        der = certificate_der(cert)
        cached = self._chains.get(der) if at.tzinfo is not None else None
        if cached is not None and cached.not_before <= at <= cached.not_after:
            seat, issuer = cached.seat_id, cached.issuer
        else:
            details = verify_certificate_details(cert, self.role, trust=trust, at=at, revocation=None)
            seat, issuer = details.seat_id, details.issuer
            # every root the issuer could chain to narrows the window: never wider than the full check's
            involved = [cert, issuer, *(r for r in trust.roots if r.subject == issuer.issuer)]
            if len(self._chains) >= self.size:
                self._chains.clear()
            self._chains[der] = _CheckedChain(seat, issuer, max(c.not_valid_before_utc for c in involved),
                                               min(c.not_valid_after_utc for c in involved))
        if revocation is not None:
            revocation.check(cert, issuer, at=at)
        return seat
