"""`peppol-node report DIR --month YYYY-MM [--out FILE]`: the monthly Peppol TSR and EUSR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accesspoint.config import ConfigError
from accesspoint.node import Node
from accesspoint.reporting import build_eusr, build_tsr, load_records, month_period


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="build the monthly Peppol Reporting TSR and EUSR")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("--month", required=True, help="the reporting month, YYYY-MM (UTC)")
    p.add_argument("--out", type=Path,
                   help="write FILE-tsr.xml and FILE-eusr.xml (default: print both to stdout)")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    try:
        period = month_period(args.month)
        node = Node.open(args.directory)
    except (ValueError, ConfigError) as exc:
        print(f"peppol-node report: {exc}", file=sys.stderr)
        return 1
    node.migrate()
    try:
        records = load_records(node.sessions, period)
    finally:
        node.engine.dispose()
    seat = node.settings.node.seat_id
    tsr, eusr = build_tsr(records, period, seat), build_eusr(records, period, seat)
    if args.out is None:
        sys.stdout.write(tsr.decode() + eusr.decode())
        return 0
    stem = str(args.out.with_suffix("")) if args.out.suffix == ".xml" else str(args.out)
    for name, data in ((f"{stem}-tsr.xml", tsr), (f"{stem}-eusr.xml", eusr)):
        Path(name).write_bytes(data)
        print(f"wrote {name}")
    print(f"{len(records)} exchanges in {args.month}")
    return 0
