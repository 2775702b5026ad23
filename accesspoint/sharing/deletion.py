"""EC-9 and product.md §5 Retention: deleting an organisation.

Deletion needs an export prompt, then an environment admin's approval *inside the
platform* (a second admin; or the requester re-entering their password when they
are the environment's only admin). On approval, in one transaction: every open
share, invitation and authorisation request of the organisation is revoked,
memberships removed, its keys revoked, its documents permanently deleted, its
identifiers released, and its audit events pseudonymised. After the commit its
participants leave our SMP (and the SML through the `deregister` callable the
node passes in) and the parties are emailed.

The organisation row stays as a tombstone (status "deleted", no name, no
identifiers) so the audit log and old requests keep a stable reference.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
import ubl
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.documents import Document, InboundMessage, OutboxEntry, OutboxEvent, document_content
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import (
    ApiKey,
    AuditEvent,
    AuthorisationRequest,
    Connection,
    Invitation,
    OrganisationDeletion,
    Partnership,
    Share,
)

from . import audit, keys
from .context import Context, Services

__all__ = ["export_zip", "request_deletion", "approve", "cancel", "pending_for", "Deregister", "OrganisationDeletion"]

#: Takes one participant off the SML (the node's registrar); failures are recorded, not fatal.
Deregister = Callable[[ubl.ParticipantId], None]

_EMAIL = re.compile(r"[^@\s\"]+@[^@\s\"]+")


def _env_admin(db: Session, user_id: int, organisation_id: int) -> tuple[User, Organisation]:
    user = db.get(User, user_id)
    org = db.get(Organisation, organisation_id)
    if user is None or org is None or org.status == "deleted" or user.environment_id != org.environment_id \
            or user.environment_role != "admin":
        raise shares.NotAllowed("Only the environment's admins can delete its organisations.")
    return user, org


def export_zip(db: Session, user: User, organisation_id: int) -> tuple[str, bytes]:
    """The export offered before deletion: every document's UBL in a zip, by direction; (file name, bytes)."""
    org = db.get(Organisation, organisation_id)
    admin_here = org is not None and user.environment_role == "admin" and user.environment_id == org.environment_id
    m = db.scalar(sa.select(Membership).where(Membership.user_id == user.id, Membership.organisation_id == organisation_id,
                                              Membership.status == "active", Membership.role == "org_admin"))
    if org is None or org.status == "deleted" or not (admin_here or m is not None):
        raise shares.NotAllowed("You have no access to this organisation.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        rows = db.execute(sa.select(Document.id, Document.public_id, Document.direction, Document.number,
                                    Document.content)
                          .where(Document.organisation_id == organisation_id).order_by(Document.id)).all()
        for doc_id, public_id, direction, number, content in rows:
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", number or "")[:80] or "document"
            zf.writestr(f"{'sent' if direction == 'out' else 'received'}/{safe}-{public_id}.xml",
                        document_content(db, doc_id, content))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", org.name)[:60] or f"organisation-{org.id}"
    return f"{name}-export.zip", buf.getvalue()


def request_deletion(svc: Services, ctx: Context, user_id: int, organisation_id: int, *,
                     export_acknowledged: bool) -> int:
    """Step 1: an environment admin asks, after the export was offered; returns the deletion id."""
    with svc.sessions.begin() as db:
        user, org = _env_admin(db, user_id, organisation_id)  # who asks before what they sent (no oracle)
        if not export_acknowledged:
            raise shares.InvalidInput("Download the export first, or confirm that you do not need it.")
        open_ = db.scalar(sa.select(OrganisationDeletion).where(
            OrganisationDeletion.organisation_id == org.id, OrganisationDeletion.status == "requested"))
        if open_ is not None:
            return open_.id
        d = OrganisationDeletion(organisation_id=org.id, environment_id=org.environment_id, status="requested",
                                 requested_by=user.id, requested_at=ctx.now, export_acknowledged=True, detail="{}")
        db.add(d)
        db.flush()
        audit.record(db, ctx, "organisation.deletion_requested", actor_id=user.id, object_type="organisation",
                     object_id=org.id, organisation_id=org.id, environment_id=org.environment_id,
                     after="requested", detail={"deletion": d.id})
        return d.id


def pending_for(db: Session, user: User) -> list[tuple[OrganisationDeletion, Organisation]]:
    """Deletions waiting for approval in the admin's environment."""
    if user.environment_role != "admin":
        return []
    rows = db.execute(sa.select(OrganisationDeletion, Organisation)
                      .join(Organisation, Organisation.id == OrganisationDeletion.organisation_id)
                      .where(OrganisationDeletion.environment_id == user.environment_id,
                             OrganisationDeletion.status == "requested").order_by(OrganisationDeletion.id))
    return [(d, o) for d, o in rows]


def _deletion(db: Session, user_id: int, deletion_id: int) -> tuple[User, OrganisationDeletion]:
    d = db.get(OrganisationDeletion, deletion_id)
    if d is None:
        raise shares.NotAllowed("No such deletion.")
    user, _ = _env_admin(db, user_id, d.organisation_id)
    if d.status != "requested":
        raise shares.InvalidTransition(f"This deletion is {d.status}.")
    return user, d


def cancel(svc: Services, ctx: Context, user_id: int, deletion_id: int) -> None:
    with svc.sessions.begin() as db:
        user, d = _deletion(db, user_id, deletion_id)
        d.status, d.decided_by, d.decided_at = "cancelled", user.id, ctx.now
        audit.record(db, ctx, "organisation.deletion_cancelled", actor_id=user.id, object_type="organisation",
                     object_id=d.organisation_id, organisation_id=d.organisation_id, before="requested",
                     after="cancelled", detail={"deletion": d.id})


def _pseudonym(value: str) -> str:
    return "anon:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _pseudonymise(value: Any) -> Any:
    if isinstance(value, str):
        return _EMAIL.sub(lambda m: _pseudonym(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _pseudonymise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pseudonymise(v) for v in value]
    return value


def approve(svc: Services, ctx: Context, user_id: int, deletion_id: int, *, password: str = "",
            smp_store: Any = None, deregister: Deregister | None = None) -> dict[str, Any]:
    """Step 2: approve inside the platform and delete; returns what was removed.

    The approver is another admin of the environment; the requester may approve
    only as the environment's sole admin, and then only with their password.
    """
    mails: list[EmailMessage] = []
    with svc.sessions.begin() as db:
        user, d = _deletion(db, user_id, deletion_id)
        if d.requested_by == user.id:
            admins = db.scalar(sa.select(sa.func.count()).select_from(User).where(
                User.environment_id == user.environment_id, User.environment_role == "admin")) or 0
            if admins > 1:
                raise shares.NotAllowed("Another admin of this environment must approve this deletion.")
            if not password or not svc.hasher.verify(password, user.password_hash):
                raise shares.InvalidInput("Enter your password to confirm the deletion.")
        org = db.get(Organisation, d.organisation_id)
        assert org is not None
        org_name = org.name
        pids = [ubl.ParticipantId(i.scheme, i.value) for i in org.identifiers]
        who = f"{org_name} ({', '.join(p.value for p in pids)})"
        notify: set[str] = set()
        counts: dict[str, int] = {}

        # Shares of its connections, and the invitations carrying them.
        conn_ids = list(db.scalars(sa.select(Connection.id).where(Connection.organisation_id == org.id)))
        n = 0
        for share in db.scalars(sa.select(Share).where(Share.connection_id.in_(conn_ids),
                                                       Share.status.in_(("active", "invited")))):
            if share.status == "active":
                share.status, share.revoked_at, share.revoked_by = "revoked", ctx.now, user.id
            else:
                share.status, share.outcome, share.revoked_at, share.revoked_by = "not_shared", "revoked", ctx.now, user.id
            notify.add(share.email)
            n += 1
        counts["shares_revoked"] = n
        invs = list(db.scalars(sa.select(Invitation).where(Invitation.organisation_id == org.id,
                                                           Invitation.status == "pending")))
        # Requests naming one of its identifiers (pending ones have no organisation yet).
        reqs = list(db.scalars(sa.select(AuthorisationRequest).where(sa.or_(
            AuthorisationRequest.organisation_id == org.id,
            AuthorisationRequest.client_identifier.in_([p.value for p in pids]) if pids else sa.false()),
            AuthorisationRequest.status.in_(("pending", "accepted")))))
        partnerships: set[int] = set()
        for req in reqs:
            before = req.status
            req.status = "revoked" if before == "accepted" else "cancelled"
            req.reason, req.decided_at, req.decided_by = "organisation_deleted", ctx.now, user.id
            if req.partnership_id:
                partnerships.add(req.partnership_id)
            inv = db.get(Invitation, req.invitation_id) if req.invitation_id else None
            if inv is not None and inv.status == "pending":
                invs.append(inv)
            requester = db.get(User, req.requester_user_id)
            if requester is not None:
                notify.add(requester.email)
            notify.add(req.client_email)
            audit.record(db, ctx, f"request.{req.status}", actor_id=user.id, object_type="authorisation_request",
                         object_id=req.id, organisation_id=org.id, before=before, after=req.status,
                         detail={"reason": "organisation_deleted"})
        counts["requests_ended"] = len(reqs)
        for inv in {i.id: i for i in invs}.values():
            inv.status, inv.reason, inv.decided_at = "revoked", "organisation_deleted", ctx.now
            notify.add(inv.email)
        counts["invitations_revoked"] = len({i.id for i in invs})
        for pid_ in partnerships:
            still = db.scalar(sa.select(sa.func.count()).select_from(AuthorisationRequest).where(
                AuthorisationRequest.partnership_id == pid_, AuthorisationRequest.status == "accepted"))
            p = db.get(Partnership, pid_)
            if p is not None and not still and p.status == "active":
                p.status, p.ended_at = "ended", ctx.now
        members = list(db.scalars(sa.select(Membership).where(Membership.organisation_id == org.id,
                                                              Membership.status != "removed")))
        for m in members:
            m.status = "removed"
            member = db.get(User, m.user_id)
            if member is not None:
                notify.add(member.email)
        counts["memberships_removed"] = len(members)
        counts["keys_revoked"] = keys.revoke_where(db, ctx, ApiKey.organisation_id == org.id,
                                                   reason="organisation_deleted", actor_id=user.id)
        # Retention: its documents are deleted for good, with their outbox history.
        doc_ids = sa.select(Document.id).where(Document.organisation_id == org.id).scalar_subquery()
        db.execute(sa.update(InboundMessage).where(InboundMessage.document_id.in_(doc_ids)).values(document_id=None))
        entry_ids = sa.select(OutboxEntry.id).where(OutboxEntry.document_id.in_(doc_ids)).scalar_subquery()
        db.execute(sa.delete(OutboxEvent).where(OutboxEvent.entry_id.in_(entry_ids)))
        db.execute(sa.delete(OutboxEntry).where(OutboxEntry.document_id.in_(doc_ids)))
        counts["documents_deleted"] = db.execute(sa.delete(Document).where(Document.organisation_id == org.id)).rowcount
        db.execute(sa.delete(OrganisationIdentifier).where(OrganisationIdentifier.organisation_id == org.id))
        org.status, org.name, org.peppol_receive, org.peppol_send = "deleted", f"Deleted organisation {org.id}", False, False
        # SEC-10: the audit log is kept but pseudonymised.
        for ev in db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == org.id)):
            ev.ip, ev.user_agent = "", ""
            try:
                ev.detail = json.dumps(_pseudonymise(json.loads(ev.detail or "{}")), sort_keys=True)
            except ValueError:
                ev.detail = "{}"
        d.status, d.decided_by, d.decided_at = "approved", user.id, ctx.now
        d.detail = json.dumps(counts, sort_keys=True)
        # Recorded after the pseudonymisation, so it carries no IP or user agent either.
        audit.record(db, Context(now=ctx.now), "organisation.deleted", actor_id=user.id, object_type="organisation", object_id=org.id,
                     organisation_id=org.id, environment_id=org.environment_id, before="requested", after="deleted",
                     detail=counts | {"deletion": d.id, "identifiers": len(pids)})
        by = user.email
        for to in sorted(notify - {by}):
            mails.append(shares.build_outcome_mail(
                to=to, what="the organisation and every share, request and invitation of it",
                organisation=who, by=by, outcome="deleted"))
        deletion_ref = d.id
    failures: list[str] = []
    for pid in pids:
        if smp_store is not None:
            smp_store.remove_participant(pid)
        if deregister is not None:
            try:
                deregister(pid)
            except Exception as exc:  # noqa: BLE001 - the SML may be down; the deletion itself stands
                failures.append(f"{pid}: {type(exc).__name__}: {exc}"[:300])
    if failures:
        with svc.sessions.begin() as db:
            d = db.get(OrganisationDeletion, deletion_ref)
            assert d is not None
            d.detail = json.dumps(json.loads(d.detail) | {"sml_failures": failures}, sort_keys=True)
            audit.record(db, ctx, "organisation.sml_deregistration_failed", actor_id=user_id,
                         object_type="organisation", object_id=d.organisation_id,
                         organisation_id=d.organisation_id, detail={"failures": failures})
        counts["sml_failures"] = len(failures)
    for mail in mails:
        svc.mailer.send(mail)
    counts["notified"] = len(mails)
    return counts
