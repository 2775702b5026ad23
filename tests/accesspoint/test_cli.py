"""`peppol-node send`, `deliver` and `report` as an operator runs them (real processes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, SELLER, add_organisation, invoice, make_sessions, \
    start_smtp
from tests.accesspoint.helpers import ThreadedDns
from tests.conftest import run_cli


@pytest.fixture
def dns():
    server = ThreadedDns("local.peppol.test")
    yield server.server.address
    server.stop()


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    from accesspoint.init import init_node

    base = tmp_path_factory.mktemp("clinode")
    return init_node(base / "node", pki_dir=base / "pki", sml_local=False)


@pytest.mark.db
def test_send_delivers_internally_or_waits_for_an_email_then_mails(node_dir, database_url, tmp_path, dns):
    engine, sessions = make_sessions(database_url)
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    add_organisation(sessions, "Buyer NV", BUYER_HERE)
    engine.dispose()
    controller, sink = start_smtp()
    env = {"PEPPOL_DATABASE_URL": database_url, "PEPPOL_REVOCATION_ENABLED": "false",
           "PEPPOL_SMTP_HOST": "127.0.0.1", "PEPPOL_SMTP_PORT": str(controller.port), "PEPPOL_SML_DNS": dns}
    try:
        (tmp_path / "a.xml").write_bytes(invoice("CLI-1"))
        r = run_cli("send", str(node_dir), str(tmp_path / "a.xml"), env=env)
        assert r.returncode == 0, r.stderr
        assert "delivered via internal" in r.stdout

        (tmp_path / "b.xml").write_bytes(invoice("CLI-2", buyer=BUYER_NOWHERE))
        r = run_cli("send", str(node_dir), str(tmp_path / "b.xml"), env=env)
        assert r.returncode == 0 and "needs_email" in r.stdout

        (tmp_path / "c.xml").write_bytes(invoice("CLI-3", buyer=BUYER_NOWHERE))
        r = run_cli("send", str(node_dir), str(tmp_path / "c.xml"), "--email", "ap@buyer.example", env=env)
        assert r.returncode == 0 and "sent via email" in r.stdout
        assert [m["To"] for m in sink.messages] == ["ap@buyer.example"]

        r = run_cli("send", str(node_dir), str(tmp_path / "a.xml"), env=env)  # duplicate submission
        assert r.returncode == 0 and "already submitted" in r.stderr

        (tmp_path / "bad.xml").write_bytes(b"<nope/>")
        r = run_cli("send", str(node_dir), str(tmp_path / "bad.xml"), env=env)
        assert r.returncode == 2 and "not-ubl" in r.stderr
    finally:
        controller.stop()


@pytest.mark.db
def test_report_writes_tsr_and_eusr(node_dir, database_url, tmp_path):
    month = datetime.now(UTC).strftime("%Y-%m")
    env = {"PEPPOL_DATABASE_URL": database_url, "PEPPOL_REVOCATION_ENABLED": "false"}
    r = run_cli("report", str(node_dir), "--month", month, "--out", str(tmp_path / "report"), env=env)
    assert r.returncode == 0, r.stderr
    assert b"<Incoming>0</Incoming>" in (tmp_path / "report-tsr.xml").read_bytes()
    assert b"<SendingEndUsers>0</SendingEndUsers>" in (tmp_path / "report-eusr.xml").read_bytes()
    bad = run_cli("report", str(node_dir), "--month", "2026-13", env=env)
    assert bad.returncode == 1 and "not a month" in bad.stderr
