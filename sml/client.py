"""The SML management client: an SMP registers itself and its participants.

BDMSL SOAP 1.1 over mutual TLS with the SMP certificate (protocol.md §6). The
caller owns the httpx2 client (TLS, timeouts, pool); `mtls_context` builds the
SSL context from the SMP key and certificate:

    ctx = mtls_context(cert="smp.cert.pem", key="smp.key.pem", ca="sml-tls-ca.pem")
    async with httpx2.AsyncClient(verify=ctx) as http:
        sml = SmlClient(Zone.TEST.management_url, "MYSMP", http=http)
        await sml.create_participant(ParticipantId.parse("0088:123abc"))

Faults come back as `SmlFault` subclasses carrying BDMSL's text ("[ERR-106] ...");
an unreachable SML or a non-SOAP answer is `SmlTransportError`.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx2

from ubl import ParticipantId

from .errors import SmlTransportError
from .local import check_migration_key, new_migration_key
from .names import participant_key
from .soap import (
    CONTENT_TYPE,
    Operation,
    ParticipantList,
    SmlRequest,
    SmpInfo,
    build_request,
    parse_response,
)

__all__ = ["SmlClient", "mtls_context", "SmpInfo"]

# A participant list is paged by the SML; stop following pages after this many.
_MAX_PAGES = 10_000


def mtls_context(
    *, cert: str | Path, key: str | Path, ca: str | Path | None = None, password: bytes | None = None
) -> ssl.SSLContext:
    """A client SSL context presenting the SMP certificate; `ca` overrides the system trust."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key), password=password)
    return ctx


class SmlClient:
    """ManageServiceMetadata and ManageParticipantIdentifier for the SMP `smp_id`."""

    def __init__(self, base_url: str, smp_id: str, *, http: httpx2.AsyncClient) -> None:
        if not base_url:
            raise ValueError("the SML management URL is required")
        self.base_url = base_url.rstrip("/")
        self.smp_id = smp_id
        self.http = http

    async def _call(self, request: SmlRequest) -> SmpInfo | ParticipantList | None:
        op = request.operation
        url = f"{self.base_url}/{op.service}"
        headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": f'"{op.soap_action}"'}
        try:
            response = await self.http.post(url, content=build_request(request), headers=headers)
        except httpx2.HTTPError as exc:
            raise SmlTransportError(f"SML {url} unreachable: {exc!r}") from exc
        if response.status_code not in (200, 500) or "xml" not in response.headers.get("content-type", ""):
            raise SmlTransportError(f"SML {url} answered HTTP {response.status_code} without a SOAP body")
        # parse_response raises the SmlFault of a 500 answer.
        result = parse_response(op, response.content)
        if response.status_code == 500:
            raise SmlTransportError(f"SML {url} answered HTTP 500 without a fault")
        return result

    # -- ManageServiceMetadata -------------------------------------------------

    async def create_smp(self, logical_address: str, physical_address: str) -> None:
        """Register this SMP: `logical_address` is its base URL, the one NAPTR records will carry."""
        await self._call(SmlRequest(Operation.CREATE_SMP, self.smp_id, logical_address, physical_address))

    async def read_smp(self) -> SmpInfo:
        result = await self._call(SmlRequest(Operation.READ_SMP, self.smp_id))
        assert isinstance(result, SmpInfo)
        return result

    async def update_smp(self, logical_address: str, physical_address: str) -> None:
        await self._call(SmlRequest(Operation.UPDATE_SMP, self.smp_id, logical_address, physical_address))

    async def delete_smp(self) -> None:
        """Deregister this SMP and, at the SML, every participant it serves."""
        await self._call(SmlRequest(Operation.DELETE_SMP, self.smp_id))

    # -- ManageParticipantIdentifier -------------------------------------------

    async def create_participant(self, participant: ParticipantId | str) -> None:
        await self._call(
            SmlRequest(Operation.CREATE_PARTICIPANT, self.smp_id, participant=participant_key(participant))
        )

    async def delete_participant(self, participant: ParticipantId | str) -> None:
        await self._call(
            SmlRequest(Operation.DELETE_PARTICIPANT, self.smp_id, participant=participant_key(participant))
        )

    async def list_participants(self) -> list[ParticipantId]:
        """Every participant of this SMP, following the SML's pages."""
        found: list[ParticipantId] = []
        next_page: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self._call(SmlRequest(Operation.LIST_PARTICIPANTS, self.smp_id, next_page=next_page))
            assert isinstance(page, ParticipantList)
            found.extend(page.participants)
            if not page.next_page or page.next_page == next_page:
                return found
            next_page = page.next_page
        raise SmlTransportError("SML participant list does not end")

    async def prepare_to_migrate(self, participant: ParticipantId | str, migration_key: str | None = None) -> str:
        """Allow another SMP to take `participant` over; returns the key to hand to it."""
        key = migration_key or new_migration_key()
        check_migration_key(key)
        await self._call(
            SmlRequest(
                Operation.PREPARE_TO_MIGRATE, self.smp_id, participant=participant_key(participant), migration_key=key
            )
        )
        return key

    async def migrate(self, participant: ParticipantId | str, migration_key: str) -> None:
        """Take `participant` over from its current SMP with the key that SMP prepared."""
        await self._call(
            SmlRequest(Operation.MIGRATE, self.smp_id, participant=participant_key(participant), migration_key=migration_key)
        )
