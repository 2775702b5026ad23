"""Drive peppol-py (1.2.x) as an independent Peppol sender and SML/SMP client. Runs in the peer venv only.

peppol-py is written for the real Peppol network; the driver changes only what points it there,
and keeps the rest of its code path (SBDH wrapping, signing, encryption via `xmlsec1`, MIME, HTTP,
NAPTR + SMP parsing) untouched:

  send    `send_peppol_document` with its SMP lookup answered by --url / --receiver-cert (so it sends
          straight to our receiver), or done by peppol-py itself through --dns (see lookup); and its
          certificate check run against OUR test PKI instead of
          the bundled OpenPeppol trust store (same certvalidator call: key usage, client-auth EKU,
          revocation by OCSP/CRL when --revocation hard-fail and a responder is up).
          The HTTP answer is kept (peppol-py itself only checks "200 and a Receipt element").
  lookup  peppol-py's own NAPTR + SMP lookup (`get_smp_url_from_dns`,
          `get_service_info_for_participant_from_smp`) with dnspython's resolver pointed at --dns
          HOST:PORT. That is the only change: the zone stays peppol-py's own
          (participant.sml.test.tech.peppol.org, or .prod. with --production).

Each prints ONE JSON object as its last stdout line.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

import peppol_py
import peppol_py.sender as sender_module
import peppol_py.smp as smp_module
import requests
from peppol_py import SendPeppolError

TRANSPORT_PROFILE = "peppol-transport-as4-v2_0"


def _assert_peer_package() -> None:
    if "site-packages" not in (peppol_py.__file__ or ""):
        raise SystemExit(f"refusing to run: peppol_py resolved to {peppol_py.__file__}")


def error_json(exc: BaseException) -> dict:
    result = {"type": type(exc).__name__, "message": str(exc)}
    for attr in ("code", "temporary", "url", "endpoint"):
        if hasattr(exc, attr):
            value = getattr(exc, attr)
            if isinstance(value, dict):
                value = {k: (v.decode(errors="replace") if isinstance(v, bytes) else v) for k, v in value.items()}
            result[attr] = value
    return result


# --------------------------------------------------------------------------------------------- send
def import_certvalidator():
    """Import certvalidator despite oscrypto 1.3.0 failing to read OpenSSL >= 3.0.10's version string.

    oscrypto (certvalidator's backend, the newest release on PyPI) matches the libcrypto version
    with `\\d\\.\\d\\.\\d`, so "OpenSSL 3.0.19" raises LibraryNotFoundError at import and peppol-py's
    own certificate check cannot run at all on current Debian. Upstream fixed the pattern to
    `\\d+\\.\\d+\\.\\d+` (unreleased); we apply exactly that, only while oscrypto is imported.
    """
    import re

    real_search = re.search
    broken = "\\b(\\d\\.\\d\\.\\d[a-z]*)\\b"

    def search(pattern, string, flags=0):
        return real_search("\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b" if pattern == broken else pattern, string, flags)

    re.search = search
    try:
        import certvalidator
    finally:
        re.search = real_search
    return certvalidator


def trust_roots_validator(trust_file: str, revocation_mode: str):
    """peppol-py's validate_certificate, with our test PKI's anchors in place of the OpenPeppol bundle."""
    import asn1crypto.pem

    certvalidator = import_certvalidator()
    CertificateValidator, ValidationContext = certvalidator.CertificateValidator, certvalidator.ValidationContext

    roots = [der for _, _, der in asn1crypto.pem.unarmor(Path(trust_file).read_bytes(), multiple=True)]

    def validate_certificate(cert, test):
        context = ValidationContext(
            allow_fetching=revocation_mode != "soft-fail", trust_roots=roots, revocation_mode=revocation_mode
        )
        validator = CertificateValidator(cert, validation_context=context)
        validator.validate_usage(
            key_usage={"key_encipherment", "digital_signature"},
            extended_key_usage={"client_auth"},
            extended_optional=False,
        )

    return validate_certificate


def cmd_send(args: argparse.Namespace) -> int:
    if args.dns:
        # discovery as peppol-py does it (NAPTR in its own zone, then the SMP), only asking our DNS server
        host, _, port = args.dns.rpartition(":")
        point_resolver_at(host.strip("[]"), int(port))
    elif args.url and args.receiver_cert:
        receiver_cert = Path(args.receiver_cert).read_bytes()

        def answer_from_smp(participant_id, document_type, test_environment, timeout, user_agent):
            return TRANSPORT_PROFILE, args.url, receiver_cert

        sender_module.get_service_info_for_participant_from_smp = answer_from_smp
    else:
        raise SystemExit("send needs --dns HOST:PORT, or --url with --receiver-cert")
    sender_module.validate_certificate = trust_roots_validator(args.trust, args.revocation)

    responses: list[requests.Response] = []
    real_post = requests.post

    def recording_post(*a, **kw):
        if args.ca_bundle:
            kw.setdefault("verify", args.ca_bundle)
        response = real_post(*a, **kw)
        responses.append(response)
        return response

    requests.post = recording_post

    document = Path(args.document).read_bytes()
    result: dict = {}
    code = 0
    try:
        stats = sender_module.send_peppol_document(
            document,
            args.xmlsec,
            args.key,
            args.key_password,
            args.cert,
            sender_id=args.sender,
            receiver_id=args.receiver,
            sender_country=args.country,
            document_type_version=args.document_type_version,
            test_environment=True,
            timeout=args.timeout,
        )
        result.update(sent=True, stats=stats)
    except SendPeppolError as exc:
        result.update(sent=False, error=error_json(exc))
        code = 1
    except Exception as exc:  # peppol-py raises plain exceptions too (certvalidator, xmlsec, lxml)
        result.update(sent=False, error=error_json(exc), traceback=traceback.format_exc()[-3000:])
        code = 1
    if responses:
        response = responses[-1]
        result["http_status"] = response.status_code
        result["response_content_type"] = response.headers.get("Content-Type")
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "response.body").write_bytes(response.content)
            request = response.request
            (out / "request.headers.json").write_text(json.dumps(dict(request.headers), indent=2))
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            (out / "request.body").write_bytes(body)
    print(json.dumps(result, default=str))
    return code


# ------------------------------------------------------------------------------------------- lookup
def point_resolver_at(host: str, port: int, lifetime: float = 5.0) -> None:
    import dns.resolver

    class PointedResolver(dns.resolver.Resolver):
        """dnspython's resolver, configured with our server instead of /etc/resolv.conf."""

        def __init__(self, filename: str = "/etc/resolv.conf", configure: bool = True) -> None:
            super().__init__(filename=filename, configure=False)
            self.nameservers = [host]
            self.port = port
            self.timeout = min(2.0, lifetime)
            self.lifetime = lifetime

    dns.resolver.Resolver = PointedResolver


def cmd_lookup(args: argparse.Namespace) -> int:
    host, _, port = args.dns.rpartition(":")
    point_resolver_at(host.strip("[]"), int(port), float(args.timeout))
    test_environment = not args.production
    result: dict = {"participant": args.participant, "document_type": args.doctype}
    try:
        result["smp_url"] = smp_module.get_smp_url_from_dns(args.participant, test_environment)
        profile, endpoint, certificate = smp_module.get_service_info_for_participant_from_smp(
            args.participant, args.doctype, test_environment, args.timeout, "peppol-py"
        )
        result.update(
            found=bool(endpoint),
            transport_profile=profile,
            endpoint_url=endpoint,
            certificate=certificate.decode() if isinstance(certificate, bytes) else certificate,
        )
        code = 0 if endpoint else 1
    except SendPeppolError as exc:
        result.update(found=False, error=error_json(exc))
        code = 1
    except Exception as exc:  # peppol-py's own bugs surface here (see the interop notes), reported, not hidden
        result.update(found=False, error=error_json(exc), traceback=traceback.format_exc()[-3000:])
        code = 1
    print(json.dumps(result))
    return code


def without_scheme(identifier: str, scheme: str) -> str:
    prefix = scheme + "::"
    return identifier[len(prefix):] if identifier.startswith(prefix) else identifier


def main(argv: list[str] | None = None) -> int:
    _assert_peer_package()
    parser = argparse.ArgumentParser(prog="peppol_py_driver")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send")
    send.add_argument("--url", help="receiver endpoint (instead of the SMP's)")
    send.add_argument("--receiver-cert", help="receiver AP certificate PEM (instead of the SMP's)")
    send.add_argument("--dns", help="HOST:PORT: find the receiver by peppol-py's own NAPTR + SMP lookup via this server")
    send.add_argument("--trust", required=True, help="PEM root(s) the receiver certificate must chain to")
    send.add_argument("--revocation", default="soft-fail", choices=("soft-fail", "hard-fail", "require"))
    send.add_argument("--key", required=True)
    send.add_argument("--key-password", default="")
    send.add_argument("--cert", required=True)
    send.add_argument("--document", required=True, help="UBL document; peppol-py adds the SBDH")
    send.add_argument("--sender", help="default: from the document")
    send.add_argument("--receiver", help="default: from the document")
    send.add_argument("--country", help="default: from the document")
    send.add_argument("--document-type-version", default="2.1")
    send.add_argument("--xmlsec", default="xmlsec1", help="xmlsec1 binary (the stand-in is first on PATH)")
    send.add_argument("--ca-bundle", help="CA file for an https:// URL")
    send.add_argument("--timeout", type=int, default=60)
    send.add_argument("--out")
    send.set_defaults(handler=cmd_send)

    lookup = sub.add_parser("lookup")
    lookup.add_argument("--participant", required=True, help="0088:123abc (scheme prefix allowed)")
    lookup.add_argument("--doctype", required=True, help="document type id (scheme prefix allowed)")
    lookup.add_argument("--dns", required=True, help="HOST:PORT of the DNS server to ask")
    lookup.add_argument("--production", action="store_true", help="use peppol-py's production zone")
    lookup.add_argument("--timeout", type=int, default=10)
    lookup.set_defaults(handler=cmd_lookup)

    args = parser.parse_args(argv)
    if args.command == "lookup":
        args.participant = without_scheme(args.participant, "iso6523-actorid-upis")
        args.doctype = without_scheme(args.doctype, "busdox-docid-qns")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
