"""The JSON API for documents: submit, list, get, preflight, give an email address, resend.

Authentication: `Authorization: Bearer <[web] api_token>` (the node's operator:
every organisation), or `Bearer <connection key>` (E18: one organisation, see
`accesspoint.sharing.keys`; its grant is re-read on every request, SEC-9). With
no node token configured only connection keys work; nothing is ever open. A
connection key sees only its organisation's entries: others answer 404, as if
they did not exist, and a submitted document must name one of its identifiers
as sender. Errors are
JSON `{"error": code, "detail": ..., "findings": [...]}` with the stable codes of
`accesspoint.delivery.DocumentRejected`.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import sqlalchemy as sa

from accesspoint.db.tables.documents import Document, OutboxEntry
from accesspoint.delivery import DocumentRejected, EntryView, State, UnknownEntry, read_outgoing
from accesspoint.delivery.service import DeliveryService
from accesspoint.sharing import keys

from . import _document_words as words

if TYPE_CHECKING:
    from accesspoint.node import Node

#: Documents are invoices, not archives: 50 MB is far above any BIS invoice with attachments.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def delivery_of(node: Node) -> DeliveryService:
    """The node's delivery service (`node.delivery` when the node wires one, else built once here)."""
    service = getattr(node, "delivery", None)
    if service is None:
        service = DeliveryService.for_node(node)
        node.__dict__["delivery"] = service
    return service


def _error(status: int, code: str, detail: str, findings: tuple[str, ...] = ()) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, "findings": list(findings)}, status_code=status)


#: What a request may reach: every organisation (the node's token) or one organisation (a connection key).
ALL_ORGANISATIONS = 0


def _authorised(node: Node, request: Request) -> int | None:
    """ALL_ORGANISATIONS for the node's token, an organisation id for a live connection key, else None."""
    token = node.settings.web.api_token
    given = request.headers.get("authorization", "")
    if not given.startswith("Bearer "):
        return None
    presented = given[7:]
    if token and hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), token.encode()):
        return ALL_ORGANISATIONS
    if not presented.startswith(keys.KEY_PREFIX):
        return None
    with node.sessions.begin() as db:
        return keys.authenticate(db, presented, node.now())


def _entry_organisation(node: Node, entry_id: str) -> int | None:
    with node.sessions() as db:
        return db.scalar(sa.select(Document.organisation_id).join(OutboxEntry, OutboxEntry.document_id == Document.id)
                         .where(OutboxEntry.public_id == entry_id))


def _received(node: Node, organisation_id: int | None, state: str | None, limit: int,
              offset: int) -> list[dict[str, object]]:
    query = (sa.select(Document.public_id, Document.organisation_id, Document.number, Document.issue_date,
                       Document.seller_name, Document.sender_id, Document.buyer_name, Document.receiver_id,
                       Document.payable_amount, Document.currency, Document.business_status, Document.created_at)
             .where(Document.direction == "in").order_by(Document.id.desc()).limit(limit).offset(offset))
    if organisation_id is not None:
        query = query.where(Document.organisation_id == organisation_id)
    if state is not None:
        query = query.where(Document.business_status.is_(None) if state == "received"
                            else Document.business_status == state)
    with node.sessions() as db:
        rows = db.execute(query).all()
    return [{"id": d.public_id, "organisation_id": d.organisation_id, "number": d.number, "issue_date": d.issue_date,
             "seller_name": d.seller_name, "sender": d.sender_id, "buyer_name": d.buyer_name,
             "receiver": d.receiver_id, "payable_amount": d.payable_amount, "currency": d.currency,
             "state": d.business_status or "received",
             "state_text": words.state_words("in", d.business_status or "received"),
             "created_at": d.created_at.isoformat()} for d in rows]


def _entry_json(entry: EntryView) -> dict[str, object]:
    """An outbox entry as the API gives it: the outbox's fields, and the state in the pages' words."""
    reason = entry.error_detail or entry.error_code
    return entry.as_json() | {"state_text": words.state_words("out", entry.state.value, channel=entry.channel,
                                                               reason=reason)}


async def _body(request: Request) -> bytes | None:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_DOCUMENT_BYTES:
            return None
    return bytes(data)


async def _json(request: Request) -> dict:
    try:
        value = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def routes(node: Node) -> list[BaseRoute]:
    def guarded(handler):  # noqa: ANN001, ANN202 - a tiny decorator for auth and error mapping
        async def endpoint(request: Request) -> Response:
            scope = await run_in_threadpool(_authorised, node, request)
            if scope is None:
                return _error(401, "unauthorised", "a valid bearer token is required")
            request.state.organisation_id = scope or None
            entry_id = request.path_params.get("id")
            if scope and entry_id is not None:
                if await run_in_threadpool(_entry_organisation, node, entry_id) != scope:
                    return _error(404, "not-found", f"no outbox entry {entry_id!r}")
            try:
                return await handler(request)
            except DocumentRejected as exc:
                status = 409 if exc.code == "bad-state" else 422
                return _error(status, exc.code, exc.detail, exc.findings)
            except UnknownEntry as exc:
                return _error(404, "not-found", str(exc))

        endpoint.__doc__ = handler.__doc__
        endpoint.__name__ = handler.__name__
        return endpoint

    @guarded
    async def submit(request: Request) -> Response:
        """Submit a document (bare UBL or a Peppol SBD) for delivery.
        ---
        summary: Submit a document
        security: [{bearer: []}]
        parameters:
          - {name: email, in: query, required: false, schema: {type: string},
             description: "Address for the email fallback when the buyer is not on Peppol"}
        requestBody: {required: true, content: {application/xml: {schema: {type: string}}}}
        responses:
          "201": {description: Queued; the outbox entry}
          "200": {description: "Already submitted (same supplier, type, number, date): the existing entry"}
          "422": {description: "Rejected: error is not-xml, not-ubl, no-sender, no-receiver, unknown-sender, invalid, bad-email"}
        """
        data = await _body(request)
        if data is None:
            return _error(413, "too-large", f"documents are limited to {MAX_DOCUMENT_BYTES} bytes")
        service = delivery_of(node)
        sub = await run_in_threadpool(service.outbox.submit, data, email=request.query_params.get("email"),
                                      organisation_id=request.state.organisation_id)
        if not sub.duplicate:
            service.wake()
        body = _entry_json(sub.entry) | {"duplicate": sub.duplicate}
        return JSONResponse(body, status_code=200 if sub.duplicate else 201)

    @guarded
    async def list_documents(request: Request) -> Response:
        """List outbox entries, newest first.
        ---
        summary: List outbox entries
        security: [{bearer: []}]
        parameters:
          - {name: state, in: query, required: false, schema: {type: string,
             enum: [created, needs_email, sent, delivered, opened, failed]}}
          - {name: limit, in: query, required: false, schema: {type: integer, default: 100, maximum: 1000}}
          - {name: offset, in: query, required: false, schema: {type: integer, default: 0}}
        responses:
          "200": {description: "{items: [entry]}"}
        """
        try:
            state = State(request.query_params["state"]) if "state" in request.query_params else None
            limit = min(1000, max(1, int(request.query_params.get("limit", 100))))
            offset = max(0, int(request.query_params.get("offset", 0)))
        except ValueError:
            return _error(400, "bad-query", "state, limit or offset is not valid")
        entries = await run_in_threadpool(delivery_of(node).outbox.list, state=state, limit=limit, offset=offset,
                                          organisation_id=request.state.organisation_id)
        return JSONResponse({"items": [_entry_json(e) for e in entries]})

    @guarded
    async def list_received(request: Request) -> Response:
        """List received documents (the purchase connections: the inbox), newest first.
        ---
        summary: List received documents
        description: What the purchase connection page lists - the supplier's name and id, number, date,
          amount due, state - for every organisation (the node's token) or the connection key's own.
        security: [{bearer: []}]
        parameters:
          - {name: state, in: query, required: false, schema: {type: string,
             enum: [received, under_review, accepted, rejected, paid]}}
          - {name: organisation_id, in: query, required: false, schema: {type: integer}}
          - {name: limit, in: query, required: false, schema: {type: integer, default: 100, maximum: 1000}}
          - {name: offset, in: query, required: false, schema: {type: integer, default: 0}}
        responses:
          "200": {description: "{items: [{id, organisation_id, number, issue_date, seller_name, sender, buyer_name,
            receiver, payable_amount, currency, state, state_text, created_at}]}"}
          "400": {description: Not a state, or a bad limit or offset}
        """
        params = request.query_params
        try:
            state = params.get("state") or None
            if state is not None and state not in dict(words.IN_FILTERS):
                raise ValueError(state)
            limit = min(1000, max(1, int(params.get("limit", 100))))
            offset = max(0, int(params.get("offset", 0)))
            organisation_id = int(params["organisation_id"]) if params.get("organisation_id") else None
        except ValueError:
            return _error(400, "bad-query", "state, organisation_id, limit or offset is not valid")
        scope = request.state.organisation_id
        if scope is not None:
            if organisation_id not in (None, scope):
                return JSONResponse({"items": []})
            organisation_id = scope
        rows = await run_in_threadpool(_received, node, organisation_id, state, limit, offset)
        return JSONResponse({"items": rows})

    @guarded
    async def get_document(request: Request) -> Response:
        """One outbox entry with its state history.
        ---
        summary: Get an outbox entry
        security: [{bearer: []}]
        parameters: [{name: id, in: path, required: true, schema: {type: string}}]
        responses:
          "200": {description: The entry, its events and any error}
          "404": {description: No such entry}
        """
        entry = await run_in_threadpool(delivery_of(node).outbox.get, request.path_params["id"])
        return JSONResponse(_entry_json(entry))

    @guarded
    async def get_receipt(request: Request) -> Response:
        """The delivery evidence: the verified AS4 receipt (or the internal inbox reference).
        ---
        summary: Get the delivery receipt
        security: [{bearer: []}]
        parameters: [{name: id, in: path, required: true, schema: {type: string}}]
        responses:
          "200": {description: The receipt evidence}
          "404": {description: No such entry, or no receipt yet}
        """
        receipt = await run_in_threadpool(delivery_of(node).outbox.receipt, request.path_params["id"])
        if receipt is None:
            return _error(404, "no-receipt", "this entry has no receipt (yet)")
        return Response(receipt, media_type="application/json" if receipt[:1] == b"{" else "text/plain")

    @guarded
    async def preflight(request: Request) -> Response:
        """Which delivery method a document would get now, without sending it.
        ---
        summary: Preflight a document
        security: [{bearer: []}]
        parameters:
          - {name: email, in: query, required: false, schema: {type: string}}
        requestBody: {required: true, content: {application/xml: {schema: {type: string}}}}
        responses:
          "200": {description: "{channel: internal|peppol|email|needs_email|unknown, participant_id, endpoint,
            candidates, suggested_email, buyer_name, text (the route in words)}"}
        """
        data = await _body(request)
        if data is None:
            return _error(413, "too-large", f"documents are limited to {MAX_DOCUMENT_BYTES} bytes")
        facts = read_outgoing(data)  # DocumentRejected: 422, by `guarded`
        result = await delivery_of(node).outbox.preflight(facts=facts, email=request.query_params.get("email"))
        buyer = words.party(result.buyer_name, result.participant_id or str(facts.receiver))
        return JSONResponse(result.as_json() | {"text": words.route_words(
            result.state, buyer=buyer, endpoint=result.endpoint, seat_id=node.settings.node.seat_id,
            unavailable=result.unavailable)})

    @guarded
    async def provide_email(request: Request) -> Response:
        """Give the email address a `needs_email` entry waits for; delivery continues by email.
        ---
        summary: Provide an email address
        security: [{bearer: []}]
        parameters: [{name: id, in: path, required: true, schema: {type: string}}]
        requestBody: {required: true, content: {application/json: {schema: {type: object,
          properties: {email: {type: string}}, required: [email]}}}}
        responses:
          "200": {description: The entry, queued again}
          "409": {description: The entry is past the point where an address helps}
        """
        email = (await _json(request)).get("email")
        if not isinstance(email, str):
            return _error(422, "bad-email", "give {\"email\": \"...\"}")
        entry = await run_in_threadpool(delivery_of(node).provide_email, request.path_params["id"], email)
        return JSONResponse(_entry_json(entry))

    @guarded
    async def resend(request: Request) -> Response:
        """Send a failed entry again, optionally to a corrected receiver id or email (W8.4).
        ---
        summary: Resend a failed entry
        security: [{bearer: []}]
        parameters: [{name: id, in: path, required: true, schema: {type: string}}]
        requestBody: {required: false, content: {application/json: {schema: {type: object,
          properties: {receiver: {type: string}, email: {type: string}}}}}}
        responses:
          "200": {description: The entry, queued again}
          "409": {description: Only failed entries can be resent}
        """
        body = await _json(request)
        receiver = body.get("receiver") if isinstance(body.get("receiver"), str) else None
        email = body.get("email") if isinstance(body.get("email"), str) else None
        service = delivery_of(node)
        entry = await run_in_threadpool(service.outbox.resend, request.path_params["id"], receiver=receiver,
                                        email=email)
        service.wake()
        return JSONResponse(_entry_json(entry))

    return [
        Route("/api/v1/documents", submit, methods=["POST"]),
        Route("/api/v1/documents", list_documents, methods=["GET"]),
        Route("/api/v1/documents/preflight", preflight, methods=["POST"]),
        Route("/api/v1/received-documents", list_received, methods=["GET"]),
        Route("/api/v1/documents/{id}", get_document, methods=["GET"]),
        Route("/api/v1/documents/{id}/receipt", get_receipt, methods=["GET"]),
        Route("/api/v1/documents/{id}/email", provide_email, methods=["POST"]),
        Route("/api/v1/documents/{id}/resend", resend, methods=["POST"]),
    ]
