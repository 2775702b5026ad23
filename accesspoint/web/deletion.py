"""Pages and API of organisation deletion (EC-9, product.md §5): export, request, approve inside the platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.from_thread
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import shares
import ubl
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Organisation
from accesspoint.sharing import deletion

from ._session import Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]


def _discovery(node: Any) -> Any:
    try:
        return node.discovery
    except Exception:  # noqa: BLE001 - a node without SMP settings simply has nothing to deregister
        return None


def _smp_store(node: Any) -> Any:
    disc = _discovery(node)
    return disc.smp_store if disc is not None else None


def _sml_deregister(node: Any) -> deletion.Deregister | None:
    """The node's SML registrar as a plain callable (the workflow runs in a worker thread)."""
    disc = _discovery(node)
    client = disc.sml_client if disc is not None else None
    if client is None:
        return None
    from accesspoint.smp_store import SmlRegistration

    registration = SmlRegistration(client)

    def run(pid: ubl.ParticipantId) -> None:
        anyio.from_thread.run(registration.unregister, pid)

    return run


@endpoint()
def export(r: Req) -> Response:
    """Download every document of the organisation as UBL in one zip (offered before deletion).
    ---
    summary: Export an organisation's documents
    responses:
      "200": {description: "application/zip: sent/*.xml and received/*.xml"}
      "403": {description: Neither an org admin nor an admin of its environment}
    """
    with r.svc.sessions() as db:
        name, data = deletion.export_zip(db, db.get(User, r.user.id), r.path_int("org_id"))  # type: ignore[arg-type,union-attr]
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@endpoint()
def delete_page(r: Req) -> Response:
    """The deletion page: the export first, then the request, then the approval (admins of the environment)."""
    org_id = r.path_int("org_id")
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        org = db.get(Organisation, org_id)
        if org is None or org.status == "deleted" or user is None or user.environment_id != org.environment_id:
            raise shares.NotAllowed("You have no access to this organisation.")
        pending = [(d, o) for d, o in deletion.pending_for(db, user) if o.id == org_id]
        admins = db.query(User).filter(User.environment_id == user.environment_id,
                                       User.environment_role == "admin").count()
    if user.environment_role != "admin":
        raise shares.NotAllowed("Only the environment's admins can delete its organisations.")
    return r.page("delete_org.html", org=org, pending=pending, sole_admin=admins <= 1)


@endpoint()
def request_deletion(r: Req) -> Response:
    """Ask to delete an organisation; another admin (or you, with your password, as the only admin) approves.
    ---
    summary: Request an organisation's deletion
    description: Deleting permanently deletes all its documents (product.md §5); download the export first.
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [export_acknowledged]
            properties:
              export_acknowledged: {type: boolean, description: "I have the export, or do not need it"}
    responses:
      "200": {description: "{deletion_id}"}
      "400": {description: The export was not acknowledged}
      "403": {description: Not an admin of the organisation's environment}
    """
    org_id = r.path_int("org_id")
    ack = r.form.get("export_acknowledged") in (True, "true", "on", "1", "yes")
    did = deletion.request_deletion(r.svc, r.ctx, r.user.id, org_id, export_acknowledged=ack)  # type: ignore[union-attr]
    return r.done(f"/orgs/{org_id}/delete", {"deletion_id": did},
                  flash="Deletion requested; it happens when an admin approves it.")


@endpoint()
def approve(r: Req) -> Response:
    """Approve a deletion: everything open is revoked, parties notified, SMP/SML deregistered, documents deleted.
    ---
    summary: Approve an organisation's deletion
    requestBody:
      content:
        application/json:
          schema:
            type: object
            properties:
              password: {type: string, description: "required when the requester approves as the only admin"}
    responses:
      "200": {description: "What was removed: {documents_deleted, shares_revoked, requests_ended, invitations_revoked, memberships_removed, keys_revoked, notified}"}
      "400": {description: Password missing or wrong}
      "403": {description: Not an admin here, or the requester while another admin exists}
    """
    counts = deletion.approve(r.svc, r.ctx, r.user.id, r.path_int("deletion_id"),  # type: ignore[union-attr]
                              password=r.get("password"), smp_store=_smp_store(r.node),
                              deregister=_sml_deregister(r.node))
    return r.done("/", counts, flash=f"Organisation deleted ({counts['documents_deleted']} documents).")


@endpoint()
def cancel(r: Req) -> Response:
    """Cancel a deletion request.
    ---
    summary: Cancel an organisation's deletion
    responses:
      "200": {description: Cancelled}
    """
    deletion.cancel(r.svc, r.ctx, r.user.id, r.path_int("deletion_id"))  # type: ignore[union-attr]
    return r.done("/", flash="Deletion cancelled.")


@endpoint()
def pending(r: Req) -> Response:
    """Deletions waiting for approval in my environment (admins).
    ---
    summary: Pending organisation deletions
    responses:
      "200": {description: "[{deletion_id, organisation_id, name, requested_by, requested_at}]"}
    """
    with r.svc.sessions() as db:
        rows = deletion.pending_for(db, db.get(User, r.user.id))  # type: ignore[arg-type,union-attr]
        data = [{"deletion_id": d.id, "organisation_id": o.id, "name": o.name, "requested_by": d.requested_by,
                 "requested_at": d.requested_at.isoformat()} for d, o in rows]
    return JSONResponse(data)  # a list, even when empty


def routes(node: Node) -> list[BaseRoute]:
    html = dict(include_in_schema=False)
    return [
        Route("/orgs/{org_id:int}/export", export, methods=["GET"], **html),
        Route("/orgs/{org_id:int}/delete", delete_page, methods=["GET"], **html),
        Route("/orgs/{org_id:int}/delete", request_deletion, methods=["POST"], **html),
        Route("/deletions/{deletion_id:int}/approve", approve, methods=["POST"], **html),
        Route("/deletions/{deletion_id:int}/cancel", cancel, methods=["POST"], **html),
        Route("/api/organisations/{org_id:int}/export", export, methods=["GET"]),
        Route("/api/organisations/{org_id:int}/deletion", request_deletion, methods=["POST"]),
        Route("/api/deletions", pending, methods=["GET"]),
        Route("/api/deletions/{deletion_id:int}/approve", approve, methods=["POST"]),
        Route("/api/deletions/{deletion_id:int}/cancel", cancel, methods=["POST"]),
    ]
