"""Pages and API of who pays (W4): the *Paid by* view and an organisation's own transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.sharing import ledger, orgs

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]


def _month(r: Req) -> str:
    return r.request.query_params.get("month", "").strip()


@endpoint()
def paid_by(r: Req) -> Response:
    """Paid by: per month and per organisation, the documents sent and received that this environment pays for (W4).
    ---
    summary: What my environment pays for, per month and organisation
    description: "Counted from the ledger: each document sent or received through the node is charged to
      the payer its organisation had at that moment (an accepted authorisation request with
      costs_paid_by=intermediary makes the intermediary pay; revoking it moves later documents back
      to the client). Advanced users and admins only. No prices: counts."
    parameters:
      - {name: month, in: query, required: false, schema: {type: string, pattern: "^\\\\d{4}-\\\\d{2}$"},
         description: "YYYY-MM; omitted = every month"}
    responses:
      "200": {description: "[{month, sent, received, organisations: [{organisation_id, name, relation (ours|client), sent, received}]}]"}
      "400": {description: Not a YYYY-MM month}
      "403": {description: Basic users do not see billing}
    """
    month = _month(r)
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        months = ledger.paid_by(db, user, month=month)
    if r.api:
        return r.done("", [m.as_json() for m in months])
    return r.page("paid_by.html", months=months, month=month)


@endpoint()
def transactions(r: Req) -> Response:
    """An organisation's own transactions: each document sent or received, and who paid for it (W4).
    ---
    summary: An organisation's transactions and who paid for each
    parameters:
      - {name: month, in: query, required: false, schema: {type: string}, description: "YYYY-MM; omitted = all"}
    responses:
      "200": {description: "{organisation_id, payer (own|intermediary), paid_by, months: [{month, sent, received, paid_by}], transactions: [{at, direction (sent|received), channel, document_id, number, payer, paid_by}]}"}
      "403": {description: No membership of the organisation}
    """
    org_id = r.path_int("org_id")
    month = _month(r)
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        rows = ledger.transactions(db, user, org_id, month=month)
        org = orgs.require_member(db, user, org_id)
        payer_name = ledger.payer_name(db, org)
        db.expunge(org)
    months = ledger.month_counts(rows)
    if r.api:
        return r.done("", {
            "organisation_id": org.id, "payer": "own" if org.payer == shares.OWN_PAYER else "intermediary",
            "paid_by": payer_name,
            "months": [{"month": m, "sent": s, "received": n, "paid_by": list(p)} for m, s, n, p in months],
            "transactions": [t.as_json() for t in rows]})
    return r.page("transactions.html", org=org, rows=rows, months=months, month=month, payer_name=payer_name,
                  own_payer=org.payer == shares.OWN_PAYER)


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/paid-by", paid_by, methods=["GET"], **html),
        Route("/orgs/{org_id:int}/transactions", transactions, methods=["GET"], **html),
        Route("/api/paid-by", paid_by, methods=["GET"]),
        Route("/api/organisations/{org_id:int}/transactions", transactions, methods=["GET"]),
    ]
