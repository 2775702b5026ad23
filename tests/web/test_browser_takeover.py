"""W3.3 in the Doccle order: the accountant registers the client's organisation first, then asks the
mandate; the client takes the organisation over (becomes its admin) when accepting the request."""

from __future__ import annotations

import json

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.sharing import AuditEvent
from tests.web.browsing import expect, follow
from tests.web.test_api import signed_up
from tests.web.test_browser import DESKTOP, PHONE, add_organisation, sign_up_verified

pytestmark = [pytest.mark.db, pytest.mark.slow]

CLIENT_ID = "0208:0123456749"


def send_request(page, server, name: str, email: str, identifier: str) -> None:
    page.goto(server.base_url + "/requests/new")
    page.fill("input[name=client_name]", name)
    page.fill("input[name=client_email]", email)
    page.fill("input[name=client_identifier]", identifier)
    page.check("input[value=intermediary]")
    follow(page, "main button[type=submit]")
    expect(page.locator(".request[data-status=pending]")).to_have_count(1)


def test_client_takes_over_the_organisation_the_accountant_registered(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Bakkerij Peeters NV", CLIENT_ID)
    send_request(a, server, "Bakkerij Peeters NV", "jan@example.test", CLIENT_ID)

    cli = browser.new_context(viewport=PHONE)
    c = cli.new_page()
    sign_up_verified(c, server, "jan@example.test", "Jan", "")
    c.goto(server.base_url + "/inbox/requests")
    follow(c, ".request[data-status=pending] h2 a")
    facts = c.locator("dl.facts").inner_text()
    assert "Boekhouder & Co" in facts and "anna@boekhouder.test" in facts  # who asks, checked first (W3.3)
    option = c.locator("#takeover")
    expect(option).to_contain_text("registered for you by Boekhouder & Co")
    assert c.locator("select[name=organisation_id] option", has_text="Create").count() == 0
    shot(c, "20-client-takeover-request-phone")
    # Accepting needs the requester's details confirmed first.
    assert c.locator("#accept-form input[name=confirm_requester]").get_attribute("required") is not None
    c.check("#accept-form input[name=confirm_requester]")
    follow(c, "#accept-form button[type=submit]")
    expect(c.locator(".flash")).to_contain_text("is now authorised")
    assert c.url.endswith(f"/orgs/{org}")
    expect(c.locator("h1")).to_have_text("Bakkerij Peeters NV")
    shot(c, "21-client-took-over-phone")
    # The client is its admin now; the accountant keeps access as a member through the mandate.
    jan = c.locator("#members li[data-email='jan@example.test'] .tag")
    expect(jan).to_have_text("org_admin")
    expect(c.locator("#members li[data-email='anna@boekhouder.test'] .tag")).to_have_text("member")
    c.goto(server.base_url + "/inbox/requests")
    expect(c.locator(".request[data-status=accepted]")).to_have_count(1)
    assert server.mail.wait_for("anna@boekhouder.test", "Your authorisation request")
    a.goto(server.base_url + "/requests?status=accepted")
    expect(a.locator(".request[data-status=accepted]")).to_have_count(1)
    a.goto(f"{server.base_url}/orgs/{org}")
    expect(a.locator("h1")).to_have_text("Bakkerij Peeters NV")

    # SEC-8: who, when, from where and what was shown, as the mandate record.
    with server.node.sessions() as db:
        ev = db.scalar(sa.select(AuditEvent).where(AuditEvent.action == "request.accepted"))
        detail = json.loads(ev.detail)
    assert detail["takeover"] is True and detail["requester"]["email"] == "anna@boekhouder.test"
    assert "take over" in detail["text_shown"] and ev.ip == "127.0.0.1" and ev.user_agent
    assert ev.at is not None and ev.actor_user_id is not None
    acc.close()
    cli.close()


def test_api_takeover_needs_the_confirmation(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        accept = spec["paths"]["/api/inbox/requests/{request_id}/accept"]["post"]
        assert "confirm_requester" in accept["requestBody"]["content"]["application/json"]["schema"]["properties"]
        acc = signed_up(server, http, "anna@boekhouder.test")
        r = http.post("/api/organisations", json={"name": "Bakkerij Peeters NV", "identifiers": [CLIENT_ID]},
                      headers=acc)
        assert r.status_code == 201
        org = r.json()["id"]
        # The first user of a new environment is its admin, so may send requests (E7).
        r = http.post("/api/requests/new", headers=acc, json={
            "client_name": "Bakkerij Peeters NV", "client_email": "jan@example.test",
            "client_identifier": CLIENT_ID, "costs_paid_by": "client"})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        jan = signed_up(server, http, "jan@example.test")
        one = http.get(f"/api/inbox/requests/{rid}", headers=jan).json()
        assert one["accept_as"] == "take_over" and one["organisation_id"] == org
        assert one["requester"] == {"name": "anna@boekhouder.test", "email": "anna@boekhouder.test"}
        r = http.post(f"/api/inbox/requests/{rid}/accept", headers=jan, json={})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"
        r = http.post(f"/api/inbox/requests/{rid}/accept", headers=jan, json={"confirm_requester": True})
        assert r.status_code == 200, r.text
        assert r.json()["organisation_id"] == org
        mine = http.get(f"/api/organisations/{org}", headers=jan)
        assert mine.status_code == 200
        assert http.get(f"/api/inbox/requests/{rid}", headers=jan).json()["status"] == "accepted"
        # The accountant still sees it, through the mandate; revoking it ends that access.
        assert http.get(f"/api/organisations/{org}", headers=acc).status_code == 200
        assert http.post(f"/api/requests/{rid}/revoke", headers=jan, json={}).status_code == 200
        assert http.get(f"/api/organisations/{org}", headers=acc).status_code == 403
        assert http.get(f"/api/organisations/{org}", headers=jan).status_code == 200
