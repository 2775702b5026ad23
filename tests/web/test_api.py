"""The JSON API against a real node over HTTP (uvicorn on 127.0.0.1, aiosmtpd for the mail)."""

from __future__ import annotations

import httpx2
import pytest

pytestmark = [pytest.mark.db]


def signed_up(server, client: httpx2.Client, email: str) -> dict[str, str]:
    r = client.post("/api/signup", json={"email": email, "password": "a long passphrase", "name": email})
    assert r.status_code == 202
    token = server.mail.link(server.mail.wait_for(email, "Confirm your email")).rsplit("/", 1)[1]
    r = client.post("/api/verify", json={"token": token})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['session_token']}"}


def test_api_share_request_and_openapi(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        for path in ("/api/session", "/api/organisations/{org_id}/shares", "/api/invitations/accept",
                     "/api/requests/new", "/api/inbox/requests/{request_id}/accept",
                     "/api/connections/{connection_id}/documents", "/api/organisations/{org_id}/audit"):
            assert path in spec["paths"], path
        assert spec["paths"]["/api/organisations/{org_id}/shares"]["post"]["summary"] == "Invite a client to connections"
        assert http.get("/api/me").status_code == 401

        acc = signed_up(server, http, "anna@boekhouder.test")
        r = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": ["0208:0123456748"]}, headers=acc)
        assert r.status_code == 400 and r.json()["error"] == "invalid_input"  # wrong check digit
        r = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": ["0208:0123456749"]}, headers=acc)
        assert r.status_code == 201
        org = r.json()["id"]

        # SEC-6: inviting an address with an account answers exactly like one without.
        client_h = signed_up(server, http, "jan@bakkerij.test")
        known = http.post(f"/api/organisations/{org}/shares", headers=acc,
                          json={"email": "jan@bakkerij.test", "connections": ["peppol_purchase"]})
        unknown = http.post(f"/api/organisations/{org}/shares", headers=acc,
                            json={"email": "nobody@bakkerij.test", "connections": ["peppol_sales"]})
        assert known.status_code == unknown.status_code == 200
        assert set(known.json()) == set(unknown.json()) == {"invitation_id"}

        # The client cannot see the organisation (a pending invite grants nothing; SEC-12).
        assert http.get(f"/api/organisations/{org}", headers=client_h).status_code == 403
        link = server.mail.link(server.mail.wait_for("jan@bakkerij.test", "Bakkerij"))
        token = link.rsplit("/", 1)[1]
        preview = http.post("/api/invitations/preview", json={"token": token})
        assert preview.status_code == 200 and preview.json()["connections"] == ["peppol_purchase"]
        assert preview.json()["firm"] == "anna@boekhouder.test" and preview.json()["identifiers"] == ["0208:0123456749"]
        assert http.post("/api/invitations/preview", json={"token": "x" * 43}).status_code == 410
        # A cookie-authenticated POST without the CSRF header is refused.
        session_token = client_h["Authorization"][7:]
        with httpx2.Client(base_url=server.base_url, cookies={"pn_session": session_token}) as browserish:
            r = browserish.post("/api/invitations/accept", json={"token": token, "connections": ["peppol_purchase"]})
            assert r.status_code == 403 and r.json()["error"] == "csrf"
            assert browserish.get("/api/me").json()["user"]["email"] == "jan@bakkerij.test"
        r = http.post("/api/invitations/accept", json={"token": token, "connections": ["peppol_purchase"]},
                      headers=client_h)
        assert r.status_code == 200 and len(r.json()["share_ids"]) == 1
        r = http.post("/api/invitations/accept", json={"token": token, "connections": ["peppol_purchase"]},
                      headers=client_h)
        assert r.status_code == 410 and r.json()["error"] == "invite_invalid"
        shared = http.get("/api/shared-connections", headers=client_h).json()
        assert [s["kind"] for s in shared] == ["peppol_purchase"]
        docs = http.get(f"/api/connections/{shared[0]['connection_id']}/documents", headers=client_h)
        assert docs.status_code == 200 and docs.json()["documents"] == []
        state = {c["kind"]: c["state"] for c in http.get(f"/api/organisations/{org}", headers=acc).json()["connections"]}
        assert state == {"peppol_purchase": "active", "peppol_sales": "invited"}

        # W3 over the API: request, client accepts from the inbox, partnership and membership, then revoke.
        r = http.post("/api/requests/new", headers=acc, json={
            "client_name": "Slagerij Jansen", "client_email": "jan@bakkerij.test",
            "client_identifier": "0208:0314595348", "costs_paid_by": "intermediary"})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert "Authorisation request" in server.mail.wait_for("jan@bakkerij.test", "Authorisation request")["Subject"]
        inbox = http.get("/api/inbox/requests", headers=client_h).json()
        assert [(q["id"], q["status"], q["firm"]) for q in inbox] == [(rid, "pending", "anna@boekhouder.test")]
        one = http.get(f"/api/inbox/requests/{rid}", headers=client_h).json()
        assert (one["client_identifier"], one["costs_paid_by"]) == ("0208:0314595348", "intermediary")
        assert http.get(f"/api/inbox/requests/{rid}", headers=acc).status_code == 403
        r = http.post(f"/api/inbox/requests/{rid}/accept", headers=client_h, json={})
        assert r.status_code == 200, r.text
        client_org = r.json()["organisation_id"]
        seen = http.get(f"/api/organisations/{client_org}", headers=acc)
        assert seen.status_code == 200 and seen.json()["payer"].startswith("intermediary:")
        assert [q["status"] for q in http.get("/api/requests?status=accepted", headers=acc).json()] == ["accepted"]
        assert server.mail.wait_for("anna@boekhouder.test", "Your authorisation request")["Subject"].endswith("accepted")
        assert http.post(f"/api/requests/{rid}/revoke", headers=client_h, json={}).status_code == 200
        assert http.get(f"/api/organisations/{client_org}", headers=acc).status_code == 403
        audit = http.get(f"/api/organisations/{client_org}/audit", headers=client_h).json()
        assert {"request.accepted", "request.revoked", "organisation.payer_changed"} <= {e["action"] for e in audit}

        # Logout ends the session server-side.
        assert http.post("/api/session/logout", headers=acc, json={}).status_code == 200
        assert http.get("/api/me", headers=acc).status_code == 401
