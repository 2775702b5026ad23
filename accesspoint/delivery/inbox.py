"""Inbound: what the AS4 receiver accepted, stored and routed (issue 6 "Inbound", product.md W9).

The AS4 endpoint calls `Inbox.accept` after it has verified and decrypted a
UserMessage and *before* it answers with a receipt, so an acknowledged message
is always durable. Routing is by the SBDH receiver (= finalRecipient): the
organisation holding that participant id with receiving switched on gets the
document in its "Peppol - purchase invoices" connection. Anyone else is
`NotServiced` (the endpoint answers EBMS:0004 PEPPOL:NOT_SERVICED).

Duplicates are idempotent (protocol.md §1.8): the same AS4 MessageId, or the
same SBDH InstanceIdentifier from the same sender, is not stored twice; the
caller answers with the receipt it gave the first time.

Message Level Status: an incoming MLS updates the outbox entry it refers to;
for an incoming business document we queue the MLS its envelope asks for
(MLS_TYPE ALWAYS_SEND: positive `AP`; negative `RE` always, when we reject it).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import ubl
from accesspoint import mls
from accesspoint.db.tables.documents import Document, DocumentChunk, InboundMessage, OutboxEntry, Transaction
from accesspoint.db.tables.ledger import LedgerEntry
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier

from ._xml import XmlRejected, parse_xml
from .errors import NotServiced
from .facts import summary_columns
from .ledger import INSERT_LEDGER, ledger_row
from .outbox import record_transition
from .routing import AS4_TRANSPORT_PROFILE
from .states import State

__all__ = ["Inbox", "Accepted", "StreamedPayload", "FACT_PATHS", "facts_from_texts"]

log = logging.getLogger("accesspoint.inbound")
_DOCUMENTS = Document.__table__
_INBOUND = InboundMessage.__table__
_TRANSACTIONS = Transaction.__table__

# The hot path's statements, built once: building a statement per message (coercing each value,
# computing its cache key) cost more CPU than running it. Values go in as bound parameters.
_RECEIVING = (
    sa.select(Organisation.__table__.c.id)
    .join(OrganisationIdentifier.__table__,
          OrganisationIdentifier.__table__.c.organisation_id == Organisation.__table__.c.id)
    .where(OrganisationIdentifier.__table__.c.scheme == sa.bindparam("scheme"),
           OrganisationIdentifier.__table__.c.value == sa.bindparam("value"),
           Organisation.__table__.c.peppol_receive.is_(True),
           Organisation.__table__.c.status == "active")  # W1.3: only a verified organisation receives
)
# The receiving organisation with what the W4 ledger needs (who pays now), for the accept path below.
_RECEIVER = _RECEIVING.add_columns(Organisation.__table__.c.environment_id, Organisation.__table__.c.payer)
_seen_document = _DOCUMENTS.alias("seen_document")
_receiver = _RECEIVER.subquery("receiver")
_same_envelope = _DOCUMENTS.alias("same_envelope")
_same_invoice = _DOCUMENTS.alias("same_invoice")
# The accept path's one question before it writes, in one round trip: whether this AS4 MessageId
# was received before (and then the receipt and the document it gave), which organisation receives
# for the SBDH receiver, and both kinds of duplicate: the same envelope again (instance identifier
# from the same sender), or the same invoice under a new envelope (W9: not forwarded twice).
# Lookups by key as LEFT JOINs from a one-row select, so the row is there whatever is found (a
# column is NULL when its lookup finds nothing). They were three statements (the duplicates a
# UNION ALL of their own), and a statement costs the receiver more CPU than its lookup costs the
# database. Each duplicate join is an equality on a whole index (ix_documents_instance, and
# uq_document_duplicate through the receiver's id), never `direction = 'in' AND (... OR ...)`,
# under which SQLite searched on direction alone and read every received document per message.
# LIMIT 1: the same envelope is not unique in the schema (two copies racing under different
# MessageIds); any one of them answers.
_KNOWN = sa.select(
    _INBOUND.c.id.label("seen_id"), _INBOUND.c.receipt, _seen_document.c.public_id.label("seen_public_id"),
    _receiver.c.id.label("organisation_id"), _receiver.c.environment_id, _receiver.c.payer,
    _same_envelope.c.id.label("same_envelope_id"), _same_envelope.c.public_id.label("same_envelope_public_id"),
    _same_invoice.c.id.label("same_invoice_id"), _same_invoice.c.public_id.label("same_invoice_public_id"),
).select_from(
    sa.select(sa.literal_column("1").label("one")).subquery("one")
    .outerjoin(_INBOUND, _INBOUND.c.as4_message_id == sa.bindparam("as4_message_id"))
    .outerjoin(_seen_document, _seen_document.c.id == _INBOUND.c.document_id)
    .outerjoin(_receiver, sa.true())
    .outerjoin(_same_envelope, sa.and_(_same_envelope.c.instance_identifier == sa.bindparam("instance_identifier"),
                                       _same_envelope.c.direction == "in",
                                       _same_envelope.c.sender_id == sa.bindparam("sender_id")))
    .outerjoin(_same_invoice, sa.and_(_same_invoice.c.organisation_id == _receiver.c.id,
                                      _same_invoice.c.direction == "in",
                                      _same_invoice.c.duplicate_key == sa.bindparam("duplicate_key")))
).limit(1)
_INSERT_DOCUMENT = _DOCUMENTS.insert()
# A large business message is not one bound parameter (the driver would hold it, SQLite copies it,
# psycopg escapes it): its row gets empty content and the bytes go into document_chunks, a chunk
# per statement, in the same transaction.
# `inline()`: no `RETURNING id` on PostgreSQL, which SQLAlchemy adds to a single-row insert for
# `inserted_primary_key` and which nothing reads for these rows (only the document's id is used):
# the returned row cost the receiver a result set to set up per insert.
_INSERT_CHUNK = DocumentChunk.__table__.insert().inline()
_INSERT_INBOUND = _INBOUND.insert().inline()
_INSERT_TRANSACTION = _TRANSACTIONS.insert().inline()


def _every_column(table: sa.Table, prefix: str) -> dict[sa.Column[object], sa.BindParameter[object]]:
    """A bind parameter `prefix + name` for each column but the primary key: a column added later
    fails the statement loudly (a missing parameter) rather than being left to a default."""
    return {c: sa.bindparam(prefix + c.name, type_=c.type) for c in table.c if not c.primary_key}


_new_document = (_DOCUMENTS.insert().values(_every_column(_DOCUMENTS, "document_"))
                 .returning(_DOCUMENTS.c.id).cte("new_document"))
_inbound_columns = [c for c in _INBOUND.c if not c.primary_key]
# PostgreSQL only: the four inserts of a new document in one statement (data-modifying CTEs), the
# inbound message taking the new document's id from its CTE. Four statements were four round trips
# and four of SQLAlchemy's per-statement set-ups, which cost the receiver more CPU than the rows.
# Foreign keys are checked at the end of the statement, so the inbound row may reference the
# document inserted beside it. SQLite has no INSERT in WITH: it runs the four statements, which
# `test_inbox` checks store the same rows.
_STORE_NEW_DOCUMENT = (
    _INBOUND.insert()
    .from_select(_inbound_columns, sa.select(*(
        _new_document.c.id if c is _INBOUND.c.document_id else sa.bindparam("inbound_" + c.name, type_=c.type)
        for c in _inbound_columns)))
    .add_cte(LedgerEntry.__table__.insert().values(_every_column(LedgerEntry.__table__, "ledger_"))
             .cte("new_ledger_row"))
    .add_cte(_TRANSACTIONS.insert().values(_every_column(_TRANSACTIONS, "transaction_")).cte("new_transaction"))
)
#: What `_summary` reads, as paths for `ubl.split_sbd` (which reads a large document streaming).
FACT_PATHS = ubl.SUMMARY_PATHS


class Content(Protocol):
    """A business message too large to hold in memory (an `as4.Blob`): its size and its bytes in chunks."""

    size: int

    def chunks(self) -> Iterator[bytes]: ...

    def read(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StreamedPayload:
    """The business message of a large SBD, kept out of memory, and the facts read on the way."""

    content: Content
    #: Number, date, C4 country, names and amount, as `_summary` gives them for a small one
    facts: ubl.DocumentSummary


def facts_from_texts(texts: dict[tuple[str, ...], str]) -> ubl.DocumentSummary:
    """`_summary` from the texts `ubl.split_sbd` collected at `FACT_PATHS`."""
    return ubl.summary_from_texts(texts)


@dataclass(frozen=True, slots=True)
class Accepted:
    #: The stored document's public id (None for an MLS, which updates an outbox entry instead).
    document_id: str | None
    duplicate: bool
    #: For a duplicate: the receipt we sent the first time, if it was recorded.
    receipt: bytes | None = None
    #: For an MLS: the outbox entry it updated.
    outbox_entry_id: str | None = None


def _summary(payload: bytes) -> ubl.DocumentSummary:
    """Number, issue date, C4 country, names and amount of a UBL business document; blanks when unknown.

    For an SBD whose `summary` was not read with the envelope (`ubl.parse_sbd(summarise=True)`):
    then the one parse of the business message on the accept path (the validator, when there is
    one, reads the bytes on its own).
    """
    try:
        return ubl.summarise(parse_xml(payload))
    except XmlRejected:
        return ubl.DocumentSummary()


def _duplicate_key(sbd: ubl.StandardBusinessDocument, facts: ubl.DocumentSummary) -> str:
    """Same supplier, type, number and issue date is the same document (product.md §2), whatever
    its envelope; without a number, only the same envelope is."""
    key_source = (
        "\x1f".join((str(sbd.sender), sbd.type, facts.number, facts.issue_date)) if facts.number
        else sbd.instance_identifier
    )
    return hashlib.sha256(key_source.encode()).hexdigest()


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime], seat_id: str,
                 validator: Callable[[bytes], Sequence[str]] | None = None) -> None:
        self.sessions = sessions
        self.clock = clock
        self.seat_id = seat_id
        self.validator = validator

    def receiving_organisation(self, participant_id: ubl.ParticipantId) -> int | None:
        with self.sessions() as session:
            return self._organisation(session, participant_id)

    @staticmethod
    def _organisation(session: Session, pid: ubl.ParticipantId) -> int | None:
        return session.connection().scalar(_RECEIVING, {"scheme": pid.scheme, "value": pid.value})

    def is_serviced(self, participant_id: ubl.ParticipantId, document_type_id: ubl.DocumentTypeId | None = None) -> bool:
        """Whether this node takes messages for `participant_id` (MLS go to the node itself)."""
        if document_type_id == mls.MLS_DOCUMENT_TYPE and self._is_our_spis(participant_id):
            return True
        return self.receiving_organisation(participant_id) is not None

    def _is_our_spis(self, pid: ubl.ParticipantId) -> bool:
        try:
            return pid.value == f"0242:{mls.spid_for_seat(self.seat_id)}"
        except ValueError:
            return False

    def accept(self, sbd: ubl.StandardBusinessDocument, *, as4_message_id: str, sender_seat_id: str,
               receipt: bytes | None = None, streamed: StreamedPayload | None = None,
               _retried: bool = False) -> Accepted:
        """Store one received message durably. Raises `NotServiced` for a receiver we do not serve.

        This is the receiver's hot path (it runs once per message, between decryption and the
        receipt), so it speaks SQL Core: one transaction of one lookup (`_KNOWN`) and four inserts
        (document, inbound message, reporting transaction, W4 ledger row; one statement on
        PostgreSQL, `_insert`), no ORM objects or unit of work. The rare branches (MLS in, MLS
        queued out) use the ORM.

        `streamed`: the business message of a large SBD (then `sbd.payload` is not used), stored
        from its chunks so the receiver never holds it; an MLS is never streamed.
        """
        now = self.clock()
        is_mls = sbd.document_type_id == mls.MLS_DOCUMENT_TYPE
        if streamed is not None and is_mls:
            raise ValueError("an MLS is accepted from bytes, not streamed")
        # Validation (XSLT, CPU-heavy) and parsing happen before any database work, holding no transaction.
        if self.validator is not None and not is_mls:
            # the validator needs the whole document: validating a large one costs its size in memory
            fatal = tuple(self.validator(streamed.content.read() if streamed is not None else sbd.payload))
        else:
            fatal = ()
        if streamed is not None:
            facts = streamed.facts
        elif sbd.summary is not None:  # read from the tree the receiver parsed (read_sbdh keep_envelope)
            facts = sbd.summary
        else:
            facts = _summary(sbd.payload)
        duplicate_key = _duplicate_key(sbd, facts)
        with self.sessions() as session:
            conn = session.connection()
            known = conn.execute(_KNOWN, {
                "as4_message_id": as4_message_id, "scheme": sbd.receiver.scheme, "value": sbd.receiver.value,
                "instance_identifier": sbd.instance_identifier, "sender_id": str(sbd.sender),
                "duplicate_key": duplicate_key,
            }).one()
            if known.seen_id is not None:
                return Accepted(known.seen_public_id, duplicate=True, receipt=known.receipt)
            new_document: dict[str, object] | None = None  # a new document's row, not yet inserted
            ledger: dict[str, object] | None = None
            if is_mls:
                if not self._is_our_spis(sbd.receiver) and known.organisation_id is None:
                    raise NotServiced(str(sbd.receiver))
                result = self._accept_mls(session, sbd, now)
                org_doc = None
                session.flush()
            else:
                if known.organisation_id is None:
                    raise NotServiced(str(sbd.receiver))
                if known.same_envelope_id is not None:  # the same envelope first: it is this very message
                    result, org_doc = Accepted(known.same_envelope_public_id, duplicate=True), known.same_envelope_id
                elif known.same_invoice_id is not None:
                    result, org_doc = Accepted(known.same_invoice_public_id, duplicate=True), known.same_invoice_id
                else:
                    result, org_doc, new_document = self._accept_document(
                        session, sbd, known.organisation_id, fatal, facts, duplicate_key, now, streamed)
                if not result.duplicate and result.document_id is not None:
                    # W4: received for this organisation, charged to its payer of this moment.
                    ledger = ledger_row(
                        at=now, organisation_id=known.organisation_id,
                        organisation_environment_id=known.environment_id, payer=known.payer, direction="in",
                        channel="peppol", document_public_id=result.document_id)
            inbound = {
                "as4_message_id": as4_message_id, "instance_identifier": sbd.instance_identifier,
                "sender_seat_id": sender_seat_id, "document_id": org_doc, "receipt": receipt, "received_at": now}
            transaction = None if result.duplicate else {
                "at": now, "direction": "in", "kind": "mls" if is_mls else "business",
                "other_seat_id": sender_seat_id, "document_type_id": str(sbd.document_type_id),
                "process_id": str(sbd.process_id), "transport_profile": AS4_TRANSPORT_PROFILE,
                "end_user_id": str(sbd.receiver), "c1_country": sbd.country_c1,
                "c4_country": facts.buyer_country or "ZZ",
                "instance_identifier": sbd.instance_identifier,
            }
            try:
                # Inside the try: a unique key the other copy took is refused at the insert (on
                # both databases), not at the commit.
                _insert(conn, new_document, ledger, inbound, transaction)
                session.commit()
            except sa.exc.IntegrityError:
                # The same message arrived twice at once (two of our processes took one copy
                # each): the other copy won; looking again answers as a duplicate.
                session.rollback()
                if _retried:
                    raise
                return self.accept(sbd, as4_message_id=as4_message_id, sender_seat_id=sender_seat_id,
                                   receipt=receipt, streamed=streamed, _retried=True)
            return result

    # -- business documents -----------------------------------------------------------------------
    def _accept_document(self, session: Session, sbd: ubl.StandardBusinessDocument, org: int,
                         fatal: Sequence[str], facts: ubl.DocumentSummary, duplicate_key: str, now: datetime,
                         streamed: StreamedPayload | None = None
                         ) -> tuple[Accepted, int | None, dict[str, object] | None]:
        """A new business document (not a duplicate: `_KNOWN` found none), or its rejection queued.

        Gives the row to insert for a document in memory (`_insert` writes it with the rest), or
        the id of a streamed one, stored here chunk by chunk (its chunks need that id).
        """
        conn = session.connection()
        number, date = facts.number, facts.issue_date
        if fatal:
            self._queue_mls(session, sbd, org, mls.ResponseCode.REJECTED, now, fatal)
            return Accepted(None, duplicate=False), None, None
        public_id = str(uuid.uuid4())
        row = {
            "public_id": public_id, "organisation_id": org, "direction": "in", "connection": "peppol_purchase",
            "sender_id": str(sbd.sender), "receiver_id": str(sbd.receiver),
            "document_type_id": str(sbd.document_type_id), "process_id": str(sbd.process_id),
            "instance_identifier": sbd.instance_identifier, "number": number, "issue_date": date,
            "country_c1": sbd.country_c1, "duplicate_key": duplicate_key,
            "created_at": now, "buyer_email": None, "pdf": None, "business_status": None,
            **summary_columns(facts),
        }
        doc_id = None if streamed is None else _insert_streamed(conn, row, streamed.content)
        if sbd.mls_type is ubl.MlsType.ALWAYS_SEND:
            self._queue_mls(session, sbd, org, mls.ResponseCode.ACCEPTED, now)
        if streamed is None:
            return Accepted(public_id, duplicate=False), None, {**row, "content": sbd.payload}
        return Accepted(public_id, duplicate=False), doc_id, None

    def _queue_mls(self, session: Session, sbd: ubl.StandardBusinessDocument, org: int, code: mls.ResponseCode,
                   now: datetime, fatal: Sequence[str] = ()) -> None:
        """Queue the MLS for `sbd` to the sender's SPIS participant (MLS_TO)."""
        if sbd.mls_to is None:
            log.info("no MLS_TO in %s: no MLS sent", sbd.instance_identifier)
            return
        try:
            our_spid = mls.spid_for_seat(self.seat_id)
        except ValueError:
            log.warning("seat id %r has no SPID: no MLS sent", self.seat_id)
            return
        lines = tuple(mls.MlsLine(f"Validation gives error [{rule}]", mls.StatusReason.BUSINESS_RULE_FATAL)
                      for rule in fatal)
        status = mls.MessageLevelStatus(
            id=str(uuid.uuid4()), issued_at=now, sender_spid=our_spid,
            receiver_spid=sbd.mls_to.value.partition(":")[2], response_code=code,
            ref_instance_identifier=sbd.instance_identifier,
            description="Rejected: the document breaks fatal business rules" if fatal else None, lines=lines,
        )
        content = mls.build_mls(status)
        doc = Document(
            public_id=str(uuid.uuid4()), organisation_id=org, direction="out", connection="mls",
            sender_id=f"iso6523-actorid-upis::0242:{our_spid}", receiver_id=str(sbd.mls_to),
            document_type_id=str(mls.MLS_DOCUMENT_TYPE), process_id=str(mls.MLS_PROCESS),
            instance_identifier=str(uuid.uuid4()), number=status.id, issue_date=now.date().isoformat(),
            country_c1=sbd.country_c1, duplicate_key=hashlib.sha256(f"mls\x1f{sbd.instance_identifier}".encode()).hexdigest(),
            content=content, created_at=now,
        )
        session.add(doc)
        entry = OutboxEntry(public_id=str(uuid.uuid4()), document=doc, kind="mls", state=State.CREATED.value,
                            attempts=0, resends=0, next_attempt_at=now, created_at=now, updated_at=now)
        session.add(entry)
        session.flush()
        record_transition(session, entry, None, at=now, action="submitted",
                          detail=f"MLS {code.value} for {sbd.instance_identifier}")

    # -- MLS received ------------------------------------------------------------------------------
    def _accept_mls(self, session: Session, sbd: ubl.StandardBusinessDocument, now: datetime) -> Accepted:
        try:
            status = mls.parse_mls(sbd.payload)
        except mls.MlsError as exc:
            log.warning("unreadable MLS %s: %s", sbd.instance_identifier, exc)
            return Accepted(None, duplicate=False)
        entry = session.scalars(
            sa.select(OutboxEntry).join(Document)
            .where(Document.instance_identifier == status.ref_instance_identifier, Document.direction == "out",
                   OutboxEntry.kind == "document")
            .order_by(OutboxEntry.id.desc())
        ).first()
        if entry is None:
            log.warning("MLS for unknown message %s", status.ref_instance_identifier)
            return Accepted(None, duplicate=False)
        entry.mls_status = status.response_code.value
        detail = f"MLS {status.response_code.value}"
        if status.description:
            detail += f": {status.description}"
        detail += "".join(f"; [{line.reason.value}] {line.description}" for line in status.lines)
        current = State(entry.state)
        if not status.positive and current in (State.SENT, State.DELIVERED):
            entry.error_code, entry.error_detail = "mls:RE", detail
            record_transition(session, entry, State.FAILED, at=now, action="mls", detail=detail)
        elif status.positive and current is State.SENT and entry.channel == "peppol":
            entry.delivered_at = now
            record_transition(session, entry, State.DELIVERED, at=now, action="mls", detail=detail)
        else:
            record_transition(session, entry, None, at=now, action="mls", detail=detail)
        return Accepted(None, duplicate=False, outbox_entry_id=entry.public_id)


def _insert(conn: sa.Connection, document: dict[str, object] | None, ledger: dict[str, object] | None,
            inbound: dict[str, object], transaction: dict[str, object] | None) -> None:
    """The rows `accept` writes: a new document (in memory) with its ledger row, the inbound
    message (referencing the new document when there is one) and the reporting transaction.

    On PostgreSQL a new document's four rows go in one statement (`_STORE_NEW_DOCUMENT`);
    otherwise, and for every other case, one statement per row.
    """
    if document is not None and ledger is not None and transaction is not None \
            and conn.dialect.name == "postgresql":
        params = {f"document_{k}": v for k, v in document.items()}
        params.update({f"ledger_{k}": v for k, v in ledger.items()})
        params.update({f"inbound_{k}": v for k, v in inbound.items() if k != "document_id"})
        params.update({f"transaction_{k}": v for k, v in transaction.items()})
        conn.execute(_STORE_NEW_DOCUMENT, params)
        return
    if document is not None:
        inbound = {**inbound, "document_id": conn.execute(_INSERT_DOCUMENT, document).inserted_primary_key[0]}
    if ledger is not None:
        conn.execute(INSERT_LEDGER, ledger)
    conn.execute(_INSERT_INBOUND, inbound)
    if transaction is not None:
        conn.execute(_INSERT_TRANSACTION, transaction)


def _insert_streamed(conn: sa.Connection, row: dict[str, object], content: Content) -> int:
    """Insert a document row whose bytes go into `document_chunks` from `content`'s chunks; its id.

    Same transaction as the rest of `accept`, so the commit makes it durable (and a crash before
    it leaves nothing): the memory held is one chunk, not the document.
    """
    doc_id = conn.execute(_INSERT_DOCUMENT, {**row, "content": b""}).inserted_primary_key[0]
    for seq, chunk in enumerate(content.chunks()):
        conn.execute(_INSERT_CHUNK, {"document_id": doc_id, "seq": seq, "data": chunk})
    return doc_id
