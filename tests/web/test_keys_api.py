"""Connection keys (E18) on the documents API of a real node: scoped to one organisation, dead once revoked."""

from __future__ import annotations

import uuid

import httpx2
import pytest

from accesspoint.db.tables.documents import Document, OutboxEntry

from .test_api import signed_up

pytestmark = [pytest.mark.db]


def outbox_entry(server, org_id: int, sender: str) -> str:
    """An outgoing entry of `org_id` as the outbox stores it (delivery's own tests cover submitting)."""
    now = server.node.now()
    with server.node.sessions.begin() as db:
        doc = Document(public_id=str(uuid.uuid4()), organisation_id=org_id, direction="out",
                       connection="peppol_sales", sender_id=sender, receiver_id="iso6523-actorid-upis::0208:0999999999",
                       document_type_id="busdox-docid-qns::x", process_id="cenbii-procid-ubl::y",
                       instance_identifier=str(uuid.uuid4()), number="INV-1", issue_date="2026-11-01",
                       country_c1="BE", duplicate_key=uuid.uuid4().hex, content=b"<Invoice/>", created_at=now)
        db.add(doc)
        db.flush()
        entry = OutboxEntry(public_id=str(uuid.uuid4()), document_id=doc.id, kind="document", state="created",
                            attempts=0, resends=0, created_at=now, updated_at=now)
        db.add(entry)
        return entry.public_id


def test_a_connection_key_reaches_its_organisation_only_until_revoked(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        for path in ("/api/organisations/{org_id}/keys", "/api/requests/{request_id}/keys",
                     "/api/keys/{key_id}/revoke"):
            assert path in spec["paths"], path
        owner = signed_up(server, http, "owner@bakkerij.test")
        other = signed_up(server, http, "owner@slagerij.test")
        # Lists are JSON lists even when empty.
        for path in ("/api/organisations", "/api/requests", "/api/shared-connections", "/api/request-keys"):
            assert http.get(path, headers=owner).json() == [], path
        org = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": ["0208:0123456749"]},
                        headers=owner).json()["id"]
        org_b = http.post("/api/organisations", json={"name": "Slagerij", "identifiers": ["0208:0987654394"]},
                          headers=other).json()["id"]
        mine = outbox_entry(server, org, "iso6523-actorid-upis::0208:0123456749")
        theirs = outbox_entry(server, org_b, "iso6523-actorid-upis::0208:0987654394")

        assert http.post(f"/api/organisations/{org}/keys", json={"name": "x"}, headers=other).status_code == 403
        r = http.post(f"/api/organisations/{org}/keys", json={"name": "Bookkeeping"}, headers=owner)
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        bearer = {"Authorization": f"Bearer {key}"}
        listed = http.get(f"/api/organisations/{org}/keys", headers=owner).json()
        assert [k["name"] for k in listed] == ["Bookkeeping"] and key not in r.text.replace(key, "", 1) + str(listed)

        r = http.get("/api/v1/documents", headers=bearer)
        assert r.status_code == 200 and [e["id"] for e in r.json()["items"]] == [mine]
        assert http.get(f"/api/v1/documents/{mine}", headers=bearer).status_code == 200
        for path in (f"/api/v1/documents/{theirs}", f"/api/v1/documents/{theirs}/receipt"):
            assert http.get(path, headers=bearer).status_code == 404  # as if it did not exist
        assert http.post(f"/api/v1/documents/{theirs}/resend", json={}, headers=bearer).status_code == 404
        # The node's own token still sees everything.
        node_token = {"Authorization": f"Bearer {server.node.settings.web.api_token}"}
        assert {e["id"] for e in http.get("/api/v1/documents", headers=node_token).json()["items"]} == {mine, theirs}
        # A key is not a session, and a session is not a key.
        assert http.get("/api/me", headers=bearer).status_code == 401
        assert http.get("/api/v1/documents", headers=owner).status_code == 401

        key_id = listed[0]["id"]
        assert http.post(f"/api/keys/{key_id}/revoke", headers=other).status_code == 403
        assert http.post(f"/api/keys/{key_id}/revoke", headers=owner).status_code == 200
        assert http.get("/api/v1/documents", headers=bearer).status_code == 401
        audit = http.get(f"/api/organisations/{org}/audit", headers=owner).json()
        assert {"key.issued", "key.revoked"} <= {e["action"] for e in audit}


def test_the_intermediarys_key_dies_when_the_client_revokes_the_authorisation(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        acc = signed_up(server, http, "anna@boekhouder.test")
        r = http.post("/api/requests/new", headers=acc, json={
            "client_name": "Bakkerij", "client_email": "jan@bakkerij.test", "client_identifier": "0208:0123456749",
            "costs_paid_by": "intermediary"})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert http.post(f"/api/requests/{rid}/keys", json={"name": "early"}, headers=acc).status_code == 409
        client = signed_up(server, http, "jan@bakkerij.test")
        r = http.post(f"/api/inbox/requests/{rid}/accept", json={}, headers=client)
        assert r.status_code == 200, r.text
        org = r.json()["organisation_id"]
        assert http.post(f"/api/requests/{rid}/keys", json={"name": "x"}, headers=client).status_code == 403
        r = http.post(f"/api/requests/{rid}/keys", json={"name": "Boekhouder software"}, headers=acc)
        assert r.status_code == 201 and r.json()["organisation_id"] == org
        bearer = {"Authorization": f"Bearer {r.json()['key']}"}
        mine = outbox_entry(server, org, "iso6523-actorid-upis::0208:0123456749")
        assert [e["id"] for e in http.get("/api/v1/documents", headers=bearer).json()["items"]] == [mine]
        assert [k["status"] for k in http.get("/api/request-keys", headers=acc).json()] == ["active"]
        assert http.post(f"/api/requests/{rid}/revoke", json={}, headers=client).status_code == 200
        assert http.get("/api/v1/documents", headers=bearer).status_code == 401
        assert [k["status"] for k in http.get("/api/request-keys", headers=acc).json()] == ["revoked"]
