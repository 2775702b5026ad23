"""The intake listener over real SMTP: smtplib -> aiosmtpd -> the database (SQLite and PostgreSQL),
with the official BIS rules, DKIM/DMARC from a real DNS server, and rejections mailed to a real
SMTP sink."""

from __future__ import annotations

import json
import smtplib
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from accesspoint.config import SmtpSettings
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.intake import IntakeDraft, IntakeMessage, TrustedSender
from accesspoint.db.tables.sharing import AuditEvent
from accesspoint.intake import Whitelist, WhitelistKind
from accesspoint.intake.dmarc import DmarcChecker
from accesspoint.intake.receive import Intake
from accesspoint.intake.senders import create_sender, set_state
from accesspoint.mail import SmtpMailer
from accesspoint.sharing.context import Context
from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions, start_smtp
from tests.intake.harness import DkimKey, Listening, TxtDns, invoice_mail

pytestmark = pytest.mark.db
CONTACT = "boekhouding@seller.example"


@pytest.fixture(scope="module")
def bis_validator(testdata):
    import ubl
    from accesspoint.delivery.service import ubl_validator

    return ubl_validator(ubl.Validator(rules_dir=testdata / "phive-rules" / "openpeppol-2026.5",
                                       xsd_dir=testdata / "ubl-2.1" / "xsd"))


@pytest.fixture(scope="module")
def dkim_key():
    return DkimKey("boekhouder.example")


@pytest.fixture
def world(database_url, bis_validator, dkim_key):
    engine, sessions = make_sessions(database_url)
    org = add_organisation(sessions, "Seller BV", SELLER, receive=False)
    controller, sink = start_smtp()
    dns = TxtDns({dkim_key.record_name: dkim_key.record, "_dmarc.boekhouder.example": "v=DMARC1; p=reject"})
    intake = Intake(sessions, clock=lambda: datetime.now(UTC),
                    mailer=SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port)),
                    validator=bis_validator, dmarc=DmarcChecker(dns.address, timeout=5))
    listening = Listening(intake)

    class World:
        pass

    w = World()
    w.sessions, w.org, w.sink, w.port, w.intake = sessions, org, sink, listening.port, intake

    def sender(kind: WhitelistKind, value: str = "", context: str = "sales_draft") -> str:
        with sessions() as db:
            v = create_sender(db, Context(now=datetime.now(UTC)), None, organisation_id=org, domain="intake.test",
                              whitelist=Whitelist(kind, value), contact_email=CONTACT, context=context)
            db.commit()
        return v.receiver_address

    def send(raw: bytes, to: str, mail_from: str = "bounce@boekhouder.example") -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", listening.port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail(mail_from)
            code, reply = s.rcpt(to)
            if code != 250:
                return code, reply
            return s.data(raw)

    def rejections(timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with sink.lock:
                found = [m for m in sink.messages if m["To"] == CONTACT and "refused" in m["Subject"]]
            if found:
                return found
            time.sleep(0.05)
        return []

    def count(table) -> int:
        with sessions() as db:
            return db.scalar(sa.select(sa.func.count()).select_from(table))

    def audit_actions() -> list[str]:
        with sessions() as db:
            return list(db.scalars(sa.select(AuditEvent.action).where(AuditEvent.organisation_id == org)
                                   .order_by(AuditEvent.id)))

    w.sender, w.send, w.rejections, w.count, w.audit_actions = sender, send, rejections, count, audit_actions
    try:
        yield w
    finally:
        listening.close()
        dns.close()
        controller.stop()
        engine.dispose()


def _state(world, address: str) -> str:
    with world.sessions() as db:
        return db.scalar(sa.select(TrustedSender.state).where(TrustedSender.receiver_address == address))


def test_whitelisted_address_makes_a_draft_and_activates_the_sender(world):
    to = world.sender(WhitelistKind.ADDRESS, "Facturen@Boekhouder.example")
    raw = invoice_mail("facturen@boekhouder.example", to, ("INV-M1.xml", invoice("INV-M1")),
                       ("INV-M1.pdf", b"%PDF-1.4 test"))
    code, reply = world.send(raw, to)
    assert code == 250, reply
    with world.sessions() as db:
        draft = db.scalars(sa.select(IntakeDraft)).one()
        message = db.scalars(sa.select(IntakeMessage)).one()
    assert (draft.number, draft.state, draft.buyer_name, draft.pdf) == ("INV-M1", "draft", "Buyer NV", b"%PDF-1.4 test")
    assert message.outcome == "accepted" and message.raw == raw and message.dmarc == "fail"  # unsigned, p=reject
    assert _state(world, to) == "active"
    assert "intake.mail_accepted" in world.audit_actions() and "trusted_sender.first_invoice" in world.audit_actions()
    assert world.rejections(timeout=0.2) == []


def test_the_same_mail_twice_is_stored_once(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    raw = invoice_mail("facturen@boekhouder.example", to, ("a.xml", invoice("INV-D1")), message_id="<dup-1@bk>")
    assert world.send(raw, to)[0] == 250
    assert world.send(raw, to)[0] == 250  # a client that lost our 250 sends it again
    # A relay that re-sent it with one more header: other bytes, the same Message-ID.
    assert world.send(b"X-Relayed: yes\r\n" + raw, to)[0] == 250
    assert (world.count(IntakeMessage), world.count(IntakeDraft)) == (1, 1)


def test_a_whitelisted_domain_needs_dmarc_to_pass(world, dkim_key):
    to = world.sender(WhitelistKind.DOMAIN, "boekhouder.example")
    signed = invoice_mail("jan@boekhouder.example", to, ("a.xml", invoice("INV-S1")), sign=dkim_key.sign)
    assert world.send(signed, to)[0] == 250
    with world.sessions() as db:
        m = db.scalars(sa.select(IntakeMessage)).one()
    assert m.outcome == "accepted" and m.dmarc == "pass", m.dmarc_detail
    # The same From without the domain's signature: anyone can write it, the domain says it fails.
    forged = invoice_mail("jan@boekhouder.example", to, ("a.xml", invoice("INV-S2")))
    code, reply = world.send(forged, to)
    assert code == 550 and b"DMARC" in reply
    [mail] = world.rejections()
    assert "dmarc-fail" in mail.get_payload()
    # A signed mail changed after signing (a signed header: its Message-ID) fails as well.
    tampered = signed.replace(b"Message-ID: <", b"Message-ID: <x")
    assert tampered != signed
    assert world.send(tampered, to)[0] == 550
    # Another domain is simply not on the list.
    other = invoice_mail("jan@elders.example", to, ("a.xml", invoice("INV-S4")))
    code, reply = world.send(other, to)
    assert code == 550 and b"not on the list" in reply
    with world.sessions() as db:
        reasons = db.scalars(sa.select(IntakeMessage.reason).order_by(IntakeMessage.id)).all()
    assert reasons == ["", "dmarc-fail", "dmarc-fail", "not-whitelisted"]


def test_a_domain_without_dmarc_is_let_in_on_the_domain_rule(world):
    to = world.sender(WhitelistKind.DOMAIN, "kleine-leverancier.example")
    raw = invoice_mail("info@kleine-leverancier.example", to, ("a.xml", invoice("INV-N1")))
    assert world.send(raw, to)[0] == 250
    with world.sessions() as db:
        m = db.scalars(sa.select(IntakeMessage)).one()
    assert (m.outcome, m.dmarc) == ("accepted", "none")
    # A subdomain is another sender.
    assert world.send(invoice_mail("info@mail.kleine-leverancier.example", to, ("a.xml", invoice("INV-N2"))), to)[0] == 550


def test_verified_users_of_the_organisation(world):
    to = world.sender(WhitelistKind.VERIFIED_USERS)
    now = datetime.now(UTC)
    with world.sessions.begin() as db:
        env = db.scalar(sa.text("SELECT environment_id FROM organisations WHERE id = :o"), {"o": world.org})
        for email, verified in (("anna@accountant.example", now), ("piet@accountant.example", None)):
            user = User(email=email, email_verified_at=verified, name="", password_hash="x", environment_id=env,
                        created_at=now)
            db.add(user)
            db.flush()
            db.add(Membership(user_id=user.id, organisation_id=world.org, role="member", status="active",
                              created_at=now))
    assert world.send(invoice_mail("Anna@accountant.example", to, ("a.xml", invoice("INV-V1"))), to)[0] == 250
    # A member whose address was never verified is not a verified user.
    assert world.send(invoice_mail("piet@accountant.example", to, ("a.xml", invoice("INV-V2"))), to)[0] == 550
    assert world.count(IntakeDraft) == 1


def test_a_sender_not_on_the_list_is_refused_and_the_contact_told(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    raw = invoice_mail("spam@elders.example", to, ("a.xml", invoice("INV-X1")), subject="Urgent invoice")
    code, reply = world.send(raw, to)
    assert code == 550 and b"not on the list" in reply
    [mail] = world.rejections()
    body = mail.get_payload()
    assert "spam@elders.example" in body and "Urgent invoice" in body and to in body
    with world.sessions() as db:
        m = db.scalars(sa.select(IntakeMessage)).one()
        event = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "intake.mail_rejected")).one()
    assert (m.outcome, m.reason, m.notified_at is not None) == ("rejected", "not-whitelisted", True)
    assert json.loads(event.detail)["reason"] == "not-whitelisted" and event.organisation_id == world.org
    assert world.count(IntakeDraft) == 0 and _state(world, to) == "draft"


def test_an_unknown_or_inactive_address_is_refused_at_rcpt(world):
    code, reply = world.send(b"Subject: x\r\n\r\nx\r\n", "nobody@intake.test")
    assert code == 550 and b"No such receiver" in reply
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    with world.sessions() as db:
        sender_id = db.scalar(sa.select(TrustedSender.public_id))
        set_state(db, Context(now=datetime.now(UTC)), None, sender_id, active=False)
        db.commit()
    code, reply = world.send(invoice_mail("facturen@boekhouder.example", to, ("a.xml", invoice("INV-I1"))), to)
    assert code == 550 and b"no longer" in reply
    assert world.count(IntakeMessage) == 0


def test_an_invalid_invoice_is_refused_with_the_rule_ids(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    broken = invoice("INV-B1").replace(b'<cbc:PayableAmount currencyID="EUR">121.00',
                                       b'<cbc:PayableAmount currencyID="EUR">999.00')
    code, reply = world.send(invoice_mail("facturen@boekhouder.example", to, ("a.xml", broken)), to)
    assert code == 550 and b"BR-CO-16" in reply
    [mail] = world.rejections()
    assert "BR-CO-16" in mail.get_payload() and "invalid" in mail.get_payload()
    assert world.count(IntakeDraft) == 0


def test_mail_without_an_invoice_or_with_another_xml_is_refused(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    code, reply = world.send(invoice_mail("facturen@boekhouder.example", to, ("scan.pdf", b"%PDF-1.4")), to)
    assert code == 550 and b"no UBL invoice" in reply
    code, _ = world.send(invoice_mail("facturen@boekhouder.example", to, ("order.xml", b"<Order/>")), to)
    assert code == 550
    # An invoice of another seller than this organisation.
    code, reply = world.send(invoice_mail("facturen@boekhouder.example", to,
                                          ("a.xml", invoice("INV-W1", seller=BUYER_HERE))), to)
    assert code == 550 and b"not from" in reply
    with world.sessions() as db:
        reasons = db.scalars(sa.select(IntakeMessage.reason).order_by(IntakeMessage.id)).all()
    assert reasons == ["no-invoice", "unreadable", "wrong-organisation"]
    assert len(world.rejections()) >= 1


def test_a_purchase_sender_files_into_the_purchase_inbox(world):
    from accesspoint.db.tables.documents import Document

    to = world.sender(WhitelistKind.ADDRESS, "facturen@leverancier.example", context="purchase")
    # An invoice *to* the organisation (it is the buyer).
    raw = invoice_mail("facturen@leverancier.example", to,
                       ("a.xml", invoice("P-1", seller=BUYER_HERE, buyer=SELLER)))
    assert world.send(raw, to)[0] == 250
    with world.sessions() as db:
        doc = db.scalars(sa.select(Document)).one()
    assert (doc.direction, doc.connection, doc.number, doc.organisation_id) == ("in", "peppol_purchase", "P-1", world.org)
    from accesspoint.db.tables.ledger import LedgerEntry

    with world.sessions() as db:
        charged = db.scalars(sa.select(LedgerEntry)).one()
    assert (charged.document_public_id, charged.direction, charged.channel) == (doc.public_id, "in", "email")
    # The same invoice in another mail is a duplicate invoice, refused with that reason.
    again = invoice_mail("facturen@leverancier.example", to,
                         ("b.xml", invoice("P-1", seller=BUYER_HERE, buyer=SELLER)))
    code, reply = world.send(again, to)
    assert code == 550 and b"received before" in reply


def test_the_invitation_tells_the_contact_the_address(world):
    from accesspoint.intake.senders import send_invitation

    to = world.sender(WhitelistKind.DOMAIN, "boekhouder.example")
    with world.sessions() as db:
        sender_id = db.scalar(sa.select(TrustedSender.public_id))
        v = send_invitation(db, Context(now=datetime.now(UTC)), None, sender_id, world.intake.mailer,
                            node_name="peppol-node")
        db.commit()
    assert v.state.value == "invited"
    deadline = time.monotonic() + 10
    while not (mails := [m for m in world.sink.messages if m["To"] == CONTACT]) and time.monotonic() < deadline:
        time.sleep(0.05)
    [mail] = mails
    assert to in mail["Subject"] and to in mail.get_payload() and "anyone at boekhouder.example" in mail.get_payload()
    assert "trusted_sender.send_invitation" in world.audit_actions()


def test_mail_over_the_size_limit_is_refused_before_it_is_stored(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    small = Listening(world.intake, max_message_bytes=64 * 1024)
    try:
        raw = invoice_mail("facturen@boekhouder.example", to, ("a.xml", invoice("INV-L1")),
                           ("big.pdf", b"%PDF-1.4\n" + b"0" * 100_000))
        with smtplib.SMTP("127.0.0.1", small.port, timeout=30) as s:
            s.ehlo("client.test")
            assert "size" in s.esmtp_features and int(s.esmtp_features["size"]) == 64 * 1024
            s.mail("bounce@boekhouder.example")
            s.rcpt(to)
            code, _ = s.data(raw)
        assert code == 552
    finally:
        small.close()
    assert world.count(IntakeMessage) == 0


def test_mail_for_an_organisation_that_is_not_active_is_refused(world):
    to = world.sender(WhitelistKind.ADDRESS, "facturen@boekhouder.example")
    with world.sessions.begin() as db:
        db.execute(sa.text("UPDATE organisations SET status = 'verifying' WHERE id = :o"), {"o": world.org})
    code, reply = world.send(invoice_mail("facturen@boekhouder.example", to, ("a.xml", invoice("INV-A1"))), to)
    assert code == 550 and b"may not send or receive" in reply
    assert world.count(IntakeDraft) == 0
