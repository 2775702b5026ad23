"""The JSON twins of issue 12's outbox and inbox pages, over HTTP against a real node (uvicorn, one delivery
worker, aiosmtpd): preflight then send, lists with names, amounts and states in words, ?state=, the history,
resend from failed; the session `/api/...` twins and `/api/v1` with the node's token and a connection key."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.organisations import Organisation
from tests.accesspoint.helpers import BUYER_NOWHERE, invoice
from tests.web.test_api import signed_up
from tests.web.test_browser import activate
from tests.web.test_browser_needs_email import wait_state

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.delivering]

SELLER_ID = "0208:0123456749"
BUYER_ID = "0208:0314595348"


def bakkerij_invoice(number: str, buyer: str = BUYER_ID) -> str:
    return invoice(number, seller=SELLER_ID, buyer=buyer).replace(b"Buyer NV", b"Bakkerij Peeters NV").decode()


def connections(http: httpx2.Client, acc: dict, org: int) -> dict[str, int]:
    return {c["kind"]: c["connection_id"]
            for c in http.get(f"/api/organisations/{org}", headers=acc).json()["connections"]}


def test_openapi_declares_every_new_endpoint(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        paths = http.get("/openapi.json").json()["paths"]
    for path, method in (("/api/connections/{connection_id}/preflight", "post"),
                         ("/api/connections/{connection_id}/uploads/{upload_id}/send", "post"),
                         ("/api/shared-documents/{public_id}/resend", "post"),
                         ("/api/v1/received-documents", "get"),
                         ("/api/v1/documents/preflight", "post"),
                         ("/api/v1/documents/{id}/resend", "post")):
        assert method in paths[path], path
        assert paths[path][method]["summary"], path
    states = {p["name"]: p for p in paths["/api/connections/{connection_id}/documents"]["get"]["parameters"]}
    assert "state" in states


def test_preflight_send_lists_history_filter_resend_and_v1(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        acc = signed_up(server, http, "anna@boekhouder.test")
        seller = http.post("/api/organisations", json={"name": "Seller BV", "identifiers": [SELLER_ID]},
                           headers=acc).json()["id"]
        buyer = http.post("/api/organisations", json={"name": "Bakkerij Peeters NV", "identifiers": [BUYER_ID]},
                          headers=acc).json()["id"]
        for org in (seller, buyer):
            activate(server, org)
        with server.node.sessions.begin() as db:
            db.get(Organisation, buyer).peppol_receive = True
        sales, purchases = connections(http, acc, seller)["peppol_sales"], connections(http, acc, buyer)["peppol_purchase"]

        # Preflight: the route, in words, and nothing queued; then Send the kept upload.
        r = http.post(f"/api/connections/{sales}/preflight", headers=acc, json={"ubl": bakkerij_invoice("AP-1")})
        assert r.status_code == 200, r.text
        p = r.json()
        seat = server.node.settings.node.seat_id
        assert p["route"]["channel"] == "internal" and p["buyer"] == f"Bakkerij Peeters NV · {BUYER_ID}"
        assert p["text"] == f"This invoice will go to Bakkerij Peeters NV · {BUYER_ID} over Peppol (access point {seat}: this node)."
        assert (p["number"], p["payable_amount"], p["currency"]) == ("AP-1", "121.00", "EUR")
        assert http.get(f"/api/connections/{sales}/documents", headers=acc).json()["documents"] == []
        # Only its uploader can send it (another user has no access to the connection at all).
        other = signed_up(server, http, "piet@elders.test")
        assert http.post(f"/api/connections/{sales}/uploads/{p['upload_id']}/send", headers=other,
                         json={}).status_code == 403
        sent = http.post(f"/api/connections/{sales}/uploads/{p['upload_id']}/send", headers=acc, json={})
        assert sent.status_code == 201 and not sent.json()["duplicate"], sent.text
        again = http.post(f"/api/connections/{sales}/uploads/{p['upload_id']}/send", headers=acc, json={})
        assert again.status_code == 409 and again.json()["error"] == "invalid_transition"
        doc = sent.json()["document_id"]
        wait_state(server, "AP-1", "delivered")

        # The list: the other party by name and number, the amount, the state in words; ?state= filters.
        listed = http.get(f"/api/connections/{sales}/documents", headers=acc).json()
        [one] = listed["documents"]
        assert (one["counterparty"], one["buyer_name"], one["payable_amount"], one["currency"]) == (
            f"Bakkerij Peeters NV · {BUYER_ID}", "Bakkerij Peeters NV", "121.00", "EUR")
        assert (one["state"], one["state_text"]) == ("delivered", "Delivered over Peppol")
        assert listed["counts"] == {"delivered": 1}
        assert http.get(f"/api/connections/{sales}/documents?state=failed", headers=acc).json()["documents"] == []
        bad = http.get(f"/api/connections/{sales}/documents?state=received", headers=acc)
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_input"
        inbox = http.get(f"/api/connections/{purchases}/documents?state=received", headers=acc).json()["documents"]
        assert [(d["number"], d["counterparty"], d["state_text"]) for d in inbox] == [
            ("AP-1", f"Seller BV · {SELLER_ID}", "Received")]

        # The history, oldest first, in words.
        page = http.get(f"/api/shared-documents/{doc}", headers=acc).json()
        assert [s["text"] for s in page["history"]] == [
            "Created", "Delivered over Peppol (the buyer is on this access point)"]
        assert page["channel"] == "internal" and page["history"][1]["detail"] == f"internal delivery to {BUYER_ID}"

        # A buyer on no network, sent without an address: it waits, then fails 72 hours later.
        p = http.post(f"/api/connections/{sales}/preflight", headers=acc,
                      json={"ubl": bakkerij_invoice("AP-2", buyer=BUYER_NOWHERE)}).json()
        assert p["route"]["channel"] == "needs_email" and p["route"]["suggested_email"] == "ap@buyer.example"
        assert p["text"] == f"Bakkerij Peeters NV · {BUYER_NOWHERE} is not on Peppol: give an email address."
        failing = http.post(f"/api/connections/{sales}/uploads/{p['upload_id']}/send", headers=acc, json={}).json()
        wait_state(server, "AP-2", "needs_email")
        server.node.offset = timedelta(hours=73)
        entry_id = wait_state(server, "AP-2", "failed")
        acc = _log_in(http, "anna@boekhouder.test")  # 73 hours later: a new session
        failed = http.get(f"/api/shared-documents/{failing['document_id']}", headers=acc).json()
        assert failed["state_text"].startswith("Failed: the buyer is not on Peppol and no email address was given")
        assert failed["history"][-1]["text"] == "Failed: no email address was given in time"

        # /api/v1 (the node's token): entries with the summary and the state in words, the inbox list.
        op = {"Authorization": f"Bearer {server.node.settings.web.api_token}"}
        v1 = http.get("/api/v1/documents?state=failed", headers=op).json()["items"]
        assert [(e["id"], e["buyer_name"], e["payable_amount"], e["currency"]) for e in v1] == [
            (entry_id, "Bakkerij Peeters NV", "121.00", "EUR")]
        assert v1[0]["state_text"].startswith("Failed: the buyer is not on Peppol")
        received = http.get("/api/v1/received-documents?state=received", headers=op).json()["items"]
        assert [(d["number"], d["seller_name"], d["payable_amount"], d["state_text"]) for d in received] == [
            ("AP-1", "Seller BV", "121.00", "Received")]
        assert http.get("/api/v1/received-documents?state=paid", headers=op).json()["items"] == []
        assert http.get("/api/v1/received-documents?state=bogus", headers=op).status_code == 400
        pre = http.post("/api/v1/documents/preflight", headers=op | {"content-type": "application/xml"},
                        content=bakkerij_invoice("AP-9").encode())
        assert pre.json()["channel"] == "internal" and pre.json()["buyer_name"] == "Bakkerij Peeters NV"
        assert pre.json()["text"].startswith("This invoice will go to Bakkerij Peeters NV")
        # A connection key of the seller sees its own organisation's received documents only (none).
        key = {"Authorization": "Bearer " + http.post(f"/api/organisations/{seller}/keys", json={"name": "k"},
                                                      headers=acc).json()["key"]}
        assert http.get("/api/v1/received-documents", headers=key).json()["items"] == []
        assert http.get(f"/api/v1/received-documents?organisation_id={buyer}", headers=key).json()["items"] == []

        # Resend from failed (the session twin of /api/v1/documents/{id}/resend), by email this time.
        resend = f"/api/shared-documents/{failing['document_id']}/resend"
        assert http.post(resend, headers=acc, json={"email": "nope"}).status_code == 400
        assert http.post(resend, headers=acc, json={"receiver": "not an id"}).status_code == 400
        ok = http.post(resend, headers=acc, json={"email": "invoices@bakkerij.example",
                                                  "receiver": BUYER_NOWHERE})
        assert ok.status_code == 200, ok.text
        assert (ok.json()["state"], ok.json()["resends"], ok.json()["email"]) == ("created", 1,
                                                                                  "invoices@bakkerij.example")
        server.mail.wait_for("invoices@bakkerij.example", "AP-2", timeout=60)
        wait_state(server, "AP-2", "sent")
        assert http.post(resend, headers=acc, json={}).status_code == 409  # only a failed one
        after = http.get(f"/api/shared-documents/{failing['document_id']}", headers=acc).json()
        assert after["state_text"] == "Sent by email"
        assert [s["text"] for s in after["history"]][-2:] == ["Sent again (resend)", "Sent by email"]
        with server.node.sessions() as db:  # the same invoice, one outbox entry
            assert db.scalar(sa.text("SELECT count(*) FROM outbox_entries WHERE kind = 'document'")) == 2


def _log_in(http: httpx2.Client, email: str) -> dict[str, str]:
    """A new session (73 hours later the first one has ended)."""
    r = http.post("/api/session", json={"email": email, "password": "a long passphrase"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['session_token']}"}
