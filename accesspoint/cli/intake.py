"""`peppol-node intake add|list|invite|activate|deactivate|mail|drafts|send`: trusted senders (W7).

The operator's path to what org admins do in the web app: give a supplier a receiver address,
invite it, see what its mail became, and send the drafts. An organisation is named by its
number on this node (`org list`) or one of its participant ids.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accesspoint.node import Node


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("intake", help="trusted senders: suppliers who email their invoices to the node")
    sub = p.add_subparsers(dest="intake_command", metavar="ACTION", required=True)

    a = sub.add_parser("add", help="a new trusted sender with a generated receiver address (state draft)")
    a.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    a.add_argument("organisation", help="the organisation's number (`org list`) or a participant id of it")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("--address", help="accept mail from this one address")
    who.add_argument("--domain", help="accept mail from anyone at this domain (refused when its DMARC fails)")
    who.add_argument("--verified-users", action="store_true",
                     help="accept mail from the verified users with rights on the organisation")
    a.add_argument("--contact", required=True, help="who receives the invitation and every rejection")
    a.add_argument("--context", choices=["sales_draft", "purchase"], default="sales_draft",
                   help="an accepted invoice becomes a draft sales invoice (default) or a purchase invoice")
    a.add_argument("--name", default="", help="a name to recognise the sender by, e.g. the supplier's")
    a.set_defaults(handler=cmd_add)

    ls = sub.add_parser("list", help="trusted senders, their receiver addresses and states")
    ls.add_argument("directory", help="the node directory")
    ls.add_argument("organisation", nargs="?", help="only this organisation's (number or participant id)")
    ls.set_defaults(handler=cmd_list)

    for name, text in (("invite", "mail the contact where to send invoices (draft -> invited)"),
                       ("activate", "take mail without an invitation round, or again after deactivate"),
                       ("deactivate", "refuse all mail to the sender's address from now on")):
        c = sub.add_parser(name, help=text)
        c.add_argument("directory", help="the node directory")
        c.add_argument("sender", help="the sender's id (`intake list`)")
        c.set_defaults(handler=cmd_change, action=name)

    m = sub.add_parser("mail", help="the mail a sender's address received: accepted, or refused and why")
    m.add_argument("directory", help="the node directory")
    m.add_argument("sender", help="the sender's id (`intake list`)")
    m.set_defaults(handler=cmd_mail)

    d = sub.add_parser("drafts", help="draft sales invoices that arrived by mail")
    d.add_argument("directory", help="the node directory")
    d.add_argument("organisation", help="the organisation's number or a participant id of it")
    d.add_argument("--all", action="store_true", help="also the drafts that were sent")
    d.set_defaults(handler=cmd_drafts)

    s = sub.add_parser("send", help="send a draft: network first, email fallback, like any upload")
    s.add_argument("directory", help="the node directory")
    s.add_argument("draft", help="the draft's id (`intake drafts`)")
    s.set_defaults(handler=cmd_send)


def _fail(action: str, exc: BaseException) -> int:
    print(f"peppol-node intake {action}: {exc}", file=sys.stderr)
    return 1


def _open(directory: str) -> Node:
    from accesspoint.node import Node

    node = Node.open(directory)
    node.migrate()
    return node


def _organisation(node: Node, text: str) -> int:
    import sqlalchemy as sa

    import ubl
    from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier

    with node.sessions() as db:
        if text.isdigit():
            org = db.get(Organisation, int(text))
            if org is None:
                raise LookupError(f"no organisation {text} on this node (see `peppol-node org list`)")
            return org.id
        pid = ubl.ParticipantId.parse(text)
        found = db.scalar(sa.select(OrganisationIdentifier.organisation_id).where(
            OrganisationIdentifier.scheme == pid.scheme, OrganisationIdentifier.value == pid.value))
        if found is None:
            raise LookupError(f"{pid} is not an organisation of this node (see `peppol-node org list`)")
        return int(found)


def _ctx(node: Node):  # noqa: ANN202
    from accesspoint.sharing.context import Context

    return Context(now=node.now(), ip="cli")


def cmd_add(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.intake import Whitelist, WhitelistKind
    from accesspoint.intake.senders import create_sender

    try:
        node = _open(args.directory)
        org = _organisation(node, args.organisation)
        if args.address:
            rule = Whitelist(WhitelistKind.ADDRESS, args.address)
        elif args.domain:
            rule = Whitelist(WhitelistKind.DOMAIN, args.domain)
        else:
            rule = Whitelist(WhitelistKind.VERIFIED_USERS)
        with node.sessions() as db:
            v = create_sender(db, _ctx(node), None, organisation_id=org, domain=node.settings.intake.domain,
                              whitelist=rule, contact_email=args.contact, context=args.context, name=args.name)
            db.commit()
    except (ConfigError, LookupError, ValueError, ubl.IdentifierError) as exc:
        return _fail("add", exc)
    print(f"trusted sender {v.id} for {v.organisation_name}: mail from {v.whitelist_text} to {v.receiver_address}")
    print(f"  state {v.state.value}; `peppol-node intake invite {args.directory} {v.id}` mails {v.contact_email}"
          " the address")
    if not node.settings.intake.enabled:
        print("  note: [intake] enabled is false, so `serve` takes no mail yet")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.intake.senders import senders_of

    try:
        node = _open(args.directory)
        org = _organisation(node, args.organisation) if args.organisation else None
        with node.sessions() as db:
            senders = senders_of(db, None, org)
    except (ConfigError, LookupError, ubl.IdentifierError) as exc:
        return _fail("list", exc)
    for v in senders:
        print(f"{v.id}  {v.state.value:<8}  {v.receiver_address}  {v.organisation_name}  ({v.context})")
        print(f"    from {v.whitelist_text}; contact {v.contact_email}" + (f"; {v.name}" if v.name else ""))
    if not senders:
        print("no trusted senders")
    return 0


def cmd_change(args: argparse.Namespace) -> int:
    from accesspoint.config import ConfigError
    from accesspoint.intake import TransitionRefused
    from accesspoint.intake.senders import send_invitation, set_state
    from accesspoint.mail import MailError

    try:
        node = _open(args.directory)
        with node.sessions() as db:
            if args.action == "invite":
                v = send_invitation(db, _ctx(node), None, args.sender, node.mailer, node_name=node.settings.node.name)
            else:
                v = set_state(db, _ctx(node), None, args.sender, active=args.action == "activate")
            db.commit()
    except (ConfigError, LookupError, TransitionRefused, MailError) as exc:
        return _fail(args.action, exc)
    extra = f"; invitation mailed to {v.contact_email}" if args.action == "invite" else ""
    print(f"trusted sender {v.id} ({v.receiver_address}) is {v.state.value}{extra}")
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from accesspoint.config import ConfigError
    from accesspoint.db.tables.intake import IntakeMessage
    from accesspoint.intake.senders import find_sender

    try:
        node = _open(args.directory)
        with node.sessions() as db:
            sender = find_sender(db, args.sender)
            rows = db.execute(sa.select(IntakeMessage.received_at, IntakeMessage.header_from, IntakeMessage.subject,
                                        IntakeMessage.outcome, IntakeMessage.reason, IntakeMessage.detail,
                                        IntakeMessage.dmarc)
                              .where(IntakeMessage.sender_id == sender.id).order_by(IntakeMessage.id)).all()
    except (ConfigError, LookupError) as exc:
        return _fail("mail", exc)
    for r in rows:
        print(f"{r.received_at:%Y-%m-%d %H:%M}  {r.outcome:<8}  from {r.header_from or '(none)'}  "
              f"{r.subject!r}  DMARC {r.dmarc}")
        if r.outcome == "rejected":
            print(f"    {r.reason}: {r.detail}")
    if not rows:
        print("no mail yet")
    return 0


def cmd_drafts(args: argparse.Namespace) -> int:
    import ubl
    from accesspoint.config import ConfigError
    from accesspoint.intake.drafts import drafts_of

    try:
        node = _open(args.directory)
        with node.sessions() as db:
            drafts = drafts_of(db, None, _organisation(node, args.organisation), state=None if args.all else "draft")
    except (ConfigError, LookupError, ubl.IdentifierError) as exc:
        return _fail("drafts", exc)
    for d in drafts:
        sent = f" -> outbox {d.outbox_entry}" if d.outbox_entry else ""
        print(f"{d.id}  {d.state:<5}  {d.number}  to {d.buyer_name} ({d.buyer_id})  from {d.received_from}{sent}")
    if not drafts:
        print("no drafts")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    from accesspoint.config import ConfigError
    from accesspoint.delivery import DocumentRejected
    from accesspoint.intake.drafts import send_draft

    try:
        node = _open(args.directory)
        draft, entry = send_draft(node.sessions, node.outbox, _ctx(node), None, args.draft)
    except (ConfigError, LookupError, DocumentRejected) as exc:
        return _fail("send", exc)
    print(f"draft {draft.id} ({draft.number}) is in the outbox as {entry.id}: {entry.state.value}")
    print("  `peppol-node serve` delivers it (network first, email fallback); "
          f"`peppol-node deliver {args.directory}` does it now")
    return 0
