"""Two complete nodes as `peppol-node init` makes them and `serve` runs them (HTTPS apps with their SMP,
AS4 endpoint and, on node A, the local SML): an invoice from A reaches B's buyer over the real path -
SML (DNS NAPTR) -> B's SMP -> AS4 to B's /as4 -> B's database - and the receipt comes back."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import sqlalchemy as sa

import smp
import ubl
from accesspoint.config import load_settings
from accesspoint.db.tables.documents import Document
from accesspoint.delivery import State
from accesspoint.delivery.service import DeliveryService
from accesspoint.node import Node
from accesspoint.web.app import create_app
from tests.accesspoint.helpers import BUYER_NOWHERE, BUYER_REMOTE, SELLER, add_organisation, invoice, start_smtp


def _free_base_port() -> int:
    """A port p with p, p+1 and p+2 free (HTTPS, the SML's SOAP API and its DNS)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 65000:
            continue
        try:
            for offset in (1, 2):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range")


class Served:
    def __init__(self, node: Node) -> None:
        import threading

        import uvicorn

        s = node.settings
        self.node = node
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(node), host="127.0.0.1", port=s.http.port, log_level="warning", lifespan="on",
            ssl_certfile=str(s.path(s.pki.tls_cert)), ssl_keyfile=str(s.path(s.pki.tls_key)),
            timeout_graceful_shutdown=2))
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("node did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.mark.slow
def test_invoice_from_node_a_reaches_node_b_over_sml_smp_and_as4(tmp_path):
    from accesspoint.init import init_node

    pki = tmp_path / "pki"
    controller, sink = start_smtp()
    port_a = _free_base_port()
    dir_a = init_node(tmp_path / "a", seat_id="PBE000001", port=port_a, pki_dir=pki, sml_local=True,
                      smtp_port=controller.port)
    port_b = _free_base_port()
    dir_b = init_node(tmp_path / "b", seat_id="PBE000002", port=port_b, pki_dir=pki, sml_local=False,
                      dns=f"127.0.0.1:{port_a + 2}", management_url=f"https://127.0.0.1:{port_a + 1}")
    # No background workers: the test drains A's outbox itself (the demo covers serve's own workers).
    no_workers = {**os.environ, "PEPPOL_DELIVERY_WORKERS": "0"}
    node_a, node_b = Node(load_settings(dir_a, no_workers)), Node(load_settings(dir_b, no_workers))
    served = [Served(node_a)]
    try:
        served.append(Served(node_b))
        add_organisation(node_a.sessions, "Seller BV", SELLER, receive=False)
        add_organisation(node_b.sessions, "Buyer NV", BUYER_REMOTE)
        buyer = ubl.ParticipantId.parse(BUYER_REMOTE)

        async def scenario() -> None:
            # B publishes its buyer in its SMP (which registers it at A's local SML).
            ca = str(node_b.settings.path("keys/tls-ca.cert.pem"))
            async with httpx2.AsyncClient(verify=ssl.create_default_context(cafile=ca), timeout=30) as http:
                base = f"https://127.0.0.1:{port_b}/smp"
                auth = {"Authorization": f"Bearer {node_b.settings.web.api_token}"}
                (await http.put(smp.service_group_url(base, buyer), headers=auth)).raise_for_status()
                now = datetime.now(UTC)
                endpoint = smp.Endpoint.with_certificate(
                    smp.TRANSPORT_AS4_V2, f"https://127.0.0.1:{port_b}/as4", node_b.ap_keys.cert,
                    activation=now - timedelta(days=1), expiration=now + timedelta(days=365))
                info = smp.ServiceInformation(buyer, ubl.BIS_BILLING_INVOICE, (
                    smp.ProcessMetadata(ubl.BIS_BILLING_PROCESS, (endpoint,)),))
                r = await http.put(smp.service_metadata_url(base, buyer, ubl.BIS_BILLING_INVOICE),
                                   content=smp.render_service_metadata(info), headers=auth)
                r.raise_for_status()
            service = DeliveryService.for_node(node_a)
            sub = service.outbox.submit(invoice("E2E-1", buyer=BUYER_REMOTE))
            pre = await service.outbox.preflight(invoice("E2E-1", buyer=BUYER_REMOTE))
            assert pre.channel == "peppol", pre.as_json()
            await service.worker().drain()
            entry = service.outbox.get(sub.entry.id)
            assert entry.state is State.DELIVERED, entry.as_json()
            assert entry.endpoint == f"https://127.0.0.1:{port_b}/as4"
            # A buyer on neither node nor Peppol: NXDOMAIN at the SML, so the email fallback.
            mailed = service.outbox.submit(invoice("E2E-2", buyer=BUYER_NOWHERE), email="ap@buyer.example")
            await service.worker().drain()
            entry = service.outbox.get(mailed.entry.id)
            assert entry.state is State.SENT and entry.channel == "email", entry.as_json()
            assert [m["To"] for m in sink.messages] == ["ap@buyer.example"]
            await service.aclose()

        asyncio.run(scenario())
        with node_b.sessions() as s:
            doc = s.scalars(sa.select(Document).where(Document.direction == "in")).one()
        assert doc.number == "E2E-1" and doc.connection == "peppol_purchase"
    finally:
        for srv in reversed(served):
            srv.stop()
        for node in (node_a, node_b):
            node.engine.dispose()
        controller.stop()
