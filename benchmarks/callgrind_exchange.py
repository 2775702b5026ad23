"""Instructions per in-process exchange, by stage, under callgrind: repeatable where timings are not.

    valgrind --tool=callgrind --dump-before=getppid --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python benchmarks/callgrind_exchange.py [--payload invoice] [--exchanges 5]
    python benchmarks/callgrind_exchange.py --report '/tmp/cg.<pid>.*'

Why: the machine is shared and small, so CPU-time figures move by 5-10% between runs; callgrind's
instruction counts move by well under 1%. The driver does the same exchange as
`benchmarks/as4_exchange.py` (after two warm-up exchanges) and calls `os.getppid()` between stages:
with `--dump-before=getppid` each stage's instructions land in a dump of their own, and `--report`
adds them up per stage and per exchange. Run without valgrind it just runs the exchanges.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STAGES = ("build_user_message", "parse_message", "open_user_message", "build_receipt", "verify_receipt")


def run(payload_name: str, exchanges: int) -> None:
    """Two warm-up exchanges, then `exchanges` marked ones (a getppid before each stage and at the end)."""
    import as4
    from benchmarks.as4_exchange import PAYLOADS, exchange_parties

    payload = PAYLOADS[payload_name]()
    sender, receiver_ap, receiver, ids = exchange_parties(payload)

    def exchange(mark: bool) -> None:
        tick = os.getppid if mark else (lambda: 0)
        now = datetime.now(UTC)
        tick()
        out = as4.build_user_message(payload, key=sender.key, cert=sender.cert, receiver_cert=receiver_ap.cert,
                                     at=now, **ids)
        tick()
        inbound = as4.parse_message(out.content_type, out.body)
        tick()
        document = as4.open_user_message(inbound, key=receiver.key, cert=receiver.cert,
                                         verify_signer=receiver.verify_signer, at=now, policy=receiver.policy)
        tick()
        receipt = as4.build_receipt(document.message_id, document.nri, key=receiver.key, cert=receiver.cert, at=now)
        tick()
        as4.verify_receipt(receipt.content_type, receipt.body, sent=out, receiver_cert=receiver_ap.cert, at=now)
        tick()

    for _ in range(2):
        exchange(False)
    for _ in range(exchanges):
        exchange(True)


def _total(path: str) -> int:
    text = Path(path).read_text()
    found = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def report(pattern: str, exchanges: int) -> None:
    """Instructions per stage per exchange from the dumps of one run (dump N+1 holds stage N's work)."""
    def number(path: str) -> int:
        return int(path.rsplit(".", 1)[1]) if re.search(r"\.\d+$", path) else 0

    dumps = sorted((p for p in glob.glob(pattern) if re.search(r"\.\d+$", p)), key=number)
    counts = [_total(p) for p in dumps]
    # dump 1 is start-up and warm-up, up to the first marker; then six dumps per exchange: its five stages
    # and the gap to the next exchange's first marker (its `now`), left out
    stage_counts = counts[1:1 + 6 * exchanges]
    per = {s: 0 for s in STAGES}
    for e in range(exchanges):
        block = stage_counts[6 * e:6 * e + 6]
        for s, n in zip(STAGES, block):
            per[s] += n
    total = sum(per.values())
    for s in STAGES:
        print(f"{s:20s} {per[s] / exchanges / 1e6:7.3f} M")
    print(f"{'exchange':20s} {total / exchanges / 1e6:7.3f} M instructions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--payload", default="invoice")
    parser.add_argument("--exchanges", type=int, default=5)
    parser.add_argument("--report", metavar="GLOB", help="sum the dumps of a run instead of running")
    args = parser.parse_args(argv)
    if args.report:
        report(args.report, args.exchanges)
    else:
        run(args.payload, args.exchanges)
    return 0


if __name__ == "__main__":
    sys.exit(main())
