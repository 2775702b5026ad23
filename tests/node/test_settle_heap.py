"""`settle_heap`, which every `serve` process runs once it serves (issue 14).

It changes the interpreter's collector for good, so each check runs in a fresh interpreter, not in
the test process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    out = run("""
        import gc
        from accesspoint.processes import GC_YOUNG_THRESHOLD, settle_heap
        import accesspoint.web.app  # what a serve process has loaded by then
        before = gc.get_threshold()
        settle_heap()
        print(gc.get_freeze_count() > 10_000, gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:]))
    """)
    assert out == "True True"


def test_a_cycle_made_after_settling_is_still_collected_without_being_asked() -> None:
    # The collector stays on: a cycle dies at some young collection, however late.
    out = run("""
        import gc, weakref
        from accesspoint.processes import settle_heap
        settle_heap()
        class Node:
            pass
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        junk = []
        for i in range(200_000):
            junk.append([i])
            if gone() is None:
                break
        print(gone() is None, 0 < len(junk) < 200_000)
    """)
    assert out == "True True"
