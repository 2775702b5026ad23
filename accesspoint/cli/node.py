"""Node lifecycle commands: init, check, migrate, and the test PKI's revoke."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from accesspoint.config import DEFAULT_SEAT, ConfigError, load_settings

# Command modules import their heavy dependencies (cryptography, SQLAlchemy, Alembic)
# inside the handlers: every `peppol-node` call builds the whole parser first.


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("init", help="create a node directory on the embedded defaults")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("--seat", default=DEFAULT_SEAT, help="Peppol seat id (CN of the AP certificate)")
    p.add_argument("--name", help="a display name for the node")
    p.add_argument("--port", type=int, default=8443, help="HTTPS port the node will serve on")
    p.add_argument("--zone", default="local.peppol.test", help="SML DNS zone")
    p.add_argument("--pki", help="use (or create) this shared test PKI directory")
    p.add_argument("--no-local-sml", dest="sml_local", action="store_false",
                   help="do not run a local SML in this node (use --sml and --dns for another one)")
    p.add_argument("--sml", default="", metavar="URL", help="SML management URL our SMP registers at")
    p.add_argument("--dns", metavar="HOST:PORT", help="DNS resolver for participant lookups")
    p.add_argument("--dns-port", type=int, help="local SML DNS port (default: port + 2)")
    p.add_argument("--soap-port", type=int, help="local SML SOAP port (default: port + 1)")
    p.add_argument("--smtp-port", type=int, default=25, help="port of the SMTP relay for outgoing mail (default 25)")
    p.set_defaults(handler=cmd_init)

    p = subparsers.add_parser("check", help="validate a node's config, keys, chains, revocation and database")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(handler=cmd_check)

    p = subparsers.add_parser("migrate", help="apply database migrations")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.set_defaults(handler=cmd_migrate)

    p = subparsers.add_parser("pki", help="the node's local test PKI")
    sub = p.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    r = sub.add_parser("revoke", help="revoke one of the node's certificates in its local test PKI")
    r.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    r.add_argument("which", choices=["ap", "smp"], help="which of the node's certificates")
    r.set_defaults(handler=cmd_revoke)


def cmd_init(args: argparse.Namespace) -> int:
    import certs
    from accesspoint.check import identity
    from accesspoint.init import InitError, init_node

    try:
        path = init_node(args.directory, seat_id=args.seat, name=args.name, port=args.port, zone=args.zone,
                         pki_dir=args.pki, sml_local=args.sml_local, dns=args.dns, dns_port=args.dns_port,
                         soap_port=args.soap_port, management_url=args.sml, smtp_port=args.smtp_port)
    except (InitError, ConfigError, certs.CertError) as exc:
        print(f"peppol-node init: {exc}", file=sys.stderr)
        return 1
    print(f"node created in {path}")
    for key, value in identity(load_settings(path)).items():
        print(f"  {key:15} {value}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from accesspoint.check import identity, run_checks

    try:
        settings = load_settings(args.directory)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"ok": False, "findings": [{"ok": False, "topic": "config", "message": str(exc)}]}))
        else:
            print(f"FAIL  config: {exc}")
        return 1
    findings = run_checks(settings, now=datetime.now(UTC))
    ok = all(f.ok for f in findings)
    if args.json:
        print(json.dumps({"ok": ok, "identity": identity(settings),
                          "findings": [{"ok": f.ok, "topic": f.topic, "message": f.message} for f in findings]},
                         indent=2))
    else:
        for key, value in identity(settings).items():
            print(f"      {key:15} {value}")
        for f in findings:
            print(f"{'ok  ' if f.ok else 'FAIL'}  {f.topic}: {f.message}")
        print("node is ready" if ok else "node has problems (see FAIL lines above)")
    return 0 if ok else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    from accesspoint import db

    try:
        settings = load_settings(args.directory)
    except ConfigError as exc:
        print(f"peppol-node migrate: {exc}", file=sys.stderr)
        return 1
    db.migrate(settings.database_url)
    print("database migrated")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    import certs

    try:
        settings = load_settings(args.directory)
        pki = certs.TestPki.load(settings.path(settings.pki.local_pki_dir))
        cert_path = settings.path(settings.pki.ap_cert if args.which == "ap" else settings.pki.smp_cert)
        cert = certs.load_certificate(cert_path)
        pki.revoke(cert)
    except (ConfigError, certs.CertError) as exc:
        print(f"peppol-node pki revoke: {exc}", file=sys.stderr)
        return 1
    print(f"revoked {cert.subject.rfc4514_string()} (serial {cert.serial_number:x})")
    return 0
