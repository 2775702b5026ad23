"""Pages and API of sharing: the Connections list, share/resend/withdraw/revoke (W5), invite links
(SEC-1..7), authorisation requests and the client's Inbox → Requests (W3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.sharing import invites, orgs, ratelimit, requests

from ._session import INVITE_COOKIE, SESSION_COOKIE, Req, endpoint
from .activation import activation_view, receive_view
from .intake import waiting_drafts

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]

INVITE_COOKIE_AGE = 3600


def _status_json(s: invites.ConnectionStatus) -> dict:
    return {"connection_id": s.connection_id, "kind": s.kind, "label": s.label, "state": s.display.key,
            "share_id": s.share_id, "email": s.email, "invitation_id": s.invitation_id,
            "sent_at": s.sent_at.isoformat() if s.sent_at else None,
            "expires_at": s.expires_at.isoformat() if s.expires_at else None, "times_sent": s.times_sent,
            "by": s.by, "when": s.when.isoformat() if s.when else None}


@endpoint()
def clients(r: Req) -> Response:
    """The accountant's Connections list: per client both connections and onboarding none/partial/complete (W5.1, W5.6).
    ---
    summary: Connections of all my organisations with their share state
    responses:
      "200": {description: "[{organisation_id, name, relation (ours|client), onboarding, connections: [...]}]"}
    """
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        rows = []
        for org, role in orgs.organisations_of(db, user):
            sts = invites.connection_statuses(db, org.id, r.ctx.now)
            rows.append((org, role, sts, shares.onboarding([s.display.key if s.display.key in ("active",) else
                                                            "not_shared" for s in sts]), orgs.relation(org, user)))
    if r.api:
        return r.done("", [{"organisation_id": o.id, "name": o.name, "relation": rel.value, "onboarding": ob.value,
                            "connections": [_status_json(s) for s in sts]} for o, _, sts, ob, rel in rows])  # type: ignore[arg-type]
    # The firm's own organisation is not a client: listed apart, without onboarding (issue 12).
    ours = [row for row in rows if row[4] is shares.OrgRelation.OURS]
    clients_ = [row for row in rows if row[4] is shares.OrgRelation.CLIENT]
    return r.page("clients.html", ours=ours, clients=clients_)


@endpoint()
def organisation(r: Req) -> Response:
    """One organisation: identifiers, both connections with share state, members.
    ---
    summary: An organisation's connections and their share state
    responses:
      "200": {description: "{id, name, identifiers, payer, relation (ours|client), onboarding, connections,
        activation: {status (draft|verifying|active|rejected), status_reason, may_exchange, why_not},
        receive: {receive, may_switch, identifiers: [{participant_id, state, words}]}}"}
      "403": {description: No membership}
    """
    return organisation_page(r, r.path_int("org_id"))


def organisation_page(r: Req, org_id: int, *, status: int = 200, **errors: object) -> Response:
    """The organisation page (or its JSON); `errors` re-render it after a form's InvalidInput, with the
    message beside that form and what was typed kept (issue 12: no dead-end error page)."""
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        org = orgs.require_member(db, user, org_id)
        role = orgs.membership(db, user.id, org_id).role  # type: ignore[union-attr]
        sts = invites.connection_statuses(db, org_id, r.ctx.now)
        mems = orgs.members(db, org_id)
        idents = [i.value for i in org.identifiers]
        rel = orgs.relation(org, user)
        act = activation_view(org)
        recv = receive_view(r.node, org)
        drafts_waiting = waiting_drafts(db, org_id)
    ob = shares.onboarding(["active" if s.display.key == "active" else "not_shared" for s in sts])
    if r.api:
        return r.done("", {"id": org.id, "name": org.name, "identifiers": idents, "payer": org.payer,
                           "relation": rel.value, "onboarding": ob.value,
                           "connections": [_status_json(s) for s in sts],
                           "activation": {k: act[k] for k in ("status", "status_reason", "may_exchange", "why_not")},
                           "receive": recv})
    return r.page("organisation.html", status=status, org=org, identifiers=idents, statuses=sts, onboarding=ob,
                  members=mems, role=role, relation=rel.value, offers_share=shares.offers_share_with_client(rel),
                  activation=act, receive=recv, drafts_waiting=drafts_waiting, **errors)


@endpoint()
def share(r: Req) -> Response:
    """Share one or both connections with an email address in one invitation (W5.2).
    ---
    summary: Invite a client to connections
    description: The answer is the same whether or not the address has an account (SEC-6).
      A connection already invited or active is left as it is (EC-3).
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email, connections]
            properties:
              email: {type: string}
              connections: {type: array, items: {type: string, enum: [peppol_purchase, peppol_sales]}}
    responses:
      "200": {description: "{invitation_id}"}
      "429": {description: Too many invitations this hour}
    """
    org_id = r.path_int("org_id")
    try:
        inv = invites.share_connections(r.svc, r.ctx, r.user.id, org_id, r.get("email"),  # type: ignore[union-attr]
                                        r.getlist("connections"))
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return organisation_page(r, org_id, status=400, share_error=exc.message,
                                 share_form={"email": r.get("email"), "connections": r.getlist("connections")})
    return r.done(f"/orgs/{org_id}", {"invitation_id": inv}, flash="Invitation sent.")


@endpoint()
def resend(r: Req) -> Response:
    """Resend: a new link replaces the old one (SEC-3).
    ---
    summary: Resend an invitation
    responses:
      "200": {description: "{invitation_id} of the new invitation"}
      "429": {description: Too many resends}
    """
    new = invites.resend(r.svc, r.ctx, r.user.id, r.path_int("invitation_id"))  # type: ignore[union-attr]
    return r.done(_back(r), {"invitation_id": new}, flash="Invitation sent again with a new link.")


@endpoint()
def withdraw(r: Req) -> Response:
    """Withdraw a pending invitation; its link dies at once (EC-1).
    ---
    summary: Withdraw an invitation
    responses:
      "200": {description: Withdrawn}
    """
    invites.withdraw(r.svc, r.ctx, r.user.id, r.path_int("invitation_id"))  # type: ignore[union-attr]
    return r.done(_back(r), flash="Invitation withdrawn.")


@endpoint()
def revoke_share(r: Req) -> Response:
    """Revoke a share, from either side; access ends on the next request (SEC-9).
    ---
    summary: Revoke a share
    description: An invited (not yet accepted) share is withdrawn for its connection only; the
      invitation's link keeps working for the other connection it carries, and dies with the last.
    responses:
      "200": {description: "{ok, was: active|invited}"}
      "403": {description: Neither owner nor grantee}
    """
    before = invites.revoke_share(r.svc, r.ctx, r.user.id, r.path_int("share_id"))  # type: ignore[union-attr]
    return r.done(_back(r), {"ok": True, "was": before},
                  flash="Invitation withdrawn for this connection." if before == "invited" else "Access revoked.")


def _back(r: Req) -> str:
    nxt = r.get("next", "/")
    return nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"


@endpoint()
def shared_connections(r: Req) -> Response:
    """Connections shared with me (active shares).
    ---
    summary: Connections shared with me
    responses:
      "200": {description: "[{share_id, connection_id, kind, organisation, rights}]"}
    """
    with r.svc.sessions() as db:
        rows = orgs.shared_with(db, db.get(User, r.user.id))  # type: ignore[union-attr]
    return r.done("", [{"share_id": s.id, "connection_id": c.id, "kind": c.kind, "organisation": o.name,
                        "rights": s.rights.split(",")} for s, c, o in rows])  # type: ignore[arg-type]


# -- invite links (SEC-1..7) ------------------------------------------------------------


@endpoint(login=False)
def invite_landing(r: Req) -> Response:
    """GET only renders (SEC-5); the token leaves the URL by the POST of 'Continue' (SEC-1)."""
    ratelimit.hit(r.svc, r.ctx, "token", r.ctx.ip or "-")
    token = r.request.path_params["token"]
    with r.svc.sessions() as db:
        v = invites.view(db, invites.lookup(db, token, r.ctx.now))
    return r.page("invite_landing.html", v=v, token=token)


@endpoint(login=False)
def invite_continue(r: Req) -> Response:
    ratelimit.hit(r.svc, r.ctx, "token", r.ctx.ip or "-")
    token = r.get("token")
    with r.svc.sessions() as db:
        invites.lookup(db, token, r.ctx.now)
    r.set_cookie(INVITE_COOKIE, token, INVITE_COOKIE_AGE)
    return r.done("/invite")


def _pending_view(r: Req) -> tuple[str, invites.InviteView]:
    token = r.request.cookies.get(INVITE_COOKIE, "")
    with r.svc.sessions() as db:
        return token, invites.view(db, invites.lookup(db, token, r.ctx.now))


CONSENT_SHARE = ("I confirm that I want access to the connections ticked above of {org} ({ids}), "
                 "shared by {firm}.")


@endpoint(login=False)
def invite_page(r: Req) -> Response:
    """After 'Continue': log in / sign up, or - signed in as the invited address - confirm (SEC-4, EC-4)."""
    token, v = _pending_view(r)
    if r.user is None:
        return r.page("invite.html", v=v, step="auth")
    try:
        shares.check_invited_email(invited=v.email, user_email=r.user.email,
                                   verified=r.user.email_verified_at is not None)
    except shares.InviteForOtherAddress:
        return r.page("invite.html", status=403, v=v, step="other_account")
    if v.kind == "user":
        # A colleague invitation is for a new account; it was consumed at sign-up.
        return r.page("message.html", title="You already have an account",
                      message=f"You are signed in as {r.user.email}. Colleague invitations create a new account.",
                      code="already_account")
    if v.kind == "auth_request":
        return r.done(f"/inbox/requests/{v.request_id}")
    consent = CONSENT_SHARE.format(org=v.organisation, ids=", ".join(v.identifiers), firm=v.firm)
    return r.page("invite.html", v=v, step="confirm", consent=consent)


@endpoint(login=False)
def invite_preview(r: Req) -> Response:
    """What an invitation link offers, for API clients; the token travels in the body, never the URL (SEC-1).
    ---
    summary: Preview an invitation
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [token], properties: {token: {type: string}}}
    responses:
      "200": {description: "{kind, email, firm, inviter, organisation, identifiers, connections, expires_at}"}
      "410": {description: Invalid, used, expired or withdrawn link (one answer for all; SEC-6)}
    """
    ratelimit.hit(r.svc, r.ctx, "token", r.ctx.ip or "-")
    with r.svc.sessions() as db:
        v = invites.view(db, invites.lookup(db, r.get("token"), r.ctx.now))
    return r.done("", {"kind": v.kind, "email": v.email, "firm": v.firm, "inviter": v.inviter,
                       "organisation": v.organisation, "identifiers": list(v.identifiers),
                       "connections": list(v.connections), "expires_at": v.expires_at.isoformat(),
                       "request_id": v.request_id})


@endpoint()
def invite_accept(r: Req) -> Response:
    """Accept a share invitation as the signed-in, verified invitee (SEC-4, SEC-5, SEC-8).
    ---
    summary: Accept an invitation
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [token, connections]
            properties:
              token: {type: string}
              connections: {type: array, items: {type: string}}
    responses:
      "200": {description: "{share_ids}"}
      "403": {description: The invitation is for another address}
      "410": {description: Invalid, used, expired or withdrawn link}
    """
    token = r.get("token") if r.api else r.request.cookies.get(INVITE_COOKIE, "")
    with r.svc.sessions() as db:
        v = invites.view(db, invites.lookup(db, token, r.ctx.now))
    consent = CONSENT_SHARE.format(org=v.organisation, ids=", ".join(v.identifiers), firm=v.firm)
    ids = invites.accept(r.svc, r.ctx, r.user.id, token, r.getlist("connections"), text_shown=consent)  # type: ignore[union-attr]
    r.set_cookie(INVITE_COOKIE, "", 0)
    return r.done("/", {"share_ids": ids}, flash="The connections are now in your account.")


@endpoint()
def invite_decline(r: Req) -> Response:
    """Decline a share invitation (POST only: a scanner's GET never declines; SEC-5).
    ---
    summary: Decline an invitation
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [token], properties: {token: {type: string}}}
    responses:
      "200": {description: Declined}
      "410": {description: Invalid link}
    """
    token = r.get("token") if r.api else r.request.cookies.get(INVITE_COOKIE, "")
    invites.decline(r.svc, r.ctx, r.user.id, token)  # type: ignore[union-attr]
    r.set_cookie(INVITE_COOKIE, "", 0)
    return r.done("/", flash="Invitation declined.")


@endpoint(login=False)
def invite_switch(r: Req) -> Response:
    """EC-4: sign out of the wrong account, keeping the pending invite, and log in again."""
    from accesspoint.sharing import accounts

    with r.svc.sessions.begin() as db:
        accounts.close_session(db, r.request.cookies.get(SESSION_COOKIE, ""))
    r.set_cookie(SESSION_COOKIE, "", 0)
    return r.done("/login?next=/invite")


# -- authorisation requests (W3) --------------------------------------------------------


def _request_json(req, inv=None, firm: str = "") -> dict:
    return {"id": req.id, "client_name": req.client_name, "client_email": req.client_email,
            "client_identifier": req.client_identifier, "software_package": req.software_package,
            "costs_paid_by": req.costs_paid_by, "status": req.status, "reason": req.reason, "firm": firm,
            "organisation_id": req.organisation_id, "created_at": req.created_at.isoformat(),
            "expires_at": inv.expires_at.isoformat() if inv is not None else None,
            "times_sent": inv.sent_count if inv is not None else None}


@endpoint()
def request_list(r: Req) -> Response:
    """The requester's authorisation requests, filterable by status (W3.5).
    ---
    summary: My environment's authorisation requests
    parameters:
      - {name: status, in: query, schema: {type: string}}
    responses:
      "200": {description: "[request]"}
    """
    status = r.request.query_params.get("status") or None
    with r.svc.sessions() as db:
        rows = requests.for_requester(db, db.get(User, r.user.id), status)  # type: ignore[union-attr]
    if r.api:
        return r.done("", [_request_json(q, i) for q, i in rows])  # type: ignore[arg-type]
    return r.page("requests.html", rows=rows, filter_status=status or "", now=r.ctx.now)


@endpoint()
def request_new(r: Req) -> Response:
    """New authorisation request (advanced or admin role).
    ---
    summary: Send an authorisation request
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [client_name, client_email, client_identifier, costs_paid_by]
            properties:
              client_name: {type: string}
              client_email: {type: string}
              client_identifier: {type: string, example: "0208:0123456749"}
              software_package: {type: string}
              costs_paid_by: {type: string, enum: [intermediary, client]}
    responses:
      "201": {description: "{id}"}
      "403": {description: Basic users cannot send requests}
    """
    if r.request.method == "GET":
        return r.page("request_new.html", form={})
    try:
        rid = requests.create(r.svc, r.ctx, r.user.id, client_name=r.get("client_name"),  # type: ignore[union-attr]
                              client_email=r.get("client_email"), client_identifier=r.get("client_identifier"),
                              software_package=r.get("software_package"),
                              costs_paid_by=r.get("costs_paid_by", "client"))
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return r.page("request_new.html", status=400, error=exc.message, form=dict(r.form))
    return r.done("/requests", {"id": rid}, flash="Authorisation request sent.", status=201)


def _request_action(fn, flash: str, doc: str):
    @endpoint()
    def handler(r: Req) -> Response:
        result = fn(r.svc, r.ctx, r.user.id, r.path_int("request_id"))  # type: ignore[union-attr]
        return r.done(_back(r) if r.get("next") else "/requests", {"id": result} if result else {"ok": True},
                      flash=flash)

    handler.__doc__ = doc
    handler.__name__ = f"request_{fn.__name__}"
    return handler


request_cancel = _request_action(requests.cancel, "Request cancelled.", """Cancel (withdraw) a pending request; its link dies.
    ---
    summary: Cancel an authorisation request
    responses:
      "200": {description: Cancelled}
      "409": {description: Not pending}
    """)
request_resend = _request_action(requests.resend, "Request sent again with a new link.", """Resend: replaces the request; the old one is cancelled as superseded.
    ---
    summary: Resend an authorisation request
    responses:
      "200": {description: "{id} of the new request"}
    """)
request_revoke = _request_action(requests.revoke, "Authorisation revoked.", """Revoke an accepted request (either party).
    ---
    summary: Revoke an authorisation
    responses:
      "200": {description: Revoked; memberships through it removed, payer back to the client}
    """)


@endpoint()
def inbox(r: Req) -> Response:
    """Inbox → Requests: requests addressed to my verified email (W3.2).
    ---
    summary: My incoming authorisation requests
    responses:
      "200": {description: "[request]"}
    """
    with r.svc.sessions() as db:
        rows = requests.inbox(db, db.get(User, r.user.id))  # type: ignore[union-attr]
    if r.api:
        return r.done("", [_request_json(q, firm=f) for q, f in rows])  # type: ignore[arg-type]
    return r.page("inbox.html", rows=rows)


def _acceptance(r: Req) -> tuple[object, str, requests.Acceptance]:
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        req, firm = requests.get_for_client(db, user, r.path_int("request_id"))
        shown = requests.acceptance(db, user, req, firm)
        db.expunge(req)
    return req, firm, shown


@endpoint()
def inbox_request_json(r: Req) -> Response:
    """One incoming request with the requester's details (W3.3) and what accepting it would do.
    ---
    summary: An incoming authorisation request
    description: "`accept_as` is create (a new organisation), take_over (the requester registered the
      organisation for you: you become its admin), existing (one of yours) or unavailable (someone else
      holds the identifier). `consent` is the text you agree to by accepting."
    responses:
      "200": {description: "request + {requester: {name, email}, accept_as, organisation_id, consent}"}
      "403": {description: Not addressed to my verified email}
    """
    req, firm, shown = _acceptance(r)
    body = _request_json(req, firm=firm) | {
        "requester": {"name": shown.requester_name, "email": shown.requester_email},
        "accept_as": shown.how.value, "consent": shown.consent}
    if shown.organisation_id is not None and req.status == "pending":
        body["organisation_id"] = shown.organisation_id
    return r.done("", body)


@endpoint()
def inbox_request(r: Req) -> Response:
    """One incoming request: the requester's details first, to be checked (W3.3)."""
    req, firm, shown = _acceptance(r)
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        my_orgs = [o for o, role in orgs.organisations_of(db, user)
                   if role == "org_admin" and o.id != shown.organisation_id]
    return r.page("request.html", req=req, firm=firm, orgs=my_orgs, shown=shown, consent=shown.consent,
                  accept_as=shown.how.value)


@endpoint()
def inbox_accept(r: Req) -> Response:
    """Accept an authorisation request: partnership, membership for the requester, payer (W3.4).
    ---
    summary: Accept an authorisation request
    description: "When the requester registered the organisation for you (`accept_as` take_over in the
      request), accepting makes you its owner and admin and needs `confirm_requester: true`: you checked
      who sent it. The consent text, your IP, user agent and the time are kept as the mandate (SEC-8)."
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              organisation_id: {type: integer, description: "one of my organisations; omitted = the one holding
                the identifier (taken over when registered for me), else a new one"}
              confirm_requester: {type: boolean, description: "I checked the requester's details (needed to take over)"}
    responses:
      "200": {description: "{organisation_id}"}
      "400": {description: "A take-over without confirm_requester"}
      "403": {description: "Someone else holds the identifier"}
      "410": {description: No longer open}
    """
    rid = r.path_int("request_id")
    raw = r.get("organisation_id")
    org_id = int(raw) if raw.isdigit() else None
    confirmed = r.form.get("confirm_requester") in (True, "true", "on", "1", "yes")
    req, firm, shown = _acceptance(r)
    try:
        org = requests.accept(r.svc, r.ctx, r.user.id, rid, organisation_id=org_id,  # type: ignore[union-attr]
                              text_shown=shown.consent, confirmed_requester=confirmed)
    except shares.InvalidInput as exc:
        if r.api:
            raise
        # Beside the form, with what was chosen kept (not a dead-end page).
        with r.svc.sessions() as db:
            user = db.get(User, r.user.id)  # type: ignore[union-attr]
            my_orgs = [o for o, role in orgs.organisations_of(db, user)
                       if role == "org_admin" and o.id != shown.organisation_id]
        return r.page("request.html", status=400, req=req, firm=firm, orgs=my_orgs, shown=shown,
                      consent=shown.consent, accept_as=shown.how.value, error=exc.message, chosen=raw)
    r.set_cookie(INVITE_COOKIE, "", 0)
    return r.done(f"/orgs/{org}", {"organisation_id": org}, flash=f"{firm} is now authorised.")


@endpoint()
def inbox_refuse(r: Req) -> Response:
    """Refuse an authorisation request; the requester is told.
    ---
    summary: Refuse an authorisation request
    responses:
      "200": {description: Refused}
    """
    requests.refuse(r.svc, r.ctx, r.user.id, r.path_int("request_id"))  # type: ignore[union-attr]
    r.set_cookie(INVITE_COOKIE, "", 0)
    return r.done("/inbox/requests", flash="Request refused.")


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/clients", clients, methods=["GET"], **html),
        Route("/orgs/{org_id:int}", organisation, methods=["GET"], **html),
        Route("/orgs/{org_id:int}/share", share, methods=["POST"], **html),
        Route("/invitations/{invitation_id:int}/resend", resend, methods=["POST"], **html),
        Route("/invitations/{invitation_id:int}/withdraw", withdraw, methods=["POST"], **html),
        Route("/shares/{share_id:int}/revoke", revoke_share, methods=["POST"], **html),
        Route("/i/{token}", invite_landing, methods=["GET"], **html),
        Route("/i", invite_continue, methods=["POST"], **html),
        Route("/invite", invite_page, methods=["GET"], **html),
        Route("/invite/accept", invite_accept, methods=["POST"], **html),
        Route("/invite/decline", invite_decline, methods=["POST"], **html),
        Route("/invite/switch", invite_switch, methods=["POST"], **html),
        Route("/requests", request_list, methods=["GET"], **html),
        Route("/requests/new", request_new, methods=["GET", "POST"], **html),
        Route("/requests/{request_id:int}/cancel", request_cancel, methods=["POST"], **html),
        Route("/requests/{request_id:int}/resend", request_resend, methods=["POST"], **html),
        Route("/requests/{request_id:int}/revoke", request_revoke, methods=["POST"], **html),
        Route("/inbox/requests", inbox, methods=["GET"], **html),
        Route("/inbox/requests/{request_id:int}", inbox_request, methods=["GET"], **html),
        Route("/inbox/requests/{request_id:int}/accept", inbox_accept, methods=["POST"], **html),
        Route("/inbox/requests/{request_id:int}/refuse", inbox_refuse, methods=["POST"], **html),
        # JSON API
        Route("/api/organisations", clients, methods=["GET"]),
        Route("/api/organisations/{org_id:int}", organisation, methods=["GET"]),
        Route("/api/organisations/{org_id:int}/shares", share, methods=["POST"]),
        Route("/api/invitations/{invitation_id:int}/resend", resend, methods=["POST"]),
        Route("/api/invitations/{invitation_id:int}/withdraw", withdraw, methods=["POST"]),
        Route("/api/shares/{share_id:int}/revoke", revoke_share, methods=["POST"]),
        Route("/api/shared-connections", shared_connections, methods=["GET"]),
        Route("/api/invitations/preview", invite_preview, methods=["POST"]),
        Route("/api/invitations/accept", invite_accept, methods=["POST"]),
        Route("/api/invitations/decline", invite_decline, methods=["POST"]),
        Route("/api/requests", request_list, methods=["GET"]),
        Route("/api/requests/new", request_new, methods=["POST"]),
        Route("/api/requests/{request_id:int}/cancel", request_cancel, methods=["POST"]),
        Route("/api/requests/{request_id:int}/resend", request_resend, methods=["POST"]),
        Route("/api/requests/{request_id:int}/revoke", request_revoke, methods=["POST"]),
        Route("/api/inbox/requests", inbox, methods=["GET"]),
        Route("/api/inbox/requests/{request_id:int}", inbox_request_json, methods=["GET"]),
        Route("/api/inbox/requests/{request_id:int}/accept", inbox_accept, methods=["POST"]),
        Route("/api/inbox/requests/{request_id:int}/refuse", inbox_refuse, methods=["POST"]),
    ]
