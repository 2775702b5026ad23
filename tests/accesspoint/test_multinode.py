"""Two delivery processes on one PostgreSQL, fed 1,000 documents, deliver each exactly once."""

from __future__ import annotations

import os

import pytest

from benchmarks.multinode import audit, drop_schema, node_dir, run_processes, schema_url, seed

BASE = os.environ.get("PEPPOL_TEST_DATABASE_URL")


@pytest.mark.slow
@pytest.mark.skipif(not BASE, reason="needs PostgreSQL: set PEPPOL_TEST_DATABASE_URL")
def test_two_processes_deliver_1000_documents_exactly_once(tmp_path):
    url, schema = schema_url(BASE)
    try:
        seed(url, 1000)
        run_processes(node_dir(url, tmp_path / "node"), processes=2, workers=2)
        result = audit(url)
    finally:
        drop_schema(BASE, schema)
    assert result["entries"] == 1000
    assert result["delivered"] == 1000
    assert result["inbound"] == 1000
    assert result["duplicate_inbound"] == 0
    assert result["delivered_twice"] == 0
    # both processes took part: the row locks shared the work rather than serialising it
    assert len(result["per_process"]) == 2, result["per_process"]


@pytest.mark.slow
def test_two_processes_on_one_sqlite_file_deliver_each_document_once(tmp_path):
    """SQLite's single writer makes the claim UPDATE atomic: the same guarantee without row locks."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    seed(url, 200)
    run_processes(node_dir(url, tmp_path / "node"), processes=2, workers=2)
    result = audit(url)
    assert (result["entries"], result["delivered"], result["inbound"]) == (200, 200, 200)
    assert result["duplicate_inbound"] == 0 and result["delivered_twice"] == 0
