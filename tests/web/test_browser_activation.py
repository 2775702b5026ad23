"""W1.3 organisation activation as people do it: the org admin asks, the node's operator rejects with a
reason and later approves (Chromium, real uvicorn, real SMTP); an accepted authorisation request (the
intermediary's mandate) activates the organisation the accountant registered. Until then the pages say
why it cannot send or receive."""

from __future__ import annotations

import json

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.sharing import AuditEvent
from tests.web.browsing import expect, follow
from tests.web.test_api import signed_up
from tests.web.test_browser import PHONE, activate, add_organisation, sign_up_verified
from tests.web.test_browser_takeover import send_request

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.operators("ops@node.test")]

SELLER_ID = "0208:0123456749"
CLIENT_ID = "0208:0314595348"
OTHER_ID = "0208:0451563506"
WIDE = {"width": 1280, "height": 900}


def shots(shot, page, name: str) -> None:
    """The page at phone and desktop width: the `shot` fixture takes both (NAME-390.png, NAME-1280.png)."""
    shot(page, name)


def transitions(server, org_id: int) -> list[tuple[str, str, str]]:
    with server.node.sessions() as db:
        rows = db.scalars(sa.select(AuditEvent).where(
            AuditEvent.organisation_id == org_id, AuditEvent.action == "organisation.activation")
            .order_by(AuditEvent.id)).all()
        return [(e.before, e.after, json.loads(e.detail)["verifier"]) for e in rows]


def test_operator_rejects_with_a_reason_then_approves_and_sending_opens(server, browser, shot):
    a = browser.new_context(viewport=WIDE).new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Seller BV", SELLER_ID)
    card = a.locator("#activation")
    expect(card).to_have_attribute("data-activation", "draft")
    expect(card.locator("#why-not")).to_contain_text("cannot send or receive invoices until it is verified")
    # The sales connection says why there is no send form.
    follow(a, "tr[data-kind=peppol_sales] th a")
    expect(a.locator("#why-not")).to_contain_text("Not activated yet")
    assert a.locator("input[name=document]").count() == 0
    a.goto(f"{server.base_url}/orgs/{org}")
    shots(shot, a, "30-activation-draft")
    follow(a, "#activation-form button[type=submit]")
    expect(a.locator(".flash")).to_contain_text("the node's operator verifies")
    expect(card).to_have_attribute("data-activation", "verifying")
    expect(card.locator("#why-not")).to_contain_text("Waiting for verification")
    assert a.locator("#activation-form").count() == 0
    # Anna is no operator: no review menu, and the review page refuses her.
    assert a.locator("nav a[href='/operator/activations']").count() == 0
    a.goto(server.base_url + "/operator/activations")
    expect(a.locator("h1")).to_have_text("No access")

    ops = browser.new_context(viewport=PHONE).new_page()
    sign_up_verified(ops, server, "ops@node.test", "Olga", "Node support")
    follow(ops, "nav a[href='/operator/activations']")
    row = ops.locator(f"#waiting li[data-organisation='{org}']")
    expect(row).to_contain_text("Seller BV")
    expect(row).to_contain_text(SELLER_ID)
    # A rejection without a reason is refused beside the form.
    follow(ops, row.locator(".reject-form button"))
    row = ops.locator(f"#waiting li[data-organisation='{org}']")
    expect(row.locator(".error")).to_contain_text("Say why")
    shots(shot, ops, "31-operator-review-reason-missing")
    row.locator(".reject-form input[name=reason]").fill("The KBO lists another name for 0123456749")
    follow(ops, row.locator(".reject-form button"))
    expect(ops.locator(".flash")).to_contain_text("is rejected")
    expect(ops.locator(f"#others li[data-organisation='{org}'] .tag")).to_have_text("rejected")

    a.goto(f"{server.base_url}/orgs/{org}")
    expect(card).to_have_attribute("data-activation", "rejected")
    expect(card.locator("#why-not")).to_contain_text("The KBO lists another name for 0123456749")
    shots(shot, a, "32-activation-rejected")
    follow(a, "#activation-form button:has-text('Ask again')")
    expect(card).to_have_attribute("data-activation", "verifying")

    ops.goto(server.base_url + "/operator/activations")
    shots(shot, ops, "33-operator-review")
    follow(ops, ops.locator(f"#waiting li[data-organisation='{org}'] button:has-text('Approve')"))
    expect(ops.locator(".flash")).to_contain_text(f"Organisation {org} is active")
    expect(ops.locator("#waiting")).to_contain_text("Nothing waits for you")

    a.goto(f"{server.base_url}/orgs/{org}")
    expect(card).to_have_attribute("data-activation", "active")
    expect(card).to_contain_text("approved by ops@node.test")
    assert card.locator("#why-not").count() == 0
    shots(shot, a, "34-activation-active")
    follow(a, "tr[data-kind=peppol_sales] th a")
    expect(a.locator("input[name=document]")).to_have_count(1)
    assert a.locator("#why-not").count() == 0
    assert transitions(server, org) == [("draft", "verifying", ""), ("verifying", "rejected", "operator"),
                                        ("rejected", "verifying", ""), ("verifying", "active", "operator")]
    a.context.close()
    ops.context.close()


def accept_request(browser, server, email: str):
    c = browser.new_context(viewport=PHONE).new_page()
    sign_up_verified(c, server, email, email.split("@")[0], "")
    c.goto(server.base_url + "/inbox/requests")
    follow(c, ".request[data-status=pending] h2 a")
    c.check("#accept-form input[name=confirm_requester]")
    follow(c, "#accept-form button[type=submit]")
    expect(c.locator(".flash")).to_contain_text("is now authorised")
    return c


def test_an_accepted_authorisation_request_is_the_mandate_that_activates(server, browser, shot):
    a = browser.new_context(viewport=WIDE).new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    # A firm that is not verified itself gives no mandate: anyone can sign up and accept their own request.
    org = add_organisation(a, server, "Bakkerij Peeters NV", CLIENT_ID)
    expect(a.locator("#activation")).to_have_attribute("data-activation", "draft")
    send_request(a, server, "Bakkerij Peeters NV", "jan@example.test", CLIENT_ID)
    c = accept_request(browser, server, "jan@example.test")
    card = c.locator("#activation")
    expect(card).to_have_attribute("data-activation", "verifying")
    expect(card.locator("#why-not")).to_contain_text("Waiting for verification")
    assert transitions(server, org) == [("draft", "verifying", "")]
    c.context.close()

    # Once the firm's own organisation is active, its client's acceptance activates at once.
    activate(server, add_organisation(a, server, "Boekhouder & Co", SELLER_ID, own=True))
    other = add_organisation(a, server, "Slagerij Jansen", OTHER_ID)
    send_request(a, server, "Slagerij Jansen", "piet@slagerij.test", OTHER_ID)
    c = accept_request(browser, server, "piet@slagerij.test")
    card = c.locator("#activation")
    expect(card).to_have_attribute("data-activation", "active")
    expect(card).to_contain_text(f"mandate for {OTHER_ID} given to Boekhouder & Co")
    shots(shot, c, "35-activation-by-mandate")
    assert [t[1:] for t in transitions(server, other)] == [("verifying", ""), ("active", "mandate")]
    a.context.close()
    c.context.close()


def test_activation_api_twins_and_what_the_operator_adds_is_active_at_once(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        paths = http.get("/openapi.json").json()["paths"]
        for path in ("/api/organisations/{org_id}/activation", "/api/operator/activations",
                     "/api/operator/organisations/{org_id}/approve", "/api/operator/organisations/{org_id}/reject"):
            assert "post" in paths[path] or "get" in paths[path], path
        acc = signed_up(server, http, "anna@boekhouder.test")
        org = http.post("/api/organisations", json={"name": "Seller BV", "identifiers": [SELLER_ID]}, headers=acc)
        org_id = org.json()["id"]
        got = http.get(f"/api/organisations/{org_id}", headers=acc).json()["activation"]
        assert got["status"] == "draft" and got["may_exchange"] is False and "Not activated" in got["why_not"]
        # Sending from a draft is refused with the reason, by the JSON twin of the upload.
        conns = {c["kind"]: c["connection_id"] for c in
                 http.get(f"/api/organisations/{org_id}", headers=acc).json()["connections"]}
        from tests.accesspoint.helpers import BUYER_NOWHERE, invoice

        sent = http.post(f"/api/connections/{conns['peppol_sales']}/documents", headers=acc,
                         json={"ubl": invoice("ACT-1", seller=SELLER_ID, buyer=BUYER_NOWHERE).decode()})
        assert sent.status_code == 400 and "Not activated yet" in sent.json()["message"]
        assert http.get("/api/operator/activations", headers=acc).status_code == 403
        assert http.post(f"/api/operator/organisations/{org_id}/approve", headers=acc).json()["error"] == "not_allowed"

        asked = http.post(f"/api/organisations/{org_id}/activation", headers=acc)
        assert asked.status_code == 200 and asked.json() == {"status": "verifying"}
        again = http.post(f"/api/organisations/{org_id}/activation", headers=acc)
        assert again.status_code == 409 and again.json()["error"] == "invalid_transition"

        ops = signed_up(server, http, "ops@node.test")
        waiting = http.get("/api/operator/activations", headers=ops).json()
        assert [(w["organisation_id"], w["identifiers"]) for w in waiting] == [(org_id, [SELLER_ID])]
        no_reason = http.post(f"/api/operator/organisations/{org_id}/reject", headers=ops, json={})
        assert no_reason.status_code == 400 and no_reason.json()["error"] == "invalid_input"
        ok = http.post(f"/api/operator/organisations/{org_id}/approve", headers=ops, json={"reason": "KBO checked"})
        assert ok.json() == {"status": "active"}
        got = http.get(f"/api/organisations/{org_id}", headers=acc).json()["activation"]
        assert got["may_exchange"] is True and got["status_reason"] == "approved by ops@node.test: KBO checked"
        sent = http.post(f"/api/connections/{conns['peppol_sales']}/documents", headers=acc,
                         json={"ubl": invoice("ACT-1", seller=SELLER_ID, buyer=BUYER_NOWHERE).decode()})
        assert sent.status_code == 201, sent.text

        # An organisation the operator adds is checked by that fact: active at once.
        own = http.post("/api/organisations", json={"name": "Node support BV", "identifiers": [CLIENT_ID],
                                                    "held_for": "own"}, headers=ops)
        assert http.get(f"/api/organisations/{own.json()['id']}", headers=ops).json()["activation"]["status"] == "active"
