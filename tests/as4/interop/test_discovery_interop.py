"""peppol-py's own SML/SMP client finds our node through our DNS server and our SMP (issue 4,
"Interoperability"), and then delivers to our AS4 receiver (issue 3): discovery end to end.

Our side: sml.DnsServer authoritative for peppol-py's own test zone
(participant.sml.test.tech.peppol.org) over a MemorySmlStore, smp.create_smp_app serving signed
ServiceMetadata with our AP certificate, and as4.create_app receiving. peppol-py changes nothing but
its resolver's address (tests/interop_peers/peppol_py_driver.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import as4
import certs
import sml
import smp
import ubl
from tests.interop_peers.fixtures import (
    BILLING_PROCESS,
    INVOICE_DOCTYPE,
    RECEIVER_PID,
    SENDER_SEAT,
    invoice,
    serve_asgi,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

SMP_ID = "SMP-LOCAL-1"


@contextmanager
def dns_server(zone: sml.Zone, store: sml.SmlStore) -> Iterator[sml.DnsServer]:
    """Our authoritative DNS server on its own event loop thread (it is asyncio-based)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = sml.DnsServer(zone, store)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextmanager
def our_network(peer_pki, tmp_path, *, register: bool = True):
    """Our AS4 receiver, our SMP announcing it, and our SML's DNS pointing at the SMP."""
    receiver = as4.Receiver(
        key=certs.load_private_key(peer_pki.receiver_key),
        cert=certs.load_certificate(peer_pki.receiver_cert),
        trust=peer_pki.pki.trust_store(),
        policy=as4.ReceiverPolicy(check_revocation=False),  # revocation over OCSP: test_as4_interop
    )
    store = as4.DirectoryStore(tmp_path / "inbox")
    participant = ubl.ParticipantId.parse(RECEIVER_PID)
    smp_identity = peer_pki.pki.issue_smp("PSM000001")
    with serve_asgi(as4.create_app(receiver, store)) as as4_base:
        smp_store = smp.InMemorySmpStore()
        smp_store.add_participant(participant)
        smp_store.put_service(
            participant,
            ubl.DocumentTypeId.parse(INVOICE_DOCTYPE),
            smp.render_service_metadata(smp.ServiceInformation(
                participant,
                ubl.DocumentTypeId.parse(INVOICE_DOCTYPE),
                (smp.ProcessMetadata(ubl.ProcessId.parse(BILLING_PROCESS), (
                    smp.Endpoint.with_certificate(
                        smp.TRANSPORT_AS4_V2, f"{as4_base}/as4", certs.load_certificate(peer_pki.receiver_cert)
                    ),
                )),),
            )),
        )
        config = smp.SmpServerConfig(signing_key=smp_identity.key, signing_certificate=smp_identity.cert)
        with serve_asgi(smp.create_smp_app(smp_store, config)) as smp_base:
            sml_store = sml.MemorySmlStore()
            sml_store.save_smp(sml.SmpRecord(SMP_ID, smp_base, "127.0.0.1", "test"), create=True)
            if register:
                sml_store.save_participant(
                    sml.ParticipantRecord(str(participant), SMP_ID, sml.dns_label(participant)), create=True
                )
            with dns_server(sml.Zone.TEST, sml_store) as dns:
                yield {"dns": dns.address, "smp": smp_base, "as4": f"{as4_base}/as4", "inbox": store}


def test_peppol_py_lookup_finds_our_endpoint_through_our_sml_and_smp(peer_venv, peer_pki, tmp_path):
    with our_network(peer_pki, tmp_path) as net:
        found = peer_venv.run_json(
            "peppol_py_driver.py", "lookup", "--participant", RECEIVER_PID, "--doctype", INVOICE_DOCTYPE,
            "--dns", net["dns"],
        )
    assert found["found"] is True, found
    assert found["smp_url"] == f"{net['smp']}/iso6523-actorid-upis::{RECEIVER_PID}"
    assert found["transport_profile"] == smp.TRANSPORT_AS4_V2
    assert found["endpoint_url"] == net["as4"]
    assert certs.load_certificate(found["certificate"].encode()) == certs.load_certificate(peer_pki.receiver_cert)


def test_peppol_py_lookup_of_an_unregistered_participant_is_a_permanent_miss(peer_venv, peer_pki, tmp_path):
    with our_network(peer_pki, tmp_path, register=False) as net:
        missing = peer_venv.run_json(
            "peppol_py_driver.py", "lookup", "--participant", RECEIVER_PID, "--doctype", INVOICE_DOCTYPE,
            "--dns", net["dns"],
        )
    assert missing["found"] is False
    assert missing["error"]["code"] == "dns-error" and missing["error"]["temporary"] is False  # our NXDOMAIN


def test_peppol_py_discovers_and_delivers_to_our_node(peer_venv, peer_pki, tmp_path):
    """No address given to peppol-py but our DNS server's: NAPTR -> our SMP -> our AS4 endpoint."""
    document = tmp_path / "invoice.xml"
    document.write_bytes(invoice(number="DISCOVERED-1"))
    with our_network(peer_pki, tmp_path) as net:
        result = peer_venv.run_json(
            "peppol_py_driver.py", "send", "--dns", net["dns"], "--trust", str(peer_pki.trust),
            "--key", str(peer_pki.sender_key), "--cert", str(peer_pki.sender_cert), "--document", str(document),
            "--out", str(tmp_path / "peer"),
        )
        folders = net["inbox"].messages()
    assert result["sent"] is True, result
    assert result["stats"]["transport_profile"] == smp.TRANSPORT_AS4_V2
    [folder] = folders
    meta = json.loads((folder / "message.json").read_text())
    assert meta["signer_seat_id"] == SENDER_SEAT
    assert b"DISCOVERED-1" in (folder / "sbd.xml").read_bytes()
