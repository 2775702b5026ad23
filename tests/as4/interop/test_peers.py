"""The peer harness itself: the two independent implementations talk to each other, and peppol-py's
own SML/SMP client finds an endpoint through a DNS server and an SMP we start here.

These prove the venv, the drivers and the `xmlsec1` stand-in are sound on their own, so a failure in
test_as4_interop.py points at our node, not at the harness.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from tests.interop_peers.fixtures import (
    BILLING_PROCESS,
    INVOICE_DOCTYPE,
    RECEIVER_PID,
    RECEIVER_SEAT,
    SENDER_PID,
    SENDER_SEAT,
    invoice,
    read_store,
    start_peer,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
XENC = "{http://www.w3.org/2001/04/xmlenc#}"


def _as4_receiver_args(peer_pki, store: Path, *extra: str) -> list[str]:
    return [
        "receive", "--key", str(peer_pki.receiver_key), "--cert", str(peer_pki.receiver_cert),
        "--trust", str(peer_pki.root), "--intermediate", str(peer_pki.ap_ca), "--store", str(store), *extra,
    ]


def _as4_send_args(url: str, key: Path, cert: Path, receiver_cert: Path, payload: Path, out: Path) -> list[str]:
    return [
        "send", "--url", url, "--key", str(key), "--cert", str(cert), "--receiver-cert", str(receiver_cert),
        "--sender", SENDER_PID, "--recipient", RECEIVER_PID, "--doctype", INVOICE_DOCTYPE,
        "--process", BILLING_PROCESS, "--payload", str(payload), "--out", str(out),
    ]


# ----------------------------------------------------------------------------------- xmlsec1 stand-in
def test_xmlsec1_standin_encrypts_as_peppol_py_asks(peer_venv, peer_pki, tmp_path):
    """The stand-in, run exactly as peppol-py runs xmlsec1, yields RSA-OAEP(SHA-256, MGF1-SHA-256) +
    AES-128-GCM that `cryptography` (not xmlsec) decrypts back to the input."""
    template = next(peer_venv.root.glob("lib/python*/site-packages/peppol_py/data/xmlsec/sendpeppol_encrypt_template.xml"))
    data = hashlib.sha256(b"seed").digest() * 100
    done = peer_venv.run_binary(
        ["xmlsec1", "--encrypt", "--pubkey-cert-pem", str(peer_pki.receiver_cert), "--session-key", "aes-128",
         "--binary-data", "/dev/stdin", "--lax-key-search", str(template)],
        input=data,
    )
    assert done.returncode == 0, done.stderr
    root = etree.fromstring(done.stdout, SAFE)
    key_value, data_value = [e.text for e in root.iter(f"{XENC}CipherValue")]
    receiver_key = serialization.load_pem_private_key(peer_pki.receiver_key.read_bytes(), None)
    session_key = receiver_key.decrypt(
        base64.b64decode(key_value),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    assert len(session_key) == 16
    octets = base64.b64decode(data_value)
    assert AESGCM(session_key).decrypt(octets[:12], octets[12:], None) == data

    wrong = peer_venv.run_binary(["xmlsec1", "--sign", str(template)])
    assert wrong.returncode == 1 and "unsupported" in wrong.stderr.decode()


# ---------------------------------------------------------------------------------- as4 <-> as4 etc.
def test_as4_package_exchanges_with_itself(peer_venv, peer_pki, tmp_path):
    payload = tmp_path / "invoice.xml"
    payload.write_bytes(invoice())
    store = tmp_path / "store"
    with start_peer(peer_venv, "as4_driver.py", *_as4_receiver_args(peer_pki, store)) as peer:
        result = peer_venv.run_json("as4_driver.py", *_as4_send_args(
            peer.url, peer_pki.sender_key, peer_pki.sender_cert, peer_pki.receiver_cert, payload, tmp_path / "out"
        ))
    assert result["receipt_verified"] is True, result
    assert result["state"] == "acknowledged"
    [record] = read_store(store)
    assert record["successful"] and record["message_id"] == result["message_id"]
    assert (record["sender"], record["recipient"]) == (SENDER_PID, RECEIVER_PID)
    assert f"CN={SENDER_SEAT}," in record["signer"]
    sbd = etree.fromstring((store / record["payload_file"]).read_bytes(), SAFE)
    assert etree.tostring(sbd[-1], method="c14n", exclusive=True) == etree.tostring(
        etree.fromstring(invoice(), SAFE), method="c14n", exclusive=True
    )


def test_as4_package_rejects_a_signer_outside_the_pki(peer_venv, peer_pki, tmp_path):
    """The harness can fail: a sender whose certificate chains to another PKI gets EBMS:0101 back,
    and the as4 sender reports that as a rejection, not a receipt."""
    import certs

    other = certs.TestPki.generate(tmp_path / "other-pki")
    key, cert = other.issue_ap(SENDER_SEAT).write(tmp_path, "stranger")
    payload = tmp_path / "invoice.xml"
    payload.write_bytes(invoice())
    store = tmp_path / "store"
    with start_peer(peer_venv, "as4_driver.py", *_as4_receiver_args(peer_pki, store)) as peer:
        result = peer_venv.run_json("as4_driver.py", *_as4_send_args(
            peer.url, key, cert, peer_pki.receiver_cert, payload, tmp_path / "out"
        ))
    assert result["receipt_verified"] is False
    assert result["state"] == "rejected"
    assert result["error"]["code"] == "EBMS:0101"
    [record] = read_store(store)
    assert not record["successful"] and "payload_file" not in record


def test_peppol_py_sends_to_as4_package(peer_venv, peer_pki, tmp_path):
    """peppol-py signs with its own hand-made SignedInfo and encrypts through the xmlsec1 stand-in;
    the as4 package decrypts and verifies all of it."""
    document = tmp_path / "invoice.xml"
    document.write_bytes(invoice(number="PP-1"))
    store = tmp_path / "store"
    with start_peer(peer_venv, "as4_driver.py", *_as4_receiver_args(peer_pki, store)) as peer:
        result = peer_venv.run_json(
            "peppol_py_driver.py", "send", "--url", peer.url, "--receiver-cert", str(peer_pki.receiver_cert),
            "--trust", str(peer_pki.trust), "--key", str(peer_pki.sender_key), "--cert", str(peer_pki.sender_cert),
            "--document", str(document), "--out", str(tmp_path / "out"),
        )
    assert result["sent"] is True, result
    assert result["http_status"] == 200
    assert result["stats"]["receiver_common_name"] == RECEIVER_SEAT
    [record] = read_store(store)
    assert record["successful"], record
    assert (record["sender"], record["recipient"]) == (SENDER_PID, RECEIVER_PID)
    sbd = etree.fromstring((store / record["payload_file"]).read_bytes(), SAFE)
    assert sbd[-1].findtext("{*}ID") == "PP-1"


def test_peppol_py_refuses_a_receiver_certificate_outside_the_pki(peer_venv, peer_pki, tmp_path):
    import certs

    other = certs.TestPki.generate(tmp_path / "other-pki")
    _, stranger_cert = other.issue_ap(RECEIVER_SEAT).write(tmp_path, "stranger")
    document = tmp_path / "invoice.xml"
    document.write_bytes(invoice())
    result = peer_venv.run_json(
        "peppol_py_driver.py", "send", "--url", "http://127.0.0.1:9/as4", "--receiver-cert", str(stranger_cert),
        "--trust", str(peer_pki.trust), "--key", str(peer_pki.sender_key), "--cert", str(peer_pki.sender_cert),
        "--document", str(document),
    )
    assert result["sent"] is False and result["error"]["type"] == "PathBuildingError"


# ------------------------------------------------------------------------- peppol-py SML/SMP lookup
def naptr_name(participant: str, zone: str) -> str:
    digest = hashlib.sha256(participant.lower().encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower() + ".iso6523-actorid-upis." + zone


@contextmanager
def static_dns(records: dict[str, str]) -> Iterator[tuple[str, int, list[str]]]:
    """A tiny authoritative server: NAPTR `U` `Meta:SMP` for the names given, NXDOMAIN otherwise."""
    asked: list[str] = []

    def answer(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        asked.append(name)
        if name in records and question.rdtype == dns.rdatatype.NAPTR:
            response.answer.append(dns.rrset.from_text(
                question.name, 60, dns.rdataclass.IN, dns.rdatatype.NAPTR,
                f'100 10 "U" "Meta:SMP" "!.*!{records[name]}!" .',
            ))
        elif name not in records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(data), self.client_address)

    server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def static_smp(participant: str, doctype: str, endpoint: str, cert_pem: bytes) -> Iterator[str]:
    """An SMP 1.x answering one participant and one document type (unsigned: peppol-py does not check)."""
    cert_b64 = b"".join(l for l in cert_pem.splitlines() if b"-----" not in l).decode()
    scheme_pid = f"iso6523-actorid-upis::{participant}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            path = unquote(self.path)
            if path == f"/{scheme_pid}":
                body = f"""<smp:ServiceGroup xmlns:smp="http://busdox.org/serviceMetadata/publishing/1.0/"
                    xmlns:id="http://busdox.org/transport/identifiers/1.0/">
                  <id:ParticipantIdentifier scheme="iso6523-actorid-upis">{participant}</id:ParticipantIdentifier>
                  <smp:ServiceMetadataReferenceCollection>
                    <smp:ServiceMetadataReference href="{base}/{quote(scheme_pid, safe="")}/services/{quote("busdox-docid-qns::" + doctype, safe="")}"/>
                  </smp:ServiceMetadataReferenceCollection></smp:ServiceGroup>"""
            elif path == f"/{scheme_pid}/services/busdox-docid-qns::{doctype}":
                body = f"""<smp:SignedServiceMetadata xmlns:smp="http://busdox.org/serviceMetadata/publishing/1.0/"
                    xmlns:wsa="http://www.w3.org/2005/08/addressing"><smp:ServiceMetadata><smp:ServiceInformation>
                  <smp:ProcessList><smp:Process><smp:ServiceEndpointList>
                    <smp:Endpoint transportProfile="peppol-transport-as4-v2_0">
                      <wsa:EndpointReference><wsa:Address>{endpoint}</wsa:Address></wsa:EndpointReference>
                      <smp:Certificate>{cert_b64}</smp:Certificate>
                    </smp:Endpoint></smp:ServiceEndpointList></smp:Process></smp:ProcessList>
                  </smp:ServiceInformation></smp:ServiceMetadata></smp:SignedServiceMetadata>"""
            else:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_peppol_py_lookup_follows_naptr_to_the_smp(peer_venv, peer_pki):
    doctype = INVOICE_DOCTYPE.removeprefix("busdox-docid-qns::")
    endpoint = "https://ap.example.test/as4"
    cert_pem = peer_pki.receiver_cert.read_bytes()
    with static_smp(RECEIVER_PID, doctype, endpoint, cert_pem) as smp_url:
        zone = "participant.sml.test.tech.peppol.org"
        with static_dns({naptr_name(RECEIVER_PID, zone): smp_url}) as (host, port, asked):
            found = peer_venv.run_json(
                "peppol_py_driver.py", "lookup", "--participant", f"iso6523-actorid-upis::{RECEIVER_PID}",
                "--doctype", INVOICE_DOCTYPE, "--dns", f"{host}:{port}",
            )
            missing = peer_venv.run_json(
                "peppol_py_driver.py", "lookup", "--participant", "0088:nobody",
                "--doctype", INVOICE_DOCTYPE, "--dns", f"{host}:{port}",
            )
    assert found["found"] is True, found
    assert found["smp_url"] == f"{smp_url}/iso6523-actorid-upis::{RECEIVER_PID}"
    assert found["endpoint_url"] == endpoint
    assert found["transport_profile"] == "peppol-transport-as4-v2_0"
    pem_body = lambda pem: b"".join(pem.split())  # noqa: E731
    assert pem_body(found["certificate"].encode()) == pem_body(cert_pem)
    assert naptr_name(RECEIVER_PID, zone) in asked  # it really asked our server, in its own zone
    assert missing["found"] is False
    assert missing["error"]["code"] == "dns-error" and missing["error"]["temporary"] is False


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_peppol_py_lookup_with_no_dns_server_answering(peer_venv):
    """A peer defect, recorded: peppol-py 1.2.5 means to report a DNS failure as a temporary
    'dns-error', but its handler names `dns.resolver.DNSException`, which dnspython 2.x does not
    have, so a timeout ends in AttributeError instead. (Our sml/ client separates the two cases.)"""
    result = peer_venv.run_json(
        "peppol_py_driver.py", "lookup", "--participant", RECEIVER_PID, "--doctype", INVOICE_DOCTYPE,
        "--dns", f"127.0.0.1:{_free_udp_port()}", "--timeout", "1",
    )
    assert result["found"] is False
    assert result["error"]["type"] == "AttributeError" and "DNSException" in result["error"]["message"]
