"""Issue 13's browser test: an org admin sets up a trusted sender, the supplier's mail arrives over real
SMTP at the node's own listener, and the draft it made is sent; the outbox history shows the route.

The buyer is registered as a receiving organisation on the same node, so the route is the internal
one (W8.2(a)) and the document ends delivered, with nothing faked on the way (real uvicorn, real
aiosmtpd for the node's mail, the node's intake listener, a real delivery worker).
"""

from __future__ import annotations

import smtplib
import time

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.intake import IntakeDraft
from accesspoint.organisations import register_organisation
from tests.accesspoint.helpers import invoice
from tests.intake.harness import invoice_mail
from tests.web.browsing import expect, follow
from tests.web.conftest import INTAKE_DOMAIN
from tests.web.test_api import signed_up
from tests.web.test_browser import activate, add_organisation, log_in, sign_up_verified

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.delivering, pytest.mark.intake]

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 900}
SELLER_ID = "0208:0123456749"
BUYER_ID = "0208:0987654394"
SUPPLIER = "facturen@boekhouder.test"
CONTACT = "administratie@boekhouder.test"


def both_widths(page, shot, name: str) -> None:
    """The page at 390 px and at 1280 px (the `shot` fixture takes both), the invoice frame painted."""
    # Chromium does not paint a frame that was never in view (the invoice below the fold): scroll it
    # into view once, and wait two animation frames, so the full-page capture shows it.
    for frame in page.locator("iframe").all():
        frame.scroll_into_view_if_needed()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    shot(page, name)


def wait_for_draft(server, number: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.node.sessions() as db:
            found = db.scalar(sa.select(IntakeDraft.public_id).where(IntakeDraft.number == number))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no draft {number} after {timeout} s")


def test_trusted_sender_mail_becomes_a_draft_that_is_sent_internally(server, browser, shot):
    buyer_org = register_organisation(server.node.sessions, "Buyer NV", [BUYER_ID], now=server.node.now(),
                                      receive=True)
    ctx = browser.new_context(viewport=WIDE)
    a = ctx.new_page()
    sign_up_verified(a, server, "anna@seller.test", "Anna", "Seller BV")
    org = add_organisation(a, server, "Seller BV", SELLER_ID)
    activate(server, org)  # W1.3: the operator approved it (tests/web/test_browser_activation.py)

    # The organisation page leads an org admin to the trusted senders.
    a.goto(f"{server.base_url}/orgs/{org}")
    follow(a, "#trusted-senders a")
    expect(a.locator("h1")).to_contain_text("Trusted senders")
    expect(a.locator("#senders")).to_contain_text("No trusted senders yet")

    # A wrong whitelist value is said beside the form, keeping what was typed.
    form = a.locator("#sender-form")
    form.locator("input[name=name]").fill("e-Boekhouden")
    form.locator("input[name=whitelist_kind][value=domain]").check()
    form.locator("input[name=whitelist_value]").fill("@")
    form.locator("input[name=contact_email]").fill(CONTACT)
    follow(a, "#sender-form button[type=submit]")
    expect(a.locator("#sender-form .error")).to_contain_text("Enter the sender's domain")
    expect(form.locator("input[name=name]")).to_have_value("e-Boekhouden")
    expect(form.locator("input[name=whitelist_kind][value=domain]")).to_be_checked()
    expect(form.locator("input[name=contact_email]")).to_have_value(CONTACT)
    both_widths(a, shot, "40-trusted-sender-form-error")

    form.locator("input[name=whitelist_kind][value=address]").check()
    form.locator("input[name=whitelist_value]").fill(SUPPLIER)
    follow(a, "#sender-form button[type=submit]")
    expect(a.locator(".flash")).to_contain_text("Trusted sender created")
    row = a.locator("li.sender")
    expect(row).to_have_count(1)
    address = row.locator("input.address").input_value()
    assert address.endswith("@" + INTAKE_DOMAIN) and address in a.locator(".flash").inner_text()
    expect(row.locator(".whitelist")).to_have_text(f"the address {SUPPLIER}")
    expect(row.locator(".state-words")).to_contain_text("Not invited yet")

    # Send invitation: the contact's mail (caught by aiosmtpd) carries the receiver address.
    follow(a, row.locator("button", has_text="Send invitation"))
    expect(a.locator(".flash")).to_contain_text(f"Invitation sent to {CONTACT}")
    mail = server.mail.wait_for(CONTACT, address)
    assert address in mail.get_content()
    expect(a.locator("li.sender")).to_have_attribute("data-state", "invited")
    expect(a.locator("li.sender .state-words")).to_contain_text("waiting for the first invoice")
    both_widths(a, shot, "41-trusted-sender-invited")

    # The supplier's package mails an invoice to the node's own listener.
    raw = invoice_mail(SUPPLIER, address, ("INV-E1.xml", invoice("INV-E1", seller=SELLER_ID, buyer=BUYER_ID)),
                       subject="Factuur INV-E1")
    with smtplib.SMTP("127.0.0.1", server.intake_port, timeout=30) as smtp:
        smtp.sendmail("bounce@boekhouder.test", [address], raw)
    draft_id = wait_for_draft(server, "INV-E1")

    a.goto(f"{server.base_url}/orgs/{org}/senders")
    expect(a.locator("li.sender")).to_have_attribute("data-state", "active")  # the first invoice activated it
    a.goto(f"{server.base_url}/orgs/{org}")
    expect(a.locator("#intake [data-waiting]")).to_have_attribute("data-waiting", "1")
    follow(a, "#intake a:has-text('Drafts from email')")
    draft_row = a.locator(f"li[data-draft='{draft_id}']")
    expect(draft_row).to_contain_text(SUPPLIER)
    expect(draft_row).to_contain_text("Buyer NV")
    both_widths(a, shot, "42-drafts-from-email")

    # The draft: read-only facts and the rendered invoice; only the name and description change.
    follow(a, draft_row.locator("a"))
    facts = a.locator("#draft-facts")
    expect(facts.locator(".number")).to_have_text("INV-E1")
    expect(facts.locator(".buyer")).to_contain_text("Buyer NV")
    expect(facts.locator(".buyer")).to_contain_text(BUYER_ID)
    expect(facts.locator(".received-from")).to_contain_text(SUPPLIER)
    expect(a.frame_locator("iframe.invoice").locator("body")).to_contain_text("Consulting")
    assert a.locator("input[name=buyer_name], input[name=number], input[name*=line]").count() == 0
    a.fill("#save-form input[name=document_name]", "   ")
    follow(a, "#save-form button[type=submit]")
    expect(a.locator("#save-form .error")).to_contain_text("Give the document a name")
    a.fill("#save-form input[name=document_name]", "November consulting")
    a.fill("#save-form textarea[name=description]", "Mailed by e-Boekhouden")
    follow(a, "#save-form button[type=submit]")
    expect(a.locator(".flash")).to_have_text("Saved.")
    expect(a.locator("#save-form input[name=document_name]")).to_have_value("November consulting")
    expect(a.frame_locator("iframe.invoice").locator("body")).to_contain_text("Consulting")
    both_widths(a, shot, "43-draft-from-email")

    # Send: to the outbox document page, whose history shows the internal route to the buyer.
    follow(a, "#send-form button[type=submit]")
    assert "/documents/" in a.url
    document_path = a.url.removeprefix(server.base_url)
    expect(a.locator(".flash")).to_contain_text("queued for sending")
    deadline = time.monotonic() + 60
    while a.locator("#history li[data-action=delivered]").count() == 0:
        assert time.monotonic() < deadline, a.locator("main").inner_text()
        a.wait_for_timeout(200)
        a.reload()
    expect(a.locator("p.muted [data-state]")).to_have_attribute("data-state", "delivered")
    expect(a.locator("#history [data-channel]")).to_have_attribute("data-channel", "internal")
    expect(a.locator("#history li[data-action=delivered]")).to_contain_text(f"internal delivery to {BUYER_ID}")
    expect(a.locator("#history li[data-action=delivered] .event")).to_have_text(
        "Delivered over Peppol (the buyer is on this access point)")
    expect(a.locator("#history li[data-action=submitted]")).to_be_visible()
    expect(a.frame_locator("iframe.invoice").locator("body")).to_contain_text("Consulting")
    both_widths(a, shot, "44-sent-draft-history")
    with server.node.sessions() as db:
        assert db.scalar(sa.select(IntakeDraft.state).where(IntakeDraft.public_id == draft_id)) == "sent"
    # The buyer has it in its inbox (internal delivery stores it there).
    from accesspoint.db.tables.documents import Document

    with server.node.sessions() as db:
        assert db.scalar(sa.select(Document.number).where(Document.organisation_id == buyer_org,
                                                          Document.direction == "in")) == "INV-E1"

    # The sent draft keeps no Send button and links to its delivery.
    a.goto(f"{server.base_url}/drafts/{draft_id}")
    assert a.locator("#send-form, #save-form").count() == 0
    expect(a.locator("#sent a")).to_have_attribute("href", document_path)
    ctx.close()

    # A plain member sees the drafts but no sender section, and the sender URLs refuse them.
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        signed_up(server, http, "piet@seller.test")
    from datetime import UTC, datetime

    from accesspoint.db.tables.accounts import Membership, User

    with server.node.sessions.begin() as db:
        piet = db.scalar(sa.select(User).where(User.email == "piet@seller.test"))
        db.add(Membership(user_id=piet.id, organisation_id=org, role="member", status="active",
                          created_at=datetime.now(UTC)))
    m = browser.new_context(viewport=PHONE).new_page()
    log_in(m, server, "piet@seller.test", f"/orgs/{org}")
    expect(m.locator("#intake")).to_contain_text("Drafts from email")
    assert m.locator("#trusted-senders").count() == 0
    response = m.goto(f"{server.base_url}/orgs/{org}/senders")
    assert response is not None and response.status == 403
    m.goto(f"{server.base_url}/orgs/{org}/drafts")
    expect(m.locator(f"li[data-draft='{draft_id}'] [data-state]")).to_have_attribute("data-state", "sent")
    m.context.close()
