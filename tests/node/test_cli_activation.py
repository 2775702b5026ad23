"""`peppol-node org approve|reject`: the operator's activation verifier from the shell (W1.3), on both databases.

The organisation is added in the web app's way (a user's draft, `accesspoint.sharing.orgs`), since
`org add` creates organisations that are active at once (the operator typed them in).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from accesspoint.config import load_settings
from accesspoint.db.tables.organisations import Organisation
from accesspoint.db.tables.sharing import AuditEvent
from accesspoint.node import Node
from accesspoint.sharing import Context, accounts, activation, orgs, services_for
from tests.conftest import run_cli

pytestmark = pytest.mark.db

PID = "0208:0123456749"


def draft_organisation(node_dir: Path, database_url: str) -> tuple[Node, int]:
    node = Node(load_settings(node_dir, environ={"PEPPOL_DATABASE_URL": database_url}))
    node.migrate()
    svc, ctx = services_for(node), Context(now=node.now())
    with node.sessions.begin() as db:
        user = accounts.create_verified_user(db, svc, ctx, accounts.SignUp("anna@boekhouder.test", "a long passphrase"))
        org = orgs.create_organisation(db, ctx, user, "Seller BV", [PID], held_for="own")
        org_id = org.id
    activation.submit(svc, ctx, user.id, org_id)
    return node, org_id


def test_reject_needs_a_reason_then_approve_activates_and_both_are_audited(tmp_path: Path, database_url: str) -> None:
    node_dir = tmp_path / "n"
    assert run_cli("init", str(node_dir)).returncode == 0
    env = {"PEPPOL_DATABASE_URL": database_url}
    node, org_id = draft_organisation(node_dir, database_url)
    try:
        listed = run_cli("org", "list", str(node_dir), env=env).stdout
        assert "Seller BV  (verifying;" in listed

        no_reason = run_cli("org", "reject", str(node_dir), PID, env=env)
        assert no_reason.returncode == 2 and "--reason" in no_reason.stderr  # argparse: required
        rejected = run_cli("org", "reject", str(node_dir), PID, "--reason", "KBO name differs", env=env)
        assert rejected.returncode == 0, rejected.stderr
        assert rejected.stdout.strip() == f"organisation {org_id} ({PID}) is rejected: KBO name differs"
        approved = run_cli("org", "approve", str(node_dir), PID, env=env)
        assert approved.returncode == 0 and f"organisation {org_id} ({PID}) is active" in approved.stdout
        again = run_cli("org", "approve", str(node_dir), PID, env=env)
        assert again.returncode == 1 and "already active" in again.stderr
        unknown = run_cli("org", "approve", str(node_dir), "0208:0314595348", env=env)
        assert unknown.returncode == 1 and "no organisation on this node" in unknown.stderr

        with node.sessions() as db:
            assert db.get(Organisation, org_id).status == "active"
            events = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "organisation.activation")
                                .order_by(AuditEvent.id)).all()
            trail = [(e.before, e.after, json.loads(e.detail)["reason"], e.actor_user_id, e.user_agent) for e in events]
        assert [t[:3] for t in trail] == [
            ("draft", "verifying", ""), ("verifying", "rejected", "KBO name differs"),
            ("rejected", "verifying", ""), ("verifying", "active", "approved by the node's operator (CLI)")]
        assert all(t[3] is None and t[4] == "peppol-node CLI" for t in trail[1:])
    finally:
        node.engine.dispose()


def test_org_add_is_active_at_once_and_says_so_in_the_audit_log(tmp_path: Path, database_url: str) -> None:
    node_dir = tmp_path / "n"
    assert run_cli("init", str(node_dir)).returncode == 0
    env = {"PEPPOL_DATABASE_URL": database_url}
    assert run_cli("org", "add", str(node_dir), "Bakkerij Peeters NV", PID, env=env).returncode == 0
    assert "Bakkerij Peeters NV  (active;" in run_cli("org", "list", str(node_dir), env=env).stdout
    node = Node(load_settings(node_dir, environ=env))
    try:
        with node.sessions() as db:
            ev = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "organisation.created")).one()
        assert ev.after == "active" and json.loads(ev.detail)["verifier"] == "operator"
    finally:
        node.engine.dispose()


def test_receiving_needs_an_active_organisation(tmp_path: Path, database_url: str) -> None:
    node_dir = tmp_path / "n"
    assert run_cli("init", str(node_dir)).returncode == 0
    env = {"PEPPOL_DATABASE_URL": database_url}
    node, org_id = draft_organisation(node_dir, database_url)
    try:
        refused = run_cli("org", "update", str(node_dir), PID, "--receive", env=env)
        assert refused.returncode == 1 and "Waiting for verification by the node's operator" in refused.stderr
        assert "not published" in run_cli("org", "list", str(node_dir), env=env).stdout  # nothing was written
        assert run_cli("org", "approve", str(node_dir), PID, env=env).returncode == 0
        on = run_cli("org", "update", str(node_dir), PID, "--receive", env=env)
        assert on.returncode == 0 and "published in our SMP" in on.stdout, on.stdout + on.stderr
    finally:
        node.engine.dispose()
