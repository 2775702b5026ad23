"""Fixtures for the docker/ files: load the entrypoint and dev-secrets scripts, make a secrets folder.

The scripts live in docker/ (they are copied into the image, not installed as a
package), so tests load them from their paths.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

DOCKER = REPO / "docker"


def load_script(name: str) -> ModuleType:
    path = DOCKER / name
    spec = importlib.util.spec_from_file_location("docker_" + path.stem.replace("-", "_"), path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def entrypoint() -> ModuleType:
    return load_script("entrypoint.py")


@pytest.fixture(scope="session")
def dev_secrets() -> ModuleType:
    return load_script("dev-secrets.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def secrets_tree(dev_secrets: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `python docker/dev-secrets.py` writes (one test PKI for the whole session: RSA keys are slow)."""
    out = tmp_path_factory.mktemp("docker") / "secrets"
    role_prefix = "t" + secrets.token_hex(4) + "_"
    return dev_secrets.make_secrets(out, ["node-a.localhost", "node-b.localhost"], db_host="127.0.0.1",
                                    role_prefix=role_prefix)


def mounted(secrets_tree: Path, node: str, target: Path) -> Path:
    """The /run/secrets a node container sees, built from compose.yaml's `secrets:` of that service."""
    import yaml

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    sources = compose["secrets"]
    target.mkdir(parents=True, exist_ok=True)
    for entry in compose["services"][node]["secrets"]:
        source, name = (entry, entry) if isinstance(entry, str) else (entry["source"], entry.get("target", entry["source"]))
        file = sources[source]["file"]
        assert file.startswith("./secrets/"), file
        shutil.copyfile(secrets_tree / file[len("./secrets/"):], target / name)
    return target


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    return os.environ.get("PEPPOL_TEST_DATABASE_URL") or None


@pytest.fixture
def node_databases(secrets_tree: Path, postgres_url: str | None) -> Iterator[list[str]]:
    """Run docker/postgres/10-node-databases.sh against the test PostgreSQL; drop what it made afterwards."""
    if postgres_url is None:
        pytest.skip("PEPPOL_TEST_DATABASE_URL is not set: no PostgreSQL to run the init script against")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    roles = [u.split("/")[-1].strip() for u in
             ((secrets_tree / n / "database_url").read_text() for n in ("node-a", "node-b"))]
    server = make_url(postgres_url)
    pg_env = {**os.environ, "PGHOST": server.host or "127.0.0.1", "PGPORT": str(server.port or 5432),
              "POSTGRES_USER": server.username or "postgres", "PEPPOL_NODE_DATABASES": " ".join(roles)}
    links = secrets_tree.parent / "pg-secrets"
    links.mkdir(exist_ok=True)
    for role, node in zip(roles, ("node-a", "node-b"), strict=True):
        shutil.copyfile(secrets_tree / node / "db_password", links / f"{role}_db_password")
    pg_env["PEPPOL_SECRETS_DIR"] = str(links)
    result = subprocess.run(["sh", str(DOCKER / "postgres/10-node-databases.sh")], env=pg_env,
                            capture_output=True, text=True, timeout=60)
    admin = sa.create_engine(str(server.set(drivername="postgresql+psycopg")), isolation_level="AUTOCOMMIT")
    try:
        assert result.returncode == 0, result.stderr
        yield roles
    finally:
        with admin.connect() as conn:
            for role in roles:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)'))
                conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
