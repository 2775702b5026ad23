"""`peppol-node demo`: the README's main job on the embedded defaults."""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path



def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the demo on the embedded defaults in a temporary folder")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from accesspoint.check import identity, run_checks
    from accesspoint.config import load_settings
    from accesspoint.init import init_node

    with tempfile.TemporaryDirectory(prefix="peppol-demo-") as tmp:
        base = Path(tmp)
        if args.keep:
            base = Path(tempfile.mkdtemp(prefix="peppol-demo-"))
        print(f"== initialising a node in {base / 'node-a'} (SQLite, local test PKI)")
        node = init_node(base / "node-a", seat_id="PBE000001", name="node-a")
        settings = load_settings(node)
        for key, value in identity(settings).items():
            print(f"   {key:15} {value}")
        print("== checking it")
        findings = run_checks(settings, now=datetime.now(UTC))
        for f in findings:
            print(f"   {'ok  ' if f.ok else 'FAIL'}  {f.topic}: {f.message}")
        ok = all(f.ok for f in findings)
        print("== demo finished: " + ("node is ready" if ok else "node has problems"))
        return 0 if ok else 1
