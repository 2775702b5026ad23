"""Instructions per received AS4 message in a real `serve` process, under callgrind.

    python benchmarks/callgrind_serve.py [--messages 200] [--senders 4] [--database URL]

Why: `load.py`'s CPU per exchange moves by 5-10% between runs on a shared 2-core machine, more
than most receiver changes. This starts the receiving node exactly as `load.py` does (`serve`,
TLS, one HTTP process) but under `valgrind --tool=callgrind` with instrumentation off, sends
warm-up messages, switches instrumentation on (`callgrind_control -i on`), sends `--messages`
pre-sealed messages from this process (outside valgrind), dumps the counters and prints the
receiver's instructions per message: every thread of the process, TLS, HTTP, the AS4 work
and the database commit, but not the kernel (fsync, futex, socket calls) and not the sender.
Two runs of the same tree agree to within about 1%.

Caveat: under valgrind OpenSSL does not see the CPU's fast paths (ADX, SHA-NI), so RSA and
SHA-256 weigh several times what they do natively. Compare trees with it, not stages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx2  # noqa: E402

import as4  # noqa: E402
import certs  # noqa: E402
from tests.crash.harness import SENDER_SEAT, Database, ReceiverNode, SendingAp  # noqa: E402


async def send_all(node: ReceiverNode, sender: SendingAp, messages: list[as4.OutboundMessage],
                   senders: int) -> int:
    """Send every message, `senders` at a time over a connection each; the number not delivered."""
    todo = list(messages)
    failed = 0

    async def one() -> None:
        nonlocal failed
        limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx2.AsyncClient(verify=node.tls(), timeout=600, limits=limits) as client:
            while todo:
                result = await sender.send(client, node.url, todo.pop(), node, max_attempts=1)
                failed += result.outcome is not as4.Outcome.DELIVERED

    await asyncio.gather(*(one() for _ in range(senders)))
    return failed


def summary(path: Path) -> int:
    """The total instruction count of one callgrind dump."""
    for line in path.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError(f"{path}: no summary line")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument("--database", help="PostgreSQL URL (a private schema); default SQLite")
    args = parser.parse_args(argv)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("valgrind (with callgrind_control) is needed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="peppol-cgserve-") as tmp:
        base = Path(tmp)
        # ReceiverNode runs `sys.executable -m accesspoint.cli serve`: point it at valgrind.
        python = base / "python-under-callgrind"
        python.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no"
                          f" --callgrind-out-file={base}/cg.%p {sys.executable} \"$@\"\n")
        python.chmod(0o755)
        pki = certs.TestPki.generate(base / "pki")
        database = Database(base, base_url=args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL"))
        node = ReceiverNode(base, database, pki, base / "pki")
        node.env["PEPPOL_HTTP_WORKERS"] = "1"
        sender = SendingAp(pki, pki.issue_ap(SENDER_SEAT))
        warm = [sender.seal(node, f"WARM-{i:06d}") for i in range(args.warm_up)]
        messages = [sender.seal(node, f"CG-{i:06d}") for i in range(args.messages)]
        real, sys.executable = sys.executable, str(python)
        try:
            node.start(timeout=900)
        finally:
            sys.executable = real
        pid = str(node.proc.pid)
        try:
            if asyncio.run(send_all(node, sender, warm, args.senders)):
                raise RuntimeError("a warm-up message was not delivered")
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            failed = asyncio.run(send_all(node, sender, messages, args.senders))
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        finally:
            node.stop()
            database.close()
        measured = summary(base / f"cg.{pid}.1")
    print(f"receiver ({database.kind}, 1 serve process): {args.messages} messages from {args.senders} senders,"
          f" {failed} not delivered; {measured / args.messages / 1e6:.3f} M instructions per message")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
