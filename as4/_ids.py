"""Random octets for identifiers (wsu:Ids, message, conversation and content ids, MIME boundaries).

Why buffered: a message and its receipt need some twenty random ids, and each `os.urandom` is a
system call, dearer than everything else an id costs, the more so on a loaded machine. The ids are
cut from one draw of `ID_POOL_BYTES` from the same source (the kernel's CSPRNG), so they are as
unpredictable as before. Not for keys or IVs: those still come from `os.urandom` one by one.

Thread-safe (a lock around each cut) and fork-safe: a child process starts with an empty pool, so
two worker processes never hand out the same octets. Private to `as4`.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ID_POOL_BYTES", "random_octets"]

#: one system call per 256 ids of 16 octets
ID_POOL_BYTES = 4096

_lock = threading.Lock()
_pool = b""
_pos = 0


def random_octets(n: int) -> bytes:
    """`n` fresh random octets (each handed out once in this process)."""
    global _pool, _pos
    with _lock:
        if _pos + n > len(_pool):
            _pool, _pos = os.urandom(max(ID_POOL_BYTES, n)), 0
        out = _pool[_pos:_pos + n]
        _pos += n
    return out


def _empty_pool() -> None:
    global _pool, _pos
    _pool, _pos = b"", 0


os.register_at_fork(after_in_child=_empty_pool)
