"""Sending from the sales connection in the web app: upload, see the route, *Send* (W8.2 preflight);
and *Send again* for a failed document (W8.4).

An upload is checked as the outbox's submit checks it (readable, from this organisation, valid)
and routed as a worker would route it, read-only (`Outbox.preflight`, the router's own choice):
the page then says "This invoice will go to Buyer NV · 0208:… over Peppol (access point …)" or
"Buyer NV · 0208:… is not on Peppol: give an email address", and only the second click queues it.
Between the clicks the bytes wait server-side (`outbox_uploads`, an hour): the second request
posts an id, not the document again (up to 10 MB; a hidden field would also exceed Starlette's
1 MB limit for a form field), and nobody but the uploader, on the same connection with the send
right still held (SEC-9), can send it.

A resend reuses `Outbox.resend` (the same path as `POST /api/v1/documents/{id}/resend`): same
invoice number and content, a new AS4 message, the receiver id or email corrected if given.

Every page has its `/api/...` twin for a signed-in user (session cookie with `X-CSRF-Token`, or
the session token as bearer); the node's token and connection keys use `/api/v1/documents/preflight`,
`POST /api/v1/documents` and `/api/v1/documents/{id}/resend`, which run the same outbox code.
"""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio.from_thread
import sqlalchemy as sa
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.documents import OutboxUpload
from accesspoint.sharing import audit, orgs

from . import _document_words as words
from ._session import Req, endpoint
from .documents_pages import _document, _document_html, _view, connection_view

if TYPE_CHECKING:
    from accesspoint.delivery import OutgoingDocument, Preflight
    from accesspoint.node import Node

__all__ = ["routes", "UPLOAD_TTL"]

MAX_UPLOAD = 10 * 1024 * 1024
#: How long an upload waits for *Send*; expired rows are deleted when the next upload is kept.
UPLOAD_TTL = timedelta(hours=1)


def _delivery(node: Any):
    """The node's delivery service: the same outbox and workers the JSON API uses."""
    from accesspoint.web.api_documents import delivery_of

    return delivery_of(node)


@endpoint()
def send(r: Req) -> Response:
    """Send a UBL invoice from the sales connection in one step: it is queued in the outbox as `created` (W8).

    The pages preflight first (`preflight`, then `send_upload`); this is the API's direct path.
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
    from accesspoint.delivery import DocumentRejected

    cid = r.path_int("connection_id")
    access = sending_access(r, cid)
    data = _uploaded(r)
    email = r.get("email").strip() or None
    try:
        result, waited = submit_document(r, access, data, email)
    except DocumentRejected as exc:
        raise shares.InvalidInput(f"The document was not accepted: {exc}") from None
    return submitted(r, f"/connections/{cid}", result, waited, email)


def sending_access(r: Req, cid: int) -> orgs.Access:
    """The connection, if the user may send from it now (the sales connection, with the send right)."""
    with r.svc.sessions() as db:
        access = orgs.connection_access(db, db.get(User, r.user.id), cid)  # type: ignore[union-attr]
    if access.kind != "peppol_sales" or "send" not in access.rights:
        raise shares.NotAllowed("You cannot send documents from this connection.")
    return access


def submit_document(r: Req, access: orgs.Access, data: bytes, email: str | None) -> tuple[Any, bool]:
    """Queue `data` in the outbox for the connection's organisation (W8), audited; the one path of
    the API's one-step send and of *Send* after the preflight. Returns the submission and whether
    it answered a `needs_email` wait. Raises `DocumentRejected` with nothing stored."""
    from accesspoint.delivery import State, Submission

    service = _delivery(r.node)
    result = service.outbox.submit(data, email=email, organisation_id=access.organisation_id)
    waited = False
    if result.duplicate and email and result.entry.state is State.NEEDS_EMAIL:
        # The same invoice again, now with the address it was waiting for: that is the answer to
        # needs_email, not a second send (W8.2(c)).
        result = Submission(service.provide_email(result.entry.id, email), duplicate=True)
        waited = True
    if not result.duplicate:
        service.wake()
    with r.svc.sessions.begin() as db:
        audit.record(db, r.ctx, "document.submitted", actor_id=r.user.id, object_type="document",  # type: ignore[union-attr]
                     organisation_id=access.organisation_id, detail={"connection": access.kind,
                                                                      "duplicate": result.duplicate})
    return result, waited


def submitted(r: Req, redirect: str, result: Any, waited: bool, email: str | None) -> Response:
    entry = result.entry
    state = entry.state.value if hasattr(entry.state, "value") else str(entry.state)
    return r.done(redirect, {"document_id": entry.document_id, "state": state, "duplicate": result.duplicate},
                  flash=(f"Sending by email to {email}." if waited else
                         "Already sent before: nothing new was queued." if result.duplicate else
                         "Document queued for sending."),
                  status=201)


# -- preflight -------------------------------------------------------------------------------------
def _uploaded(r: Req) -> bytes:
    if r.api:
        data = r.get("ubl").encode("utf-8")
    else:
        upload = r.form.get("_files", {}).get("document")
        if upload is None:
            raise shares.InvalidInput("Choose a UBL file to send.")
        data = upload.file.read(MAX_UPLOAD + 1)
    if not data or len(data) > MAX_UPLOAD:
        raise shares.InvalidInput("The document is empty or larger than 10 MB.")
    return data


def _route(r: Req, facts: OutgoingDocument) -> Preflight:
    """The router's choice for `facts` now, read-only. The router is async (its lookups share the
    node's HTTP client, bound to the event loop): this thread-pool handler runs it on that loop."""
    outbox = _delivery(r.node).outbox
    return anyio.from_thread.run(functools.partial(outbox.preflight, facts=facts))


def _preflight_json(r: Req, upload_id: str, facts: OutgoingDocument, route: Preflight) -> dict[str, Any]:
    s = facts.summary
    buyer = words.party(route.buyer_name, route.participant_id or str(facts.receiver))
    return {"upload_id": upload_id, "number": facts.number, "issue_date": facts.issue_date,
            "buyer": buyer, "buyer_name": s.buyer_name or None, "payable_amount": s.payable_amount,
            "currency": s.currency, "route": route.as_json(),
            "text": words.route_words(route.state, buyer=buyer, endpoint=route.endpoint,
                                      seat_id=r.node.settings.node.seat_id, unavailable=route.unavailable),
            "expires_in_seconds": int(UPLOAD_TTL.total_seconds())}


def _preflight_page(r: Req, access: orgs.Access, upload_id: str, facts: OutgoingDocument, route: Preflight, *,
                    status: int = 200, error: str = "", typed: str | None = None) -> Response:
    body = _preflight_json(r, upload_id, facts, route)
    return r.page("preflight.html", status=status, access=access, p=body, route=route, error=error,
                  amount=words.amount(facts.summary.payable_amount, facts.summary.currency),
                  email_value=typed if typed is not None else (route.suggested_email or ""))


@endpoint()
def preflight(r: Req) -> Response:
    """Upload a document and see which route it would take, without sending it (W8.2).
    ---
    summary: Preflight an upload on a sales connection
    description: The document is checked as a send checks it and routed as a worker would (internal,
      Peppol, else email), read-only. It is kept for an hour as `upload_id`; `POST
      /api/connections/{connection_id}/uploads/{upload_id}/send` then queues it. `text` says the route
      in words.
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [ubl], properties: {ubl: {type: string, description: UBL XML}}}
    responses:
      "200": {description: "{upload_id, number, buyer, payable_amount, currency, route: {channel, ...}, text}"}
      "400": {description: The document was not accepted (reason given)}
      "403": {description: No send right on this connection}
    """
    from accesspoint.delivery import DocumentRejected

    cid = r.path_int("connection_id")
    access = sending_access(r, cid)
    data = _uploaded(r)
    try:
        facts = _delivery(r.node).outbox.check(data, organisation_id=access.organisation_id)
    except DocumentRejected as exc:
        message = f"The document was not accepted: {exc}"
        if r.api:
            raise shares.InvalidInput(message) from None
        # Beside the upload form, on the connection page (not a dead-end page).
        return r.page("connection.html", status=400, upload_error=message, **connection_view(r, cid).context())
    route = _route(r, facts)
    upload_id = str(uuid.uuid4())
    now = r.ctx.now
    with r.svc.sessions.begin() as db:
        db.execute(sa.delete(OutboxUpload).where(OutboxUpload.created_at < now - UPLOAD_TTL))
        db.add(OutboxUpload(public_id=upload_id, connection_id=cid, user_id=r.user.id,  # type: ignore[union-attr]
                            content=data, created_at=now))
    if r.api:
        return r.done("", _preflight_json(r, upload_id, facts, route))
    return _preflight_page(r, access, upload_id, facts, route)


def _kept(r: Req, cid: int, upload_id: str) -> bytes:
    """The upload's bytes if this user kept it on this connection within the hour; else an answer
    that says to upload it again (one answer for unknown, expired, sent and someone else's)."""
    with r.svc.sessions() as db:
        content = db.scalar(sa.select(OutboxUpload.content).where(
            OutboxUpload.public_id == upload_id, OutboxUpload.connection_id == cid,
            OutboxUpload.user_id == r.user.id,  # type: ignore[union-attr]
            OutboxUpload.created_at >= r.ctx.now - UPLOAD_TTL))
    if content is None:
        raise shares.InvalidTransition("This upload was sent already or has expired: upload the file again.")
    return content


@endpoint()
def send_upload(r: Req) -> Response:
    """*Send* after the preflight: queue the kept upload in the outbox (W8), with an email address for
    a buyer not on Peppol.
    ---
    summary: Send a preflighted upload
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {email: {type: string,
            description: "Where to send it if the buyer is not on Peppol (else it waits for one: needs_email)"}}}
    responses:
      "201": {description: "{document_id, state, duplicate}"}
      "400": {description: Not an email address, or the document is no longer accepted}
      "403": {description: No send right on this connection}
      "409": {description: The upload was sent already or has expired}
    """
    from accesspoint.delivery import DocumentRejected
    from accesspoint.delivery.outbox import check_email

    cid = r.path_int("connection_id")
    access = sending_access(r, cid)
    upload_id = r.request.path_params["upload_id"]
    data = _kept(r, cid, upload_id)
    email = r.get("email").strip() or None
    try:
        if email is not None and not r.api:
            try:
                check_email(email)
            except DocumentRejected:
                # Beside the address field, with what was typed; the upload stays for the next click.
                facts = _delivery(r.node).outbox.check(data, organisation_id=access.organisation_id)
                return _preflight_page(r, access, upload_id, facts, _route(r, facts), status=400,
                                       error="Enter an email address, e.g. invoices@buyer.example.", typed=email)
        result, waited = submit_document(r, access, data, email)
    except DocumentRejected as exc:
        raise shares.InvalidInput(f"The document was not accepted: {exc}") from None
    with r.svc.sessions.begin() as db:
        db.execute(sa.delete(OutboxUpload).where(OutboxUpload.public_id == upload_id))
    return submitted(r, f"/documents/{result.entry.document_id}", result, waited, email)


@endpoint()
def upload_view(r: Req) -> Response:
    """The kept upload rendered, in the preflight page's sandboxed frame (what will be sent)."""
    from starlette.responses import HTMLResponse

    from .documents_pages import _RENDER_CSP, _render_html

    cid = r.path_int("connection_id")
    sending_access(r, cid)
    content = _kept(r, cid, r.request.path_params["upload_id"])
    return HTMLResponse(_render_html(content),
                        headers={"Content-Security-Policy": _RENDER_CSP, "X-Frame-Options": "SAMEORIGIN"})


# -- resend ----------------------------------------------------------------------------------------
@endpoint()
def resend(r: Req) -> Response:
    """Send a failed document again (W8.4): same number and content, the buyer's Peppol id or the
    email address corrected if given.
    ---
    summary: Resend a failed document
    description: The signed-in twin of `POST /api/v1/documents/{id}/resend` (same outbox path), for a
      user with the send right on the sales connection. A receiver equal to the current one is no
      correction.
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {receiver: {type: string, description: "e.g. 0208:0123456749"},
            email: {type: string}}}
    responses:
      "200": {description: "{document_id, state, resends, receiver, email}"}
      "400": {description: Not a Peppol id or not an email address}
      "403": {description: No send right}
      "409": {description: Only a failed document can be sent again}
    """
    from accesspoint.delivery import DocumentRejected

    doc, access = _document(r)
    entry = doc.__dict__["_entry"]
    if "send" not in access.rights or doc.direction != "out" or entry is None:
        raise shares.NotAllowed("You cannot send documents from this connection.")
    typed = {"receiver": r.get("receiver").strip(), "email": r.get("email").strip()}
    receiver = typed["receiver"] or None
    if receiver is not None:
        try:
            if ubl.ParticipantId.parse(receiver) == ubl.ParticipantId.parse(doc.receiver_id):
                receiver = None  # the id it has: nothing to correct
        except ubl.IdentifierError:
            pass  # the outbox refuses it, with the reason
    service = _delivery(r.node)
    try:
        view = service.outbox.resend(entry.public_id, receiver=receiver, email=typed["email"] or None)
    except DocumentRejected as exc:
        if exc.code == "bad-state":
            raise shares.InvalidTransition("Only a document that failed can be sent again.") from None
        message = ("Enter the buyer's Peppol id, e.g. 0208:0123456749." if exc.code == "no-receiver"
                   else "Enter an email address, e.g. invoices@buyer.example.")
        if r.api:
            raise shares.InvalidInput(f"{message} ({exc.detail})") from None
        return _document_html(r, doc, access, _view(r, doc), status=400, resend_error=message, resend_form=typed)
    service.wake()
    with r.svc.sessions.begin() as db:
        audit.record(db, r.ctx, "document.resent", actor_id=r.user.id, object_type="document",  # type: ignore[union-attr]
                     organisation_id=access.organisation_id,
                     detail={"resends": view.resends, "receiver_corrected": receiver is not None,
                             "email": bool(typed["email"])})
    return r.done(f"/documents/{doc.public_id}",
                  {"document_id": doc.public_id, "state": view.state.value, "resends": view.resends,
                   "receiver": view.receiver_id, "email": view.email},
                  flash="Sent again: it is queued for delivery.")


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/connections/{connection_id:int}/send", send, methods=["POST"], **html),
        Route("/connections/{connection_id:int}/preflight", preflight, methods=["POST"], **html),
        Route("/connections/{connection_id:int}/uploads/{upload_id}/send", send_upload, methods=["POST"], **html),
        Route("/connections/{connection_id:int}/uploads/{upload_id}/view", upload_view, methods=["GET"], **html),
        Route("/documents/{public_id}/resend", resend, methods=["POST"], **html),
        Route("/api/connections/{connection_id:int}/documents", send, methods=["POST"]),
        Route("/api/connections/{connection_id:int}/preflight", preflight, methods=["POST"]),
        Route("/api/connections/{connection_id:int}/uploads/{upload_id}/send", send_upload, methods=["POST"]),
        Route("/api/shared-documents/{public_id}/resend", resend, methods=["POST"]),
    ]
