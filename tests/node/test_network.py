"""The operator's first hour with real processes: `init --port`, `org add --receive`, `serve`, `lookup`.

Ports are ephemeral: a base port P is chosen so that P, P+1 and P+2 are free (init derives the
local SML's SOAP and DNS ports from P), so these tests run beside other nodes, including one on
the default 8443-8445.
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
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

pytestmark = pytest.mark.slow

PID = "0208:0123456749"


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_base_port(taken: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    """A port P with P, P+1, P+2 free (TCP and UDP), away from the kernel's ephemeral range."""
    for _ in range(200):
        base = random.randrange(20000, 30000)
        if all(_free(base + i) and base + i not in taken for i in range(3)):
            return base
    raise RuntimeError("no three consecutive free ports")


@contextlib.contextmanager
def serving(node: Path, expect_listeners: int = 3) -> Iterator[list[dict]]:
    """`peppol-node serve NODE` until it has logged a `listening` line for each listener."""
    proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(node)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    lines: queue.Queue[str | None] = queue.Queue()
    seen: list[dict] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        listening = 0
        while listening < expect_listeners:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "serve ended before listening:\n" + "\n".join(map(str, seen))
            if line.startswith("{"):
                record = json.loads(line)
                seen.append(record)
                listening += record.get("event") == "listening"
        yield seen
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        while (line := lines.get(timeout=30)) is not None:
            if line.startswith("{"):
                seen.append(json.loads(line))


def lookup(node: Path, config_zone: str, dns: str) -> dict:
    result = run_cli("lookup", PID, "--zone", config_zone, "--dns", dns, "--node", str(node))
    return json.loads(result.stdout)


def test_org_add_receive_makes_the_participant_discoverable_and_update_takes_it_off(tmp_path: Path) -> None:
    port = free_base_port()
    soap, dns_port = port + 1, port + 2
    node = tmp_path / "n"
    assert run_cli("init", str(node), "--port", str(port), "--soap-port", str(soap),
                   "--dns-port", str(dns_port)).returncode == 0
    added = run_cli("org", "add", str(node), "Bakkerij Peeters NV", PID, "--receive")
    assert added.returncode == 0, added.stderr
    assert "registers it there when it starts" in added.stdout  # the local SML runs inside serve
    dns = f"127.0.0.1:{dns_port}"
    with serving(node) as log:
        urls = {r["url"] for r in log if r.get("event") == "listening"}
        assert urls == {f"https://127.0.0.1:{port}", f"https://127.0.0.1:{soap}", f"dns://{dns}"}
        found = lookup(node, "local.peppol.test", dns)
        assert found["found"] is True, found
        assert found["endpoint_url"] == f"https://127.0.0.1:{port}/as4"
        assert found["smp_url"] == f"https://127.0.0.1:{port}/smp"
        listed = run_cli("org", "list", str(node)).stdout
        assert "SML registered" in listed and "receive on" in listed

        # While serving, the switch acts at once on both the SMP and the SML.
        off = run_cli("org", "update", str(node), PID, "--no-receive")
        assert off.returncode == 0 and "withdrawn at the SML" in off.stdout, off.stdout + off.stderr
        gone = lookup(node, "local.peppol.test", dns)
        assert gone["found"] is False and gone["error"]["stage"] == "dns", gone
        on = run_cli("org", "update", str(node), PID, "--receive")
        assert "registered at the SML" in on.stdout, on.stdout + on.stderr
        assert lookup(node, "local.peppol.test", dns)["found"] is True
        # The node's own MLS participant (0242:<SPID>) is published too.
        mls = run_cli("lookup", "0242:000001", "--node", str(node), "--doctype",
                      "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::"
                      "ApplicationResponse##urn:peppol:edec:mls:1.0::2.1", "--process",
                      "cenbii-procid-ubl::urn:peppol:edec:mls")
        assert json.loads(mls.stdout)["found"] is True, mls.stdout
    assert any(r.get("event") == "stopped" for r in log)
    assert not [r for r in log if r["level"] in ("error", "critical")], [r for r in log if r["level"] == "error"]
    # The expected first-start NotFound of the SML is explained, not logged as an HTTP 500.
    assert not [r for r in log if "500 Internal Server Error" in r["message"]]


def test_unknown_participant_update_is_a_clear_error(tmp_path: Path) -> None:
    node = tmp_path / "n"
    assert run_cli("init", str(node), "--port", str(free_base_port())).returncode == 0
    result = run_cli("org", "update", str(node), PID, "--receive")
    assert result.returncode == 1 and "no organisation on this node has the participant id" in result.stderr


def test_two_nodes_made_with_init_port_alone_serve_side_by_side(tmp_path: Path) -> None:
    first = free_base_port()
    second = free_base_port(taken={first, first + 1, first + 2})
    a, b = tmp_path / "a", tmp_path / "b"
    for node, port in ((a, first), (b, second)):
        assert run_cli("init", str(node), "--port", str(port)).returncode == 0
    with serving(a), serving(b):
        for node, port in ((a, first), (b, second)):
            verify = ssl.create_default_context(cafile=str(node / "keys/tls-ca.cert.pem"))
            r = httpx2.get(f"https://127.0.0.1:{port}/healthz", verify=verify, timeout=30)
            assert r.status_code == 200


def test_a_port_in_use_names_the_port_and_its_config_key(tmp_path: Path) -> None:
    port = free_base_port()
    node = tmp_path / "n"
    assert run_cli("init", str(node), "--port", str(port)).returncode == 0
    for taken, key in ((port, "[http] port"), (port + 1, "[sml] soap_port"), (port + 2, "[sml] dns_port")):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            result = run_cli("serve", str(node), timeout=60)
        assert result.returncode == 1
        assert f"port {taken} ({key}" in result.stderr and "already in use on 127.0.0.1" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
