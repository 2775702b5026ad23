"""The operator CLI against the independent peers, as real processes on both sides:
`peppol-node as4 receive` (HTTPS) takes messages from the PyPI `as4` package and from peppol-py,
and `peppol-node as4 send` delivers to the `as4` package's receiver and verifies its receipt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.interop_peers.fixtures import (
    BILLING_PROCESS,
    INVOICE_DOCTYPE,
    RECEIVER_PID,
    SENDER_PID,
    SENDER_SEAT,
    invoice,
    read_store,
    start_peer,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]


@contextmanager
def cli_receiver(peer_pki, store: Path) -> Iterator[tuple[str, list[dict]]]:
    """`peppol-node as4 receive` over HTTPS on 127.0.0.1:0; yields its URL and its event lines."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "accesspoint.cli", "as4", "receive", "--listen", "127.0.0.1:0",
         "--key", str(peer_pki.receiver_key), "--cert", str(peer_pki.receiver_cert), "--trust", str(peer_pki.trust),
         "--store", str(store), "--tls-cert", str(peer_pki.tls_cert), "--tls-key", str(peer_pki.tls_key),
         "--revocation", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    events: list[dict] = []
    try:
        first = process.stdout.readline()
        assert first, process.stderr.read()
        hello = json.loads(first)

        def collect() -> None:
            for line in process.stdout:
                if line.strip():
                    events.append(json.loads(line))

        threading.Thread(target=collect, daemon=True).start()
        yield hello["url"], events
    finally:
        process.terminate()
        process.wait(timeout=15)


def stored_folders(store: Path) -> list[Path]:
    return sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_cli_receiver_takes_both_peers_over_https(peer_venv, peer_pki, tmp_path):
    document = tmp_path / "invoice.xml"
    document.write_bytes(invoice(number="CLI-IN-1"))
    store = tmp_path / "store"
    with cli_receiver(peer_pki, store) as (url, events):
        from_as4 = peer_venv.run_json(
            "as4_driver.py", "send", "--url", url, "--key", str(peer_pki.sender_key),
            "--cert", str(peer_pki.sender_cert), "--receiver-cert", str(peer_pki.receiver_cert),
            "--sender", SENDER_PID, "--recipient", RECEIVER_PID, "--doctype", INVOICE_DOCTYPE,
            "--process", BILLING_PROCESS, "--payload", str(document), "--ca-bundle", str(peer_pki.tls_ca),
        )
        from_peppol_py = peer_venv.run_json(
            "peppol_py_driver.py", "send", "--url", url, "--receiver-cert", str(peer_pki.receiver_cert),
            "--trust", str(peer_pki.trust), "--key", str(peer_pki.sender_key), "--cert", str(peer_pki.sender_cert),
            "--document", str(document), "--ca-bundle", str(peer_pki.tls_ca),
        )
    assert url.startswith("https://127.0.0.1:")
    assert from_as4["receipt_verified"] is True, from_as4
    assert from_peppol_py["sent"] is True, from_peppol_py
    folders = stored_folders(store)
    assert len(folders) == 2
    ids = {json.loads((f / "message.json").read_text())["message_id"] for f in folders}
    assert from_as4["message_id"] in ids
    assert all(json.loads((f / "message.json").read_text())["signer_seat_id"] == SENDER_SEAT for f in folders)


def test_cli_sender_delivers_to_as4_package(peer_venv, peer_pki, tmp_path):
    document = tmp_path / "invoice.xml"
    document.write_bytes(invoice(number="CLI-OUT-1"))
    store = tmp_path / "peer-store"
    with start_peer(
        peer_venv, "as4_driver.py", "receive", "--key", str(peer_pki.receiver_key),
        "--cert", str(peer_pki.receiver_cert), "--trust", str(peer_pki.root),
        "--intermediate", str(peer_pki.ap_ca), "--store", str(store),
    ) as peer:
        # a UBL document: the CLI wraps it in an SBDH with the ids taken from the invoice
        done = run_cli(
            "as4", "send", peer.url, str(document), "--key", str(peer_pki.sender_key),
            "--cert", str(peer_pki.sender_cert), "--receiver-cert", str(peer_pki.receiver_cert),
            "--trust", str(peer_pki.trust),
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert result["outcome"] == "delivered" and result["receipt"] == "verified"
    [record] = read_store(store)
    assert record["successful"] is True, record
    assert record["message_id"] == result["message_id"]
    assert (record["sender"], record["recipient"]) == (SENDER_PID, RECEIVER_PID)
    assert b"CLI-OUT-1" in (store / record["payload_file"]).read_bytes()
