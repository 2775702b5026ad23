"""Mail intake in the real node: `peppol-node serve` with `[intake] enabled`, mail by smtplib, the
draft sent with `peppol-node intake send` and delivered over SML -> SMP -> AS4 to a second node,
whose signed receipt the first verifies. And a SIGKILL in the middle of DATA."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from accesspoint.config import load_settings
from accesspoint.db.tables.intake import IntakeDraft, IntakeMessage
from accesspoint.delivery import State
from accesspoint.node import Node
from tests.accesspoint.helpers import BUYER_REMOTE, SELLER, invoice
from tests.conftest import REPO, run_cli
from tests.intake.harness import free_port, invoice_mail
from tests.node.test_network import free_base_port

pytestmark = [pytest.mark.slow, pytest.mark.db]
SUPPLIER = "facturen@boekhouder.example"


class Serve:
    """`peppol-node serve DIR` as a process, until it logged `listening` for each of its listeners."""

    def __init__(self, directory: Path, env: dict[str, str], listeners: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(directory)], cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(REPO), **env})
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 120
        seen = 0
        while seen < listeners:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "serve ended before listening:\n" + "".join(self.log)
            if line.startswith("{"):
                seen += json.loads(line).get("event") == "listening"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def _env(database_url: str | None, intake_port: int | None = None, testdata: Path | None = None) -> dict[str, str]:
    env = {"PEPPOL_HTTP_WORKERS": "1"}
    if database_url:
        env["PEPPOL_DATABASE_URL"] = database_url
    if intake_port:
        env.update({"PEPPOL_INTAKE_ENABLED": "1", "PEPPOL_INTAKE_PORT": str(intake_port),
                    "PEPPOL_INTAKE_DOMAIN": "intake.test"})
    if testdata:
        env.update({"PEPPOL_VALIDATION_RULES_DIR": str(testdata / "phive-rules" / "openpeppol-2026.5"),
                    "PEPPOL_VALIDATION_XSD_DIR": str(testdata / "ubl-2.1" / "xsd")})
    return env


def _cli(*args: str, env: dict[str, str]) -> str:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _add_sender(node: Path, env: dict[str, str]) -> tuple[str, str]:
    out = _cli("intake", "add", str(node), SELLER, "--address", SUPPLIER, "--contact", "admin@seller.example",
               "--name", "Boekhouder", env=env)
    match = re.search(r"trusted sender (\S+) for .* to (\S+@intake\.test)", out)
    assert match, out
    return match.group(1), match.group(2)


@contextlib.contextmanager
def _node_a(tmp_path: Path, database_url: str, testdata: Path | None) -> Iterator[tuple[Path, dict, int]]:
    port = free_base_port()
    node = tmp_path / "a"
    intake_port = free_port()
    env = _env(database_url if database_url.startswith("postgresql") else None, intake_port, testdata)
    assert run_cli("init", str(node), "--port", str(port), "--soap-port", str(port + 1),
                   "--dns-port", str(port + 2), "--seat", "PNL000001", "--pki", str(tmp_path / "pki"),
                   env=env).returncode == 0
    _cli("org", "add", str(node), "Seller BV", SELLER, env=env)
    yield node, env, port


def test_mailed_invoice_becomes_a_draft_and_goes_over_as4_to_another_node(tmp_path, database_url, testdata):
    with _node_a(tmp_path, database_url, testdata) as (node_a, env_a, port_a):
        intake_port = int(env_a["PEPPOL_INTAKE_PORT"])
        node_b = tmp_path / "b"
        port_b = free_base_port({port_a, port_a + 1, port_a + 2})
        env_b = _env(None)
        assert run_cli("init", str(node_b), "--port", str(port_b), "--seat", "PBE000002", "--no-local-sml",
                       "--dns", f"127.0.0.1:{port_a + 2}", "--sml", f"https://127.0.0.1:{port_a + 1}",
                       "--pki", str(tmp_path / "pki"), env=env_b).returncode == 0
        _cli("org", "add", str(node_b), "Buyer NV", BUYER_REMOTE, "--receive", env=env_b)
        sender_id, address = _add_sender(node_a, env_a)
        a = Serve(node_a, env_a, listeners=4)  # HTTPS, SML SOAP, SML DNS, mail intake
        b = None
        try:
            b = Serve(node_b, env_b, listeners=1)  # registers Buyer NV at A's SML as it starts
            raw = invoice_mail(SUPPLIER, address, ("INV-E1.xml", invoice("INV-E1", buyer=BUYER_REMOTE)))
            with smtplib.SMTP("127.0.0.1", intake_port, timeout=60) as smtp:
                smtp.ehlo("boekhouder.example")
                assert smtp.has_extn("starttls")  # offered with the node's TLS key
                refused = smtp.sendmail("bounce@boekhouder.example", [address], raw)
            assert refused == {}
            drafts = _cli("intake", "drafts", str(node_a), SELLER, env=env_a)
            draft_id = drafts.split()[0]
            assert "INV-E1" in drafts and "Buyer NV" in drafts, drafts
            sent = _cli("intake", "send", str(node_a), draft_id, env=env_a)
            entry_id = re.search(r"in the outbox as (\S+):", sent).group(1)
            settings = load_settings(node_a, {**os.environ, **env_a})
            reader = Node(settings)
            try:
                deadline = time.monotonic() + 120
                while (entry := reader.outbox.get(entry_id)).state not in (State.DELIVERED, State.FAILED):
                    assert time.monotonic() < deadline, entry.as_json()
                    time.sleep(0.2)
                assert entry.state is State.DELIVERED and entry.channel == "peppol", entry.as_json()
                assert entry.has_receipt and entry.endpoint == f"https://127.0.0.1:{port_b}/as4"
                assert [e.action for e in entry.events][0] == "submitted"
            finally:
                reader.engine.dispose()
            listed = _cli("intake", "list", str(node_a), env=env_a)
            assert f"{sender_id}  active" in listed  # the first accepted invoice activated it
            assert "accepted" in _cli("intake", "mail", str(node_a), sender_id, env=env_a)
        finally:
            if b is not None:
                b.stop()
            a.stop()
        node = Node(load_settings(node_b, {**os.environ, **env_b}))
        try:
            with node.sessions() as db:
                numbers = db.scalars(sa.text("SELECT number FROM documents WHERE direction = 'in'")).all()
        finally:
            node.engine.dispose()
        assert numbers == ["INV-E1"]


def test_sigkill_during_data_loses_and_duplicates_nothing(tmp_path, database_url):
    with _node_a(tmp_path, database_url, None) as (node_a, env_a, _):
        intake_port = int(env_a["PEPPOL_INTAKE_PORT"])
        _, address = _add_sender(node_a, env_a)
        raw = invoice_mail(SUPPLIER, address, ("INV-K1.xml", invoice("INV-K1")), message_id="<kill-1@boekhouder>")
        a = Serve(node_a, env_a, listeners=4)
        try:
            # Half the mail, then the node dies: the client never got a 250, so it still has the mail.
            with socket.create_connection(("127.0.0.1", intake_port), timeout=30) as s:
                f = s.makefile("rb")
                assert f.readline().startswith(b"220")
                for command, code in ((b"EHLO boekhouder.example", b"250 "), (b"MAIL FROM:<" + SUPPLIER.encode() + b">", b"250"),
                                      (b"RCPT TO:<" + address.encode() + b">", b"250"), (b"DATA", b"354")):
                    s.sendall(command + b"\r\n")
                    while not (line := f.readline()).startswith(code):
                        assert line[:3].isdigit() and line[3:4] == b"-", line
                s.sendall(raw[: len(raw) // 2])
                a.kill()
                try:  # the connection went with the node, and no reply came
                    assert f.read() == b""
                except ConnectionResetError:
                    pass
        finally:
            a.stop()
        node = Node(load_settings(node_a, {**os.environ, **env_a}))

        def counts() -> tuple[int, int]:
            with node.sessions() as db:
                return (db.scalar(sa.select(sa.func.count()).select_from(IntakeMessage)),
                        db.scalar(sa.select(sa.func.count()).select_from(IntakeDraft)))

        try:
            assert counts() == (0, 0)  # nothing half-stored
            a = Serve(node_a, env_a, listeners=4)
            try:
                for _ in range(2):  # the client's retry; and once more, as if our 250 had been lost
                    with smtplib.SMTP("127.0.0.1", intake_port, timeout=60) as smtp:
                        assert smtp.sendmail(SUPPLIER, [address], raw) == {}
            finally:
                a.stop()
            assert counts() == (1, 1)
        finally:
            node.engine.dispose()
