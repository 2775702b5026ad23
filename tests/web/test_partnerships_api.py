"""W6 over the JSON API of a real node, and SEC-12: a partnership alone shows the partner nothing."""

from __future__ import annotations

import httpx2
import pytest
import sqlalchemy as sa

from accesspoint.db.tables.documents import Document
from tests.web.test_api import signed_up
from tests.web.test_browser_ledger import receive, switch_receiving_on

pytestmark = [pytest.mark.db]

CLIENT_ID = "0208:0123456749"


def make_rm(http, headers) -> int:
    me = http.get("/api/me", headers=headers).json()["user"]["id"]
    r = http.post(f"/api/team/users/{me}/relationship-manager", headers=headers, json={"relationship_manager": True})
    assert r.status_code == 200, r.text
    return me


def test_api_partnership_lifecycle_and_openapi(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        for path in ("/api/partners/new", "/api/partners/{partnership_id}/accept", "/api/partners/{partnership_id}/reject",
                     "/api/partners/{partnership_id}/end", "/api/team/users/{user_id}/relationship-manager"):
            assert "post" in spec["paths"][path], path
        assert "get" in spec["paths"]["/api/partners"]
        anna = signed_up(server, http, "anna@boekhouder.test")
        piet = signed_up(server, http, "piet@andere.test")
        # Not yet a relationship manager: refused, and the answer for the other side is the same either way.
        r = http.post("/api/partners/new", headers=anna, json={"email": "piet@andere.test"})
        assert r.status_code == 403 and r.json()["error"] == "not_allowed"
        make_rm(http, anna)
        not_rm = http.post("/api/partners/new", headers=anna, json={"email": "piet@andere.test"})
        nobody = http.post("/api/partners/new", headers=anna, json={"email": "nobody@nowhere.test"})
        assert not_rm.status_code == nobody.status_code == 400 and not_rm.json() == nobody.json()
        make_rm(http, piet)
        r = http.post("/api/partners/new", headers=anna, json={"email": "piet@andere.test"})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        mail = server.mail.wait_for("piet@andere.test", "Partnership request from")
        assert "anna@boekhouder.test" in mail.get_content() and f"{server.base_url}/partners" in mail.get_content()
        theirs = http.get("/api/partners", headers=piet).json()
        assert [(p["id"], p["status"], p["direction"], p["may_decide"]) for p in theirs] == [
            (pid, "pending", "incoming", True)]
        assert http.post(f"/api/partners/{pid}/accept", headers=anna, json={}).status_code == 403
        assert http.post(f"/api/partners/{pid}/accept", headers=piet, json={}).status_code == 200
        server.mail.wait_for("anna@boekhouder.test", "has accepted the partnership")
        assert http.post(f"/api/partners/{pid}/reject", headers=piet, json={}).status_code == 409
        ours = http.get("/api/partners", headers=anna).json()
        assert [(p["status"], p["may_end"]) for p in ours] == [("active", True)]
        assert http.post(f"/api/partners/{pid}/end", headers=piet, json={}).status_code == 200
        server.mail.wait_for("anna@boekhouder.test", "has ended the partnership")
        audit = http.get("/api/activity", headers=piet).json()
        assert {"partnership.accepted", "partnership.ended"} <= {e["action"] for e in audit}


def test_a_partnership_alone_shows_the_partner_no_organisation_and_no_document(server):
    """SEC-12: with an active partnership, the partner's users get 403 on every organisation, connection,
    document and transaction view of the other side; only an accepted authorisation request opens them."""
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        anna, piet = signed_up(server, http, "anna@boekhouder.test"), signed_up(server, http, "piet@andere.test")
        make_rm(http, anna)
        make_rm(http, piet)
        org = http.post("/api/organisations", json={"name": "Andere Bakkerij", "identifiers": [CLIENT_ID],
                                                    "held_for": "own"}, headers=piet).json()["id"]
        switch_receiving_on(server, org)
        receive(server, "IN-SEC12")
        with server.node.sessions() as db:
            doc = db.scalar(sa.select(Document.public_id).where(Document.number == "IN-SEC12"))
        conns = [c["connection_id"] for c in http.get(f"/api/organisations/{org}", headers=piet).json()["connections"]]
        pid = http.post("/api/partners/new", headers=anna, json={"email": "piet@andere.test"}).json()["id"]
        assert http.post(f"/api/partners/{pid}/accept", headers=piet, json={}).status_code == 200

        def closed_to_anna() -> None:
            assert http.get("/api/me", headers=anna).json()["organisations"] == []
            assert http.get("/api/organisations", headers=anna).json() == []
            for path in (f"/api/organisations/{org}", f"/api/organisations/{org}/members",
                         f"/api/organisations/{org}/audit", f"/api/organisations/{org}/transactions",
                         f"/api/shared-documents/{doc}", f"/api/shared-documents/{doc}/ubl",
                         *(f"/api/connections/{c}/documents" for c in conns)):
                r = http.get(path, headers=anna)
                assert r.status_code == 403, (path, r.status_code)
            page = http.get(f"/documents/{doc}", headers=anna)
            assert page.status_code == 403 and "IN-SEC12" not in page.text
            r = http.post(f"/api/connections/{conns[0]}/documents", headers=anna, json={"ubl": "<x/>"})
            assert r.status_code == 403

        closed_to_anna()
        # What does open it: a mandate the client accepts (then only that organisation).
        rid = http.post("/api/requests/new", headers=anna, json={
            "client_name": "Andere Bakkerij", "client_email": "piet@andere.test", "client_identifier": CLIENT_ID,
            "costs_paid_by": "client"}).json()["id"]
        assert http.post(f"/api/inbox/requests/{rid}/accept", headers=piet,
                         json={"organisation_id": org}).status_code == 200
        assert http.get(f"/api/shared-documents/{doc}", headers=anna).status_code == 200
        assert all(http.get(f"/api/connections/{c}/documents", headers=anna).status_code == 200 for c in conns)
        assert http.get(f"/api/organisations/{org}/transactions", headers=anna).status_code == 200
        assert [p["status"] for p in http.get("/api/partners", headers=anna).json()] == ["active"]  # reused
        # Revoked: closed again, while the partnership the firms formed stays.
        assert http.post(f"/api/requests/{rid}/revoke", headers=piet, json={}).status_code == 200
        closed_to_anna()
        assert [p["status"] for p in http.get("/api/partners", headers=anna).json()] == ["active"]
