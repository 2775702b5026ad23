"""`peppol-node serve DIR`: the node as one HTTPS ASGI application under uvicorn.

Before anything starts, every port the node will listen on is tried (the HTTPS socket is
bound here and handed to uvicorn; the local SML's SOAP and DNS ports are test-bound), so a
port that another program (or a second node made with the same `init --port`) holds ends the
command with the port and the config key that sets it, instead of a traceback after start-up.
When everything listens, one `listening` line per listener gives its URL; one line on shutdown.

With `[http] workers` above 1 (default: one per core) the same socket is served by HTTP-only
worker processes beside this one; `accesspoint.processes` says why and how.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import ssl
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accesspoint.config import ConfigError, load_settings
from accesspoint.logs import configure_logging

if TYPE_CHECKING:
    from accesspoint.config import Settings
    from accesspoint.processes import HttpWorkers

log = logging.getLogger("accesspoint.serve")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the node: AS4, SMP, local SML, web app and API over HTTPS")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("--host", help="listen on this address instead of [http] host")
    p.add_argument("--port", type=int, help="listen on this port instead of [http] port")
    p.add_argument("--no-tls", action="store_true",
                   help="plain HTTP (only behind a TLS-terminating proxy, or for loopback tests)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   type=str.upper, help="log level of the JSON log lines on stderr (default INFO)")
    # An HTTP worker started by the primary `serve` (accesspoint.processes); not for operators.
    p.add_argument("--worker-of", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-number", type=int, help=argparse.SUPPRESS)
    p.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_serve)


@dataclass(frozen=True, slots=True)
class Listener:
    """One address the node listens on, with the config key an operator changes to move it."""

    name: str
    url: str
    host: str
    port: int
    key: str
    udp: bool = False


def listeners(settings: Settings, host: str, port: int, *, tls: bool) -> list[Listener]:
    shown = f"[{host}]" if ":" in host else host
    out = [Listener("web app, AS4 (/as4), SMP (/smp)", f"{'https' if tls else 'http'}://{shown}:{port}",
                    host, port, "[http] port")]
    s = settings.sml
    if s.local:
        out.append(Listener("local SML SOAP API", f"https://127.0.0.1:{s.soap_port}", "127.0.0.1", s.soap_port,
                            "[sml] soap_port"))
        out.append(Listener(f"local SML DNS for {s.zone}", f"dns://{s.dns_host}:{s.dns_port}", s.dns_host, s.dns_port,
                            "[sml] dns_port", udp=True))
    i = settings.intake
    if i.enabled:
        out.append(Listener(f"mail intake for @{i.domain}", f"smtp://{i.host}:{i.port}", i.host, i.port,
                            "[intake] port"))
    return out


class PortInUse(Exception):
    def __init__(self, listener: Listener, exc: OSError) -> None:
        taken = exc.errno == errno.EADDRINUSE
        super().__init__(
            f"port {listener.port} ({listener.key}, {listener.name}) is "
            + ("already in use" if taken else f"not available ({exc.strerror or exc})")
            + f" on {listener.host}"
            + (": stop what holds it, or choose another port in node.toml / with PEPPOL_* overrides" if taken else ""))


def _socket(host: str, kind: int) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)


#: How long a port in use is tried again: the HTTP workers of a node just SIGKILLed are
#: killed by the kernel a moment after it, and a restart right away should not fail on them.
BIND_RETRY_SECONDS = 2.0


def bind_https(listener: Listener) -> socket.socket:
    import time

    deadline = time.monotonic() + BIND_RETRY_SECONDS
    while True:
        sock = _socket(listener.host, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it each small answer waits for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((listener.host, listener.port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise PortInUse(listener, exc) from None
        sock.listen(2048)
        return sock


def preflight(listener: Listener) -> None:
    """Try the port the way its server will bind it, then let go (it binds it itself during start-up)."""
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if listener.udp else [])
    for kind in kinds:
        with _socket(listener.host, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((listener.host, listener.port))
            except OSError as exc:
                raise PortInUse(listener, exc) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from accesspoint.node import Node
    from accesspoint.processes import HttpWorkers, default_worker_count

    configure_logging(args.log_level)
    try:
        settings = load_settings(args.directory)
    except ConfigError as exc:
        print(f"peppol-node serve: {exc}", file=sys.stderr)
        return 1
    if args.worker_of is not None:
        return _serve_worker(args, settings)
    host = args.host or settings.http.host
    port = args.port if args.port is not None else settings.http.port
    wanted = listeners(settings, host, port, tls=not args.no_tls)
    try:
        sock = bind_https(wanted[0])
    except PortInUse as exc:
        print(f"peppol-node serve: {exc}", file=sys.stderr)
        return 1
    try:
        for listener in wanted[1:]:
            preflight(listener)
    except PortInUse as exc:
        sock.close()
        print(f"peppol-node serve: {exc}", file=sys.stderr)
        return 1
    wanted[0] = Listener(wanted[0].name, wanted[0].url.rsplit(":", 1)[0] + f":{sock.getsockname()[1]}",
                         host, sock.getsockname()[1], wanted[0].key)

    count = settings.http.workers or default_worker_count()
    workers = None
    if count > 1:
        primary = os.getpid()

        def command(n: int) -> list[str]:
            return [sys.executable, "-m", "accesspoint.cli", "serve", str(args.directory),
                    "--log-level", args.log_level, *(["--no-tls"] if args.no_tls else []),
                    "--worker-of", str(primary), "--worker-number", str(n),
                    "--socket-fd", str(sock.fileno())]

        workers = HttpWorkers(count - 1, command, pass_fds=(sock.fileno(),))
    node = Node(settings)
    server = _server(_uvicorn_config(node, settings, tls=not args.no_tls), wanted, workers)
    try:
        server.run(sockets=[sock])
    finally:
        if workers is not None:
            workers.stop()  # already done by a clean shutdown; this covers a failed start-up
        sock.close()
    return 0 if server.started else 1


def _serve_worker(args: argparse.Namespace, settings: Settings) -> int:
    """An HTTP-only `serve` process beside the primary `args.worker_of`, on the socket it bound."""
    import uvicorn

    from accesspoint.node import Node
    from accesspoint.processes import die_with_parent, settle_heap

    die_with_parent(args.worker_of)
    sock = socket.socket(fileno=args.socket_fd)
    node = Node(settings, role="http")
    number = args.worker_number

    class WorkerServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                settle_heap()
                log.info("HTTP worker %s (pid %d) serving", number, os.getpid(),
                         extra={"event": "worker_ready", "worker": number})

    server = WorkerServer(_uvicorn_config(node, settings, tls=not args.no_tls))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1


def _uvicorn_config(node: Any, settings: Settings, *, tls: bool) -> Any:
    import uvicorn

    from accesspoint.web.app import create_app

    options: dict[str, object] = {}
    if tls:
        options = {
            "ssl_keyfile": str(settings.path(settings.pki.tls_key)),
            "ssl_certfile": str(settings.path(settings.pki.tls_cert)),
            # Peppol Policy for Transport Security: TLS 1.2 at least.
            "ssl_version": ssl.PROTOCOL_TLS_SERVER,
            "ssl_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
        }
    return uvicorn.Config(
        create_app(node), log_config=None, access_log=False,
        timeout_keep_alive=30, limit_concurrency=1000,
        # On SIGTERM, finish what is in flight but do not wait forever for idle keep-alive
        # connections: stored messages are durable, a cut-off sender retries.
        timeout_graceful_shutdown=10, **options,
    )


def _server(config: Any, wanted: list[Listener], workers: HttpWorkers | None) -> Any:
    """uvicorn's Server, starting the HTTP workers and saying where the node listens once all of
    it does, stopping them and saying so on shutdown."""
    import asyncio

    import uvicorn

    from accesspoint.processes import settle_heap

    class NodeServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # the lifespan (migrations, local SML, ...) is up and the socket serves
                settle_heap()
                if workers is not None:
                    workers.start()
                    log.info("serving HTTP in %d processes (primary pid %d, [http] workers)",
                             workers.count + 1, os.getpid(), extra={"event": "workers", "processes": workers.count + 1})
                for listener in wanted:
                    log.info("listening: %s on %s", listener.name, listener.url,
                             extra={"event": "listening", "url": listener.url, "config_key": listener.key})

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if workers is not None:
                await asyncio.gather(asyncio.to_thread(workers.stop), super().shutdown(sockets))
            else:
                await super().shutdown(sockets)
            log.info("stopped: no longer listening on %s", ", ".join(w.url for w in wanted),
                     extra={"event": "stopped"})

    return NodeServer(config)
