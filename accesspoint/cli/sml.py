"""`peppol-node sml ...`: the SML side of discovery.

`sml name PID [--zone Z] [--legacy]` prints the U-NAPTR name a sender queries
for PID (and the legacy CNAME name, for comparing with old SML records).
"""

from __future__ import annotations

import argparse
import sys

import sml
import ubl

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sml", help="SML names and the local SML")
    commands = parser.add_subparsers(dest="sml_command", metavar="SUBCOMMAND")
    commands.required = True

    name = commands.add_parser("name", help="print a participant's NAPTR DNS name")
    name.add_argument("pid", help="participant id: iso6523-actorid-upis::0088:123abc or 0088:123abc")
    name.add_argument(
        "--zone",
        default="test",
        help="production, test, ec-production, ec-test or a custom zone domain (default: test)",
    )
    name.add_argument("--legacy", action="store_true", help="also print the legacy B-<md5> CNAME name")
    name.set_defaults(handler=_name)


def _name(args: argparse.Namespace) -> int:
    try:
        pid = ubl.ParticipantId.parse(args.pid)
    except ubl.IdentifierError as exc:
        print(f"invalid participant id: {exc}", file=sys.stderr)
        return 2
    try:
        zone = sml.Zone.named(args.zone)
    except ValueError as exc:
        print(f"invalid zone: {exc}", file=sys.stderr)
        return 2
    print(sml.naptr_name(pid, zone))
    if args.legacy:
        print(sml.cname_name(pid, zone))
    return 0
