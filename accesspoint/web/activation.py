"""Pages and API of organisation activation (product.md W1.3): the org admin asks, the node's operator
reviews (`[web] operators`), and the organisation page says in words why it cannot send or receive yet.

The rules are `shares.activation`'s and the workflow `accesspoint.sharing.activation`'s; this module
only maps forms and JSON onto them. `peppol-node org approve|reject` is the same decision from the shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import activation

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes", "activation_view"]

#: The state as the organisation's people read it.
STATE_WORDS = {
    "draft": "Not activated",
    "verifying": "Waiting for verification",
    "active": "Active",
    "rejected": "Activation rejected",
    "deleted": "Deleted",
}


def activation_view(org: Organisation) -> dict[str, Any]:
    """What the organisation page (and its JSON) shows about activation."""
    return {"status": org.status, "status_words": STATE_WORDS.get(org.status, org.status),
            "status_reason": org.status_reason,
            "may_exchange": shares.activation.may_exchange(org.status),
            "why_not": shares.activation.why_not_active(org.status, org.status_reason),
            "may_ask": org.status in ("draft", "rejected")}


@endpoint()
def ask(r: Req) -> Response:
    """The org admin asks for activation: draft or rejected -> verifying, then the verifiers decide.
    ---
    summary: Ask for an organisation's activation
    description: "The node's verifiers decide: a recorded mandate (an accepted authorisation request)
      activates at once, as does an organisation added by one of the node's operators; otherwise it
      waits for the operator's review. Every transition is in the organisation's audit log."
    responses:
      "200": {description: "{status}: verifying, or active when a verifier decided at once"}
      "403": {description: Not an org admin of this organisation}
      "409": {description: Already active, or already waiting}
    """
    org_id = r.path_int("org_id")
    state = activation.submit(r.svc, r.ctx, r.user.id, org_id)  # type: ignore[union-attr]
    return r.done(f"/orgs/{org_id}", {"status": state},
                  flash="Activated." if state == "active" else
                  "Activation asked: the node's operator verifies that you may act for this organisation.")


def _require_operator(r: Req) -> None:
    with r.svc.sessions() as db:
        if not activation.is_operator(r.svc, db.get(User, r.user.id)):  # type: ignore[union-attr]
            raise shares.NotAllowed("Only the node's operators review activations.")


def _review_json(v: activation.Review) -> dict[str, Any]:
    return {"organisation_id": v.organisation_id, "name": v.name, "identifiers": list(v.identifiers),
            "environment": v.environment, "status": v.state, "status_reason": v.reason}


def _reviews_page(r: Req, *, status: int = 200, error: str = "", error_for: int | None = None,
                  reason: str = "") -> Response:
    with r.svc.sessions() as db:
        waiting = activation.awaiting_review(db)
        others = [v for v in activation.awaiting_review(db, include_drafts=True) if v.state != "verifying"]
    if r.api:
        return r.done("", [_review_json(v) for v in waiting])  # type: ignore[arg-type]
    return r.page("activations.html", status=status, waiting=waiting, others=others, error=error,
                  error_for=error_for, reason=reason)


@endpoint()
def reviews(r: Req) -> Response:
    """The operator's review list: organisations waiting for verification, oldest first.
    ---
    summary: Organisations waiting for activation (operators only)
    responses:
      "200": {description: "[{organisation_id, name, identifiers, environment, status, status_reason}]"}
      "403": {description: "Not one of the node's operators ([web] operators)"}
    """
    _require_operator(r)
    return _reviews_page(r)


def _decide(approve: bool):
    @endpoint()
    def handler(r: Req) -> Response:
        _require_operator(r)
        org_id = r.path_int("org_id")
        with r.svc.sessions() as db:
            operator = db.get(User, r.user.id)  # type: ignore[union-attr]
            db.expunge(operator)
        try:
            state = activation.operator_decide(r.svc, r.ctx, org_id, approve=approve, reason=r.get("reason"),
                                               operator=operator)
        except shares.InvalidInput as exc:
            if r.api:
                raise
            return _reviews_page(r, status=400, error=exc.message, error_for=org_id, reason=r.get("reason"))
        return r.done("/operator/activations", {"status": state},
                      flash=f"Organisation {org_id} is {'active' if state == 'active' else state}.")

    return handler


approve = _decide(True)
approve.__doc__ = """The operator approves: the organisation becomes active (it may send and receive).
    ---
    summary: Approve an organisation's activation (operators only)
    requestBody:
      content:
        application/json:
          schema: {type: object, properties: {reason: {type: string, description: optional note}}}
    responses:
      "200": {description: "{status: active}"}
      "403": {description: Not one of the node's operators}
      "409": {description: Already active}
    """
reject = _decide(False)
reject.__doc__ = """The operator rejects, saying why; the organisation's admins read the reason and may ask again.
    ---
    summary: Reject an organisation's activation (operators only)
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [reason], properties: {reason: {type: string, maxLength: 500}}}
    responses:
      "200": {description: "{status: rejected}"}
      "400": {description: No reason given}
      "403": {description: Not one of the node's operators}
    """


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/orgs/{org_id:int}/activation", ask, methods=["POST"], **html),
        Route("/operator/activations", reviews, methods=["GET"], **html),
        Route("/operator/organisations/{org_id:int}/approve", approve, methods=["POST"], **html),
        Route("/operator/organisations/{org_id:int}/reject", reject, methods=["POST"], **html),
        Route("/api/organisations/{org_id:int}/activation", ask, methods=["POST"]),
        Route("/api/operator/activations", reviews, methods=["GET"]),
        Route("/api/operator/organisations/{org_id:int}/approve", approve, methods=["POST"]),
        Route("/api/operator/organisations/{org_id:int}/reject", reject, methods=["POST"]),
    ]
