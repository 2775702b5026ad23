"""Several delivery processes on one PostgreSQL: throughput and duplicates.

    PEPPOL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
        python benchmarks/multinode.py [--documents 1000] [--processes 2] [--workers 2]

Seeds a fresh schema with N outgoing invoices to a participant served by the
same node (internal delivery: the fastest real path, all in the database), then
starts P `peppol-node deliver --until-idle` processes at once and prints
documents/s and the duplicates found (inbound copies beyond one per invoice, and
entries with more than one `delivered` event). Exactly-once means 0 and 0.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from accesspoint import db  # noqa: E402
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent  # noqa: E402
from accesspoint.delivery import Outbox, read_outgoing  # noqa: E402
from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions  # noqa: E402


def schema_url(base: str) -> tuple[str, str]:
    """A fresh private schema on the PostgreSQL at `base`: (url using it, schema name)."""
    schema = "bench_" + secrets.token_hex(4)
    admin = db.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    admin = db.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def seed(url: str, documents: int, *, through_api: int = 10) -> None:
    """`through_api` documents go through `Outbox.submit` (the real path, one transaction
    each); the rest are written in one transaction with the same rows, to keep seeding
    from dominating the run."""
    engine, sessions = make_sessions(url)
    seller = add_organisation(sessions, "Seller BV", SELLER, receive=False)
    add_organisation(sessions, "Buyer NV", BUYER_HERE)
    now = datetime.now(UTC)
    outbox = Outbox(sessions, clock=lambda: now)
    for i in range(min(through_api, documents)):
        outbox.submit(invoice(f"BENCH-{i:06d}"))
    with sessions.begin() as session:
        add_created_entries(session, seller, (invoice(f"BENCH-{i:06d}") for i in range(through_api, documents)), now)
    engine.dispose()


def add_created_entries(session: sa.orm.Session, organisation_id: int, invoices: Iterable[bytes],
                        now: datetime) -> None:
    """The rows `Outbox.submit` writes for each invoice (a `created` entry), added to `session` in bulk,
    so seeding a large batch does not dominate a benchmark's run."""
    for content in invoices:
        facts = read_outgoing(content)
        doc = Document(public_id=str(uuid.uuid4()), organisation_id=organisation_id, direction="out",
                       connection="peppol_sales", sender_id=str(facts.sender), receiver_id=str(facts.receiver),
                       document_type_id=str(facts.document_type_id), process_id=str(facts.process_id),
                       instance_identifier=str(uuid.uuid4()), number=facts.number, issue_date=facts.issue_date,
                       country_c1=facts.country_c1, duplicate_key=facts.duplicate_key, content=facts.content,
                       created_at=now)
        session.add(OutboxEntry(public_id=str(uuid.uuid4()), document=doc, kind="document", state="created",
                                attempts=0, resends=0, next_attempt_at=now, created_at=now, updated_at=now))


def node_dir(url: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "node.toml").write_text(
        f'[node]\nseat_id = "PXX000001"\n[database]\nurl = "{url}"\n'
        '[pki]\ntrust = "test"\n[revocation]\nenabled = false\n', encoding="utf-8")
    return directory


def run_processes(directory: Path, processes: int, workers: int) -> float:
    """Start `processes` deliver processes at once; returns the wall time until all are done."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "deliver", str(directory), "--until-idle",
                               "--workers", str(workers), "--worker-id", f"p{n}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(processes)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"deliver process failed ({p.returncode}): {err[-2000:]}")
    return time.monotonic() - started


def audit(url: str) -> dict[str, object]:
    engine = db.create_engine(url)
    with engine.connect() as conn:
        entries = conn.scalar(sa.select(sa.func.count()).select_from(OutboxEntry))
        delivered = conn.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                .where(OutboxEntry.state == "delivered"))
        inbound = conn.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in"))
        distinct = conn.scalar(sa.select(sa.func.count(sa.distinct(Document.duplicate_key)))
                               .where(Document.direction == "in"))
        twice = conn.scalar(sa.select(sa.func.count()).select_from(
            sa.select(OutboxEvent.entry_id).where(OutboxEvent.to_state == "delivered")
            .group_by(OutboxEvent.entry_id).having(sa.func.count() > 1).subquery()))
        workers = conn.scalars(sa.select(OutboxEvent.worker).where(OutboxEvent.to_state == "delivered")).all()
    per_process: dict[str, int] = {}
    for worker in workers:
        process = (worker or "?").split("-")[0]
        per_process[process] = per_process.get(process, 0) + 1
    engine.dispose()
    return {"entries": entries, "delivered": delivered, "inbound": inbound,
            "duplicate_inbound": inbound - distinct, "delivered_twice": twice, "per_process": per_process}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="worker loops per process")
    args = parser.parse_args()
    base = os.environ.get("PEPPOL_TEST_DATABASE_URL")
    if not base:
        print("set PEPPOL_TEST_DATABASE_URL to a PostgreSQL database", file=sys.stderr)
        return 2
    url, schema = schema_url(base)
    try:
        t0 = time.monotonic()
        seed(url, args.documents)
        print(f"seeded {args.documents} documents in {time.monotonic() - t0:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            seconds = run_processes(node_dir(url, Path(tmp) / "node"), args.processes, args.workers)
        result = audit(url)
    finally:
        drop_schema(base, schema)
    print(f"{args.processes} processes x {args.workers} workers: {result['delivered']}/{result['entries']} delivered "
          f"in {seconds:.1f} s = {result['delivered'] / seconds:.0f} documents/s (incl. process start-up)")
    print(f"per process: {result['per_process']}")
    print(f"duplicates found: {result['duplicate_inbound']} inbound copies, {result['delivered_twice']} entries "
          "delivered twice")
    return 0 if result["duplicate_inbound"] == 0 and result["delivered_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
