"""`serve` with `[http] workers = 2`: one primary and one HTTP worker on the same socket.

What an operator relies on: requests are answered by whichever process is free (the worker
answers while the primary is stopped), one signal to the primary stops everything, a SIGKILL
of the primary leaves no process holding the port, and a worker that dies is replaced.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the worker pids")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.node = tmp_path / "node"
        assert run_cli("init", str(self.node), "--port", str(self.port)).returncode == 0
        self.log_path = tmp_path / "serve.log"
        env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "PEPPOL_HTTP_WORKERS": "2",
               "PEPPOL_SML_LOCAL": "false", "PEPPOL_REVOCATION_ENABLED": "false"}
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(self.node)],
                                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, env=env)
        self.tls = ssl.create_default_context(cafile=str(self.node / "keys/tls-ca.cert.pem"))

    def events(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def has_event(self, name: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited: {self.log_path.read_text()[-3000:]}")
        return any(e.get("event") == name for e in self.events())

    def healthz(self, timeout: float = 10) -> int:
        with httpx2.Client(verify=self.tls, timeout=timeout) as client:
            return client.get(f"https://127.0.0.1:{self.port}/healthz").status_code

    def worker(self) -> int:
        """The pid of the HTTP worker once it answers requests."""
        def started() -> int | None:
            kids = [c for c in children(self.proc.pid) if alive(c)]
            return kids[0] if len(kids) == 1 else None

        return wait_until(started, 60, "one HTTP worker process")  # type: ignore[return-value]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    try:
        wait_until(lambda: s.has_event("listening"), 90, "serve to listen")
        yield s
    finally:
        s.stop()


def _answers(s: Served) -> bool:
    try:
        return s.healthz(timeout=2) == 200
    except httpx2.TransportError:
        return False


def test_worker_answers_while_the_primary_is_stopped(served: Served) -> None:
    assert served.has_event("workers")
    worker = served.worker()
    os.kill(served.proc.pid, signal.SIGSTOP)
    try:
        # Only the worker can accept now; it comes up (rules compiled, app started) and answers.
        wait_until(lambda: _answers(served), 90, "the HTTP worker to answer with the primary stopped")
        assert alive(worker)
    finally:
        os.kill(served.proc.pid, signal.SIGCONT)


def test_sigterm_to_the_primary_stops_every_process(served: Served) -> None:
    worker = served.worker()
    served.proc.terminate()
    # uvicorn re-raises the signal it handled once it has shut down cleanly: systemd and
    # shells see "terminated by SIGTERM", which they count as a clean stop.
    assert served.proc.wait(60) in (0, -signal.SIGTERM)
    assert not alive(worker)
    assert any(e.get("event") == "stopped" for e in served.events())
    assert port_free(served.port)


def test_sigkill_of_the_primary_takes_the_workers_and_frees_the_port(served: Served) -> None:
    worker = served.worker()
    served.proc.kill()
    served.proc.wait(30)
    wait_until(lambda: not alive(worker), 30, "the worker to die with the primary")
    wait_until(lambda: port_free(served.port), 30, "the port to be free")


def test_a_dead_worker_is_replaced(served: Served) -> None:
    first = served.worker()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: not alive(first), 30, "the first worker to die")
    second = served.worker()
    assert second != first
    wait_until(lambda: any(e.get("event") == "worker_replaced" for e in served.events()), 30,
               "the replacement to be logged")
    os.kill(served.proc.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: _answers(served), 90, "the replacement worker to answer")
    finally:
        os.kill(served.proc.pid, signal.SIGCONT)


def test_a_worker_delivers_from_the_outbox_while_the_primary_is_stopped(served: Served) -> None:
    """Every process runs delivery loops: a submit lands in the worker and is delivered by it."""
    import tomllib

    from accesspoint.config import load_settings
    from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions

    settings = load_settings(served.node)
    engine, sessions = make_sessions(settings.database_url)
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    add_organisation(sessions, "Buyer NV", BUYER_HERE)
    engine.dispose()
    token = tomllib.loads((served.node / "node.toml").read_text())["web"]["api_token"]
    served.worker()
    os.kill(served.proc.pid, signal.SIGSTOP)
    try:
        base = f"https://127.0.0.1:{served.port}"
        with httpx2.Client(verify=served.tls, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
            def submitted() -> str | None:
                try:
                    r = client.post(f"{base}/api/v1/documents", content=invoice("WORKER-1"),
                                    headers={"content-type": "application/xml"}, timeout=5)
                except httpx2.TransportError:
                    return None  # the worker is still starting
                assert r.status_code in (200, 201), r.text
                return r.json()["id"]

            entry = wait_until(submitted, 90, "the worker to take the submit")
            delivered = wait_until(
                lambda: client.get(f"{base}/api/v1/documents/{entry}").json()["state"] == "delivered", 60,
                "the worker's delivery loop to deliver it")
            assert delivered
    finally:
        os.kill(served.proc.pid, signal.SIGCONT)
