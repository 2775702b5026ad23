"""The receiver's storage step alone: `Inbox.accept` (what runs between a verified, decrypted AS4
message and its receipt), on SQLite or PostgreSQL, in one thread.

    python benchmarks/inbox_accept.py [--count 500] [--database URL] [--profile]

Prints accepts/s, the SQL statements each accept sends (counted with an engine event, so the
figure does not depend on how busy the machine is) and the CPU milliseconds per accept in this
process. Every accept is a new invoice for a receiving organisation, committed (and on SQLite
fsync'ed: synchronous=FULL) before `accept` returns, exactly as the AS4 endpoint needs it.
`--profile` prints the top of a cProfile of the accepts alone.

CPU time moves by 10-30% on this shared 2-core machine; instructions do not (well under 1% between
runs). The accepts alone are one callgrind dump, between the two `os.getppid()` calls:

    valgrind --tool=callgrind --dump-before=getppid --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python benchmarks/inbox_accept.py --count 100
    grep totals: /tmp/cg.<pid>.2     # instructions of the 100 accepts
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

import ubl  # noqa: E402
from accesspoint.delivery.inbox import Inbox  # noqa: E402
from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions  # noqa: E402
from tests.crash.harness import Database  # noqa: E402


def sbd(number: str) -> ubl.StandardBusinessDocument:
    raw = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_HERE),
                        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                        country_c1="NL", payload=invoice(number, buyer=BUYER_HERE), creation_time=datetime.now(UTC))
    return ubl.parse_sbd(raw)


def rows_read(engine: sa.Engine) -> list[tuple[str, int]]:
    """Index entries PostgreSQL read in this schema since it was made, per index, most first.

    Machine speed does not change these counts, so they show a plan that reads more than it finds
    (PostgreSQL once chose `ix_documents_organisation_id` for the duplicate lookup, which reads
    every document of the receiving organisation).
    """
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        conn.commit()
    with engine.connect() as conn:  # a new transaction: statistics are a snapshot per transaction
        rows = conn.execute(sa.text(
            "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes"
            " WHERE schemaname = current_schema() AND idx_tup_read > 0 ORDER BY idx_tup_read DESC")).all()
    return [(name, n) for name, n in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--database", help="PostgreSQL URL (a private schema); default SQLite in a temporary file")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the accepts")
    args = parser.parse_args(argv)
    url = args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="inbox-bench-") as tmp:
        database = Database(Path(tmp), base_url=url)
        engine, sessions = make_sessions(database.url)
        add_organisation(sessions, "Buyer NV", BUYER_HERE)
        inbox = Inbox(sessions, clock=lambda: datetime.now(UTC), seat_id="PXX000002")
        documents = [sbd(f"BENCH-{i:06d}") for i in range(args.count + 1)]
        inbox.accept(documents[0], as4_message_id="warm-up@bench", sender_seat_id="PNL000007")
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        sa.event.listen(engine, "before_cursor_execute", count)
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu, wall = time.process_time(), time.perf_counter()
        os.getppid()  # a mark for callgrind's --dump-before=getppid (the docstring)
        for n, document in enumerate(documents[1:], 1):
            accepted = inbox.accept(document, as4_message_id=f"bench-{n}@bench", sender_seat_id="PNL000007")
            assert not accepted.duplicate and accepted.document_id
        os.getppid()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        sa.event.remove(engine, "before_cursor_execute", count)
        read = rows_read(engine) if engine.dialect.name == "postgresql" else None
        engine.dispose()
        database.close()
    print(f"Inbox.accept on {database.kind}: {args.count / wall:.0f} accepts/s, "
          f"{statements / args.count:.1f} SQL statements per accept, {1000 * cpu / args.count:.2f} ms CPU per accept")
    if read is not None:
        print("  rows PostgreSQL read per accept, by index (pg_stat_user_indexes; a lookup that grows with the inbox "
              "shows here): " + (", ".join(f"{name} {n / (args.count + 1):.1f}" for name, n in read) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
