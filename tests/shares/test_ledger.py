"""W4 who pays, on a real database: the inbox and the delivery worker write one ledger row per document,
against the payer of that moment; the Paid by view and the client's own view count them."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import shares
import ubl
from accesspoint.config import SmtpSettings
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.delivery import DeliveryWorker, Inbox, Outbox, RetryPolicy, Router
from accesspoint.mail import SmtpMailer
from accesspoint.sharing import ledger, orgs, requests
from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, invoice, start_smtp
from tests.shares.test_flows import make_user

pytestmark = pytest.mark.db

CLIENT_ID = "0208:0123456749"


class Clock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def inbound(number: str, receiver: str = CLIENT_ID) -> ubl.StandardBusinessDocument:
    return ubl.parse_sbd(ubl.build_sbd(
        sender=ubl.ParticipantId.parse("0088:5790000435951"), receiver=ubl.ParticipantId.parse(receiver),
        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS, country_c1="NL",
        payload=invoice(number, buyer=receiver), creation_time=datetime(2026, 11, 20, tzinfo=UTC),
        instance_identifier=str(uuid.uuid4())))


def rows(svc):
    with svc.sessions() as db:
        return [(e.direction, e.channel, e.payer, e.payer_environment_id, e.organisation_id)
                for e in db.scalars(sa.select(LedgerEntry).order_by(LedgerEntry.id))]


def env_of(svc, user_id):
    with svc.sessions() as db:
        return db.get(User, user_id).environment_id


def test_each_document_is_charged_to_the_payer_of_its_moment(svc, ctx):
    clock = Clock(ctx.now)
    acc = make_user(svc, ctx, "anna@boekhouder.test")
    jan = make_user(svc, ctx, "jan@bakkerij.test")
    with svc.sessions.begin() as db:
        org = orgs.create_organisation(db, ctx, db.get(User, jan), "Bakkerij Peeters", [CLIENT_ID])
        org.peppol_receive = True
        org.status = "active"  # approved by the operator (W1.3): only an active organisation receives
        org_id = org.id
        buyer = orgs.create_organisation(db, ctx, db.get(User, jan), "Buyer NV", [BUYER_HERE])
        buyer.peppol_receive = True
        buyer.status = "active"
        buyer_id = buyer.id
    box = Inbox(svc.sessions, clock=clock, seat_id="PBE000002")

    # Before any mandate the client pays for what it receives.
    box.accept(inbound("IN-1"), as4_message_id="m1@x", sender_seat_id="POP000001")
    assert rows(svc) == [("in", "peppol", "own", env_of(svc, jan), org_id)]
    # The same message again, and the same invoice in a new envelope: no second charge.
    box.accept(inbound("IN-1"), as4_message_id="m1@x", sender_seat_id="POP000001")
    box.accept(inbound("IN-1"), as4_message_id="m1-again@x", sender_seat_id="POP000001")
    assert len(rows(svc)) == 1

    # The accountant's mandate with costs paid by the intermediary: from now on the firm pays.
    rid = requests.create(svc, ctx, acc, client_name="Bakkerij Peeters", client_email="jan@bakkerij.test",
                          client_identifier=CLIENT_ID, costs_paid_by="intermediary")
    requests.accept(svc, ctx, jan, rid, organisation_id=org_id, text_shown="I authorise")
    clock.now = ctx.now + timedelta(days=31)
    box.accept(inbound("IN-2"), as4_message_id="m2@x", sender_seat_id="POP000001")

    # Sent: internally to another organisation of the node (two transactions: the buyer received it),
    # and by email to a buyer on no network (charged when it leaves).
    controller, sink = start_smtp()
    try:
        outbox = Outbox(svc.sessions, clock=clock)
        outbox.submit(invoice("OUT-1", seller=CLIENT_ID, buyer=BUYER_HERE))
        outbox.submit(invoice("OUT-2", seller=CLIENT_ID, buyer=BUYER_NOWHERE), email="ap@buyer.example")
        mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port, sender="ap@node.example"))
        worker = DeliveryWorker(svc.sessions, router=Router(svc.sessions, directory=None), clock=clock,
                                seat_id="PBE000002", mailer=mailer, policy=RetryPolicy(max_attempts=2))
        # In a thread of its own: a browser test earlier in the same process may leave an event loop
        # running in this one, where asyncio.run refuses to start.
        drained = threading.Thread(target=lambda: asyncio.run(worker.drain()))
        drained.start()
        drained.join(120)
    finally:
        controller.stop()
    firm = f"intermediary:{env_of(svc, acc)}"
    got = rows(svc)
    assert got[1] == ("in", "peppol", firm, env_of(svc, acc), org_id)
    # The worker delivers a batch concurrently: the three rows of the two sends come in either order.
    assert sorted(got[2:]) == sorted([
        ("in", "internal", "own", env_of(svc, jan), buyer_id),
        ("out", "internal", firm, env_of(svc, acc), org_id),
        ("out", "email", firm, env_of(svc, acc), org_id),
    ])

    # Revoked: the client pays again from then on; the rows of the mandate's time keep the firm.
    requests.revoke(svc, ctx, jan, rid)
    box.accept(inbound("IN-3"), as4_message_id="m3@x", sender_seat_id="POP000001")
    assert rows(svc)[:5] == got
    assert rows(svc)[5] == ("in", "peppol", "own", env_of(svc, jan), org_id)

    with svc.sessions() as db:
        anna, jan_user = db.get(User, acc), db.get(User, jan)
        months = ledger.paid_by(db, anna)
        assert [(m.month, [(r.organisation_name, r.relation, r.sent, r.received) for r in m.rows]) for m in months] \
            == [((ctx.now + timedelta(days=31)).strftime("%Y-%m"), [("Bakkerij Peeters", "client", 2, 1)])]
        assert ledger.paid_by(db, anna, month=ctx.now.strftime("%Y-%m")) == []
        mine = ledger.paid_by(db, jan_user)
        assert sum(m.sent for m in mine) == 0 and sum(m.received for m in mine) == 3  # IN-1, IN-3, Buyer NV
        own = ledger.transactions(db, jan_user, org_id)
        listed = [(t.direction, t.number, t.paid_by) for t in own]
        assert listed[0] == ("in", "IN-3", "jan@bakkerij.test") and listed[3:] == [
            ("in", "IN-2", "anna@boekhouder.test"), ("in", "IN-1", "jan@bakkerij.test")]
        assert sorted(listed[1:3]) == [("out", "OUT-1", "anna@boekhouder.test"), ("out", "OUT-2", "anna@boekhouder.test")]
        # The accountant no longer sees the client's transactions after the revocation (SEC-12)...
        with pytest.raises(shares.NotAllowed):
            ledger.transactions(db, anna, org_id)
        with pytest.raises(shares.InvalidInput):
            ledger.paid_by(db, anna, month="2026-13")


def test_basic_users_do_not_see_billing(svc, ctx):
    admin = make_user(svc, ctx, "anna@boekhouder.test")
    basic = make_user(svc, ctx, "bob@boekhouder.test", role="basic")
    with svc.sessions() as db:
        assert ledger.paid_by(db, db.get(User, admin)) == []
        with pytest.raises(shares.NotAllowed):
            ledger.paid_by(db, db.get(User, basic))


def test_payer_values():
    assert shares.payer_environment("own", organisation_environment_id=7) == 7
    assert shares.payer_environment(shares.intermediary_payer(3), organisation_environment_id=7) == 3
    for bad in ("intermediary:", "intermediary:x", "client", ""):
        with pytest.raises(ValueError):
            shares.payer_environment(bad, organisation_environment_id=7)


def test_a_rejected_document_and_an_mls_are_not_transactions(svc, ctx):
    from accesspoint import mls

    jan = make_user(svc, ctx, "jan@bakkerij.test")
    with svc.sessions.begin() as db:
        org = orgs.create_organisation(db, ctx, db.get(User, jan), "Bakkerij Peeters", [CLIENT_ID])
        org.peppol_receive = True
        org.status = "active"  # approved by the operator (W1.3): only an active organisation receives
    clock = Clock(ctx.now)
    strict = Inbox(svc.sessions, clock=clock, seat_id="PBE000002", validator=lambda payload: ["BR-01"])
    assert strict.accept(inbound("BAD-1"), as4_message_id="bad@x", sender_seat_id="POP000001").document_id is None
    status = mls.MessageLevelStatus(
        id=str(uuid.uuid4()), issued_at=ctx.now, sender_spid="000001", receiver_spid="000002",
        response_code=mls.ResponseCode.ACCEPTED, ref_instance_identifier="unknown-instance")
    mls_in = ubl.parse_sbd(ubl.build_sbd(
        sender=ubl.ParticipantId.parse("0242:000001"), receiver=ubl.ParticipantId.parse(CLIENT_ID),
        document_type_id=mls.MLS_DOCUMENT_TYPE, process_id=mls.MLS_PROCESS, country_c1="NL",
        payload=mls.build_mls(status), creation_time=datetime(2026, 11, 20, tzinfo=UTC)))
    Inbox(svc.sessions, clock=clock, seat_id="PBE000002").accept(mls_in, as4_message_id="mls@x",
                                                                 sender_seat_id="POP000001")
    assert rows(svc) == []
    Inbox(svc.sessions, clock=clock, seat_id="PBE000002").accept(inbound("OK-1"), as4_message_id="ok@x",
                                                                 sender_seat_id="POP000001")
    assert [r[0] for r in rows(svc)] == ["in"]
