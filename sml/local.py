"""A local SML: the BDMSL management rules, independent of SOAP and storage.

An SMP is identified by the client certificate it connects with (its
`owner` string, see `certificate_owner`); an SMP may only read or change its
own SMP record and participants (BDMSL [ERR-101]). Each operation raises an
`SmlFault` subclass whose text starts with a BDMSL-style code, which the SOAP
app sends back as the fault of that name.

When a `ZonePublisher` is given (an RFC 2136 server), participant changes are
pushed to DNS as well; the embedded `DnsServer` reads the store directly.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from ubl import ParticipantId

from .errors import BadRequestFault, DnsUpdateFailed, InternalErrorFault, NotFoundFault, UnauthorizedFault
from .names import Zone, naptr_name
from .store import DuplicateRecord, ParticipantRecord, SmlStore, SmpRecord

__all__ = [
    "LocalSml",
    "ZonePublisher",
    "ParticipantPage",
    "certificate_owner",
    "dns_label",
    "check_migration_key",
    "new_migration_key",
    "PAGE_SIZE",
]

T = TypeVar("T")

# BDMSL pages List answers; it uses 100 as its default page size.
PAGE_SIZE = 100
# peppol-commons CSMLDefault.MIGRATION_CODE_PATTERN: 8..24 characters, at least two
# upper-case letters, two lower-case letters, two digits and two special characters.
_SPECIALS = "@#$%()[]{}*^_-!~|+="
_MIGRATION_KEY_RE = re.compile(
    r"(?=(?:.*[0-9]){2})(?=(?:.*[a-z]){2})(?=(?:.*[A-Z]){2})"
    r"(?=(?:.*[" + re.escape(_SPECIALS) + r"]){2})[" + re.escape(_SPECIALS) + r"A-Za-z0-9]{8,24}"
)
_SMP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class ZonePublisher(Protocol):
    """Somewhere NAPTR records are pushed to (an RFC 2136 server); labels are zone-relative."""

    async def publish(self, dns_label: str, smp_url: str) -> None: ...

    async def withdraw(self, dns_label: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ParticipantPage:
    participants: tuple[ParticipantId, ...]
    smp_id: str
    next_page: str | None


def certificate_owner(cert: x509.Certificate) -> str:
    """The identity of an SMP's client certificate, as BDMSL keeps it: `subject:serial`.

    A renewed certificate is a new owner (BDMSL's PrepareChangeCertificate covers that).
    """
    return f"{cert.subject.rfc4514_string()}:{cert.serial_number:x}"


def dns_label(participant: ParticipantId) -> str:
    """The zone-relative owner name of a participant's NAPTR record: `<hash>.<scheme>`."""
    return naptr_name(participant, "invalid")[: -len(".invalid")]


def check_migration_key(key: str) -> None:
    """BadRequestFault unless `key` has the strength the SML demands."""
    if not isinstance(key, str) or not _MIGRATION_KEY_RE.fullmatch(key):
        raise BadRequestFault(
            "[ERR-106] The migration key must be 8 to 24 characters with at least 2 upper-case letters, "
            f"2 lower-case letters, 2 digits and 2 of {_SPECIALS}"
        )


def new_migration_key() -> str:
    """A random key that passes `check_migration_key` (for PrepareToMigrate)."""
    rng = secrets.SystemRandom()
    chars = (
        [rng.choice(string.ascii_uppercase) for _ in range(3)]
        + [rng.choice(string.ascii_lowercase) for _ in range(5)]
        + [rng.choice(string.digits) for _ in range(4)]
        + [rng.choice(_SPECIALS) for _ in range(2)]
    )
    rng.shuffle(chars)
    return "".join(chars)


def _check_smp_fields(smp_id: str, logical_address: str, physical_address: str) -> None:
    if not _SMP_ID_RE.fullmatch(smp_id or ""):
        raise BadRequestFault(f"[ERR-106] Invalid SMP id {smp_id!r}")
    parts = urlsplit(logical_address or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or "!" in logical_address:
        raise BadRequestFault(f"[ERR-106] Invalid logical address {logical_address!r}: an http(s) URL is required")
    try:
        ipaddress.ip_address(physical_address)
    except ValueError:
        raise BadRequestFault(f"[ERR-106] Invalid physical address {physical_address!r}: an IP address is required") from None


class LocalSml:
    """The SML management operations over an `SmlStore` (ManageServiceMetadata and
    ManageParticipantIdentifier); every method takes the caller's certificate owner id."""

    def __init__(self, store: SmlStore, zone: Zone, *, publisher: ZonePublisher | None = None) -> None:
        self.store = store
        self.zone = zone
        self.publisher = publisher
        # One writer at a time: check-then-write sequences must not interleave.
        self._lock = asyncio.Lock()

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _owned_smp(self, owner: str, smp_id: str) -> SmpRecord:
        smp = await self._run(self.store.get_smp, smp_id)
        if smp is None:
            raise NotFoundFault(f"[ERR-100] The SMP '{smp_id}' does not exist")
        if smp.owner != owner:
            raise UnauthorizedFault(f"[ERR-101] The certificate is not the owner of the SMP '{smp_id}'")
        return smp

    async def _owned_participant(self, owner: str, smp_id: str, participant: ParticipantId) -> ParticipantRecord:
        await self._owned_smp(owner, smp_id)
        row = await self._run(self.store.get_participant, str(participant))
        if row is None:
            raise NotFoundFault(f"[ERR-100] The participant identifier '{participant}' does not exist")
        if row.smp_id != smp_id:
            raise UnauthorizedFault(
                f"[ERR-101] The participant identifier '{participant}' is not managed by the SMP '{smp_id}'"
            )
        return row

    async def _all_participants(self, smp_id: str) -> list[ParticipantRecord]:
        rows: list[ParticipantRecord] = []
        while True:
            page = await self._run(
                self.store.list_participants, smp_id, after=rows[-1].participant_id if rows else None, limit=PAGE_SIZE
            )
            rows.extend(page)
            if len(page) < PAGE_SIZE:
                return rows

    async def _publish(self, label: str, url: str) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.publish(label, url)
        except DnsUpdateFailed as exc:
            raise InternalErrorFault(f"[ERR-105] The DNS update failed, try again later: {exc}") from exc

    async def _withdraw(self, label: str) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.withdraw(label)
        except DnsUpdateFailed as exc:
            raise InternalErrorFault(f"[ERR-105] The DNS update failed, try again later: {exc}") from exc

    # -- ManageServiceMetadata -------------------------------------------------

    async def create_smp(self, owner: str, smp_id: str, logical_address: str, physical_address: str) -> SmpRecord:
        _check_smp_fields(smp_id, logical_address, physical_address)
        record = SmpRecord(smp_id, logical_address, physical_address, owner)
        async with self._lock:
            try:
                await self._run(self.store.save_smp, record, create=True)
            except DuplicateRecord:
                raise BadRequestFault(f"[ERR-106] The SMP '{smp_id}' already exists") from None
        return record

    async def read_smp(self, owner: str, smp_id: str) -> SmpRecord:
        return await self._owned_smp(owner, smp_id)

    async def update_smp(self, owner: str, smp_id: str, logical_address: str, physical_address: str) -> SmpRecord:
        """Change the SMP's addresses; with a publisher, every participant's NAPTR follows.

        If DNS refuses part way, the old record is put back (and re-published, as far
        as DNS lets us) and InternalErrorFault tells the SMP to try again.
        """
        _check_smp_fields(smp_id, logical_address, physical_address)
        async with self._lock:
            old = await self._owned_smp(owner, smp_id)
            record = SmpRecord(smp_id, logical_address, physical_address, owner)
            await self._run(self.store.save_smp, record, create=False)
            if self.publisher is None or old.logical_address == logical_address:
                return record
            labels = [row.dns_label for row in await self._all_participants(smp_id)]
            try:
                for label in labels:
                    await self._publish(label, logical_address)
            except InternalErrorFault:
                await self._run(self.store.save_smp, old, create=False)
                for label in labels:
                    try:
                        await self._publish(label, old.logical_address)
                    except InternalErrorFault:
                        break
                raise
        return record

    async def delete_smp(self, owner: str, smp_id: str) -> None:
        """Remove the SMP and all its participants (from DNS first, so a failure can be retried)."""
        async with self._lock:
            await self._owned_smp(owner, smp_id)
            if self.publisher is not None:
                for row in await self._all_participants(smp_id):
                    await self._withdraw(row.dns_label)
            await self._run(self.store.delete_smp, smp_id)

    # -- ManageParticipantIdentifier -------------------------------------------

    async def create_participant(self, owner: str, smp_id: str, participant: ParticipantId) -> None:
        async with self._lock:
            smp = await self._owned_smp(owner, smp_id)
            record = ParticipantRecord(str(participant), smp_id, dns_label(participant))
            try:
                await self._run(self.store.save_participant, record, create=True)
            except DuplicateRecord:
                raise BadRequestFault(f"[ERR-106] The participant identifier '{participant}' already exists") from None
            try:
                await self._publish(record.dns_label, smp.logical_address)
            except InternalErrorFault:
                await self._run(self.store.delete_participant, record.participant_id)
                raise

    async def delete_participant(self, owner: str, smp_id: str, participant: ParticipantId) -> None:
        async with self._lock:
            row = await self._owned_participant(owner, smp_id, participant)
            await self._withdraw(row.dns_label)
            await self._run(self.store.delete_participant, str(participant))

    async def list_participants(self, owner: str, smp_id: str, next_page: str | None = None) -> ParticipantPage:
        await self._owned_smp(owner, smp_id)
        rows = await self._run(self.store.list_participants, smp_id, after=next_page or None, limit=PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return ParticipantPage(
            tuple(ParticipantId.parse(r.participant_id) for r in rows),
            smp_id,
            rows[-1].participant_id if more else None,
        )

    async def prepare_to_migrate(self, owner: str, smp_id: str, participant: ParticipantId, key: str) -> None:
        """The current SMP hands a one-time key to the participant's new SMP (out of band)."""
        check_migration_key(key)
        async with self._lock:
            row = await self._owned_participant(owner, smp_id, participant)
            await self._run(
                self.store.save_participant,
                ParticipantRecord(row.participant_id, row.smp_id, row.dns_label, key),
                create=False,
            )

    async def migrate(self, owner: str, smp_id: str, participant: ParticipantId, key: str) -> None:
        """The new SMP takes the participant over with the key the old SMP prepared."""
        async with self._lock:
            smp = await self._owned_smp(owner, smp_id)
            row = await self._run(self.store.get_participant, str(participant))
            if row is None:
                raise NotFoundFault(f"[ERR-100] The participant identifier '{participant}' does not exist")
            if row.migration_key is None or not secrets.compare_digest(row.migration_key.encode(), (key or "").encode()):
                raise NotFoundFault(
                    f"[ERR-100] No migration of '{participant}' was prepared with this migration key"
                )
            await self._publish(row.dns_label, smp.logical_address)
            await self._run(
                self.store.save_participant,
                ParticipantRecord(row.participant_id, smp_id, row.dns_label, None),
                create=False,
            )
