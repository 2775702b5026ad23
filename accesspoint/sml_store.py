"""The local SML's storage on the node's database (the `sml.SmlStore` Protocol).

Plain blocking SQLAlchemy Core on the node's engine; the sml package calls it
from worker threads. Tables: `accesspoint.db.tables.sml`.
"""

from __future__ import annotations

import sqlalchemy as sa

from accesspoint.db.tables.sml import SmlParticipant, SmlSmp
from sml.store import DuplicateRecord, ParticipantRecord, SmpRecord

__all__ = ["DbSmlStore"]

_smp = SmlSmp.__table__
_participant = SmlParticipant.__table__


def _smp_record(row: sa.Row) -> SmpRecord:
    return SmpRecord(row.smp_id, row.logical_address, row.physical_address, row.owner)


def _participant_record(row: sa.Row) -> ParticipantRecord:
    return ParticipantRecord(row.participant_id, row.smp_id, row.dns_label, row.migration_key)


class DbSmlStore:
    """An `sml.SmlStore` on `engine` (SQLite or PostgreSQL, schema migrated)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def get_smp(self, smp_id: str) -> SmpRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_smp).where(_smp.c.smp_id == smp_id)).first()
        return _smp_record(row) if row else None

    def save_smp(self, record: SmpRecord, *, create: bool) -> None:
        values = {
            "logical_address": record.logical_address,
            "physical_address": record.physical_address,
            "owner": record.owner,
        }
        try:
            with self.engine.begin() as conn:
                if create:
                    conn.execute(sa.insert(_smp).values(smp_id=record.smp_id, **values))
                    return
                done = conn.execute(sa.update(_smp).where(_smp.c.smp_id == record.smp_id).values(**values))
                if done.rowcount == 0:
                    conn.execute(sa.insert(_smp).values(smp_id=record.smp_id, **values))
        except sa.exc.IntegrityError as exc:
            raise DuplicateRecord(record.smp_id) from exc

    def delete_smp(self, smp_id: str) -> list[ParticipantRecord]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(_participant).where(_participant.c.smp_id == smp_id).order_by(_participant.c.participant_id)
            ).all()
            # Explicit, not only ON DELETE CASCADE: SQLite enforces it only with foreign_keys=ON.
            conn.execute(sa.delete(_participant).where(_participant.c.smp_id == smp_id))
            conn.execute(sa.delete(_smp).where(_smp.c.smp_id == smp_id))
        return [_participant_record(r) for r in rows]

    def get_participant(self, participant_id: str) -> ParticipantRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(_participant).where(_participant.c.participant_id == participant_id)).first()
        return _participant_record(row) if row else None

    def save_participant(self, record: ParticipantRecord, *, create: bool) -> None:
        values = {"smp_id": record.smp_id, "dns_label": record.dns_label, "migration_key": record.migration_key}
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(_participant.c.participant_id).where(_participant.c.participant_id == record.participant_id)
            ).first()
            if exists and create:
                raise DuplicateRecord(record.participant_id)
            if exists:
                conn.execute(
                    sa.update(_participant).where(_participant.c.participant_id == record.participant_id).values(**values)
                )
                return
            if conn.execute(sa.select(_smp.c.smp_id).where(_smp.c.smp_id == record.smp_id)).first() is None:
                raise KeyError(f"no SMP {record.smp_id!r}")
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(_participant).values(participant_id=record.participant_id, **values))
        except sa.exc.IntegrityError as exc:  # a concurrent insert won
            raise DuplicateRecord(record.participant_id) from exc

    def delete_participant(self, participant_id: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(_participant).where(_participant.c.participant_id == participant_id))
        return done.rowcount > 0

    def list_participants(self, smp_id: str, *, after: str | None, limit: int) -> list[ParticipantRecord]:
        query = sa.select(_participant).where(_participant.c.smp_id == smp_id)
        if after is not None:
            query = query.where(_participant.c.participant_id > after)
        query = query.order_by(_participant.c.participant_id).limit(limit)
        with self.engine.connect() as conn:
            return [_participant_record(r) for r in conn.execute(query)]

    def resolve(self, dns_label: str) -> str | None:
        query = (
            sa.select(_smp.c.logical_address)
            .join(_participant, _participant.c.smp_id == _smp.c.smp_id)
            .where(_participant.c.dns_label == dns_label.lower())
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()
