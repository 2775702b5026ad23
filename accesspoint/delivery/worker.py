"""Delivery workers: the database is the queue.

A worker claims due outbox entries (`next_attempt_at <= now`, no live lease)
with one UPDATE whose candidate subquery is `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so concurrent workers in any number of `serve` processes never get
the same row; on SQLite the database has a single writer, which makes the same
UPDATE atomic. The claim is a lease (`claimed_by` token + `lease_until`): the
network work happens outside any transaction, and the result is written only
if the lease is still ours. A worker that dies leaves its entries to be
claimed again when the lease runs out. AS4 resends keep the MessageId, so a
receiver that already has the message answers as for a duplicate.

Each attempt re-runs route selection (W8.2): internal, Peppol, then email or
`needs_email`. Transient failures back off exponentially; permanent ones
(ebMS Failure errors, SMTP 5xx, no route) fail the entry with the reason.

Who pays (W4): the commit that records a document's first departure (sent, or
delivered internally) also writes its ledger row, with the payer of that moment;
an internal delivery writes the receiving organisation's row too.

A `needs_email` entry waits for a person; its `next_attempt_at` is the end of
that wait (`RetryPolicy.needs_email_timeout`). A worker that claims it then
fails it with `needs-email-timeout`, so the invoice does not sit unnoticed; an
address given before that moves it back to `created` at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import ubl
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent, Transaction
from accesspoint.mail import MailError, Mailer

from . import ledger
from .facts import OutgoingDocument, read_outgoing
from .outbox import candidates_for, record_transition, utc
from .routing import (AS4_TRANSPORT_PROFILE, Channel, InternalHolders, LookupUnavailable, PeppolEndpoint, Route,
                      Router)
from .states import State, check_transition
from .transport import As4Outcome, As4Request, As4SendError, As4Transport

__all__ = ["DeliveryWorker", "RetryPolicy", "Claim", "Siblings", "GroupCommit"]

T = TypeVar("T")

log = logging.getLogger("accesspoint.delivery")

# The hot path of a delivery (load the claimed entry, record an AS4 delivery) in SQL Core with
# statements built once: py-spy of a sending node showed ORM loads and unit-of-work flushes
# (and building their statements) costing about as much as the AS4 exchange's own crypto.
# The other outcomes are rare and stay on the ORM path (`_finish`).
_ENTRY, _DOC = OutboxEntry.__table__, Document.__table__
_LOADED = (_ENTRY.c.id.label("entry_id"), _ENTRY.c.public_id, _ENTRY.c.kind, _ENTRY.c.state, _ENTRY.c.email,
           _ENTRY.c.attempts, _ENTRY.c.resends, _ENTRY.c.claimed_by, _DOC.c.id.label("document_id"),
           _DOC.c.public_id.label("document_public_id"), _DOC.c.organisation_id, _DOC.c.receiver_id,
           _DOC.c.sender_id, _DOC.c.document_type_id, _DOC.c.process_id, _DOC.c.instance_identifier,
           _DOC.c.country_c1, _DOC.c.content, _DOC.c.created_at, _DOC.c.number)
_LOAD = (sa.select(*_LOADED).join(_DOC, _DOC.c.id == _ENTRY.c.document_id)
         .where(_ENTRY.c.id == sa.bindparam("entry_id")))
# What a claim loads, in the claim's own transaction: one statement and one thread hop per batch,
# not one session (a pool checkout, a ping, a query) per entry.
_LOAD_CLAIMED = (sa.select(*_LOADED).join(_DOC, _DOC.c.id == _ENTRY.c.document_id)
                 .where(_ENTRY.c.id.in_(sa.bindparam("entry_ids", expanding=True)),
                        _ENTRY.c.claimed_by == sa.bindparam("token")))
# The lease check of a group of deliveries; ordered, so two groups lock rows in the same order.
_HELD_MANY = (sa.select(_ENTRY.c.id, _ENTRY.c.claimed_by, _ENTRY.c.state, _ENTRY.c.sent_at, _ENTRY.c.delivered_at)
              .where(_ENTRY.c.id.in_(sa.bindparam("entry_ids", expanding=True))).order_by(_ENTRY.c.id))
_HELD_MANY_FOR_UPDATE = _HELD_MANY.with_for_update()
_DELIVERED = _ENTRY.update().where(_ENTRY.c.id == sa.bindparam("entry_id")).values(
    state=State.DELIVERED.value, channel=sa.bindparam("v_channel"), routed_to=sa.bindparam("v_routed_to"),
    endpoint=sa.bindparam("v_endpoint"), attempts=_ENTRY.c.attempts + 1,
    as4_message_id=sa.bindparam("v_message_id"), receipt=sa.bindparam("v_receipt"),
    remote_seat_id=sa.bindparam("v_remote_seat_id"), sent_at=sa.bindparam("v_sent_at"),
    delivered_at=sa.bindparam("v_delivered_at"), next_attempt_at=None, error_code=None, error_detail=None,
    updated_at=sa.bindparam("v_delivered_at"), claimed_by=None, lease_until=None)
_INSERT_EVENT = OutboxEvent.__table__.insert()
_INSERT_TRANSACTION = Transaction.__table__.insert()

#: Renders a UBL document as PDF for the email fallback (ubl's renderer); None = no PDF.
PdfRenderer = Callable[[bytes], bytes | None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    first_delay: timedelta = timedelta(seconds=10)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    #: Longer than the AS4 response timeout (120 s, protocol.md §1.8), so a slow but
    #: live send never loses its lease to another worker.
    lease: timedelta = timedelta(minutes=5)
    #: How long a `needs_email` entry waits for someone to give the address before it fails
    #: (`[delivery] needs_email_timeout_hours`); W8.3 lists "no endpoint and no email" as failed.
    needs_email_timeout: timedelta = timedelta(hours=72)

    def delay(self, attempts: int) -> timedelta:
        """Wait after the `attempts`-th failed attempt (1-based)."""
        seconds = self.first_delay.total_seconds() * self.factor ** max(0, attempts - 1)
        return timedelta(seconds=min(seconds, self.max_delay.total_seconds()))


#: How many poll intervals an idle loop that is not its process's poller sleeps before it looks itself.
IDLE_SLEEP_POLLS = 30


class Siblings:
    """The delivery loops of one process: while all are idle, one polls the outbox, the rest sleep.

    Every loop polling on its own cost a transaction (checkout, ping, claim, commit) per loop and
    interval for nothing: py-spy put a fifth of a receiving-only node's CPU in idle claims, and the
    PostgreSQL log showed more claim statements than documents. Safe to share only within one event
    loop (all calls come from it; `wake` itself is thread-safe).
    """

    def __init__(self) -> None:
        self.members: list[DeliveryWorker] = []
        self.poller: DeliveryWorker | None = None

    def join(self, worker: DeliveryWorker) -> None:
        self.members.append(worker)

    def take_poll(self, worker: DeliveryWorker) -> bool:
        """Whether `worker` polls at the poll interval (the first idle loop does, until it finds work)."""
        if self.poller is None or self.poller is worker:
            self.poller = worker
            return True
        return False

    def found_work(self, worker: DeliveryWorker, *, full: bool) -> None:
        """The poller found work (it stops polling while it works), or any loop found a full batch."""
        if self.poller is worker:
            self.poller = None
        elif not full:
            return
        self._wake_others(worker)

    def leave(self, worker: DeliveryWorker) -> None:
        if worker in self.members:
            self.members.remove(worker)
        if self.poller is worker:
            self.poller = None
            self._wake_others(worker)

    def _wake_others(self, worker: DeliveryWorker) -> None:
        for other in self.members:
            if other is not worker:
                other.wake()


@dataclass(frozen=True, slots=True)
class Claim:
    entry_id: int
    token: str


@dataclass
class _Work:
    """What one attempt needs, copied out of the session that claimed it."""

    claim: Claim
    public_id: str
    kind: str
    state: State
    email: str | None
    attempts: int
    resends: int
    document_id: int
    receiver_id: str
    sender_id: str
    document_type_id: str
    process_id: str
    instance_identifier: str
    country_c1: str
    content: bytes
    created_at: datetime
    number: str
    organisation_id: int = 0
    document_public_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: Read at claim time for a document (`_prepare`); None = the attempt reads it itself.
    facts: OutgoingDocument | None = None
    candidates: tuple[ubl.ParticipantId, ...] | None = None
    #: Which of the batch's candidates are ours, asked once per batch in the claim's transaction.
    held: InternalHolders | None = None


class _Delivered(NamedTuple):
    """A receipt-verified AS4 delivery waiting to be recorded."""

    work: _Work
    route: Route
    message_id: str
    outcome: As4Outcome
    started: datetime


class GroupCommit(Generic[T]):
    """Writes items that arrive while a write is running together, in the next write (a group commit).

    No timer: an item that arrives while nothing is being written goes at once, alone; items that
    arrive during that write wait for it and then go together. So a quiet node pays nothing and a
    busy one writes in groups as large as its concurrency. `write` runs in a thread and returns,
    per item, its result or the exception to raise to that item's submitter. Use from one event loop.
    """

    def __init__(self, write: Callable[[list[T]], list[Any]]) -> None:
        self._write = write
        self._pending: list[tuple[T, asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    results = await asyncio.to_thread(self._write, [item for item, _ in group])
                except BaseException as exc:  # noqa: BLE001 - every submitter of the group hears of it
                    results = [exc] * len(group)
                    if not isinstance(exc, Exception):
                        self._settle(group, results)
                        raise
                self._settle(group, results)
        finally:
            self._flushing = None
            if self._pending:  # cancelled between groups: nobody may wait for ever
                group, self._pending = self._pending, []
                self._settle(group, [asyncio.CancelledError()] * len(group))

    @staticmethod
    def _settle(group: list[tuple[T, asyncio.Future[Any]]], results: list[Any]) -> None:
        for (_, future), result in zip(group, results, strict=True):
            if future.done():  # its submitter was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


class DeliveryWorker:
    """Claims and delivers outbox entries; run several per process and several processes per database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        router: Router,
        clock: Callable[[], datetime],
        seat_id: str,
        as4: As4Transport | None = None,
        mailer: Mailer | None = None,
        link_base_url: str = "",
        issue_link: Callable[[str], str] | None = None,
        render_pdf: PdfRenderer | None = None,
        policy: RetryPolicy = RetryPolicy(),
        worker_id: str | None = None,
        batch_size: int = 20,
        mls_to: ubl.ParticipantId | None = None,
        mls_type: ubl.MlsType | None = None,
        siblings: Siblings | None = None,
    ) -> None:
        self.sessions = sessions
        #: The other loops of this process (DeliveryService shares one); alone, a loop always polls.
        self.siblings = siblings or Siblings()
        self.router = router
        self.clock = clock
        self.seat_id = seat_id
        self.as4 = as4
        self.mailer = mailer
        self.link_base_url = link_base_url.rstrip("/")
        self.issue_link = issue_link
        self.render_pdf = render_pdf
        self.policy = policy
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.mls_to = mls_to
        self.mls_type = mls_type
        self._wake = asyncio.Event()
        #: Receipt-verified deliveries that finish while one group is being written join the next
        #: (one transaction, commit and thread hop per group instead of per document).
        self._delivered: GroupCommit[_Delivered] = GroupCommit(self._write_delivered_group)
        self.is_postgres = sessions.kw["bind"].dialect.name == "postgresql"

    # -- the loop ---------------------------------------------------------------------------
    def wake(self) -> None:
        """Look for work now instead of at the next poll (after a submit).

        Safe from any thread: the web pages run in Starlette's thread pool, and an
        asyncio.Event may only be set from the loop that waits on it.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    _loop: asyncio.AbstractEventLoop | None = None

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 1.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.siblings.join(self)
        try:
            while not stop.is_set():
                try:
                    done = await self.run_once()
                except Exception:  # a worker must survive a database hiccup; the next poll retries
                    log.exception("delivery worker %s: iteration failed", self.worker_id)
                    done = 0
                if done:
                    self.siblings.found_work(self, full=done >= self.batch_size)
                    continue
                # Idle. One loop of the process polls; the others sleep until woken (a submit, the
                # poller finding work, stop), with a long timeout only as a safety net.
                polling = self.siblings.take_poll(self)
                self._wake.clear()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waiters, timeout=poll_interval if polling else poll_interval * IDLE_SLEEP_POLLS,
                                   return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
        finally:
            self.siblings.leave(self)

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many entries were worked on."""
        batch = await asyncio.to_thread(self.claim_work, self.batch_size)
        if batch:
            await asyncio.gather(*(self._process(work) for work in batch))
        return len(batch)

    async def drain(self, *, max_rounds: int = 1000) -> int:
        """Work until nothing is due (tests and the CLI); returns the number of attempts made."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            if not n:
                break
            total += n
        return total

    # -- claiming ---------------------------------------------------------------------------
    def _claim_statement(self, now: datetime, token: str, limit: int) -> sa.Update:
        due = (
            sa.select(OutboxEntry.id)
            .where(OutboxEntry.next_attempt_at.is_not(None), OutboxEntry.next_attempt_at <= now)
            .where(sa.or_(OutboxEntry.lease_until.is_(None), OutboxEntry.lease_until < now))
            .order_by(OutboxEntry.next_attempt_at, OutboxEntry.id)
            .limit(limit)
        )
        if self.is_postgres:
            due = due.with_for_update(skip_locked=True)
        return (
            sa.update(OutboxEntry)
            .where(OutboxEntry.id.in_(due.scalar_subquery()))
            .values(claimed_by=token, lease_until=now + self.policy.lease)
            .returning(OutboxEntry.id)
            .execution_options(synchronize_session=False)
        )

    def _new_token(self) -> str:
        return f"{self.worker_id}:{uuid.uuid4().hex[:12]}"

    def claim(self, limit: int) -> list[Claim]:
        token = self._new_token()
        with self.sessions.begin() as session:
            ids = list(session.scalars(self._claim_statement(self.clock(), token, limit)))
        return [Claim(i, token) for i in ids]

    def claim_work(self, limit: int) -> list[_Work]:
        """Claim up to `limit` due entries and load what their attempts need, in one transaction."""
        token = self._new_token()
        with self.sessions.begin() as session:
            ids = list(session.scalars(self._claim_statement(self.clock(), token, limit)))
            if not ids:
                return []
            rows = session.connection().execute(_LOAD_CLAIMED, {"entry_ids": ids, "token": token}).all()
            batch = [self._work(Claim(row.entry_id, token), row) for row in rows]
            self._prepare(session, batch)
        return batch

    def _prepare(self, session: Session, batch: list[_Work]) -> None:
        """Read each document's facts and ask which of all their candidates are ours, in one query.

        Runs in the claim's thread and transaction, so an attempt needs no thread hop and no session
        of its own to decide on internal delivery (py-spy of a sending node: `to_thread` hand-offs
        were 7.7% of its CPU). A document whose facts cannot be read is left for its attempt to
        read again, where the error is recorded against that entry alone.
        """
        wanted: list[ubl.ParticipantId] = []
        for work in batch:
            if work.kind != "document" or work.state is State.NEEDS_EMAIL:
                continue
            try:
                work.facts = read_outgoing(work.content)
                work.candidates = candidates_for(work.receiver_id, work.facts)
            except Exception:  # noqa: BLE001 - recorded by the attempt, which reads it again
                work.facts = work.candidates = None
                continue
            wanted.extend(work.candidates)
        if not wanted:
            return
        held = Router.holders(session, wanted)
        for work in batch:
            if work.candidates is not None:
                work.held = held

    def _load(self, claim: Claim) -> _Work | None:
        with self.sessions() as session:
            row = session.connection().execute(_LOAD, {"entry_id": claim.entry_id}).first()
        if row is None or row.claimed_by != claim.token:
            return None
        return self._work(claim, row)

    @staticmethod
    def _work(claim: Claim, row: sa.Row) -> _Work:
        return _Work(
            claim=claim, public_id=row.public_id, kind=row.kind, state=State(row.state), email=row.email,
            attempts=row.attempts, resends=row.resends, document_id=row.document_id, receiver_id=row.receiver_id,
            sender_id=row.sender_id, document_type_id=row.document_type_id, process_id=row.process_id,
            instance_identifier=row.instance_identifier, country_c1=row.country_c1, content=row.content,
            created_at=utc(row.created_at), number=row.number, organisation_id=row.organisation_id,
            document_public_id=row.document_public_id,
        )

    def _finish(self, claim: Claim, apply: Callable[[Session, OutboxEntry, datetime], None]) -> bool:
        """Write an attempt's outcome, only if our lease still holds; always releases it."""
        with self.sessions() as session:
            query = sa.select(OutboxEntry).where(OutboxEntry.id == claim.entry_id,
                                                 OutboxEntry.claimed_by == claim.token)
            if self.is_postgres:
                query = query.with_for_update()
            entry = session.scalars(query).first()
            if entry is None:
                log.warning("delivery worker %s lost the lease on entry %s", self.worker_id, claim.entry_id)
                return False
            apply(session, entry, self.clock())
            entry.claimed_by = None
            entry.lease_until = None
            session.commit()
            return True

    # -- one attempt ------------------------------------------------------------------------------
    async def process(self, claim: Claim) -> None:
        work = await asyncio.to_thread(self._load, claim)
        if work is not None:
            await self._process(work)

    async def _process(self, work: _Work) -> None:
        try:
            await self._attempt(work)
        except Exception as exc:  # never leave an entry claimed because of a bug in one attempt
            log.exception("delivery of %s failed unexpectedly", work.public_id)
            await asyncio.to_thread(self._finish, work.claim, self._retry_or_fail(work, "internal-error", repr(exc)))

    async def _attempt(self, work: _Work) -> None:
        if work.state is State.NEEDS_EMAIL:
            # Claimed while waiting for a person: its wait is over (next_attempt_at is the deadline).
            await asyncio.to_thread(self._finish, work.claim, self._needs_email_expired(work))
            return
        receiver = ubl.ParticipantId.parse(work.receiver_id)
        if work.candidates is not None:
            facts, candidates = work.facts, work.candidates
        else:
            facts = read_outgoing(work.content) if work.kind == "document" else None
            candidates = candidates_for(work.receiver_id, facts) if facts else (receiver,)
        doctype = ubl.DocumentTypeId.parse(work.document_type_id)
        process = ubl.ProcessId.parse(work.process_id)
        is_doc = work.kind == "document"
        try:
            route = await self.router.choose(candidates, doctype, process, email=work.email,
                                             allow_internal=is_doc, allow_email=is_doc, held=work.held)
        except LookupUnavailable as exc:
            await asyncio.to_thread(self._finish, work.claim, self._retry_or_fail(work, "lookup-unavailable", str(exc)))
            return
        if route is None:
            if is_doc:
                await asyncio.to_thread(self._finish, work.claim, self._needs_email(work))
            else:
                await asyncio.to_thread(self._finish, work.claim,
                                        self._fail(work, "no-route", f"{receiver} has no Peppol endpoint for MLS"))
            return
        if route.channel is Channel.INTERNAL:
            await asyncio.to_thread(self._finish, work.claim, self._deliver_internal(work, route))
        elif route.channel is Channel.PEPPOL:
            await self._send_as4(work, route, doctype, process)
        else:
            await self._send_email(work, route, facts)

    # -- outcomes ----------------------------------------------------------------------------------
    @staticmethod
    def _charge(session: Session, entry: OutboxEntry, channel: Channel, now: datetime) -> None:
        """W4: the document leaves for the first time: one ledger row, in this same transaction.

        Call before the entry's `sent_at`/`delivered_at` are set. A resend of an entry that
        already left once (e.g. failed by a negative MLS after its receipt) is not charged again.
        """
        if entry.kind == "document" and entry.sent_at is None and entry.delivered_at is None:
            ledger.record(session, at=now, organisation_id=entry.document.organisation_id, direction="out",
                          channel=channel.value, document_public_id=entry.document.public_id)

    def _routed(self, entry: OutboxEntry, route: Route) -> None:
        entry.channel = route.channel.value
        entry.routed_to = route.participant_id
        entry.endpoint = route.endpoint

    def _retry_or_fail(self, work: _Work, code: str, detail: str) -> Callable[[Session, OutboxEntry, datetime], None]:
        def apply(session: Session, entry: OutboxEntry, now: datetime) -> None:
            entry.attempts += 1
            entry.error_code, entry.error_detail = code, detail
            if entry.attempts >= self.policy.max_attempts:
                entry.next_attempt_at = None
                record_transition(session, entry, State.FAILED, at=now, action="retries-exhausted",
                                  detail=f"{code}: {detail} (after {entry.attempts} attempts)", worker=self.worker_id)
            else:
                entry.next_attempt_at = now + self.policy.delay(entry.attempts)
                record_transition(session, entry, None, at=now, action="attempt-failed",
                                  detail=f"{code}: {detail}; next attempt {entry.next_attempt_at.isoformat()}",
                                  worker=self.worker_id)
        return apply

    def _fail(self, work: _Work, code: str, detail: str) -> Callable[[Session, OutboxEntry, datetime], None]:
        def apply(session: Session, entry: OutboxEntry, now: datetime) -> None:
            entry.attempts += 1
            entry.error_code, entry.error_detail = code, detail
            entry.next_attempt_at = None
            record_transition(session, entry, State.FAILED, at=now, action="failed", detail=f"{code}: {detail}",
                              worker=self.worker_id)
        return apply

    def _needs_email(self, work: _Work) -> Callable[[Session, OutboxEntry, datetime], None]:
        def apply(session: Session, entry: OutboxEntry, now: datetime) -> None:
            # No worker has anything to do until a person gives the address, or the wait ends.
            entry.next_attempt_at = now + self.policy.needs_email_timeout
            record_transition(session, entry, State.NEEDS_EMAIL, at=now, action="no-route",
                              detail="not on this node and not on Peppol; an email address is needed "
                                     f"before {entry.next_attempt_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                              worker=self.worker_id)
        return apply

    def _needs_email_expired(self, work: _Work) -> Callable[[Session, OutboxEntry, datetime], None]:
        def apply(session: Session, entry: OutboxEntry, now: datetime) -> None:
            if State(entry.state) is not State.NEEDS_EMAIL:
                # An address came in after the claim (provide_email does not wait for our lease):
                # leave the entry queued as it now is; the next claim sends it.
                return
            hours = self.policy.needs_email_timeout.total_seconds() / 3600
            entry.next_attempt_at = None
            entry.error_code = "needs-email-timeout"
            entry.error_detail = (f"the buyer is not on Peppol and no email address was given within {hours:g} hours; "
                                  "resend it with an address, or correct the buyer's Peppol id")
            record_transition(session, entry, State.FAILED, at=now, action="needs-email-timeout",
                              detail=entry.error_detail, worker=self.worker_id)
        return apply

    def _deliver_internal(self, work: _Work, route: Route) -> Callable[[Session, OutboxEntry, datetime], None]:
        def apply(session: Session, entry: OutboxEntry, now: datetime) -> None:
            # The inbox copy and the state change commit together, under our lease:
            # internal delivery happens exactly once.
            doc = entry.document
            inbound = Document(
                public_id=str(uuid.uuid4()), organisation_id=route.organisation_id, direction="in",
                connection="peppol_purchase", sender_id=doc.sender_id, receiver_id=route.participant_id,
                document_type_id=doc.document_type_id, process_id=doc.process_id,
                instance_identifier=doc.instance_identifier, number=doc.number, issue_date=doc.issue_date,
                country_c1=doc.country_c1, duplicate_key=doc.duplicate_key, content=doc.content, created_at=now,
                seller_name=doc.seller_name, buyer_name=doc.buyer_name, payable_amount=doc.payable_amount,
                currency=doc.currency,
            )
            existing = session.scalars(sa.select(Document).where(
                Document.organisation_id == route.organisation_id, Document.direction == "in",
                Document.duplicate_key == doc.duplicate_key)).first()
            if existing is None:
                session.add(inbound)
                session.flush()
                existing = inbound
                if entry.kind == "document":
                    # W4: received by our other organisation: its own transaction, charged to its payer.
                    ledger.record(session, at=now, organisation_id=route.organisation_id, direction="in",
                                  channel=Channel.INTERNAL.value, document_public_id=inbound.public_id)
            self._charge(session, entry, Channel.INTERNAL, now)
            self._routed(entry, route)
            entry.attempts += 1
            entry.next_attempt_at = None
            entry.receipt = f"internal:{existing.public_id}".encode()
            entry.delivered_at = now
            entry.error_code = entry.error_detail = None
            record_transition(session, entry, State.DELIVERED, at=now, action="delivered",
                              detail=f"internal delivery to {route.participant_id}", worker=self.worker_id)
        return apply

    def message_id(self, work: _Work) -> str:
        """Same across retries of one entry, new for each resend (a resend is a new message)."""
        return f"{work.public_id}-{work.resends}@{self.seat_id.lower()}.peppol-node"

    async def _send_as4(self, work: _Work, route: Route, doctype: ubl.DocumentTypeId, process: ubl.ProcessId) -> None:
        if self.as4 is None:
            await asyncio.to_thread(self._finish, work.claim,
                                    self._retry_or_fail(work, "no-as4", "this node has no AS4 sender configured"))
            return
        receiver = ubl.ParticipantId.parse(route.participant_id or work.receiver_id)
        sender = ubl.ParticipantId.parse(work.sender_id)
        sbd = ubl.build_sbd(
            sender=sender, receiver=receiver, document_type_id=doctype, process_id=process,
            country_c1=work.country_c1, payload=work.content, creation_time=work.created_at,
            instance_identifier=work.instance_identifier,
            mls_to=self.mls_to if work.kind == "document" else None,
            mls_type=self.mls_type if work.kind == "document" else None,
        )
        message_id = self.message_id(work)
        request = As4Request(message_id=message_id, sbd=sbd,
                             endpoint=PeppolEndpoint(route.endpoint or "", route.certificate or b""),
                             sender=sender, receiver=receiver, document_type_id=doctype, process_id=process)
        started = self.clock()
        try:
            outcome = await self.as4.send(request)
        except As4SendError as exc:
            if exc.code == "probably-delivered" or (exc.code == "EBMS:4001" and work.attempts > 0):
                # phase4 answers a resend of a message it has with DuplicateDetected: the
                # earlier attempt got through and only its receipt was lost (protocol.md §1.8).
                def dup(session: Session, entry: OutboxEntry, now: datetime) -> None:
                    self._charge(session, entry, Channel.PEPPOL, started)
                    self._routed(entry, route)
                    entry.as4_message_id = message_id
                    entry.next_attempt_at = None
                    entry.sent_at = started
                    record_transition(session, entry, State.SENT, at=started, action="sent",
                                      detail="receiver reports a duplicate; delivered without receipt, MLS will confirm",
                                      worker=self.worker_id)
                await asyncio.to_thread(self._finish, work.claim, dup)
            elif exc.permanent:
                await asyncio.to_thread(self._finish, work.claim, self._fail(work, exc.code, exc.detail))
            else:
                await asyncio.to_thread(self._finish, work.claim, self._retry_or_fail(work, exc.code, exc.detail))
            return

        await self._delivered.submit(_Delivered(work, route, message_id, outcome, started))

    def _write_delivered_group(self, group: list[_Delivered]) -> list[bool | Exception]:
        """`_write_delivered` for deliveries that finished together; one at a time if the group fails.

        One failing delivery (a bug, a constraint) must not undo the others: they are written again
        each in its own transaction, and only the failing one gets its error.
        """
        if len(group) > 1:
            try:
                return list(self._write_delivered(group))
            except Exception:  # noqa: BLE001 - retried one by one below, which reports it
                log.warning("delivery worker %s: a group of %d deliveries failed; writing them one by one",
                            self.worker_id, len(group), exc_info=True)
        results: list[bool | Exception] = []
        for delivered in group:
            try:
                results.extend(self._write_delivered([delivered]))
            except Exception as exc:  # noqa: BLE001 - handed to that delivery's attempt
                results.append(exc)
        return results

    def _write_delivered(self, group: list[_Delivered]) -> list[bool]:
        """Record receipt-verified AS4 deliveries in one transaction: each only if our lease still holds.

        The same rows `_finish` with an ORM outcome would write (entry, two events, the reporting
        transaction, the W4 ledger row on a first departure), as one statement per kind of row for
        the whole group. Returns, per delivery, whether it was written (False: the lease was lost).
        """
        now = self.clock()
        written = [False] * len(group)
        with self.sessions.begin() as session:
            conn = session.connection()
            ids = [d.work.claim.entry_id for d in group]
            held = {row.id: row for row in conn.execute(_HELD_MANY_FOR_UPDATE if self.is_postgres else _HELD_MANY,
                                                        {"entry_ids": ids})}
            entries, events, transactions, charges = [], [], [], []
            for i, (work, route, message_id, outcome, started) in enumerate(group):
                row = held.get(work.claim.entry_id)
                if row is None or row.claimed_by != work.claim.token:
                    log.warning("delivery worker %s lost the lease on entry %s", self.worker_id, work.claim.entry_id)
                    continue
                current = State(row.state)
                check_transition(current, State.SENT)
                if work.kind == "document" and row.sent_at is None and row.delivered_at is None:
                    charges.append({"at": started, "organisation_id": work.organisation_id, "direction": "out",
                                    "channel": Channel.PEPPOL.value, "document_public_id": work.document_public_id})
                seat = outcome.remote_seat_id
                entries.append({
                    "entry_id": work.claim.entry_id, "v_channel": route.channel.value,
                    "v_routed_to": route.participant_id, "v_endpoint": route.endpoint, "v_message_id": message_id,
                    "v_receipt": outcome.receipt, "v_remote_seat_id": seat, "v_sent_at": started,
                    "v_delivered_at": now})
                events += [
                    {"entry_id": work.claim.entry_id, "at": started, "from_state": current.value,
                     "to_state": State.SENT.value, "action": "sent",
                     "detail": f"AS4 {message_id} to {route.endpoint}"[:4000], "worker": self.worker_id},
                    {"entry_id": work.claim.entry_id, "at": now, "from_state": State.SENT.value,
                     "to_state": State.DELIVERED.value, "action": "delivered",
                     "detail": f"signed receipt from {seat}"[:4000], "worker": self.worker_id},
                ]
                transactions.append({
                    "at": now, "direction": "out", "kind": "business" if work.kind == "document" else work.kind,
                    "other_seat_id": seat, "document_type_id": work.document_type_id, "process_id": work.process_id,
                    "transport_profile": AS4_TRANSPORT_PROFILE, "end_user_id": work.sender_id,
                    "c1_country": work.country_c1, "c4_country": None,
                    "instance_identifier": work.instance_identifier})
                written[i] = True
            if not entries:
                return written
            ledger.record_many(session, charges)
            conn.execute(_DELIVERED, entries)
            conn.execute(_INSERT_EVENT, events)
            conn.execute(_INSERT_TRANSACTION, transactions)
        return written

    async def _send_email(self, work: _Work, route: Route, facts: object) -> None:
        if self.mailer is None:
            await asyncio.to_thread(self._finish, work.claim,
                                    self._retry_or_fail(work, "no-mailer", "this node has no SMTP configured"))
            return
        address = route.endpoint or ""
        message = await asyncio.to_thread(self._email_message, work, address, facts)
        try:
            mail_id = await asyncio.to_thread(self.mailer.send, message)
        except MailError as exc:
            code = f"smtp:{exc.smtp_code}" if exc.smtp_code else "smtp"
            outcome = self._fail if exc.permanent else self._retry_or_fail
            await asyncio.to_thread(self._finish, work.claim, outcome(work, code, str(exc)))
            return

        def sent(session: Session, entry: OutboxEntry, now: datetime) -> None:
            self._charge(session, entry, Channel.EMAIL, now)
            self._routed(entry, route)
            entry.attempts += 1
            entry.sent_at = now
            entry.next_attempt_at = None
            entry.error_code = entry.error_detail = None
            record_transition(session, entry, State.SENT, at=now, action="sent",
                              detail=f"email {mail_id} accepted for {address}", worker=self.worker_id)
        await asyncio.to_thread(self._finish, work.claim, sent)

    def _email_message(self, work: _Work, address: str, facts: object) -> EmailMessage:
        seller = getattr(facts, "seller_name", "") or work.sender_id
        kind = ubl.DocumentTypeId.parse(work.document_type_id).local_name or "document"
        label = {"Invoice": "Invoice", "CreditNote": "Credit note"}.get(kind, kind)
        message = EmailMessage()
        message["To"] = address
        message["Subject"] = f"{label} {work.number} from {seller}"
        lines = [f"{seller} sent you {label.lower()} {work.number}.", ""]
        if self.issue_link is not None and self.link_base_url:
            token = self.issue_link(work.public_id)
            lines += ["View it online:", f"{self.link_base_url}/d/{token}", ""]
        lines += ["The e-invoice (UBL XML) is attached" + (" with a PDF copy." if self.render_pdf else "."),
                  "", "Sent by a Peppol access point because your organisation could not be reached on Peppol."]
        message.set_content("\n".join(lines))
        safe_number = "".join(ch for ch in work.number if ch.isalnum() or ch in "-_.") or "document"
        if self.render_pdf is not None:
            pdf = self.render_pdf(work.content)
            if pdf:
                message.add_attachment(pdf, maintype="application", subtype="pdf",
                                       filename=f"{kind.lower()}-{safe_number}.pdf")
        message.add_attachment(work.content, maintype="application", subtype="xml",
                               filename=f"{kind.lower()}-{safe_number}.xml")
        return message
