"""Writing the W4 ledger: one row per document sent or received, in the transaction that records it.

Who pays is the organisation's payer *at that moment* (`Organisation.payer`),
copied onto the row with the environment it resolves to, so a later change of
payer (an authorisation request accepted or revoked) applies from then on.

Only business documents count: MLS are the network's own messages, and a
document the inbox rejected (fatal rules) was never received for anyone. A
document is one transaction however many attempts its delivery took; an
outbound one is charged when it first leaves (sent, or delivered directly),
and `document_public_id` is unique so nothing is ever counted twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.db.tables.organisations import Organisation

__all__ = ["INSERT_LEDGER", "ledger_row", "record", "record_many"]

#: Built once: the inbox's hot path executes it with a parameter dict (SQL Core, no ORM object).
#: `inline()`: no `RETURNING id` (nothing reads a ledger row's id), one result set less per row.
INSERT_LEDGER = LedgerEntry.__table__.insert().inline()
_PAYER = (sa.select(Organisation.__table__.c.environment_id, Organisation.__table__.c.payer)
          .where(Organisation.__table__.c.id == sa.bindparam("id")))


def ledger_row(*, at: datetime, organisation_id: int, organisation_environment_id: int, payer: str,
               direction: str, channel: str, document_public_id: str) -> dict[str, object]:
    """The parameters of one ledger insert, the payer resolved to the environment that pays."""
    return {"at": at, "organisation_id": organisation_id, "direction": direction, "channel": channel,
            "document_public_id": document_public_id, "payer": payer,
            "payer_environment_id": shares.payer_environment(
                payer, organisation_environment_id=organisation_environment_id)}


def record(session: Session, *, at: datetime, organisation_id: int, direction: str, channel: str,
           document_public_id: str) -> None:
    """Record one transaction of `organisation_id` with its payer now (one lookup, one insert)."""
    record_many(session, [{"at": at, "organisation_id": organisation_id, "direction": direction,
                           "channel": channel, "document_public_id": document_public_id}])


def record_many(session: Session, records: list[dict[str, object]]) -> None:
    """`record` for several transactions at once (keyword arguments as dicts): each organisation's
    payer read once, one insert for all."""
    if not records:
        return
    conn = session.connection()
    orgs = {organisation_id: conn.execute(_PAYER, {"id": organisation_id}).one()
            for organisation_id in {r["organisation_id"] for r in records}}
    conn.execute(INSERT_LEDGER, [ledger_row(
        **r, organisation_environment_id=orgs[r["organisation_id"]].environment_id,  # type: ignore[arg-type]
        payer=orgs[r["organisation_id"]].payer) for r in records])
