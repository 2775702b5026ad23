"""The id pool hands each random octet out once: across refills, threads and a fork."""

from __future__ import annotations

import os
import threading

from as4 import _ids
from as4._wss import new_id


def test_ids_are_distinct_across_pool_refills():
    draws = [_ids.random_octets(16) for _ in range(3 * _ids.ID_POOL_BYTES // 16)]
    assert len(set(draws)) == len(draws) and all(len(d) == 16 for d in draws)
    assert len(_ids.random_octets(_ids.ID_POOL_BYTES + 1)) == _ids.ID_POOL_BYTES + 1  # larger than a pool


def test_ids_are_distinct_across_threads():
    seen: list[str] = []

    def draw() -> None:
        seen.extend(new_id("t") for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == len(seen) == 8000


def test_a_forked_child_does_not_repeat_the_parents_ids():
    _ids.random_octets(16)  # a pool with octets left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, b"".join(_ids.random_octets(16) for _ in range(8)))
        os._exit(0)
    os.close(write)
    child = os.read(read, 1024)
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(_ids.random_octets(16) for _ in range(8))
    assert len(child) == 128 and child != parent
    assert not {child[i:i + 16] for i in range(0, 128, 16)} & {parent[i:i + 16] for i in range(0, 128, 16)}
