"""Trust sets for the historic samples (G2, dead since 2026-04-01: tests pin the time)."""

from __future__ import annotations

from pathlib import Path

import pytest

import certs


def g2_store(testdata: Path, which: str) -> certs.TrustStore:
    folder = testdata / "peppol-commons" / "derived-pem" / {"prod": "prod-truststore", "test": "pilot-truststore"}[which]
    return certs.TrustStore.from_pem_files(sorted(folder.glob("peppol_*.pem")), name=f"G2 {which}")


@pytest.fixture(scope="session")
def g2_prod(testdata: Path) -> certs.TrustStore:
    return g2_store(testdata, "prod")


@pytest.fixture(scope="session")
def g2_test(testdata: Path) -> certs.TrustStore:
    return g2_store(testdata, "test")
