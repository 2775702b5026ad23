"""The SMP client: the httpx2 edge around the pure parse/verify/select modules.

The caller owns the `httpx2.AsyncClient` (TLS trust for the SMP's HTTPS
certificate, timeouts, pool). Peppol trust (who may sign SMP answers, which AP
certificates are good) comes in through `SmpPolicy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import httpx2
from cryptography import x509

import certs
from smp.cache import TtlCache
from smp.errors import (
    IdentifierMismatch,
    NoEndpoint,
    NoEndpointReason,
    ParticipantNotFound,
    RedirectError,
    SignatureProblem,
    SmpError,
    SmpLookupError,
    SmpSignatureError,
    SmpUnavailable,
)
from smp.model import TRANSPORT_AS4_V2, Endpoint, ServiceGroup, SignerInfo, VerifiedServiceMetadata
from smp.parse import parse_service_group
from smp.select import select_endpoint, wildcard_candidates
from smp.signature import verify_service_metadata
from smp.urls import service_group_url, service_metadata_url
from ubl import DocumentTypeId, ParticipantId, ProcessId

__all__ = ["SmpPolicy", "SmpClient", "SmpEndpoint",
           "subject_matches_uid"]

#: Peppol SMP 1.x §3.3 / SMPClientReadOnly: follow at most one Redirect.
MAX_REDIRECTS = 1
#: Upper bound on an answer we read; real ones are far below (see smp._xml).
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: peppol-commons CachingSMPClientReadOnly keeps answers 15 minutes.
DEFAULT_CACHE_TTL = 15 * 60.0


_DN_PART = re.compile(r"\s*([A-Za-z0-9.]+)\s*=\s*((?:\\.|[^,+])*)")
_OID_SHORT = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.7": "L", "2.5.4.8": "ST",
              "2.5.4.5": "SERIALNUMBER", "1.2.840.113549.1.9.1": "EMAILADDRESS"}


def _dn_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for m in _DN_PART.finditer(text):
        key = m.group(1).upper()
        key = {"E": "EMAILADDRESS", "SN": "SERIALNUMBER", "S": "ST"}.get(key, key)
        value = re.sub(r"\\(.)", r"\1", m.group(2)).strip()
        pairs.append((key, value))
    return sorted(pairs)


def subject_matches_uid(certificate: x509.Certificate, certificate_uid: str) -> bool:
    """Does the Redirect's CertificateUID name this certificate?

    SMPs write the subject DN in Java's order ("C=NO,O=...,CN=PNO000179"), others
    in RFC 4514 order; compare the attribute sets, not the strings.
    """
    subject = sorted((_OID_SHORT.get(a.oid.dotted_string, a.oid.dotted_string), str(a.value).strip())
                     for a in certificate.subject)
    return bool(subject) and subject == _dn_pairs(certificate_uid)


@dataclass(frozen=True)
class SmpPolicy:
    """What a lookup accepts.

    `trust` holds the SMP CA that must have issued the signer of every answer and
    the AP CA that must have issued the endpoint's certificate. `production`
    allows only https SMP and endpoint URLs (Peppol SMP 1.4, since 2026-02-01).
    """

    trust: certs.TrustStore
    production: bool = True
    transport_profile: str = TRANSPORT_AS4_V2
    cache_ttl: float = DEFAULT_CACHE_TTL
    check_ap_certificate: bool = True
    allow_sha1: bool = False
    revocation: certs.RevocationChecker | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SmpEndpoint:
    """Where to send a document: the outcome of a lookup."""

    participant_id: ParticipantId
    document_type_id: DocumentTypeId  #: the id the receiver registered (may be a wildcard)
    process_id: ProcessId
    endpoint: Endpoint
    smp_url: str
    signer: SignerInfo | None  #: who signed the SMP answer (None for a static endpoint)

    @property
    def address(self) -> str:
        return self.endpoint.address

    @property
    def transport_profile(self) -> str:
        return self.endpoint.transport_profile

    def certificate(self) -> x509.Certificate:
        return self.endpoint.certificate()


@contextlib.contextmanager
def _map_errors(url: str) -> Iterator[None]:
    try:
        yield
    except httpx2.TimeoutException as exc:
        raise SmpUnavailable(f"SMP {url} timed out: {type(exc).__name__}") from exc
    except httpx2.HTTPError as exc:
        raise SmpUnavailable(f"SMP {url} could not be reached: {exc or type(exc).__name__}") from exc


class SmpClient:
    """Reads ServiceGroups and SignedServiceMetadata, verifies them, and picks endpoints."""

    def __init__(self, http: httpx2.AsyncClient, policy: SmpPolicy, *,
                 cache: TtlCache[VerifiedServiceMetadata] | None = None) -> None:
        self.http = http
        self.policy = policy
        self.cache: TtlCache[VerifiedServiceMetadata] = cache if cache is not None else TtlCache(policy.cache_ttl)
        # Finished lookups (selection and AP certificate chain check done), same TTL.
        self.endpoints: TtlCache[SmpEndpoint] = TtlCache(policy.cache_ttl, max_entries=self.cache.max_entries)

    # -- HTTP ----------------------------------------------------------------------------
    def _check_url(self, url: str, what: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("https", "http"):
            raise SmpLookupError(f"{what} {url!r} is not an http(s) URL")
        if self.policy.production and scheme != "https":
            raise SmpLookupError(f"{what} {url} is not https; Peppol SMP 1.4 allows only HTTPS")

    async def _get(self, url: str) -> bytes:
        with _map_errors(url):
            async with self.http.stream("GET", url, headers={"Accept": "application/xml, text/xml"}) as response:
                if response.status_code == 404:
                    raise ParticipantNotFound(f"SMP answered 404 for {url}")
                if response.status_code >= 500:
                    raise SmpUnavailable(f"SMP answered {response.status_code} for {url}")
                if response.status_code != 200:
                    raise SmpLookupError(f"SMP answered {response.status_code} for {url}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise SmpLookupError(f"SMP answer from {url} exceeds {MAX_ANSWER_BYTES} bytes")
                return bytes(body)

    # -- reads -----------------------------------------------------------------------------
    async def lookup_service_group(self, smp_url: str, participant_id: ParticipantId) -> ServiceGroup:
        url = service_group_url(smp_url, participant_id)
        self._check_url(url, "SMP URL")
        group = parse_service_group(await self._get(url))
        if group.participant_id != participant_id:
            raise IdentifierMismatch(f"ServiceGroup from {url} is for {group.participant_id}, not {participant_id}")
        return group

    async def lookup_service_metadata(
        self, smp_url: str, participant_id: ParticipantId, document_type_id: DocumentTypeId, *, at: datetime
    ) -> VerifiedServiceMetadata:
        """The verified ServiceInformation for one document type, following at most one Redirect."""
        url = service_metadata_url(smp_url, participant_id, document_type_id)
        cached = self.cache.get(url)
        if cached is not None:
            return cached
        self._check_url(url, "SMP URL")
        result = await self._fetch_verified(url, at=at)
        redirect = result.metadata.redirect
        if redirect is not None:
            self._check_url(redirect.href, "Redirect")
            target = await self._fetch_verified(redirect.href, at=at)
            if target.metadata.redirect is not None:
                raise RedirectError(f"{redirect.href} redirects again; Peppol allows one redirect")
            if not subject_matches_uid(target.signer.certificate, redirect.certificate_uid):
                raise SmpSignatureError(
                    SignatureProblem.WRONG_SIGNER,
                    f"redirect target {redirect.href} is signed by {target.signer.subject}, "
                    f"but the redirect names {redirect.certificate_uid}",
                )
            result = target
        info = result.metadata.information
        assert info is not None  # a non-redirect ServiceMetadata always carries information
        if info.participant_id != participant_id or info.document_type_id != document_type_id:
            raise IdentifierMismatch(
                f"the SMP answered for {info.participant_id} / {info.document_type_id}, "
                f"not {participant_id} / {document_type_id}"
            )
        self.cache.put(url, result)
        return result

    async def _fetch_verified(self, url: str, *, at: datetime) -> VerifiedServiceMetadata:
        body = await self._get(url)
        verify = functools.partial(verify_service_metadata, body, trust=self.policy.trust, at=at,
                                   revocation=self.policy.revocation, allow_sha1=self.policy.allow_sha1)
        # With revocation on, the check makes blocking OCSP/CRL requests: keep them off the event loop.
        return await asyncio.to_thread(verify) if self.policy.revocation is not None else verify()

    async def lookup_endpoint(
        self,
        smp_url: str,
        participant_id: ParticipantId,
        document_type_id: DocumentTypeId,
        process_id: ProcessId,
        *,
        at: datetime,
    ) -> SmpEndpoint:
        """The endpoint to send `document_type_id`/`process_id` to `participant_id` at `at`.

        Raises ParticipantNotFound, SmpUnavailable, SmpSignatureError,
        IdentifierMismatch, RedirectError, NoEndpoint (reason) - all SmpError.
        """
        key = (smp_url, participant_id, document_type_id, process_id)
        hit = self.endpoints.get(key)
        if hit is not None:
            cert = hit.certificate()
            # Within the TTL only time can change the verdict: dates of the endpoint and of its certificate.
            if hit.endpoint.inactive_reason(at) is None and cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
                return hit
        candidates = wildcard_candidates(document_type_id)
        chosen = document_type_id
        if len(candidates) > 1:
            group = await self.lookup_service_group(smp_url, participant_id)
            registered = set(group.document_type_ids)
            chosen = next((c for c in candidates if c in registered), None)  # type: ignore[assignment]
            if chosen is None:
                raise ParticipantNotFound(f"{participant_id} has registered no document type matching {document_type_id}")
        verified = await self.lookup_service_metadata(smp_url, participant_id, chosen, at=at)
        info = verified.metadata.information
        assert info is not None
        endpoint = select_endpoint(info, process_id=process_id, at=at,
                                   transport_profile=self.policy.transport_profile)
        if self.policy.production and urlsplit(endpoint.address).scheme.lower() != "https":
            raise NoEndpoint(NoEndpointReason.INSECURE_URL, f"endpoint address {endpoint.address} is not https")
        if self.policy.check_ap_certificate:
            check = functools.partial(certs.verify_ap_certificate, endpoint.certificate(), trust=self.policy.trust,
                                      at=at, revocation=self.policy.revocation)
            try:
                await asyncio.to_thread(check) if self.policy.revocation is not None else check()
            except (certs.CertError, SmpError) as exc:
                raise NoEndpoint(NoEndpointReason.BAD_CERTIFICATE,
                                 f"the certificate of endpoint {endpoint.address} is not acceptable: {exc}") from None
        found = SmpEndpoint(participant_id, chosen, process_id, endpoint, smp_url, verified.signer)
        self.endpoints.put(key, found)
        return found
