"""What our SMP server stores, as a Protocol; the database implementation lives in accesspoint.

Service metadata is kept as the unsigned smp:ServiceMetadata XML that was PUT
(after checking it), and signed when served: the signing key can then change
without rewriting stored rows, and what we serve is byte-for-byte what the
owner registered.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from ubl import DocumentTypeId, ParticipantId

__all__ = ["SmpStore", "InMemorySmpStore"]


@runtime_checkable
class SmpStore(Protocol):
    """Blocking storage calls (the server runs them in a thread pool)."""

    def add_participant(self, participant_id: ParticipantId) -> bool:
        """Create the ServiceGroup; False when it existed already."""
        ...

    def remove_participant(self, participant_id: ParticipantId) -> bool:
        """Remove it and all its service metadata; False when it did not exist."""
        ...

    def has_participant(self, participant_id: ParticipantId) -> bool: ...

    def list_participants(self) -> list[ParticipantId]: ...

    def put_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId, xml: bytes) -> bool:
        """Store (create or replace) service metadata; True when created. The participant must exist."""
        ...

    def get_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bytes | None: ...

    def delete_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bool: ...

    def list_services(self, participant_id: ParticipantId) -> list[DocumentTypeId]: ...


class InMemorySmpStore:
    """For tests and a throw-away local network; a lock makes it safe across the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[ParticipantId, dict[DocumentTypeId, bytes]] = {}

    def add_participant(self, participant_id: ParticipantId) -> bool:
        with self._lock:
            if participant_id in self._groups:
                return False
            self._groups[participant_id] = {}
            return True

    def remove_participant(self, participant_id: ParticipantId) -> bool:
        with self._lock:
            return self._groups.pop(participant_id, None) is not None

    def has_participant(self, participant_id: ParticipantId) -> bool:
        with self._lock:
            return participant_id in self._groups

    def list_participants(self) -> list[ParticipantId]:
        with self._lock:
            return sorted(self._groups, key=str)

    def put_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId, xml: bytes) -> bool:
        with self._lock:
            services = self._groups.get(participant_id)
            if services is None:
                raise KeyError(str(participant_id))
            created = document_type_id not in services
            services[document_type_id] = bytes(xml)
            return created

    def get_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bytes | None:
        with self._lock:
            return self._groups.get(participant_id, {}).get(document_type_id)

    def delete_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bool:
        with self._lock:
            return self._groups.get(participant_id, {}).pop(document_type_id, None) is not None

    def list_services(self, participant_id: ParticipantId) -> list[DocumentTypeId]:
        with self._lock:
            return sorted(self._groups.get(participant_id, {}), key=str)
