"""What a local SML stores, and the storage Protocol it needs.

The local SML keeps two kinds of rows: SMPs (who they are, where they answer,
which client certificate owns them) and participants (which SMP serves them,
their DNS label, a pending migration key). `SmlStore` is the Protocol the node
implements on its database (`accesspoint.sml_store`); `MemorySmlStore` serves
tests and throw-away networks.

The Protocol is synchronous, because both implementations are plain blocking
code; the async callers (SOAP app, DNS server) run it in a worker thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

__all__ = ["SmpRecord", "ParticipantRecord", "SmlStore", "MemorySmlStore", "DuplicateRecord"]


@dataclass(frozen=True, slots=True)
class SmpRecord:
    """An SMP registered at the SML.

    `logical_address` is the SMP's base URL (what NAPTR records point to);
    `physical_address` its IP address (BDMSL still asks for it). `owner` is the
    certificate id of the client that created it: only that client may change it.
    """

    smp_id: str
    logical_address: str
    physical_address: str
    owner: str


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    """A participant served by `smp_id`.

    `participant_id` is `scheme::value` (lower-case value), `dns_label` the
    zone-relative NAPTR owner name (`<hash>.<scheme>`), so one store can serve
    any zone.
    """

    participant_id: str
    smp_id: str
    dns_label: str
    migration_key: str | None = None


class DuplicateRecord(Exception):
    """A save_* with `create=True` found the key already present."""


@runtime_checkable
class SmlStore(Protocol):
    """Storage of a local SML. Implementations must be safe to call from several threads."""

    def get_smp(self, smp_id: str) -> SmpRecord | None: ...

    def save_smp(self, record: SmpRecord, *, create: bool) -> None:
        """Insert (create=True; DuplicateRecord if present) or replace the SMP."""

    def delete_smp(self, smp_id: str) -> list[ParticipantRecord]:
        """Delete the SMP and its participants; returns the participants removed."""

    def get_participant(self, participant_id: str) -> ParticipantRecord | None: ...

    def save_participant(self, record: ParticipantRecord, *, create: bool) -> None:
        """Insert (create=True; DuplicateRecord if present) or replace the participant."""

    def delete_participant(self, participant_id: str) -> bool:
        """True if it was there."""

    def list_participants(self, smp_id: str, *, after: str | None, limit: int) -> list[ParticipantRecord]:
        """Participants of `smp_id` ordered by participant_id, those > `after` only."""

    def resolve(self, dns_label: str) -> str | None:
        """The logical address of the SMP serving the participant with this DNS label."""


class MemorySmlStore:
    """An SmlStore in a dict: for tests and short-lived private networks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._smps: dict[str, SmpRecord] = {}
        self._participants: dict[str, ParticipantRecord] = {}
        self._labels: dict[str, str] = {}

    def get_smp(self, smp_id: str) -> SmpRecord | None:
        with self._lock:
            return self._smps.get(smp_id)

    def save_smp(self, record: SmpRecord, *, create: bool) -> None:
        with self._lock:
            if create and record.smp_id in self._smps:
                raise DuplicateRecord(record.smp_id)
            self._smps[record.smp_id] = record

    def delete_smp(self, smp_id: str) -> list[ParticipantRecord]:
        with self._lock:
            self._smps.pop(smp_id, None)
            gone = [p for p in self._participants.values() if p.smp_id == smp_id]
            for p in gone:
                del self._participants[p.participant_id]
                self._labels.pop(p.dns_label, None)
            return sorted(gone, key=lambda p: p.participant_id)

    def get_participant(self, participant_id: str) -> ParticipantRecord | None:
        with self._lock:
            return self._participants.get(participant_id)

    def save_participant(self, record: ParticipantRecord, *, create: bool) -> None:
        with self._lock:
            if record.smp_id not in self._smps:
                raise KeyError(f"no SMP {record.smp_id!r}")
            if create and record.participant_id in self._participants:
                raise DuplicateRecord(record.participant_id)
            old = self._participants.get(record.participant_id)
            if old is not None:
                self._labels.pop(old.dns_label, None)
            self._participants[record.participant_id] = replace(record)
            self._labels[record.dns_label] = record.participant_id

    def delete_participant(self, participant_id: str) -> bool:
        with self._lock:
            old = self._participants.pop(participant_id, None)
            if old is None:
                return False
            self._labels.pop(old.dns_label, None)
            return True

    def list_participants(self, smp_id: str, *, after: str | None, limit: int) -> list[ParticipantRecord]:
        with self._lock:
            rows = sorted(
                (p for p in self._participants.values() if p.smp_id == smp_id and (after is None or p.participant_id > after)),
                key=lambda p: p.participant_id,
            )
            return rows[:limit]

    def resolve(self, dns_label: str) -> str | None:
        with self._lock:
            pid = self._labels.get(dns_label.lower())
            if pid is None:
                return None
            smp = self._smps.get(self._participants[pid].smp_id)
            return smp.logical_address if smp else None
