"""A large received document (its bytes in document_chunks, issue 14) reads back whole over HTTP:
the UBL download of the documents API and the organisation export, on a real node."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

import httpx2
import pytest
import sqlalchemy as sa
from lxml import etree

import as4
import ubl
from accesspoint.db.tables.documents import Document, DocumentChunk
from accesspoint.db.tables.organisations import Organisation
from accesspoint.delivery.inbox import Inbox
from accesspoint.delivery.peppol import _split
from tests.accesspoint.test_large_inbound import large_sbd

from .test_api import signed_up

pytestmark = [pytest.mark.db]
BUYER = "0208:0123456749"


def _c14n(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, etree.XMLParser(huge_tree=True)), method="c14n")


def test_a_chunked_document_downloads_and_exports_whole(server):
    with httpx2.Client(base_url=server.base_url, timeout=60) as http:
        owner = signed_up(server, http, "owner@bakkerij.test")
        org = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": [BUYER]}, headers=owner).json()["id"]
        with server.node.sessions.begin() as db:
            db.execute(sa.update(Organisation).where(Organisation.id == org).values(peppol_receive=True, status="active"))  # approved (W1.3)
        sbd = large_sbd("BIG-WEB", receiver=BUYER)
        envelope, streamed = _split(as4.Blob.from_bytes(sbd))
        assert streamed is not None  # the streaming path, as the AS4 endpoint takes it
        inbox = Inbox(server.node.sessions, clock=lambda: datetime.now(UTC), seat_id="PXX000002")
        accepted = inbox.accept(envelope, as4_message_id="big-web@test", sender_seat_id="PNL000007", streamed=streamed)
        with server.node.sessions() as db:
            doc = db.scalars(sa.select(Document)).one()
            assert doc.content == b"" and db.scalar(sa.select(sa.func.count()).select_from(DocumentChunk)) >= 3
        expected = _c14n(ubl.parse_sbd(sbd).payload)

        r = http.get(f"/api/shared-documents/{accepted.document_id}/ubl", headers=owner)
        assert r.status_code == 200, r.text
        assert _c14n(r.content) == expected

        r = http.get(f"/api/organisations/{org}/export", headers=owner)
        assert r.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        (name,) = archive.namelist()
        assert name.startswith("received/BIG-WEB-") and _c14n(archive.read(name)) == expected
