"""Drive the PyPI `as4` package (0.2.x) as an independent Peppol AS4 peer. Runs in the peer venv only.

The package is sans-I/O (it builds and parses bytes), so this driver adds the HTTP edges it lacks,
with the standard library and urllib3 (one of its own dependencies). Everything between the bytes
and the HTTP call is the package's own code: the public `as4` / `as4.peppol` API, nothing patched.

Sub-commands (each prints ONE JSON object as its last stdout line):

  send     build a Peppol UserMessage with `as4`, POST it, and verify the answer with `as4`
           (signature by the receiver's certificate, RefToMessageId, non-repudiation digests).
  receive  serve POST on /as4 (HTTP, or HTTPS with --tls-cert/--tls-key): `as4` parses, decrypts and
           verifies each message and answers with its own signed Receipt or ebMS Error. Prints
           {"url": ...} once listening; stops when stdin closes. Each message is recorded in --store.
  bench    the `as4` package's full in-process exchange, repeated for --seconds:
           build+sign+encrypt -> parse+verify+decrypt -> receipt -> receipt verified.
  load     --senders threads, each building a fresh message with `as4` (sign, encrypt, gzip), POSTing
           it over its own keep-alive connection and verifying the receipt, for --seconds: the
           sender half of the peer pair in benchmarks/load.py --peer (the other half is `receive`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import ssl
import sys
import threading
import time
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import as4
from as4 import AS4LocalPrivateKey, ParticipantNotServicedError, ReceiptVerificationError
from as4.peppol import (
    PeppolAS4Profile,
    PeppolSendingExchange,
    create_peppol_external_party,
    create_peppol_internal_party,
    parse_peppol_message,
    peppol_security_policy,
)
from as4.peppol import PeppolAS4MessageBuilderArgs, BusdoxDocidQnsDocumentIdentifier
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from lxml import etree

SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
SBDH_NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
MAX_BODY = 200 * 1024 * 1024


def _assert_peer_package() -> None:
    # The whole point of the separate venv: this must be PyPI's as4, never the project's.
    if "site-packages" not in (as4.__file__ or ""):
        raise SystemExit(f"refusing to run: `as4` resolved to {as4.__file__}, not the PyPI package")


def load_cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_certs(path: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def load_key(path: str):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def without_scheme(identifier: str, scheme: str) -> str:
    prefix = scheme + "::"
    return identifier[len(prefix):] if identifier.startswith(prefix) else identifier


def business_document(payload: bytes) -> bytes:
    """`as4` wraps the business document in its own SBDH: given a whole SBD, hand it the document inside."""
    root = etree.fromstring(payload, SAFE_PARSER)
    if root.tag != f"{{{SBDH_NS}}}StandardBusinessDocument":
        return payload
    for child in root:
        if isinstance(child.tag, str) and child.tag != f"{{{SBDH_NS}}}StandardBusinessDocumentHeader":
            return etree.tostring(child)
    raise SystemExit("the SBD carries no business document")


def soap_part(content_type: str, body: bytes) -> bytes:
    """A signal usually comes back as bare SOAP; tolerate a multipart answer by taking its SOAP part."""
    if "multipart/" not in content_type.lower():
        return body
    message = BytesParser(policy=default_policy).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_content_type() in ("application/soap+xml", "text/xml"):
            return part.get_payload(decode=True)
    return body


def error_json(exchange) -> dict | None:
    error = exchange.error
    if error is None:
        return None
    return {
        "code": error.error_code,
        "short_description": error.short_description,
        "detail": error.error_detail.value if error.error_detail is not None else None,
    }


# --------------------------------------------------------------------------------------------- send
def cmd_send(args: argparse.Namespace) -> int:
    import urllib3

    sender_cert, receiver_cert = load_cert(args.cert), load_cert(args.receiver_cert)
    local = create_peppol_internal_party(
        args.party_id or common_name(sender_cert), sender_cert, AS4LocalPrivateKey(load_key(args.key))
    )
    remote = create_peppol_external_party(args.receiver_party_id or common_name(receiver_cert), receiver_cert)
    exchange = PeppolSendingExchange(profile=PeppolAS4Profile, local_party=local, remote_party=remote)
    builder_args = PeppolAS4MessageBuilderArgs(
        sender=without_scheme(args.sender, "iso6523-actorid-upis"),
        recipient=without_scheme(args.recipient, "iso6523-actorid-upis"),
        document_type_identifier=BusdoxDocidQnsDocumentIdentifier.from_identifier_value(
            without_scheme(args.doctype, "busdox-docid-qns")
        ),
        document_identification_instance_identifier=args.instance_id,
        process_identifier=without_scheme(args.process, "cenbii-procid-ubl"),
        c1_country_id=args.country,
    )
    headers, body = exchange.build(business_document(Path(args.payload).read_bytes()), builder_args)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "request.headers.json").write_text(json.dumps(headers, indent=2))
        (out / "request.body").write_bytes(body)

    pool = urllib3.PoolManager(
        cert_reqs="CERT_REQUIRED" if args.ca_bundle else "CERT_NONE",
        ca_certs=args.ca_bundle,
        retries=False,
        timeout=urllib3.Timeout(connect=5, read=120),
    )
    result: dict = {"message_id": exchange.message_id, "conversation_id": exchange.conversation_id}
    answers = []
    for attempt in range(1, args.repeat + 1):
        # --repeat re-sends the very same bytes (same MessageId), as a sender does after a lost receipt
        answer = post_and_verify(pool, args.url, headers, body, exchange, out, attempt)
        answers.append(answer)
        if answer["state"] == "transport-error":
            break
    result.update(answers[-1])
    if args.repeat > 1:
        result["attempts"] = answers
    print(json.dumps(result))
    return 0 if all(a["receipt_verified"] for a in answers) else 1


def post_and_verify(pool, url: str, headers: dict, body: bytes, exchange, out: Path | None, attempt: int) -> dict:
    import urllib3

    try:
        response = pool.request("POST", url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        return {"state": "transport-error", "receipt_verified": False, "reason": str(exc)}
    exchange.mark_sent()
    content_type = response.headers.get("Content-Type", "")
    if out:
        name = "response.body" if attempt == 1 else f"response.{attempt}.body"
        (out / name).write_bytes(response.data)
    try:
        exchange.receive_signal(soap_part(content_type, response.data))
        reason = None
    except ReceiptVerificationError as exc:
        reason = str(exc)
    receipt_id = None
    if exchange.receipt is not None and exchange.receipt.soap_envelope is not None:
        signal = exchange.receipt.soap_envelope.header.messaging.signal_message
        receipt_id = signal.message_info.message_id.value if signal is not None else None
    return {
        "http_status": response.status,
        "response_content_type": content_type,
        "state": str(exchange.state),
        "receipt_verified": exchange.successful,
        "receipt_message_id": receipt_id,
        "error": error_json(exchange),
        "reason": reason,
    }


# ------------------------------------------------------------------------------------------ receive
class Receiver:
    def __init__(self, args: argparse.Namespace) -> None:
        cert = load_cert(args.cert)
        self.local = create_peppol_internal_party(
            args.party_id or common_name(cert), cert, AS4LocalPrivateKey(load_key(args.key))
        )
        anchors = load_certs(args.trust)
        intermediates = load_certs(args.intermediate) if args.intermediate else []
        self.policy = peppol_security_policy(*anchors, intermediates=intermediates)
        self.accept = set(args.accept or [])
        self.store = Path(args.store)
        self.store.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.count = 0

    def accept_participant(self, recipient: str) -> None:
        if self.accept and recipient.lower() not in self.accept:
            raise ParticipantNotServicedError(recipient)

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        exchange = parse_peppol_message(
            headers, body, self.local,
            accept_participant=self.accept_participant if self.accept else None,
            security_policy=self.policy,
        )
        message = exchange.message
        signal_headers, signal = exchange.build_signal()
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "n": n,
            "message_id": exchange.message_id,
            "successful": exchange.successful,
            "state": str(exchange.state),
            "error": error_json(exchange),
            "parse_error": repr(message.parse_error) if message is not None and message.parse_error else None,
            "sender": getattr(message, "sender", None),
            "recipient": getattr(message, "recipient", None),
            "document_type": getattr(message, "document_type_identifier_value", None),
            "process": getattr(message, "process_identifier", None),
            "conversation_id": exchange.conversation_id,
            "signer": message.signer_certificate.subject.rfc4514_string()
            if message is not None and message.signer_certificate is not None else None,
        }
        if message is not None and exchange.successful:
            first = next(iter(message.mime_attachments), None)
            payload = message.decrypted_data.get(first) if first else None
            if payload is not None:
                (self.store / f"{n:04d}.sbd.xml").write_bytes(payload)
                record["payload_file"] = f"{n:04d}.sbd.xml"
        (self.store / f"{n:04d}.request.body").write_bytes(body)
        (self.store / f"{n:04d}.request.headers.json").write_text(json.dumps(headers, indent=2))
        (self.store / f"{n:04d}.signal.xml").write_bytes(signal)
        (self.store / f"{n:04d}.json").write_text(json.dumps(record, indent=2))
        return 200, signal_headers, signal


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks, total = [], 0
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY:
                raise ValueError("body too large")
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length", "0"))
    if length > MAX_BODY:
        raise ValueError("body too large")
    return handler.rfile.read(length)


def cmd_receive(args: argparse.Namespace) -> int:
    receiver = Receiver(args)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *a) -> None:  # keep stdout for the JSON line
            sys.stderr.write("as4-peer: " + fmt % a + "\n")

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/as4":
                self.send_error(404)
                return
            try:
                body = read_body(self)
                status, headers, signal = receiver.handle(dict(self.headers.items()), body)
            except Exception as exc:  # the peer crashed: say so plainly, as a 500
                sys.stderr.write(f"as4-peer: {type(exc).__name__}: {exc}\n")
                status, headers, signal = 500, {"Content-Type": "text/plain"}, f"{type(exc).__name__}: {exc}".encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(signal)))
            self.end_headers()
            self.wfile.write(signal)

    server = ThreadingHTTPServer((args.host, 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    host = "localhost" if args.tls_cert else args.host
    print(json.dumps({"url": f"{scheme}://{host}:{server.server_address[1]}/as4"}), flush=True)

    def stop_on_eof() -> None:
        sys.stdin.read()  # parent closed our stdin (or died): stop serving
        server.shutdown()

    threading.Thread(target=stop_on_eof, daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    print(json.dumps({"stopped": True, "messages": receiver.count}), flush=True)
    return 0


# -------------------------------------------------------------------------------------------- bench
def cmd_bench(args: argparse.Namespace) -> int:
    sender_cert, receiver_cert = load_cert(args.cert), load_cert(args.receiver_cert)
    sender_local = create_peppol_internal_party(common_name(sender_cert), sender_cert, AS4LocalPrivateKey(load_key(args.key)))
    receiver_local = create_peppol_internal_party(
        common_name(receiver_cert), receiver_cert, AS4LocalPrivateKey(load_key(args.receiver_key))
    )
    receiver_as_remote = create_peppol_external_party(common_name(receiver_cert), receiver_cert)
    policy = peppol_security_policy(*load_certs(args.trust), intermediates=load_certs(args.intermediate))
    document = business_document(Path(args.payload).read_bytes())
    builder_args = PeppolAS4MessageBuilderArgs(
        sender=without_scheme(args.sender, "iso6523-actorid-upis"),
        recipient=without_scheme(args.recipient, "iso6523-actorid-upis"),
        document_type_identifier=BusdoxDocidQnsDocumentIdentifier.from_identifier_value(
            without_scheme(args.doctype, "busdox-docid-qns")
        ),
        document_identification_instance_identifier="bench",
        process_identifier=without_scheme(args.process, "cenbii-procid-ubl"),
        c1_country_id="BE",
    )

    def one_exchange() -> None:
        sending = PeppolSendingExchange(
            profile=PeppolAS4Profile, local_party=sender_local, remote_party=receiver_as_remote
        )
        headers, body = sending.build(document, builder_args)
        received = parse_peppol_message(headers, body, receiver_local, security_policy=policy)
        if not received.successful:
            raise SystemExit(f"as4 rejected its own message: {received.message.parse_error!r}")
        _, signal = received.build_signal()
        sending.mark_sent().receive_signal(signal)
        if not sending.successful:
            raise SystemExit("as4 did not verify its own receipt")

    for _ in range(args.warmup):
        one_exchange()
    count, start = 0, time.perf_counter()
    deadline = start + args.seconds
    while True:
        one_exchange()
        count += 1
        now = time.perf_counter()
        if now >= deadline and count >= args.min_count:
            break
    elapsed = now - start
    print(json.dumps({
        "implementation": f"as4 {importlib.metadata.version('as4')}",
        "exchanges": count,
        "seconds": elapsed,
        "exchanges_per_second": count / elapsed,
        "payload_bytes": len(document),
    }))
    return 0


# --------------------------------------------------------------------------------------------- load
def cmd_load(args: argparse.Namespace) -> int:
    import urllib.parse

    import urllib3

    sender_cert, receiver_cert = load_cert(args.cert), load_cert(args.receiver_cert)
    local = create_peppol_internal_party(common_name(sender_cert), sender_cert, AS4LocalPrivateKey(load_key(args.key)))
    remote = create_peppol_external_party(common_name(receiver_cert), receiver_cert)
    document = business_document(Path(args.payload).read_bytes())
    url = urllib.parse.urlsplit(args.url)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    numbers = iter(range(10**9))
    start = time.perf_counter()
    deadline = start + args.seconds

    def builder_args(n: int) -> PeppolAS4MessageBuilderArgs:
        return PeppolAS4MessageBuilderArgs(
            sender=without_scheme(args.sender, "iso6523-actorid-upis"),
            recipient=without_scheme(args.recipient, "iso6523-actorid-upis"),
            document_type_identifier=BusdoxDocidQnsDocumentIdentifier.from_identifier_value(
                without_scheme(args.doctype, "busdox-docid-qns")
            ),
            document_identification_instance_identifier=f"load-{n}",
            process_identifier=without_scheme(args.process, "cenbii-procid-ubl"),
            c1_country_id="BE",
        )

    def sender() -> None:
        pool = urllib3.HTTPConnectionPool(url.hostname, url.port, maxsize=1, retries=False,
                                          timeout=urllib3.Timeout(connect=5, read=60))
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            with lock:
                n = next(numbers)
            exchange = PeppolSendingExchange(profile=PeppolAS4Profile, local_party=local, remote_party=remote)
            headers, body = exchange.build(document, builder_args(n))
            kind = None
            try:
                response = pool.urlopen("POST", url.path, body=body, headers=headers)
                exchange.mark_sent()
                exchange.receive_signal(soap_part(response.headers.get("Content-Type", ""), response.data))
                if not exchange.successful:
                    kind = f"no receipt: {(error_json(exchange) or {}).get('code')}"
            except urllib3.exceptions.HTTPError as exc:
                kind = f"transport: {type(exc).__name__}"
            except ReceiptVerificationError:
                kind = "receipt not verified"
            with lock:
                if kind is None:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors[kind] = errors.get(kind, 0) + 1
        pool.close()

    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "implementation": f"as4 {importlib.metadata.version('as4')}",
        "senders": args.senders, "seconds": elapsed, "exchanges": len(latencies),
        "exchanges_per_second": len(latencies) / elapsed, "latencies": latencies, "errors": errors,
        "payload_bytes": len(document),
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    _assert_peer_package()
    parser = argparse.ArgumentParser(prog="as4_driver")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send")
    send.add_argument("--url", required=True)
    send.add_argument("--key", required=True)
    send.add_argument("--cert", required=True)
    send.add_argument("--receiver-cert", required=True)
    send.add_argument("--party-id", help="eb:From PartyId (default: CN of --cert)")
    send.add_argument("--receiver-party-id", help="eb:To PartyId (default: CN of --receiver-cert)")
    send.add_argument("--sender", required=True, help="C1 participant, e.g. 0088:123abc")
    send.add_argument("--recipient", required=True, help="C4 participant")
    send.add_argument("--doctype", required=True)
    send.add_argument("--process", required=True)
    send.add_argument("--country", default="BE")
    send.add_argument("--instance-id", default=None)
    send.add_argument("--payload", required=True, help="business document (or a whole SBD: its document is used)")
    send.add_argument("--ca-bundle", help="CA file for an https:// URL")
    send.add_argument("--out", help="directory to keep request and response in")
    send.add_argument("--repeat", type=int, default=1, help="send the same bytes N times (duplicate check)")
    send.set_defaults(handler=cmd_send)

    receive = sub.add_parser("receive")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--key", required=True)
    receive.add_argument("--cert", required=True)
    receive.add_argument("--party-id")
    receive.add_argument("--trust", required=True, help="PEM trust anchor(s) (the root CA)")
    receive.add_argument("--intermediate", help="PEM intermediate CA(s) (the AP CA)")
    receive.add_argument("--accept", action="append", help="serve only these final recipients (0088:...)")
    receive.add_argument("--store", required=True)
    receive.add_argument("--tls-cert")
    receive.add_argument("--tls-key")
    receive.set_defaults(handler=cmd_receive)

    bench = sub.add_parser("bench")
    for name in ("key", "cert", "receiver-key", "receiver-cert", "trust", "intermediate", "payload"):
        bench.add_argument(f"--{name}", required=True)
    bench.add_argument("--sender", default="0088:sender")
    bench.add_argument("--recipient", default="0088:receiver")
    bench.add_argument("--doctype", required=True)
    bench.add_argument("--process", required=True)
    bench.add_argument("--seconds", type=float, default=5.0)
    bench.add_argument("--warmup", type=int, default=2)
    bench.add_argument("--min-count", type=int, default=3)
    bench.set_defaults(handler=cmd_bench)

    load = sub.add_parser("load")
    for name in ("url", "key", "cert", "receiver-cert", "payload", "doctype", "process"):
        load.add_argument(f"--{name}", required=True)
    load.add_argument("--sender", default="0088:sender")
    load.add_argument("--recipient", default="0088:receiver")
    load.add_argument("--senders", type=int, default=8)
    load.add_argument("--seconds", type=float, default=10.0)
    load.set_defaults(handler=cmd_load)

    args = parser.parse_args(argv)
    if getattr(args, "instance_id", "unset") is None:
        import uuid
        args.instance_id = str(uuid.uuid4())
    if getattr(args, "accept", None):
        args.accept = [without_scheme(p, "iso6523-actorid-upis").lower() for p in args.accept]
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
