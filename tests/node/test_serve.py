"""`peppol-node serve` as a real process on HTTPS."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx2

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
        with httpx2.Client(verify=ssl.create_default_context(cafile=str(node / "keys/tls-ca.cert.pem"))) as client:
            while True:
                try:
                    r = client.get(f"https://127.0.0.1:{port}/healthz")
                    break
                except httpx2.TransportError:
                    assert proc.poll() is None, proc.stderr.read()
                    assert time.monotonic() < deadline, "node did not start"
                    time.sleep(0.2)
        assert r.status_code == 200
        assert r.json()["status"] == "ok" and r.json()["seat_id"] == "PXX000001"
        assert r.http_version == "HTTP/1.1"
        # Plain HTTP to the TLS port is refused.
        with httpx2.Client() as plain:
            try:
                plain.get(f"http://127.0.0.1:{port}/healthz")
                raised = False
            except httpx2.HTTPError:
                raised = True
            assert raised
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert lines, err
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_serve_publishes_participants_through_its_smp_and_local_sml(tmp_path: Path) -> None:
    """A participant PUT on the node's SMP is registered at its local SML and found by `lookup`."""
    import tomllib

    port = free_port()
    node = tmp_path / "node"
    assert run_cli("init", str(node), "--port", str(port), "--soap-port", str(free_port()),
                   "--dns-port", str(free_port())).returncode == 0
    config = tomllib.loads((node / "node.toml").read_text())
    token = config["web"]["api_token"]
    proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(node)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    try:
        tls = ssl.create_default_context(cafile=str(node / "keys/tls-ca.cert.pem"))
        base = f"https://127.0.0.1:{port}"
        with httpx2.Client(verify=tls, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            pid = "iso6523-actorid-upis%3A%3A0208%3A0123456749"
            assert client.put(f"{base}/smp/{pid}").status_code == 401  # writes need the token
            r = client.put(f"{base}/smp/{pid}", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code in (200, 201), r.text
            group = client.get(f"{base}/smp/{pid}")
            assert group.status_code == 200 and b"ServiceGroup" in group.content
        trust = tmp_path / "trust.pem"
        trust.write_bytes(b"".join((node / "pki" / f).read_bytes() for f in ("root.cert.pem", "ap-ca.cert.pem", "smp-ca.cert.pem")))
        found = run_cli("lookup", "0208:0123456749", "--zone", config["sml"]["zone"],
                        "--dns", f"127.0.0.1:{config['sml']['dns_port']}",
                        "--trust-smp", str(trust), "--tls-ca", str(node / "keys/tls-ca.cert.pem"))
        result = json.loads(found.stdout)
        # Registered at the SML (DNS answers with our SMP) but no document type published yet.
        assert result["smp_url"] == f"{base}/smp", result
        assert result["found"] is False
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
