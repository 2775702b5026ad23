"""The node's own AS4 endpoint (/as4 in the node's app): receipts, NOT_SERVICED, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import as4
import certs
import ubl
from accesspoint.config import load_settings
from accesspoint.db.tables.documents import Document
from accesspoint.node import Node
from accesspoint.web.app import create_app
from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, SELLER, add_organisation, invoice


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    from accesspoint.init import init_node

    base = tmp_path_factory.mktemp("as4node")
    return init_node(base / "node", pki_dir=base / "pki", sml_local=False), base / "pki"


def sealed(node: Node, sender: certs.Issued, receiver: str, message_id: str) -> as4.OutboundMessage:
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(receiver),
                        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                        country_c1="NL", payload=invoice("W-1", buyer=receiver), creation_time=datetime.now(UTC))
    return as4.build_user_message(sbd, key=sender.key, cert=sender.cert, receiver_cert=node.ap_keys.cert,
                                  at=datetime.now(UTC), message_id=message_id)


def signal(response) -> tuple[str, str]:  # noqa: ANN001
    """(kind, code) of the signal in an AS4 HTTP answer: ("receipt", "") or ("error", "EBMS:....")."""
    text = response.content.decode("utf-8", "replace")
    if "eb:Receipt" in text or ":Receipt>" in text or "<Receipt" in text:
        return "receipt", ""
    import re

    m = re.search(r'errorCode="([^"]+)"', text)
    return "error", m.group(1) if m else "?"


@pytest.mark.db
def test_the_node_answers_as4_with_receipts_and_not_serviced(node_dir, database_url):
    directory, pki_dir = node_dir
    node = Node(load_settings(directory, environ={"PEPPOL_DATABASE_URL": database_url,
                                                  "PEPPOL_REVOCATION_ENABLED": "false"}))
    sender = certs.TestPki.load(pki_dir).issue_ap("PNL000007")
    with TestClient(create_app(node)) as c:
        add_organisation(node.sessions, "Buyer NV", BUYER_HERE)
        msg = sealed(node, sender, BUYER_HERE, "web-1@test")
        first = c.post("/as4", content=msg.body, headers=msg.headers)
        assert first.status_code == 200 and signal(first) == ("receipt", "")
        again = c.post("/as4", content=msg.body, headers=msg.headers)
        assert signal(again) == ("receipt", "")
        other = sealed(node, sender, BUYER_NOWHERE, "web-2@test")
        refused = c.post("/as4", content=other.body, headers=other.headers)
        assert signal(refused) == ("error", "EBMS:0004") and "PEPPOL:NOT_SERVICED" in refused.text
    with node.sessions() as s:
        docs = s.scalars(sa.select(Document)).all()
    assert [(d.direction, d.connection, d.number) for d in docs] == [("in", "peppol_purchase", "W-1")]
    node.engine.dispose()
