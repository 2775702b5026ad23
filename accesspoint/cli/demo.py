"""`peppol-node demo`: the README's main job on the embedded defaults (see accesspoint/demo.py)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run a local Peppol network and send two invoices through it")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (nodes, logs) and print its path")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from accesspoint.demo import main

    return main(keep=args.keep)
