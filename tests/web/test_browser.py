"""The sharing flows as a person does them: Chromium against a real node, real SMTP in between."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

import ubl
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import scheduler
from accesspoint.web._session import services
from tests.web.browsing import follow

pytestmark = [pytest.mark.db, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}  # issue 12: screenshots at 390 and 1280 px
CLIENT_ID = "0208:0123456749"  # a KBO number with a valid check digit


def sign_up_verified(page, server, email: str, name: str, company: str) -> None:
    page.goto(server.base_url + "/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=name]", name)
    if page.locator("input[name=organisation_name]").count():  # not asked of someone invited
        page.fill("input[name=organisation_name]", company)
    page.fill("input[name=password]", "a long passphrase")
    follow(page, "button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your email"
    link = server.mail.link(server.mail.wait_for(email, "Confirm your email"))
    page.goto(link)
    follow(page, "text=Activate my account")
    assert "Welcome" in page.locator("h1").inner_text()


def log_in(page, server, email: str, next_path: str = "/") -> None:
    page.goto(f"{server.base_url}/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "a long passphrase")
    follow(page, "button[type=submit]")


def add_organisation(page, server, name: str, identifier: str, *, own: bool = False) -> int:
    page.goto(server.base_url + "/orgs/new")
    page.fill("input[name=name]", name)
    page.fill("textarea[name=identifiers]", identifier)
    if own:
        page.check("input[name=held_for][value=own]")
    follow(page, "main button[type=submit]")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def activate(server, org_id: int) -> None:
    """The node's operator approves the organisation (W1.3), as `peppol-node org approve` does.

    Organisations added in the web app start as drafts and may neither send nor receive; tests about
    documents start from an approved one. The activation flow itself is tests/web/test_browser_activation.py.
    """
    from accesspoint.sharing import Context, activation

    state = activation.operator_decide(services(server.node), Context(now=server.node.now()), org_id, approve=True,
                                       operator_label="test operator")
    assert state == "active"


def share(page, server, org_id: int, email: str, kinds: tuple[str, ...] = ("peppol_purchase", "peppol_sales")):
    page.goto(f"{server.base_url}/orgs/{org_id}")
    page.fill("#share-form input[name=email]", email)
    for box in page.locator("#share-form input[name=connections]").all():
        box.set_checked(box.get_attribute("value") in kinds)
    follow(page, "#share-form button[type=submit]")


def states(page) -> dict[str, str]:
    return {row.get_attribute("data-kind"): row.locator("[data-state]").get_attribute("data-state")
            for row in page.locator("tr[data-kind]").all()}


def receive_invoice(server, testdata, org_id: int) -> str:
    """Store an official BIS example, addressed to our client, as the inbox does for an AS4 delivery."""
    from accesspoint.delivery import Inbox

    content = (testdata / "peppol-bis-invoice-3" / "examples" / "base-example.xml").read_bytes()
    content = content.replace(b'<cbc:EndpointID schemeID="0002">FR23342</cbc:EndpointID>',
                              f'<cbc:EndpointID schemeID="0208">{CLIENT_ID[5:]}</cbc:EndpointID>'.encode())
    from ubl.model import parse_document

    doc = parse_document(content).document
    activate(server, org_id)
    with server.node.sessions.begin() as db:
        db.get(Organisation, org_id).peppol_receive = True
    sbd = ubl.parse_sbd(ubl.build_sbd(
        sender=ubl.ParticipantId.parse("0088:9482348239847239874"), receiver=ubl.ParticipantId.parse(CLIENT_ID),
        document_type_id=doc.document_type_id, process_id=ubl.BIS_BILLING_PROCESS, country_c1="FR",
        payload=content, creation_time=server.node.now()))
    inbox = Inbox(server.node.sessions, clock=server.node.now, seat_id=server.node.settings.node.seat_id)
    inbox.accept(sbd, as4_message_id=f"{uuid.uuid4()}@test", sender_seat_id="POP000001")
    return doc.id


def test_new_client_signs_up_from_the_emailed_link_and_sees_an_invoice(server, browser, shot, testdata):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Bakkerij Peeters", CLIENT_ID)
    number = receive_invoice(server, testdata, org)
    share(a, server, org, "Jan@Bakkerij.test")
    assert states(a) == {"peppol_purchase": "invited", "peppol_sales": "invited"}
    assert "Invitation sent." in a.locator(".flash").inner_text()
    shot(a, "01-accountant-organisation-invited")

    invite = server.mail.wait_for("jan@bakkerij.test", "Bakkerij Peeters")
    body = invite.get_content()
    # SEC-11: firm and organisation with its number; no token in the subject.
    assert "Boekhouder & Co" in invite["Subject"] and CLIENT_ID in body
    link = server.mail.link(invite)
    assert link.rsplit("/", 1)[1] not in invite["Subject"]

    cli = browser.new_context(viewport=PHONE)
    c = cli.new_page()
    resp = c.goto(link)
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert "Boekhouder & Co invites you" in c.locator("h1").inner_text()
    shot(c, "02-client-invite-landing-phone")
    follow(c, "text=Continue")
    assert c.url.endswith("/invite")  # the token has left the URL
    follow(c, "main a:has-text('Sign up')")
    email_box = c.locator("input[name=email]")
    assert email_box.get_attribute("readonly") is not None
    assert email_box.input_value() == "jan@bakkerij.test"
    shot(c, "03-client-signup-locked-email-phone")
    c.fill("input[name=name]", "Jan")
    c.fill("input[name=password]", "a long passphrase")
    follow(c, "button[type=submit]")
    assert c.locator("#accept-form input[name=connections]").count() == 2
    shot(c, "04-client-confirm-phone")
    follow(c, "#accept-form button[type=submit]")
    assert "now in your account" in c.locator(".flash").inner_text()
    shot(c, "05-client-home-phone")
    follow(c, "#shared-connections a:has-text('purchase invoices')")
    assert c.locator(f"table.docs a:has-text('{number}')").count() == 1
    shot(c, "06-client-purchase-invoices-phone")
    follow(c, f"table.docs a:has-text('{number}')")
    assert number in c.locator("h1").inner_text()
    frame = c.frame_locator("iframe.invoice")
    assert number in frame.locator("body").inner_text()
    ubl_resp = c.request.get(c.url + "/ubl")
    assert ubl_resp.status == 200 and b"<cbc:ID>" + number.encode() in ubl_resp.body()
    pdf_resp = c.request.get(c.url + "/pdf")
    assert pdf_resp.status == 200 and pdf_resp.body().startswith(b"%PDF-")
    shot(c, "07-client-invoice-phone")
    assert "accepted" in server.mail.wait_for("anna@boekhouder.test", "accepted")["Subject"]

    a.reload()
    assert states(a) == {"peppol_purchase": "active", "peppol_sales": "active"}
    assert a.locator("[data-onboarding]").first.get_attribute("data-onboarding") == "complete"
    a.goto(server.base_url + "/clients")
    shot(a, "08-accountant-connections-complete")

    # A used link is refused with the uniform page (SEC-2, SEC-6).
    other = browser.new_context(viewport=PHONE).new_page()
    resp = other.goto(link)
    assert resp.status == 410 and other.locator("h1").inner_text() == "This link does not work"
    shot(other, "09-used-link-phone")

    # The accountant revokes the purchase share: the client's next request is refused, past documents too.
    purchase_url = c.url
    a.goto(f"{server.base_url}/orgs/{org}")
    follow(a, "tr[data-kind=peppol_purchase] button:has-text('Revoke')")
    assert states(a)["peppol_purchase"] == "revoked"
    resp = c.goto(purchase_url)
    assert resp.status == 403 and c.locator("h1").inner_text() == "No access"
    shot(c, "10-revoked-access-phone")
    c.goto(server.base_url + "/")
    assert c.locator("#shared-connections li").count() == 1

    # A link whose share was withdrawn before use is refused too.
    share(a, server, org, "someone@bakkerij.test", ("peppol_purchase",))
    withdrawn = server.mail.link(server.mail.wait_for("someone@bakkerij.test", "Bakkerij Peeters"))
    follow(a, "tr[data-kind=peppol_purchase] button:has-text('Withdraw')")
    assert states(a)["peppol_purchase"] == "revoked"
    resp = other.goto(withdrawn)
    assert resp.status == 410 and other.locator("h1").inner_text() == "This link does not work"

    # The client revokes the sales share from their side.
    c.goto(server.base_url + "/")
    follow(c, "#shared-connections button:has-text('Remove my access')")
    assert c.locator("#shared-connections").count() == 0
    a.reload()
    assert states(a)["peppol_sales"] == "revoked"
    a.goto(f"{server.base_url}/orgs/{org}/audit")
    assert a.locator("td:has-text('invitation.accepted')").count() == 1
    shot(a, "11-audit-log")
    acc.close()
    cli.close()


def test_existing_user_forwarded_and_expired_links(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, server, "Bakkerij Peeters", CLIENT_ID)
    cli = browser.new_context(viewport=PHONE)
    c = cli.new_page()
    sign_up_verified(c, server, "jan@bakkerij.test", "Jan", "Bakkerij Peeters")

    # An existing user, signed out, opens the link, logs in and accepts only the purchase connection.
    follow(c, "text=Log out")
    share(a, server, org, "jan@bakkerij.test")
    link = server.mail.link(server.mail.wait_for("jan@bakkerij.test", "Bakkerij Peeters"))
    c.goto(link)
    follow(c, "text=Continue")
    follow(c, "main a:has-text('Log in')")
    c.fill("input[name=email]", "jan@bakkerij.test")
    c.fill("input[name=password]", "a long passphrase")
    follow(c, "button[type=submit]")
    assert c.url.endswith("/invite")
    c.locator("#accept-form input[value=peppol_sales]").set_checked(False)
    follow(c, "#accept-form button[type=submit]")
    assert c.locator("#shared-connections li").count() == 1
    a.reload()
    assert states(a) == {"peppol_purchase": "active", "peppol_sales": "not_accepted"}
    assert a.locator("[data-onboarding]").first.get_attribute("data-onboarding") == "partial"
    shot(a, "12-accountant-partial")

    # EC-2: re-invite the missing one; the link is forwarded and opened by another account (SEC-4).
    share(a, server, org, "boekhouding@bakkerij.test", ("peppol_sales",))
    forwarded = server.mail.link(server.mail.wait_for("boekhouding@bakkerij.test", "Bakkerij Peeters"))
    c.goto(forwarded)
    follow(c, "text=Continue")
    assert c.locator("h2").first.inner_text() == "This invitation is for another address"
    shot(c, "13-forwarded-link-other-account-phone")
    a.reload()
    assert states(a)["peppol_sales"] == "invited"  # nothing was created or consumed

    # Reminders on day 3 (from the scheduler, through the real SMTP server), then expiry after 14 days.
    svc = services(server.node)
    server.node.offset = timedelta(days=3, minutes=1)
    assert scheduler.run_due(svc, server.node.now()).reminded == 1
    reminder = server.mail.wait_for("boekhouding@bakkerij.test", "Reminder:")
    fresh = server.mail.link(reminder)
    assert fresh != forwarded
    server.node.offset = timedelta(days=14, minutes=1)
    resp = c.goto(fresh)
    assert resp.status == 410 and c.locator("h1").inner_text() == "This link does not work"
    shot(c, "14-expired-link-phone")
    a.reload()
    assert "/login" in a.url  # 14 days later the accountant's 12-hour session has ended too
    log_in(a, server, "anna@boekhouder.test", f"/orgs/{org}")
    assert states(a)["peppol_sales"] == "expired"
    acc.close()
    cli.close()


def test_authorisation_request_from_inbox_then_send_from_sales(server, browser, shot, testdata):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    # A verified firm (its own organisation is active): the client's acceptance is then the mandate
    # that activates the client's organisation (W1.3), so the accountant can send from it at once.
    activate(server, add_organisation(a, server, "Boekhouder & Co", "0208:0123456749", own=True))
    a.goto(server.base_url + "/requests/new")
    a.fill("input[name=client_name]", "Slagerij Jansen")
    a.fill("input[name=client_email]", "piet@slagerij.test")
    a.fill("input[name=client_identifier]", "0208:0314595348")
    a.fill("input[name=software_package]", "Boekhoudpakket X")
    a.check("input[value=intermediary]")
    follow(a, "main button[type=submit]")
    assert a.locator(".request[data-status=pending]").count() == 1
    shot(a, "15-accountant-requests-pending")

    mail = server.mail.wait_for("piet@slagerij.test", "Authorisation request")
    assert "Boekhouder & Co" in mail["Subject"] and "0208:0314595348" in mail.get_content()
    cli = browser.new_context(viewport=PHONE)
    c = cli.new_page()
    c.goto(server.mail.link(mail))
    assert "Authorisation request" in c.locator("h1").inner_text()
    follow(c, "text=Continue")
    follow(c, "main a:has-text('Sign up')")
    c.fill("input[name=password]", "a long passphrase")
    follow(c, "button[type=submit]")
    assert "/inbox/requests/" in c.url  # the requester's details first (W3.3)
    assert "Boekhouder & Co" in c.locator("dl.facts").inner_text()
    shot(c, "16-client-request-phone")
    follow(c, "main button:has-text('Accept')")
    assert "is now authorised" in c.locator(".flash").inner_text()
    c.goto(server.base_url + "/inbox/requests")
    assert c.locator(".request[data-status=accepted]").count() == 1
    shot(c, "17-client-inbox-requests-phone")
    assert server.mail.wait_for("anna@boekhouder.test", "Your authorisation request")

    # The accountant is now a member of the client's organisation and sends from its sales connection.
    a.goto(server.base_url + "/requests?status=accepted")
    assert a.locator(".request[data-status=accepted]").count() == 1
    a.goto(server.base_url + "/clients")
    follow(a, "text=Slagerij Jansen")
    follow(a, "tr[data-kind=peppol_sales] th a")
    content = (testdata / "peppol-bis-invoice-3" / "examples" / "base-example.xml").read_bytes()
    content = content.replace(b'<cbc:EndpointID schemeID="0088">9482348239847239874</cbc:EndpointID>',
                              b'<cbc:EndpointID schemeID="0208">0314595348</cbc:EndpointID>')
    sales = a.url
    a.set_input_files("input[name=document]", files=[
        {"name": "invoice.xml", "mimeType": "application/xml", "buffer": content}])
    follow(a, "#upload-form button:has-text('Upload')")
    follow(a, "#send-form button:has-text('Send')")  # after the preflight (W8.2)
    assert "queued" in a.locator(".flash").inner_text()
    a.goto(sales)
    row = a.locator("table.docs tbody tr")
    assert row.count() == 1 and row.locator("[data-state]").get_attribute("data-state") == "created"
    assert row.locator("[class^=state]").inner_text() == "Waiting to be sent"
    assert row.locator("td.party").inner_text() == "Buyer Official Name · 0002:fr23342"  # ids are stored lower-case (case-insensitive)
    assert row.locator("td.amount").inner_text() == "EUR 1,656.25"
    shot(a, "18-sales-connection-sent")
    acc.close()
    cli.close()


def test_colleague_joins_by_invitation_and_gets_a_role(server, browser, shot):
    acc = browser.new_context(viewport=DESKTOP)
    a = acc.new_page()
    sign_up_verified(a, server, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    a.goto(server.base_url + "/team")
    a.fill("#team-invite input[name=email]", "carla@boekhouder.test")
    follow(a, "#team-invite button")
    link = server.mail.link(server.mail.wait_for("carla@boekhouder.test", "join Boekhouder & Co"))
    col = browser.new_context(viewport=PHONE)
    c = col.new_page()
    c.goto(link)
    assert c.locator("h1").inner_text() == "Join Boekhouder & Co"
    follow(c, "text=Continue")
    follow(c, "main a:has-text('Sign up')")
    assert c.locator("input[name=email]").input_value() == "carla@boekhouder.test"
    c.fill("input[name=password]", "a long passphrase")
    follow(c, "button[type=submit]")
    assert "Welcome" in c.locator("h1").inner_text()
    a.reload()
    item = a.locator("#team li[data-email='carla@boekhouder.test']")
    assert item.locator(".tag").inner_text() == "basic"
    item.locator("select").select_option("advanced")
    follow(a, item.locator("button", has_text="Change role"))
    assert a.locator("#team li[data-email='carla@boekhouder.test'] .tag").inner_text() == "advanced"
    shot(a, "19-team")
    # The link worked once.
    assert c.goto(link).status == 410
    acc.close()
    col.close()
