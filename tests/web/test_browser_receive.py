"""W1.4 and EC-7 on a small real network: node A (the web app under test, with the local SML: DNS and SOAP
over mutual TLS) and node B, another access point registered at A's SML, both served by uvicorn on HTTPS.

- The receive switch on the organisation page publishes the participant in A's SMP and registers it at
  the SML, so a sender's lookup (`peppol-node lookup --node`) finds A's endpoint; switching off takes it
  off both. Same code as `org add --receive` / `org update --no-receive`.
- A participant B already receives for is registered on A as a sender only, and the page, the API and
  the CLI name B's access point (endpoint URL and certificate subject from B's SMP).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

import smp
import ubl
from accesspoint.config import load_settings
from accesspoint.node import Node
from tests.accesspoint.test_two_nodes import Served, _free_base_port
from tests.conftest import run_cli
from tests.web.browsing import expect, follow
from tests.web.conftest import Server
from tests.web.test_api import signed_up
from tests.web.test_browser import activate, add_organisation, sign_up_verified

pytestmark = [pytest.mark.db, pytest.mark.slow]

SELLER_ID = "0208:0123456749"
ELSEWHERE_ID = "0208:0314595348"  # receives at node B before anyone asks node A
WIDE = {"width": 1280, "height": 900}


@dataclass
class Network:
    a: Server
    dir_a: Path
    env_a: dict[str, str]
    node_b: Node
    port_b: int

    def lookup(self, pid: str) -> dict:
        """A sender's view of `pid`, as `peppol-node lookup --node A` finds it (SML DNS, SMP, endpoint)."""
        return json.loads(run_cli("lookup", pid, "--node", str(self.dir_a), env=self.env_a).stdout)


@pytest.fixture
def network(tmp_path: Path, database_url: str, smtp, shared_pki: Path) -> Iterator[Network]:
    from accesspoint.init import init_node

    box, smtp_port = smtp
    port_a = _free_base_port()
    dir_a = init_node(tmp_path / "a", seat_id="PBE000001", port=port_a, pki_dir=shared_pki, sml_local=True,
                      smtp_port=smtp_port)
    port_b = _free_base_port()
    while port_b in range(port_a - 2, port_a + 3):
        port_b = _free_base_port()
    dir_b = init_node(tmp_path / "b", seat_id="PBE000002", port=port_b, pki_dir=shared_pki, sml_local=False,
                      dns=f"127.0.0.1:{port_a + 2}", management_url=f"https://127.0.0.1:{port_a + 1}")
    quiet = {"PEPPOL_DELIVERY_WORKERS": "0", "PEPPOL_REVOCATION_ENABLED": "false",
             "PEPPOL_SMTP_HOST": "127.0.0.1", "PEPPOL_SMTP_PORT": str(smtp_port)}
    env_a = {**quiet, "PEPPOL_DATABASE_URL": database_url}
    node_a, node_b = Node(load_settings(dir_a, env_a)), Node(load_settings(dir_b, quiet))
    served = [Served(node_a)]
    try:
        served.append(Served(node_b))
        publish_at_b(node_b, port_b, ELSEWHERE_ID)
        yield Network(Server(node_a, f"https://127.0.0.1:{port_a}", box), dir_a, env_a, node_b, port_b)
    finally:
        for srv in reversed(served):
            srv.stop()
        for node in (node_a, node_b):
            node.engine.dispose()


def publish_at_b(node_b: Node, port_b: int, pid_text: str) -> None:
    """B's operator publishes `pid` in B's SMP (its write API), which registers it at A's local SML."""
    pid = ubl.ParticipantId.parse(pid_text)
    ca = str(node_b.settings.path("keys/tls-ca.cert.pem"))
    with httpx2.Client(verify=ssl.create_default_context(cafile=ca), timeout=30) as http:
        base = f"https://127.0.0.1:{port_b}/smp"
        auth = {"Authorization": f"Bearer {node_b.settings.web.api_token}"}
        http.put(smp.service_group_url(base, pid), headers=auth).raise_for_status()
        now = datetime.now(UTC)
        endpoint = smp.Endpoint.with_certificate(
            smp.TRANSPORT_AS4_V2, f"https://127.0.0.1:{port_b}/as4", node_b.ap_keys.cert,
            activation=now - timedelta(days=1), expiration=now + timedelta(days=365))
        info = smp.ServiceInformation(pid, ubl.BIS_BILLING_INVOICE, (
            smp.ProcessMetadata(ubl.BIS_BILLING_PROCESS, (endpoint,)),))
        http.put(smp.service_metadata_url(base, pid, ubl.BIS_BILLING_INVOICE),
                 content=smp.render_service_metadata(info), headers=auth).raise_for_status()


def shots(shot, page, name: str) -> None:
    """The page at phone and desktop width: the `shot` fixture takes both (NAME-390.png, NAME-1280.png)."""
    shot(page, name)


def test_receive_switch_publishes_in_our_smp_and_the_sml_and_takes_it_off(network, browser, shot):
    a = browser.new_context(viewport=WIDE, ignore_https_errors=True).new_page()
    sign_up_verified(a, network.a, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, network.a, "Seller BV", SELLER_ID)
    card = a.locator("#receive")
    # A draft may not receive: no switch, and the page says when it can.
    expect(card).to_contain_text("once the organisation is active")
    assert a.locator("#receive-form").count() == 0
    activate(network.a, org)
    a.reload()
    row = card.locator(f"li[data-participant='{SELLER_ID}']")
    expect(row).to_have_attribute("data-state", "not_published")
    shots(shot, a, "40-receive-off")
    follow(a, "#receive-form button:has-text('Receive invoices here')")
    expect(a.locator(".flash")).to_have_text("Receiving on this node is on.")
    expect(card).to_have_attribute("data-receive", "on")
    expect(row).to_have_attribute("data-state", "registered")
    expect(row).to_contain_text("published in our SMP and registered at the SML")
    shots(shot, a, "41-receive-on")
    found = network.lookup(SELLER_ID)
    assert found["found"] is True, found
    assert found["endpoint_url"] == f"{network.a.base_url}/as4"

    follow(a, "#receive-form button:has-text('Stop receiving here')")
    expect(a.locator(".flash")).to_have_text("Receiving on this node is off.")
    expect(card).to_have_attribute("data-receive", "off")
    expect(row).to_have_attribute("data-state", "withdrawn")
    gone = network.lookup(SELLER_ID)
    assert gone["found"] is False and gone["error"]["stage"] == "dns", gone
    a.context.close()


def test_a_participant_receiving_at_another_ap_is_registered_as_sender_only_and_the_ap_is_named(
        network, browser, shot):
    b_endpoint = f"https://127.0.0.1:{network.port_b}/as4"
    b_subject = network.node_b.ap_keys.cert.subject.rfc4514_string()
    assert network.lookup(ELSEWHERE_ID)["endpoint_url"] == b_endpoint  # B receives for it already
    a = browser.new_context(viewport=WIDE, ignore_https_errors=True).new_page()
    sign_up_verified(a, network.a, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, network.a, "Bakkerij Peeters NV", ELSEWHERE_ID)
    activate(network.a, org)
    a.reload()
    follow(a, "#receive-form button:has-text('Receive invoices here')")
    expect(a.locator(".flash")).to_contain_text(f"already receives at the access point at {b_endpoint}")
    expect(a.locator(".flash")).to_contain_text(b_subject)
    row = a.locator(f"#receive li[data-participant='{ELSEWHERE_ID}']")
    expect(row).to_have_attribute("data-state", "sender_only")
    expect(row).to_contain_text(f"{b_endpoint} (certificate {b_subject}; SMP https://127.0.0.1:{network.port_b}/smp)")
    expect(row).to_contain_text("ask that access point to deregister it or for a migration key")
    expect(a.locator("#receive")).to_have_attribute("data-receive", "off")
    shots(shot, a, "42-receive-sender-only")
    # Nothing changed on the network: senders still reach B; and the organisation sends from A.
    assert network.lookup(ELSEWHERE_ID)["endpoint_url"] == b_endpoint
    follow(a, "tr[data-kind=peppol_sales] th a")
    expect(a.locator("input[name=document]")).to_have_count(1)
    a.context.close()


def test_receive_api_twin_and_the_cli_name_the_other_access_point(network):
    b_endpoint = f"https://127.0.0.1:{network.port_b}/as4"
    ca = str(network.dir_a / "keys/tls-ca.cert.pem")
    with httpx2.Client(base_url=network.a.base_url, verify=ssl.create_default_context(cafile=ca), timeout=60) as http:
        assert "post" in http.get("/openapi.json").json()["paths"]["/api/organisations/{org_id}/receive"]
        acc = signed_up(network.a, http, "anna@boekhouder.test")
        org = http.post("/api/organisations", json={"name": "Seller BV", "identifiers": [SELLER_ID]}, headers=acc)
        org_id = org.json()["id"]
        draft = http.post(f"/api/organisations/{org_id}/receive", headers=acc, json={"receive": True})
        assert draft.status_code == 400 and "Not activated yet" in draft.json()["message"]
        activate(network.a, org_id)
        on = http.post(f"/api/organisations/{org_id}/receive", headers=acc, json={"receive": True}).json()
        assert on["receive"] is True and on["elsewhere"] == []
        assert on["identifiers"] == [{"participant_id": SELLER_ID, "state": "registered",
                                      "words": "Receiving here: published in our SMP and registered at the SML"}]
        other = http.post("/api/organisations", json={"name": "Bakkerij", "identifiers": [ELSEWHERE_ID]}, headers=acc)
        activate(network.a, other.json()["id"])
        sender_only = http.post(f"/api/organisations/{other.json()['id']}/receive", headers=acc,
                                json={"receive": True}).json()
        assert sender_only["receive"] is False and sender_only["identifiers"][0]["state"] == "sender_only"
        [elsewhere] = sender_only["elsewhere"]
        assert elsewhere["endpoint_url"] == b_endpoint and "CN=PBE000002" in elsewhere["certificate_subject"]
        assert elsewhere["smp_url"] == f"https://127.0.0.1:{network.port_b}/smp"
        off = http.post(f"/api/organisations/{org_id}/receive", headers=acc, json={"receive": False}).json()
        assert off["receive"] is False and off["identifiers"][0]["state"] == "withdrawn"
        assert network.lookup(SELLER_ID)["found"] is False

    # The CLI runs the same code: `org add --receive` of a participant B receives for names B.
    third = "0208:0451563506"
    publish_at_b(network.node_b, network.port_b, third)
    added = run_cli("org", "add", str(network.dir_a), "Slagerij Jansen", third, "--receive", env=network.env_a)
    assert added.returncode == 0, added.stderr
    assert f"iso6523-actorid-upis::{third}: sender only. {third} already receives at the " \
           f"access point at {b_endpoint} (certificate CN=PBE000002" in added.stdout, added.stdout
    listed = run_cli("org", "list", str(network.dir_a), env=network.env_a).stdout
    assert "Slagerij Jansen  (active; send on, receive off)" in listed
    assert f"SML sender_only: {third} already receives at the access point at {b_endpoint}" in listed
    assert network.lookup(third)["endpoint_url"] == b_endpoint


def test_preflight_to_a_buyer_at_another_access_point_names_its_endpoint(network, browser, shot):
    """W8.2 on the real path: A's router asks the SML (DNS), then B's SMP, before anything is sent; the page
    names the access point the invoice will go to, and only *Send* queues it."""
    from accesspoint.db.tables.documents import OutboxEntry
    from tests.accesspoint.helpers import invoice
    from tests.web.test_browser_outbox_pages import upload

    a = browser.new_context(viewport=WIDE, ignore_https_errors=True).new_page()
    sign_up_verified(a, network.a, "anna@boekhouder.test", "Anna", "Boekhouder & Co")
    org = add_organisation(a, network.a, "Seller BV", SELLER_ID)
    activate(network.a, org)
    a.goto(f"{network.a.base_url}/orgs/{org}")
    follow(a, "tr[data-kind=peppol_sales] th a")
    upload(a, invoice("REMOTE-1", seller=SELLER_ID, buyer=ELSEWHERE_ID))
    expect(a.locator("#preflight")).to_have_attribute("data-route", "peppol")
    expect(a.locator("#route")).to_have_text(
        f"This invoice will go to Buyer NV · {ELSEWHERE_ID} over Peppol "
        f"(access point https://127.0.0.1:{network.port_b}/as4).")
    assert a.locator("#send-form input[name=email]").count() == 0  # on Peppol: nothing to ask
    with network.a.node.sessions() as db:
        assert db.query(OutboxEntry).count() == 0  # the preflight sent nothing
    shots(shot, a, "57-preflight-buyer-at-another-ap")
    follow(a, "#send-form button:has-text('Send')")
    expect(a.locator(".flash")).to_contain_text("queued for sending")
    with network.a.node.sessions() as db:
        assert [e.state for e in db.query(OutboxEntry).all()] == ["created"]  # A runs no delivery workers here
    a.context.close()
