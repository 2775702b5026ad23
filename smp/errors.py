"""Errors of the smp package.

    SmpError
    ├── SmpParseError          an answer that is not a well-formed Peppol SMP 1.x document
    ├── SmpSignatureError      signature missing, broken, or signer not trusted (`.reason`)
    ├── SmpLookupError         the SMP could not give an answer
    │   ├── ParticipantNotFound    404 for the participant or document type: permanent
    │   ├── SmpUnavailable         transport failure, timeout, 5xx: retryable
    │   ├── RedirectError          a Redirect that cannot be followed
    │   └── IdentifierMismatch     the answer is about another participant or document type
    ├── NoEndpoint             an answer, but no endpoint usable for this process/profile/time (`.reason`)
    └── SmpRequestRejected     server side: a write request that cannot be applied (`.status`)

Every public function of smp raises only these (a caller's bug stays a
ValueError/TypeError), so the composition root maps one base class.
"""

from __future__ import annotations

import enum

__all__ = [
    "SmpError",
    "SmpParseError",
    "SmpSignatureError",
    "SignatureProblem",
    "SmpLookupError",
    "ParticipantNotFound",
    "SmpUnavailable",
    "RedirectError",
    "IdentifierMismatch",
    "NoEndpoint",
    "NoEndpointReason",
    "SmpRequestRejected",
]


class SmpError(Exception):
    """Base class of every error raised by `smp`."""


class SmpParseError(SmpError):
    """Not XML, a DOCTYPE, the wrong root, or a required element missing."""


class SignatureProblem(enum.Enum):
    MISSING = "missing"  #: no ds:Signature (an SMP answer must be signed, Peppol SMP 1.x §3.3)
    MALFORMED = "malformed"  #: more than one signature, wrong place, no certificate, bad base64
    ALGORITHM = "algorithm"  #: an algorithm we do not accept
    INVALID = "invalid"  #: digest or signature value does not verify
    UNTRUSTED = "untrusted"  #: the signer does not chain to a trusted SMP CA (at the given time)
    WRONG_SIGNER = "wrong-signer"  #: redirect target signed by another SMP than CertificateUID names


class SmpSignatureError(SmpError):
    def __init__(self, reason: SignatureProblem, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class SmpLookupError(SmpError):
    """The SMP could not be asked or did not answer usefully."""


class ParticipantNotFound(SmpLookupError):
    """The SMP does not know the participant or has no metadata for the document type (HTTP 404)."""


class SmpUnavailable(SmpLookupError):
    """Network failure, timeout or server error: worth retrying later."""


class RedirectError(SmpLookupError):
    """A second redirect, or a redirect to an address we may not use."""


class IdentifierMismatch(SmpLookupError):
    """The SMP answered about another participant/document type than we asked (Peppol SMP 1.x: must match)."""


class NoEndpointReason(enum.Enum):
    NO_PROCESS = "no-process"  #: the document type is registered, but not for this process
    NO_TRANSPORT = "no-transport"  #: the process has no endpoint with the wanted transport profile
    NOT_YET_ACTIVE = "not-yet-active"  #: ServiceActivationDate is in the future
    EXPIRED = "expired"  #: ServiceExpirationDate has passed
    INVALID_DATES = "invalid-dates"  #: expiration before activation
    BAD_CERTIFICATE = "bad-certificate"  #: the endpoint certificate is unreadable or untrusted
    INSECURE_URL = "insecure-url"  #: the endpoint address is not https (production)


class NoEndpoint(SmpError):
    def __init__(self, reason: NoEndpointReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class SmpRequestRejected(SmpError):
    """A write API request that cannot be applied; `status` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
