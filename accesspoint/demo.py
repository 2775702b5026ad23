"""`make demo`: a small Peppol network on this machine, and two invoices through it.

    test PKI (shared) ── node A: SMP, AS4, local SML (SOAP + DNS)   seller's access point
                     └── node B: SMP, AS4, registers at A's SML     buyer's access point
    SMTP sink (aiosmtpd) for the email fallback

Each node is a real `peppol-node serve` process on HTTPS. Invoice 1 goes from
the seller on A to a buyer on B: A looks the buyer up (DNS NAPTR at the SML ->
B's SMP, signature and certificates checked) and sends over AS4; B stores it
and answers with a signed receipt, which A verifies. Invoice 2 goes to a buyer
on no Peppol network: the lookup finds nothing, so A mails the PDF and the UBL.
Invoice 3 arrives by email: the seller's accounting package, a trusted sender,
mails it to the receiver address node A's SMTP listener generated for it; it
becomes a draft, which is sent and leaves over AS4 like invoice 1.
Everything runs in a temporary folder and stops at the end.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import tempfile

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from importlib import resources
from pathlib import Path
from typing import Any

import httpx2

__all__ = ["run_demo", "free_ports"]

SELLER = "0106:12345678"          # KvK number of the seller (an accountancy in Utrecht)
BUYER_ON_PEPPOL = "0208:0123456749"  # KBO number of a buyer in Gent, served by node B
BUYER_OFF_PEPPOL = "0208:0314595348"  # a valid KBO number that no SML knows
PACKAGE_ADDRESS = "facturen@e-boekhouden.example"  # the seller's accounting package
INTAKE_DOMAIN = "intake.node-a.test"
DEADLINE = 45.0  # seconds for both deliveries; the whole demo stays well under a minute


_T0 = time.monotonic()


def _say(text: str) -> None:
    if text.startswith("=="):
        text = f"{text}  [{time.monotonic() - _T0:4.1f} s]"
    print(text, flush=True)


def free_ports(count: int) -> list[int]:
    """`count` ports free for TCP and UDP on 127.0.0.1 (the SML's DNS needs both); the multi-node
    benchmarks build the same kind of network."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class _Sink:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextlib.contextmanager
def _smtp_sink() -> Iterator[tuple[int, _Sink]]:
    from aiosmtpd.controller import Controller

    sink = _Sink()
    (port,) = free_ports(1)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, sink
    finally:
        controller.stop()


@contextlib.contextmanager
def _serve(directory: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`peppol-node serve DIR` as a child process, stopped (and reaped) on exit."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(directory)],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_healthy(http: httpx2.Client, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}; its log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx2.TransportError):
            if http.get(f"{url}/healthz").status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"node at {url} did not become healthy; its log:\n{log.read_text()[-3000:]}")


def _invoice(number: str, buyer: str, buyer_name: str, buyer_email: str) -> bytes:
    template = resources.files("accesspoint").joinpath("demo_invoice.xml").read_text(encoding="utf-8")
    today = date.today()
    scheme, value = buyer.split(":", 1)
    return template.format(
        number=number, issue_date=today.isoformat(), due_date=(today + timedelta(days=30)).isoformat(),
        buyer_reference=f"PO-{number}", seller_kvk=SELLER.split(":", 1)[1], buyer_scheme=scheme,
        buyer_value=value, buyer_name=buyer_name, buyer_email=buyer_email,
    ).encode()


def _publish(http: httpx2.Client, node: Any, smp_url: str, participant: str) -> None:
    """Publish `participant` in a node's SMP with the node's AS4 endpoint (and so at the SML)."""
    import smp
    import ubl

    pid = ubl.ParticipantId.parse(participant)
    auth = {"Authorization": f"Bearer {node.settings.web.api_token}"}
    http.put(smp.service_group_url(smp_url, pid), headers=auth).raise_for_status()
    now = datetime.now(UTC)
    endpoint = smp.Endpoint.with_certificate(
        smp.TRANSPORT_AS4_V2, node.settings.node.public_url + "/as4", node.ap_keys.cert,
        activation=now - timedelta(days=1), expiration=now + timedelta(days=365))
    for doctype in (ubl.BIS_BILLING_INVOICE, ubl.BIS_BILLING_CREDIT_NOTE):
        info = smp.ServiceInformation(pid, doctype, (smp.ProcessMetadata(ubl.BIS_BILLING_PROCESS, (endpoint,)),))
        http.put(smp.service_metadata_url(smp_url, pid, doctype), content=smp.render_service_metadata(info),
                 headers=auth).raise_for_status()


def _until_final(http: httpx2.Client, api: str, token: str, entry_ids: list[str]) -> dict[str, dict[str, Any]]:
    final = {"delivered", "sent", "opened", "failed", "needs_email"}
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + DEADLINE
    entries: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for entry_id in entry_ids:
            r = http.get(f"{api}/api/v1/documents/{entry_id}", headers=auth)
            r.raise_for_status()
            entries[entry_id] = r.json()
        if all(e["state"] in final for e in entries.values()):
            break
        time.sleep(0.3)
    return entries


def run_demo(base: Path) -> int:
    """Run the whole demo in `base`; returns the exit code (0 only when both deliveries succeeded)."""
    from accesspoint.config import load_settings
    from accesspoint.init import init_node
    from accesspoint.node import Node
    from accesspoint.organisations import register_organisation

    started = time.monotonic()
    port_a, sml_soap, sml_dns, port_b, intake_port = free_ports(5)
    pki = base / "pki"
    with _smtp_sink() as (smtp_port, sink):
        _say("== 1. a local Peppol network on 127.0.0.1 (shared test PKI mirroring Peppol G3)")
        dir_a = init_node(base / "node-a", seat_id="PNL000001", name="node-a (seller's AP)", port=port_a,
                          pki_dir=pki, sml_local=True, soap_port=sml_soap, dns_port=sml_dns, smtp_port=smtp_port)
        dir_b = init_node(base / "node-b", seat_id="PBE000002", name="node-b (buyer's AP)", port=port_b,
                          pki_dir=pki, sml_local=False, dns=f"127.0.0.1:{sml_dns}",
                          management_url=f"https://127.0.0.1:{sml_soap}", smtp_port=smtp_port)
        with open(dir_a / "node.toml", "a", encoding="utf-8") as toml:  # node A takes mail too
            toml.write(f'\n[intake]\nenabled = true\nport = {intake_port}\ndomain = "{INTAKE_DOMAIN}"\n')
        node_a, node_b = Node(load_settings(dir_a)), Node(load_settings(dir_b))
        url_a, url_b = node_a.settings.node.public_url, node_b.settings.node.public_url
        _say(f"   node A  {url_a}  seat PNL000001  SMP {url_a}/smp  local SML: DNS :{sml_dns}, SOAP :{sml_soap}")
        _say(f"   node B  {url_b}  seat PBE000002  SMP {url_b}/smp  (registers at A's SML)")
        _say(f"   SMTP sink on 127.0.0.1:{smtp_port}; node A's mail intake for @{INTAKE_DOMAIN} on :{intake_port}")

        register_organisation(node_a.sessions, "Boekhouding Jansen BV", [SELLER], now=node_a.now())
        register_organisation(node_b.sessions, "Bakkerij Peeters NV", [BUYER_ON_PEPPOL], now=node_b.now(),
                              receive=True)
        tls = ssl.create_default_context(cafile=str(dir_a / "keys" / "tls-ca.cert.pem"))
        _say("== starting both nodes (peppol-node serve)")
        # No keep-alive: an idle connection would hold each node's graceful shutdown open.
        with httpx2.Client(verify=tls, timeout=30, headers={"Connection": "close"}) as http, \
                contextlib.ExitStack() as nodes:
            proc_a = nodes.enter_context(_serve(dir_a, base / "node-a.log"))
            _wait_healthy(http, url_a, proc_a, base / "node-a.log")
            proc_b = nodes.enter_context(_serve(dir_b, base / "node-b.log"))
            _wait_healthy(http, url_b, proc_b, base / "node-b.log")
            # Stop A first: its delivery client keeps connections to B open until A exits.
            nodes.callback(_stop, proc_a)
            _say("== 2. node B publishes its buyer in its SMP, which registers it at the SML")
            _publish(http, node_b, f"{url_b}/smp", BUYER_ON_PEPPOL)
            _say(f"   {BUYER_ON_PEPPOL} (Bakkerij Peeters NV) -> {url_b}/smp -> {url_b}/as4")

            _say("== 3. the seller on node A submits two BIS Billing 3.0 invoices")
            auth = {"Authorization": f"Bearer {node_a.settings.web.api_token}"}
            docs = [
                ("INV-2026-001", BUYER_ON_PEPPOL, "Bakkerij Peeters NV", "facturen@peeters.example", None),
                ("INV-2026-002", BUYER_OFF_PEPPOL, "Slagerij Maes BV", "boekhouding@maes.example",
                 "boekhouding@maes.example"),
            ]
            ids: list[str] = []
            for number, buyer, name, mail, email in docs:
                xml = _invoice(number, buyer, name, mail)
                params = {"email": email} if email else {}
                pre = http.post(f"{url_a}/api/v1/documents/preflight", content=xml, headers=auth, params=params)
                pre.raise_for_status()
                r = http.post(f"{url_a}/api/v1/documents", content=xml, headers=auth, params=params)
                if r.status_code >= 300:
                    raise RuntimeError(f"submit refused: {r.status_code} {r.text}")
                ids.append(r.json()["id"])
                _say(f"   {number} to {name} ({buyer}): preflight says {pre.json().get('channel')}")

            _say("== 4. delivery")
            entries = _until_final(http, url_a, node_a.settings.web.api_token, ids)
            receipts = {}
            for entry_id in ids:
                rr = http.get(f"{url_a}/api/v1/documents/{entry_id}/receipt", headers=auth)
                receipts[entry_id] = rr.json() if rr.status_code == 200 else None
            mailed = _by_email(http, node_a, intake_port, auth)
            inbox_b = _inbox_of(node_b)
            _say("== stopping both nodes")
        for node in (node_a, node_b):
            node.engine.dispose()
        elapsed = time.monotonic() - started
        return _summary(docs, ids, entries, receipts, sink, inbox_b, elapsed, mailed)


def _by_email(http: httpx2.Client, node: Any, intake_port: int, auth: dict[str, str]) -> dict[str, Any]:
    """Step 5: a trusted sender mails invoice 3; its draft is sent. Returns the outbox entry."""
    import smtplib
    from email.message import EmailMessage

    from accesspoint.intake import Whitelist, WhitelistKind
    from accesspoint.intake.drafts import drafts_of, send_draft
    from accesspoint.intake.senders import create_sender
    from accesspoint.sharing.context import Context

    _say("== 5. the seller's accounting package emails invoice 3 to node A (trusted sender)")
    org_id = _organisation_of(node, SELLER)
    with node.sessions() as db:
        sender = create_sender(db, Context(now=node.now()), None, organisation_id=org_id, domain=INTAKE_DOMAIN,
                               whitelist=Whitelist(WhitelistKind.ADDRESS, PACKAGE_ADDRESS),
                               contact_email="administratie@jansen.example", name="e-boekhouden")
        db.commit()
    _say(f"   receiver address {sender.receiver_address}, accepting mail from {PACKAGE_ADDRESS}")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = PACKAGE_ADDRESS, sender.receiver_address, "Factuur INV-2026-003"
    mail.set_content("Bijgaand de factuur.\n")
    mail.add_attachment(_invoice("INV-2026-003", BUYER_ON_PEPPOL, "Bakkerij Peeters NV", "facturen@peeters.example"),
                        maintype="application", subtype="xml", filename="INV-2026-003.xml")
    with smtplib.SMTP("127.0.0.1", intake_port, timeout=30) as smtp:
        smtp.ehlo("e-boekhouden.example")
        smtp.send_message(mail)
    _say("   node A's SMTP listener stored it and answered 250")
    with node.sessions() as db:
        [draft] = drafts_of(db, None, org_id, state="draft")
    _say(f"   draft {draft.number} to {draft.buyer_name}; sending it (the UBL as mailed, unedited)")
    _, entry = send_draft(node.sessions, node.outbox, Context(now=node.now()), None, draft.id)
    url = node.settings.node.public_url
    return _until_final(http, url, node.settings.web.api_token, [entry.id])[entry.id]


def _organisation_of(node: Any, participant: str) -> int:
    import sqlalchemy as sa

    from accesspoint.db.tables.organisations import OrganisationIdentifier

    with node.sessions() as db:
        return int(db.scalar(sa.select(OrganisationIdentifier.organisation_id).where(
            OrganisationIdentifier.value == participant.lower())))


def _inbox_of(node: Any) -> list[tuple[str, str, str]]:
    import sqlalchemy as sa

    from accesspoint.db.tables.documents import Document

    with node.sessions() as s:
        rows = s.scalars(sa.select(Document).where(Document.direction == "in")).all()
        return [(d.number, d.connection, str(d.sender_id)) for d in rows]


def _summary(docs: list[tuple[Any, ...]], ids: list[str], entries: dict[str, dict[str, Any]],
             receipts: dict[str, Any], sink: _Sink, inbox_b: list[tuple[str, str, str]], elapsed: float,
             mailed: dict[str, Any]) -> int:
    _say("== 6. summary")
    ok = True
    for (number, buyer, name, _mail, _email), entry_id in zip(docs, ids, strict=True):
        e = entries.get(entry_id, {})
        _say(f"-- {number} to {name} ({buyer})")
        _say(f"   method: {e.get('channel')}   endpoint: {e.get('endpoint')}   state: {e.get('state')}")
        for ev in e.get("events", []):
            _say(f"     {ev.get('at', '')[:23]}  {ev.get('from') or '':>11} -> {ev.get('to'):<11} {ev.get('detail') or ''}")
        if e.get("error"):
            _say(f"   error: {e['error']}")
        receipt = receipts.get(entry_id)
        if receipt:
            shown = {k: v for k, v in receipt.items()
                     if isinstance(v, (str, int, float)) and "BEGIN CERTIFICATE" not in str(v)}
            _say("   receipt: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
            refs = next((v for v in receipt.values() if isinstance(v, list)), None)
            if refs:
                _say(f"   non-repudiation: {len(refs)} signed reference(s) echoed and checked against what we signed")
    as4_entry = entries.get(ids[0], {})
    if as4_entry.get("channel") != "peppol" or as4_entry.get("state") != "delivered" or not receipts.get(ids[0]):
        ok = False
        _say("FAILED: the first invoice was not delivered over AS4 with a verified receipt")
    if not any(number == docs[0][0] and conn == "peppol_purchase" for number, conn, _ in inbox_b):
        ok = False
        _say("FAILED: node B has no copy of the first invoice in the buyer's purchase invoices")
    else:
        _say(f"   node B stored {docs[0][0]} in Bakkerij Peeters NV's 'Peppol – purchase invoices'")
    mail_entry = entries.get(ids[1], {})
    mails = [m for m in sink.messages if m["To"] == docs[1][4]]
    if mail_entry.get("channel") != "email" or mail_entry.get("state") not in ("sent", "opened") or not mails:
        ok = False
        _say("FAILED: the second invoice was not delivered by email")
    else:
        parts = [p.get_filename() for p in mails[0].walk() if p.get_filename()]
        _say(f"   the SMTP sink received mail to {mails[0]['To']}: {mails[0]['Subject']!r}, attachments {parts}")
    _say(f"-- INV-2026-003, mailed by {PACKAGE_ADDRESS}, to Bakkerij Peeters NV")
    _say(f"   method: {mailed.get('channel')}   endpoint: {mailed.get('endpoint')}   state: {mailed.get('state')}")
    for ev in mailed.get("events", []):
        _say(f"     {ev.get('at', '')[:23]}  {ev.get('from') or '':>11} -> {ev.get('to'):<11} {ev.get('detail') or ''}")
    if mailed.get("channel") != "peppol" or mailed.get("state") != "delivered" or not mailed.get("has_receipt"):
        ok = False
        _say("FAILED: the mailed invoice did not leave over AS4 with a verified receipt")
    elif not any(number == "INV-2026-003" for number, _, _ in inbox_b):
        ok = False
        _say("FAILED: node B has no copy of the mailed invoice")
    else:
        _say("   arrived by email, left over AS4: node B stored INV-2026-003 and A verified its receipt")
    _say(f"== demo {'succeeded' if ok else 'FAILED'} in {elapsed:.1f} s")
    return 0 if ok else 1


def main(keep: bool = False) -> int:
    if keep:
        base = Path(tempfile.mkdtemp(prefix="peppol-demo-"))
        _say(f"(keeping {base})")
        return run_demo(base)
    with tempfile.TemporaryDirectory(prefix="peppol-demo-") as tmp:
        return run_demo(Path(tmp))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
