"""`peppol-node org add|update|list`: the node's own organisations and whether they receive here (operator path).

Receiving makes a participant discoverable: published in our SMP and registered at the SML
(`accesspoint.network`). With the local SML, whose SOAP API runs inside `serve`, a node that is
not serving records the registration and `serve` completes it at start-up; the command says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ubl
    from accesspoint.network import Registration
    from accesspoint.node import Node


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("org", help="the node's own organisations and whether they receive here")
    sub = p.add_subparsers(dest="org_command", metavar="ACTION", required=True)

    a = sub.add_parser("add", help="register an organisation with its participant ids")
    a.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    a.add_argument("name", help='the organisation\'s legal name, e.g. "Bakkerij Peeters NV"')
    a.add_argument("pids", nargs="+", metavar="PID", help="participant ids, e.g. 0208:0123456749 (KBO) or 0106:12345678")
    a.add_argument("--receive", action="store_true",
                   help="it receives documents on this node: publish it in our SMP and register it at the SML")
    a.add_argument("--no-send", dest="send", action="store_false", help="it does not send from this node")
    a.set_defaults(handler=cmd_add)

    u = sub.add_parser("update", help="switch receiving on this node on or off for an organisation's participant ids")
    u.add_argument("directory", help="the node directory")
    u.add_argument("pids", nargs="+", metavar="PID", help="participant ids of one of the node's organisations")
    group = u.add_mutually_exclusive_group(required=True)
    group.add_argument("--receive", dest="receive", action="store_true",
                       help="publish in our SMP and register at the SML")
    group.add_argument("--no-receive", dest="receive", action="store_false",
                       help="remove from our SMP and deregister at the SML (senders then find no endpoint)")
    u.set_defaults(handler=cmd_update)

    for action, text in (("approve", "activate an organisation that waits for verification (W1.3)"),
                         ("reject", "reject an organisation's activation, with the reason its admins will read")):
        d = sub.add_parser(action, help=text)
        d.add_argument("directory", help="the node directory")
        d.add_argument("pid", metavar="PID", help="one of the organisation's participant ids")
        d.add_argument("--reason", required=action == "reject", default="",
                       help="why (shown to the organisation's admins" + ("; required)" if action == "reject" else ")"))
        d.set_defaults(handler=cmd_decide, approve=action == "approve")

    ls = sub.add_parser("list", help="the organisations on this node, their ids and network registration")
    ls.add_argument("directory", help="the node directory")
    ls.set_defaults(handler=cmd_list)


def _say_registrations(node: Node, registrations: list[Registration]) -> None:
    for r in registrations:
        if r.sml_state == "sender_only":  # EC-7: it receives at another access point, named in the detail
            print(f"  {r.participant_id}: sender only. {r.detail}")
        elif r.sml_state == "pending" and node.settings.sml.local and not node.settings.sml.management_url:
            print(f"  {r.participant_id}: published in our SMP; the local SML runs inside `peppol-node serve`,"
                  " which registers it there when it starts")
        elif r.sml_state == "pending":
            print(f"  {r.participant_id}: published in our SMP; SML registration pending ({r.detail});"
                  " `peppol-node serve` tries again when it starts")
        elif r.sml_state == "refused":
            print(f"  {r.participant_id}: NOT discoverable through us: {r.detail}")
        else:
            print(f"  {r.participant_id}: {'published in our SMP and ' if r.receive else 'removed from our SMP and '}"
                  f"{r.sml_state} at the SML {node.discovery.management_url}")


async def _apply(node: Node, pids: list[ubl.ParticipantId], receive: bool) -> list[Registration]:
    """`network.switch_receive`, the web app's receive switch too (EC-7 lookup first, then SMP and SML)."""
    import httpx2

    from accesspoint import network

    try:
        # Fast: an SML that is not up (our local one while `serve` is down) is not waited for.
        node.discovery.sml_http.timeout = httpx2.Timeout(10, connect=2)
        return (await network.switch_receive(node, pids, receive)).registrations
    finally:
        await node.discovery.aclose()


def cmd_add(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.node import Node
    from accesspoint.organisations import OrganisationExists, register_organisation

    try:
        node = Node.open(args.directory)
        node.migrate()
        # Receiving is switched on below, once the SML said the participant receives nowhere else (EC-7).
        org_id = register_organisation(node.sessions, args.name, args.pids, now=node.now(),
                                       send=args.send, receive=False)
    except (ConfigError, ubl.IdentifierError, OrganisationExists, ValueError) as exc:
        print(f"peppol-node org add: {exc}", file=sys.stderr)
        return 1
    print(f"organisation {org_id} {args.name!r} registered with {', '.join(args.pids)}")
    if args.receive:
        pids = [ubl.ParticipantId.parse(p) for p in args.pids]
        _say_registrations(node, asyncio.run(_apply(node, pids, True)))
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.node import Node
    from accesspoint.network import NotActive
    from accesspoint.organisations import UnknownParticipant

    try:
        node = Node.open(args.directory)
        node.migrate()
        pids = [ubl.ParticipantId.parse(p) for p in args.pids]
        _say_registrations(node, asyncio.run(_apply(node, pids, args.receive)))
    except (ConfigError, ubl.IdentifierError, UnknownParticipant, NotActive) as exc:
        print(f"peppol-node org update: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    """`org approve|reject`: the operator's verifier from the shell (the same decision as the web review page)."""
    import shares
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.node import Node
    from accesspoint.organisations import UnknownParticipant, organisation_id_of
    from accesspoint.sharing import Context, activation, services_for

    verb = "approve" if args.approve else "reject"
    try:
        node = Node.open(args.directory)
        node.migrate()
        org_id = organisation_id_of(node.sessions, ubl.ParticipantId.parse(args.pid))
        state = activation.operator_decide(services_for(node), Context(now=node.now(), user_agent="peppol-node CLI"),
                                           org_id, approve=args.approve, reason=args.reason,
                                           operator_label="the node's operator (CLI)")
    except (ConfigError, ubl.IdentifierError, UnknownParticipant, shares.ShareError) as exc:
        print(f"peppol-node org {verb}: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(f"organisation {org_id} ({args.pid}) is {state}" + (f": {args.reason}" if args.reason else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from accesspoint import network
    from accesspoint.config import ConfigError
    from accesspoint.node import Node
    from accesspoint.organisations import list_organisations

    try:
        node = Node.open(args.directory)
        node.migrate()
    except ConfigError as exc:
        print(f"peppol-node org list: {exc}", file=sys.stderr)
        return 1
    states = {r.participant_id: r for r in network.registrations(node)}
    for org in list_organisations(node.sessions):
        print(f"{org.id:>5}  {org.name}  ({org.status}; send {'on' if org.send else 'off'},"
              f" receive {'on' if org.receive else 'off'})")
        for pid in org.participant_ids:
            r = states.get(str(pid))
            sml_state = f"SML {r.sml_state}" + (f": {r.detail}" if r.detail else "") if r else "not published"
            print(f"       {pid}  {sml_state}")
    return 0
