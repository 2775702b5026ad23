"""Documents in the web app: per connection the invoices with their state; one invoice as HTML,
PDF and UBL; and, on the sales connection, sending a document through the outbox (W5.7, W8).

Documents belong to the delivery area (`accesspoint.delivery`, table `documents`);
this module only reads them and submits through `delivery.Outbox`, after the
access check of `accesspoint.sharing.orgs.connection_access` on every request
(SEC-9: a revoked share hides past documents too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.documents import Document, OutboxEntry, OutboxEvent, document_content
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import orgs

from ._session import Req, endpoint, templates

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]

#: A rendered invoice is shown in a sandboxed frame: no scripts, no network, inline styles only.
_RENDER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
MAX_UPLOAD = 10 * 1024 * 1024


def _states(db, doc_ids: list[int]) -> dict[int, str]:
    return {d: e.state for d, e in _entries(db, doc_ids).items()}


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the pages show of a document's outbox entry (the latest, for resends keep one entry)."""

    public_id: str
    state: str
    email: str | None
    error_detail: str | None


def _entries(db, doc_ids: list[int]) -> dict[int, _Entry]:
    if not doc_ids:
        return {}
    rows = db.execute(sa.select(OutboxEntry.document_id, OutboxEntry.public_id, OutboxEntry.state,
                                OutboxEntry.email, OutboxEntry.error_detail).where(
        OutboxEntry.document_id.in_(doc_ids), OutboxEntry.kind == "document").order_by(OutboxEntry.id))
    return {d: _Entry(pid, st, em, err) for d, pid, st, em, err in rows}


def _doc_json(d: Document, state: str) -> dict[str, Any]:
    return {"id": d.public_id, "number": d.number, "issue_date": d.issue_date, "direction": d.direction,
            "sender_id": d.sender_id, "receiver_id": d.receiver_id, "state": state,
            "business_status": d.business_status, "created_at": d.created_at.isoformat()}


def _state_of(d: Document, states: dict[int, str]) -> str:
    if d.direction == "out":
        return states.get(d.id, "created")
    return d.business_status or "received"


@endpoint()
def connection_page(r: Req) -> Response:
    """The documents of one connection the user may see (member of the organisation or active share).
    ---
    summary: Documents of a connection
    responses:
      "200": {description: "{connection, organisation, rights, documents: [...]}"}
      "403": {description: No access (never shared, or revoked)}
    """
    cid = r.path_int("connection_id")
    with r.svc.sessions() as db:
        access = orgs.connection_access(db, db.get(User, r.user.id), cid)  # type: ignore[union-attr]
        docs = list(db.scalars(sa.select(Document).where(
            Document.organisation_id == access.organisation_id, Document.connection == access.kind)
            .order_by(Document.id.desc()).limit(500)))
        entries = _entries(db, [d.id for d in docs])
        org = db.get(Organisation, access.organisation_id)
        # W1.3: only an active organisation sends or receives; the page says why not, in words.
        why_not = shares.activation.why_not_active(org.status, org.status_reason) if org is not None else ""
    states = {d: e.state for d, e in entries.items()}
    rows = [(d, _state_of(d, states)) for d in docs]
    if r.api:
        return r.done("", {"connection_id": cid, "kind": access.kind, "organisation": access.organisation_name,
                           "rights": sorted(access.rights), "documents": [_doc_json(d, s) for d, s in rows],
                           "why_not_active": why_not})
    return r.page("connection.html", access=access, rows=rows, entries=entries, why_not=why_not,
                  can_send=access.kind == "peppol_sales" and "send" in access.rights and not why_not)


def _delivery(node: Any):
    """The node's delivery service: the same outbox and workers the JSON API uses."""
    from accesspoint.web.api_documents import delivery_of

    return delivery_of(node)


@endpoint()
def send(r: Req) -> Response:
    """Send a UBL invoice from the sales connection: it is queued in the outbox as `created` (W8).
    ---
    summary: Send a document through a sales connection
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [ubl]
            properties:
              ubl: {type: string, description: The UBL Invoice or CreditNote XML}
              email: {type: string, description: Fallback address if the buyer is not on Peppol}
    responses:
      "201": {description: "{document_id, state, duplicate}"}
      "400": {description: The document was rejected (reason given)}
      "403": {description: No send right on this connection}
    """
    from accesspoint.delivery import DocumentRejected, State, Submission

    cid = r.path_int("connection_id")
    with r.svc.sessions() as db:
        access = orgs.connection_access(db, db.get(User, r.user.id), cid)  # type: ignore[union-attr]
    if access.kind != "peppol_sales" or "send" not in access.rights:
        raise shares.NotAllowed("You cannot send documents from this connection.")
    if r.api:
        data = r.get("ubl").encode("utf-8")
    else:
        upload = r.form.get("_files", {}).get("document")
        if upload is None:
            raise shares.InvalidInput("Choose a UBL file to send.")
        data = upload.file.read(MAX_UPLOAD + 1)
    if not data or len(data) > MAX_UPLOAD:
        raise shares.InvalidInput("The document is empty or larger than 10 MB.")
    email = r.get("email").strip() or None
    service = _delivery(r.node)
    try:
        result = service.outbox.submit(data, email=email, organisation_id=access.organisation_id)
        if result.duplicate and email and result.entry.state is State.NEEDS_EMAIL:
            # The same invoice again, now with the address it was waiting for: that is the answer to
            # needs_email, not a second send (W8.2(c)).
            result = Submission(service.provide_email(result.entry.id, email), duplicate=True)
            waited = True
        else:
            waited = False
    except DocumentRejected as exc:
        raise shares.InvalidInput(f"The document was not accepted: {exc}") from None
    if not result.duplicate:
        service.wake()
    with r.svc.sessions.begin() as db:
        from accesspoint.sharing import audit

        audit.record(db, r.ctx, "document.submitted", actor_id=r.user.id, object_type="document",  # type: ignore[union-attr]
                     organisation_id=access.organisation_id, detail={"connection": access.kind,
                                                                      "duplicate": result.duplicate})
    entry = result.entry
    state = entry.state.value if hasattr(entry.state, "value") else str(entry.state)
    return r.done(f"/connections/{cid}", {"document_id": entry.document_id, "state": state,
                                          "duplicate": result.duplicate},
                  flash=(f"Sending by email to {email}." if waited else
                         "Already sent before: nothing new was queued." if result.duplicate else
                         "Document queued for sending."),
                  status=201)


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


@endpoint()
def document_page(r: Req) -> Response:
    """One document: summary, rendering, PDF and UBL download.
    ---
    summary: A document's facts
    responses:
      "200": {description: "{id, number, issue_date, state, ...}"}
      "403": {description: No access}
    """
    doc, access = _document(r)
    entry = doc.__dict__["_entry"]
    if r.api:
        body = _doc_json(doc, doc.__dict__["_state"])
        if entry is not None and entry.state == "needs_email":
            body["suggested_email"] = doc.buyer_email
        if entry is not None and entry.state == "failed":
            body["error"] = entry.error_detail
        return r.done("", body)
    return _document_html(r, doc, access)


@dataclass(frozen=True, slots=True)
class _Step:
    at: Any
    from_state: str | None
    to_state: str
    action: str
    detail: str


def _history(db, entry_public_id: str) -> tuple[str | None, str | None, list[_Step]]:
    """The outbox entry's state, channel and events, oldest first: the route a sent document took (W8.2).

    One statement, so the state and the events are one snapshot (under READ COMMITTED two
    SELECTs may straddle a worker's commit, and the page would say `created` above a
    `delivered` event).
    """
    rows = db.execute(sa.select(OutboxEntry.state, OutboxEntry.channel, OutboxEvent.at, OutboxEvent.from_state,
                                OutboxEvent.to_state, OutboxEvent.action, OutboxEvent.detail)
                      .join(OutboxEvent, OutboxEvent.entry_id == OutboxEntry.id)
                      .where(OutboxEntry.public_id == entry_public_id).order_by(OutboxEvent.id)).all()
    if not rows:
        return None, None, []
    return rows[0].state, rows[0].channel, [_Step(r.at, r.from_state, r.to_state, r.action, r.detail) for r in rows]


def _document_html(r: Req, doc: Document, access: orgs.Access, *, status: int = 200, error: str = "",
                   typed: str | None = None) -> Response:
    entry = doc.__dict__["_entry"]
    asks_email = (entry is not None and entry.state == "needs_email" and "send" in access.rights)
    state, channel, history = doc.__dict__["_state"], None, []
    if entry is not None:
        with r.svc.sessions() as db:
            now_state, channel, history = _history(db, entry.public_id)
        if doc.direction == "out" and now_state:
            state = now_state  # the state the history ends in, read with it
    return r.page("document.html", status=status, doc=doc, access=access, state=state,
                  entry=entry, can_download="download" in access.rights, asks_email=asks_email,
                  email_value=typed if typed is not None else (doc.buyer_email or ""), error=error,
                  channel=channel, history=history)


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
        Route("/connections/{connection_id:int}/send", send, methods=["POST"], **html),
        Route("/documents/{public_id}", document_page, methods=["GET"], **html),
        Route("/documents/{public_id}/view", document_view, methods=["GET"], **html),
        Route("/documents/{public_id}/ubl", document_ubl, methods=["GET"], **html),
        Route("/documents/{public_id}/pdf", document_pdf, methods=["GET"], **html),
        Route("/documents/{public_id}/email", give_email, methods=["POST"], **html),
        Route("/api/connections/{connection_id:int}/documents", connection_page, methods=["GET"]),
        Route("/api/connections/{connection_id:int}/documents", send, methods=["POST"]),
        Route("/api/shared-documents/{public_id}", document_page, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/ubl", document_ubl, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/pdf", document_pdf, methods=["GET"]),
        Route("/api/shared-documents/{public_id}/email", give_email, methods=["POST"]),
    ]
