"""`peppol-node sharing sweep DIR`: expire old invite links and send due reminders (day 3 and day 10).

The node's scheduler should call `accesspoint.sharing.scheduler.run_due` every few
minutes; this command runs it once, e.g. from cron, and prints what it did as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from accesspoint.config import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sharing", help="connection sharing: invitations and reminders")
    sub = p.add_subparsers(dest="sharing_command", metavar="ACTION", required=True)
    s = sub.add_parser("sweep", help="expire invitations past their expiry and send due reminders")
    s.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    s.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from accesspoint.mail import MailError
    from accesspoint.node import Node
    from accesspoint.sharing import scheduler, services_for

    try:
        node = Node.open(args.directory)
        node.migrate()
        result = scheduler.run_due(services_for(node), node.now())
    except (ConfigError, MailError) as exc:
        print(f"peppol-node sharing sweep: {exc}", file=sys.stderr)
        return 1
    finally:
        if "node" in locals():
            node.engine.dispose()
    print(json.dumps({"expired": result.expired, "reminded": result.reminded}))
    return 0
