"""W6 as two firms do it in Chromium: an admin names herself relationship manager, asks another firm's
relationship manager (who is emailed through a real SMTP server), who accepts; the partnership shows
neither side anything of the other's organisations (SEC-12); either side ends it."""

from __future__ import annotations

import pytest

from tests.web.browsing import expect, follow
from tests.web.test_browser import PHONE, sign_up_verified

pytestmark = [pytest.mark.db, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 900}


def become_relationship_manager(page, server, email: str) -> None:
    page.goto(server.base_url + "/team")
    follow(page, f"#team li[data-email='{email}'] form.rm-toggle button")
    expect(page.locator(".flash")).to_contain_text("Relationship manager named")
    expect(page.locator(f"#team li[data-email='{email}'] .tag.rm")).to_have_text("relationship manager")


def add_own_organisation(page, server, name: str, identifier: str) -> int:
    page.goto(server.base_url + "/orgs/new")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=identifiers]", identifier)
    page.check("input[name=held_for][value=own]")
    follow(page, "main button[type=submit]")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_two_firms_form_a_partnership_that_shows_nothing_and_end_it(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    anna_org = add_own_organisation(a, server, "Boekhouder & Co BV", "0208:0123456749")
    a.goto(server.base_url + "/partners")
    expect(a.locator("#not-rm")).to_be_visible()  # the flag comes first
    follow(a, "#not-rm a")
    become_relationship_manager(a, server, "anna@boekhouder.test")
    follow(a, "#partners-link a")

    other = browser.new_context(viewport=PHONE)
    p = other.new_page()
    sign_up_verified(p, server, "piet@andere.test", "Piet", "Andere Firma")
    piet_org = add_own_organisation(p, server, "Andere Firma BV", "0208:0987654394")

    # Piet is not a relationship manager yet: Anna is told so beside the form, and what she typed stays.
    a.fill("#partner-form input[name=email]", "piet@andere.test")
    follow(a, "#partner-form button[type=submit]")
    expect(a.locator("#partner-form .error")).to_contain_text("No relationship manager with this address")
    expect(a.locator("#partner-form input[name=email]")).to_have_value("piet@andere.test")
    shot(a, "w6-01-partner-request-error-desktop")

    become_relationship_manager(p, server, "piet@andere.test")
    follow(a, "#partner-form button[type=submit]")
    expect(a.locator(".flash")).to_contain_text("Partnership request sent")
    expect(a.locator(".partner[data-status=pending][data-direction=outgoing] .name")).to_contain_text("Andere Firma")
    shot(a, "w6-02-partner-request-sent-desktop")

    # Piet follows the emailed link (to the Partners page; no token in it) and accepts.
    mail = server.mail.wait_for("piet@andere.test", "Partnership request from Boekhouder & Co")
    body = mail.get_content()
    assert "anna@boekhouder.test" in body and "gives neither side access" in body
    p.goto(f"{server.base_url}/partners")
    card = p.locator(".partner[data-status=pending][data-direction=incoming]")
    expect(card.locator(".name")).to_contain_text("Boekhouder & Co")
    shot(p, "w6-03-partner-request-incoming-phone")
    follow(p, card.locator("button:has-text('Accept')"))
    expect(p.locator(".flash")).to_contain_text("gives no access to any organisation")
    expect(p.locator(".partner[data-status=active]")).to_have_count(1)
    shot(p, "w6-04-partner-active-phone")
    server.mail.wait_for("anna@boekhouder.test", "Andere Firma has accepted the partnership")

    # SEC-12: neither side sees the other's organisation, its connections or its documents.
    for page, foreign in ((a, piet_org), (p, anna_org)):
        page.goto(server.base_url + "/clients")
        expect(page.locator(f"[data-org='{foreign}']")).to_have_count(0)
        page.goto(f"{server.base_url}/orgs/{foreign}")
        expect(page.locator("h1")).to_have_text("No access")
        page.goto(f"{server.base_url}/orgs/{foreign}/transactions")
        expect(page.locator("h1")).to_have_text("No access")
    shot(p, "w6-05-partner-no-access-phone")

    # Anna's side ends it; Piet is told and sees it ended.
    a.goto(server.base_url + "/partners")
    follow(a, ".partner[data-status=active] button:has-text('End partnership')")
    expect(a.locator(".flash")).to_contain_text("Partnership ended")
    expect(a.locator(".partner[data-status=ended]")).to_have_count(1)
    a.set_viewport_size(PHONE)
    shot(a, "w6-06-partner-ended-phone")
    server.mail.wait_for("piet@andere.test", "Boekhouder & Co has ended the partnership")
    p.set_viewport_size(DESKTOP)
    p.goto(server.base_url + "/partners")
    expect(p.locator(".partner[data-status=ended]")).to_have_count(1)
    assert p.locator(".partner button").count() == 0
    shot(p, "w6-07-partner-ended-desktop")

    # A second request can be rejected by the side that was asked.
    p.fill("#partner-form input[name=email]", "anna@boekhouder.test")
    follow(p, "#partner-form button[type=submit]")
    a.goto(server.base_url + "/partners")
    follow(a, ".partner[data-status=pending][data-direction=incoming] button:has-text('Reject')")
    expect(a.locator(".partner[data-status=rejected]")).to_have_count(1)
    server.mail.wait_for("piet@andere.test", "Boekhouder & Co has rejected the partnership")
    acc.close()
    other.close()
