"""Finding a receiver's endpoint: `EndpointResolver` and its two implementations.

`SmpResolver` is the Peppol way: SML (DNS NAPTR) names the receiver's SMP, the
SMP names the endpoint. `StaticResolver` is a fixed address and certificate, for
a private network or a test peer (phase4's IAS4EndpointDetailProvider split).

smp does not query DNS itself (that is sml's job); `SmpResolver` takes a
`locate_smp(participant_id) -> smp_url` coroutine function, which the
composition root wires to `sml`'s NAPTR lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from cryptography import x509

from smp.cache import TtlCache
from smp.client import SmpClient, SmpEndpoint
from smp.model import TRANSPORT_AS4_V2, Endpoint
from ubl import DocumentTypeId, ParticipantId, ProcessId

__all__ = ["EndpointResolver", "SmpResolver", "StaticResolver", "SmpLocator"]

SmpLocator = Callable[[ParticipantId], Awaitable[str]]


@runtime_checkable
class EndpointResolver(Protocol):
    async def resolve(
        self, participant_id: ParticipantId, document_type_id: DocumentTypeId, process_id: ProcessId, *, at: datetime
    ) -> SmpEndpoint:
        """The endpoint to deliver to; raises an SmpError (or the locator's SmlError) when there is none."""
        ...


class SmpResolver:
    """SML -> SMP -> endpoint, with the SML answer cached like the SMP's."""

    def __init__(self, locate_smp: SmpLocator, client: SmpClient, *, sml_cache_ttl: float | None = None) -> None:
        self.locate_smp = locate_smp
        self.client = client
        ttl = client.policy.cache_ttl if sml_cache_ttl is None else sml_cache_ttl
        self._smp_urls: TtlCache[str] = TtlCache(ttl)

    async def smp_url(self, participant_id: ParticipantId) -> str:
        url = self._smp_urls.get(participant_id)
        if url is None:
            url = await self.locate_smp(participant_id)
            self._smp_urls.put(participant_id, url)
        return url

    async def resolve(
        self, participant_id: ParticipantId, document_type_id: DocumentTypeId, process_id: ProcessId, *, at: datetime
    ) -> SmpEndpoint:
        smp_url = await self.smp_url(participant_id)
        return await self.client.lookup_endpoint(smp_url, participant_id, document_type_id, process_id, at=at)

    def clear_cache(self) -> None:
        self._smp_urls.clear()
        self.client.cache.clear()
        self.client.endpoints.clear()


class StaticResolver:
    """Every participant is served by one fixed endpoint (no SML, no SMP)."""

    def __init__(self, address: str, certificate: x509.Certificate, *,
                 transport_profile: str = TRANSPORT_AS4_V2) -> None:
        self.endpoint = Endpoint.with_certificate(transport_profile, address, certificate)

    async def resolve(
        self, participant_id: ParticipantId, document_type_id: DocumentTypeId, process_id: ProcessId, *, at: datetime
    ) -> SmpEndpoint:
        return SmpEndpoint(participant_id, document_type_id, process_id, self.endpoint, "", None)
