"""The outbox: documents in, delivery state out (product.md W8).

`Outbox` is what the JSON API, the CLI and the web pages call: submit a
document (validated, deduplicated, stored as `created`), look at entries and
their event history, give the email address a `needs_email` entry waits for,
resend a failed one, and ask which route a document would take (preflight).
Workers (`accesspoint.delivery.worker`) do the sending.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import shares
import ubl
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier

from .errors import DocumentRejected, UnknownEntry
from .facts import OutgoingDocument, read_outgoing, summary_columns
from .routing import Channel, LookupUnavailable, Route, Router
from .states import FINAL_STATES, State, check_transition

__all__ = [
    "Outbox",
    "EntryView",
    "EventView",
    "Submission",
    "Preflight",
    "Validator",
    "record_transition",
    "utc",
]

#: A validator returns the ids of *fatal* findings (empty = acceptable), e.g. from `ubl.validate`.
Validator = Callable[[bytes], Sequence[str]]
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every time we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    from_state: str | None
    to_state: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class EntryView:
    id: str
    document_id: str
    kind: str
    state: State
    channel: str | None
    routed_to: str | None
    endpoint: str | None
    email: str | None
    suggested_email: str | None
    sender_id: str
    receiver_id: str
    document_type_id: str
    number: str
    instance_identifier: str
    #: The summary the lists show (None for documents stored before migration 0018).
    seller_name: str | None
    buyer_name: str | None
    payable_amount: str | None
    currency: str | None
    issue_date: str
    attempts: int
    resends: int
    as4_message_id: str | None
    has_receipt: bool
    error_code: str | None
    error_detail: str | None
    mls_status: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    events: tuple[EventView, ...]

    def as_json(self) -> dict[str, object]:
        def ts(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "id": self.id, "document_id": self.document_id, "kind": self.kind, "state": self.state.value,
            "channel": self.channel, "routed_to": self.routed_to, "endpoint": self.endpoint, "email": self.email,
            "suggested_email": self.suggested_email, "sender": self.sender_id, "receiver": self.receiver_id,
            "document_type_id": self.document_type_id, "number": self.number, "issue_date": self.issue_date,
            "seller_name": self.seller_name, "buyer_name": self.buyer_name,
            "payable_amount": self.payable_amount, "currency": self.currency,
            "instance_identifier": self.instance_identifier, "attempts": self.attempts, "resends": self.resends,
            "as4_message_id": self.as4_message_id, "has_receipt": self.has_receipt,
            "error": {"code": self.error_code, "detail": self.error_detail} if self.error_code else None,
            "mls_status": self.mls_status, "created_at": ts(self.created_at), "sent_at": ts(self.sent_at),
            "delivered_at": ts(self.delivered_at),
            "events": [
                {"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state, "action": e.action,
                 "detail": e.detail}
                for e in self.events
            ],
        }


def view(entry: OutboxEntry) -> EntryView:
    doc = entry.document
    return EntryView(
        id=entry.public_id, document_id=doc.public_id, kind=entry.kind, state=State(entry.state),
        channel=entry.channel, routed_to=entry.routed_to, endpoint=entry.endpoint, email=entry.email,
        suggested_email=doc.buyer_email, sender_id=doc.sender_id, receiver_id=doc.receiver_id,
        document_type_id=doc.document_type_id, number=doc.number, instance_identifier=doc.instance_identifier,
        seller_name=doc.seller_name, buyer_name=doc.buyer_name, payable_amount=doc.payable_amount,
        currency=doc.currency, issue_date=doc.issue_date,
        attempts=entry.attempts, resends=entry.resends, as4_message_id=entry.as4_message_id,
        has_receipt=entry.receipt is not None, error_code=entry.error_code, error_detail=entry.error_detail,
        mls_status=entry.mls_status, created_at=utc(entry.created_at), sent_at=utc(entry.sent_at),
        delivered_at=utc(entry.delivered_at),
        events=tuple(EventView(utc(e.at), e.from_state, e.to_state, e.action, e.detail) for e in entry.events),
    )


@dataclass(frozen=True, slots=True)
class Submission:
    entry: EntryView
    #: True when the document was already in the outbox (same supplier, type, number, date):
    #: nothing new was queued, the existing entry is returned.
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Preflight:
    """What a send would do now, without sending (W8.2, E13/SC1)."""

    channel: str | None  # None = needs an email address
    participant_id: str | None
    endpoint: str | None
    candidates: tuple[str, ...]
    suggested_email: str | None
    #: Set when a lookup could not be made; the channel is then unknown.
    unavailable: str | None = None
    #: The buyer's name in the document (what a person checks before sending), "" if none.
    buyer_name: str = ""

    @property
    def state(self) -> str:
        """internal | peppol | email | needs_email | unknown (the lookup could not be made)."""
        return self.channel or ("unknown" if self.unavailable else "needs_email")

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.state, "participant_id": self.participant_id, "endpoint": self.endpoint,
            "candidates": list(self.candidates), "suggested_email": self.suggested_email,
            "unavailable": self.unavailable, "buyer_name": self.buyer_name or None,
        }


def record_transition(session: Session, entry: OutboxEntry, target: State | None, *, at: datetime, action: str,
                      detail: str = "", worker: str | None = None) -> None:
    """Move `entry` to `target` (None = stay, e.g. a failed attempt) and append the event."""
    current = State(entry.state)
    to = current if target is None else target
    if target is not None:
        check_transition(current, target)
        entry.state = target.value
    entry.updated_at = at
    session.add(OutboxEvent(entry_id=entry.id, at=at, from_state=current.value, to_state=to.value,
                            action=action, detail=detail[:4000], worker=worker))


def check_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL_RE.fullmatch(email) or len(email) > 320:
        raise DocumentRejected("bad-email", f"{email!r} is not an email address")
    return email


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime],
                 router: Router | None = None, validator: Validator | None = None) -> None:
        self.sessions = sessions
        self.clock = clock
        self.router = router
        self.validator = validator

    # -- submit ------------------------------------------------------------------------------
    def submit(self, data: bytes, *, email: str | None = None, organisation_id: int | None = None) -> Submission:
        """Validate `data` (bare UBL or SBD) and queue it as `created`.

        Raises `DocumentRejected`: unreadable, no sender/receiver, the sender is not an
        organisation of this node that may send, or fatal validation findings. A document
        already submitted (same supplier, type, number and date) is not queued again:
        the existing entry comes back with `duplicate=True`.
        """
        facts = read_outgoing(data)
        if email is not None:
            email = check_email(email)
        self._validate(facts)
        with self.sessions() as session:
            org = self._sender_organisation(session, facts.sender, organisation_id)
            existing = self._find_duplicate(session, org, facts)
            if existing is not None:
                return Submission(view(existing), duplicate=True)
            now = self.clock()
            doc = Document(
                public_id=str(uuid.uuid4()), organisation_id=org, direction="out", connection="peppol_sales",
                sender_id=str(facts.sender), receiver_id=str(facts.receiver),
                document_type_id=str(facts.document_type_id), process_id=str(facts.process_id),
                instance_identifier=facts.instance_identifier or str(uuid.uuid4()), number=facts.number,
                issue_date=facts.issue_date, country_c1=facts.country_c1, buyer_email=facts.buyer_email,
                duplicate_key=facts.duplicate_key, content=facts.content, created_at=now,
                **summary_columns(facts.summary),
            )
            session.add(doc)
            entry = OutboxEntry(
                public_id=str(uuid.uuid4()), document=doc, kind="document", state=State.CREATED.value,
                email=email, attempts=0, resends=0, next_attempt_at=now, created_at=now, updated_at=now,
            )
            session.add(entry)
            try:
                session.flush()
                session.add(OutboxEvent(entry_id=entry.id, at=now, from_state=None, to_state=State.CREATED.value,
                                        action="submitted", detail=f"candidates: {', '.join(map(str, facts.candidates))}"))
                session.commit()
            except sa.exc.IntegrityError:
                # Another request stored the same document a moment ago: answer as a duplicate.
                session.rollback()
                existing = self._find_duplicate(session, org, facts)
                if existing is None:
                    raise
                return Submission(view(existing), duplicate=True)
            session.refresh(entry)
            return Submission(view(entry), duplicate=False)

    def check(self, data: bytes, *, organisation_id: int | None = None) -> OutgoingDocument:
        """What `submit` checks, storing nothing: the facts of an acceptable document.

        Raises `DocumentRejected` as `submit` would (unreadable, unknown or inactive sender,
        fatal validation findings), so a page can say so before the user clicks *Send*.
        """
        facts = read_outgoing(data)
        self._validate(facts)
        with self.sessions() as session:
            self._sender_organisation(session, facts.sender, organisation_id)
        return facts

    def _validate(self, facts: OutgoingDocument) -> None:
        if self.validator is not None:
            fatal = tuple(self.validator(facts.content))
            if fatal:
                raise DocumentRejected("invalid", f"{len(fatal)} fatal validation finding(s)", fatal)

    def _sender_organisation(self, session: Session, sender: ubl.ParticipantId, organisation_id: int | None) -> int:
        row = session.execute(
            sa.select(Organisation.id, Organisation.peppol_send, Organisation.status, Organisation.status_reason)
            .join(OrganisationIdentifier, OrganisationIdentifier.organisation_id == Organisation.id)
            .where(OrganisationIdentifier.scheme == sender.scheme, OrganisationIdentifier.value == sender.value)
        ).first()
        if row is None:
            raise DocumentRejected("unknown-sender", f"{sender} is not an organisation of this node")
        if organisation_id is not None and row.id != organisation_id:
            raise DocumentRejected("unknown-sender", f"{sender} is not an identifier of organisation {organisation_id}")
        if not shares.activation.may_exchange(row.status):  # W1.3: only a verified organisation sends
            raise DocumentRejected("sender-not-active",
                                   f"{sender}: {shares.activation.why_not_active(row.status, row.status_reason)}")
        if not row.peppol_send:
            raise DocumentRejected("sender-not-active", f"sending is switched off for {sender}")
        return int(row.id)

    @staticmethod
    def _find_duplicate(session: Session, org: int, facts: OutgoingDocument) -> OutboxEntry | None:
        return session.scalars(
            sa.select(OutboxEntry).join(Document).where(
                Document.organisation_id == org, Document.direction == "out",
                Document.duplicate_key == facts.duplicate_key, OutboxEntry.kind == "document",
            ).order_by(OutboxEntry.id)
        ).first()

    # -- read --------------------------------------------------------------------------------
    def get(self, entry_id: str) -> EntryView:
        with self.sessions() as session:
            return view(self._entry(session, entry_id))

    @staticmethod
    def _entry(session: Session, entry_id: str, *, lock: bool = False) -> OutboxEntry:
        query = sa.select(OutboxEntry).where(OutboxEntry.public_id == entry_id)
        if lock:
            query = query.with_for_update()
        entry = session.scalars(query).first()
        if entry is None:
            raise UnknownEntry(f"no outbox entry {entry_id!r}")
        return entry

    def list(self, *, organisation_id: int | None = None, state: State | None = None, limit: int = 100,
             offset: int = 0) -> list[EntryView]:
        query = sa.select(OutboxEntry).join(Document).order_by(OutboxEntry.id.desc()).limit(limit).offset(offset)
        if organisation_id is not None:
            query = query.where(Document.organisation_id == organisation_id)
        if state is not None:
            query = query.where(OutboxEntry.state == state.value)
        with self.sessions() as session:
            return [view(e) for e in session.scalars(query).unique()]

    def receipt(self, entry_id: str) -> bytes | None:
        with self.sessions() as session:
            return self._entry(session, entry_id).receipt

    # -- people acting on entries ---------------------------------------------------------------
    def provide_email(self, entry_id: str, email: str) -> EntryView:
        """Give the address a `needs_email` entry waits for; it is queued again at once."""
        email = check_email(email)
        with self.sessions() as session:
            entry = self._entry(session, entry_id, lock=True)
            now = self.clock()
            entry.email = email
            if State(entry.state) is State.NEEDS_EMAIL:
                record_transition(session, entry, State.CREATED, at=now, action="email-given", detail=email)
                entry.next_attempt_at = now
            elif State(entry.state) is not State.CREATED:
                raise DocumentRejected("bad-state", f"the entry is {entry.state}; an address only helps before sending")
            session.commit()
            session.refresh(entry)
            return view(entry)

    def resend(self, entry_id: str, *, receiver: str | None = None, email: str | None = None) -> EntryView:
        """Send a `failed` entry again (W8.4); the receiver id or email may be corrected.

        The document (number and content) stays the same; a new AS4 MessageId is used
        because the resend is a new message.
        """
        with self.sessions() as session:
            entry = self._entry(session, entry_id, lock=True)
            if State(entry.state) is not State.FAILED:
                raise DocumentRejected("bad-state", f"only a failed entry can be resent; this one is {entry.state}")
            now = self.clock()
            detail = []
            if receiver:
                try:
                    pid = ubl.ParticipantId.parse(receiver)
                except ubl.IdentifierError as exc:
                    raise DocumentRejected("no-receiver", str(exc)) from None
                entry.document.receiver_id = str(pid)
                detail.append(f"receiver corrected to {pid}")
            if email:
                entry.email = check_email(email)
                detail.append(f"email {entry.email}")
            entry.resends += 1
            entry.attempts = 0
            entry.error_code = entry.error_detail = None
            entry.channel = entry.routed_to = entry.endpoint = None
            entry.as4_message_id = None
            entry.next_attempt_at = now
            record_transition(session, entry, State.CREATED, at=now, action="resend", detail="; ".join(detail))
            session.commit()
            session.refresh(entry)
            return view(entry)

    def issue_link(self, entry_id: str) -> str:
        """A fresh token for the document link in an email; only its hash is stored (SEC-1)."""
        token = secrets.token_urlsafe(32)
        with self.sessions() as session:
            entry = self._entry(session, entry_id, lock=True)
            entry.link_token_hash = hashlib.sha256(token.encode()).hexdigest()
            session.commit()
        return token

    def open_link(self, token: str) -> tuple[EntryView, bytes]:
        """A person opened the emailed document (a POST after the landing page, never a GET: SEC-5).

        Moves a `sent` email entry to `opened`; returns the entry and the document.
        Raises UnknownEntry for an unknown token.
        """
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.sessions() as session:
            entry = session.scalars(
                sa.select(OutboxEntry).where(OutboxEntry.link_token_hash == digest).with_for_update()
            ).first()
            if entry is None:
                raise UnknownEntry("unknown document link")
            if State(entry.state) is State.SENT and entry.channel == Channel.EMAIL.value:
                record_transition(session, entry, State.OPENED, at=self.clock(), action="opened")
                session.commit()
                session.refresh(entry)
            return view(entry), entry.document.content

    # -- preflight ---------------------------------------------------------------------------------
    async def preflight(self, data: bytes | None = None, *, entry_id: str | None = None,
                        email: str | None = None, facts: OutgoingDocument | None = None) -> Preflight:
        """Which route a document (given as bytes or as its facts, or an entry already queued) would take now.

        The router's own choice (W8.2), made read-only: nothing is queued or sent.
        """
        if self.router is None:
            raise RuntimeError("preflight needs a router")
        if data is not None or facts is not None:
            facts = facts if facts is not None else read_outgoing(data)  # type: ignore[arg-type]
            candidates, doctype, process = facts.candidates, facts.document_type_id, facts.process_id
            suggested = facts.buyer_email
        elif entry_id is not None:
            with self.sessions() as session:
                entry = self._entry(session, entry_id)
                facts = read_outgoing(entry.document.content)
                candidates = candidates_for(entry.document.receiver_id, facts)
                doctype = ubl.DocumentTypeId.parse(entry.document.document_type_id)
                process = ubl.ProcessId.parse(entry.document.process_id)
                suggested = entry.document.buyer_email
                email = email or entry.email
        else:
            raise ValueError("give the document or an entry id")
        names = tuple(str(c) for c in candidates)
        buyer = facts.summary.buyer_name or facts.buyer_name
        try:
            route: Route | None = await self.router.choose(candidates, doctype, process, email=email)
        except LookupUnavailable as exc:
            return Preflight(None, None, None, names, suggested, unavailable=str(exc) or type(exc).__name__,
                             buyer_name=buyer)
        if route is None:
            return Preflight(None, None, None, names, suggested, buyer_name=buyer)
        return Preflight(route.channel.value, route.participant_id, route.endpoint, names, suggested, buyer_name=buyer)

    # -- metrics -------------------------------------------------------------------------------------
    def counts(self) -> dict[tuple[str, str], int]:
        """(direction, state) -> number of outbox entries / inbound documents."""
        with self.sessions() as session:
            rows = session.execute(
                sa.select(OutboxEntry.state, sa.func.count()).group_by(OutboxEntry.state)
            ).all()
            inbound = session.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in"))
        out = {("out", state): n for state, n in rows}
        out[("in", "received")] = int(inbound or 0)
        return out

    @staticmethod
    def is_final(state: State) -> bool:
        return state in FINAL_STATES


def candidates_for(receiver_id: str, facts: OutgoingDocument) -> tuple[ubl.ParticipantId, ...]:
    """The receiver stored on the document (possibly corrected on resend) first, then the others."""
    first = ubl.ParticipantId.parse(receiver_id)
    return (first, *(c for c in facts.candidates if c != first))
