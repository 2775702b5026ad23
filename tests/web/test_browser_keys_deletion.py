"""Connection keys and organisation deletion as an admin does them in Chromium (real node, real SMTP)."""

from __future__ import annotations

import io
import zipfile

import httpx2
import pytest

from tests.web.browsing import follow

from .test_browser import DESKTOP, add_organisation, sign_up_verified
from .test_keys_api import outbox_entry

pytestmark = [pytest.mark.db, pytest.mark.slow]


def test_admin_issues_a_key_then_exports_and_deletes_the_organisation(server, browser, shot):
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = ctx.new_page()
    sign_up_verified(page, server, "owner@bakkerij.test", "Owner", "Bakkerij")
    org = add_organisation(page, server, "Bakkerij Peeters", "0208:0123456749")
    entry = outbox_entry(server, org, "iso6523-actorid-upis::0208:0123456749")

    follow(page, "text=Connection keys")
    page.fill("input[name=name]", "Bookkeeping")
    follow(page, "text=Issue key")
    secret = page.locator("#issued-key code.secret").inner_text()
    shot(page, "30-key-issued")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx2.get(f"{server.base_url}/api/v1/documents/{entry}", headers=bearer).status_code == 200
    page.goto(f"{server.base_url}/orgs/{org}/keys")
    assert page.locator("#issued-key").count() == 0 and secret not in page.content()  # shown once
    assert page.locator(".key-status").inner_text() == "active"

    page.goto(f"{server.base_url}/orgs/{org}")
    follow(page, "text=Delete this organisation")
    with page.expect_download() as download:
        page.click("#export")
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as zf:
        assert len(zf.namelist()) == 1
    page.check("#delete-form input[name=export_acknowledged]")
    follow(page, "#delete-form button")
    shot(page, "31-deletion-requested")
    page.goto(server.base_url + "/")
    follow(page, ".deletion-pending a")  # the home page points admins to what waits for their approval
    page.fill("#approve-form input[name=password]", "a long passphrase")
    follow(page, "#approve-form button")
    assert "Bakkerij Peeters" not in page.content()
    assert page.goto(f"{server.base_url}/orgs/{org}").status == 403
    assert httpx2.get(f"{server.base_url}/api/v1/documents/{entry}", headers=bearer).status_code == 401
    ctx.close()
