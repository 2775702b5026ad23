"""HTTPS with client certificates under uvicorn, exposing the peer certificate.

uvicorn (0.30 - 0.54 at least) verifies client certificates when told to
(`ssl_cert_reqs=CERT_REQUIRED`) but does not put them in the ASGI scope. The
ASGI TLS extension defines where they belong
(`scope["extensions"]["tls"]["client_cert_chain"]`, PEM strings); this module
fills it in with a subclass of uvicorn's h11 protocol, passed through uvicorn's
documented `http=` option, which wraps the app once per connection.

`HttpsServer` runs an ASGI app in-process on 127.0.0.1:0 (tests, the node):

    async with HttpsServer(app, certfile=..., keyfile=..., client_ca=...) as srv:
        srv.url   # https://127.0.0.1:PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["HttpsServer", "TlsScopeH11Protocol"]


def _with_tls(app: Any, tls: dict[str, Any]) -> Any:
    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = dict(scope)
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = tls
            scope["extensions"] = extensions
        await app(scope, receive, send)

    return wrapped


class TlsScopeH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension to every request scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        version = ssl_object.version()
        tls = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}.get(version or ""),
            "cipher_suite": None,
        }
        self.app = _with_tls(self.app, tls)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that runs inside another program's event loop.

    uvicorn captures SIGINT/SIGTERM while it serves; embedded in a node that is
    itself a uvicorn server, that would swallow the node's shutdown signal, so
    the embedding program keeps its signals and stops us through `close()`.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpsServer:
    """An in-process uvicorn server with TLS.

    With `client_ca`, client certificates are verified against it: required, or
    with `client_cert_required=False` optional (one server for SML clients and
    for anonymous callers; the SML app still refuses requests without one).
    The node's own uvicorn gets the same by passing `http=TlsScopeH11Protocol`,
    `ssl_ca_certs=...` and `ssl_cert_reqs=ssl.CERT_OPTIONAL` to `uvicorn.Config`.
    """

    def __init__(
        self,
        app: Any,
        *,
        certfile: str | Path,
        keyfile: str | Path,
        client_ca: str | Path | None = None,
        client_cert_required: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.app = app
        self.certfile, self.keyfile, self.client_ca = certfile, keyfile, client_ca
        self.client_cert_required = client_cert_required
        self.host, self.port = host, port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    async def start(self) -> HttpsServer:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it every small answer waits for the
        # client's delayed ACK (Nagle), about 40 ms per request on Linux.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            http=TlsScopeH11Protocol,
            ssl_certfile=str(self.certfile),
            ssl_keyfile=str(self.keyfile),
            ssl_ca_certs=str(self.client_ca) if self.client_ca else None,
            ssl_cert_reqs=(ssl.CERT_REQUIRED if self.client_cert_required else ssl.CERT_OPTIONAL)
            if self.client_ca
            else ssl.CERT_NONE,
            lifespan="off",
            # No log_config and no log_level: either would reconfigure the process-wide
            # "uvicorn" loggers and silence the embedding program's own server lines.
            log_config=None,
            # An idle TLS keep-alive client that never answers close_notify must not hold
            # the embedding program's shutdown open.
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the start-up error
                raise RuntimeError("HTTPS server stopped during start-up")
            await asyncio.sleep(0.01)
        return self

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None

    async def __aenter__(self) -> HttpsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
