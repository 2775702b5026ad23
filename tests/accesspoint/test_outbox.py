"""The outbox and its workers on a real database: submit, route, deliver internally or by email."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from accesspoint.config import SmtpSettings
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent, Transaction
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.delivery import (
    DeliveryWorker, DocumentRejected, InvalidTransition, Outbox, RetryPolicy, Router, State,
)
from accesspoint.delivery.states import TRANSITIONS, check_transition
from accesspoint.mail import SmtpMailer
from tests.accesspoint.helpers import (
    BUYER_HERE, BUYER_NOWHERE, SELLER, Clock, add_organisation, invoice, make_sessions, start_smtp,
)


@pytest.fixture
def node(database_url):
    engine, sessions = make_sessions(database_url)
    clock = Clock()
    seller = add_organisation(sessions, "Seller BV", SELLER, receive=False)
    buyer = add_organisation(sessions, "Buyer NV", BUYER_HERE, receive=True)
    router = Router(sessions, directory=None)
    outbox = Outbox(sessions, clock=clock, router=router)
    yield sessions, clock, outbox, router, seller, buyer
    engine.dispose()


@pytest.fixture
def smtp():
    controller, sink = start_smtp()
    yield controller, sink
    controller.stop()


def worker(sessions, router, clock, outbox=None, **kwargs):
    kwargs.setdefault("policy", RetryPolicy(max_attempts=3))
    return DeliveryWorker(sessions, router=router, clock=clock, seat_id="PXX000001",
                          issue_link=outbox.issue_link if outbox else None, **kwargs)


def test_every_state_has_a_row_and_wrong_moves_are_refused():
    assert set(TRANSITIONS) == set(State)
    with pytest.raises(InvalidTransition):
        check_transition(State.OPENED, State.CREATED)
    with pytest.raises(InvalidTransition):
        check_transition(State.CREATED, State.OPENED)


@pytest.mark.db
def test_submit_queues_a_created_entry_and_a_duplicate_returns_it(node):
    sessions, clock, outbox, *_ = node
    first = outbox.submit(invoice("INV-7"))
    assert not first.duplicate
    assert first.entry.state is State.CREATED
    assert [e.action for e in first.entry.events] == ["submitted"]
    assert first.entry.receiver_id == f"iso6523-actorid-upis::{BUYER_HERE}"
    again = outbox.submit(invoice("INV-7"))
    assert again.duplicate and again.entry.id == first.entry.id
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 1


@pytest.mark.db
@pytest.mark.parametrize("data, code", [
    (b"not xml", "not-xml"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", "not-xml"),
    (b"<Invoice xmlns='urn:example'/>", "not-ubl"),
    (invoice(seller="0088:4000000000008"), "unknown-sender"),
])
def test_submit_rejects_what_cannot_be_sent(node, data, code):
    outbox = node[2]
    with pytest.raises(DocumentRejected) as info:
        outbox.submit(data)
    assert info.value.code == code


@pytest.mark.db
def test_internal_delivery_lands_in_the_buyers_purchase_connection(node):
    sessions, clock, outbox, router, seller, buyer = node
    sub = outbox.submit(invoice("INV-1"))
    w = worker(sessions, router, clock)
    assert asyncio.run(w.drain()) == 1
    entry = outbox.get(sub.entry.id)
    assert entry.state is State.DELIVERED and entry.channel == "internal"
    assert [(e.from_state, e.to_state) for e in entry.events] == [(None, "created"), ("created", "delivered")]
    with sessions() as s:
        inbound = s.scalars(sa.select(Document).where(Document.direction == "in")).one()
    assert inbound.organisation_id == buyer and inbound.connection == "peppol_purchase"
    assert inbound.content == invoice("INV-1")
    # nothing is due any more: a second pass does nothing
    assert asyncio.run(w.drain()) == 0


@pytest.mark.db
def test_preflight_names_the_route_without_sending(node):
    sessions, clock, outbox, *_ = node
    assert asyncio.run(outbox.preflight(invoice("P-1"))).channel == "internal"
    nowhere = asyncio.run(outbox.preflight(invoice("P-2", buyer=BUYER_NOWHERE)))
    assert nowhere.channel is None and nowhere.as_json()["channel"] == "needs_email"
    assert nowhere.suggested_email == "ap@buyer.example"
    emailed = asyncio.run(outbox.preflight(invoice("P-3", buyer=BUYER_NOWHERE), email="x@buyer.example"))
    assert emailed.channel == "email"
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 0


@pytest.mark.db
def test_needs_email_fails_when_nobody_gives_an_address_in_time(node):
    """W8.3 "no endpoint and no email" is failed, after [delivery] needs_email_timeout_hours; the clock
    is injected, so the wait is a clock move."""
    from datetime import timedelta

    sessions, clock, outbox, router, *_ = node
    w = worker(sessions, router, clock, policy=RetryPolicy(needs_email_timeout=timedelta(hours=72)))
    waiting = outbox.submit(invoice("T-1", buyer=BUYER_NOWHERE)).entry.id
    answered = outbox.submit(invoice("T-2", buyer=BUYER_NOWHERE)).entry.id
    assert asyncio.run(w.drain()) == 2
    assert outbox.get(waiting).state is State.NEEDS_EMAIL
    deadline = clock() + timedelta(hours=72)  # said in words a person reads on the document page
    assert outbox.get(waiting).events[-1].detail.endswith(f"needed before {deadline:%Y-%m-%d %H:%M} UTC")
    clock.advance(hours=71, minutes=59)
    assert asyncio.run(w.drain()) == 0  # nothing is due before the deadline
    assert outbox.get(waiting).state is State.NEEDS_EMAIL
    clock.advance(minutes=2)
    # An address given after the deadline but before a worker came by still counts.
    outbox.provide_email(answered, "late@buyer.example")
    asyncio.run(w.drain())
    failed = outbox.get(waiting)
    assert failed.state is State.FAILED and failed.error_code == "needs-email-timeout"
    assert "72 hours" in failed.error_detail and failed.events[-1].action == "needs-email-timeout"
    # no mailer in this worker: the answered one is being retried, not failed for want of an address
    late = outbox.get(answered)
    assert late.state is State.CREATED and late.email == "late@buyer.example" and late.error_code == "no-mailer"
    # A failed one can be resent with an address (W8.4).
    assert outbox.resend(waiting, email="ap@buyer.example").state is State.CREATED


@pytest.mark.db
def test_an_address_given_while_a_worker_expires_the_wait_wins(node):
    """provide_email does not wait for a worker's lease: the expiry must not fail an entry that just got one."""
    from datetime import timedelta

    sessions, clock, outbox, router, *_ = node
    w = worker(sessions, router, clock, policy=RetryPolicy(needs_email_timeout=timedelta(hours=1)))
    entry = outbox.submit(invoice("T-3", buyer=BUYER_NOWHERE)).entry.id
    asyncio.run(w.drain())
    clock.advance(hours=2)
    (claim,) = w.claim(10)
    work = w._load(claim)
    outbox.provide_email(entry, "ap@buyer.example")
    assert w._finish(claim, w._needs_email_expired(work))
    assert outbox.get(entry).state is State.CREATED


@pytest.mark.db
def test_no_route_waits_for_an_email_then_mails_pdf_and_ubl(node, smtp):
    sessions, clock, outbox, router, *_ = node
    controller, sink = smtp
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port, sender="ap@seller.example"))
    w = worker(sessions, router, clock, outbox, mailer=mailer, link_base_url="https://node.example",
               render_pdf=lambda ubl: b"%PDF-1.4 test")
    sub = outbox.submit(invoice("INV-2", buyer=BUYER_NOWHERE))
    asyncio.run(w.drain())
    entry = outbox.get(sub.entry.id)
    assert entry.state is State.NEEDS_EMAIL and entry.suggested_email == "ap@buyer.example"
    assert sink.messages == []
    outbox.provide_email(sub.entry.id, "invoices@buyer.example")
    asyncio.run(w.drain())
    entry = outbox.get(sub.entry.id)
    assert entry.state is State.SENT and entry.channel == "email" and entry.endpoint == "invoices@buyer.example"
    assert [e.to_state for e in entry.events] == ["created", "needs_email", "created", "sent"]
    (mail,) = sink.messages
    assert mail["To"] == "invoices@buyer.example" and "INV-2" in mail["Subject"]
    names = {part.get_filename(): part.get_content_type() for part in mail.walk() if part.get_filename()}
    assert names == {"invoice-INV-2.pdf": "application/pdf", "invoice-INV-2.xml": "application/xml"}
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    token = body.split("https://node.example/d/")[1].split()[0]
    opened, content = outbox.open_link(token)
    assert opened.state is State.OPENED and content == invoice("INV-2", buyer=BUYER_NOWHERE)


@pytest.mark.db
def test_smtp_5xx_fails_the_entry_4xx_is_retried_with_backoff(node, smtp):
    sessions, clock, outbox, router, *_ = node
    controller, sink = smtp
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=controller.port))
    w = worker(sessions, router, clock, mailer=mailer)
    sink.reply = "550 5.1.1 mailbox unavailable"
    perm = outbox.submit(invoice("INV-3", buyer=BUYER_NOWHERE), email="gone@buyer.example")
    asyncio.run(w.drain())
    entry = outbox.get(perm.entry.id)
    assert entry.state is State.FAILED and entry.error_code == "smtp:550"

    sink.reply = "451 4.3.0 try again later"
    temp = outbox.submit(invoice("INV-4", buyer=BUYER_NOWHERE), email="busy@buyer.example")
    asyncio.run(w.drain())
    entry = outbox.get(temp.entry.id)
    assert entry.state is State.CREATED and entry.error_code == "smtp:451" and entry.attempts == 1
    assert entry.events[-1].action == "attempt-failed"
    asyncio.run(w.drain())  # not due yet: the backoff holds it back
    assert outbox.get(temp.entry.id).attempts == 1
    sink.reply = None
    clock.advance(seconds=11)
    asyncio.run(w.drain())
    entry = outbox.get(temp.entry.id)
    assert entry.state is State.SENT and entry.error_code is None and entry.attempts == 2
    assert len(sink.messages) == 1


@pytest.mark.db
def test_smtp_down_exhausts_retries_then_resend_delivers(node):
    sessions, clock, outbox, router, *_ = node
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=1, timeout=2))  # nothing listens on port 1
    w = worker(sessions, router, clock, mailer=mailer)
    sub = outbox.submit(invoice("INV-5", buyer=BUYER_NOWHERE), email="a@buyer.example")
    for _ in range(3):
        asyncio.run(w.drain())
        clock.advance(hours=1)
    entry = outbox.get(sub.entry.id)
    assert entry.state is State.FAILED and entry.events[-1].action == "retries-exhausted"
    with pytest.raises(DocumentRejected):
        outbox.provide_email(sub.entry.id, "b@buyer.example")
    # the buyer turns out to be on this node after all: resend with the corrected id
    again = outbox.resend(sub.entry.id, receiver=BUYER_HERE)
    assert again.state is State.CREATED and again.resends == 1
    asyncio.run(w.drain())
    assert outbox.get(sub.entry.id).state is State.DELIVERED
    with sessions() as s:
        actions = s.scalars(sa.select(OutboxEvent.action).order_by(OutboxEvent.id)).all()
    assert "resend" in actions


@pytest.fixture(scope="module")
def bis_validator(testdata):
    import ubl

    from accesspoint.delivery.service import ubl_validator

    return ubl_validator(ubl.Validator(rules_dir=testdata / "phive-rules" / "openpeppol-2026.5",
                                       xsd_dir=testdata / "ubl-2.1" / "xsd"))


@pytest.mark.db
def test_submit_validates_against_the_official_bis_rules(database_url, bis_validator):
    engine, sessions = make_sessions(database_url)
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    outbox = Outbox(sessions, clock=Clock(), validator=bis_validator)
    assert outbox.submit(invoice("VAL-1")).entry.state is State.CREATED
    broken = invoice("VAL-2").replace(b'<cbc:PayableAmount currencyID="EUR">121.00',
                                      b'<cbc:PayableAmount currencyID="EUR">999.00')
    with pytest.raises(DocumentRejected) as info:
        outbox.submit(broken)
    assert info.value.code == "invalid" and "BR-CO-16" in info.value.findings
    engine.dispose()


@pytest.mark.db
def test_a_dead_workers_lease_runs_out_and_its_late_result_is_refused(node):
    sessions, clock, outbox, router, seller, buyer = node
    sub = outbox.submit(invoice("LEASE-1"))
    dead = worker(sessions, router, clock)
    (claim,) = dead.claim(10)
    live = worker(sessions, router, clock)
    assert live.claim(10) == []  # leased: nobody else may take it
    clock.advance(minutes=6)  # the lease (5 min) runs out; the first worker never came back
    asyncio.run(live.drain())
    assert outbox.get(sub.entry.id).state is State.DELIVERED
    # the first worker wakes up and tries to write its outcome: refused, nothing delivered twice
    asyncio.run(dead.process(claim))
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in")) == 1
    assert [e.to_state for e in outbox.get(sub.entry.id).events].count("delivered") == 1


@pytest.fixture
def live_service(database_url):
    """A DeliveryService on the real clock, with a seller and a buyer on this node (internal delivery)."""
    from datetime import UTC, datetime

    from accesspoint.delivery.service import DeliveryService

    engine, sessions = make_sessions(database_url)
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    add_organisation(sessions, "Buyer NV", BUYER_HERE)
    yield DeliveryService(sessions, clock=lambda: datetime.now(UTC), seat_id="PXX000001")
    engine.dispose()


@pytest.mark.db
def test_running_workers_pick_up_a_submit_at_once_and_stop_cleanly(live_service):
    service = live_service

    async def scenario() -> State:
        async with service.running(workers=2, poll_interval=30):  # a long poll: only wake() can be quick
            await asyncio.sleep(0.2)
            sub = await asyncio.to_thread(service.outbox.submit, invoice("RUN-1"))
            service.wake()
            for _ in range(100):
                state = (await asyncio.to_thread(service.outbox.get, sub.entry.id)).state
                if state is State.DELIVERED:
                    return state
                await asyncio.sleep(0.05)
            return state

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) is State.DELIVERED


@pytest.mark.db
def test_idle_loops_of_one_process_leave_the_polling_to_one_of_them(live_service, monkeypatch):
    """Four idle loops polling on their own cost four claim transactions per interval for nothing.

    The sleepers' safety-net timeout (IDLE_SLEEP_POLLS intervals) is set out of reach: on a loaded
    machine 20 slow claims by the poller outlast 30 short intervals, and a sleeper then rightly
    looks once more; this test is about the poll duty, not that timeout.
    """
    from accesspoint.delivery import worker as worker_module

    monkeypatch.setattr(worker_module, "IDLE_SLEEP_POLLS", 1_000_000)
    service = live_service
    claims: dict[str, int] = {}

    def counted(worker):
        claim_work = worker.claim_work

        def count(limit):
            claims[worker.worker_id] = claims.get(worker.worker_id, 0) + 1
            return claim_work(limit)
        worker.claim_work = count

    async def scenario() -> State:
        original = service.worker

        def worker(*args, **kwargs):
            w = original(*args, **kwargs)
            counted(w)
            return w
        service.worker = worker
        async with service.running(workers=4, poll_interval=0.02):
            while max(claims.values(), default=0) < 20:  # the poller has polled 20 times
                await asyncio.sleep(0.01)
            quiet = dict(claims)
            # Work arriving from another process (no wake): the poller finds it and it is delivered.
            sub = await asyncio.to_thread(service.outbox.submit, invoice("IDLE-1"))
            while (state := (await asyncio.to_thread(service.outbox.get, sub.entry.id)).state) is not State.DELIVERED:
                await asyncio.sleep(0.02)
        assert len(quiet) == 4 and sorted(quiet.values())[:3] == [1, 1, 1], quiet  # each looked once, at start
        return state

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) is State.DELIVERED


def test_a_claimed_batch_asks_once_which_receivers_are_ours(node, monkeypatch):
    """The internal-delivery question is asked for the whole batch in the claim, not per document."""
    sessions, clock, outbox, router, seller, buyer = node
    subs = [outbox.submit(invoice(f"BATCH-{n}")) for n in range(5)]
    asked: list[int] = []
    holders = Router.holders

    def counted(session, candidates):
        candidates = list(candidates)
        asked.append(len(candidates))
        return holders(session, candidates)
    monkeypatch.setattr(Router, "holders", staticmethod(counted))
    monkeypatch.setattr(Router, "find_internal", lambda self, candidates: pytest.fail("asked per document"))
    w = worker(sessions, router, clock)
    assert asyncio.run(w.drain()) == 5
    assert len(asked) == 1 and asked[0] >= 5, asked
    assert {outbox.get(s.entry.id).channel for s in subs} == {"internal"}
    assert {outbox.get(s.entry.id).state for s in subs} == {State.DELIVERED}


def test_a_document_whose_facts_cannot_be_read_at_claim_fails_alone(node):
    """The claim reads each document's facts; one unreadable document is its own attempt's error."""
    sessions, clock, outbox, router, seller, buyer = node
    good, bad = outbox.submit(invoice("FACTS-1")), outbox.submit(invoice("FACTS-2"))
    with sessions.begin() as s:
        doc = s.scalars(sa.select(Document).where(Document.number == "FACTS-2", Document.direction == "out")).one()
        doc.content = b"<not-an-invoice/>"
    w = worker(sessions, router, clock)
    assert asyncio.run(w.drain()) == 2
    assert outbox.get(good.entry.id).state is State.DELIVERED
    broken = outbox.get(bad.entry.id)
    assert broken.state is State.CREATED and broken.error_code == "internal-error", broken


def _delivered_group(sessions, clock, outbox, router, numbers):
    """Claimed entries and a receipt-verified AS4 outcome for each, as the worker has them after sending."""
    from accesspoint.delivery.routing import Channel, Route
    from accesspoint.delivery.transport import As4Outcome
    from accesspoint.delivery.worker import _Delivered

    subs = [outbox.submit(invoice(n)) for n in numbers]
    w = worker(sessions, router, clock)
    batch = w.claim_work(len(numbers))
    assert len(batch) == len(numbers)
    route = Route(Channel.PEPPOL, participant_id=BUYER_HERE, endpoint="https://ap.example/as4")
    group = [_Delivered(work, route, w.message_id(work), As4Outcome(f"receipt-{work.number}".encode(), "PXX000009"),
                        clock()) for work in batch]
    return w, subs, group


@pytest.mark.db
def test_deliveries_finishing_together_are_written_in_one_transaction_each_under_its_lease(node):
    sessions, clock, outbox, router, seller, buyer = node
    w, subs, group = _delivered_group(sessions, clock, outbox, router, ["GRP-1", "GRP-2", "GRP-3"])
    with sessions.begin() as s:  # GRP-2's lease was lost (it ran out and another worker took it)
        s.execute(sa.update(OutboxEntry).where(OutboxEntry.id == group[1].work.claim.entry_id)
                  .values(claimed_by="someone-else"))
    commits: list[object] = []
    engine = sessions.kw["bind"]

    def committed(conn):
        commits.append(conn)
    sa.event.listen(engine, "commit", committed)
    try:
        assert w._write_delivered_group(group) == [True, False, True]
    finally:
        sa.event.remove(engine, "commit", committed)
    assert len(commits) == 1
    states = [outbox.get(s.entry.id) for s in subs]
    assert [e.state for e in states] == [State.DELIVERED, State.CREATED, State.DELIVERED]
    assert [(e.from_state, e.to_state) for e in states[2].events] == [
        (None, "created"), ("created", "sent"), ("sent", "delivered")]
    with sessions() as s:
        charged = s.scalars(sa.select(LedgerEntry.document_public_id).where(LedgerEntry.direction == "out")).all()
        logged = s.scalar(sa.select(sa.func.count()).select_from(Transaction))
        rows = s.execute(sa.select(OutboxEntry.claimed_by, OutboxEntry.receipt, OutboxEntry.remote_seat_id)
                         .where(OutboxEntry.id.in_([d.work.claim.entry_id for d in group]))
                         .order_by(OutboxEntry.id)).all()
    assert sorted(charged) == sorted([group[0].work.document_public_id, group[2].work.document_public_id])
    assert logged == 2
    assert [r.claimed_by for r in rows] == [None, "someone-else", None]  # ours released
    assert [(r.receipt, r.remote_seat_id) for r in rows] == [
        (b"receipt-GRP-1", "PXX000009"), (None, None), (b"receipt-GRP-3", "PXX000009")]


@pytest.mark.db
def test_one_delivery_that_cannot_be_written_does_not_undo_the_others_of_its_group(node):
    sessions, clock, outbox, router, seller, buyer = node
    w, subs, group = _delivered_group(sessions, clock, outbox, router, ["ONE-1", "ONE-2", "ONE-3"])
    with sessions.begin() as s:  # ONE-3 is already final: sent -> delivered is no move from failed
        s.execute(sa.update(OutboxEntry).where(OutboxEntry.id == group[2].work.claim.entry_id)
                  .values(state=State.FAILED.value))
    results = w._write_delivered_group(group)
    assert results[:2] == [True, True] and isinstance(results[2], InvalidTransition), results
    assert [outbox.get(s.entry.id).state for s in subs] == [State.DELIVERED, State.DELIVERED, State.FAILED]
    with sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 2


def test_group_commit_writes_what_arrives_during_a_write_together_and_a_lone_item_at_once():
    from accesspoint.delivery.worker import GroupCommit

    groups: list[list[int]] = []
    release = __import__("threading").Event()

    def write(items):
        groups.append(list(items))
        if len(groups) == 1:
            release.wait(10)  # the first write is slow: everything submitted meanwhile queues
        return [item * 10 if item != 4 else ValueError("four") for item in items]

    async def scenario():
        commit: GroupCommit[int] = GroupCommit(write)
        first = asyncio.ensure_future(commit.submit(1))
        while not groups:
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(commit.submit(n)) for n in (2, 3, 4)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        lone = await commit.submit(5)
        return results, lone

    results, lone = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert groups == [[1], [2, 3, 4], [5]]
    assert results[:3] == [10, 20, 30] and isinstance(results[3], ValueError)
    assert lone == 50

