"""Registering an organisation on the node as the operator does (product.md W1, done by support).

The web app's sign-up path (`accesspoint.sharing.orgs`) creates organisations for
a user; this is the operator's path for a node's own organisations (e.g. a firm
that runs its own node): the organisation is active at once, with both Peppol
connections and its participant identifiers checked by `ubl`. Active at once
because the operator typing it in *is* the check the web app's verifiers make
(`shares.activation`); `peppol-node org add` and the demo rely on it, and the
audit log records who activated it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import shares
import ubl
from accesspoint.db.tables.organisations import Environment, Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import Connection
from accesspoint.sharing import audit
from accesspoint.sharing.context import Context

__all__ = ["OrganisationExists", "OrganisationSummary", "UnknownParticipant", "list_organisations",
           "activation_states", "organisation_id_of", "register_organisation", "set_receive"]

OPERATOR_ENVIRONMENT = "operator"


class OrganisationExists(Exception):
    """One of the identifiers already belongs to an organisation on this node."""


class UnknownParticipant(Exception):
    """No organisation on this node has this participant id."""


@dataclass(frozen=True, slots=True)
class OrganisationSummary:
    id: int
    name: str
    status: str
    send: bool
    receive: bool
    participant_ids: tuple[ubl.ParticipantId, ...]


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
                           peppol_receive=receive, payer="own", created_at=now,
                           status_reason="added by the node's operator (CLI)")
        org.identifiers = [OrganisationIdentifier(scheme=p.scheme, value=p.value) for p in pids]
        db.add(org)
        db.flush()
        for kind in shares.CONNECTION_KINDS:
            db.add(Connection(organisation_id=org.id, kind=kind, created_at=now))
        audit.record(db, Context(now=now, user_agent="peppol-node CLI"), "organisation.created", actor_id=None,
                     object_type="organisation", object_id=org.id, organisation_id=org.id, environment_id=env.id,
                     after="active", detail={"identifiers": [p.value for p in pids], "verifier": "operator",
                                             "reason": "added by the node's operator (CLI)"})
        return org.id


def _organisation_of(db: Session, pid: ubl.ParticipantId) -> Organisation:
    org = db.scalar(sa.select(Organisation).join(OrganisationIdentifier).where(
        OrganisationIdentifier.scheme == pid.scheme, OrganisationIdentifier.value == pid.value))
    if org is None:
        raise UnknownParticipant(f"no organisation on this node has the participant id {pid.value}")
    return org


def organisation_id_of(sessions: sessionmaker[Session], pid: ubl.ParticipantId) -> int:
    """The id of the organisation holding `pid`; UnknownParticipant when none does."""
    with sessions() as db:
        return _organisation_of(db, pid).id


def set_receive(sessions: sessionmaker[Session], participant_ids: Sequence[ubl.ParticipantId], receive: bool) -> None:
    """Record that the organisations of `participant_ids` receive (or no longer receive) on this node.

    The network side (SMP, SML) is `accesspoint.network`'s; this is the organisation's own flag.
    """
    with sessions.begin() as db:
        for pid in participant_ids:
            _organisation_of(db, pid).peppol_receive = receive


def activation_states(sessions: sessionmaker[Session],
                      participant_ids: Sequence[ubl.ParticipantId]) -> list[tuple[ubl.ParticipantId, str, str]]:
    """(id, status, status_reason) of the organisation of each id; UnknownParticipant for an unknown id."""
    with sessions() as db:
        return [(pid, (org := _organisation_of(db, pid)).status, org.status_reason) for pid in participant_ids]


def list_organisations(sessions: sessionmaker[Session]) -> list[OrganisationSummary]:
    with sessions() as db:
        orgs = db.scalars(sa.select(Organisation).order_by(Organisation.id)).all()
        return [OrganisationSummary(
            o.id, o.name, o.status, o.peppol_send, o.peppol_receive,
            tuple(ubl.ParticipantId.parse(f"{i.scheme}::{i.value}") for i in o.identifiers)) for o in orgs]
