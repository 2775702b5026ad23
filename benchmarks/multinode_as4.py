"""Outbox -> received between two nodes over the real network path: documents/s and duplicates.

    python benchmarks/multinode_as4.py [--documents 500] [--processes 2] [--delivery-workers 4]
    PEPPOL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/multinode_as4.py

Two `peppol-node serve` nodes on this machine, as `init` makes them: A (the seller's access point,
with the local SML) and B (the buyer's, registering its buyer at A's SML as it starts), each with
`--processes` serve processes, each process running `--delivery-workers` outbox workers. Once B's
buyer is registered, N invoices are written into A's outbox in one transaction and the clock
starts; it stops when every entry is final. Each document takes the whole path: SML (DNS NAPTR) ->
B's SMP (signed answer, cached after the first) -> AS4 (signed, encrypted, HTTPS) -> B stores it
and commits -> signed receipt -> A verifies it and marks the entry delivered.

Prints documents/s (over the whole batch, and first to last delivery), CPU ms per document for each
node's process tree (a figure a busy machine does not distort), and the audit: entries delivered,
receipts kept, documents B stored, duplicates (B's copies beyond one per invoice; entries with
more than one `delivered` event). Exits 1 unless every entry was delivered exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from accesspoint import db  # noqa: E402
from accesspoint.demo import free_ports  # noqa: E402
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent  # noqa: E402
from benchmarks.load import process_tree_cpu  # noqa: E402
from benchmarks.multinode import add_created_entries, drop_schema, schema_url  # noqa: E402
from tests.accesspoint.helpers import BUYER_REMOTE, SELLER, add_organisation, invoice, make_sessions  # noqa: E402


class Serve:
    """`peppol-node serve DIR` until its HTTPS port answers /healthz."""

    def __init__(self, directory: Path, env: dict[str, str], port: int, log: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(directory),
                                      "--log-level", "WARNING"], cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.log = log
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            with log.open("w") as out:
                for line in self.proc.stderr:  # type: ignore[union-attr]
                    out.write(line)
                    out.flush()
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        self._wait_healthy(directory, port)

    def _wait_healthy(self, directory: Path, port: int) -> None:
        import ssl

        import httpx2

        tls = ssl.create_default_context(cafile=str(directory / "keys" / "tls-ca.cert.pem"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve {directory} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"https://127.0.0.1:{port}/healthz", verify=tls, timeout=2).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"serve {directory} did not become healthy")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)


def seed_outbox(url: str, organisation_id: int, documents: int) -> None:
    """N `created` entries to B's buyer in one transaction (the rows `Outbox.submit` writes)."""
    engine = db.create_engine(url)
    now = datetime.now(UTC)
    with sa.orm.Session(engine) as session, session.begin():
        add_created_entries(session, organisation_id,
                            (invoice(f"AS4-{i:06d}", buyer=BUYER_REMOTE) for i in range(documents)), now)
    engine.dispose()


def wait_registered(url_b: str, timeout: float = 120) -> None:
    engine = db.create_engine(url_b)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                state = conn.scalar(sa.text("SELECT sml_state FROM network_registration WHERE participant_id = :p"),
                                    {"p": f"iso6523-actorid-upis::{BUYER_REMOTE}"})
            if state == "registered":
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError(f"B's buyer was not registered at A's SML (state {state!r})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2, help="serve processes per node ([http] workers)")
    parser.add_argument("--delivery-workers", type=int, default=4, help="outbox workers per process")
    parser.add_argument("--database", help="a PostgreSQL URL (default: PEPPOL_TEST_DATABASE_URL, else SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from accesspoint.init import init_node

    base_url = args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL")
    schemas: list[str] = []
    with tempfile.TemporaryDirectory(prefix="multinode-as4-") as tmp:
        base = Path(tmp)
        port_a, soap, dns_port, port_b = free_ports(4)
        dir_a = init_node(base / "a", seat_id="PNL000001", port=port_a, pki_dir=base / "pki", sml_local=True,
                          soap_port=soap, dns_port=dns_port)
        dir_b = init_node(base / "b", seat_id="PBE000002", port=port_b, pki_dir=base / "pki", sml_local=False,
                          dns=f"127.0.0.1:{dns_port}", management_url=f"https://127.0.0.1:{soap}")
        urls = []
        for d in (dir_a, dir_b):
            if base_url:
                url, schema = schema_url(base_url)
                schemas.append(schema)
            else:
                url = f"sqlite:///{d / 'node.db'}"
            urls.append(url)
        url_a, url_b = urls
        engine, sessions = make_sessions(url_a)
        seller = add_organisation(sessions, "Seller BV", SELLER, receive=False)
        engine.dispose()
        engine, sessions = make_sessions(url_b)
        add_organisation(sessions, "Buyer NV", BUYER_REMOTE)
        engine.dispose()
        common = {**os.environ, "PYTHONPATH": str(REPO), "PEPPOL_HTTP_WORKERS": str(args.processes),
                  "PEPPOL_DELIVERY_WORKERS": str(args.delivery_workers), "PEPPOL_DELIVERY_POLL_INTERVAL": "0.2"}
        nodes: list[Serve] = []
        try:
            nodes.append(Serve(dir_a, {**common, "PEPPOL_DATABASE_URL": url_a}, port_a, base / "a.log"))
            nodes.append(Serve(dir_b, {**common, "PEPPOL_DATABASE_URL": url_b}, port_b, base / "b.log"))
            # B's primary registers its participants at the SML once serving: the buyer must be there.
            subprocess.run([sys.executable, "-m", "accesspoint.cli", "org", "update", str(dir_b), BUYER_REMOTE,
                            "--receive"], env={**common, "PEPPOL_DATABASE_URL": url_b}, check=True,
                           capture_output=True)
            wait_registered(url_b)
            cpu_before = [process_tree_cpu(n.proc.pid) or 0.0 for n in nodes]
            seed_outbox(url_a, seller, args.documents)
            started = time.monotonic()
            engine = db.create_engine(url_a)
            final = 0
            while time.monotonic() - started < 600:
                with engine.connect() as conn:
                    final = conn.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                        .where(OutboxEntry.state.in_(("delivered", "failed"))))
                if final >= args.documents:
                    break
                time.sleep(0.25)  # each poll counts the whole outbox: PostgreSQL CPU the nodes would use
            seconds = time.monotonic() - started
            cpu = [(process_tree_cpu(n.proc.pid) or 0.0) - b for n, b in zip(nodes, cpu_before, strict=True)]
            with engine.connect() as conn:
                delivered = conn.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                        .where(OutboxEntry.state == "delivered"))
                receipts = conn.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                       .where(OutboxEntry.receipt.is_not(None)))
                twice = conn.scalar(sa.select(sa.func.count()).select_from(
                    sa.select(OutboxEvent.entry_id).where(OutboxEvent.to_state == "delivered")
                    .group_by(OutboxEvent.entry_id).having(sa.func.count() > 1).subquery()))
                times = conn.execute(sa.select(sa.func.min(OutboxEvent.at), sa.func.max(OutboxEvent.at))
                                     .where(OutboxEvent.to_state == "delivered")).one()
                workers = conn.scalars(sa.select(OutboxEvent.worker).where(OutboxEvent.to_state == "delivered")).all()
            engine.dispose()
            engine = db.create_engine(url_b)
            with engine.connect() as conn:
                stored = conn.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in"))
                distinct = conn.scalar(sa.select(sa.func.count(sa.distinct(Document.duplicate_key)))
                                       .where(Document.direction == "in"))
            engine.dispose()
        finally:
            for n in reversed(nodes):
                n.stop()
            for schema in schemas:
                drop_schema(base_url, schema)
    span = (times[1] - times[0]).total_seconds() if times[0] is not None else 0.0
    per_process: dict[str, int] = {}
    for w in workers:
        key = (w or "?").split("-")[0]
        per_process[key] = per_process.get(key, 0) + 1
    figures = {
        "database": "postgresql" if base_url else "sqlite", "documents": args.documents,
        "processes_per_node": args.processes, "delivery_workers_per_process": args.delivery_workers,
        "seconds": round(seconds, 2), "documents_per_second": round(delivered / seconds, 1) if seconds else 0,
        "first_to_last_per_second": round((delivered - 1) / span, 1) if span else None,
        "cpu_ms_per_document": {"sender A": round(1000 * cpu[0] / max(delivered, 1), 2),
                                "receiver B": round(1000 * cpu[1] / max(delivered, 1), 2)},
        "delivered": delivered, "receipts": receipts, "stored_at_b": stored,
        "duplicates_at_b": stored - distinct, "delivered_twice": twice, "deliveries_per_process": per_process,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['database']}: {delivered}/{args.documents} delivered over AS4 in {seconds:.1f} s = "
              f"{figures['documents_per_second']} documents/s (first to last delivery: "
              f"{figures['first_to_last_per_second']}/s)")
        print(f"  {args.processes} serve processes per node x {args.delivery_workers} delivery workers each; "
              f"deliveries per process of A: {per_process}")
        print(f"  CPU per document: A (seal, send, verify receipt) {figures['cpu_ms_per_document']['sender A']} ms, "
              f"B (receive, store, receipt) {figures['cpu_ms_per_document']['receiver B']} ms")
        print(f"  receipts kept {receipts}, stored at B {stored}, duplicates at B {stored - distinct}, "
              f"entries delivered twice {twice}")
    exact = delivered == args.documents == receipts == stored and stored == distinct and twice == 0
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
