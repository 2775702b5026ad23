"""`peppol-node init` / `check` / `pki revoke`, run as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_init_check_revoke_check(tmp_path: Path) -> None:
    node = tmp_path / "node"
    init = run_cli("init", str(node), "--seat", "PBE000123")
    assert init.returncode == 0, init.stderr
    assert "PBE000123" in init.stdout
    assert (node / "node.toml").exists() and (node / "node.db").exists()

    check = run_cli("check", str(node))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "AP certificate is not revoked (checked by OCSP)" in check.stdout
    assert "node is ready" in check.stdout

    revoke = run_cli("pki", "revoke", str(node), "ap")
    assert revoke.returncode == 0, revoke.stderr

    check = run_cli("check", str(node), "--json")
    assert check.returncode == 1
    report = json.loads(check.stdout)
    failed = [f for f in report["findings"] if not f["ok"]]
    assert [f["topic"] for f in failed] == ["AP certificate"]
    assert "revoked" in failed[0]["message"]


def test_init_refuses_a_bad_seat_and_an_existing_node(tmp_path: Path) -> None:
    bad = run_cli("init", str(tmp_path / "x"), "--seat", "BE123")
    assert bad.returncode == 1 and "seat id" in bad.stderr
    assert run_cli("init", str(tmp_path / "y")).returncode == 0
    again = run_cli("init", str(tmp_path / "y"))
    assert again.returncode == 1 and "already holds a node" in again.stderr


def test_check_names_what_is_wrong(tmp_path: Path) -> None:
    node = tmp_path / "node"
    assert run_cli("init", str(node)).returncode == 0
    (node / "keys/ap.cert.pem").write_bytes((node / "keys/smp.cert.pem").read_bytes())
    (node / "keys/tls.key.pem").unlink()
    check = run_cli("check", str(node))
    assert check.returncode == 1
    assert "FAIL  AP key: the private key in" in check.stdout and "does not belong" in check.stdout
    assert "FAIL  TLS key: cannot read" in check.stdout


def test_check_reports_a_bad_config_key(tmp_path: Path) -> None:
    node = tmp_path / "node"
    assert run_cli("init", str(node)).returncode == 0
    check = run_cli("check", str(node), env={"PEPPOL_HTTP_PORT": "eighty"})
    assert check.returncode == 1 and "PEPPOL_HTTP_PORT" in check.stdout


def test_check_against_an_unmigrated_postgres_schema(tmp_path: Path, database_url: str) -> None:
    node = tmp_path / "node"
    assert run_cli("init", str(node)).returncode == 0
    check = run_cli("check", str(node), env={"PEPPOL_DATABASE_URL": database_url})
    assert check.returncode == 1 and "migration(s) not applied" in check.stdout
    assert run_cli("migrate", str(node), env={"PEPPOL_DATABASE_URL": database_url}).returncode == 0
    assert run_cli("check", str(node), env={"PEPPOL_DATABASE_URL": database_url}).returncode == 0


def test_every_command_and_argument_says_what_it_is_for() -> None:
    """`peppol-node X --help` is the operator's manual: nothing in it may be unexplained."""
    import argparse

    from accesspoint.cli import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(" ".join([*path, name]))
                    walk(sub, [*path, name])
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(" ".join([*path, action.dest]))

    walk(build_parser(), ["peppol-node"])
    assert missing == []
