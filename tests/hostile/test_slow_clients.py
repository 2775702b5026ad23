"""Slow clients against the real `peppol-node serve` (uvicorn, TLS): they must not block anyone else.

Slowloris (headers a byte at a time, never finished) and slow POST (a large
Content-Length, the body trickling) each hold a connection open. The node runs
on an event loop, so such a connection costs a socket and a little memory, not
a worker: an ordinary client must still be answered promptly while a hundred
of them hang on. Cutting them off after a deadline is the reverse proxy's job
(docker/nginx: client_header_timeout, client_body_timeout), checked in
tests/docker.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import REPO, run_cli

SLOW_CONNECTIONS = 100

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    directory = tmp_path_factory.mktemp("slow") / "node"
    assert run_cli("init", str(directory), "--port", str(port)).returncode == 0
    # The log goes to a file: an unread pipe fills up and then blocks the server's event loop on write.
    log = (directory.parent / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(directory)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=log, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                 "PEPPOL_REVOCATION_ENABLED": "false", "PEPPOL_SML_LOCAL": "false"})
    ca = directory / "keys/tls-ca.cert.pem"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx2.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=str(ca)))
                break
            except httpx2.TransportError:
                assert proc.poll() is None, (directory.parent / "serve.log").read_text()
                assert time.monotonic() < deadline, "node did not start"
                time.sleep(0.2)
        yield port, ca
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class SlowClients:
    """N TLS connections that each send a little, then a byte now and then, and never finish."""

    def __init__(self, port: int, ca: Path, n: int, *, body: bool) -> None:
        self.context = ssl.create_default_context(cafile=str(ca))
        self.port, self.n, self.body = port, n, body
        self.sockets: list[ssl.SSLSocket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> SlowClients:
        for _ in range(self.n):
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            tls = self.context.wrap_socket(raw, server_hostname="localhost")
            if self.body:
                tls.sendall(b"POST /login HTTP/1.1\r\nHost: localhost\r\n"
                            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\nx")
            else:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: local")
            self.sockets.append(tls)
        self.thread.start()
        return self

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for s in self.sockets:
                try:
                    s.send(b"x" if self.body else b"h")
                except OSError:
                    pass

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for s in self.sockets:
            s.close()


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body"])
def test_slow_clients_do_not_block_other_clients(node: tuple[int, Path], kind: str) -> None:
    port, ca = node
    with SlowClients(port, ca, SLOW_CONNECTIONS, body=kind == "slow-body") as slow:
        time.sleep(1.0)  # let them settle into the server
        context = ssl.create_default_context(cafile=str(ca))
        with httpx2.Client(verify=context, timeout=10) as client:
            timings = []
            for _ in range(5):
                started = time.monotonic()
                r = client.get(f"https://127.0.0.1:{port}/healthz", headers={"connection": "close"})
                timings.append(time.monotonic() - started)
                assert r.status_code == 200
        # Each answer came while all the slow connections were still held open by the server.
        alive = 0
        for s in slow.sockets:
            try:
                s.send(b"x")
                alive += 1
            except OSError:
                pass
        assert alive == SLOW_CONNECTIONS
    assert max(timings) < 2.0, timings


def test_a_handshake_that_never_starts_does_not_block(node: tuple[int, Path]) -> None:
    """TCP connections that never send a ClientHello (a TLS-level slowloris)."""
    port, ca = node
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(SLOW_CONNECTIONS)]
    try:
        started = time.monotonic()
        r = httpx2.get(f"https://127.0.0.1:{port}/healthz", verify=ssl.create_default_context(cafile=str(ca)),
                      timeout=10)
        assert r.status_code == 200 and time.monotonic() - started < 2.0
    finally:
        for s in idle:
            s.close()
