"""SMP REST paths (Peppol SMP 1.x §3.1): the whole `scheme::value` percent-encoded."""

from __future__ import annotations

from urllib.parse import quote

from ubl import DocumentTypeId, ParticipantId

__all__ = ["service_group_url", "service_metadata_url"]


def service_group_url(smp_url: str, participant_id: ParticipantId) -> str:
    """`{smp}/{urlenc(scheme::value)}` (`:` -> %3A)."""
    return f"{smp_url.rstrip('/')}/{quote(str(participant_id), safe='')}"


def service_metadata_url(smp_url: str, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> str:
    """`{smp}/{pid}/services/{urlenc(doctype)}` (`#` -> %23, `:` -> %3A)."""
    return f"{service_group_url(smp_url, participant_id)}/services/{quote(str(document_type_id), safe='')}"
