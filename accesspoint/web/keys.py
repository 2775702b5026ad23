"""Pages and API of connection keys (E18): issue (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from accesspoint.db.tables.accounts import User
from accesspoint.sharing import keys, orgs

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]


def _page(r: Req, org_id: int, issued: keys.IssuedKey | None = None) -> Response:
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        org = orgs.require_member(db, user, org_id, admin=True)
        rows = keys.list_for(db, user, org_id)
    return r.page("keys.html", org=org, keys=rows, issued=issued)


@endpoint()
def org_keys(r: Req) -> Response:
    """The organisation's connection keys, without their secrets (org admins).
    ---
    summary: List an organisation's connection keys
    responses:
      "200": {description: "[{id, name, prefix, organisation_id, status, origin, created_at, last_used_at}]"}
      "403": {description: Not an org admin}
    """
    org_id = r.path_int("org_id")
    if r.api:
        with r.svc.sessions() as db:
            rows = keys.list_for(db, db.get(User, r.user.id), org_id)  # type: ignore[arg-type,union-attr]
        return JSONResponse([k.as_json() for k in rows])  # a list, even when empty
    return _page(r, org_id)


@endpoint()
def org_key_issue(r: Req) -> Response:
    """Issue a connection key for my organisation (org admins); the secret is in this answer only (E18).
    ---
    summary: Issue a connection key
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [name], properties: {name: {type: string}}}
    responses:
      "201": {description: "{id, name, organisation_id, key}: use as 'Authorization: Bearer <key>' on /api/v1"}
      "403": {description: Not an org admin}
    """
    org_id = r.path_int("org_id")
    issued = keys.issue(r.svc, r.ctx, r.user.id, org_id, r.get("name"))  # type: ignore[union-attr]
    if r.api:
        return r.done("", _issued_json(issued), status=201)
    return _page(r, org_id, issued)


@endpoint()
def request_key_issue(r: Req) -> Response:
    """Issue a connection key for the client organisation of an accepted authorisation request (W3.4, E18).
    ---
    summary: Issue a connection key through an authorisation request
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [name], properties: {name: {type: string}}}
    responses:
      "201": {description: "{id, name, organisation_id, key}; the key stops working when the request is revoked"}
      "403": {description: Not the requester's environment, or not advanced/admin}
      "409": {description: The request is not accepted}
    """
    issued = keys.issue_for_request(r.svc, r.ctx, r.user.id, r.path_int("request_id"), r.get("name"))  # type: ignore[union-attr]
    if r.api:
        return r.done("", _issued_json(issued), status=201)
    return r.page("key_issued.html", issued=issued)


@endpoint()
def my_request_keys(r: Req) -> Response:
    """Keys issued through my environment's authorisation requests.
    ---
    summary: List connection keys of my authorisation requests
    responses:
      "200": {description: "[{id, name, prefix, organisation_id, status, origin, created_at, last_used_at}]"}
    """
    with r.svc.sessions() as db:
        rows = keys.list_for_requests(db, db.get(User, r.user.id))  # type: ignore[arg-type,union-attr]
    return JSONResponse([k.as_json() for k in rows])  # a list, even when empty


@endpoint()
def key_revoke(r: Req) -> Response:
    """Revoke a connection key; it fails on the next request (SEC-9).
    ---
    summary: Revoke a connection key
    responses:
      "200": {description: Revoked}
      "403": {description: Not an org admin of its organisation, nor its requester}
    """
    key_id = r.path_int("key_id")
    keys.revoke(r.svc, r.ctx, r.user.id, key_id)  # type: ignore[union-attr]
    back = r.get("next") if r.get("next").startswith("/orgs/") else "/"
    return r.done(back, flash="Key revoked.")


def _issued_json(k: keys.IssuedKey) -> dict:
    return {"id": k.id, "name": k.name, "organisation_id": k.organisation_id, "key": k.secret}


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/orgs/{org_id:int}/keys", org_keys, methods=["GET"], **html),
        Route("/orgs/{org_id:int}/keys", org_key_issue, methods=["POST"], **html),
        Route("/requests/{request_id:int}/keys", request_key_issue, methods=["POST"], **html),
        Route("/keys/{key_id:int}/revoke", key_revoke, methods=["POST"], **html),
        Route("/api/organisations/{org_id:int}/keys", org_keys, methods=["GET"]),
        Route("/api/organisations/{org_id:int}/keys", org_key_issue, methods=["POST"]),
        Route("/api/requests/{request_id:int}/keys", request_key_issue, methods=["POST"]),
        Route("/api/request-keys", my_request_keys, methods=["GET"]),
        Route("/api/keys/{key_id:int}/revoke", key_revoke, methods=["POST"]),
    ]
