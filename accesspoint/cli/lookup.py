"""`peppol-node lookup PID`: find where a participant receives a document, the way a sender does.

SML (NAPTR) -> SMP (signed ServiceMetadata, signer checked against the SMP CA)
-> endpoint for the process over peppol-transport-as4-v2_0, with its AP
certificate checked against the AP CA. Prints one JSON object; when a step
fails, `error.stage` says which (input, dns, smp, endpoint) and `error.reason` why.
Exit 0 when an endpoint was found, 1 when not, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx2
from cryptography import x509

import certs
import sml
import smp
import ubl
from accesspoint.config import ConfigError

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["register", "certificate_json"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lookup", help="find a participant's AS4 endpoint (SML + SMP)")
    parser.add_argument("pid", help="participant id: iso6523-actorid-upis::0088:123abc or 0088:123abc")
    parser.add_argument("--doctype", default=str(ubl.BIS_BILLING_INVOICE),
                        help="document type id (default: BIS Billing 3.0 invoice)")
    parser.add_argument("--process", default=str(ubl.BIS_BILLING_PROCESS),
                        help="process id (default: BIS Billing 3.0)")
    parser.add_argument("--zone",
                        help="production, test, ec-production, ec-test or a zone domain "
                             "(default: the --node's zone, else production)")
    parser.add_argument("--dns", metavar="HOST:PORT",
                        help="DNS server to ask (default: the --node's resolver, else the system's)")
    parser.add_argument("--node", metavar="DIR",
                        help="look up as this node would: its zone, DNS resolver, trusted CAs and TLS CA "
                             "(each explicit option still wins); needed for a local test PKI")
    parser.add_argument("--smp", metavar="URL", help="skip DNS and ask this SMP")
    parser.add_argument("--trust-smp", metavar="CA", action="append",
                        help="PEM file(s) with the Peppol root + SMP CA + AP CA to trust "
                             "(default: the built-in G3 set of the zone: test for test zones, else production)")
    parser.add_argument("--tls-ca", metavar="PEM", help="CA file for the SMP's HTTPS certificate (default: system)")
    parser.add_argument("--allow-http", action="store_true", help="accept http:// SMPs and endpoints (not Peppol)")
    parser.add_argument("--at", metavar="TIME", help="ISO time to evaluate certificates and dates at (default: now)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per DNS or HTTP step (default 10)")
    parser.set_defaults(handler=_lookup)


def certificate_json(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "seat_id": certs.common_name(cert),
    }


def _error(stage: str, exc: BaseException) -> dict[str, Any]:
    reason = getattr(exc, "reason", None)
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "reason": getattr(reason, "value", reason),
        "retryable": isinstance(exc, (smp.SmpUnavailable, sml.DnsFailure)),
        "message": str(exc),
    }


def _parse_at(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _run(args: argparse.Namespace, out: dict[str, Any]) -> int:
    try:
        pid = ubl.ParticipantId.parse(args.pid)
        doctype = ubl.DocumentTypeId.parse(args.doctype)
        process = ubl.ProcessId.parse(args.process)
        node = _node(args.node) if args.node else None
        zone = sml.Zone.named(args.zone or (node.settings.sml.zone if node else "production"))
        if node is not None:
            args.dns = args.dns or node.discovery.dns_resolver
            tls_ca = node.settings.pki.tls_ca
            if not args.tls_ca and tls_ca and node.settings.path(tls_ca).exists():
                args.tls_ca = str(node.settings.path(tls_ca))
        at = _parse_at(args.at)
        if args.trust_smp:
            trust = certs.TrustStore.from_pem_files(args.trust_smp)
        elif node is not None:
            trust = node.trust
        else:
            trust = certs.TrustStore.builtin("test" if "test" in zone.label or ".test." in zone.domain else "production")
    except (ubl.UblError, ValueError, certs.CertError, OSError, ConfigError) as exc:
        out["error"] = _error("input", exc)
        return 2
    out.update(participant=str(pid), document_type=str(doctype), process=str(process), zone=zone.domain,
               at=at.isoformat())
    out["dns_name"] = sml.naptr_name(pid, zone)
    if args.smp:
        smp_url = args.smp
    else:
        try:
            smp_url = await sml.lookup_smp_url(pid, zone, resolver=args.dns, timeout=args.timeout)
        except (sml.SmlError, ValueError) as exc:
            out["error"] = _error("dns", exc)
            return 1
    out["smp_url"] = smp_url
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=args.tls_ca) if args.tls_ca else True
    policy = smp.SmpPolicy(trust=trust, production=not args.allow_http)
    async with httpx2.AsyncClient(verify=verify, timeout=args.timeout) as http:
        client = smp.SmpClient(http, policy)
        try:
            found = await client.lookup_endpoint(smp_url, pid, doctype, process, at=at)
        except smp.NoEndpoint as exc:
            out["error"] = _error("endpoint", exc)
            return 1
        except smp.SmpError as exc:
            out["error"] = _error("smp", exc)
            return 1
    out.update(
        found=True,
        registered_document_type=str(found.document_type_id),
        endpoint_url=found.address,
        transport_profile=found.transport_profile,
        certificate=certificate_json(found.certificate()),
        endpoint_activation=found.endpoint.activation.isoformat() if found.endpoint.activation else None,
        endpoint_expiration=found.endpoint.expiration.isoformat() if found.endpoint.expiration else None,
        smp_signer=found.signer.subject if found.signer else None,
    )
    return 0


def _node(directory: str) -> Node:
    from accesspoint.node import Node

    return Node.open(directory)


def _lookup(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {"found": False}
    code = asyncio.run(_run(args, out))
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return code
