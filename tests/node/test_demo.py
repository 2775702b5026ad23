"""`make demo` runs `peppol-node demo`: both deliveries succeed and nothing is left running."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def _serve_processes() -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {int(line.split()[0]) for line in out.splitlines()[1:]
            if "accesspoint.cli serve" in line and "peppol-demo-" in line}


@pytest.mark.slow
def test_demo_delivers_over_as4_and_by_email_and_cleans_up() -> None:
    before = _serve_processes()
    result = subprocess.run([sys.executable, "-m", "accesspoint.cli", "demo"], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert "method: peppol" in out and "state: delivered" in out and "signed receipt from PBE000002" in out
    assert "method: email" in out and "attachments ['invoice-INV-2026-002.pdf', 'invoice-INV-2026-002.xml']" in out
    assert "stored INV-2026-001 in Bakkerij Peeters NV's 'Peppol – purchase invoices'" in out
    assert "arrived by email, left over AS4: node B stored INV-2026-003" in out
    assert "demo succeeded" in out
    assert _serve_processes() <= before
