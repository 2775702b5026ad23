"""Pages and JSON API of mail intake (issue 13, W7/W8): trusted senders and the drafts their mail made.

The rules live in `accesspoint.intake` (senders: org admins only; drafts: any member, saved and
sent, never edited); this module only maps them to pages and `/api/v1/...` twins.

Who may call which API (the rule of the rest of the node): `/api/v1/...` takes the node's
`[web] api_token` (the operator: every organisation, audited without a user) or a connection
key (E18: its own organisation only), never a session; `/api/...` (no v1) is the web app's twin
of each page and takes the user's session (cookie with `X-CSRF-Token`, or `Authorization:
Bearer <session token>`), with the same org-admin and membership checks as the pages. A
connection key was issued by an org admin (or through an accepted authorisation request), so
it may manage its organisation's trusted senders as the operator could. Anything outside the
caller's reach answers 404, as if it did not exist, like the documents API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.intake import IntakeDraft
from accesspoint.db.tables.organisations import Organisation
from accesspoint.intake import TransitionRefused, Whitelist, WhitelistKind, normalise_address
from accesspoint.intake import drafts, senders
from accesspoint.intake.rules import SenderState
from accesspoint.sharing import orgs

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes", "waiting_drafts", "STATE_WORDS"]

#: The sender's state as the list says it (W7.2), for people rather than for code.
STATE_WORDS = {
    SenderState.DRAFT: "Not invited yet: mail to this address is accepted from the whitelist",
    SenderState.INVITED: "Invited: waiting for the first invoice",
    SenderState.ACTIVE: "Active: invoices are accepted",
    SenderState.INACTIVE: "Inactive: mail to this address is refused",
}
KIND_WORDS = {WhitelistKind.ADDRESS: "One address", WhitelistKind.DOMAIN: "A whole domain",
              WhitelistKind.VERIFIED_USERS: "Verified users of the organisation"}


class _NotFound(Exception):
    """Unknown, or outside the caller's reach: one answer for both (no enumeration)."""


class _Unauthorised(Exception):
    """An API call with no valid session, node token or connection key."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking. `actor` is the signed-in user (the core checks their rights) or None for the
    operator's token and for a connection key; `scope` is a key's organisation (None: no key)."""

    actor: User | None
    scope: int | None

    @property
    def is_key(self) -> bool:
        return self.scope is not None

    def reaches(self, organisation_id: int) -> bool:
        """Whether a token caller may reach the organisation (a user's rights are the core's check)."""
        return self.scope is None or self.scope == organisation_id


def _caller(r: Req) -> Caller:
    if r.request.url.path.startswith("/api/v1/"):
        # The documents API's credentials, and only those: a session is no API key (see api_documents).
        from .api_documents import ALL_ORGANISATIONS, _authorised

        scope = _authorised(r.node, r.request)
        if scope is None:
            raise _Unauthorised
        return Caller(None, None if scope == ALL_ORGANISATIONS else scope)
    if r.user is None:
        raise _Unauthorised
    return Caller(r.user, None)


def _not_found(r: Req, what: str) -> Response:
    if r.api:
        return JSONResponse({"error": "not_found", "message": f"No such {what}."}, status_code=404)
    return r.page("message.html", status=404, title="Not found", code="not_found",
                  message=f"There is no such {what}, or you have no access to it.")


def _intake(what: str) -> Callable[[Callable[[Req, Caller], Response]], Callable[..., Any]]:
    """`endpoint()` for intake routes: resolves the caller, and maps the intake core's errors
    (unknown -> 404, a refused state change -> 409, bad input -> 400) to pages or JSON."""

    def wrap(handler: Callable[[Req, Caller], Response]) -> Callable[..., Any]:
        @endpoint(login=False)
        @functools.wraps(handler)
        def run(r: Req) -> Response:
            try:
                caller = _caller(r)
            except _Unauthorised:
                if r.request.url.path.startswith("/api/v1/"):
                    return JSONResponse({"error": "unauthorised", "message": "A valid bearer token is required: "
                                         "the node's API token or a connection key."}, status_code=401)
                if r.api:
                    return JSONResponse({"error": "login_required", "message": "Log in first."}, status_code=401)
                return r.done(f"/login?next={r.request.url.path}")
            try:
                return handler(r, caller)
            except (_NotFound, LookupError):
                return _not_found(r, what)
            except TransitionRefused as exc:
                raise shares.InvalidTransition(str(exc)) from None

        return run

    return wrap


# -- trusted senders ----------------------------------------------------------------------


def _sender_org(r: Req, caller: Caller, org_id: int) -> Organisation:
    """The organisation whose senders are asked for, if the caller may manage them.

    Org admins (and the node's operator token) only, as W7.1 says: the whitelist decides who may put
    invoices out under the organisation's name, so a connection key (an accounting package's credential
    for documents and drafts) may not widen it.
    """
    if not caller.reaches(org_id):
        raise _NotFound
    if caller.is_key:
        raise shares.NotAllowed("A connection key works with documents and drafts; trusted senders are managed by "
                                "the organisation's admins.")
    with r.svc.sessions() as db:
        if caller.actor is not None:
            org = orgs.require_member(db, caller.actor, org_id, admin=True)
        else:
            org = db.get(Organisation, org_id)
            if org is None:
                raise _NotFound
        db.expunge(org)
    return org


def _senders_page(r: Req, org: Organisation, *, status: int = 200, error: str = "",
                  form: dict[str, str] | None = None) -> Response:
    with r.svc.sessions() as db:
        rows = senders.senders_of(db, r.user, org.id)
    return r.page("intake_senders.html", status=status, org=org, senders=rows, states=STATE_WORDS,
                  contexts=senders.CONTEXTS, kinds=KIND_WORDS, error=error, form=form or {},
                  domain=r.node.settings.intake.domain, listening=r.node.settings.intake.enabled)


@_intake("organisation")
def sender_list(r: Req, caller: Caller) -> Response:
    """The organisation's trusted senders (W7.1; org admins).
    ---
    summary: List an organisation's trusted senders
    description: "Under /api/v1 with the node's token (a connection key gets 403: the whitelist is the admins'); under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: "[{id, organisation_id, name, context, receiver_address, whitelist: {kind, value},
        contact_email, state, created_at}]"}
      "403": {description: "not_allowed: not an org admin, or a connection key"}
      "404": {description: "No such organisation (or not the key's)"}
    """
    org = _sender_org(r, caller, r.path_int("org_id"))
    if r.api:
        with r.svc.sessions() as db:
            rows = senders.senders_of(db, caller.actor, org.id)
        return JSONResponse([s.as_json() for s in rows])  # a list, even when empty
    return _senders_page(r, org)


def _whitelist(kind: str, value: str) -> Whitelist:
    try:
        chosen = WhitelistKind(kind)
    except ValueError:
        raise shares.InvalidInput("Choose who may send: one address, a whole domain, or the organisation's "
                                  "verified users.") from None
    if chosen is WhitelistKind.VERIFIED_USERS:
        return Whitelist(chosen)  # a value typed before switching to verified users means nothing
    try:
        return Whitelist(chosen, value)
    except ValueError:
        if chosen is WhitelistKind.ADDRESS:
            raise shares.InvalidInput("Enter the sender's address, e.g. facturen@supplier.example.") from None
        raise shares.InvalidInput("Enter the sender's domain, e.g. supplier.example (without @).") from None


def _new_sender(r: Req, caller: Caller, org: Organisation) -> senders.SenderView:
    kind = r.get("whitelist_kind")
    value = r.get("whitelist_value")
    if r.api and isinstance(r.form.get("whitelist"), dict):
        kind, value = str(r.form["whitelist"].get("kind", "")), str(r.form["whitelist"].get("value", ""))
    context = r.get("context", "sales_draft") or "sales_draft"
    if context not in senders.CONTEXTS:
        raise shares.InvalidInput("Choose where the invoices go: draft sales invoices or purchase invoices.")
    whitelist = _whitelist(kind, value)
    try:
        contact = normalise_address(r.get("contact_email"))
    except ValueError:
        raise shares.InvalidInput("Enter the contact's email address: it receives the invitation and any "
                                  "rejections.") from None
    with r.svc.sessions() as db:
        v = senders.create_sender(db, r.ctx, caller.actor, organisation_id=org.id,
                                  domain=r.node.settings.intake.domain, whitelist=whitelist, contact_email=contact,
                                  context=context, name=r.get("name"))
        db.commit()
    return v


@_intake("organisation")
def sender_create(r: Req, caller: Caller) -> Response:
    """*New sender*: a fresh receiver address at the intake domain, in state draft (W7.1).
    ---
    summary: Create a trusted sender
    description: "Under /api/v1 with the node's token (a connection key gets 403: the whitelist is the admins'); under /api with a session."
    security: [{bearer: []}, {session: []}]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [whitelist, contact_email]
            properties:
              name: {type: string, description: "e.g. the supplier or its accounting package"}
              context: {type: string, enum: [sales_draft, purchase], default: sales_draft}
              whitelist:
                type: object
                required: [kind]
                properties:
                  kind: {type: string, enum: [address, domain, verified_users]}
                  value: {type: string, description: "the address or the domain; none for verified_users"}
              contact_email: {type: string, description: Receives the invitation and every rejection}
    responses:
      "201": {description: The sender with its receiver address}
      "400": {description: "invalid_input: the whitelist, context or contact email is not valid"}
      "403": {description: "not_allowed: not an org admin, or a connection key"}
    """
    org = _sender_org(r, caller, r.path_int("org_id"))
    try:
        v = _new_sender(r, caller, org)
    except shares.InvalidInput as exc:
        if r.api:
            raise
        # Beside the form, with what was typed kept (no dead-end page).
        typed = {k: r.get(k) for k in ("name", "context", "whitelist_kind", "whitelist_value", "contact_email")}
        return _senders_page(r, org, status=400, error=exc.message, form=typed)
    return r.done(f"/orgs/{org.id}/senders", v.as_json(), status=201,
                  flash=f"Trusted sender created: invoices go to {v.receiver_address}.")


def _own_sender(r: Req, caller: Caller) -> tuple[Organisation, str]:
    """The organisation and the sender id of the path, if that sender is the organisation's."""
    org = _sender_org(r, caller, r.path_int("org_id"))
    sender_id = r.request.path_params["sender_id"]
    with r.svc.sessions() as db:
        if senders.find_sender(db, sender_id).organisation_id != org.id:  # LookupError: unknown
            raise _NotFound
    return org, sender_id


@_intake("trusted sender")
def sender_invite(r: Req, caller: Caller) -> Response:
    """*Send invitation*: mail the contact where to send invoices; draft -> invited (a resend when invited).
    ---
    summary: Send a trusted sender's invitation
    description: "Under /api/v1 with the node's token (a connection key gets 403: the whitelist is the admins'); under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: The sender, now invited}
      "403": {description: "not_allowed: not an org admin, or a connection key"}
      "404": {description: No such sender in this organisation}
      "409": {description: "The sender is active or inactive: nothing to invite to"}
      "502": {description: The mail server refused the invitation; the sender stays as it was}
    """
    from accesspoint.mail import MailError

    org, sender_id = _own_sender(r, caller)
    with r.svc.sessions() as db:
        try:
            v = senders.send_invitation(db, r.ctx, caller.actor, sender_id, r.node.mailer,
                                        node_name=r.node.settings.node.name)
        except MailError as exc:
            db.rollback()
            if r.api:
                return JSONResponse({"error": "mail_failed", "message": str(exc)}, status_code=502)
            return _senders_page(r, org, status=502, error=f"The invitation could not be mailed: {exc}")
        db.commit()
    return r.done(f"/orgs/{org.id}/senders", v.as_json(), flash=f"Invitation sent to {v.contact_email}.")


def _state_action(active: bool, doc: str) -> Callable[..., Any]:
    @_intake("trusted sender")
    def handler(r: Req, caller: Caller) -> Response:
        org, sender_id = _own_sender(r, caller)
        with r.svc.sessions() as db:
            v = senders.set_state(db, r.ctx, caller.actor, sender_id, active=active)
            db.commit()
        return r.done(f"/orgs/{org.id}/senders", v.as_json(),
                      flash="Sender activated." if active else "Sender deactivated: its mail is now refused.")

    handler.__doc__ = doc
    handler.__name__ = "sender_activate" if active else "sender_deactivate"
    return handler


sender_activate = _state_action(True, """*Update status*: activate (from draft, invited or inactive; W7.2).
    ---
    summary: Activate a trusted sender
    description: "Under /api/v1 with the node's token (a connection key gets 403: the whitelist is the admins'); under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: The sender, now active}
      "403": {description: "not_allowed: not an org admin, or a connection key"}
      "404": {description: No such sender in this organisation}
      "409": {description: Already active}
    """)
sender_deactivate = _state_action(False, """Deactivate: mail to the sender's address is refused from now on.
    ---
    summary: Deactivate a trusted sender
    description: "Under /api/v1 with the node's token (a connection key gets 403: the whitelist is the admins'); under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: The sender, now inactive}
      "403": {description: "not_allowed: not an org admin, or a connection key"}
      "404": {description: No such sender in this organisation}
      "409": {description: Already inactive}
    """)


# -- drafts from email -------------------------------------------------------------------------


def waiting_drafts(db: Any, organisation_id: int) -> int:
    """How many mailed invoices wait to be sent (the organisation page shows it)."""
    return db.scalar(sa.select(sa.func.count()).select_from(IntakeDraft).where(
        IntakeDraft.organisation_id == organisation_id, IntakeDraft.state == "draft")) or 0


def _member_org(r: Req, caller: Caller, org_id: int) -> Organisation:
    if not caller.reaches(org_id):
        raise _NotFound
    with r.svc.sessions() as db:
        if caller.actor is not None:
            org = orgs.require_member(db, caller.actor, org_id)
        else:
            org = db.get(Organisation, org_id)
            if org is None:
                raise _NotFound
        db.expunge(org)
    return org


@_intake("organisation")
def draft_list(r: Req, caller: Caller) -> Response:
    """Drafts from email: the invoices trusted senders mailed, newest first (W7.3; any member).
    ---
    summary: List an organisation's drafts from email
    description: "Under /api/v1 with the node's token or a connection key; under /api with a session."
    security: [{bearer: []}, {session: []}]
    parameters:
      - {name: state, in: query, required: false, schema: {type: string, enum: [draft, sent]}}
    responses:
      "200": {description: "[{id, number, buyer: {name, id}, document_name, description, state, outbox_entry,
        received_from, receiver_address, has_pdf, created_at, sent_at}]"}
      "403": {description: Not a member}
      "404": {description: "No such organisation (or not the key's)"}
    """
    org = _member_org(r, caller, r.path_int("org_id"))
    state = r.request.query_params.get("state") or None
    with r.svc.sessions() as db:
        rows = drafts.drafts_of(db, caller.actor, org.id, state=state)
    if r.api:
        return JSONResponse([d.as_json() for d in rows])
    return r.page("intake_drafts.html", org=org, drafts=rows)


def _draft(r: Req, caller: Caller) -> tuple[IntakeDraft, Organisation]:
    """The draft of the path if the caller may see it; unknown and forbidden are both `_NotFound`."""
    draft_id = r.request.path_params["draft_id"]
    with r.svc.sessions() as db:
        try:
            draft = drafts.find_draft(db, caller.actor, draft_id)
        except shares.NotAllowed:
            raise _NotFound from None
        if not caller.reaches(draft.organisation_id):
            raise _NotFound
        org = db.get(Organisation, draft.organisation_id)
        db.expunge_all()
    return draft, org  # type: ignore[return-value]


def _draft_page(r: Req, draft: IntakeDraft, org: Organisation, *, status: int = 200, error: str = "",
                send_error: str = "", form: dict[str, str] | None = None) -> Response:
    with r.svc.sessions() as db:
        v = drafts.view_draft(db, db.get(IntakeDraft, draft.id))  # type: ignore[arg-type]
        document = None
        if v.outbox_entry:
            from .api_documents import delivery_of

            document = delivery_of(r.node).outbox.get(v.outbox_entry).document_id
    return r.page("intake_draft.html", status=status, org=org, d=v, document=document, error=error,
                  send_error=send_error, form=form or {"document_name": v.document_name,
                                                       "description": v.description})


@_intake("draft")
def draft_page(r: Req, caller: Caller) -> Response:
    """One draft from email: what it is, where it came from, and whether it was sent.
    ---
    summary: Get a draft from email
    description: "Under /api/v1 with the node's token or a connection key; under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: The draft}
      "404": {description: No such draft, or not the caller's}
    """
    draft, org = _draft(r, caller)
    if r.api:
        with r.svc.sessions() as db:
            return JSONResponse(drafts.view_draft(db, db.get(IntakeDraft, draft.id)).as_json())  # type: ignore[arg-type]
    return _draft_page(r, draft, org)


@_intake("draft")
def draft_save(r: Req, caller: Caller) -> Response:
    """*Save*: the document name and description are all that may change (W8.1; never debtor or lines, W7.3).
    ---
    summary: Rename a draft from email
    description: "Under /api/v1 with the node's token or a connection key; under /api with a session."
    security: [{bearer: []}, {session: []}]
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              document_name: {type: string}
              description: {type: string}
    responses:
      "200": {description: The draft}
      "400": {description: "invalid_input: an empty document name"}
      "404": {description: No such draft, or not the caller's}
      "409": {description: The draft was sent already}
    """
    draft, org = _draft(r, caller)
    name = r.get("document_name", draft.document_name) if r.api else r.get("document_name")
    description = r.get("description", draft.description) if r.api else r.get("description")
    try:
        if draft.state != "draft":
            raise shares.InvalidTransition("This invoice was sent already; its name can no longer change.")
        if not name.strip():
            raise shares.InvalidInput("Give the document a name.")
        with r.svc.sessions() as db:
            v = drafts.rename_draft(db, r.ctx, caller.actor, draft.public_id, document_name=name,
                                    description=description)
            db.commit()
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return _draft_page(r, draft, org, status=400, error=exc.message,
                           form={"document_name": name, "description": description})
    return r.done(f"/drafts/{draft.public_id}", v.as_json(), flash="Saved.")


@_intake("draft")
def draft_send(r: Req, caller: Caller) -> Response:
    """*Send*: the draft's UBL, as it came, goes to the outbox: network first, email fallback (W8).
    ---
    summary: Send a draft from email
    description: "Sending twice is harmless; the second call answers with the same outbox entry. Follow the
      delivery at `GET /api/v1/documents/{outbox entry id}`. Under /api/v1 with the node's token or a
      connection key; under /api with a session."
    security: [{bearer: []}, {session: []}]
    responses:
      "200": {description: "{draft, entry}: the draft (state sent) and its outbox entry"}
      "404": {description: No such draft, or not the caller's}
      "422": {description: "The outbox refused it (error: invalid, unknown-sender, ...; findings: rule ids)"}
    """
    from accesspoint.delivery import DocumentRejected

    from .api_documents import delivery_of

    draft, org = _draft(r, caller)
    service = delivery_of(r.node)
    try:
        v, entry = drafts.send_draft(r.svc.sessions, service.outbox, r.ctx, caller.actor, draft.public_id)
    except DocumentRejected as exc:
        if r.api:
            return JSONResponse({"error": exc.code, "detail": exc.detail, "findings": list(exc.findings)},
                                status_code=422)
        return _draft_page(r, draft, org, status=422, send_error=f"The invoice was not accepted: {exc}")
    service.wake()
    return r.done(f"/documents/{entry.document_id}", {"draft": v.as_json(), "entry": entry.as_json()},
                  flash="Invoice queued for sending: the history below shows the route it takes.")


@_intake("draft")
def draft_view(r: Req, caller: Caller) -> Response:
    """The invoice rendered by `ubl` for the sandboxed frame of the draft page."""
    from .documents_pages import _RENDER_CSP, _render_html

    draft, _ = _draft(r, caller)
    return HTMLResponse(_render_html(draft.content),
                        headers={"Content-Security-Policy": _RENDER_CSP, "X-Frame-Options": "SAMEORIGIN"})


@_intake("draft")
def draft_pdf(r: Req, caller: Caller) -> Response:
    """The PDF that came with the mail, else one rendered from the UBL."""
    draft, _ = _draft(r, caller)
    pdf = draft.pdf
    if pdf is None:
        try:
            pdf = ubl.choose_pdf(ubl.parse_document(draft.content).document, ubl.EmbeddedPdfPolicy.ONLY_WHEN_NONE).data
        except ubl.UblError:
            pdf = None
    if not pdf:
        return r.page("message.html", status=404, title="No PDF", code="no_pdf",
                      message="No PDF is available for this invoice.")
    name = "".join(ch for ch in (draft.number or draft.public_id) if ch.isalnum() or ch in "-_.") or "invoice"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    org = "/orgs/{org_id:int}"
    return [
        Route(f"{org}/senders", sender_list, methods=["GET"], **html),
        Route(f"{org}/senders", sender_create, methods=["POST"], **html),
        Route(f"{org}/senders/{{sender_id}}/invitation", sender_invite, methods=["POST"], **html),
        Route(f"{org}/senders/{{sender_id}}/activate", sender_activate, methods=["POST"], **html),
        Route(f"{org}/senders/{{sender_id}}/deactivate", sender_deactivate, methods=["POST"], **html),
        Route(f"{org}/drafts", draft_list, methods=["GET"], **html),
        Route("/drafts/{draft_id}", draft_page, methods=["GET"], **html),
        Route("/drafts/{draft_id}", draft_save, methods=["POST"], **html),
        Route("/drafts/{draft_id}/send", draft_send, methods=["POST"], **html),
        Route("/drafts/{draft_id}/view", draft_view, methods=["GET"], **html),
        Route("/drafts/{draft_id}/pdf", draft_pdf, methods=["GET"], **html),
    ] + _api_routes("/api/v1") + _api_routes("/api")


def _api_routes(prefix: str) -> list[BaseRoute]:
    """The JSON twins: under /api/v1 for the node's token and connection keys, under /api for a session."""
    org = f"{prefix}/organisations/{{org_id:int}}"
    return [
        Route(f"{org}/trusted-senders", sender_list, methods=["GET"]),
        Route(f"{org}/trusted-senders", sender_create, methods=["POST"]),
        Route(f"{org}/trusted-senders/{{sender_id}}/invitation", sender_invite, methods=["POST"]),
        Route(f"{org}/trusted-senders/{{sender_id}}/activate", sender_activate, methods=["POST"]),
        Route(f"{org}/trusted-senders/{{sender_id}}/deactivate", sender_deactivate, methods=["POST"]),
        Route(f"{org}/drafts", draft_list, methods=["GET"]),
        Route(f"{prefix}/drafts/{{draft_id}}", draft_page, methods=["GET"]),
        Route(f"{prefix}/drafts/{{draft_id}}", draft_save, methods=["PATCH"]),
        Route(f"{prefix}/drafts/{{draft_id}}/send", draft_send, methods=["POST"]),
    ]
