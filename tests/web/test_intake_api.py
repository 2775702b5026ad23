"""The intake JSON API (issue 13) against a real node: trusted senders (org admins), drafts from
mail that came in over real SMTP to the node's own listener (any member), and who reaches what
with a session, the node's token and a connection key."""

from __future__ import annotations

import smtplib
import time
from datetime import UTC, datetime

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.organisations import Organisation
from tests.accesspoint.helpers import BUYER_NOWHERE, invoice
from tests.intake.harness import invoice_mail
from tests.web.conftest import INTAKE_DOMAIN
from tests.web.test_api import signed_up
from tests.web.test_browser import activate

pytestmark = [pytest.mark.db, pytest.mark.intake]

SELLER_ID = "0208:0123456749"
OTHER_ID = "0208:0987654394"
SENDER = "facturen@boekhouder.test"
CONTACT = "administratie@boekhouder.test"
#: The web app's twins (a session) and the token API (the node's token or a connection key).
ORGS = "/api/organisations"
V1 = "/api/v1/organisations"


def node_token(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.node.settings.web.api_token}"}


def organisation(http: httpx2.Client, who: dict[str, str], name: str, identifier: str, server=None) -> int:
    """A web-created organisation; with `server`, the operator approves it too (W1.3: only an active
    organisation takes invoices by mail or sends them)."""
    r = http.post("/api/organisations", json={"name": name, "identifiers": [identifier]}, headers=who)
    assert r.status_code == 201, r.text
    if server is not None:
        activate(server, r.json()["id"])
    return r.json()["id"]


def plain_member(server, http: httpx2.Client, email: str, org_id: int) -> dict[str, str]:
    """A signed-up user made a plain member (not an admin) of `org_id`."""
    headers = signed_up(server, http, email)
    with server.node.sessions.begin() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        db.add(Membership(user_id=user.id, organisation_id=org_id, role="member", status="active",
                          created_at=datetime.now(UTC)))
    return headers


def mail_to_node(server, to: str, raw: bytes, sender: str = SENDER) -> int:
    with smtplib.SMTP("127.0.0.1", server.intake_port, timeout=30) as s:
        s.ehlo("boekhouder.test")
        s.mail(sender)
        code, reply = s.rcpt(to)
        if code != 250:
            return code
        return s.data(raw)[0]


def wait_drafts(http: httpx2.Client, org_id: int, who: dict[str, str], count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = http.get(f"{ORGS}/{org_id}/drafts", headers=who).json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_trusted_senders_are_for_org_admins_and_the_operator(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()["paths"]
        for base in (V1, ORGS):
            assert {"get", "post"} <= set(spec[f"{base}/{{org_id}}/trusted-senders"])
            for action in ("invitation", "activate", "deactivate"):
                assert "post" in spec[f"{base}/{{org_id}}/trusted-senders/{{sender_id}}/{action}"], action
            assert spec[f"{base}/{{org_id}}/trusted-senders"]["post"]["summary"] == "Create a trusted sender"

        admin = signed_up(server, http, "anna@seller.test")
        org = organisation(http, admin, "Seller BV", SELLER_ID, server)
        member = plain_member(server, http, "piet@seller.test", org)
        stranger = signed_up(server, http, "jan@elders.test")
        other_org = organisation(http, stranger, "Elders BV", OTHER_ID)

        assert http.get(f"{ORGS}/{org}/trusted-senders").status_code == 401
        assert http.get(f"{ORGS}/{org}/trusted-senders", headers=admin).json() == []
        for who in (member, stranger):
            assert http.get(f"{ORGS}/{org}/trusted-senders", headers=who).status_code == 403
            r = http.post(f"{ORGS}/{org}/trusted-senders", headers=who,
                          json={"whitelist": {"kind": "address", "value": SENDER}, "contact_email": CONTACT})
            assert r.status_code == 403

        # Bad input is named, and nothing is created.
        for body in ({"whitelist": {"kind": "anyone"}, "contact_email": CONTACT},
                     {"whitelist": {"kind": "address", "value": "not an address"}, "contact_email": CONTACT},
                     {"whitelist": {"kind": "domain", "value": "@"}, "contact_email": CONTACT},
                     {"whitelist": {"kind": "address", "value": SENDER}, "contact_email": "nobody"},
                     {"whitelist": {"kind": "address", "value": SENDER}, "contact_email": CONTACT, "context": "x"}):
            r = http.post(f"{ORGS}/{org}/trusted-senders", headers=admin, json=body)
            assert r.status_code == 400 and r.json()["error"] == "invalid_input", body
        assert http.get(f"{ORGS}/{org}/trusted-senders", headers=admin).json() == []

        r = http.post(f"{ORGS}/{org}/trusted-senders", headers=admin, json={
            "name": "e-Boekhouden", "whitelist": {"kind": "address", "value": "Facturen@Boekhouder.test"},
            "contact_email": CONTACT})
        assert r.status_code == 201, r.text
        sender = r.json()
        assert sender["state"] == "draft" and sender["context"] == "sales_draft"
        assert sender["whitelist"] == {"kind": "address", "value": SENDER}
        assert sender["receiver_address"].endswith("@" + INTAKE_DOMAIN)
        sid = sender["id"]
        domain = http.post(f"{ORGS}/{org}/trusted-senders", headers=admin, json={
            "whitelist": {"kind": "domain", "value": "boekhouder.test"}, "contact_email": CONTACT,
            "context": "purchase"}).json()
        assert domain["context"] == "purchase" and domain["receiver_address"] != sender["receiver_address"]
        assert [s["id"] for s in http.get(f"{ORGS}/{org}/trusted-senders", headers=admin).json()] == [sid, domain["id"]]

        # The invitation tells the contact the receiver address; draft -> invited.
        assert http.post(f"{ORGS}/{org}/trusted-senders/{sid}/invitation", headers=member).status_code == 403
        r = http.post(f"{ORGS}/{org}/trusted-senders/{sid}/invitation", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "invited"
        mail = server.mail.wait_for(CONTACT, sender["receiver_address"])
        assert sender["receiver_address"] in mail.get_content()
        # A sender of one organisation is not reachable under another.
        assert http.post(f"{ORGS}/{other_org}/trusted-senders/{sid}/activate", headers=stranger).status_code == 404
        assert http.post(f"{ORGS}/{org}/trusted-senders/no-such-id/activate", headers=admin).status_code == 404

        r = http.post(f"{ORGS}/{org}/trusted-senders/{sid}/activate", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "active"
        again = http.post(f"{ORGS}/{org}/trusted-senders/{sid}/activate", headers=admin)
        assert again.status_code == 409 and again.json()["error"] == "invalid_transition"
        r = http.post(f"{ORGS}/{org}/trusted-senders/{sid}/deactivate", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "inactive"
        assert http.post(f"{ORGS}/{org}/trusted-senders/{sid}/invitation", headers=admin).status_code == 409

        # /api/v1: the operator's token reaches every organisation, a connection key its own only,
        # and a session is no API key there.
        op = node_token(server)
        assert len(http.get(f"{V1}/{org}/trusted-senders", headers=op).json()) == 2
        assert http.get(f"{V1}/999999/trusted-senders", headers=op).status_code == 404
        assert http.get(f"{V1}/{org}/trusted-senders", headers=admin).status_code == 401
        key = {"Authorization": "Bearer " + http.post(f"{ORGS}/{org}/keys", json={"name": "Bookkeeping"},
                                                      headers=admin).json()["key"]}
        other_key = {"Authorization": "Bearer " + http.post(f"{ORGS}/{other_org}/keys", json={"name": "x"},
                                                            headers=stranger).json()["key"]}
        # A connection key is an accounting package's credential for documents and drafts: it may not
        # widen the whitelist of its own organisation (W7.1: org admins only), nor see another's.
        r = http.post(f"{V1}/{org}/trusted-senders", headers=key, json={
            "whitelist": {"kind": "verified_users"}, "contact_email": CONTACT})
        assert r.status_code == 403 and r.json()["error"] == "not_allowed", r.text
        assert http.get(f"{V1}/{org}/trusted-senders", headers=key).status_code == 403
        assert http.post(f"{V1}/{org}/trusted-senders/{sid}/deactivate", headers=key).status_code == 403
        assert http.post(f"{V1}/{org}/trusted-senders/{sid}/invitation", headers=key).status_code == 403
        assert http.get(f"{V1}/{org}/trusted-senders", headers=other_key).status_code == 404
        assert http.post(f"{V1}/{org}/trusted-senders/{sid}/deactivate", headers=other_key).status_code == 404
        assert http.post(f"{V1}/{other_org}/trusted-senders/{sid}/deactivate",
                         headers=other_key).status_code == 403  # its own organisation: refused before any lookup
        assert len(http.get(f"{V1}/{org}/trusted-senders", headers=op).json()) == 2  # nothing was added
        r = http.post(f"{V1}/{org}/trusted-senders/{sid}/activate", headers=op)
        assert r.status_code == 200 and r.json()["state"] == "active"

        # A cookie-authenticated change needs the CSRF header, as every API call of the web app.
        with httpx2.Client(base_url=server.base_url, cookies={"pn_session": admin["Authorization"][7:]}) as browserish:
            r = browserish.post(f"{ORGS}/{org}/trusted-senders/{sid}/deactivate")
            assert r.status_code == 403 and r.json()["error"] == "csrf"
        audit = {e["action"] for e in http.get(f"/api/organisations/{org}/audit", headers=admin).json()}
        assert {"trusted_sender.created", "trusted_sender.send_invitation", "trusted_sender.activate",
                "trusted_sender.deactivate"} <= audit


def test_a_mailed_invoice_is_a_draft_members_save_and_send(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()["paths"]
        for base in ("/api/v1", "/api"):
            assert "get" in spec[f"{base}/organisations/{{org_id}}/drafts"]
            assert {"get", "patch"} <= set(spec[f"{base}/drafts/{{draft_id}}"])
            assert "post" in spec[f"{base}/drafts/{{draft_id}}/send"]

        admin = signed_up(server, http, "anna@seller.test")
        org = organisation(http, admin, "Seller BV", SELLER_ID, server)
        member = plain_member(server, http, "piet@seller.test", org)
        stranger = signed_up(server, http, "jan@elders.test")
        other_org = organisation(http, stranger, "Elders BV", OTHER_ID)
        to = http.post(f"{ORGS}/{org}/trusted-senders", headers=admin, json={
            "whitelist": {"kind": "address", "value": SENDER}, "contact_email": CONTACT}).json()["receiver_address"]

        raw = invoice_mail(SENDER, to, ("INV-A1.xml", invoice("INV-A1", seller=SELLER_ID, buyer=BUYER_NOWHERE)),
                           ("INV-A1.pdf", b"%PDF-1.4 mailed"))
        assert mail_to_node(server, to, raw) == 250
        assert mail_to_node(server, "nobody@" + INTAKE_DOMAIN, raw) == 550  # unknown address, at RCPT
        [draft] = wait_drafts(http, org, member, 1)  # any member sees the drafts
        assert (draft["number"], draft["state"], draft["received_from"], draft["receiver_address"]) == (
            "INV-A1", "draft", SENDER, to)
        assert draft["buyer"]["name"] == "Buyer NV" and draft["buyer"]["id"].endswith(BUYER_NOWHERE)
        assert draft["has_pdf"] is True
        did = draft["id"]
        assert http.get(f"{ORGS}/{org}/drafts?state=sent", headers=member).json() == []

        # Outsiders get 404, as if there were no such draft.
        assert http.get(f"{ORGS}/{org}/drafts", headers=stranger).status_code == 403
        for method, path in (("GET", f"/api/drafts/{did}"), ("PATCH", f"/api/drafts/{did}"),
                             ("POST", f"/api/drafts/{did}/send")):
            assert http.request(method, path, headers=stranger, json={}).status_code == 404, path
        assert http.get("/api/drafts/no-such-draft", headers=admin).status_code == 404
        assert http.get(f"/api/drafts/{did}").status_code == 401

        # A connection key reaches its own organisation's drafts only.
        key = {"Authorization": "Bearer " + http.post(f"/api/organisations/{org}/keys", json={"name": "k"},
                                                      headers=admin).json()["key"]}
        other_key = {"Authorization": "Bearer " + http.post(f"/api/organisations/{other_org}/keys", json={"name": "k"},
                                                            headers=stranger).json()["key"]}
        assert [d["id"] for d in http.get(f"{V1}/{org}/drafts", headers=key).json()] == [did]
        assert http.get(f"{V1}/{org}/drafts", headers=other_key).status_code == 404
        assert http.get(f"/api/v1/drafts/{did}", headers=other_key).status_code == 404
        assert http.get(f"/api/v1/drafts/{did}", headers=key).json()["number"] == "INV-A1"
        assert http.patch(f"/api/v1/drafts/{did}", headers=other_key, json={"description": "x"}).status_code == 404
        assert http.get(f"/api/v1/drafts/{did}", headers=member).status_code == 401  # a session is no key
        assert http.get(f"{V1}/{org}/drafts", headers=node_token(server)).json()[0]["id"] == did

        # Save: only the name and the description change.
        r = http.patch(f"/api/drafts/{did}", headers=member, json={"document_name": "  "})
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"
        r = http.patch(f"/api/drafts/{did}", headers=member,
                       json={"document_name": "November consulting", "description": "PO-1", "number": "HACKED"})
        assert r.status_code == 200, r.text
        assert (r.json()["document_name"], r.json()["description"], r.json()["number"]) == (
            "November consulting", "PO-1", "INV-A1")
        assert http.patch(f"/api/drafts/{did}", headers=member,
                          json={"description": "only this"}).json()["document_name"] == "November consulting"

        # The outbox's refusal is the answer, and the draft stays a draft.
        with server.node.sessions.begin() as db:
            db.get(Organisation, org).peppol_send = False
        r = http.post(f"/api/drafts/{did}/send", headers=member)
        assert r.status_code == 422 and r.json()["error"] == "sender-not-active", r.text
        assert http.get(f"/api/drafts/{did}", headers=member).json()["state"] == "draft"
        with server.node.sessions.begin() as db:
            db.get(Organisation, org).peppol_send = True

        # Send: into the outbox as the organisation; a second send answers with the same entry.
        r = http.post(f"/api/drafts/{did}/send", headers=member)
        assert r.status_code == 200, r.text
        sent, entry = r.json()["draft"], r.json()["entry"]
        assert sent["state"] == "sent" and sent["outbox_entry"] == entry["id"] and entry["number"] == "INV-A1"
        assert http.post(f"/api/drafts/{did}/send", headers=admin).json()["entry"]["id"] == entry["id"]
        assert http.patch(f"/api/drafts/{did}", headers=member, json={"document_name": "x"}).status_code == 409
        outbox = http.get(f"/api/v1/documents/{entry['id']}", headers=node_token(server))
        assert outbox.status_code == 200 and outbox.json()["sender"].endswith(SELLER_ID)
        assert [d["id"] for d in http.get(f"{ORGS}/{org}/drafts?state=sent", headers=admin).json()] == [did]
        audit = {e["action"] for e in http.get(f"/api/organisations/{org}/audit", headers=admin).json()}
        assert {"intake.mail_accepted", "intake.draft_saved", "intake.draft_sent"} <= audit
