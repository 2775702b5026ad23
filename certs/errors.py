"""Errors of the certs package.

    CertError
    ├── CertificateLoadError      a key or certificate file could not be read
    └── CertificateRejected       a certificate is not acceptable; `.reason` says why

Callers branch on `CertificateRejected.reason` (an enum), never on the text: the
AS4 receiver maps any rejection to EBMS:0101, `peppol-node check` prints the text.
"""

from __future__ import annotations

import enum

__all__ = ["CertError", "CertificateLoadError", "CertificateRejected", "RejectReason"]


class CertError(Exception):
    """Base class of every error raised by `certs`."""


class CertificateLoadError(CertError):
    """A key, certificate or PKCS#12 file is unreadable, corrupt or has the wrong password."""


class RejectReason(enum.Enum):
    MALFORMED = "malformed certificate"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    UNTRUSTED = "not issued by a trusted CA"
    WRONG_ISSUER = "issued by a CA for another role"
    BAD_SIGNATURE = "signature does not verify"
    NOT_A_LEAF = "not an end-entity certificate"
    KEY_USAGE = "key usage does not allow this use"
    WEAK_KEY = "key too weak"
    NO_SEAT_ID = "subject CN is not a Peppol seat id"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation status could not be determined"


class CertificateRejected(CertError):
    """The certificate failed a check; `reason` is the machine-readable cause."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
