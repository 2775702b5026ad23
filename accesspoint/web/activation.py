"""Pages and API of W1.3-W1.4: organisation activation and the receive switch.

Activation: the org admin asks, the node's operator reviews (`[web] operators`), and the
organisation page says in words why it cannot send or receive yet. The rules are
`shares.activation`'s and the workflow `accesspoint.sharing.activation`'s; this module only maps
forms and JSON onto them. `peppol-node org approve|reject` is the same decision from the shell.

Receive switch: an active organisation's admin publishes or withdraws its identifiers in our SMP
and the SML through `accesspoint.network.switch_receive`, the code `org add --receive` and
`org update --no-receive` run; an identifier that already receives at another access point is
registered as a sender only, and the page names that access point (EC-7).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.from_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint import network
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import activation, audit, orgs

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes", "activation_view", "receive_view"]

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


def _registration_words(r: network.Registration | None) -> str:
    if r is None:
        return "Not receiving here"
    if r.sml_state == network.SENDER_ONLY:
        return r.detail
    if r.sml_state == network.REGISTERED:
        return ("Receiving here: published in our SMP and registered at the SML" if r.receive else
                "Not receiving here")
    if r.sml_state == network.WITHDRAWN:
        return "Not receiving here: removed from our SMP and the SML" + (f" ({r.detail})" if r.detail else "")
    if r.sml_state == network.REFUSED:
        return f"Not discoverable through us: {r.detail}"
    return ("Published in our SMP; the SML registration is pending" if r.receive else
            "Being removed from the SML") + (f" ({r.detail})" if r.detail else "")


def _pids(org: Organisation) -> list[ubl.ParticipantId]:
    return [ubl.ParticipantId(i.scheme, i.value) for i in org.identifiers]


def receive_view(node: Any, org: Organisation) -> dict[str, Any]:
    """The receive switch: the organisation's wish and where each identifier stands at SMP and SML."""
    regs = {r.participant_id: r for r in network.registrations(node, _pids(org))}
    rows = []
    for pid in _pids(org):
        reg = regs.get(network.smp_key(pid))
        rows.append({"participant_id": pid.value, "state": reg.sml_state if reg else "not_published",
                     "words": _registration_words(reg)})
    return {"receive": org.peppol_receive, "identifiers": rows,
            "may_switch": shares.activation.may_exchange(org.status)}


def _elsewhere_json(o: network.OtherAccessPoint) -> dict[str, str]:
    return {"participant_id": o.participant_id, "smp_url": o.smp_url, "endpoint_url": o.endpoint_url,
            "certificate_subject": o.certificate_subject, "message": o.describe()}


@endpoint()
def switch_receive(r: Req) -> Response:
    """The org admin switches receiving on this node on or off (W1.4, EC-7).
    ---
    summary: Receive on this node, or stop
    description: "On: each identifier is first looked up in the SML; one that already receives at
      another access point is registered as a sender only (`elsewhere` names that access point: its
      endpoint URL and certificate subject from its SMP). The others are published in our SMP and
      registered at the SML. Off: removed from our SMP and deregistered at the SML. The same code as
      `peppol-node org add --receive` / `org update --no-receive`. Only an active organisation receives."
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [receive], properties: {receive: {type: boolean}}}
    responses:
      "200": {description: "{receive, identifiers: [{participant_id, state, words}], elsewhere: [{participant_id,
        smp_url, endpoint_url, certificate_subject, message}]}"}
      "400": {description: The organisation is not active (the message says why)}
      "403": {description: Not an org admin of this organisation}
    """
    org_id = r.path_int("org_id")
    raw = r.form.get("receive")
    receive = raw is True or raw in ("on", "true", "1", "yes")
    with r.svc.sessions() as db:
        org = orgs.require_member(db, db.get(User, r.user.id), org_id, admin=True)  # type: ignore[union-attr]
        pids, before = _pids(org), org.peppol_receive
    try:
        result = anyio.from_thread.run(network.switch_receive, r.node, pids, receive)
    except network.NotActive as exc:
        if r.api:
            raise shares.InvalidInput(str(exc)) from None
        from .sharing import organisation_page

        return organisation_page(r, org_id, status=400, receive_error=str(exc))
    with r.svc.sessions.begin() as db:
        org = db.get(Organisation, org_id)
        assert org is not None
        audit.record(db, r.ctx, "organisation.receive_changed", actor_id=r.user.id,  # type: ignore[union-attr]
                     object_type="organisation", object_id=org_id, organisation_id=org_id,
                     before="on" if before else "off", after="on" if org.peppol_receive else "off",
                     detail={"asked": "on" if receive else "off",
                             "registrations": {g.participant_id: g.sml_state for g in result.registrations},
                             "elsewhere": [_elsewhere_json(o) for o in result.elsewhere]})
        view = receive_view(r.node, org)
    if result.elsewhere:
        flash = " ".join(o.describe() for o in result.elsewhere)
    else:
        flash = "Receiving on this node is on." if receive else "Receiving on this node is off."
    return r.done(f"/orgs/{org_id}#receive", view | {"elsewhere": [_elsewhere_json(o) for o in result.elsewhere]},
                  flash=flash)


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


def _decide(approve: bool) -> Callable[[Request], Any]:
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
        Route("/orgs/{org_id:int}/receive", switch_receive, methods=["POST"], **html),
        Route("/api/organisations/{org_id:int}/activation", ask, methods=["POST"]),
        Route("/api/organisations/{org_id:int}/receive", switch_receive, methods=["POST"]),
        Route("/api/operator/activations", reviews, methods=["GET"]),
        Route("/api/operator/organisations/{org_id:int}/approve", approve, methods=["POST"]),
        Route("/api/operator/organisations/{org_id:int}/reject", reject, methods=["POST"]),
    ]
