"""Issue 12's outbox and inbox pages as a person uses them: Chromium against a real node (uvicorn, one delivery
worker, aiosmtpd): the preflight before *Send* for a buyer on Peppol and for one on no network, names and amounts in
the lists, states in words, filters, the history of a delivered and of a failed document, and *Send again*."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from accesspoint.db.tables.organisations import Organisation
from tests.accesspoint.helpers import BUYER_NOWHERE, invoice
from tests.web.browsing import expect, follow
from tests.web.test_browser import DESKTOP, PHONE, activate, add_organisation, log_in, sign_up_verified
from tests.web.test_browser_needs_email import wait_state

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.delivering]

SELLER_ID = "0208:0123456749"
BUYER_ID = "0208:0314595348"  # Bakkerij Peeters NV, a second organisation on this node (receives here)
BUYER_SHOWN = f"Bakkerij Peeters NV · {BUYER_ID}"
SELLER_SHOWN = f"Seller BV · {SELLER_ID}"


def bakkerij_invoice(number: str, buyer: str = BUYER_ID) -> bytes:
    """The helpers' invoice (EUR 121.00), its buyer named Bakkerij Peeters NV."""
    return invoice(number, seller=SELLER_ID, buyer=buyer).replace(b"Buyer NV", b"Bakkerij Peeters NV")


def upload(page, content: bytes) -> None:
    page.set_input_files("#upload-form input[name=document]", files=[
        {"name": "invoice.xml", "mimeType": "application/xml", "buffer": content}])
    follow(page, "#upload-form button:has-text('Upload')")


def row(page, number: str):
    return page.locator("table.docs tbody tr", has_text=number)


def seller_and_buyer(page, server) -> tuple[int, int, str, str]:
    """Anna's two organisations, approved; the buyer receives on this node. Their connection pages."""
    sign_up_verified(page, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    seller = add_organisation(page, server, "Seller BV", SELLER_ID)
    buyer = add_organisation(page, server, "Bakkerij Peeters NV", BUYER_ID)
    for org in (seller, buyer):
        activate(server, org)
    with server.node.sessions.begin() as db:
        db.get(Organisation, buyer).peppol_receive = True
    page.goto(f"{server.base_url}/orgs/{seller}")
    follow(page, "tr[data-kind=peppol_sales] th a")
    sales = page.url
    page.goto(f"{server.base_url}/orgs/{buyer}")
    follow(page, "tr[data-kind=peppol_purchase] th a")
    return seller, buyer, sales, page.url


def test_preflight_to_a_buyer_on_peppol_then_delivered_history_and_the_inbox(server, browser, shot):
    ctx = browser.new_context(viewport=DESKTOP)
    a = ctx.new_page()
    _, _, sales, purchases = seller_and_buyer(a, server)

    # Something that is no invoice is refused beside the upload form, and nothing is queued.
    a.goto(sales)
    upload(a, b"<not-an-invoice/>")
    expect(a.locator("#upload-form .error")).to_contain_text("The document was not accepted")
    expect(a.locator("#no-documents")).to_be_visible()

    # The preflight names the buyer and the route before anything is sent (W8.2).
    upload(a, bakkerij_invoice("OP-1"))
    seat = server.node.settings.node.seat_id
    expect(a.locator("#route")).to_have_text(
        f"This invoice will go to {BUYER_SHOWN} over Peppol (access point {seat}: this node).")
    expect(a.locator("#preflight")).to_have_attribute("data-route", "internal")
    expect(a.locator("#upload-facts .amount")).to_have_text("EUR 121.00")
    assert a.locator("#send-form input[name=email]").count() == 0  # nothing to ask
    expect(a.frame_locator("iframe.invoice").locator("body")).to_contain_text("Consulting")
    with server.node.sessions() as db:  # still nothing queued
        assert db.scalar(sa.text("SELECT count(*) FROM outbox_entries")) == 0
    shot(a, "50-preflight-buyer-on-peppol")

    follow(a, "#send-form button:has-text('Send')")
    expect(a.locator(".flash")).to_contain_text("queued for sending")
    assert "/documents/" in a.url
    wait_state(server, "OP-1", "delivered")
    a.reload()
    expect(a.locator("p.muted [data-state]")).to_have_text("Delivered over Peppol")
    expect(a.locator("#document-facts .counterparty")).to_have_text(BUYER_SHOWN)
    expect(a.locator("#document-facts .amount")).to_have_text("EUR 121.00")
    history = a.locator("#history li")
    expect(history.locator(".event")).to_have_text(["Created", "Delivered over Peppol (the buyer is on this access point)"])
    expect(a.locator("#history li[data-action=delivered] .detail")).to_have_text(f"internal delivery to {BUYER_ID}")
    assert "iso6523-actorid-upis" not in a.locator("main").inner_text()
    shot(a, "51-document-delivered-history")

    # The outbox list: name and number, amount, the state in words; and the filter by state.
    follow(a, "text=← Back to the documents")
    one = row(a, "OP-1")
    expect(one.locator("td.party")).to_have_text(BUYER_SHOWN)
    expect(one.locator("td.amount")).to_have_text("EUR 121.00")
    expect(one.locator("[data-state]")).to_have_text("Delivered over Peppol")
    follow(a, "#state-filter a[data-filter=delivered]")
    expect(a.locator("#state-filter a.current")).to_have_text("Delivered (1)")
    expect(a.locator("table.docs tbody tr")).to_have_count(1)
    follow(a, "#state-filter a[data-filter=failed]")
    expect(a.locator("#no-documents")).to_have_text("No documents in this state.")

    # The buyer's inbox (its purchase connection) has it, with the seller's name.
    a.goto(purchases)
    got = row(a, "OP-1")
    expect(got.locator("td.party")).to_have_text(SELLER_SHOWN)
    expect(got.locator("td.amount")).to_have_text("EUR 121.00")
    expect(got.locator("[data-state]")).to_have_text("Received")
    expect(a.locator("#state-filter a[data-filter=received]")).to_have_text("Received (1)")
    assert a.locator("#upload-form").count() == 0  # nothing is sent from a purchase connection
    shot(a, "52-inbox-received")
    follow(a, got.locator("a", has_text="OP-1"))
    expect(a.locator("#history li .event")).to_have_text(["Received"])
    expect(a.locator("#document-facts .counterparty")).to_have_text(SELLER_SHOWN)
    response = a.goto(purchases + "?state=bogus")
    assert response is not None and response.status == 400
    ctx.close()


def test_buyer_on_no_network_email_failed_history_and_send_again(server, browser, shot):
    ctx = browser.new_context(viewport=PHONE)
    a = ctx.new_page()
    _, _, sales, _ = seller_and_buyer(a, server)
    nowhere = f"Bakkerij Peeters NV · {BUYER_NOWHERE}"

    # On no network: the preflight asks for an address, prefilled from the buyer's contact.
    a.goto(sales)
    upload(a, bakkerij_invoice("OP-2", buyer=BUYER_NOWHERE))
    expect(a.locator("#route")).to_have_text(f"{nowhere} is not on Peppol: give an email address.")
    expect(a.locator("#preflight")).to_have_attribute("data-route", "needs_email")
    expect(a.locator("#send-form input[name=email]")).to_have_value("ap@buyer.example")
    a.locator("#send-form input[name=email]").fill("invoices@localhost")  # the browser's idea of an address
    follow(a, "#send-form button:has-text('Send')")
    expect(a.locator("#send-form .error")).to_contain_text("Enter an email address")
    expect(a.locator("#send-form input[name=email]")).to_have_value("invoices@localhost")
    expect(a.frame_locator("iframe.invoice").locator("body")).to_contain_text("Consulting")
    shot(a, "53-preflight-needs-email")
    a.locator("#send-form input[name=email]").fill("ap@buyer.example")
    follow(a, "#send-form button:has-text('Send')")
    expect(a.locator(".flash")).to_contain_text("queued for sending")
    mail = server.mail.wait_for("ap@buyer.example", "OP-2", timeout=60)
    wait_state(server, "OP-2", "sent")

    # The buyer opens the emailed link (the POST from its button): opened.
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    buyer = browser.new_context(viewport=DESKTOP).new_page()
    buyer.goto(re.search(r"https?://\S+/d/\S+", body).group(0))
    with buyer.expect_download():
        buyer.locator("button[type=submit]").click()
    wait_state(server, "OP-2", "opened")
    buyer.context.close()

    # Sent without an address, the next one waits for one; nobody gives it in 72 hours: failed.
    a.goto(sales)
    upload(a, bakkerij_invoice("OP-3", buyer=BUYER_NOWHERE))
    a.locator("#send-form input[name=email]").fill("")
    follow(a, "#send-form button:has-text('Send')")
    wait_state(server, "OP-3", "needs_email")
    server.node.offset = timedelta(hours=73)
    wait_state(server, "OP-3", "failed")
    log_in(a, server, "anna@boekhouder.test", sales.removeprefix(server.base_url))  # 73 h: a new session
    expect(row(a, "OP-2").locator("[data-state]")).to_have_text("Opened")
    failed = row(a, "OP-3")
    expect(failed.locator("[data-state]")).to_have_text(re.compile(
        r"^Failed: the buyer is not on Peppol and no email address was given within 72 hours"))
    expect(failed.locator("td.party")).to_have_text(nowhere)
    expect(failed.locator("a.resend")).to_have_text("Send again")
    follow(a, "#state-filter a[data-filter=failed]")
    expect(a.locator("table.docs tbody tr")).to_have_count(1)
    expect(a.locator("#state-filter a[data-filter=opened]")).to_have_text("Opened (1)")
    shot(a, "54-outbox-filter-failed")

    # Its history says what happened, with the reason; Send again is offered, prefilled.
    follow(a, row(a, "OP-3").locator("a.resend"))
    expect(a.locator("#history li .event")).to_have_text([
        "Created", "Not on Peppol: waiting for an email address", "Failed: no email address was given in time"])
    expect(a.locator("#history li[data-action=needs-email-timeout] .detail")).to_contain_text(
        "no email address was given within 72 hours")
    expect(a.locator("p.error[data-code=failed]")).to_contain_text("Not delivered: the buyer is not on Peppol")
    expect(a.locator("#resend-form input[name=receiver]")).to_have_value(BUYER_NOWHERE)
    expect(a.locator("#resend-form input[name=email]")).to_have_value("ap@buyer.example")
    shot(a, "55-document-failed-history")

    # A bad correction is said beside the form; then Send again, by email (W8.4: same number, a resend).
    a.locator("#resend-form input[name=receiver]").fill("not a peppol id")
    follow(a, "#resend-form button:has-text('Send again')")
    expect(a.locator("#resend-form .error")).to_contain_text("Enter the buyer's Peppol id")
    expect(a.locator("#resend-form input[name=receiver]")).to_have_value("not a peppol id")
    a.locator("#resend-form input[name=receiver]").fill(BUYER_NOWHERE)
    a.locator("#resend-form input[name=email]").fill("invoices@bakkerij.example")
    follow(a, "#resend-form button:has-text('Send again')")
    expect(a.locator(".flash")).to_contain_text("Sent again")
    resent = server.mail.wait_for("invoices@bakkerij.example", "OP-3", timeout=60)
    assert any(p.get_filename() == "invoice-OP-3.xml" for p in resent.walk())
    wait_state(server, "OP-3", "sent")
    a.reload()
    expect(a.locator("p.muted [data-state]")).to_have_text("Sent by email")
    expect(a.locator("#history li .event").last).to_have_text("Sent by email")
    expect(a.locator("#history li[data-action=resend]")).to_contain_text("Sent again (resend)")
    expect(a.locator("#history li[data-action=resend] .detail")).to_have_text("email invoices@bakkerij.example")
    assert a.locator("#resend-form").count() == 0
    shot(a, "56-document-sent-again")
    ctx.close()
