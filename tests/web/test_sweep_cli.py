"""`peppol-node sharing sweep` as an operator's cron job would run it: a real process, real SMTP."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accesspoint.config import load_settings
from accesspoint.db.tables.sharing import Invitation
from accesspoint.node import Node
from accesspoint.sharing import Context, accounts, invites, orgs, services_for
from tests.conftest import run_cli

pytestmark = [pytest.mark.db]


def test_sweep_sends_the_day_3_reminder_and_expires_old_links(tmp_path, database_url, smtp):
    box, port = smtp
    (tmp_path / "node.toml").write_text(
        f'[database]\nurl = "{database_url}"\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[web]\nbase_url = "https://node.test"\n[revocation]\nenabled = false\n', encoding="utf-8")
    node = Node(load_settings(tmp_path, environ={}))  # mails through the aiosmtpd server
    node.migrate()
    svc = services_for(node)
    past = Context(now=node.now() - timedelta(days=3, hours=1))
    with svc.sessions.begin() as db:
        acc = accounts.create_verified_user(db, svc, past, accounts.SignUp("anna@firm.test", "a long passphrase"))
        org = orgs.create_organisation(db, past, acc, "Bakkerij", ["0208:0123456749"]).id
        acc_id = acc.id
    invites.share_connections(svc, past, acc_id, org, "jan@bakkerij.test", ["peppol_purchase"])
    old = Context(now=node.now() - timedelta(days=15))
    invites.share_connections(svc, old, acc_id, org, "old@bakkerij.test", ["peppol_sales"])
    node.engine.dispose()

    done = run_cli("sharing", "sweep", str(tmp_path), env={"PEPPOL_DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"expired": 1, "reminded": 1}
    reminder = box.wait_for("jan@bakkerij.test", "Reminder:")
    assert "https://node.test/i/" in reminder.get_content()
    again = run_cli("sharing", "sweep", str(tmp_path), env={"PEPPOL_DATABASE_URL": database_url})
    assert json.loads(again.stdout) == {"expired": 0, "reminded": 0}
    with node.sessions() as db:
        assert sorted(db.scalars(sa.select(Invitation.status))) == ["expired", "pending"]
    node.engine.dispose()

