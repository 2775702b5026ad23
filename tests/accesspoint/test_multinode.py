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


@pytest.mark.slow
@pytest.mark.skipif(not BASE, reason="needs PostgreSQL: set PEPPOL_TEST_DATABASE_URL")
def test_two_serve_processes_on_one_postgresql_deliver_1000_documents_exactly_once(tmp_path):
    """The same through `peppol-node serve` itself: two nodes' worth of workers beside the web app.

    Each serve runs two processes ([http] workers = 2), each with its delivery loops: four
    processes claim from one outbox, and still every document is delivered once."""
    import socket
    import subprocess
    import sys
    import time

    from accesspoint.init import init_node
    from tests.conftest import REPO

    url, schema = schema_url(BASE)
    procs: list[subprocess.Popen] = []
    try:
        seed(url, 1000)
        env = dict(os.environ, PYTHONPATH=str(REPO), PEPPOL_DATABASE_URL=url, PEPPOL_REVOCATION_ENABLED="false",
                   PEPPOL_HTTP_WORKERS="2")
        for n in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            directory = init_node(tmp_path / f"serve-{n}", pki_dir=tmp_path / "pki", port=port, sml_local=False)
            procs.append(subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(directory)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 300
        while True:
            result = audit(url)
            if result["delivered"] == 1000 or time.monotonic() > deadline:
                break
            assert all(p.poll() is None for p in procs), [p.stderr.read()[-2000:] for p in procs if p.poll() is not None]
            time.sleep(1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
        drop_schema(BASE, schema)
    assert result["entries"] == 1000 and result["delivered"] == 1000 and result["inbound"] == 1000
    assert result["duplicate_inbound"] == 0 and result["delivered_twice"] == 0
    assert sum(result["per_process"].values()) == 1000
    assert 2 <= len(result["per_process"]) <= 4, result["per_process"]
