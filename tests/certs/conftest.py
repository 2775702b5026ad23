from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import certs


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> certs.TestPki:
    return certs.TestPki.generate(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture(scope="session")
def responder(pki: certs.TestPki) -> Iterator[certs.RevocationServer]:
    with certs.RevocationServer(pki) as server:
        yield server


@pytest.fixture
def fresh_pki(tmp_path: Path) -> certs.TestPki:
    return certs.TestPki.generate(tmp_path / "pki")
