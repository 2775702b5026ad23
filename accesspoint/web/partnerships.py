"""Pages and API of partnerships without an authorisation request (W6), and who is a relationship manager."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.sharing import partnerships, team

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]


def _page(r: Req, *, status: int = 200, **extra: object) -> Response:
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        rows = partnerships.list_for(db, user)
        qualified = shares.may_form_partnerships(
            shares.Party(user.environment_id, user.environment_role, user.relationship_manager))
    if r.api:
        return r.done("", [p.as_json() for p in rows])
    return r.page("partners.html", status=status, rows=rows, qualified=qualified, **extra)


@endpoint()
def partners(r: Req) -> Response:
    """My environment's partnerships: asked, asked of us, active, rejected and ended (W6).
    ---
    summary: Partnerships of my environment
    description: "A partnership gives no access to any organisation by itself (SEC-12). `direction` is
      outgoing (we asked), incoming (we were asked) or empty (made by an authorisation request);
      `may_decide` / `may_end` say what the caller may do now."
    responses:
      "200": {description: "[{id, status (pending|active|rejected|ended), origin (manual|authorisation_request), partner, direction, requested_by, requested_of, created_at, decided_at, ended_at, may_decide, may_end}]"}
    """
    return _page(r)


@endpoint()
def partner_new(r: Req) -> Response:
    """Ask another environment's relationship manager for a partnership; they are emailed (W6).
    ---
    summary: Ask for a partnership
    description: "Both sides need the advanced or admin role and the relationship-manager flag.
      An address that is not a relationship manager of another environment gets one answer,
      whether or not it has an account."
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [email], properties: {email: {type: string,
            description: "the other environment's relationship manager"}}}
    responses:
      "201": {description: "{id} of the pending partnership"}
      "400": {description: "Not a relationship manager of another environment, or already partners"}
      "403": {description: "I am not a relationship manager with the advanced or admin role"}
    """
    try:
        pid = partnerships.request(r.svc, r.ctx, r.user.id, r.get("email"))  # type: ignore[union-attr]
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return _page(r, status=400, error=exc.message, typed=r.get("email"))
    return r.done("/partners", {"id": pid}, flash="Partnership request sent.", status=201)


def _action(fn, flash: str, doc: str):
    @endpoint()
    def handler(r: Req) -> Response:
        fn(r.svc, r.ctx, r.user.id, r.path_int("partnership_id"))  # type: ignore[union-attr]
        return r.done("/partners", flash=flash)

    handler.__doc__ = doc
    handler.__name__ = f"partner_{fn.__name__}"
    return handler


partner_accept = _action(partnerships.accept, "Partnership accepted. It gives no access to any organisation by itself.",
                         """Accept a partnership request made to my environment: pending -> active.
    ---
    summary: Accept a partnership request
    responses:
      "200": {description: Active}
      "403": {description: "Not a relationship manager of the environment that was asked"}
      "409": {description: No longer pending}
    """)
partner_reject = _action(partnerships.reject, "Partnership request rejected.",
                         """Reject a partnership request made to my environment: pending -> rejected.
    ---
    summary: Reject a partnership request
    responses:
      "200": {description: Rejected}
      "403": {description: "Not a relationship manager of the environment that was asked"}
      "409": {description: No longer pending}
    """)
partner_end = _action(partnerships.end, "Partnership ended.",
                      """End an active partnership (either side): active -> ended; the other side is emailed.
    ---
    summary: End a partnership
    responses:
      "200": {description: Ended}
      "400": {description: "Accepted authorisation requests ride on it: revoke them first"}
      "409": {description: Not active}
    """)


@endpoint()
def relationship_manager(r: Req) -> Response:
    """Name or un-name a relationship manager of my environment (admins; W6, E7).
    ---
    summary: Set a user's relationship-manager flag
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [relationship_manager], properties: {relationship_manager: {type: boolean}}}
    responses:
      "200": {description: Changed}
      "403": {description: Not an environment admin}
    """
    on = r.form.get("relationship_manager") in (True, "true", "on", "1", "yes")
    team.set_relationship_manager(r.svc, r.ctx, r.user.id, r.path_int("user_id"), on)  # type: ignore[union-attr]
    return r.done("/team", flash="Relationship manager named." if on else "No longer a relationship manager.")


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/partners", partners, methods=["GET"], **html),
        Route("/partners/new", partner_new, methods=["POST"], **html),
        Route("/partners/{partnership_id:int}/accept", partner_accept, methods=["POST"], **html),
        Route("/partners/{partnership_id:int}/reject", partner_reject, methods=["POST"], **html),
        Route("/partners/{partnership_id:int}/end", partner_end, methods=["POST"], **html),
        Route("/team/users/{user_id:int}/relationship-manager", relationship_manager, methods=["POST"], **html),
        Route("/api/partners", partners, methods=["GET"]),
        Route("/api/partners/new", partner_new, methods=["POST"]),
        Route("/api/partners/{partnership_id:int}/accept", partner_accept, methods=["POST"]),
        Route("/api/partners/{partnership_id:int}/reject", partner_reject, methods=["POST"]),
        Route("/api/partners/{partnership_id:int}/end", partner_end, methods=["POST"]),
        Route("/api/team/users/{user_id:int}/relationship-manager", relationship_manager, methods=["POST"]),
    ]
