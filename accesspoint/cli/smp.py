"""`peppol-node smp inspect FILE`: check a saved SMP answer the way our client would.

Reports the signature (algorithm, verdict), the signer and whether it chains to
a trusted SMP CA at `--at`, and the content (identifiers, endpoints and whether
each is active at `--at`, or the redirect). Exit 0 only when the answer is
valid: a signed answer whose signature verifies and whose signer is trusted, or
an (unsigned by design) ServiceGroup that parses. SHA-1 signatures of historic
answers are verified but reported as `legacy_algorithm`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

import certs
import smp
from accesspoint.cli.lookup import certificate_json

__all__ = ["register"]

_SHA1 = ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")
_SMP_NS = "{http://busdox.org/serviceMetadata/publishing/1.0/}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("smp", help="SMP tools")
    commands = parser.add_subparsers(dest="smp_command", metavar="SUBCOMMAND")
    commands.required = True
    inspect = commands.add_parser("inspect", help="verify a saved SMP answer (exit 0 only when valid)")
    inspect.add_argument("file", type=Path, help="an SMP ServiceMetadata or ServiceGroup XML file")
    inspect.add_argument("--trust", action="append", metavar="CA",
                         help="PEM file(s) with the root + SMP CA (repeatable; default: built-in G3 production + test)")
    inspect.add_argument("--at", metavar="TIME", help="ISO time to check at (default: now)")
    inspect.set_defaults(handler=_inspect)


def _content(metadata: smp.ServiceMetadata, at: datetime) -> dict[str, Any]:
    if metadata.redirect is not None:
        return {"redirect": {"href": metadata.redirect.href, "certificate_uid": metadata.redirect.certificate_uid}}
    info = metadata.information
    assert info is not None
    processes = []
    for process in info.processes:
        endpoints = []
        for e in process.endpoints:
            reason = e.inactive_reason(at)
            endpoints.append({
                "transport_profile": e.transport_profile,
                "address": e.address,
                "activation": e.activation.isoformat() if e.activation else None,
                "expiration": e.expiration.isoformat() if e.expiration else None,
                "active": reason is None,
                "inactive_reason": reason.value if reason else None,
            })
        processes.append({"process": str(process.process_id), "endpoints": endpoints})
    return {"participant": str(info.participant_id), "document_type": str(info.document_type_id),
            "processes": processes}


def _inspect(args: argparse.Namespace) -> int:
    out: dict[str, Any] = {"file": str(args.file), "valid": False}
    code = _run(args, out)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return code


def _run(args: argparse.Namespace, out: dict[str, Any]) -> int:
    try:
        data = args.file.read_bytes()
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00")) if args.at else datetime.now(UTC)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if args.trust:
            trust = certs.TrustStore.from_pem_files(args.trust, name="given")
        else:
            g3 = [certs.TrustStore.builtin(n) for n in ("production", "test")]
            trust = certs.TrustStore.from_certificates(
                [c for t in g3 for c in (*t.roots, *t.all_issuing_cas())], name="G3 production + test")
    except (OSError, ValueError, certs.CertError) as exc:
        out["error"] = {"stage": "input", "message": str(exc)}
        return 2
    out["at"] = at.isoformat()
    try:
        group = smp.parse_service_group(data)
    except smp.SmpParseError:
        group = None
    if group is not None:
        out.update(kind="ServiceGroup", valid=True, participant=str(group.participant_id),
                   document_types=[str(d) for d in group.document_type_ids] or [r.href for r in group.references])
        return 0
    try:
        check = smp.check_signature(data, at=at, allow_sha1=True)
    except smp.SmpError as exc:
        out["signature"] = {"valid": False, "reason": getattr(getattr(exc, "reason", None), "value", "parse"),
                            "message": str(exc)}
        try:
            out["content"] = _content(smp.parse_service_metadata(data), at)
        except smp.SmpError:
            pass
        return 1
    out["signature"] = {"valid": True, "signature_method": check.signature_method, "digest_method": check.digest_method,
                        "legacy_algorithm": check.signature_method in _SHA1 or check.digest_method in _SHA1,
                        "signer": certificate_json(check.certificate)}
    try:
        seat = certs.verify_smp_certificate(check.certificate, trust=trust, at=at)
        out["signer_trusted"] = {"trusted": True, "seat_id": str(seat), "trust_set": trust.name}
    except certs.CertificateRejected as exc:
        out["signer_trusted"] = {"trusted": False, "reason": exc.reason.value, "message": str(exc)}
    except certs.CertError as exc:
        out["signer_trusted"] = {"trusted": False, "message": str(exc)}
    root = check.signed_root
    metadata_el = root.find(_SMP_NS + "ServiceMetadata") if root.tag == _SMP_NS + "SignedServiceMetadata" else None
    if metadata_el is not None:
        try:
            out["kind"] = "SignedServiceMetadata"
            out["content"] = _content(smp.parse_service_metadata(etree.tostring(metadata_el)), at)
        except smp.SmpError as exc:
            out["content_error"] = str(exc)
            return 1
    else:
        out["kind"] = root.tag
    out["valid"] = bool(out["signer_trusted"]["trusted"])
    return 0 if out["valid"] else 1
