"""The sender's HTTP client alone: client CPU per request for each way of building it.

    python benchmarks/http_client.py [--requests 3000] [--in-flight 16] [--size 10240] [--rounds 3]
                                     [--loop uvloop|asyncio] [--json]

Starts a uvicorn HTTPS server (httptools, uvloop, one process) in a child process, so its CPU is
not counted, answering every POST with a receipt-sized (3 KB) body. Then, in alternating rounds,
each client variant below sends `--requests` POSTs of `--size` bytes, `--in-flight` at a time,
over keep-alive TLS connections opened before the clock starts, with the body streamed from an
async iterator and a Content-Length header as `as4.send_message` sends it. It prints the client
process's CPU (`time.process_time()`) per request, the median over the rounds and the spread.
CPU, not wall time: the machine is shared, and another process's load changes the rate but
hardly the CPU one request costs.

Variants:
  httpx2                httpx2.AsyncClient as before issue 14 (httpcore2 on anyio)
  httpx2+pool/anyio     httpx2.AsyncClient on as4._http.PoolTransport, httpcore2's anyio backend
  httpx2+pool/asyncio   the same on as4._http.AsyncioBackend (as4.make_client()'s client, through `post`)
  make_client           as4.make_client()'s direct path (`PoolClient.post_raw`), what send_message uses
  pool/anyio            httpcore2.AsyncConnectionPool used directly, anyio backend
  pool/asyncio          httpcore2.AsyncConnectionPool used directly, AsyncioBackend
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpcore2  # noqa: E402
import httpx2  # noqa: E402

import as4  # noqa: E402
from as4._http import AsyncioBackend, PoolClient, PoolTransport  # noqa: E402

RESPONSE = b"<receipt>" + b"x" * 3000 + b"</receipt>"


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    """Reads the whole body, answers 3 KB: the shape of an AS4 exchange, none of its work."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/soap+xml"), (b"content-length", b"%d" % len(RESPONSE))]})
    await send({"type": "http.response.body", "body": RESPONSE})


def serve(fd: int, cert: str, key: str) -> None:
    import uvicorn

    uvicorn.run(app, fd=fd, ssl_certfile=cert, ssl_keyfile=key, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)


Send = Callable[[bytes], Awaitable[None]]


async def _body(payload: bytes) -> AsyncIterator[bytes]:
    yield payload


def limits() -> dict[str, object]:
    return {"max_connections": as4.client.MAX_CONNECTIONS, "max_keepalive_connections": as4.client.MAX_CONNECTIONS,
            "keepalive_expiry": 30.0}


def httpx_sender(client: httpx2.AsyncClient, url: str) -> Send:
    async def send(payload: bytes) -> None:
        response = await client.post(url, content=_body(payload),
                                     headers={"Content-Type": "multipart/related", "Content-Length": str(len(payload))})
        await response.aread()
        assert response.status_code == 200
    return send


def pool_sender(pool: httpcore2.AsyncConnectionPool, url: str) -> Send:
    timeouts = {"connect": 5.0, "read": 120.0, "write": 120.0, "pool": 1.0}

    async def send(payload: bytes) -> None:
        response = await pool.request("POST", url, content=_body(payload), extensions={"timeout": timeouts},
                                      headers={"Host": url.split("/")[2], "Content-Type": "multipart/related",
                                               "Content-Length": str(len(payload))})
        assert response.status == 200
    return send


def raw_sender(client: PoolClient, url: str) -> Send:
    async def send(payload: bytes) -> None:
        answer = await client.post_raw(url, _body(payload), {"Content-Type": "multipart/related",
                                                              "Content-Length": str(len(payload))})
        assert answer.status == 200
    return send


def build(variant: str, ctx: ssl.SSLContext, url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    timeout = httpx2.Timeout(120.0, connect=5.0, pool=1.0)
    lim = limits()
    if variant == "make_client":
        client = as4.make_client(verify=ctx)
        assert isinstance(client, PoolClient)
        return raw_sender(client, url), client.aclose
    if variant == "httpx2":
        client = httpx2.AsyncClient(verify=ctx, timeout=timeout, limits=httpx2.Limits(**lim))  # type: ignore[arg-type]
        return httpx_sender(client, url), client.aclose
    backend = AsyncioBackend() if variant.endswith("/asyncio") else None
    pool = httpcore2.AsyncConnectionPool(ssl_context=ctx, network_backend=backend, **lim)  # type: ignore[arg-type]
    if variant.startswith("httpx2+pool"):
        client = httpx2.AsyncClient(transport=PoolTransport(pool), timeout=timeout)
        return httpx_sender(client, url), client.aclose
    return pool_sender(pool, url), pool.aclose


VARIANTS = ("httpx2", "httpx2+pool/anyio", "httpx2+pool/asyncio", "make_client", "pool/anyio", "pool/asyncio")


async def measure(variant: str, ctx: ssl.SSLContext, url: str, requests: int, in_flight: int, size: int) -> float:
    """Client CPU seconds per request, after every connection is open and warm."""
    send, close = build(variant, ctx, url)
    payload = b"a" * size
    try:
        await asyncio.gather(*(send(payload) for _ in range(in_flight)))  # opens the connections
        for _ in range(3):
            await asyncio.gather(*(send(payload) for _ in range(in_flight)))
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                await send(payload)

        cpu = time.process_time()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return (time.process_time() - cpu) / requests
    finally:
        await close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", nargs=3, metavar=("FD", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return 0

    import certs

    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory(prefix="peppol-http-client-") as tmp:
        pki = certs.TestPki.generate(Path(tmp) / "pki")
        key, cert = pki.issue_tls("127.0.0.1").write(Path(tmp), "server")
        ca = Path(tmp) / "ca.pem"
        ca.write_bytes(certs.certificate_pem(pki.tls_ca.cert))
        ctx = as4.tls_context(str(ca))
        listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/as4"
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(listener.fileno()), str(cert), str(key)],
                                  pass_fds=[listener.fileno()])
        listener.close()  # the child holds it; connections queue in its backlog until uvicorn accepts
        runner: Callable[..., float]
        if args.loop == "uvloop":
            import uvloop

            runner = uvloop.run
        else:
            runner = asyncio.run
        figures: dict[str, list[float]] = {v: [] for v in variants}
        try:
            for _ in range(args.rounds):
                for variant in variants:
                    figures[variant].append(runner(measure(variant, ctx, url, args.requests, args.in_flight,
                                                           args.size)))
        finally:
            server.terminate()
            server.wait()
    report = {v: {"ms_per_request_median": round(1000 * statistics.median(f), 3),
                  "ms_per_request_runs": [round(1000 * x, 3) for x in f]} for v, f in figures.items()}
    if args.json:
        print(json.dumps({"loop": args.loop, "requests": args.requests, "in_flight": args.in_flight,
                          "size": args.size, "variants": report}, indent=2))
    else:
        print(f"client CPU per request ({args.loop}, {args.requests} POSTs of {args.size} B, "
              f"{args.in_flight} in flight, {args.rounds} alternating rounds):")
        base = report[variants[0]]["ms_per_request_median"]
        for v, r in report.items():
            ratio = r["ms_per_request_median"] / base if base else float("nan")
            print(f"  {v:22s} {r['ms_per_request_median']:.3f} ms  ({ratio:.2f}x)  runs {r['ms_per_request_runs']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
