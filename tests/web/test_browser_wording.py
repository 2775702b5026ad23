"""Wording and state fixes of issue 12, each as a person meets it in Chromium (real node, real SMTP)."""

from __future__ import annotations

import httpx2
import pytest

from tests.web.browsing import expect, follow
from tests.web.test_api import signed_up
from tests.web.test_browser import DESKTOP, PHONE, share, sign_up_verified, states

pytestmark = [pytest.mark.db, pytest.mark.slow]

FIRM_ID = "0208:0314595348"
CLIENT_ID = "0208:0123456749"
OTHER_ID = "0208:0200065765"


def add_org(page, server, name: str, identifier: str, held_for: str = "client") -> int:
    page.goto(server.base_url + "/orgs/new")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=identifiers]", identifier)
    page.check(f"input[name=held_for][value={held_for}]")
    follow(page, "main button[type=submit]")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_own_organisation_apart_share_errors_beside_the_form_withdraw_one_and_not_accepted(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    ours = add_org(a, server, "Boekhouder & Co BV", FIRM_ID, held_for="own")
    # The firm's own organisation offers no "Share with your client".
    expect(a.locator("[data-relation]")).to_have_attribute("data-relation", "ours")
    assert a.locator("#share-form").count() == 0
    bakkerij = add_org(a, server, "Bakkerij Peeters NV", CLIENT_ID)
    slagerij = add_org(a, server, "Slagerij Jansen", OTHER_ID)
    a.goto(server.base_url + "/clients")
    expect(a.locator("#our-organisation .client")).to_have_count(1)
    expect(a.locator("#our-organisation")).to_contain_text("Boekhouder & Co BV")
    assert a.locator("#our-organisation [data-onboarding]").count() == 0
    expect(a.locator("#clients .client")).to_have_count(2)
    assert a.locator(f"#clients [data-org='{ours}']").count() == 0
    shot(a, "25-accountant-our-organisation-and-clients")

    # An input error is shown beside the form, with what was typed.
    a.goto(f"{server.base_url}/orgs/{bakkerij}")
    a.fill("#share-form input[name=email]", "jan@bakkerij.test")
    for box in a.locator("#share-form input[name=connections]").all():
        box.set_checked(False)
    follow(a, "#share-form button[type=submit]")
    expect(a.locator("#share-form .error")).to_contain_text("Choose at least one connection")
    expect(a.locator("#share-form input[name=email]")).to_have_value("jan@bakkerij.test")
    shot(a, "26-share-form-error-beside-the-form")

    # Accepting one of two connections leaves the other "not accepted", not "declined".
    share(a, server, bakkerij, "jan@bakkerij.test")
    link = server.mail.link(server.mail.wait_for("jan@bakkerij.test", "Bakkerij Peeters NV"))
    c = browser.new_context(viewport=PHONE).new_page()
    sign_up_verified(c, server, "jan@bakkerij.test", "Jan", "")
    c.goto(link)
    follow(c, "text=Continue")
    c.locator("#accept-form input[value=peppol_sales]").set_checked(False)
    follow(c, "#accept-form button[type=submit]")
    expect(c.locator("#shared-connections li")).to_have_count(1)
    a.goto(f"{server.base_url}/orgs/{bakkerij}")
    assert states(a) == {"peppol_purchase": "active", "peppol_sales": "not_accepted"}
    expect(a.locator("tr[data-kind=peppol_sales] [data-state]")).to_have_text("Not accepted")
    assert "Declined" not in a.locator("table.states").inner_text()

    # Withdraw on one row withdraws that connection only; the link still offers the other.
    share(a, server, slagerij, "piet@slagerij.test")
    piet_link = server.mail.link(server.mail.wait_for("piet@slagerij.test", "Slagerij Jansen"))
    assert states(a) == {"peppol_purchase": "invited", "peppol_sales": "invited"}
    follow(a, "tr[data-kind=peppol_sales] button:has-text('Withdraw')")
    expect(a.locator(".flash")).to_contain_text("withdrawn for this connection")
    assert states(a) == {"peppol_purchase": "invited", "peppol_sales": "revoked"}
    p = browser.new_context(viewport=PHONE).new_page()
    assert p.goto(piet_link).status == 200
    expect(p.locator("main ul li")).to_have_text(["Peppol – purchase invoices"])
    shot(a, "27-withdraw-one-connection")
    acc.close()


def test_request_pages_revoked_request_stays_and_the_accountant_is_told(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    a.goto(server.base_url + "/requests/new")
    a.fill("input[name=client_name]", "Slagerij Jansen")
    a.fill("input[name=client_email]", "piet@slagerij.test")
    a.fill("input[name=client_identifier]", OTHER_ID)
    follow(a, "main button[type=submit]")
    mail = server.mail.wait_for("piet@slagerij.test", "Authorisation request")

    c = browser.new_context(viewport=PHONE).new_page()
    c.goto(server.mail.link(mail))
    follow(c, "text=Continue")
    # The page after "Continue" names what it is: an authorisation request, not an invitation.
    expect(c.locator("h1")).to_have_text("Authorisation request from Boekhouder & Co")
    assert c.title() == "Authorisation request from Boekhouder & Co"
    shot(c, "28-request-after-continue-phone")
    follow(c, "main a:has-text('Sign up')")
    c.fill("input[name=password]", "a long passphrase")
    follow(c, "button[type=submit]")
    follow(c, "main button:has-text('Accept')")
    expect(c.locator(".flash")).to_contain_text("is now authorised")
    # The client's own organisation page does not offer the accountant's "Share with your client".
    expect(c.locator("[data-relation]")).to_have_attribute("data-relation", "ours")
    assert c.locator("#share-form").count() == 0
    shot(c, "29-client-own-organisation-phone")
    org_url = c.url
    a.goto(server.base_url + "/clients")
    expect(a.locator("#clients")).to_contain_text("Slagerij Jansen")
    a.goto(org_url)
    assert a.locator("#share-form").count() == 1  # the accountant, for the client, does get it

    # The client revokes: the request stays in the inbox as revoked, and the accountant gets an email.
    c.goto(server.base_url + "/inbox/requests")
    follow(c, ".request[data-status=accepted] h2 a")
    follow(c, "button:has-text('Revoke authorisation')")
    expect(c.locator(".request[data-status=revoked]")).to_have_count(1)
    shot(c, "30-client-inbox-revoked-phone")
    told = server.mail.wait_for("anna@boekhouder.test", "revoked")
    assert "Slagerij Jansen" in told["Subject"] and "piet@slagerij.test" in told.get_content()
    acc.close()


def test_api_twins_relation_and_withdraw_one(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        acc = signed_up(server, http, "anna@boekhouder.test")
        own = http.post("/api/organisations", headers=acc,
                        json={"name": "Firm BV", "identifiers": [FIRM_ID], "held_for": "own"}).json()["id"]
        client = http.post("/api/organisations", headers=acc,
                           json={"name": "Bakkerij", "identifiers": [CLIENT_ID]}).json()["id"]
        listed = {o["organisation_id"]: o["relation"] for o in http.get("/api/organisations", headers=acc).json()}
        assert listed == {own: "ours", client: "client"}
        # A request for the firm's own organisation would hand it away: refused, with the reason.
        r = http.post("/api/requests/new", headers=acc, json={
            "client_name": "Firm BV", "client_email": "x@example.test", "client_identifier": FIRM_ID,
            "costs_paid_by": "client"})
        assert r.status_code == 400 and "your own organisation" in r.json()["message"]
        http.post(f"/api/organisations/{client}/shares", headers=acc,
                  json={"email": "jan@bakkerij.test", "connections": ["peppol_purchase", "peppol_sales"]})
        conns = {c["kind"]: c for c in http.get(f"/api/organisations/{client}", headers=acc).json()["connections"]}
        r = http.post(f"/api/shares/{conns['peppol_sales']['share_id']}/revoke", headers=acc, json={})
        assert r.status_code == 200 and r.json()["was"] == "invited"
        after = {c["kind"]: c["state"] for c in http.get(f"/api/organisations/{client}", headers=acc).json()["connections"]}
        assert after == {"peppol_purchase": "invited", "peppol_sales": "revoked"}


def test_sign_up_asks_the_company_only_of_a_new_firm_which_then_adds_its_own_organisation(server, browser, shot):
    # A new accountant: the company names the environment, and home offers to add it as an organisation.
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(server.base_url + "/signup")
    expect(page.locator("input[name=organisation_name]")).to_be_visible()
    expect(page.locator("main")).to_contain_text("KvK or KBO number")
    shot(page, "30-signup-new-firm-phone")
    sign_up_verified(page, server, "piet@kantoor.test", "Piet", "Kantoor Piet")
    expect(page.locator("#no-organisations")).to_contain_text("add your own organisation (Kantoor Piet)")
    shot(page, "31-new-accountant-home-phone")
    follow(page, "text=Add Kantoor Piet")
    expect(page.locator("input[name=name]")).to_have_value("Kantoor Piet")
    expect(page.locator("input[name=held_for][value=own]")).to_be_checked()
    page.fill("textarea[name=identifiers]", FIRM_ID)
    follow(page, "main button[type=submit]")
    expect(page.locator("[data-relation]")).to_have_attribute("data-relation", "ours")
    desk = browser.new_context(viewport=DESKTOP).new_page()
    desk.goto(server.base_url + "/signup")
    shot(desk, "30-signup-new-firm-desktop")

    # A colleague invited into the firm signs up from the link: no company field (it would be ignored).
    page.goto(server.base_url + "/team")
    page.fill("#team-invite input[name=email]", "kees@kantoor.test")
    follow(page, "#team-invite button")
    link = server.mail.link(server.mail.wait_for("kees@kantoor.test", "join Kantoor Piet"))
    colleague = browser.new_context(viewport=PHONE).new_page()
    colleague.goto(link)
    follow(colleague, "text=Continue")
    follow(colleague, "main a:has-text('Sign up')")
    expect(colleague.locator("input[name=email]")).to_have_value("kees@kantoor.test")
    assert colleague.locator("input[name=organisation_name]").count() == 0
    shot(colleague, "32-signup-invited-colleague-no-company-phone")


def test_at_360_px_the_menu_is_one_line_and_long_names_stay_in_their_card(server, browser, shot):
    page = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    sign_up_verified(page, server, "lange.naam@kantoor.test", "Lange", "Kantoor")
    long_name = "Vennootschap Onder Firma Bakkerij En Banketbakkerij Van De Gebroeders Peeters-Vandenbroucke"
    add_org(page, server, long_name, CLIENT_ID)
    page.goto(server.base_url + "/")
    tops = page.eval_on_selector_all(".top nav > *", "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, tops  # one line
    assert page.locator(".top .brand").evaluate("b => b.getBoundingClientRect().height") < 30  # not broken in two
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths  # nothing sticks out of the page
    for card in page.locator(".card").all():
        assert card.evaluate("c => c.scrollWidth <= c.clientWidth"), card.inner_text()[:80]
    expect(page.locator("main")).to_contain_text("Gebroeders")
    shot(page, "33-home-360px-one-line-menu-long-name")
