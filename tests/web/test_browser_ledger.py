"""W4 who pays, as people see it: the accountant's *Paid by* view and the client's own transactions,
against a real node (uvicorn, delivery worker, aiosmtpd) in Chromium at phone and desktop widths."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx2
import pytest
import sqlalchemy as sa

import ubl
from accesspoint.db.tables.documents import Document, OutboxEntry
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.db.tables.organisations import Organisation
from accesspoint.delivery import Inbox
from tests.accesspoint.helpers import invoice
from tests.web.browsing import expect, follow
from tests.web.test_api import signed_up
from tests.web.test_browser import PHONE, activate, add_organisation, sign_up_verified
from tests.web.test_browser_takeover import send_request

pytestmark = [pytest.mark.db, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 900}
CLIENT_ID = "0208:0123456749"
BUYER_ID = "0088:5790000436057"


def receive(server, number: str, receiver: str = CLIENT_ID) -> None:
    """An invoice arriving over AS4 for `receiver`, stored as the AS4 endpoint stores it."""
    sbd = ubl.parse_sbd(ubl.build_sbd(
        sender=ubl.ParticipantId.parse("0088:5790000435951"), receiver=ubl.ParticipantId.parse(receiver),
        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS, country_c1="NL",
        payload=invoice(number, buyer=receiver), creation_time=datetime(2026, 11, 20, tzinfo=UTC)))
    inbox = Inbox(server.node.sessions, clock=server.node.now, seat_id=server.node.settings.node.seat_id)
    assert not inbox.accept(sbd, as4_message_id=f"{uuid.uuid4()}@test", sender_seat_id="POP000001").duplicate


def switch_receiving_on(server, *org_ids: int) -> None:
    """Approve each organisation that is not active yet (W1.3: only an active one receives) and switch receiving on."""
    for org_id in org_ids:
        with server.node.sessions() as db:
            active = db.get(Organisation, org_id).status == "active"
        if not active:
            activate(server, org_id)
    with server.node.sessions.begin() as db:
        for org_id in org_ids:
            db.get(Organisation, org_id).peppol_receive = True


def wait_ledger(server, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        with server.node.sessions() as db:
            n = db.scalar(sa.select(sa.func.count()).select_from(LedgerEntry))
        if n >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} ledger rows, never {count}")


@pytest.mark.delivering
def test_paid_by_view_and_the_clients_transactions_follow_the_payer(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Bakkerij Peeters NV", CLIENT_ID)
    a.goto(server.base_url + "/orgs/new")
    a.fill("input[name=name]", "Boekhouder & Co BV")
    a.fill("textarea[name=identifiers]", BUYER_ID)
    a.check("input[name=held_for][value=own]")
    follow(a, "main button[type=submit]")
    ours = int(a.url.rstrip("/").rsplit("/", 1)[1])
    switch_receiving_on(server, org, ours)
    send_request(a, server, "Bakkerij Peeters NV", "jan@example.test", CLIENT_ID)  # costs: the intermediary

    cli = browser.new_context(viewport=PHONE)
    c = cli.new_page()
    sign_up_verified(c, server, "jan@example.test", "Jan", "")
    c.goto(server.base_url + "/inbox/requests")
    follow(c, ".request[data-status=pending] h2 a")
    c.check("#accept-form input[name=confirm_requester]")
    follow(c, "#accept-form button[type=submit]")
    expect(c.locator(".flash")).to_contain_text("is now authorised")

    # While the mandate holds, the firm pays: one invoice received, one sent (delivered on this node
    # to the firm's own organisation, which receives it: charged to the firm as its own).
    receive(server, "IN-1")
    c.goto(f"{server.base_url}/orgs/{org}")
    follow(c, "tr[data-kind=peppol_sales] th a")
    c.set_input_files("input[name=document]", files=[{
        "name": "invoice.xml", "mimeType": "application/xml", "buffer": invoice("OUT-1", seller=CLIENT_ID,
                                                                                buyer=BUYER_ID)}])
    follow(c, "#upload-form button:has-text('Upload')")
    follow(c, "#send-form button:has-text('Send')")  # after the preflight (W8.2)
    wait_ledger(server, 3)

    a.goto(server.base_url + "/clients")
    follow(a, "#paid-by-link a")
    month = server.node.now().strftime("%Y-%m")
    card = a.locator(f".paid-month[data-month='{month}']")
    client_row = card.locator(f"tr[data-org='{org}']")
    expect(client_row.locator("[data-count=sent]")).to_have_text("1")
    expect(client_row.locator("[data-count=received]")).to_have_text("1")
    expect(client_row).to_have_attribute("data-relation", "client")
    own_row = card.locator(f"tr[data-org='{ours}']")
    expect(own_row).to_have_attribute("data-relation", "ours")
    expect(own_row.locator("[data-count=received]")).to_have_text("1")
    expect(card.locator("h2 .tag")).to_have_text("1 sent · 2 received")
    shot(a, "w4-01-paid-by-desktop")
    a.set_viewport_size(PHONE)
    shot(a, "w4-02-paid-by-phone")
    a.fill("#month-filter input[name=month]", "2001-01")
    follow(a, "#month-filter button")
    expect(a.locator("#nothing-paid")).to_contain_text("2001-01")

    # The client's own view: who pays now and for each document.
    c.goto(f"{server.base_url}/orgs/{org}")
    follow(c, "#org-billing a")
    expect(c.locator("#payer-now")).to_have_attribute("data-payer", "intermediary")
    expect(c.locator("#payer-now")).to_contain_text("Boekhouder & Co pays")
    expect(c.locator("#transactions li")).to_have_count(2)
    expect(c.locator("#transactions li[data-payer=intermediary]")).to_have_count(2)
    shot(c, "w4-03-client-transactions-phone")

    # Revoked: the client pays from then on; what the firm paid for stays the firm's.
    c.goto(server.base_url + "/inbox/requests")
    follow(c, ".request[data-status=accepted] h2 a")
    follow(c, "button:has-text('Revoke authorisation')")
    receive(server, "IN-2")
    c.goto(f"{server.base_url}/orgs/{org}/transactions")
    expect(c.locator("#payer-now")).to_have_attribute("data-payer", "own")
    expect(c.locator("#transactions li")).to_have_count(3)
    first = c.locator("#transactions li").first
    expect(first).to_have_attribute("data-payer", "own")
    expect(first.locator(".paid-by")).to_contain_text("paid by Jan")
    expect(c.locator("#transactions li[data-payer=intermediary]")).to_have_count(2)
    c.set_viewport_size(DESKTOP)
    shot(c, "w4-04-client-transactions-after-revoke-desktop")
    a.set_viewport_size(DESKTOP)
    a.goto(server.base_url + "/paid-by")
    expect(a.locator(f".paid-month[data-month='{month}'] tr[data-org='{org}'] [data-count=received]")).to_have_text("1")
    with server.node.sessions() as db:
        assert db.scalar(sa.select(OutboxEntry.state).join(Document).where(Document.number == "OUT-1")) == "delivered"
    acc.close()
    cli.close()


def test_api_paid_by_and_transactions(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        assert spec["paths"]["/api/paid-by"]["get"]["summary"].startswith("What my environment pays for")
        assert "get" in spec["paths"]["/api/organisations/{org_id}/transactions"]
        anna = signed_up(server, http, "anna@boekhouder.test")
        r = http.post("/api/organisations", json={"name": "Bakkerij Peeters NV", "identifiers": [CLIENT_ID]},
                      headers=anna)
        org = r.json()["id"]
        switch_receiving_on(server, org)
        r = http.post("/api/requests/new", headers=anna, json={
            "client_name": "Bakkerij Peeters NV", "client_email": "jan@example.test",
            "client_identifier": CLIENT_ID, "costs_paid_by": "intermediary"})
        rid = r.json()["id"]
        jan = signed_up(server, http, "jan@example.test")
        receive(server, "IN-1")  # before the mandate: the firm's own organisation still, so the firm pays
        assert http.post(f"/api/inbox/requests/{rid}/accept", headers=jan,
                         json={"confirm_requester": True}).status_code == 200
        receive(server, "IN-2")
        month = server.node.now().strftime("%Y-%m")
        paid = http.get("/api/paid-by", headers=anna).json()
        assert paid == [{"month": month, "sent": 0, "received": 2, "organisations": [
            {"organisation_id": org, "name": "Bakkerij Peeters NV", "relation": "client", "sent": 0, "received": 2}]}]
        assert http.get("/api/paid-by", params={"month": "2001-01"}, headers=anna).json() == []
        assert http.get("/api/paid-by", params={"month": "January"}, headers=anna).status_code == 400
        assert http.get("/api/paid-by", headers=jan).json() == []
        mine = http.get(f"/api/organisations/{org}/transactions", headers=jan).json()
        assert mine["payer"] == "intermediary" and mine["paid_by"] == "anna@boekhouder.test"
        assert [(t["direction"], t["number"], t["payer"]) for t in mine["transactions"]] == [
            ("received", "IN-2", "intermediary"), ("received", "IN-1", "own")]
        assert mine["months"] == [{"month": month, "sent": 0, "received": 2, "paid_by": ["anna@boekhouder.test"]}]
        # SEC-12: someone without a membership sees nothing of it.
        eve = signed_up(server, http, "eve@elsewhere.test")
        assert http.get(f"/api/organisations/{org}/transactions", headers=eve).status_code == 403
        assert http.get("/api/paid-by", headers=eve).json() == []
