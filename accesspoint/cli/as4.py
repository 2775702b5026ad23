"""`peppol-node as4 send|receive|inspect`: AS4 by hand, for operators and for testing other APs.

Every command prints one JSON object (receive: one per line) and exits 0
only on full success: a verified receipt (send), a clean shutdown (receive),
a valid message or signal (inspect).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("as4", help="send, receive or inspect Peppol AS4 messages")
    sub = parser.add_subparsers(dest="as4_command", metavar="ACTION")
    sub.required = True

    def keys(p: argparse.ArgumentParser, *, cert_required: bool = False) -> None:
        p.add_argument("--key", required=True, help="our private key: PEM, or PKCS#12 (.p12/.pfx) with the cert")
        p.add_argument("--cert", required=cert_required, help="our certificate (PEM) when --key is PEM")
        p.add_argument("--key-password", help="password of the key or PKCS#12 file")

    send = sub.add_parser("send", help="send a UBL document or SBD to an AS4 endpoint")
    send.add_argument("url", help="the receiving access point's AS4 endpoint, e.g. https://ap.example/as4")
    send.add_argument("file", type=Path, help="the business document (UBL) or SBD to send")
    keys(send)
    send.add_argument("--receiver-cert", required=True, help="the receiving AP's certificate (from its SMP)")
    send.add_argument("--trust", action="append", default=[], help="CA PEM(s) the receipt signer must chain to")
    send.add_argument("--from", dest="sender", help="originalSender participant id (default: from the document)")
    send.add_argument("--to", dest="receiver", help="finalRecipient participant id (default: from the document)")
    send.add_argument("--doctype", help="document type id (default: from the document)")
    send.add_argument("--process", help="process id (default: from the document)")
    send.add_argument("--country", help="COUNTRY_C1 for a UBL document (default: the supplier's country)")
    send.add_argument("--tls-ca", help="CA bundle for the receiver's TLS certificate (default: system CAs)")
    send.add_argument("--attempts", type=int, default=4, help="HTTP attempts before giving up (default 4)")
    send.add_argument("--backoff", type=float, default=2.0, help="first retry delay in seconds (doubles)")
    send.set_defaults(handler=_send)

    recv = sub.add_parser("receive", help="run a stand-alone AS4 receiver on /as4")
    recv.add_argument("--listen", required=True, help="HOST:PORT (port 0 picks a free one)")
    keys(recv)
    recv.add_argument("--trust", action="append", required=True, help="CA PEM(s) senders must chain to")
    recv.add_argument("--store", required=True, type=Path, help="directory for accepted SBDs")
    recv.add_argument("--tls-cert", help="TLS certificate (PEM); without it plain HTTP on loopback only")
    recv.add_argument("--tls-key", help="TLS private key (PEM)")
    recv.add_argument("--accept", nargs="+", metavar="PID", help="serve only these final recipients")
    recv.add_argument("--revocation", choices=["hard", "soft", "off"], default="soft",
                      help="sender certificate revocation: hard = unknown rejects, soft = only revoked rejects")
    recv.set_defaults(handler=_receive)

    insp = sub.add_parser("inspect", help="verify (and decrypt) a captured AS4 message or signal")
    insp.add_argument("body", type=Path, help="a captured AS4 HTTP body (MIME multipart or SOAP)")
    insp.add_argument("--headers", type=Path, help="file with the HTTP/MIME headers (Content-Type)")
    insp.add_argument("--key", help="our private key, to decrypt (PEM or PKCS#12)")
    insp.add_argument("--cert", help="certificate for a PEM --key")
    insp.add_argument("--key-password", help="password of the decryption key")
    insp.add_argument("--trust", action="append", default=[], help="CA PEM(s) the signer must chain to")
    insp.add_argument("--at", help="validation time, ISO 8601 (default: the message's own timestamp)")
    insp.set_defaults(handler=_inspect)


def _emit(obj: dict) -> None:
    print(json.dumps(obj, default=str), flush=True)


def _fail(message: str, code: int = EXIT_USAGE, **extra: object) -> int:
    _emit({"ok": False, "error": message, **extra})
    return code


def _trust(paths: list[str]):  # noqa: ANN202
    import certs

    return certs.TrustStore.from_pem_files(paths, name="cli") if paths else None


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# -- send ---------------------------------------------------------------------------------------
def _wrap_ubl(data: bytes, args: argparse.Namespace) -> bytes:
    """Wrap a UBL Invoice/CreditNote in an SBDH, ids from the document unless given."""
    import ubl
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(data, parser)
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}

    def endpoint(party: str) -> str | None:
        el = root.find(f"cac:{party}/cac:Party/cbc:EndpointID", ns)
        if el is None or not el.text:
            return None
        return f"{el.get('schemeID', '')}:{el.text.strip()}"

    sender = args.sender or endpoint("AccountingSupplierParty")
    receiver = args.receiver or endpoint("AccountingCustomerParty")
    customization = root.findtext("cbc:CustomizationID", namespaces=ns)
    profile = root.findtext("cbc:ProfileID", namespaces=ns)
    q = etree.QName(root)
    doctype = args.doctype or (f"busdox-docid-qns::{q.namespace}::{q.localname}##{customization}::2.1"
                               if customization else None)
    process = args.process or (f"cenbii-procid-ubl::{profile}" if profile else None)
    country = args.country or root.findtext(
        "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode", namespaces=ns)
    missing = [n for n, v in (("--from", sender), ("--to", receiver), ("--doctype", doctype),
                              ("--process", process), ("--country", country)) if not v]
    if missing:
        raise ValueError(f"cannot take {', '.join(missing)} from the document; give them on the command line")
    return ubl.build_sbd(
        sender=ubl.ParticipantId.parse(sender), receiver=ubl.ParticipantId.parse(receiver),
        document_type_id=ubl.DocumentTypeId.parse(doctype), process_id=ubl.ProcessId.parse(process),
        country_c1=country, payload=data, creation_time=datetime.now(UTC))


def _send(args: argparse.Namespace) -> int:
    import certs
    import httpx2

    import as4

    url = urlsplit(args.url)
    if url.scheme not in ("http", "https"):
        return _fail(f"unsupported URL scheme {url.scheme!r}")
    if url.scheme == "http" and not _is_loopback(url.hostname):
        return _fail("plain http:// is only allowed to loopback addresses; use https://")
    try:
        pair = certs.load_key_pair(args.key, args.cert, args.key_password)
        receiver_cert = certs.load_certificate(args.receiver_cert)
        trust = _trust(args.trust)
        data = args.file.read_bytes()
    except (OSError, certs.CertError) as exc:
        return _fail(str(exc))
    sbd = data
    if b"StandardBusinessDocument" not in data[:4096]:
        try:
            sbd = _wrap_ubl(data, args)
        except Exception as exc:  # noqa: BLE001 - CLI boundary: any reason the document cannot be wrapped
            return _fail(f"cannot wrap {args.file} in an SBDH: {exc}")
    now = datetime.now(UTC)
    try:
        message = as4.build_user_message(
            sbd, key=pair.key, cert=pair.cert, receiver_cert=receiver_cert, at=now,
            original_sender=args.sender if sbd is data else None,
            final_recipient=args.receiver if sbd is data else None,
            document_type_id=args.doctype, process_id=args.process)
    except ValueError as exc:
        return _fail(str(exc))

    verify_signer = None
    if trust is not None:
        def verify_signer(cert, at):  # noqa: ANN001, ANN202
            return certs.verify_ap_certificate(cert, trust=trust, at=at)

    async def run() -> as4.SendResult:
        ctx = as4.tls_context(args.tls_ca)
        async with as4.make_client(verify=ctx) as client:
            return await as4.send_message(client, args.url, message, receiver_cert=receiver_cert,
                                          verify_signer=verify_signer, max_attempts=max(1, args.attempts),
                                          backoff=args.backoff)

    try:
        result = asyncio.run(run())
    except httpx2.HTTPError as exc:
        return _fail(f"HTTP error: {exc}", EXIT_FAILED, message_id=message.message_id)
    error = result.error
    _emit({
        "ok": result.delivered,
        "message_id": result.message_id,
        "http_status": result.status,
        "outcome": result.outcome.value,
        "receipt": "verified" if result.receipt else ("none" if error is None else "invalid"),
        "receipt_message_id": result.receipt.message_id if result.receipt else None,
        "error": None if error is None else {"code": getattr(error, "raw_code", error.code.code),
                                             "short": error.code.short_description, "detail": error.detail},
        "attempts": [{"number": a.number, "status": a.status, "error": a.error, "seconds": round(a.seconds, 3)}
                     for a in result.attempts],
    })
    return EXIT_OK if result.delivered else EXIT_FAILED


# -- receive ------------------------------------------------------------------------------------
def _receive(args: argparse.Namespace) -> int:
    import certs
    import uvicorn

    import as4
    from as4.inbound import participant_key

    host, _, port_text = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        return _fail("--listen must be HOST:PORT")
    if not args.tls_cert and not _is_loopback(host):
        return _fail("without --tls-cert/--tls-key the receiver only listens on loopback addresses")
    if bool(args.tls_cert) != bool(args.tls_key):
        return _fail("--tls-cert and --tls-key go together")
    try:
        pair = certs.load_key_pair(args.key, args.cert, args.key_password)
        trust = _trust(args.trust)
    except (OSError, certs.CertError) as exc:
        return _fail(str(exc))
    revocation = None
    if args.revocation != "off":
        revocation = certs.RevocationChecker(soft_fail=args.revocation == "soft", timeout=5.0)
    policy = as4.ReceiverPolicy(
        accept=frozenset(participant_key(p) for p in args.accept) if args.accept else None,
        check_revocation=revocation is not None)
    receiver = as4.Receiver(key=pair.key, cert=pair.cert, trust=trust, revocation=revocation, policy=policy)
    store = as4.DirectoryStore(args.store)

    def stored(document: as4.ReceivedDocument) -> None:
        _emit({"event": "stored", "message_id": document.message_id, "sender": document.sbdh.sender,
               "receiver": document.sbdh.receiver, "instance_identifier": document.sbdh.instance_identifier})

    app = as4.create_app(receiver, store, on_stored=stored)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted connections; without it each answer waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        return _fail(f"cannot listen on {args.listen}: {exc}")
    sock.listen(128)
    actual = sock.getsockname()[1]
    scheme = "https" if args.tls_cert else "http"
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(app, log_level="warning", ssl_certfile=args.tls_cert, ssl_keyfile=args.tls_key,
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    _emit({"event": "listening", "url": f"{scheme}://{shown}:{actual}/as4", "port": actual})
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if revocation is not None:
            revocation.close()
    return EXIT_OK


# -- inspect ------------------------------------------------------------------------------------
def _inspect(args: argparse.Namespace) -> int:
    import certs

    import as4
    from as4 import _wss
    from as4.ebms import SignalMessage, UserMessage
    from as4.mime import _parse_headers, split_message_headers

    try:
        raw = args.body.read_bytes()
        headers, body = split_message_headers(raw)
        if args.headers:
            headers = _parse_headers(args.headers.read_bytes().split(b"\r\n\r\n")[0].split(b"\n\n")[0])
        trust = _trust(args.trust)
        pair = certs.load_key_pair(args.key, args.cert, args.key_password) if args.key else None
        at = datetime.fromisoformat(args.at.replace("Z", "+00:00")) if args.at else None
    except (OSError, ValueError, certs.CertError, as4.As4Error) as exc:
        return _fail(str(exc))
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    content_type = headers.get("content-type") or ("multipart/related" if body.lstrip().startswith(b"--")
                                                   else "application/soap+xml")
    report: dict = {"ok": False}
    try:
        inbound = as4.parse_message(content_type, body)
        msg = inbound.message
        when = at or msg.timestamp
        report.update({"kind": "user_message" if isinstance(msg, UserMessage) else "signal",
                       "message_id": msg.message_id, "timestamp": msg.timestamp.isoformat(),
                       "validated_at": when.isoformat()})
        if isinstance(msg, SignalMessage):
            report["ref_to_message_id"] = msg.ref_to_message_id
            report["signal"] = "receipt" if msg.receipt else ("error" if msg.error else "other")
            if msg.error:
                report["errors"] = [{"code": e.code, "short": e.short_description, "detail": e.detail}
                                    for e in msg.error.errors]
            sig = as4.verify_signal(inbound)
        else:
            report.update({"from": msg.from_party.party_id, "to": msg.to_party.party_id,
                           "service": msg.service, "action": msg.action,
                           "original_sender": getattr(msg.property("originalSender"), "value", None),
                           "final_recipient": getattr(msg.property("finalRecipient"), "value", None)})
            security = inbound.security
            if security is None:
                raise as4.PolicyNoncompliance("message is not signed", msg.message_id)
            sig = _wss.verify(security, attachments=None)
        report["signer"] = sig.certificate.subject.rfc4514_string()
        report["references"] = [r.uri for r in sig.references]
        report["signature"] = "valid" if isinstance(msg, SignalMessage) else "valid (header and body)"
        if trust is not None:
            try:
                report["seat_id"] = str(certs.verify_ap_certificate(sig.certificate, trust=trust, at=when))
            except certs.CertError as exc:
                raise as4.FailedAuthentication(f"signer rejected: {exc}", msg.message_id) from None
            report["trust"] = "trusted"
        else:
            report["trust"] = "not checked (no --trust)"
        if isinstance(msg, UserMessage):
            if pair is None:
                report["decrypted"] = False
                report["attachments"] = "not checked (encrypted; give --key)"
            else:
                def verify_signer(cert, at_):  # noqa: ANN001, ANN202
                    if trust is None:
                        return certs.common_name(cert)
                    return certs.verify_ap_certificate(cert, trust=trust, at=at_)

                doc = as4.open_user_message(inbound, key=pair.key, cert=pair.cert, verify_signer=verify_signer,
                                            at=when, policy=as4.ReceiverPolicy(check_revocation=False))
                report["decrypted"] = True
                report["signature"] = "valid (header, body and attachments)"
                report["sbdh"] = {"sender": doc.sbdh.sender, "receiver": doc.sbdh.receiver,
                                  "instance_identifier": doc.sbdh.instance_identifier}
                report["payload_bytes"] = doc.sbd.size
        report["ok"] = True
    except as4.As4Error as exc:
        report["error"] = {"code": exc.code.code, "short": exc.code.short_description, "detail": exc.detail}
        _emit(report)
        return EXIT_FAILED
    _emit(report)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
