"""Choosing how a document travels (product.md W8.2): internal, then Peppol, then email.

    (a) internal: a candidate receiver id belongs to an organisation on this node that receives;
    (b) Peppol:   for each candidate id in order, an SML -> SMP lookup for the document type
                  and process; the first endpoint found is used;
    (c) email:    nothing found; the address the user gave, or `needs_email` until they give one.

The network side is behind `EndpointDirectory`, a Protocol the composition root
fills with the smp package's resolver (or a fixed directory in tests of the
outbox alone). A lookup that could not be *answered* (DNS SERVFAIL, SMP down)
raises `LookupUnavailable`: the attempt is retried later rather than falling
through to email, because "we could not ask" is not "not on Peppol".
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import ubl
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier

__all__ = [
    "Channel",
    "PeppolEndpoint",
    "EndpointDirectory",
    "LookupUnavailable",
    "Route",
    "Router",
    "AS4_TRANSPORT_PROFILE",
    "InternalHolders",
]

#: (scheme, value) of a participant id -> the id of the organisation on this node that receives on it.
InternalHolders = Mapping[tuple[str, str], int]

#: The only active Peppol transport profile (code list v9.7; protocol.md §1.1).
AS4_TRANSPORT_PROFILE = "peppol-transport-as4-v2_0"


class Channel(enum.Enum):
    INTERNAL = "internal"
    PEPPOL = "peppol"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class PeppolEndpoint:
    """Where and to whom an AS4 message goes, as the receiver's SMP published it."""

    url: str
    #: The receiving AP's certificate (DER), used to encrypt and to check its receipt.
    certificate: bytes
    transport_profile: str = AS4_TRANSPORT_PROFILE


class LookupUnavailable(Exception):
    """The SML/SMP could not be asked (technical failure); retry later."""


class EndpointDirectory(Protocol):
    async def find_endpoint(
        self, participant_id: ubl.ParticipantId, document_type_id: ubl.DocumentTypeId, process_id: ubl.ProcessId
    ) -> PeppolEndpoint | None:
        """The AS4 endpoint of `participant_id` for this document type and process.

        None when the participant is not registered or does not accept the document
        type (a definite answer); raises `LookupUnavailable` when no answer was had.
        """
        ...


@dataclass(frozen=True, slots=True)
class Route:
    channel: Channel
    #: The receiver id the route was found for (None for email).
    participant_id: str | None = None
    #: AS4 endpoint (Peppol), email address (email).
    endpoint: str | None = None
    certificate: bytes | None = None
    #: The receiving organisation (internal).
    organisation_id: int | None = None


class Router:
    """Applies W8.2 to a document's candidate ids; read-only, so preflight uses it as it is."""

    def __init__(self, sessions: sessionmaker[Session], directory: EndpointDirectory | None) -> None:
        self.sessions = sessions
        self.directory = directory

    def find_internal(self, candidates: Sequence[ubl.ParticipantId]) -> tuple[ubl.ParticipantId, int] | None:
        """The first candidate held by an organisation on this node with receiving switched on."""
        if not candidates:
            return None
        with self.sessions() as session:
            return self.pick_internal(candidates, self.holders(session, candidates))

    @staticmethod
    def holders(session: Session, candidates: Iterable[ubl.ParticipantId]) -> InternalHolders:
        """Which of `candidates` organisations on this node hold and receive on, in one query.

        A delivery worker asks this once for a whole claimed batch, in the claim's own transaction,
        instead of one session and thread hop per document (issue 14).
        """
        values = sorted({c.value for c in candidates})
        if not values:
            return {}
        rows = session.execute(
            sa.select(OrganisationIdentifier.scheme, OrganisationIdentifier.value, Organisation.id)
            .join(Organisation, Organisation.id == OrganisationIdentifier.organisation_id)
            .where(Organisation.peppol_receive.is_(True), Organisation.status == "active")
            .where(OrganisationIdentifier.value.in_(values))
        ).all()
        return {(scheme, value): org for scheme, value, org in rows}

    @staticmethod
    def pick_internal(candidates: Sequence[ubl.ParticipantId],
                      held: InternalHolders) -> tuple[ubl.ParticipantId, int] | None:
        """The first candidate in `held` (W8.2 (a) keeps the candidates' order)."""
        for candidate in candidates:
            org = held.get((candidate.scheme, candidate.value))
            if org is not None:
                return candidate, org
        return None

    async def choose(
        self,
        candidates: Sequence[ubl.ParticipantId],
        document_type_id: ubl.DocumentTypeId,
        process_id: ubl.ProcessId,
        *,
        email: str | None,
        allow_internal: bool = True,
        allow_email: bool = True,
        held: InternalHolders | None = None,
    ) -> Route | None:
        """The route to use, or None when only an email address (not yet given) could help.

        Raises `LookupUnavailable` when some Peppol lookup could not be answered and no
        earlier candidate had a route. `held`, when given, is what `holders` answered for these
        candidates (a worker asks for its whole batch at once); without it the database is asked.
        """
        if allow_internal:
            if held is not None:
                internal = self.pick_internal(candidates, held)
            else:
                # a database query: off the event loop, which also serves HTTP in `serve`
                internal = await asyncio.to_thread(self.find_internal, candidates)
            if internal is not None:
                pid, org = internal
                return Route(Channel.INTERNAL, participant_id=str(pid), organisation_id=org)
        unavailable: LookupUnavailable | None = None
        if self.directory is not None:
            for candidate in candidates:
                try:
                    endpoint = await self.directory.find_endpoint(candidate, document_type_id, process_id)
                except LookupUnavailable as exc:
                    # A later candidate may still answer; but never fall back to email
                    # past a lookup we could not make.
                    unavailable = unavailable or exc
                    continue
                if endpoint is not None:
                    return Route(Channel.PEPPOL, participant_id=str(candidate), endpoint=endpoint.url,
                                 certificate=endpoint.certificate)
        if unavailable is not None:
            raise unavailable
        if allow_email and email:
            return Route(Channel.EMAIL, endpoint=email)
        return None
