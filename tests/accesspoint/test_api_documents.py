"""The documents JSON API and /metrics through the node's real ASGI app."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from accesspoint.config import DatabaseSettings, PkiSettings, RevocationSettings, Settings, WebSettings
from accesspoint.node import Node
from accesspoint.web.app import create_app
from accesspoint.web.api_documents import delivery_of
from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, SELLER, add_organisation, invoice

TOKEN = "s3cret-token"


@pytest.fixture
def client(database_url, tmp_path):
    settings = Settings(directory=tmp_path, database=DatabaseSettings(url=database_url),
                        pki=PkiSettings(trust="test"), revocation=RevocationSettings(enabled=False),
                        web=WebSettings(api_token=TOKEN, secret_key="k" * 32))
    node = Node(settings)
    with TestClient(create_app(node)) as c:
        add_organisation(node.sessions, "Seller BV", SELLER, receive=False)
        add_organisation(node.sessions, "Buyer NV", BUYER_HERE)
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield node, c
    node.engine.dispose()


@pytest.mark.db
def test_submit_track_and_measure(client):
    node, c = client
    r = c.post("/api/v1/documents", content=invoice("API-1"), headers={"content-type": "application/xml"})
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["state"] == "created" and not entry["duplicate"]
    again = c.post("/api/v1/documents", content=invoice("API-1"))
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == entry["id"]
    asyncio.run(delivery_of(node).worker().drain())
    got = c.get(f"/api/v1/documents/{entry['id']}").json()
    assert got["state"] == "delivered" and got["channel"] == "internal"
    assert [e["to"] for e in got["events"]] == ["created", "delivered"]
    assert c.get(f"/api/v1/documents/{entry['id']}/receipt").status_code == 200
    assert [i["id"] for i in c.get("/api/v1/documents?state=delivered").json()["items"]] == [entry["id"]]
    metrics = c.get("/metrics").text
    assert 'peppol_messages_out{state="delivered"} 1' in metrics
    assert 'peppol_messages_in{state="received"} 1' in metrics
    assert "peppol_queue_depth 0" in metrics
    assert 'peppol_delivery_latency_seconds_count{channel="internal"} 1' in metrics


@pytest.mark.db
def test_needs_email_flow_and_errors(client):
    node, c = client
    pre = c.post("/api/v1/documents/preflight", content=invoice("API-2", buyer=BUYER_NOWHERE)).json()
    assert pre["channel"] == "needs_email" and pre["suggested_email"] == "ap@buyer.example"
    entry = c.post("/api/v1/documents", content=invoice("API-2", buyer=BUYER_NOWHERE)).json()
    asyncio.run(delivery_of(node).worker().drain())
    assert c.get(f"/api/v1/documents/{entry['id']}").json()["state"] == "needs_email"
    assert c.post(f"/api/v1/documents/{entry['id']}/email", json={"email": "nope"}).json()["error"] == "bad-email"
    r = c.post(f"/api/v1/documents/{entry['id']}/email", json={"email": "ap@buyer.example"})
    assert r.status_code == 200 and r.json()["state"] == "created"
    assert c.post(f"/api/v1/documents/{entry['id']}/resend").status_code == 409
    assert c.get("/api/v1/documents/nope").status_code == 404
    bad = c.post("/api/v1/documents", content=b"<x/>")
    assert bad.status_code == 422 and bad.json()["error"] == "not-ubl"
    assert c.get("/api/v1/documents", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_the_api_is_in_the_openapi_document(client):
    node, c = client
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/api/v1/documents", "/api/v1/documents/preflight", "/api/v1/documents/{id}/email"} <= set(paths)
