"""A large message through the node's /as4 endpoint: streamed into document_chunks, same answers as a small one.

Above 2 MB the business message goes from the decrypted payload to the database in chunks
(issue 14); what the endpoint answers, what it stores and how duplicates and bad input are
treated must not change. The memory figure itself is benchmarks/large_message.py's.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from lxml import etree
from starlette.testclient import TestClient

import as4
import certs
import ubl
from accesspoint.config import load_settings
from accesspoint.db.tables.documents import Document, DocumentChunk, InboundMessage, Transaction, document_content
from accesspoint.delivery.peppol import STREAM_FROM_BYTES
from accesspoint.node import Node
from accesspoint.web.app import create_app
from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, SELLER, add_organisation, invoice
from tests.accesspoint.test_web_as4 import signal

MB = 1024 * 1024


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    from accesspoint.init import init_node

    base = tmp_path_factory.mktemp("as4large")
    return init_node(base / "node", pki_dir=base / "pki", sml_local=False), base / "pki"


def large_sbd(number: str, receiver: str = BUYER_HERE, mb: int = 3) -> bytes:
    """An SBD whose invoice carries `mb` MB of base64 in a Note (like an embedded PDF)."""
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(receiver),
                        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                        country_c1="NL", payload=invoice(number, buyer=receiver), creation_time=datetime.now(UTC))
    note = b"<cbc:Note>" + base64.b64encode(os.urandom(mb * 3 * MB // 4)) + b"</cbc:Note>"
    return sbd.replace(b"</cbc:InvoiceTypeCode>", b"</cbc:InvoiceTypeCode>" + note, 1)


@pytest.fixture
def node(node_dir, database_url):
    directory, pki_dir = node_dir
    node = Node(load_settings(directory, environ={"PEPPOL_DATABASE_URL": database_url,
                                                  "PEPPOL_REVOCATION_ENABLED": "false"}))
    sender = certs.TestPki.load(pki_dir).issue_ap("PNL000007")
    with TestClient(create_app(node)) as client:
        add_organisation(node.sessions, "Buyer NV", BUYER_HERE)

        def post(sbd: bytes, message_id: str):  # noqa: ANN202
            msg = as4.build_user_message(sbd, key=sender.key, cert=sender.cert, receiver_cert=node.ap_keys.cert,
                                         at=datetime.now(UTC), message_id=message_id)
            return client.post("/as4", content=msg.body, headers=msg.headers)

        yield node, post
    node.engine.dispose()


def _counts(node: Node) -> tuple[int, int, int]:
    with node.sessions() as s:
        return tuple(s.scalar(sa.select(sa.func.count()).select_from(t)) for t in (Document, DocumentChunk, InboundMessage))


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, etree.XMLParser(huge_tree=True)), method="c14n")


@pytest.mark.db
def test_a_large_invoice_is_stored_in_chunks_and_reads_back_whole(node):
    node, post = node
    sbd = large_sbd("BIG-1")
    assert len(sbd) > STREAM_FROM_BYTES
    answer = post(sbd, "large-1@test")
    assert answer.status_code == 200 and signal(answer) == ("receipt", "")
    with node.sessions() as s:
        doc = s.scalars(sa.select(Document)).one()
        assert (doc.direction, doc.connection, doc.number, doc.issue_date) == ("in", "peppol_purchase", "BIG-1", "2026-11-20")
        assert doc.content == b""  # the bytes are in document_chunks
        chunks = s.scalars(sa.select(DocumentChunk.data).where(DocumentChunk.document_id == doc.id)
                           .order_by(DocumentChunk.seq)).all()
        assert len(chunks) >= 3 and max(len(c) for c in chunks) <= MB
        content = document_content(s, doc.id, doc.content)
        assert s.scalars(sa.select(Transaction.c4_country)).one() == "BE"
    # the same business message a small SBD would have stored (lxml's serialisation of it)
    assert _c14n(content) == _c14n(ubl.parse_sbd(sbd).payload)
    again = post(sbd, "large-1@test")
    assert signal(again) == ("receipt", "")
    same_envelope = post(sbd, "large-1-resealed@test")
    assert signal(same_envelope) == ("receipt", "")
    assert _counts(node) == (1, len(chunks), 2)  # stored once; both message ids answered


@pytest.mark.db
def test_large_messages_get_the_ebms_errors_small_ones_get(node):
    node, post = node
    refused = post(large_sbd("BIG-2", receiver=BUYER_NOWHERE), "large-2@test")
    assert signal(refused) == ("error", "EBMS:0004") and "PEPPOL:NOT_SERVICED" in refused.text
    broken_xml = large_sbd("BIG-3").replace(b"</Invoice>", b"</Invoic>")
    assert signal(post(broken_xml, "large-3@test")) == ("error", "EBMS:0004")
    bad_header = large_sbd("BIG-4").replace(b"<HeaderVersion>1.0<", b"<HeaderVersion>2.0<")
    assert signal(post(bad_header, "large-4@test")) == ("error", "EBMS:0004")
    assert _counts(node) == (0, 0, 0)
