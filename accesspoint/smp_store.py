"""Our SMP's storage in the node's database, and its link to the SML.

`DbSmpStore` implements `smp.SmpStore` over the `smp_participant` /
`smp_service` tables (accesspoint/db/tables/smp.py). `SmlRegistration`
implements `smp.SmlRegistrar` with an `sml.SmlClient`, turning SML faults into
the SMP errors the SMP app answers with (the protocol packages do not import
each other's errors; this composition root translates).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import sml
import smp
from accesspoint.db.tables.smp import SmpParticipant, SmpService
from ubl import DocumentTypeId, ParticipantId

__all__ = ["DbSmpStore", "SmlRegistration"]


class DbSmpStore:
    """smp.SmpStore on SQLAlchemy (SQLite or PostgreSQL); each call is one transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_participant(self, participant_id: ParticipantId) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(SmpParticipant).values(participant_id=str(participant_id)))
        except IntegrityError:
            return False
        return True

    def remove_participant(self, participant_id: ParticipantId) -> bool:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(SmpService).where(SmpService.participant_id == str(participant_id)))
            gone = conn.execute(sa.delete(SmpParticipant).where(SmpParticipant.participant_id == str(participant_id)))
            return gone.rowcount > 0

    def has_participant(self, participant_id: ParticipantId) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(SmpParticipant.participant_id)
                               .where(SmpParticipant.participant_id == str(participant_id))).first()
            return row is not None

    def list_participants(self) -> list[ParticipantId]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SmpParticipant.participant_id).order_by(SmpParticipant.participant_id))
            return [ParticipantId.parse(r[0]) for r in rows]

    def put_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId, xml: bytes) -> bool:
        key = (str(participant_id), str(document_type_id))
        with self.engine.begin() as conn:
            if not conn.execute(sa.select(SmpParticipant.participant_id)
                                .where(SmpParticipant.participant_id == key[0])).first():
                raise KeyError(key[0])
            updated = conn.execute(sa.update(SmpService)
                                   .where(SmpService.participant_id == key[0], SmpService.document_type_id == key[1])
                                   .values(xml=bytes(xml)))
            if updated.rowcount:
                return False
            conn.execute(sa.insert(SmpService).values(participant_id=key[0], document_type_id=key[1], xml=bytes(xml)))
            return True

    def get_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(SmpService.xml).where(
                SmpService.participant_id == str(participant_id),
                SmpService.document_type_id == str(document_type_id))).first()
            return bytes(row[0]) if row else None

    def delete_service(self, participant_id: ParticipantId, document_type_id: DocumentTypeId) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(sa.delete(SmpService).where(
                SmpService.participant_id == str(participant_id),
                SmpService.document_type_id == str(document_type_id)))
            return gone.rowcount > 0

    def list_services(self, participant_id: ParticipantId) -> list[DocumentTypeId]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(SmpService.document_type_id)
                                .where(SmpService.participant_id == str(participant_id))
                                .order_by(SmpService.document_type_id))
            return [DocumentTypeId.parse(r[0]) for r in rows]


class SmlRegistration:
    """Publish our participants at the SML through the SMP's own SmlClient (mutual TLS)."""

    def __init__(self, client: sml.SmlClient) -> None:
        self.client = client

    async def register(self, participant_id: ParticipantId) -> None:
        try:
            await self.client.create_participant(participant_id)
        except sml.BadRequestFault as exc:  # e.g. [ERR-106] already registered (maybe by another SMP)
            raise smp.SmpRequestRejected(409, f"the SML refused {participant_id}: {exc}") from exc
        except sml.SmlError as exc:
            raise smp.SmpError(f"the SML could not register {participant_id}: {exc}") from exc

    async def unregister(self, participant_id: ParticipantId) -> None:
        try:
            await self.client.delete_participant(participant_id)
        except sml.NotFoundFault:
            return  # already gone at the SML: the goal is reached
        except sml.SmlError as exc:
            raise smp.SmpError(f"the SML could not remove {participant_id}: {exc}") from exc
