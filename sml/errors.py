"""Errors of the sml package.

    SmlError                      base of everything this package raises
    ├── InvalidParticipant        (also ValueError) the id cannot be turned into a DNS name
    ├── LookupFailed              a DNS lookup of a participant did not give an SMP URL
    │   ├── ParticipantNotRegistered   NXDOMAIN / NODATA: permanent, do not retry
    │   ├── NoMatchingSmpService       records exist, none is a usable U / Meta:SMP NAPTR
    │   └── DnsFailure                 SERVFAIL, timeout, refused: retryable
    ├── SmlFault                  a fault of the SML management API (sent or received)
    │   ├── BadRequestFault
    │   ├── NotFoundFault
    │   ├── UnauthorizedFault
    │   └── InternalErrorFault
    ├── SmlTransportError         the SML could not be reached or answered garbage
    └── DnsUpdateFailed           an RFC 2136 update was refused or failed

The three lookup outcomes mirror peppol-commons' SMPDNSResolutionException codes
(PARTICIPANT_NOT_REGISTERED / NO_MATCHING_SMP_SERVICE / DNS_TECHNICAL_FAILURE):
a sender gives up on the first, and retries the last later.
"""

from __future__ import annotations

__all__ = [
    "SmlError",
    "InvalidParticipant",
    "LookupFailed",
    "ParticipantNotRegistered",
    "NoMatchingSmpService",
    "DnsFailure",
    "SmlFault",
    "BadRequestFault",
    "NotFoundFault",
    "UnauthorizedFault",
    "InternalErrorFault",
    "SmlTransportError",
    "DnsUpdateFailed",
]


class SmlError(Exception):
    """Base of every error raised by the sml package."""


class InvalidParticipant(SmlError, ValueError):
    """The participant id cannot be mapped to a DNS name (e.g. it has no scheme)."""


class LookupFailed(SmlError):
    """A participant's SMP could not be found in DNS; `.name` is the queried name."""

    retryable = False

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class ParticipantNotRegistered(LookupFailed):
    """NXDOMAIN or NODATA for the participant's name: it is not in the SML (permanent)."""


class NoMatchingSmpService(LookupFailed):
    """NAPTR records exist but none has flag U, service Meta:SMP and a usable regexp."""


class DnsFailure(LookupFailed):
    """SERVFAIL, REFUSED, timeout or an unreachable resolver: try again later."""

    retryable = True


class SmlFault(SmlError):
    """A SOAP fault of the SML management API.

    `.fault` is the BDMSL fault element name (e.g. "BadRequestFault"), and the
    message is the fault text, which BDMSL starts with its code, e.g.
    "[ERR-106] The participant identifier ... already exists".
    """

    fault = "InternalErrorFault"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str | None:
        """The BDMSL error code at the start of the text ("ERR-106"), if any."""
        text = self.message.lstrip()
        if text.startswith("[") and "]" in text:
            return text[1 : text.index("]")]
        return None

    @staticmethod
    def of(fault: str, message: str) -> SmlFault:
        """The subclass for a fault element name; unknown names become InternalErrorFault."""
        cls = _FAULTS.get(fault, InternalErrorFault)
        return cls(message)


class BadRequestFault(SmlFault):
    fault = "BadRequestFault"


class NotFoundFault(SmlFault):
    fault = "NotFoundFault"


class UnauthorizedFault(SmlFault):
    fault = "UnauthorizedFault"


class InternalErrorFault(SmlFault):
    fault = "InternalErrorFault"


_FAULTS: dict[str, type[SmlFault]] = {
    cls.fault: cls for cls in (BadRequestFault, NotFoundFault, UnauthorizedFault, InternalErrorFault)
}


class SmlTransportError(SmlError):
    """The SML was unreachable, the TLS handshake failed, or the answer was not SOAP."""


class DnsUpdateFailed(SmlError):
    """A dynamic update (RFC 2136) was refused (e.g. bad TSIG, NOTAUTH) or not answered."""
