"""EC-9 on a real node over HTTP: export, request, approve with the password, and everything is gone."""

from __future__ import annotations

import io
import zipfile

import httpx2
import pytest

import ubl

from .test_api import signed_up
from .test_keys_api import outbox_entry

pytestmark = [pytest.mark.db]


def test_an_admin_exports_requests_and_approves_a_deletion(server):
    with httpx2.Client(base_url=server.base_url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        for path in ("/api/organisations/{org_id}/export", "/api/organisations/{org_id}/deletion",
                     "/api/deletions/{deletion_id}/approve", "/api/deletions"):
            assert path in spec["paths"], path
        owner = signed_up(server, http, "owner@bakkerij.test")
        other = signed_up(server, http, "owner@slagerij.test")
        org = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": ["0208:0123456749"]},
                        headers=owner).json()["id"]
        entry = outbox_entry(server, org, "iso6523-actorid-upis::0208:0123456749")
        pid = ubl.ParticipantId.parse("0208:0123456749")
        server.node.discovery.smp_store.add_participant(pid)
        key = http.post(f"/api/organisations/{org}/keys", json={"name": "k"}, headers=owner).json()["key"]
        assert http.get(f"/api/v1/documents/{entry}", headers={"Authorization": f"Bearer {key}"}).status_code == 200

        assert http.get(f"/api/organisations/{org}/export", headers=other).status_code == 403
        r = http.get(f"/api/organisations/{org}/export", headers=owner)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert len(zipfile.ZipFile(io.BytesIO(r.content)).namelist()) == 1

        assert http.post(f"/api/organisations/{org}/deletion", json={}, headers=owner).status_code == 400
        assert http.post(f"/api/organisations/{org}/deletion", json={"export_acknowledged": True},
                         headers=other).status_code == 403
        r = http.post(f"/api/organisations/{org}/deletion", json={"export_acknowledged": True}, headers=owner)
        assert r.status_code == 200, r.text
        did = r.json()["deletion_id"]
        assert [d["deletion_id"] for d in http.get("/api/deletions", headers=owner).json()] == [did]
        assert http.get("/api/deletions", headers=other).json() == []
        assert http.post(f"/api/deletions/{did}/approve", json={}, headers=other).status_code == 403
        assert http.post(f"/api/deletions/{did}/approve", json={"password": "nope"}, headers=owner).status_code == 400
        r = http.post(f"/api/deletions/{did}/approve", json={"password": "a long passphrase"}, headers=owner)
        assert r.status_code == 200, r.text
        assert r.json()["documents_deleted"] == 1 and r.json()["keys_revoked"] == 1

        assert http.get(f"/api/organisations/{org}", headers=owner).status_code == 403
        assert http.get(f"/api/v1/documents/{entry}", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        node_token = {"Authorization": f"Bearer {server.node.settings.web.api_token}"}
        assert http.get(f"/api/v1/documents/{entry}", headers=node_token).status_code == 404
        assert not server.node.discovery.smp_store.has_participant(pid)
        mine = http.get("/api/activity", headers=owner)
        assert mine.status_code == 200 and "organisation.deleted" in {e["action"] for e in mine.json()}
