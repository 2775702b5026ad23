"""Participant lookups per second against our own local SML (DNS) and SMP, cold and cached.

    .venv/bin/python benchmarks/lookup.py [--participants 50] [--rounds 2000] [--concurrency 8]

Cold = empty caches: a NAPTR query to our DNS server, an HTTPS GET of the
SignedServiceMetadata (which our SMP signs per request), the XMLDSig check and
the SMP/AP certificate chain checks. Cached = the same lookups again within the
TTL (selection and date checks only). Servers and client share this process and
event loop (as on a one-box node), so the cold figure includes the server's work.
Also prints the pure signature-verification rate (no I/O).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import smp  # noqa: E402
from tests.smp.network import local_network  # noqa: E402
from ubl import BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, ParticipantId  # noqa: E402


async def bench(participants: int, rounds: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with local_network(Path(tmp)) as net:
            pids = [ParticipantId.parse(f"0088:57980000{i:05d}") for i in range(participants)]
            for pid in pids:
                await net.publish(pid)
            now = datetime.now(UTC)

            # cold, one at a time
            latencies = []
            for pid in pids:
                resolver = net.resolver()
                t0 = time.perf_counter()
                await resolver.resolve(pid, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
                latencies.append(time.perf_counter() - t0)
            total = sum(latencies)
            print(f"cold sequential : {len(pids) / total:8.1f} lookups/s  "
                  f"(median {statistics.median(latencies) * 1000:.1f} ms, p95 "
                  f"{sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms, n={len(pids)})")

            # cold, `concurrency` at a time, one shared resolver with its cache cleared first
            resolver = net.resolver()
            sem = asyncio.Semaphore(concurrency)

            async def one(pid: ParticipantId) -> None:
                async with sem:
                    await resolver.resolve(pid, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)

            t0 = time.perf_counter()
            await asyncio.gather(*(one(pid) for pid in pids))
            dt = time.perf_counter() - t0
            print(f"cold x{concurrency:<2d}        : {len(pids) / dt:8.1f} lookups/s  (n={len(pids)})")

            # cached: the resolver above now holds every answer
            t0 = time.perf_counter()
            for i in range(rounds):
                await resolver.resolve(pids[i % len(pids)], BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
            dt = time.perf_counter() - t0
            print(f"cached          : {rounds / dt:8.0f} lookups/s  (n={rounds})")

            # pure verification of one signed answer (no I/O)
            body = (await net.http.get(smp.service_metadata_url(net.smp_url, pids[0], BIS_BILLING_INVOICE))).content
            trust = net.pki.trust_store()
            n = 200
            t0 = time.perf_counter()
            for _ in range(n):
                smp.verify_service_metadata(body, trust=trust, at=now)
            dt = time.perf_counter() - t0
            print(f"verify only     : {n / dt:8.1f} answers/s ({len(body)} bytes, RSA-SHA256, inclusive C14N)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(bench(args.participants, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
