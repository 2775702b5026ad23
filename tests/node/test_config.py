from __future__ import annotations

from pathlib import Path

import pytest

from accesspoint.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "node.toml").write_text(text)
    return tmp_path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), environ={})
    assert s.node.mode == "test" and s.revocation_soft_fail is True
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'node.db'}"
    assert s.path("keys/ap.key.pem") == tmp_path.resolve() / "keys/ap.key.pem"


def test_needs_email_timeout_default_and_override(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), environ={}).delivery.needs_email_timeout_hours == 72
    s = load_settings(write(tmp_path, "[delivery]\nneeds_email_timeout_hours = 24\n"),
                      environ={"PEPPOL_DELIVERY_NEEDS_EMAIL_TIMEOUT_HOURS": "1.5"})
    assert s.delivery.needs_email_timeout_hours == 1.5


def test_the_postgresql_pool_is_sized_for_a_busy_peer_and_configurable(tmp_path: Path) -> None:
    """A connection opened past the pool is closed on return; PostgreSQL starts a process for each new one."""
    from accesspoint import db
    from accesspoint.node import Node

    s = load_settings(write(tmp_path, ""), environ={"PEPPOL_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"})
    assert (s.database.pool_size, s.database.max_overflow) == (16, 8)
    pool = Node(s).engine.pool  # no connection is opened to make it
    assert (pool.size(), pool._max_overflow) == (16, 8)
    s = load_settings(write(tmp_path, "[database]\npool_size = 4\n"),
                      environ={"PEPPOL_DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "PEPPOL_DATABASE_MAX_OVERFLOW": "0"})
    pool = Node(s).engine.pool
    assert (pool.size(), pool._max_overflow) == (4, 0)


def test_environment_overrides_file(tmp_path: Path) -> None:
    d = write(tmp_path, '[node]\nmode = "production"\n[http]\nport = 9000\n[smtp]\npassword = "file"\n')
    s = load_settings(d, environ={"PEPPOL_HTTP_PORT": "9443", "PEPPOL_DATABASE_URL": "postgresql://u@db/x",
                                  "PEPPOL_SMTP_PASSWORD": "from-secret", "PEPPOL_SMTP_STARTTLS": "true"})
    assert s.http.port == 9443 and s.database_url == "postgresql://u@db/x"
    assert s.smtp.password == "from-secret" and s.smtp.starttls is True
    assert s.production and s.revocation_soft_fail is False  # production defaults to hard fail
    assert "from-secret" not in repr(s)


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[http]\nport = 'x'\n", {}, "http.port"),
        ("", {"PEPPOL_HTTP_PORT": "eighty"}, "PEPPOL_HTTP_PORT"),
        ("[node]\nmode = 'staging'\n", {}, "node.mode"),
        ("[nod]\n", {}, "unknown section"),
        ("[node]\nseat = 'x'\n", {}, "unknown key"),
        ("[node\n", {}, "not readable TOML"),
        ("", {"PEPPOL_REVOCATION_ENABLED": "perhaps"}, "PEPPOL_REVOCATION_ENABLED"),
        ("[web]\ninvite_ttl_days = 45\n", {}, "web.invite_ttl_days"),
        ("", {"PEPPOL_WEB_INVITE_TTL_DAYS": "0"}, "web.invite_ttl_days"),
        ("[delivery]\nneeds_email_timeout_hours = 0\n", {}, "delivery.needs_email_timeout_hours"),
        ("", {"PEPPOL_DELIVERY_NEEDS_EMAIL_TIMEOUT_HOURS": "-1"}, "delivery.needs_email_timeout_hours"),
        ("", {"PEPPOL_DELIVERY_NEEDS_EMAIL_TIMEOUT_HOURS": "nan"}, "delivery.needs_email_timeout_hours"),
        ("", {"PEPPOL_DELIVERY_NEEDS_EMAIL_TIMEOUT_HOURS": "soon"}, "PEPPOL_DELIVERY_NEEDS_EMAIL_TIMEOUT_HOURS"),
        ("[database]\npool_size = 0\n", {}, "database.pool_size"),
        ("", {"PEPPOL_DATABASE_MAX_OVERFLOW": "-1"}, "database.max_overflow"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, env: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(write(tmp_path, text), environ=env)


def test_missing_config_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="peppol-node init"):
        load_settings(tmp_path, environ={})
