"""Inbound storage and routing on a real database: served or not, duplicates, MLS in both directions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

import ubl
from accesspoint import mls
from accesspoint.db.tables.documents import Document, InboundMessage, OutboxEntry, Transaction
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.db.tables.organisations import Organisation
from accesspoint.delivery import Inbox, NotServiced, Outbox, State
from accesspoint.delivery.outbox import record_transition
from tests.accesspoint.helpers import BUYER_HERE, BUYER_NOWHERE, SELLER, Clock, add_organisation, invoice, make_sessions


@pytest.fixture
def inbox(database_url):
    engine, sessions = make_sessions(database_url)
    org = add_organisation(sessions, "Buyer NV", BUYER_HERE)
    clock = Clock(datetime(2026, 11, 20, tzinfo=UTC))
    yield sessions, clock, org
    engine.dispose()


def sbd(number: str, *, receiver: str = BUYER_HERE, instance: str | None = None, mls_type=None,
        mls_to: str | None = "0242:000009", payload: bytes | None = None,
        doctype=ubl.BIS_BILLING_INVOICE, process=ubl.BIS_BILLING_PROCESS) -> ubl.StandardBusinessDocument:
    data = ubl.build_sbd(
        sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(receiver),
        document_type_id=doctype, process_id=process, country_c1="NL",
        payload=payload or invoice(number, buyer=receiver), creation_time=datetime(2026, 11, 20, tzinfo=UTC),
        instance_identifier=instance or str(uuid.uuid4()), mls_type=mls_type,
        mls_to=ubl.ParticipantId.parse(mls_to) if mls_to else None,
    )
    return ubl.parse_sbd(data)


@pytest.mark.db
def test_served_receiver_gets_the_document_others_are_not_serviced(inbox):
    sessions, clock, org = inbox
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    got = box.accept(sbd("IN-1"), as4_message_id="m1@x", sender_seat_id="PBE000001", receipt=b"<r1/>")
    assert got.document_id and not got.duplicate
    with pytest.raises(NotServiced):
        box.accept(sbd("IN-2", receiver=BUYER_NOWHERE), as4_message_id="m2@x", sender_seat_id="PBE000001")
    with sessions() as s:
        doc = s.scalars(sa.select(Document)).one()
        assert (doc.organisation_id, doc.connection, doc.number) == (org, "peppol_purchase", "IN-1")
        assert s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1


@pytest.mark.db
def test_duplicates_by_message_id_and_by_instance_identifier_are_stored_once(inbox):
    sessions, clock, _ = inbox
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    first = sbd("IN-3", instance="inst-3")
    box.accept(first, as4_message_id="m3@x", sender_seat_id="PBE000001", receipt=b"<receipt-1/>")
    same_id = box.accept(first, as4_message_id="m3@x", sender_seat_id="PBE000001", receipt=b"<receipt-2/>")
    assert same_id.duplicate and same_id.receipt == b"<receipt-1/>"
    new_envelope = box.accept(first, as4_message_id="m4@x", sender_seat_id="PBE000001")
    assert new_envelope.duplicate
    # the same invoice in a new envelope (new InstanceIdentifier) is not forwarded twice either (W9)
    assert box.accept(sbd("IN-3"), as4_message_id="m5@x", sender_seat_id="PBE000001").duplicate
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1


@pytest.mark.db
def test_mls_is_queued_as_the_envelope_asks(inbox):
    sessions, clock, _ = inbox
    box = Inbox(sessions, clock=clock, seat_id="PBE000002", validator=lambda d: ["BR-01"] if b"BAD" in d else [])
    box.accept(sbd("IN-4"), as4_message_id="m6@x", sender_seat_id="PBE000001")  # FAILURE_ONLY: nothing
    box.accept(sbd("IN-5", mls_type=ubl.MlsType.ALWAYS_SEND), as4_message_id="m7@x", sender_seat_id="PBE000001")
    box.accept(sbd("BAD-6"), as4_message_id="m8@x", sender_seat_id="PBE000001")  # rejected: negative MLS always
    with sessions() as s:
        queued = s.scalars(sa.select(OutboxEntry).where(OutboxEntry.kind == "mls").order_by(OutboxEntry.id)).all()
        statuses = [mls.parse_mls(e.document.content) for e in queued]
        assert [st.response_code for st in statuses] == [mls.ResponseCode.ACCEPTED, mls.ResponseCode.REJECTED]
        assert all(e.document.receiver_id == "iso6523-actorid-upis::0242:000009" for e in queued)
        assert statuses[1].lines[0].reason is mls.StatusReason.BUSINESS_RULE_FATAL
        assert s.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in")) == 2


@pytest.mark.db
def test_a_received_negative_mls_fails_the_outbox_entry_it_refers_to(inbox):
    sessions, clock, _ = inbox
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    outbox = Outbox(sessions, clock=clock)
    entry = outbox.submit(invoice("OUT-1", buyer=BUYER_NOWHERE)).entry
    with sessions.begin() as s:
        row = s.scalars(sa.select(OutboxEntry).where(OutboxEntry.public_id == entry.id)).one()
        row.channel = "peppol"
        record_transition(s, row, State.SENT, at=clock(), action="sent")
    status = mls.MessageLevelStatus(
        id="mls-1", issued_at=clock(), sender_spid="000009", receiver_spid="000002",
        response_code=mls.ResponseCode.REJECTED, ref_instance_identifier=entry.instance_identifier,
        description="Rejected", lines=(mls.MlsLine("buyer unknown", mls.StatusReason.FAILURE_OF_DELIVERY),))
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    got = box.accept(sbd("x", receiver="0242:000002", payload=mls.build_mls(status), mls_to=None,
                         doctype=mls.MLS_DOCUMENT_TYPE, process=mls.MLS_PROCESS),
                     as4_message_id="m9@x", sender_seat_id="PBE000009")
    assert got.outbox_entry_id == entry.id
    after = outbox.get(entry.id)
    assert after.state is State.FAILED and after.mls_status == "RE" and after.error_code == "mls:RE"
    assert "[FD] buyer unknown" in after.error_detail


def test_on_postgresql_accepting_reads_no_more_documents_as_the_inbox_grows(database_url, inbox):
    """Prepared, PostgreSQL keeps the plan it made for the duplicate lookup while the table was young.

    With `ix_documents_instance` on (direction, instance_identifier) and `ix_documents_organisation_id`
    beside `uq_document_duplicate`, every index cost the same on a table without statistics, and the
    plan PostgreSQL chose read every document the organisation had received, on every accept:
    about n/2 index rows per accept for an inbox of n. Counted by PostgreSQL itself, so load-independent.
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's statistics views; the SQLite plan is asserted in the next tests")
    sessions, clock, _ = inbox
    box = Inbox(sessions, clock=clock, seat_id="PXX000002")
    count = 60  # well past psycopg's prepare threshold (5) and PostgreSQL's five custom plans
    for n in range(count):
        accepted = box.accept(sbd(f"GROW-{n:03d}"), as4_message_id=f"grow-{n}@test", sender_seat_id="PNL000007")
        assert not accepted.duplicate
    with sessions() as session:
        session.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        session.commit()
    with sessions() as session:  # a new transaction: the statistics views are a snapshot per transaction
        read = dict(session.execute(sa.text(
            "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes"
            " WHERE schemaname = current_schema() AND relname = 'documents'")).all())
    assert sum(read.values()) <= 2 * count, read  # a constant few per accept, not the inbox


@pytest.mark.db
def test_accepting_is_five_statements_two_on_postgresql_and_a_duplicate_one(inbox):
    """The receiver's round trips per message (each costs it more CPU than the database's work): the
    MessageId, receiver and duplicate lookups as one statement, then four inserts (one statement
    on PostgreSQL). A second copy of the same MessageId is answered from that first statement,
    and still not stored again."""
    sessions, clock, org = inbox
    new_message = 2 if sessions.kw["bind"].dialect.name == "postgresql" else 5
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.split(None, 3)[:3])

    engine = sessions.kw["bind"]
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        first = box.accept(sbd("CNT-1"), as4_message_id="cnt-1@x", sender_seat_id="PBE000001", receipt=b"<r/>")
        assert len(statements) == new_message, statements
        statements.clear()
        again = box.accept(sbd("CNT-1"), as4_message_id="cnt-1@x", sender_seat_id="PBE000001")
        assert len(statements) == 1, statements
        statements.clear()
        with pytest.raises(NotServiced):
            box.accept(sbd("CNT-2", receiver=BUYER_NOWHERE), as4_message_id="cnt-2@x", sender_seat_id="PBE000001")
        assert len(statements) == 1, statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert not first.duplicate and again.duplicate
    assert (again.document_id, again.receipt) == (first.document_id, b"<r/>")
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 1


def test_the_lookup_before_writing_searches_whole_indexes_not_every_received_document(tmp_path):
    """The one lookup of `accept` must stay searches by key: the MessageId and the receiver by
    unique key (the seen document by primary key), never a scan of received messages or
    organisations; and each kind of duplicate by an equality on a whole index. Written as
    `direction = 'in' AND (same envelope OR same invoice)`, SQLite searched ix_documents_instance
    on direction only, so a node's receive cost grew with its inbox."""
    from accesspoint.delivery.inbox import _KNOWN

    engine, _ = make_sessions(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        bound = _KNOWN.params(as4_message_id="m", scheme="s", value="v", instance_identifier="i", sender_id="s",
                              duplicate_key="k")
        sql = str(bound.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    finally:
        engine.dispose()
    tables = ("inbound_messages", "seen_document", "organisation_identifiers", "organisations", "same_envelope",
              "same_invoice")
    searches = sorted(step for step in plan if step.startswith(("SEARCH", "SCAN")) and step.split()[1] in tables)
    assert searches == [
        "SEARCH inbound_messages USING INDEX sqlite_autoindex_inbound_messages_1 (as4_message_id=?) LEFT-JOIN",
        "SEARCH organisation_identifiers USING INDEX sqlite_autoindex_organisation_identifiers_1 (scheme=? AND value=?)",
        "SEARCH organisations USING INTEGER PRIMARY KEY (rowid=?)",
        "SEARCH same_envelope USING INDEX ix_documents_instance (instance_identifier=? AND direction=?) LEFT-JOIN",
        "SEARCH same_invoice USING INDEX sqlite_autoindex_documents_1"
        " (organisation_id=? AND direction=? AND duplicate_key=?) LEFT-JOIN",
        "SEARCH seen_document USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN",
    ], plan


@pytest.mark.db
def test_a_new_document_is_the_same_four_rows_on_every_database(inbox):
    """PostgreSQL writes a new document's rows in one statement (`_STORE_NEW_DOCUMENT`), SQLite in
    four: both must store exactly these values, every column (a column added to one of the four
    tables fails the one statement until it is given a value here)."""
    sessions, clock, org = inbox
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    doc = sbd("ROWS-1", instance="inst-rows-1")
    got = box.accept(doc, as4_message_id="rows-1@x", sender_seat_id="PBE000001", receipt=b"<r/>")
    now = clock()
    with sessions() as s:
        stored = s.execute(sa.select(Document.__table__)).mappings().one()
        inbound = s.execute(sa.select(InboundMessage.__table__)).mappings().one()
        transaction = s.execute(sa.select(Transaction.__table__)).mappings().one()
        ledger = s.execute(sa.select(LedgerEntry.__table__)).mappings().one()
        environment = s.get(Organisation, org).environment_id

    def without(row, *keys):
        return {k: v for k, v in row.items() if k not in ("id", *keys)}

    assert stored["public_id"] == got.document_id
    assert without(stored, "public_id", "duplicate_key", "created_at") == {
        "organisation_id": org, "direction": "in", "connection": "peppol_purchase", "sender_id": str(doc.sender),
        "receiver_id": str(doc.receiver), "document_type_id": str(doc.document_type_id),
        "process_id": str(doc.process_id), "instance_identifier": "inst-rows-1", "number": "ROWS-1",
        "issue_date": stored["issue_date"], "country_c1": "NL", "buyer_email": None,
        "seller_name": stored["seller_name"], "buyer_name": stored["buyer_name"], "payable_amount": stored["payable_amount"], "currency": "EUR",
        "content": doc.payload, "pdf": None, "business_status": None}
    assert stored["issue_date"] and stored["seller_name"] and stored["buyer_name"] and stored["payable_amount"]
    assert len(stored["duplicate_key"]) == 64
    assert without(inbound, "received_at") == {
        "as4_message_id": "rows-1@x", "instance_identifier": "inst-rows-1", "sender_seat_id": "PBE000001",
        "document_id": stored["id"], "receipt": b"<r/>"}
    assert without(transaction, "at") == {
        "direction": "in", "kind": "business", "other_seat_id": "PBE000001",
        "document_type_id": str(doc.document_type_id), "process_id": str(doc.process_id),
        "transport_profile": "peppol-transport-as4-v2_0", "end_user_id": str(doc.receiver), "c1_country": "NL",
        "c4_country": transaction["c4_country"], "instance_identifier": "inst-rows-1"}
    assert without(ledger, "at") == {
        "organisation_id": org, "direction": "in", "channel": "peppol", "document_public_id": got.document_id,
        "payer": "own", "payer_environment_id": environment}
    for at in (stored["created_at"], inbound["received_at"], transaction["at"], ledger["at"]):
        assert at.replace(tzinfo=at.tzinfo or UTC) == now


@pytest.mark.db
def test_a_copy_that_loses_the_race_for_its_message_id_answers_as_a_duplicate(inbox, database_url):
    """Two copies of one message, taken by two of our processes at once: both look before either
    writes, the first commits, the second's insert meets the unique MessageId. The second must
    answer as a duplicate with the first copy's receipt (looking again), not fail."""
    sessions, clock, _ = inbox
    other_engine, other_sessions = make_sessions(database_url)  # the other process
    message = sbd("IN-RACE", instance="inst-race")
    box = Inbox(sessions, clock=clock, seat_id="PBE000002")
    other = Inbox(other_sessions, clock=clock, seat_id="PBE000002")
    engine = sessions.kw["bind"]
    raced = []

    def the_other_copy_commits_first(conn, cursor, statement, parameters, context, executemany):
        # after this copy's first look (nothing seen yet), before any of its inserts
        if not raced and "seen_id" in statement:
            raced.append(other.accept(message, as4_message_id="race@x", sender_seat_id="PBE000001",
                                      receipt=b"<first/>"))

    sa.event.listen(engine, "after_cursor_execute", the_other_copy_commits_first)
    try:
        second = box.accept(message, as4_message_id="race@x", sender_seat_id="PBE000001", receipt=b"<second/>")
    finally:
        sa.event.remove(engine, "after_cursor_execute", the_other_copy_commits_first)
        other_engine.dispose()
    assert raced and not raced[0].duplicate
    assert second.duplicate and second.receipt == b"<first/>"
    assert second.document_id == raced[0].document_id
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1
