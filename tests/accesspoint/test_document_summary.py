"""Every way a document enters `documents` stores its summary (names, amount, currency; migration 0018):
the outbox's submit, the worker's internal delivery, the inbox's accept (whole and streamed), and a
purchase invoice that came by mail. On SQLite and PostgreSQL, the amount stays the text it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

import as4
import ubl
from accesspoint.config import SmtpSettings
from accesspoint.db.tables.documents import Document
from accesspoint.delivery import DeliveryWorker, Inbox, Outbox, RetryPolicy, Router
from accesspoint.delivery.peppol import STREAM_FROM_BYTES, _split
from accesspoint.intake import Whitelist, WhitelistKind
from accesspoint.intake.receive import Intake
from accesspoint.intake.senders import create_sender
from accesspoint.mail import SmtpMailer
from accesspoint.sharing.context import Context
from tests.accesspoint.helpers import (
    BUYER_HERE, SELLER, Clock, add_organisation, invoice, make_sessions, start_smtp,
)
from tests.accesspoint.test_large_inbound import large_sbd
from tests.intake.harness import invoice_mail

pytestmark = pytest.mark.db

#: What tests.accesspoint.helpers.invoice says: names, BT-115 and BT-5.
HELPER = ("Seller BV", "Buyer NV", "121.00", "EUR")


def summary_of(sessions, **where) -> tuple:
    with sessions() as db:
        doc = db.scalars(sa.select(Document).filter_by(**where)).one()
        return doc.seller_name, doc.buyer_name, doc.payable_amount, doc.currency


@pytest.fixture
def world(database_url):
    engine, sessions = make_sessions(database_url)
    clock = Clock()
    seller = add_organisation(sessions, "Seller BV", SELLER, receive=False)
    buyer = add_organisation(sessions, "Buyer NV", BUYER_HERE, receive=True)
    yield sessions, clock, seller, buyer
    engine.dispose()


def test_submit_and_internal_delivery_store_the_summary(world):
    sessions, clock, seller, buyer = world
    router = Router(sessions, directory=None)
    outbox = Outbox(sessions, clock=clock, router=router)
    outbox.submit(invoice("SUM-1"))
    assert summary_of(sessions, direction="out", number="SUM-1") == HELPER
    import asyncio

    worker = DeliveryWorker(sessions, router=router, clock=clock, seat_id="PXX000001", policy=RetryPolicy())
    asyncio.run(worker.drain())
    # the buyer's inbox copy (internal delivery, W8.2(a)) carries it too
    assert summary_of(sessions, direction="in", organisation_id=buyer, number="SUM-1") == HELPER


def test_an_official_example_keeps_its_amount_as_written(world, testdata):
    sessions, clock, *_ = world
    content = (testdata / "peppol-bis-invoice-3" / "examples" / "Vat-category-S.xml").read_bytes()
    add_organisation(sessions, "SupplierOfficialName Ltd", "0088:7300010000001", receive=False)
    Outbox(sessions, clock=clock).submit(content)
    # 8550, not 8550.00 or 8550.0: a String column, on both databases
    assert summary_of(sessions, direction="out", number="Snippet1") == (
        "SupplierOfficialName Ltd", "Buyer Official Name", "8550", "EUR")


def _envelope(payload: bytes) -> bytes:
    return ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_HERE),
                         document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                         country_c1="NL", payload=payload, creation_time=datetime(2026, 11, 20, tzinfo=UTC))


def test_the_inbox_stores_the_summary_of_a_small_and_of_a_streamed_document(world):
    sessions, clock, _, buyer = world
    box = Inbox(sessions, clock=clock, seat_id="PXX000002")
    box.accept(ubl.parse_sbd(_envelope(invoice("SUM-2", buyer=BUYER_HERE))), as4_message_id=f"{uuid.uuid4()}@t",
               sender_seat_id="PXX000001")
    assert summary_of(sessions, number="SUM-2") == HELPER

    big = large_sbd("SUM-3")
    assert len(big) > STREAM_FROM_BYTES
    envelope, streamed = _split(as4.Blob.from_bytes(big))  # as the AS4 endpoint does above 2 MB
    assert streamed is not None
    box.accept(envelope, as4_message_id=f"{uuid.uuid4()}@t", sender_seat_id="PXX000001", streamed=streamed)
    assert summary_of(sessions, number="SUM-3") == HELPER
    with sessions() as db:
        assert db.scalar(sa.select(Document.content).where(Document.number == "SUM-3")) == b""  # it did stream


def test_a_purchase_invoice_by_mail_stores_the_summary(world):
    sessions, _, seller, _ = world
    controller, sink = start_smtp()
    try:
        intake = Intake(sessions, clock=lambda: datetime.now(UTC),
                        mailer=SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port)))
        with sessions() as db:
            to = create_sender(db, Context(now=datetime.now(UTC)), None, organisation_id=seller, domain="intake.test",
                               whitelist=Whitelist(WhitelistKind.ADDRESS, "facturen@leverancier.example"),
                               contact_email="boekhouding@seller.example", context="purchase").receiver_address
            db.commit()
        # An invoice *to* the organisation: Buyer NV (BUYER_HERE) sells to Seller BV here.
        raw = invoice_mail("facturen@leverancier.example", to, ("a.xml", invoice("SUM-4", seller=BUYER_HERE,
                                                                                 buyer=SELLER)))
        [outcome] = intake.receive(raw, recipients=[to])
        assert outcome.outcome == "accepted", outcome
    finally:
        controller.stop()
    # the helper's names stay with their roles: "Seller BV" is the name in the supplier party
    assert summary_of(sessions, direction="in", number="SUM-4") == HELPER


def test_documents_stored_before_the_migration_keep_nulls(database_url):
    """0018 on a database with documents: the old rows get NULLs (the pages fall back to the ids)."""
    from alembic import command

    from accesspoint import db

    engine = db.create_engine(database_url)
    try:
        command.upgrade(db._alembic_config(engine), "0017_blob_store")
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO environments (name, created_at) VALUES ('env', :now)"),
                         {"now": datetime.now(UTC)})
            env = conn.scalar(sa.text("SELECT id FROM environments"))
            conn.execute(sa.text(
                "INSERT INTO organisations (environment_id, name, status, peppol_send, peppol_receive, payer, "
                "created_at) VALUES (:env, 'Seller BV', 'active', true, false, 'own', :now)"),
                {"env": env, "now": datetime.now(UTC)})
            org = conn.scalar(sa.text("SELECT id FROM organisations"))
            conn.execute(sa.text(
                "INSERT INTO documents (public_id, organisation_id, direction, connection, sender_id, receiver_id, "
                "document_type_id, process_id, instance_identifier, number, issue_date, country_c1, duplicate_key, "
                "content, created_at) VALUES (:pid, :org, 'out', 'peppol_sales', 's', 'r', 'd', 'p', 'i', 'OLD-1', "
                "'2026-11-20', 'NL', 'k', :content, :now)"),
                {"pid": str(uuid.uuid4()), "org": org, "content": b"<x/>", "now": datetime.now(UTC)})
        db.migrate(engine)
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT number, seller_name, buyer_name, payable_amount, currency "
                                       "FROM documents")).one()
        assert tuple(row) == ("OLD-1", None, None, None, None)
    finally:
        engine.dispose()


def test_the_inbox_takes_the_summary_read_with_the_envelope(world):
    """A summary that came with the envelope (`parse_sbd(summarise=True)`, as the AS4 receiver reads
    it) is what the inbox stores: it does not parse the business message again for one."""
    import dataclasses

    sessions, clock, *_ = world
    box = Inbox(sessions, clock=clock, seat_id="PXX000002")
    sbd = ubl.parse_sbd(_envelope(invoice("SUM-5", buyer=BUYER_HERE)), summarise=True)
    assert sbd.summary is not None and sbd.summary.number == "SUM-5"
    told = dataclasses.replace(sbd.summary, number="SUM-5-TOLD", seller_name="Told BV")
    box.accept(dataclasses.replace(sbd, summary=told), as4_message_id=f"{uuid.uuid4()}@t",
               sender_seat_id="PXX000001")
    assert summary_of(sessions, number="SUM-5-TOLD") == ("Told BV", *HELPER[1:])
