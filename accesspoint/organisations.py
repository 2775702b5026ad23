"""Registering an organisation on the node as the operator does (product.md W1, done by support).

The web app's sign-up path (`accesspoint.sharing.orgs`) creates organisations for
a user; this is the operator's path for a node's own organisations (e.g. a firm
that runs its own node): the organisation is active at once, with both Peppol
connections and its participant identifiers checked by `ubl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import shares
import ubl
from accesspoint.db.tables.organisations import Environment, Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import Connection

__all__ = ["OrganisationExists", "register_organisation"]

OPERATOR_ENVIRONMENT = "operator"


class OrganisationExists(Exception):
    """One of the identifiers already belongs to an organisation on this node."""


def register_organisation(
    sessions: sessionmaker[Session],
    name: str,
    participant_ids: Sequence[str],
    *,
    now: datetime,
    send: bool = True,
    receive: bool = False,
) -> int:
    """Create an active organisation with `participant_ids`; returns its id.

    Raises `ubl.IdentifierError` for a malformed id and `OrganisationExists` when
    an id is already taken on this node.
    """
    pids = [ubl.ParticipantId.parse(p) for p in participant_ids]
    for pid in pids:  # the ICD must be current and the check digit right (GLN, KBO, VAT, ...)
        ubl.check_participant_id(pid, on=now.date())
    if not pids or not name.strip():
        raise ValueError("an organisation needs a name and at least one participant id")
    with sessions.begin() as db:
        for pid in pids:
            if db.scalar(sa.select(OrganisationIdentifier.id).where(
                    OrganisationIdentifier.scheme == pid.scheme, OrganisationIdentifier.value == pid.value)):
                raise OrganisationExists(f"{pid} already belongs to an organisation on this node")
        env = db.scalar(sa.select(Environment).where(Environment.name == OPERATOR_ENVIRONMENT))
        if env is None:
            env = Environment(name=OPERATOR_ENVIRONMENT, created_at=now)
            db.add(env)
            db.flush()
        org = Organisation(environment_id=env.id, name=name.strip()[:200], status="active", peppol_send=send,
                           peppol_receive=receive, payer="own", created_at=now)
        org.identifiers = [OrganisationIdentifier(scheme=p.scheme, value=p.value) for p in pids]
        db.add(org)
        db.flush()
        for kind in shares.CONNECTION_KINDS:
            db.add(Connection(organisation_id=org.id, kind=kind, created_at=now))
        return org.id
