"""W8.2(c) in the web app: an invoice to a buyer on no network asks for an email address, prefilled with
the buyer's contact, and then goes by email (real worker, real SMTP server)."""

from __future__ import annotations

import re
import time

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.documents import Document, OutboxEntry
from tests.accesspoint.helpers import BUYER_NOWHERE, invoice
from tests.web.browsing import expect, follow
from tests.web.test_api import signed_up
from tests.web.test_browser import DESKTOP, PHONE, activate, add_organisation, sign_up_verified

pytestmark = [pytest.mark.db, pytest.mark.slow, pytest.mark.delivering]

SELLER_ID = "0208:0123456749"


def wait_state(server, number: str, state: str, timeout: float = 60) -> str:
    """The document's outbox state once it is `state` (the worker runs beside the web app)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        with server.node.sessions() as db:
            row = db.execute(sa.select(OutboxEntry.public_id, OutboxEntry.state).join(Document).where(
                Document.number == number)).first()
        seen = row.state if row else None
        if seen == state:
            return row.public_id
        time.sleep(0.05)
    raise AssertionError(f"{number} stayed {seen}, never {state}")


def test_upload_for_a_buyer_on_no_network_asks_the_email_and_delivers_by_email(server, browser, shot):
    ctx = browser.new_context(viewport=DESKTOP)
    a = ctx.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Seller BV", SELLER_ID)
    activate(server, org)
    a.goto(f"{server.base_url}/orgs/{org}")
    follow(a, "tr[data-kind=peppol_sales] th a")
    sales = a.url
    a.set_input_files("input[name=document]", files=[{
        "name": "invoice.xml", "mimeType": "application/xml",
        "buffer": invoice("NE-1", seller=SELLER_ID, buyer=BUYER_NOWHERE, buyer_email="ap@buyer.example")}])
    follow(a, "#upload-form button:has-text('Upload')")
    # The preflight says so first (W8.2); sent without an address, it waits for one.
    expect(a.locator("#route")).to_contain_text("Buyer NV · 0088:4000000000008 is not on Peppol: give an email address")
    a.locator("#send-form input[name=email]").fill("")
    follow(a, "#send-form button:has-text('Send')")
    expect(a.locator(".flash")).to_contain_text("queued")
    wait_state(server, "NE-1", "needs_email")

    # The outbox row asks, prefilled with the buyer's contact from the invoice.
    a.goto(sales)
    row = a.locator("table.docs tr", has_text="NE-1")
    expect(row.locator("[data-state]")).to_have_attribute("data-state", "needs_email")
    expect(row.locator("[data-state]")).to_have_text("Waiting for an email address")
    expect(row.locator("form.needs-email input[name=email]")).to_have_value("ap@buyer.example")
    shot(a, "22-outbox-row-needs-email")

    # So does the document page; a wrong address is said beside the form, keeping what was typed.
    follow(a, row.locator("a", has_text="NE-1"))
    box = a.locator("#email-form input[name=email]")
    expect(box).to_have_value("ap@buyer.example")
    box.fill("invoices@localhost")  # valid to the browser, not a deliverable address
    follow(a, "#email-form button[type=submit]")
    expect(a.locator("#email-form .error")).to_contain_text("Enter an email address")
    expect(a.locator("#email-form input[name=email]")).to_have_value("invoices@localhost")
    shot(a, "23-document-needs-email-error")
    a.locator("#email-form input[name=email]").fill("invoices@buyer.example")
    follow(a, "#email-form button[type=submit]")
    expect(a.locator(".flash")).to_contain_text("Sending by email to invoices@buyer.example")

    mail = server.mail.wait_for("invoices@buyer.example", "NE-1", timeout=60)
    names = {p.get_filename() for p in mail.walk() if p.get_filename()}
    assert names == {"invoice-NE-1.pdf", "invoice-NE-1.xml"}
    entry_id = wait_state(server, "NE-1", "sent")
    a.reload()
    expect(a.locator("p.muted [data-state]")).to_have_attribute("data-state", "sent")
    assert a.locator("#email-form").count() == 0
    shot(a, "24-document-sent-by-email")

    # The buyer opens the emailed link (a POST from its button, never the GET): opened.
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    link = re.search(r"https?://\S+/d/\S+", body).group(0)
    buyer = browser.new_context(viewport=PHONE).new_page()
    buyer.goto(link)
    with buyer.expect_download():
        buyer.locator("button[type=submit]").click()
    wait_state(server, "NE-1", "opened")
    a.goto(sales)
    expect(a.locator("table.docs tr", has_text="NE-1").locator("[data-state]")).to_have_attribute(
        "data-state", "opened")
    with server.node.sessions() as db:
        assert db.scalar(sa.select(OutboxEntry.public_id).where(OutboxEntry.public_id == entry_id))
    ctx.close()


def test_api_twin_gives_the_email_for_a_shared_document(server):
    """The signed-in JSON twin of the form: same outbox path as /api/v1/documents/{id}/email."""
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        assert "post" in spec["paths"]["/api/shared-documents/{public_id}/email"]
        acc = signed_up(server, http, "anna@boekhouder.test")
        org = http.post("/api/organisations", json={"name": "Seller BV", "identifiers": [SELLER_ID]}, headers=acc)
        assert org.status_code == 201
        activate(server, org.json()["id"])
        conns = {c["kind"]: c["connection_id"] for c in
                 http.get(f"/api/organisations/{org.json()['id']}", headers=acc).json()["connections"]}
        r = http.post(f"/api/connections/{conns['peppol_sales']}/documents", headers=acc, json={
            "ubl": invoice("NE-2", seller=SELLER_ID, buyer=BUYER_NOWHERE, buyer_email="ap@buyer.example").decode()})
        assert r.status_code == 201, r.text
        doc = r.json()["document_id"]
        wait_state(server, "NE-2", "needs_email")
        one = http.get(f"/api/shared-documents/{doc}", headers=acc).json()
        assert one["state"] == "needs_email" and one["suggested_email"] == "ap@buyer.example"
        bad = http.post(f"/api/shared-documents/{doc}/email", headers=acc, json={"email": "nope"})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_input"
        ok = http.post(f"/api/shared-documents/{doc}/email", headers=acc, json={"email": "ap@buyer.example"})
        assert ok.status_code == 200 and ok.json()["email"] == "ap@buyer.example"
        server.mail.wait_for("ap@buyer.example", "NE-2", timeout=60)
        wait_state(server, "NE-2", "sent")
        again = http.post(f"/api/shared-documents/{doc}/email", headers=acc, json={"email": "ap@buyer.example"})
        assert again.status_code == 409
