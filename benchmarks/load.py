"""Load on the node's HTTPS AS4 endpoint: N concurrent senders for a fixed time, on loopback.

    python benchmarks/load.py [--senders 8] [--seconds 10] [--database URL] [--json]
    python benchmarks/load.py --short          # 4 senders, 3 s: what `make test` runs
    python benchmarks/load.py --live           # each sender seals while it sends (sender's cost included)

Starts a real receiving node (`peppol-node serve`, TLS, SQLite by default or the
PostgreSQL of --database / PEPPOL_TEST_DATABASE_URL in a private schema), seals
a pool of distinct Peppol AS4 messages first (signing and encryption are the
sender's cost, not the receiver's, and would otherwise compete for the same
cores), then lets N senders POST them as fast as receipts come back, each with
its own HTTP/1.1 connection, for a fixed time or until the pool is used up
(then the rate is over the time spent). One attempt per message: a
failure is counted, not retried, so the figures are the receiver's.

Prints exchanges/s, latency percentiles, errors by kind, and the count of
messages stored in the receiver's database against receipts given: the two
must be equal (a receipt for a message not stored would be a lost invoice; a
stored message without a receipt would be re-sent and must then be
deduplicated). Exits 1 if they differ.

Two figures, labelled in the output: the default (`receiver only`) seals every message before
the clock starts, so the receiver has the machine to itself; `--live` (`sender included`) makes
each sender seal its next message (sign, encrypt, gzip: in a worker thread) just before it sends
it, so sender and receiver share the cores, as two real access points on one machine would and as
a peer pair measured end to end does. Only the second is comparable with such a pair.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import as4  # noqa: E402
import certs  # noqa: E402
from tests.crash.harness import SENDER_SEAT, Database, ReceiverNode, SendingAp  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def drive(node: ReceiverNode, sender: SendingAp, pool: list[as4.OutboundMessage], senders: int,
                seconds: float, *, live: bool = False) -> tuple[list[float], Counter, int, float, bool]:
    """Run the senders until the time is up or the pool is used up, whichever comes first.

    A used-up pool is not an error: a faster machine simply finishes early, and the rate is taken
    over the time actually spent. Returns (latencies of receipts, errors by kind, receipts, elapsed
    seconds, whether the pool ran out before the deadline).
    """
    queue: asyncio.Queue[as4.OutboundMessage] = asyncio.Queue()
    for message in pool:
        queue.put_nowait(message)
    latencies: list[float] = []
    errors: Counter = Counter()
    receipts = 0
    deadline = time.monotonic() + seconds
    ran_out = False
    numbers = iter(range(10**9))

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal receipts, ran_out
        while time.monotonic() < deadline:
            started = time.monotonic()
            if live:  # the sender's own work is inside the latency and the rate
                message = await asyncio.to_thread(sender.seal, node, f"LIVE-{next(numbers):06d}")
            else:
                try:
                    message = queue.get_nowait()
                except asyncio.QueueEmpty:
                    ran_out = True
                    return
                started = time.monotonic()
            result = await sender.send(client, node.url, message, node, max_attempts=1)
            if result.outcome is as4.Outcome.DELIVERED:
                receipts += 1
                latencies.append(time.monotonic() - started)
            else:
                kind = result.error.code.code if result.error is not None else result.outcome.name
                errors[f"{result.outcome.name}: {kind}"] += 1

    started = time.monotonic()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(verify=node.tls(), timeout=60, limits=limits) for _ in range(senders)]
    try:
        await asyncio.gather(*(one(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    return latencies, errors, receipts, time.monotonic() - started, ran_out


def run(senders: int, seconds: float, pool_size: int, database_url: str | None, *,
        live: bool = False) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="peppol-load-") as tmp:
        base = Path(tmp)
        pki = certs.TestPki.generate(base / "pki")
        database = Database(base, base_url=database_url)
        node = ReceiverNode(base, database, pki, base / "pki")
        sender = SendingAp(pki, pki.issue_ap(SENDER_SEAT))
        try:
            t0 = time.monotonic()
            pool = [] if live else [sender.seal(node, f"LOAD-{i:06d}") for i in range(pool_size)]
            seal_seconds = time.monotonic() - t0
            node.start()
            latencies, errors, receipts, elapsed, ran_out = asyncio.run(drive(node, sender, pool, senders, seconds, live=live))
            stored = database.stored_total()
        finally:
            node.stop()
            database.close()
    return {
        "mode": "sender included (--live)" if live else "receiver only (pre-sealed)",
        "senders": senders, "seconds": round(elapsed, 2), "database": database.kind,
        "sealed": len(pool) if not live else receipts + sum(errors.values()), "stopped_by": "pool used up" if ran_out else "time",
        "seal_per_second": round(pool_size / seal_seconds, 1) if seal_seconds and not live else None,
        "exchanges": receipts, "exchanges_per_second": round(receipts / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {name: round(1000 * value, 1) for name, value in (
            ("p50", percentile(latencies, 50)), ("p90", percentile(latencies, 90)),
            ("p99", percentile(latencies, 99)), ("max", max(latencies) if latencies else float("nan")),
            ("mean", statistics.fmean(latencies) if latencies else float("nan")))},
        "errors": dict(errors), "receipts": receipts, "stored": stored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool", type=int, help="messages sealed beforehand (default: enough for ~200/s; the run ends early"
                        " when they are used up)")
    parser.add_argument("--database", help="PostgreSQL URL (a private schema is made and dropped); default SQLite")
    parser.add_argument("--short", action="store_true", help="4 senders for 3 s (the test suite's run)")
    parser.add_argument("--live", action="store_true",
                        help="each sender seals its messages while sending (the sender's cost is in the figure)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.short:
        args.senders, args.seconds = 4, 3.0
    pool = args.pool or int(max(50, 200 * args.seconds))
    import os

    figures = run(args.senders, args.seconds, pool, args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL"),
                  live=args.live)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        lat = figures["latency_ms"]
        print(f"[{figures['mode']}] {figures['senders']} senders for {figures['seconds']} s on {figures['database']}: "
              f"{figures['exchanges']} exchanges = {figures['exchanges_per_second']} exchanges/s")
        print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
        print(f"errors: {figures['errors'] or 'none'}")
        print(f"stored messages {figures['stored']} vs receipts given {figures['receipts']}: "
              + ("equal" if figures["stored"] == figures["receipts"] else "DIFFERENT"))
        if not args.live:
            print(f"(sender sealed {figures['sealed']} messages beforehand at {figures['seal_per_second']}/s;"
                  f" stopped by {figures['stopped_by']})")
    return 0 if figures["stored"] == figures["receipts"] else 1


if __name__ == "__main__":
    sys.exit(main())
