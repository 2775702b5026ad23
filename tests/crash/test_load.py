"""`benchmarks/load.py --short` runs in the suite: the figures are printed by the script; the test holds it
to its invariant (every receipt given is a stored message, and only those) and to having done real work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_load_benchmark_short_mode_stores_exactly_what_it_acknowledges() -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/load.py"), "--short", "--json"],
                            capture_output=True, text=True, timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["senders"] == 4
    assert figures["receipts"] > 0 and figures["exchanges_per_second"] > 0
    assert figures["stored"] == figures["receipts"]
    assert figures["errors"] == {}, figures["errors"]
    assert figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"] <= figures["latency_ms"]["max"]


def test_a_used_up_pool_ends_the_run_early_and_is_not_an_error() -> None:
    """A machine faster than the pool is sized for must not turn green into red: the run just ends."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/load.py"), "--short", "--pool", "12", "--json"],
                            capture_output=True, text=True, timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["errors"] == {}, figures["errors"]
    assert figures["stopped_by"] == "pool used up"
    assert figures["receipts"] == figures["stored"] == 12


def test_live_mode_seals_while_sending_and_says_so() -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/load.py"), "--short", "--live", "--json"],
                            capture_output=True, text=True, timeout=240, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["mode"].startswith("sender included")
    assert figures["errors"] == {} and figures["receipts"] == figures["stored"] > 0
    assert figures["stopped_by"] == "time"


@pytest.mark.interop
def test_peer_mode_runs_the_as4_pair_in_the_same_run_and_prints_the_ratio() -> None:
    """`--peer`: our figure and the PyPI `as4` pair's, both with real receipts and nothing lost."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/load.py"), "--short", "--live", "--peer", "--json"],
                            capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    figures = json.loads(result.stdout)
    (ours,), (peer,) = figures["ours"], figures["peer"]
    assert ours["errors"] == {} and ours["receipts"] == ours["stored"] > 0
    assert peer["implementation"].startswith("as4 ")
    assert peer["errors"] == {} and peer["receipts"] == peer["stored"] > 0
    assert ours["receiver_processes"] >= 1
