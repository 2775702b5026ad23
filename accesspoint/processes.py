"""Worker processes for `serve`: one primary and W-1 HTTP workers sharing its listening socket.

Why processes: the CPU-heavy part of an exchange (RSA, AES-GCM, exclusive c14n, gzip) runs in
Python threads of one interpreter, so a single `serve` process uses one core at most, however
many threads it has. Several processes accepting on one socket use every core.

Why not `uvicorn --workers` or gunicorn with uvicorn workers: both fork identical workers
from a supervisor that serves nothing, and every worker would run the node's lifespan. The
node has services that must run exactly once (the local SML's SOAP and DNS servers hold
ports, the OCSP responder too, the SMP registration at the SML, the sharing scheduler), and
migrations must finish before anyone serves. So the primary stays what `serve` always was
(it migrates, runs every background service, serves HTTP) and starts W-1 workers once it
is up, handing them the socket it already bound and pre-flighted (`pass_fds`); they serve
HTTP and deliver, nothing else. gunicorn would add a dependency and a second configuration
language for what is about 150 lines here, and its master would still have no notion of a
primary that must be up first and run the once-only services.

What the operator sees stays the same: one process id to signal. SIGTERM or Ctrl-C to the
primary stops the workers first and then itself; SIGKILL of the primary takes the workers
with it (Linux: PR_SET_PDEATHSIG, so nothing keeps the port open behind a dead node); a
worker that dies is replaced. Every process also runs delivery workers (the outbox claims
make that exactly-once), so sending uses every core as receiving does.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["HttpWorkers", "default_worker_count", "die_with_parent", "settle_heap", "GC_YOUNG_THRESHOLD"]

log = logging.getLogger("accesspoint.serve")

_PR_SET_PDEATHSIG = 1


def default_worker_count() -> int:
    """One process per core this process may run on (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: Allocations (net of frees) between two collections of the youngest generation; CPython's default is 700.
GC_YOUNG_THRESHOLD = 5000


def settle_heap() -> None:
    """Once serving: move what start-up made into the permanent generation, collect the young less often.

    Why (issue 14, measured with gc.callbacks and thread CPU time in each serve process of the
    two-node benchmark): a started node holds over 80,000 long-lived objects from its imports alone
    (modules, SQLAlchemy's mappers, the app, the trust store) that every full collection walked
    again, about 90 ms each, and at the default threshold of 700 a young collection ran every few
    documents at about 0.6 ms each: 0.31-0.33 s of a process's 7.2 s CPU over 1,500 documents
    (4-5%). After `gc.freeze()` a full collection costs about 3 ms, and at `GC_YOUNG_THRESHOLD`
    young collections were 15-60 times fewer: 0.004-0.036 s per process (under 0.5%). Reference
    cycles are still collected, only later: the request path makes few, and their memory is small
    beside the process's.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def die_with_parent(parent_pid: int) -> None:
    """Make this process go when `parent_pid` goes, even by SIGKILL (which no handler sees).

    On Linux the kernel delivers SIGKILL to us when the parent dies; elsewhere a thread
    watches the parent id. If the parent is already gone when this runs, exit at once.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class HttpWorkers:
    """`count` child processes started with `command(n)`, kept running until `stop()`.

    Each child is started and waited for by its own thread. Linux's parent-death signal
    follows the thread that started a child, so that thread lives exactly as long as its
    child. A child that exits while we are not stopping is started again after a short
    pause; one that keeps failing within seconds of its start is given up (logged), so a
    broken configuration does not turn into a fork loop.
    """

    RESTART_PAUSE = 0.5
    QUICK_FAILURE = 5.0
    MAX_QUICK_FAILURES = 3

    def __init__(self, count: int, command: Callable[[int], Sequence[str]], *,
                 pass_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> None:
        self.count = count
        self.command = command
        self.pass_fds = tuple(pass_fds)
        self.env = env
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._threads: list[threading.Thread] = []

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values() if p.poll() is None]

    def start(self) -> None:
        for n in range(1, self.count + 1):
            t = threading.Thread(target=self._keep, args=(n,), name=f"http-worker-{n}", daemon=True)
            self._threads.append(t)
            t.start()

    def _spawn(self, n: int) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            proc = subprocess.Popen(list(self.command(n)), pass_fds=self.pass_fds, env=self.env)
            self._procs[n] = proc
            return proc

    def _keep(self, n: int) -> None:
        quick_failures = 0
        while True:
            started = time.monotonic()
            try:
                proc = self._spawn(n)
            except OSError as exc:
                log.error("could not start HTTP worker %d: %s", n, exc)
                return
            if proc is None:
                return
            rc = proc.wait()
            if self._stopping.wait(self.RESTART_PAUSE):  # also lets a Ctrl-C reach the primary first
                return
            quick_failures = quick_failures + 1 if time.monotonic() - started < self.QUICK_FAILURE else 0
            if quick_failures >= self.MAX_QUICK_FAILURES:
                log.error("HTTP worker %d keeps exiting (last status %s); not starting it again", n, rc,
                          extra={"event": "worker_given_up", "worker": n})
                return
            log.warning("HTTP worker %d (pid %d) exited with status %s; starting another", n, proc.pid, rc,
                        extra={"event": "worker_replaced", "worker": n})

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every worker (they finish what is in flight), SIGKILL what is left after `timeout`."""
        with self._lock:
            self._stopping.set()
            procs = list(self._procs.values())
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in self._threads:
            t.join(timeout=5)
