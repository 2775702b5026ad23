"""`peppol-node serve` as a real process on HTTPS."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO, run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_over_tls_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    node = tmp_path / "node"
    assert run_cli("init", str(node), "--port", str(port)).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "accesspoint.cli", "serve", str(node)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(verify=ssl.create_default_context(cafile=str(node / "keys/tls-ca.cert.pem"))) as client:
            while True:
                try:
                    r = client.get(f"https://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read()
                    assert time.monotonic() < deadline, "node did not start"
                    time.sleep(0.2)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["seat_id"] == "PXX000001"
        assert r.http_version == "HTTP/1.1"
        # Plain HTTP to the TLS port is refused.
        with httpx.Client() as plain:
            try:
                plain.get(f"http://127.0.0.1:{port}/healthz")
                raised = False
            except httpx.HTTPError:
                raised = True
            assert raised
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines, err
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
