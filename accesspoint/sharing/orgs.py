"""Organisations, their two connections, memberships (W2) and the access checks (SEC-9, SEC-12).

Access to an organisation comes only from an *active* membership; access to a
connection additionally from an *active* share of it. Both are read from the
database on every call - nothing is cached.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
import ubl
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.organisations import Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import Connection, Share

from . import audit
from .context import Context

__all__ = [
    "parse_identifier",
    "create_organisation",
    "membership",
    "require_member",
    "organisations_of",
    "connections_of",
    "Access",
    "connection_access",
    "shared_with",
    "members",
    "set_role",
    "remove_member",
    "add_member",
    "relation",
]


def parse_identifier(text: str, *, on: object = None) -> ubl.ParticipantId:
    """A Peppol participant id checked with ubl (ICD known, format and check digit), or InvalidInput."""
    try:
        pid = ubl.ParticipantId.parse(text.strip())
        ubl.check_participant_id(pid)
    except ubl.UblError as exc:
        raise shares.InvalidInput(f"{text.strip()!r} is not a valid Peppol identifier: {exc}") from None
    return pid


def create_organisation(db: Session, ctx: Context, user: User, name: str, identifiers: list[str],
                        held_for: str = "own") -> Organisation:
    """W1.2: add an organisation to the user's environment, with both connections; the user is its org admin.

    `held_for` says whose it is: "own" (the environment's own) or "client" (registered for a client,
    who may take it over through an authorisation request, W3.3).
    """
    name = name.strip()
    if held_for not in shares.HELD_FOR:
        raise shares.InvalidInput("Say whether this is your own organisation or a client's.")
    if not name:
        raise shares.InvalidInput("Enter the organisation's name.")
    pids = [parse_identifier(t) for t in identifiers if t.strip()]
    if not pids:
        raise shares.InvalidInput("Enter at least one Peppol identifier, e.g. 0208:0123456749.")
    for pid in pids:
        taken = db.scalar(sa.select(OrganisationIdentifier.id).where(
            OrganisationIdentifier.scheme == pid.scheme, OrganisationIdentifier.value == pid.value))
        if taken is not None:
            raise shares.InvalidInput(f"{pid.value} is already registered on this node.")
    org = Organisation(environment_id=user.environment_id, name=name[:200], status="draft", peppol_send=True,
                       peppol_receive=False, payer="own", held_for=held_for, created_at=ctx.now)
    org.identifiers = [OrganisationIdentifier(scheme=p.scheme, value=p.value) for p in pids]
    db.add(org)
    db.flush()
    for kind in shares.CONNECTION_KINDS:
        db.add(Connection(organisation_id=org.id, kind=kind, created_at=ctx.now))
    db.add(Membership(user_id=user.id, organisation_id=org.id, role="org_admin", status="active", created_at=ctx.now))
    audit.record(db, ctx, "organisation.created", actor_id=user.id, object_type="organisation", object_id=org.id,
                 organisation_id=org.id, environment_id=user.environment_id, after="draft",
                 detail={"identifiers": [p.value for p in pids], "held_for": held_for})
    return org


def relation(org: Organisation, user: User) -> shares.OrgRelation:
    """Our organisation or a client's, from `user`'s environment (what the accountant's pages offer)."""
    return shares.org_relation(organisation_environment_id=org.environment_id, held_for=org.held_for,
                               viewer_environment_id=user.environment_id)


def membership(db: Session, user_id: int, organisation_id: int) -> Membership | None:
    return db.scalar(sa.select(Membership).where(
        Membership.user_id == user_id, Membership.organisation_id == organisation_id, Membership.status == "active"))


def require_member(db: Session, user: User, organisation_id: int, *, admin: bool = False) -> Organisation:
    """The organisation if `user` has an active membership (with org_admin when `admin`); else NotAllowed."""
    m = membership(db, user.id, organisation_id)
    if m is None or (admin and m.role != "org_admin"):
        raise shares.NotAllowed("You have no access to this organisation.")
    org = db.get(Organisation, organisation_id)
    if org is None:
        raise shares.NotAllowed("You have no access to this organisation.")
    return org


def organisations_of(db: Session, user: User) -> list[tuple[Organisation, str]]:
    rows = db.execute(sa.select(Organisation, Membership.role).join(
        Membership, Membership.organisation_id == Organisation.id).where(
        Membership.user_id == user.id, Membership.status == "active").order_by(Organisation.name))
    return [(o, r) for o, r in rows]


def connections_of(db: Session, organisation_id: int) -> dict[str, Connection]:
    rows = db.scalars(sa.select(Connection).where(Connection.organisation_id == organisation_id))
    return {c.kind: c for c in rows}


@dataclass(frozen=True, slots=True)
class Access:
    connection_id: int
    kind: str
    organisation_id: int
    organisation_name: str
    rights: frozenset[str]
    #: "member" (the owner side) or "share" (the client side)
    via: str
    share_id: int | None = None


def connection_access(db: Session, user: User, connection_id: int) -> Access:
    """What `user` may do on a connection now; NotAllowed when nothing (SEC-9: checked per request)."""
    conn = db.get(Connection, connection_id)
    if conn is None:
        raise shares.NotAllowed("You have no access to this connection.")
    org = db.get(Organisation, conn.organisation_id)
    assert org is not None
    if membership(db, user.id, org.id) is not None:
        return Access(conn.id, conn.kind, org.id, org.name, frozenset(shares.ALL_RIGHTS), "member")
    share = db.scalar(sa.select(Share).where(Share.connection_id == conn.id, Share.grantee_user_id == user.id,
                                             Share.status == "active"))
    if share is None:
        raise shares.NotAllowed("You no longer have access to this connection.")
    return Access(conn.id, conn.kind, org.id, org.name, shares.parse_rights(share.rights), "share", share.id)


def shared_with(db: Session, user: User) -> list[tuple[Share, Connection, Organisation]]:
    """The user's active shares (the client's connections list)."""
    rows = db.execute(sa.select(Share, Connection, Organisation)
                      .join(Connection, Connection.id == Share.connection_id)
                      .join(Organisation, Organisation.id == Connection.organisation_id)
                      .where(Share.grantee_user_id == user.id, Share.status == "active")
                      .order_by(Organisation.name, Connection.kind))
    return [(s, c, o) for s, c, o in rows]


def members(db: Session, organisation_id: int) -> list[tuple[Membership, User]]:
    rows = db.execute(sa.select(Membership, User).join(User, User.id == Membership.user_id).where(
        Membership.organisation_id == organisation_id, Membership.status != "removed").order_by(User.email))
    return [(m, u) for m, u in rows]


def set_role(db: Session, ctx: Context, admin: User, organisation_id: int, membership_id: int, role: str) -> None:
    require_member(db, admin, organisation_id, admin=True)
    if role not in ("member", "org_admin"):
        raise shares.InvalidInput("Unknown role.")
    m = db.get(Membership, membership_id)
    if m is None or m.organisation_id != organisation_id or m.status != "active":
        raise shares.NotAllowed("No such member.")
    before, m.role = m.role, role
    audit.record(db, ctx, "membership.role_changed", actor_id=admin.id, object_type="membership", object_id=m.id,
                 organisation_id=organisation_id, before=before, after=role)


def remove_member(db: Session, ctx: Context, admin: User, organisation_id: int, membership_id: int) -> None:
    """W2: effective on the member's next request, since access is read per request."""
    require_member(db, admin, organisation_id, admin=True)
    m = db.get(Membership, membership_id)
    if m is None or m.organisation_id != organisation_id or m.status == "removed":
        raise shares.NotAllowed("No such member.")
    if m.role == "org_admin":
        admins = db.scalar(sa.select(sa.func.count()).select_from(Membership).where(
            Membership.organisation_id == organisation_id, Membership.role == "org_admin",
            Membership.status == "active"))
        if (admins or 0) <= 1:
            raise shares.InvalidInput("An organisation keeps at least one admin.")
    shares.check_transition(shares.MembershipState, m.status, "removed")
    before, m.status = m.status, "removed"
    from . import keys  # keys builds on this module's access checks

    keys.revoke_where(db, ctx, keys.ApiKey.via_membership_id == m.id, reason="membership_removed", actor_id=admin.id)
    audit.record(db, ctx, "membership.removed", actor_id=admin.id, object_type="membership", object_id=m.id,
                 organisation_id=organisation_id, before=before, after="removed")


def add_member(db: Session, ctx: Context, admin: User, organisation_id: int, email: str, role: str) -> None:
    """W2: add a colleague *of the same environment* (users join environments only by invitation)."""
    require_member(db, admin, organisation_id, admin=True)
    email = shares.normalise_email(email)
    if role not in ("member", "org_admin"):
        raise shares.InvalidInput("Unknown role.")
    user = db.scalar(sa.select(User).where(User.email == email, User.environment_id == admin.environment_id))
    if user is None:
        raise shares.InvalidInput("No colleague with this address in your environment.")
    m = db.scalar(sa.select(Membership).where(Membership.user_id == user.id,
                                               Membership.organisation_id == organisation_id))
    if m is None:
        m = Membership(user_id=user.id, organisation_id=organisation_id, role=role, status="active",
                       created_at=ctx.now)
        db.add(m)
        before = ""
    else:
        before = m.status
        if m.status != "active":
            shares.check_transition(shares.MembershipState, m.status, "active")
        m.status, m.role = "active", role
    db.flush()
    audit.record(db, ctx, "membership.added", actor_id=admin.id, object_type="membership", object_id=m.id,
                 organisation_id=organisation_id, before=before, after=f"active:{role}")
