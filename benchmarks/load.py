"""Load on the node's HTTPS AS4 endpoint: N concurrent senders for a fixed time, on loopback.

    python benchmarks/load.py [--senders 8] [--seconds 10] [--database URL] [--json]
    python benchmarks/load.py --short          # 4 senders, 3 s: what `make test` runs
    python benchmarks/load.py --live           # each sender seals while it sends (sender's cost included)
    python benchmarks/load.py --live --peer    # and the PyPI `as4` pair in the same run: both rates, the ratio

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

`--peer` measures that pair in the same run, in alternating rounds (ours, peer, ours, peer with
`--rounds 2`): the `as4` package's sender (tests/interop_peers/as4_driver.py `load`: N threads, each
building, signing, encrypting and gzipping a fresh message, POSTing it over its own keep-alive
connection and verifying the receipt) against the `as4` package's receiver (`as4_driver.py receive`:
plain HTTP, each message parsed, decrypted, verified and written to files), from the cached peer
venv. Same document, same number of senders, same seconds. Our side is stricter (HTTPS, a database
commit with fsync before each receipt); the ratio is printed as ours / peer.
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
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import as4  # noqa: E402
import certs  # noqa: E402
from tests.crash.harness import SENDER_SEAT, Database, ReceiverNode, SendingAp  # noqa: E402

_T = TypeVar("_T")


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds used so far by `pid` and its children (Linux /proc; None elsewhere)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    seen, todo, total = set(), [pid], 0.0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            if p == pid:
                return None
    return total


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

    async def one(client: httpx2.AsyncClient) -> None:
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
    # the node's own sending client (as4.make_client: its transport, TLS and timeouts), one connection each
    clients = [as4.make_client(verify=as4.tls_context(str(node.ca)), max_connections=1) for _ in range(senders)]
    try:
        await asyncio.gather(*(one(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    return latencies, errors, receipts, time.monotonic() - started, ran_out


def run_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """`main` on the event loop a node's own sender runs on: uvloop where installed, as `serve`'s
    uvicorn picks it (loop="auto"), so the sender's figure is the node's and not asyncio's
    pure-Python selector loop's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run(senders: int, seconds: float, pool_size: int, database_url: str | None, *,
        live: bool = False, workers: int | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="peppol-load-") as tmp:
        base = Path(tmp)
        pki = certs.TestPki.generate(base / "pki")
        database = Database(base, base_url=database_url)
        node = ReceiverNode(base, database, pki, base / "pki")
        sender = SendingAp(pki, pki.issue_ap(SENDER_SEAT))
        if workers is not None:
            node.env["PEPPOL_HTTP_WORKERS"] = str(workers)
        try:
            t0 = time.monotonic()
            pool = [] if live else [sender.seal(node, f"LOAD-{i:06d}") for i in range(pool_size)]
            seal_seconds = time.monotonic() - t0
            node.start()
            processes = node.wait_for_workers()
            receiver_cpu, sender_cpu = process_tree_cpu(node.proc.pid), time.process_time()
            latencies, errors, receipts, elapsed, ran_out = run_loop(
                drive(node, sender, pool, senders, seconds, live=live))
            sender_cpu = time.process_time() - sender_cpu
            after = process_tree_cpu(node.proc.pid)
            receiver_cpu = after - receiver_cpu if after is not None and receiver_cpu is not None else None
            stored = database.stored_total()
        finally:
            node.stop()
            database.close()
    return {
        "mode": "sender included (--live)" if live else "receiver only (pre-sealed)",
        "senders": senders, "receiver_processes": processes, "seconds": round(elapsed, 2), "database": database.kind,
        "sealed": len(pool) if not live else receipts + sum(errors.values()), "stopped_by": "pool used up" if ran_out else "time",
        "seal_per_second": round(pool_size / seal_seconds, 1) if seal_seconds and not live else None,
        "exchanges": receipts, "exchanges_per_second": round(receipts / elapsed, 1) if elapsed else 0.0,
        "latency_ms": {name: round(1000 * value, 1) for name, value in (
            ("p50", percentile(latencies, 50)), ("p90", percentile(latencies, 90)),
            ("p99", percentile(latencies, 99)), ("max", max(latencies) if latencies else float("nan")),
            ("mean", statistics.fmean(latencies) if latencies else float("nan")))},
        "errors": dict(errors), "receipts": receipts, "stored": stored,
        # CPU per exchange does not depend on what else the machine runs, unlike the rates.
        "cpu_ms_per_exchange": {
            "sender": round(1000 * sender_cpu / receipts, 2) if receipts else None,
            "receiver": round(1000 * receiver_cpu / receipts, 2) if receipts and receiver_cpu is not None else None,
        },
    }


def run_peer(senders: int, seconds: float) -> dict[str, object]:
    """The PyPI `as4` pair: its sender against its receiver over plain HTTP, as described above."""
    import subprocess

    from tests.accesspoint.helpers import BUYER_HERE, SELLER, invoice
    from tests.interop_peers.fixtures import BILLING_PROCESS, INVOICE_DOCTYPE
    from tests.interop_peers.venv import ensure_peer_venv

    venv = ensure_peer_venv()
    with tempfile.TemporaryDirectory(prefix="peppol-load-peer-") as tmp:
        base = Path(tmp)
        pki = certs.TestPki.generate(base / "pki")
        sender_key, sender_cert = pki.issue_ap("POP000001").write(base, "sender")
        receiver_key, receiver_cert = pki.issue_ap("POP000002").write(base, "receiver")
        payload = base / "invoice.xml"
        payload.write_bytes(invoice("PEER-LOAD", buyer=BUYER_HERE))
        receiver = subprocess.Popen(
            venv.command("as4_driver.py", "receive", "--key", str(receiver_key), "--cert", str(receiver_cert),
                         "--trust", str(base / "pki" / "root.cert.pem"),
                         "--intermediate", str(base / "pki" / "ap-ca.cert.pem"), "--store", str(base / "store")),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=venv.env(), cwd=venv.root)
        try:
            url = json.loads(receiver.stdout.readline())["url"]
            result = venv.run_json(
                "as4_driver.py", "load", "--url", url, "--key", str(sender_key), "--cert", str(sender_cert),
                "--receiver-cert", str(receiver_cert), "--payload", str(payload),
                "--sender", SELLER, "--recipient", BUYER_HERE,
                "--doctype", INVOICE_DOCTYPE, "--process", BILLING_PROCESS,
                "--senders", str(senders), "--seconds", str(seconds), timeout=seconds * 10 + 120)
        finally:
            receiver.stdin.close()
            try:
                receiver.wait(30)
            except subprocess.TimeoutExpired:
                receiver.kill()
                receiver.wait()
        stored = len(list((base / "store").glob("*.sbd.xml")))
    if result.get("_exit_code") != 0 or "exchanges_per_second" not in result:
        raise RuntimeError(f"as4 package load failed: {result}")
    latencies = result["latencies"]
    return {
        "mode": "as4 package pair (sender included, plain HTTP, files)", "implementation": result["implementation"],
        "senders": senders, "seconds": round(result["seconds"], 2), "database": "files",
        "exchanges": result["exchanges"], "exchanges_per_second": round(result["exchanges_per_second"], 1),
        "latency_ms": {name: round(1000 * value, 1) for name, value in (
            ("p50", percentile(latencies, 50)), ("p90", percentile(latencies, 90)),
            ("p99", percentile(latencies, 99)), ("max", max(latencies) if latencies else float("nan")),
            ("mean", statistics.fmean(latencies) if latencies else float("nan")))},
        "errors": result["errors"], "receipts": result["exchanges"], "stored": stored,
    }


def _print(figures: dict[str, object]) -> None:
    lat = figures["latency_ms"]
    served = f", receiver in {figures['receiver_processes']} processes" if "receiver_processes" in figures else ""
    print(f"[{figures['mode']}] {figures['senders']} senders for {figures['seconds']} s on {figures['database']}{served}: "
          f"{figures['exchanges']} exchanges = {figures['exchanges_per_second']} exchanges/s")
    print(f"  latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    print(f"  errors: {figures['errors'] or 'none'}")
    if "cpu_ms_per_exchange" in figures:
        cpu = figures["cpu_ms_per_exchange"]
        print(f"  CPU ms per exchange: sender {cpu['sender']}  receiver {cpu['receiver']}")
    print(f"  stored messages {figures['stored']} vs receipts given {figures['receipts']}: "
          + ("equal" if figures["stored"] == figures["receipts"] else "DIFFERENT"))


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
    parser.add_argument("--workers", type=int, help="receiver's [http] workers (default: the node's, one per core)")
    parser.add_argument("--peer", action="store_true",
                        help="also run the PyPI as4 package's sender against its receiver, alternating; print the ratio")
    parser.add_argument("--rounds", type=int, default=1, help="with --peer: rounds of (ours, peer)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.short:
        args.senders, args.seconds = 4, 3.0
    pool = args.pool or int(max(50, 200 * args.seconds))
    import os

    database_url = args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL")
    if args.peer:
        ours_all, peer_all = [], []
        for _ in range(max(1, args.rounds)):
            ours_all.append(run(args.senders, args.seconds, pool, database_url, live=args.live, workers=args.workers))
            peer_all.append(run_peer(args.senders, args.seconds))
        if args.json:
            print(json.dumps({"ours": ours_all, "peer": peer_all}, indent=2))
        else:
            for n, (ours, peer) in enumerate(zip(ours_all, peer_all), 1):
                print(f"round {n}:")
                _print(ours)
                _print(peer)
                ratio = ours["exchanges_per_second"] / peer["exchanges_per_second"] if peer["exchanges_per_second"] else 0
                print(f"  ratio ours / as4 pair: {ratio:.2f}x")
        return 0 if all(f["stored"] == f["receipts"] for f in ours_all) else 1
    figures = run(args.senders, args.seconds, pool, database_url, live=args.live, workers=args.workers)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)
        if not args.live:
            print(f"(sender sealed {figures['sealed']} messages beforehand at {figures['seal_per_second']}/s;"
                  f" stopped by {figures['stopped_by']})")
    return 0 if figures["stored"] == figures["receipts"] else 1


if __name__ == "__main__":
    sys.exit(main())
