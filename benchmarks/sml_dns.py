"""NAPTR answers per second from our local SML's DNS server, and SOAP registrations per second.

    .venv/bin/python benchmarks/sml_dns.py [--participants 200] [--queries 5000] [--concurrency 16]

DNS: dnspython UDP queries from this process to `sml.DnsServer` on 127.0.0.1, over the
in-memory store and over the SQLite store (`accesspoint.sml_store.DbSmlStore`), plus
`lookup_smp_url` (the sender's full NAPTR path). Both ends share one event loop and the
machine's cores, so the figures are a floor for a separate server process.
SOAP: participant creations per second through `SmlClient` over mutual TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dns.asyncquery  # noqa: E402
import dns.message  # noqa: E402
import httpx2  # noqa: E402

import sml  # noqa: E402
from accesspoint.db import create_engine, migrate  # noqa: E402
from accesspoint.sml_store import DbSmlStore  # noqa: E402
from certs import TestPki, certificate_pem  # noqa: E402
from ubl import ParticipantId  # noqa: E402

ZONE = sml.Zone("sml.bench.test")


async def _fill(store: sml.SmlStore, pids: list[ParticipantId]) -> None:
    local = sml.LocalSml(store, ZONE)
    await local.create_smp("owner", "SMP", "https://smp.bench.test/", "127.0.0.1")
    for pid in pids:
        await local.create_participant("owner", "SMP", pid)


async def _dns_rate(label: str, store: sml.SmlStore, pids: list[ParticipantId], queries: int, concurrency: int) -> None:
    names = [sml.naptr_name(pid, ZONE) + "." for pid in pids]
    async with sml.DnsServer(ZONE, store) as server:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                q = dns.message.make_query(names[i % len(names)], "NAPTR")
                r = await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=5)
                assert r.answer, r

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(queries)))
        elapsed = time.perf_counter() - t0
        print(f"DNS NAPTR ({label:6}) : {queries / elapsed:8.0f} answers/s  (n={queries}, concurrency {concurrency})")

        t0 = time.perf_counter()
        n = min(queries, 1000)
        for i in range(n):
            await sml.lookup_smp_url(pids[i % len(pids)], ZONE, resolver=server.address)
        elapsed = time.perf_counter() - t0
        print(f"lookup_smp_url ({label:6}): {n / elapsed:8.0f} lookups/s sequential (n={n})")


async def _soap_rate(tmp: Path, count: int) -> None:
    pki = TestPki.generate(tmp / "pki")
    server_key, server_cert = pki.issue_tls("127.0.0.1").write(tmp, "server")
    smp_key, smp_cert = pki.issue_smp("PSM000001").write(tmp, "smp")
    client_ca = tmp / "clients.pem"
    client_ca.write_bytes(certificate_pem(pki.smp_ca.cert) + certificate_pem(pki.root.cert))
    tls_ca = tmp / "tls-ca.pem"
    tls_ca.write_bytes(certificate_pem(pki.tls_ca.cert))
    local = sml.LocalSml(sml.MemorySmlStore(), ZONE)
    async with sml.HttpsServer(sml.create_sml_app(local), certfile=server_cert, keyfile=server_key,
                               client_ca=client_ca) as server:
        ctx = sml.mtls_context(cert=smp_cert, key=smp_key, ca=tls_ca)
        async with httpx2.AsyncClient(verify=ctx) as http:
            client = sml.SmlClient(server.url, "SMP", http=http)
            await client.create_smp("https://smp.bench.test/", "127.0.0.1")
            t0 = time.perf_counter()
            for i in range(count):
                await client.create_participant(ParticipantId.parse(f"0088:soap{i:06d}"))
            elapsed = time.perf_counter() - t0
    print(f"SOAP create participant : {count / elapsed:8.0f} calls/s sequential over mTLS (keep-alive, n={count})")


async def main(participants: int, queries: int, concurrency: int) -> None:
    pids = [ParticipantId.parse(f"0088:57980000{i:05d}") for i in range(participants)]
    memory = sml.MemorySmlStore()
    await _fill(memory, pids)
    await _dns_rate("memory", memory, pids, queries, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'node.db'}"
        migrate(url)
        engine = create_engine(url)
        try:
            store = DbSmlStore(engine)
            await _fill(store, pids)
            await _dns_rate("sqlite", store, pids, queries, concurrency)
        finally:
            engine.dispose()
        await _soap_rate(Path(tmp), min(participants, 300))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.participants, args.queries, args.concurrency))
