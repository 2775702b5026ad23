"""The documents JSON API and /metrics through the node's real ASGI app."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from accesspoint.config import load_settings
from accesspoint.node import Node
from accesspoint.web.app import create_app
from accesspoint.web.api_documents import delivery_of
from tests.accesspoint.helpers import ThreadedDns, BUYER_HERE, BUYER_NOWHERE, SELLER, add_organisation, invoice

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def dns():
    """The node's SML zone served locally with nobody in it: lookups are a definite "not on Peppol"."""
    server = ThreadedDns("local.peppol.test")
    yield server.server.address
    server.stop()


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory):
    """A complete node directory (keys, config) as `peppol-node init` makes it; each test brings its database."""
    from accesspoint.init import init_node

    base = tmp_path_factory.mktemp("apinode")
    return init_node(base / "node", pki_dir=base / "pki", sml_local=False)


def open_node(node_dir, database_url, dns, **extra):
    # No background workers: these tests drain the outbox themselves, at the moment they choose.
    environ = {"PEPPOL_DATABASE_URL": database_url, "PEPPOL_WEB_API_TOKEN": TOKEN,
               "PEPPOL_REVOCATION_ENABLED": "false", "PEPPOL_SML_DNS": dns, "PEPPOL_DELIVERY_WORKERS": "0",
               **extra}
    return load_settings(node_dir, environ=environ)


@pytest.fixture
def client(database_url, node_dir, dns):
    node = Node(open_node(node_dir, database_url, dns))
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


@pytest.mark.db
def test_email_link_get_is_safe_post_marks_opened(database_url, node_dir, dns):
    from accesspoint.config import SmtpSettings
    from accesspoint.mail import SmtpMailer
    from tests.accesspoint.helpers import start_smtp

    controller, sink = start_smtp()
    settings = open_node(node_dir, database_url, dns, PEPPOL_WEB_BASE_URL="https://node.example")
    node = Node(settings, mailer=SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port)))
    try:
        with TestClient(create_app(node)) as c:
            add_organisation(node.sessions, "Seller BV", SELLER, receive=False)
            c.headers["Authorization"] = f"Bearer {TOKEN}"
            entry = c.post("/api/v1/documents?email=ap%40buyer.example",
                           content=invoice("LINK-1", buyer=BUYER_NOWHERE)).json()
            asyncio.run(delivery_of(node).worker().drain())
            assert c.get(f"/api/v1/documents/{entry['id']}").json()["state"] == "sent"
            (mail,) = sink.messages
            attached = {p.get_content_type(): p.get_payload(decode=True) for p in mail.walk() if p.get_filename()}
            assert attached["application/pdf"].startswith(b"%PDF-")  # rendered by ubl from the invoice
            assert b"LINK-1" in attached["application/xml"]
            body = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
            path = "/d/" + body.decode().split("https://node.example/d/")[1].split()[0]
            page = c.get(path)
            assert page.status_code == 200 and "<form method=\"post\"" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"
            assert c.get(f"/api/v1/documents/{entry['id']}").json()["state"] == "sent"  # a GET is not a person
            opened = c.post(path)
            assert opened.status_code == 200 and b"LINK-1" in opened.content
            assert c.get(f"/api/v1/documents/{entry['id']}").json()["state"] == "opened"
            assert c.post("/d/not-a-token").status_code == 404
    finally:
        controller.stop()
        node.engine.dispose()
