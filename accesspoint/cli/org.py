"""`peppol-node org add`: register one of the node's own organisations (operator path)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("org", help="the node's organisations")
    sub = p.add_subparsers(dest="org_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="register an organisation with its participant ids")
    a.add_argument("directory")
    a.add_argument("name")
    a.add_argument("pids", nargs="+", metavar="PID", help="participant ids, e.g. 0208:0123456749")
    a.add_argument("--receive", action="store_true", help="it receives documents on this node (off by default)")
    a.add_argument("--no-send", dest="send", action="store_false", help="it does not send from this node")
    a.set_defaults(handler=cmd_add)


def cmd_add(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.node import Node
    from accesspoint.organisations import OrganisationExists, register_organisation

    try:
        node = Node.open(args.directory)
        node.migrate()
        org_id = register_organisation(node.sessions, args.name, args.pids, now=node.now(),
                                       send=args.send, receive=args.receive)
    except (ConfigError, ubl.IdentifierError, OrganisationExists, ValueError) as exc:
        print(f"peppol-node org add: {exc}", file=sys.stderr)
        return 1
    print(f"organisation {org_id} {args.name!r} registered with {', '.join(args.pids)}")
    return 0
