"""Reading the W4 ledger: the intermediary's *Paid by* view and an organisation's own transactions.

Rows are written by delivery (`accesspoint.delivery.ledger`) with the payer of
the moment; these views only count them. Months are calendar months in UTC.

- *Paid by* (for the environment that pays): per month, per organisation charged
  to it, how many documents were sent and received. It lists what the environment
  paid for, also after an authorisation was revoked (those rows stay its cost),
  and only for the roles that choose who pays (advanced, admin: W3.1).
- An organisation's transactions (for its members): each document sent or
  received, when, by which channel, and who paid for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.documents import Document
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.db.tables.organisations import Environment, Organisation

from . import orgs

__all__ = ["MonthCount", "PaidByMonth", "TransactionView", "paid_by", "transactions", "month_counts", "payer_name",
           "parse_month"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[datetime, datetime] | None:
    """'YYYY-MM' as [start, end) in UTC; None for an empty text; InvalidInput for anything else."""
    if not text:
        return None
    m = _MONTH.match(text.strip())
    if m is None:
        raise shares.InvalidInput("Give the month as YYYY-MM, e.g. 2026-12.")
    year, month = int(m.group(1)), int(m.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _month_of(column: sa.ColumnElement[datetime], dialect: str) -> sa.ColumnElement[str]:
    """'YYYY-MM' of a UTC timestamp, in SQL (SQLite stores UTC text; PostgreSQL a timestamptz)."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.strftime("%Y-%m", column)


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: str
    organisation_id: int
    organisation_name: str
    #: ours | client, seen from the viewer's environment
    relation: str
    sent: int
    received: int

    def as_json(self) -> dict[str, object]:
        return {"organisation_id": self.organisation_id, "name": self.organisation_name,
                "relation": self.relation, "sent": self.sent, "received": self.received}


@dataclass(frozen=True, slots=True)
class PaidByMonth:
    month: str
    rows: tuple[MonthCount, ...]

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.rows)

    @property
    def received(self) -> int:
        return sum(r.received for r in self.rows)

    def as_json(self) -> dict[str, object]:
        return {"month": self.month, "sent": self.sent, "received": self.received,
                "organisations": [r.as_json() for r in self.rows]}


def paid_by(db: Session, user: User, *, month: str = "") -> list[PaidByMonth]:
    """What `user`'s environment pays for, newest month first (W4 *Paid by*). NotAllowed for basic users."""
    if not shares.may_view_paid_by(user.environment_role):
        raise shares.NotAllowed("Only advanced users and admins see what the environment pays for.")
    span = parse_month(month)
    le = LedgerEntry.__table__.c
    month_col = _month_of(le.at, db.get_bind().dialect.name).label("month")
    query = (sa.select(month_col, le.organisation_id, le.direction, sa.func.count().label("n"))
             .where(le.payer_environment_id == user.environment_id)
             .group_by(month_col, le.organisation_id, le.direction))
    if span is not None:
        query = query.where(le.at >= span[0], le.at < span[1])
    counts: dict[tuple[str, int], dict[str, int]] = {}
    for row in db.execute(query):
        counts.setdefault((row.month, row.organisation_id), {"in": 0, "out": 0})[row.direction] = row.n
    names = {o.id: o for o in db.scalars(sa.select(Organisation).where(
        Organisation.id.in_({org for _, org in counts})))} if counts else {}
    months: dict[str, list[MonthCount]] = {}
    for (m, org_id), c in counts.items():
        org = names[org_id]
        rel = orgs.relation(org, user).value
        months.setdefault(m, []).append(MonthCount(m, org_id, org.name, rel, c["out"], c["in"]))
    return [PaidByMonth(m, tuple(sorted(rows, key=lambda r: (r.relation != "client", r.organisation_name.lower()))))
            for m, rows in sorted(months.items(), reverse=True)]


@dataclass(frozen=True, slots=True)
class TransactionView:
    at: datetime
    direction: str
    channel: str
    document_id: str
    #: The document's number, while the document exists.
    number: str
    #: "own" or "intermediary:<id>", as it was then
    payer: str
    #: The name of the environment that paid.
    paid_by: str

    def as_json(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "direction": "sent" if self.direction == "out" else "received",
                "channel": self.channel, "document_id": self.document_id, "number": self.number,
                "payer": "intermediary" if self.payer != shares.OWN_PAYER else "own", "paid_by": self.paid_by}


def transactions(db: Session, user: User, organisation_id: int, *, month: str = "",
                 limit: int = 500) -> list[TransactionView]:
    """The organisation's own transactions, newest first, for its members (SEC-12)."""
    orgs.require_member(db, user, organisation_id)
    span = parse_month(month)
    query = (sa.select(LedgerEntry, Document.number, Environment.name)
             .outerjoin(Document, Document.public_id == LedgerEntry.document_public_id)
             .join(Environment, Environment.id == LedgerEntry.payer_environment_id)
             .where(LedgerEntry.organisation_id == organisation_id)
             .order_by(LedgerEntry.at.desc(), LedgerEntry.id.desc()).limit(limit))
    if span is not None:
        query = query.where(LedgerEntry.at >= span[0], LedgerEntry.at < span[1])
    return [TransactionView(e.at, e.direction, e.channel, e.document_public_id, number or "", e.payer, env_name)
            for e, number, env_name in db.execute(query)]


def payer_name(db: Session, org: Organisation) -> str:
    """The name of the environment that pays for `org`'s transactions from now on."""
    env = db.get(Environment, shares.payer_environment(org.payer, organisation_environment_id=org.environment_id))
    return env.name if env is not None else ""


def month_counts(rows: list[TransactionView]) -> list[tuple[str, int, int, tuple[str, ...]]]:
    """(month, sent, received, who paid) per month of `rows`, newest first: the client's summary."""
    out: dict[str, list] = {}
    for t in rows:
        m = t.at.strftime("%Y-%m")
        slot = out.setdefault(m, [0, 0, []])
        slot[0 if t.direction == "out" else 1] += 1
        if t.paid_by not in slot[2]:
            slot[2].append(t.paid_by)
    return [(m, s, r, tuple(p)) for m, (s, r, p) in sorted(out.items(), reverse=True)]
