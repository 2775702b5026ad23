"""pytest fixtures for tests that drive the independent peers (import them into a conftest.py).

    from tests.interop_peers.fixtures import peer_venv, peer_pki  # noqa: F401

`peer_venv` builds (once per machine, cached) and returns the peers' venv; `peer_pki` is a test PKI
from `certs.TestPki` with two access points and every key and certificate written as PEM, since the
peers read files. `start_peer` runs a long-lived driver (a receiver) and always stops it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop_peers.venv import PeerVenv, PeerVenvError, ensure_peer_venv

SENDER_SEAT = "POP000001"
RECEIVER_SEAT = "POP000002"
SENDER_PID = "0088:5790000435951"
RECEIVER_PID = "0088:123abc"
INVOICE_DOCTYPE = (
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
    "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"
)
BILLING_PROCESS = "cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


@dataclass(frozen=True)
class PeerPki:
    """Paths of PEM files, as the peers (and our CLI) take them."""

    directory: Path
    pki: object  # certs.TestPki
    sender_key: Path
    sender_cert: Path
    receiver_key: Path
    receiver_cert: Path
    root: Path  # the root alone (a trust anchor)
    ap_ca: Path  # the AP intermediate alone
    trust: Path  # root + AP CA + SMP CA in one file
    tls_ca: Path
    tls_key: Path
    tls_cert: Path


@pytest.fixture(scope="session")
def peer_venv() -> PeerVenv:
    try:
        return ensure_peer_venv()
    except PeerVenvError as exc:  # no PyPI, or a pin gone: a real failure, never a silent skip
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def peer_pki(tmp_path_factory: pytest.TempPathFactory) -> PeerPki:
    import certs

    directory = tmp_path_factory.mktemp("peer-pki")
    pki = certs.TestPki.generate(directory)
    sender_key, sender_cert = pki.issue_ap(SENDER_SEAT).write(directory, "sender")
    receiver_key, receiver_cert = pki.issue_ap(RECEIVER_SEAT).write(directory, "receiver")
    tls_key, tls_cert = pki.issue_tls("localhost", "127.0.0.1").write(directory, "tls")
    trust = directory / "trust.pem"
    trust.write_bytes(pki.trust_pem())
    return PeerPki(
        directory=directory,
        pki=pki,
        sender_key=sender_key,
        sender_cert=sender_cert,
        receiver_key=receiver_key,
        receiver_cert=receiver_cert,
        root=directory / "root.cert.pem",
        ap_ca=directory / "ap-ca.cert.pem",
        trust=trust,
        tls_ca=directory / "tls-ca.cert.pem",
        tls_key=tls_key,
        tls_cert=tls_cert,
    )


def invoice(supplier: str = SENDER_PID, customer: str = RECEIVER_PID, number: str = "INV-1") -> bytes:
    """A small Peppol BIS Billing 3.0 invoice: the fields peppol-py reads to address and type it."""
    s_scheme, s_id = supplier.split(":", 1)
    c_scheme, c_id = customer.split(":", 1)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
         xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
         xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>2026-11-22</cbc:IssueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party>
    <cbc:EndpointID schemeID="{s_scheme}">{s_id}</cbc:EndpointID>
    <cac:PostalAddress><cac:Country><cbc:IdentificationCode>BE</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
  </cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party>
    <cbc:EndpointID schemeID="{c_scheme}">{c_id}</cbc:EndpointID>
  </cac:Party></cac:AccountingCustomerParty>
  <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">100.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>
""".encode()


@dataclass
class RunningPeer:
    process: subprocess.Popen
    hello: dict
    stderr: list[str]

    @property
    def url(self) -> str:
        return self.hello["url"]


@contextmanager
def start_peer(venv: PeerVenv, driver: str, *args: str, startup_timeout: float = 60) -> Iterator[RunningPeer]:
    """Run a serving driver; it prints {"url": ...} when ready and stops when its stdin closes."""
    process = subprocess.Popen(
        venv.command(driver, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=venv.env(), cwd=venv.root,
    )
    stderr: list[str] = []
    threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True).start()
    hello: dict = {}
    reader = threading.Thread(target=lambda: hello.update(json.loads(process.stdout.readline() or "{}")), daemon=True)
    reader.start()
    reader.join(startup_timeout)
    try:
        if "url" not in hello:
            raise RuntimeError(f"{driver} did not start: {''.join(stderr)[-3000:]}")
        yield RunningPeer(process, hello, stderr)
    finally:
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def read_store(store: Path) -> list[dict]:
    """The as4 peer receiver's records, oldest first."""
    return [json.loads(p.read_text()) for p in sorted(store.glob("[0-9][0-9][0-9][0-9].json"))]


@contextmanager
def serve_asgi(app, *, tls_cert: Path | None = None, tls_key: Path | None = None) -> Iterator[str]:
    """Serve an ASGI app (ours) with uvicorn in a thread on 127.0.0.1:<ephemeral>; yields its base URL.

    With TLS the URL names `localhost`, the name our test TLS certificate carries.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **tls))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the ASGI server did not start")
            time.sleep(0.02)
        yield f"https://localhost:{port}" if tls_cert else f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
