"""Fixtures shared by every test package.

`testdata` is the third-party material in ../shared/testdata: never copied into
the repository, and a test that needs it is skipped, with the reason, where the
folder is absent.

`database_url` runs a test on every configured database: SQLite always, and
PostgreSQL too when PEPPOL_TEST_DATABASE_URL is set (CI sets it). Each
PostgreSQL test gets a fresh schema of its own, dropped afterwards, so tests
never see each other's rows and a clean clone never sees a session's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip(f"third-party test data not found at {TESTDATA}")
    return TESTDATA


def _database_params() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if os.environ.get("PEPPOL_TEST_DATABASE_URL"):
        params.append(pytest.param("postgresql", id="postgresql"))
    return params


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database; on PostgreSQL, a private schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'node.db'}"
        return
    with _private_schema(os.environ["PEPPOL_TEST_DATABASE_URL"]) as url:
        yield url


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    """A private schema on PostgreSQL, for what only PostgreSQL has (a server that can drop a connection)."""
    base = os.environ.get("PEPPOL_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PEPPOL_TEST_DATABASE_URL is not set: this test needs PostgreSQL")
    with _private_schema(base) as url:
        yield url


@contextlib.contextmanager
def _private_schema(base: str) -> Iterator[str]:
    import sqlalchemy as sa

    schema = "t_" + secrets.token_hex(6)
    admin = sa.create_engine(_sqlalchemy_url(base))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `peppol-node ARGS` as a real process, as an operator would."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "accesspoint.cli", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )
