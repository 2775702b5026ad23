"""Documents in the web app: per connection the invoices (the outbox of the sales connection, the
inbox of the purchase one) with the other party's name, the amount and the state in words, filtered
by state; one invoice with its history, as HTML, PDF and UBL; the email address a `needs_email`
one waits for (W5.7, W8, issue 12).

Documents belong to the delivery area (`accesspoint.delivery`, table `documents`);
this module only reads them, after the access check of
`accesspoint.sharing.orgs.connection_access` on every request (SEC-9: a revoked share
hides past documents too). Sending (preflight, *Send*, *Send again*) is `outbox_pages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.documents import Document, InboundMessage, OutboxEntry, OutboxEvent, document_content
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import orgs

from . import _document_words as words
from ._session import Req, endpoint, templates

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]

#: A rendered invoice is shown in a sandboxed frame: no scripts, no network, inline styles only.
_RENDER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the pages show of a document's outbox entry (the latest, for resends keep one entry)."""

    public_id: str
    state: str
    email: str | None
    error_detail: str | None
    channel: str | None = None
    error_code: str | None = None


def _entries(db, doc_ids: list[int]) -> dict[int, _Entry]:
    if not doc_ids:
        return {}
    rows = db.execute(sa.select(OutboxEntry.document_id, OutboxEntry.public_id, OutboxEntry.state,
                                OutboxEntry.email, OutboxEntry.error_detail, OutboxEntry.channel,
                                OutboxEntry.error_code).where(
        OutboxEntry.document_id.in_(doc_ids), OutboxEntry.kind == "document").order_by(OutboxEntry.id))
    return {d: _Entry(pid, st, em, err, ch, code) for d, pid, st, em, err, ch, code in rows}


def _reason(entry: _Entry | None) -> str | None:
    return (entry.error_detail or entry.error_code) if entry is not None else None


@dataclass(frozen=True, slots=True)
class Row:
    """One document as a list row and a page header say it (names, amount, state in words)."""

    doc: Document
    state: str
    state_text: str
    #: The other party: the buyer of a sent document, the seller (supplier) of a received one.
    counterparty: str
    amount: str
    entry: _Entry | None


def _row(d: Document, entry: _Entry | None, *, short: bool = True) -> Row:
    state = _state_of(d, {d.id: entry.state} if entry else {})
    if d.direction == "out":
        other = words.party(d.buyer_name, d.receiver_id)
    else:
        other = words.party(d.seller_name, d.sender_id)
    text = words.state_words(d.direction, state, channel=entry.channel if entry else None, reason=_reason(entry),
                             short=short)
    return Row(d, state, text, other, words.amount(d.payable_amount, d.currency), entry)


def _doc_json(d: Document, state: str, row: Row | None = None) -> dict[str, Any]:
    row = row or _row(d, None)
    return {"id": d.public_id, "number": d.number, "issue_date": d.issue_date, "direction": d.direction,
            "sender_id": d.sender_id, "receiver_id": d.receiver_id, "state": state,
            "state_text": words.state_words(d.direction, state, channel=row.entry.channel if row.entry else None,
                                            reason=_reason(row.entry)),
            "seller_name": d.seller_name, "buyer_name": d.buyer_name, "counterparty": row.counterparty,
            "payable_amount": d.payable_amount, "currency": d.currency,
            "business_status": d.business_status, "created_at": d.created_at.isoformat()}


def _state_of(d: Document, states: dict[int, str]) -> str:
    if d.direction == "out":
        return states.get(d.id, "created")
    return d.business_status or "received"


def _filtered(query: sa.Select, kind: str, state: str) -> sa.Select:
    """Documents of `query` in `state` (an outbox state on the sales connection, else the inbox's)."""
    if kind == "peppol_sales":
        return query.where(Document.id.in_(sa.select(OutboxEntry.document_id).where(
            OutboxEntry.kind == "document", OutboxEntry.state == state)))
    return query.where(Document.business_status.is_(None) if state == "received" else Document.business_status == state)


def _counts(db, organisation_id: int, kind: str) -> dict[str, int]:
    """How many documents of the connection are in each state (the filter's numbers)."""
    if kind == "peppol_sales":
        rows = db.execute(sa.select(OutboxEntry.state, sa.func.count()).join(Document)
                          .where(Document.organisation_id == organisation_id, Document.connection == kind,
                                 OutboxEntry.kind == "document").group_by(OutboxEntry.state)).all()
    else:
        rows = db.execute(sa.select(Document.business_status, sa.func.count())
                          .where(Document.organisation_id == organisation_id, Document.connection == kind)
                          .group_by(Document.business_status)).all()
    return {(state or "received"): int(n) for state, n in rows}


@endpoint()
def connection_page(r: Req) -> Response:
    """The documents of one connection the user may see (member of the organisation or active share).
    ---
    summary: Documents of a connection
    description: The sales connection lists what was sent (the outbox), the purchase connection what was
      received (the inbox), newest first, with the other party's name and number, the amount due and the
      state in words. `?state=` filters (sales - created, needs_email, sent, delivered, opened, failed;
      purchase - received, under_review, accepted, rejected, paid).
    parameters:
      - {name: state, in: query, required: false, schema: {type: string}}
    responses:
      "200": {description: "{connection, organisation, rights, state, counts, documents: [...]}"}
      "400": {description: Not a state of this connection}
      "403": {description: No access (never shared, or revoked)}
    """
    cid = r.path_int("connection_id")
    page = connection_view(r, cid, r.request.query_params.get("state", "").strip())
    if r.api:
        return r.done("", page.as_json())
    return r.page("connection.html", **page.context())


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """What the connection page shows: its documents (filtered), their counts per state, the rights."""

    access: orgs.Access
    rows: list[Row]
    state: str
    counts: dict[str, int]
    why_not: str

    @property
    def can_send(self) -> bool:
        return self.access.kind == "peppol_sales" and "send" in self.access.rights and not self.why_not

    def context(self) -> dict[str, Any]:
        return {"access": self.access, "rows": self.rows, "why_not": self.why_not,
                "filters": words.filters_for(self.access.kind), "state": self.state, "counts": self.counts,
                "total": sum(self.counts.values()), "can_send": self.can_send}

    def as_json(self) -> dict[str, Any]:
        a = self.access
        return {"connection_id": a.connection_id, "kind": a.kind, "organisation": a.organisation_name,
                "rights": sorted(a.rights), "state": self.state or None, "counts": self.counts,
                "documents": [_doc_json(row.doc, row.state, row) for row in self.rows],
                "why_not_active": self.why_not}


def connection_view(r: Req, cid: int, wanted: str = "") -> ConnectionView:
    """The connection's page after the access check (SEC-9); raises NotAllowed, or InvalidInput for a
    `wanted` state the connection does not have."""
    with r.svc.sessions() as db:
        access = orgs.connection_access(db, db.get(User, r.user.id), cid)  # type: ignore[union-attr]
        filters = words.filters_for(access.kind)
        if wanted and wanted not in dict(filters):
            raise shares.InvalidInput(f"{wanted!r} is not a state of this connection; use one of "
                                      + ", ".join(v for v, _ in filters) + ".")
        query = sa.select(Document).where(Document.organisation_id == access.organisation_id,
                                          Document.connection == access.kind)
        if wanted:
            query = _filtered(query, access.kind, wanted)
        # A list needs no document bytes (up to 500 rows of up to 10 MB each).
        docs = list(db.scalars(query.options(defer(Document.content), defer(Document.pdf))
                               .order_by(Document.id.desc()).limit(500)))
        entries = _entries(db, [d.id for d in docs])
        counts = _counts(db, access.organisation_id, access.kind)
        org = db.get(Organisation, access.organisation_id)
        # W1.3: only an active organisation sends or receives; the page says why not, in words.
        why_not = shares.activation.why_not_active(org.status, org.status_reason) if org is not None else ""
    return ConnectionView(access, [_row(d, entries.get(d.id)) for d in docs], wanted, counts, why_not)


def _delivery(node: Any):
    """The node's delivery service: the same outbox and workers the JSON API uses."""
    from accesspoint.web.api_documents import delivery_of

    return delivery_of(node)


def _document(r: Req) -> tuple[Document, orgs.Access]:
    """The document if the user may see its connection now; one NotAllowed for unknown and forbidden."""
    public_id = r.request.path_params["public_id"]
    with r.svc.sessions() as db:
        doc = db.scalar(sa.select(Document).where(Document.public_id == public_id))
        if doc is None:
            raise shares.NotAllowed("You have no access to this document.")
        conns = orgs.connections_of(db, doc.organisation_id)
        conn = conns.get(doc.connection)
        if conn is None:
            raise shares.NotAllowed("You have no access to this document.")
        access = orgs.connection_access(db, db.get(User, r.user.id), conn.id)  # type: ignore[union-attr]
        entry = _entries(db, [doc.id]).get(doc.id)
        state = _state_of(doc, {doc.id: entry.state} if entry else {})
        if not doc.content:  # a large received document: its bytes are in document_chunks
            set_committed_value(doc, "content", document_content(db, doc.id, doc.content))
        db.expunge(doc)
    doc.__dict__["_state"] = state
    doc.__dict__["_entry"] = entry
    return doc, access


@dataclass(frozen=True, slots=True)
class _Step:
    at: Any
    from_state: str | None
    to_state: str
    action: str
    #: What the event recorded, participant ids written as people write them.
    detail: str
    #: The event in words ("Delivered over Peppol", "Failed", ...).
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "action": self.action, "from": self.from_state, "to": self.to_state,
                "text": self.text, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class _View:
    """A document page's snapshot: its state, route and history, read together."""

    row: Row
    channel: str | None
    history: list[_Step]


def _step(at: Any, from_state: str | None, to_state: str, action: str, detail: str) -> _Step:
    return _Step(at, from_state, to_state, action, words.clean_detail(detail),
                 words.event_words(action, to_state, detail or ""))


def _view(r: Req, doc: Document) -> _View:
    """The state, channel and history of `doc`, oldest event first: the route a sent document took (W8.2).

    For a sent document, one statement reads the outbox entry and its events, so the state and
    the events are one snapshot (under READ COMMITTED two SELECTs may straddle a worker's commit,
    and the page would say `created` above a `delivered` event). A received document has one
    step, its arrival, with the sending access point when it came over AS4.
    """
    entry = doc.__dict__["_entry"]
    with r.svc.sessions() as db:
        if doc.direction == "out" and entry is not None:
            rows = db.execute(sa.select(OutboxEntry.state, OutboxEntry.channel, OutboxEntry.email,
                                        OutboxEntry.error_detail, OutboxEntry.error_code, OutboxEvent.at,
                                        OutboxEvent.from_state, OutboxEvent.to_state, OutboxEvent.action,
                                        OutboxEvent.detail)
                              .join(OutboxEvent, OutboxEvent.entry_id == OutboxEntry.id)
                              .where(OutboxEntry.public_id == entry.public_id).order_by(OutboxEvent.id)).all()
            if rows:
                first = rows[0]
                now = _Entry(entry.public_id, first.state, first.email, first.error_detail, first.channel,
                             first.error_code)
                history = [_step(x.at, x.from_state, x.to_state, x.action, x.detail) for x in rows]
                return _View(_row(doc, now, short=False), first.channel, history)
            return _View(_row(doc, entry, short=False), entry.channel, [])
        seat = db.scalar(sa.select(InboundMessage.sender_seat_id).where(InboundMessage.document_id == doc.id)
                         .order_by(InboundMessage.id).limit(1))
    detail = f"over Peppol from access point {seat}" if seat else ""
    return _View(_row(doc, entry, short=False), None,
                 [_step(doc.created_at, None, "received", "received", detail)] if doc.direction == "in" else [])


@endpoint()
def document_page(r: Req) -> Response:
    """One document: summary, state and history in words, rendering, PDF and UBL download.
    ---
    summary: A document's facts and history
    responses:
      "200": {description: "{id, number, issue_date, seller_name, buyer_name, payable_amount, currency,
        state, state_text, channel, history: [{at, action, from, to, text, detail}], ...}"}
      "403": {description: No access}
    """
    doc, access = _document(r)
    view = _view(r, doc)
    entry = view.row.entry
    if r.api:
        body = _doc_json(doc, view.row.state, view.row) | {
            "channel": view.channel, "history": [step.as_json() for step in view.history]}
        if entry is not None and entry.state == "needs_email":
            body["suggested_email"] = doc.buyer_email
        if entry is not None and entry.state == "failed":
            body["error"] = entry.error_detail
        return r.done("", body)
    return _document_html(r, doc, access, view)


def _document_html(r: Req, doc: Document, access: orgs.Access, view: _View | None = None, *, status: int = 200,
                   error: str = "", typed: str | None = None, resend_error: str = "",
                   resend_form: dict[str, str] | None = None) -> Response:
    view = view or _view(r, doc)
    entry = view.row.entry
    can_send = "send" in access.rights and doc.direction == "out"
    asks_email = entry is not None and entry.state == "needs_email" and can_send
    resend = None
    if entry is not None and entry.state == "failed" and can_send:
        # W8.4: the same invoice again, to a corrected Peppol id or by email; prefilled with what it has.
        resend = resend_form or {"receiver": words.participant(doc.receiver_id),
                                 "email": entry.email or doc.buyer_email or ""}
    return r.page("document.html", status=status, doc=doc, access=access, row=view.row, state=view.row.state,
                  entry=entry, can_download="download" in access.rights, asks_email=asks_email,
                  email_value=typed if typed is not None else (doc.buyer_email or ""), error=error,
                  channel=view.channel, history=view.history, resend=resend, resend_error=resend_error,
                  failure=words.clean_detail(_reason(entry)) or "no reason was recorded",
                  seller=words.party(doc.seller_name, doc.sender_id),
                  buyer=words.party(doc.buyer_name, doc.receiver_id))


@endpoint()
def give_email(r: Req) -> Response:
    """The buyer is on no network (`needs_email`): send it by email to this address (W8.2(c)).
    ---
    summary: Give the email address a document waits for
    description: The same path as `POST /api/v1/documents/{id}/email`, for a signed-in user with the
      send right on the sales connection. Delivery continues by email (PDF + UBL and a link).
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [email], properties: {email: {type: string}}}
    responses:
      "200": {description: "{document_id, state, email}"}
      "400": {description: Not an email address}
      "403": {description: No send right}
      "409": {description: The document no longer waits for an address}
    """
    from accesspoint.delivery import DocumentRejected

    doc, access = _document(r)
    entry = doc.__dict__["_entry"]
    if "send" not in access.rights or doc.direction != "out" or entry is None:
        raise shares.NotAllowed("You cannot send documents from this connection.")
    typed = r.get("email").strip()
    try:
        view = _delivery(r.node).provide_email(entry.public_id, typed)
    except DocumentRejected as exc:
        if exc.code == "bad-state":
            raise shares.InvalidTransition("This document no longer waits for an email address.") from None
        message = "Enter an email address, e.g. invoices@buyer.example."
        if r.api:
            raise shares.InvalidInput(message) from None
        # Shown beside the form, with what was typed (not a dead-end page).
        return _document_html(r, doc, access, status=400, error=message, typed=typed)
    back = _back(r, f"/documents/{doc.public_id}")
    return r.done(back, {"document_id": doc.public_id, "state": view.state.value, "email": view.email},
                  flash=f"Sending by email to {view.email}.")


def _back(r: Req, default: str) -> str:
    nxt = r.get("next")
    return nxt if nxt.startswith("/") and not nxt.startswith("//") else default


def _render_html(content: bytes) -> str:
    """ubl's rendering of the stored UBL (autoescaped, no scripts, no external resources)."""
    try:
        return ubl.render_html(ubl.parse_document(content).document)
    except ubl.UblError as exc:
        return templates.get_template("message_plain.html").render(message=f"This document cannot be shown: {exc}")


@endpoint()
def document_view(r: Req) -> Response:
    doc, _ = _document(r)
    html = _render_html(doc.content)
    return HTMLResponse(html, headers={"Content-Security-Policy": _RENDER_CSP, "X-Frame-Options": "SAMEORIGIN"})


@endpoint()
def document_ubl(r: Req) -> Response:
    """Download the UBL XML.
    ---
    summary: Download a document's UBL
    responses:
      "200": {description: The UBL XML, content: {application/xml: {}}}
      "403": {description: No access or no download right}
    """
    doc, access = _document(r)
    if "download" not in access.rights:
        raise shares.NotAllowed("You may not download documents of this connection.")
    name = "".join(ch for ch in (doc.number or doc.public_id) if ch.isalnum() or ch in "-_.") or "document"
    return Response(doc.content, media_type="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xml"'})


@endpoint()
def document_pdf(r: Req) -> Response:
    """The PDF: the one that came with the invoice, else one rendered from the UBL.
    ---
    summary: Download a document's PDF
    responses:
      "200": {description: The PDF, content: {application/pdf: {}}}
      "404": {description: No PDF available}
    """
    doc, access = _document(r)
    if "download" not in access.rights:
        raise shares.NotAllowed("You may not download documents of this connection.")
    pdf = doc.pdf
    if pdf is None:
        # W9 default: the PDF that came with the invoice, else one generated from the UBL.
        try:
            pdf = ubl.choose_pdf(ubl.parse_document(doc.content).document, ubl.EmbeddedPdfPolicy.ONLY_WHEN_NONE).data
        except ubl.UblError:
            pdf = None
    if not pdf:
        if r.api:
            return r.done("", {"error": "no_pdf", "message": "No PDF is available for this document."}, status=404)
        return r.page("message.html", status=404, title="No PDF", code="no_pdf",
                      message="No PDF is available for this document; download the UBL instead.")
    name = "".join(ch for ch in (doc.number or doc.public_id) if ch.isalnum() or ch in "-_.") or "document"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/connections/{connection_id:int}", connection_page, methods=["GET"], **html),
        Route("/documents/{public_id}", document_page, methods=["GET"], **html),
        Route("/documents/{public_id}/view", document_view, methods=["GET"], **html),
        Route("/documents/{public_id}/ubl", document_ubl, methods=["GET"], **html),
        Route("/documents/{public_id}/pdf", document_pdf, methods=["GET"], **html),
        Route("/documents/{public_id}/email", give_email, methods=["POST"], **html),
        Route("/api/connections/{connection_id:int}/documents", connection_page, methods=["GET"]),
        Route("/api/shared-documents/{public_id}", document_page, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/ubl", document_ubl, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/pdf", document_pdf, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/email", give_email, methods=["POST"]),
    ]
