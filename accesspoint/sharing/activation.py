"""Organisation activation on the node (product.md W1.3): gathers a case's facts, asks the verifiers
(`shares.activation`), stores the outcome and writes every transition to the audit log.

Who starts where (the choice that keeps the operator's existing flows working):

- `peppol-node org add` and the demo create organisations that are **active at once**
  (`accesspoint.organisations`): the node's operator typed them in, which is the check.
- In the web app an organisation starts as a **draft**. Its org admin asks for activation
  (`submit`: draft|rejected -> verifying); the verifiers then decide. An organisation added by one
  of the node's operators (`[web] operators`) is approved by that fact at once (`on_created`).
- Accepting an authorisation request for the organisation is the intermediary's recorded mandate
  (`on_mandate`): it activates the organisation, from draft, verifying or rejected, when the
  intermediary is verified itself (an active organisation of its own); otherwise the organisation
  waits for the operator (the acceptance counts as asking).
- The operator approves or rejects a case by hand (`operator_decide`), in the web app's review
  page or with `peppol-node org approve|reject`.

Only an active organisation sends or receives (`accesspoint.delivery` checks the status); revoking
a mandate later does not deactivate it (no verifier turns an active organisation back).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Environment, Organisation
from accesspoint.db.tables.sharing import AuthorisationRequest
from shares.activation import (
    ActivationCase,
    ActivationState,
    Mandate,
    OperatorDecision,
    Verdict,
    Verifier,
    check_activation,
    decide,
)

from . import audit, orgs
from .context import Context, Services

__all__ = ["ACTION", "is_operator", "submit", "on_created", "on_mandate", "operator_decide", "awaiting_review",
           "Review", "VERIFIERS"]

#: The audit action of every activation transition (before -> after, verifier and reason in detail).
ACTION = "organisation.activation"

#: The node's verifiers, in order (shares.activation.SHIPPED_VERIFIERS).
VERIFIERS: tuple[Verifier, ...] = shares.activation.SHIPPED_VERIFIERS


def is_operator(svc: Services, user: User | None) -> bool:
    """One of the node's operators: a verified account whose address is in `[web] operators`."""
    return user is not None and user.email_verified_at is not None and user.email in svc.operators


def _move(db: Session, ctx: Context, org: Organisation, target: ActivationState, *, actor_id: int | None,
          verifier: str, reason: str, detail: dict[str, object] | None = None) -> None:
    check_activation(org.status, target)
    before = org.status
    org.status, org.status_reason = target.value, reason[:shares.activation.MAX_REASON_LENGTH]
    audit.record(db, ctx, ACTION, actor_id=actor_id, object_type="organisation", object_id=org.id,
                 organisation_id=org.id, environment_id=org.environment_id, before=before, after=target.value,
                 detail={"verifier": verifier, "reason": reason, **(detail or {})})


def _mandate(db: Session, org: Organisation) -> Mandate | None:
    req = db.scalar(sa.select(AuthorisationRequest).where(
        AuthorisationRequest.organisation_id == org.id, AuthorisationRequest.status == "accepted")
        .order_by(AuthorisationRequest.id.desc()).limit(1))
    if req is None:
        return None
    firm = db.get(Environment, req.requester_environment_id)
    verified = db.scalar(sa.select(Organisation.id).where(
        Organisation.environment_id == req.requester_environment_id, Organisation.held_for == "own",
        Organisation.status == ActivationState.ACTIVE.value).limit(1)) is not None
    return Mandate(request_id=req.id, firm=firm.name if firm else "the intermediary",
                   identifier=req.client_identifier, accepted_at=req.decided_at or req.created_at,
                   firm_verified=verified)


def _case(db: Session, org: Organisation, *, added_by_operator: bool = False,
          decision: OperatorDecision | None = None) -> ActivationCase:
    return ActivationCase(organisation_id=org.id, state=ActivationState(org.status),
                          identifiers=tuple(i.value for i in org.identifiers), added_by_operator=added_by_operator,
                          mandate=_mandate(db, org), operator_decision=decision)


def _verify(db: Session, ctx: Context, org: Organisation, *, actor_id: int | None, added_by_operator: bool = False,
            decision: OperatorDecision | None = None) -> Verdict | None:
    verdict = decide(_case(db, org, added_by_operator=added_by_operator, decision=decision), VERIFIERS)
    if verdict is not None:
        _move(db, ctx, org, verdict.state, actor_id=actor_id, verifier=verdict.verifier, reason=verdict.reason)
    return verdict


def _to_verifying(db: Session, ctx: Context, org: Organisation, *, actor_id: int | None, by: str) -> None:
    if org.status != ActivationState.VERIFYING.value:
        _move(db, ctx, org, ActivationState.VERIFYING, actor_id=actor_id, verifier="", reason="",
              detail={"asked_by": by})


def submit(svc: Services, ctx: Context, user_id: int, organisation_id: int) -> str:
    """The org admin asks for activation (draft|rejected -> verifying); returns the state after the verifiers."""
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        org = orgs.require_member(db, user, organisation_id, admin=True)
        if org.status not in (ActivationState.DRAFT.value, ActivationState.REJECTED.value):
            raise shares.InvalidTransition(
                "This organisation is already active." if org.status == "active" else
                "Activation was asked already: it waits for verification.")
        _to_verifying(db, ctx, org, actor_id=user.id, by=user.email)
        _verify(db, ctx, org, actor_id=user.id, added_by_operator=is_operator(svc, user))
        return org.status


def on_created(db: Session, ctx: Context, svc: Services, user: User, org: Organisation) -> None:
    """An organisation the node's operator added in the web app is checked by that fact: active at once."""
    if is_operator(svc, user):
        _to_verifying(db, ctx, org, actor_id=user.id, by=user.email)
        _verify(db, ctx, org, actor_id=user.id, added_by_operator=True)


def on_mandate(db: Session, ctx: Context, org: Organisation, *, actor_id: int) -> None:
    """An accepted authorisation request for `org` (just flushed) is a recorded mandate: it activates."""
    if org.status == ActivationState.ACTIVE.value:
        return
    _to_verifying(db, ctx, org, actor_id=actor_id, by="mandate")
    _verify(db, ctx, org, actor_id=actor_id)


def operator_decide(svc: Services, ctx: Context, organisation_id: int, *, approve: bool, reason: str = "",
                    operator: User | None = None, operator_label: str = "") -> str:
    """The node operator approves or rejects (from draft, verifying or rejected); returns the new state.

    From the web app `operator` is the signed-in user (who must be an operator); from the CLI it is
    None and `operator_label` says who ("the node's operator (CLI)").
    """
    decision = OperatorDecision(approve=approve, operator=operator.email if operator else operator_label,
                                reason=reason.strip())
    with svc.sessions.begin() as db:
        if operator is not None and not is_operator(svc, db.get(User, operator.id)):
            raise shares.NotAllowed("Only the node's operators review activations.")
        org = db.get(Organisation, organisation_id)
        if org is None or org.status == ActivationState.DELETED.value:
            raise shares.NotAllowed("No such organisation.")
        if org.status == ActivationState.ACTIVE.value:
            raise shares.InvalidTransition("This organisation is already active.")
        actor = operator.id if operator else None
        _to_verifying(db, ctx, org, actor_id=actor, by=decision.operator)
        _verify(db, ctx, org, actor_id=actor, decision=decision)
        return org.status


@dataclass(frozen=True, slots=True)
class Review:
    """One organisation waiting for the operator: who added it, under which numbers, since when."""

    organisation_id: int
    name: str
    identifiers: tuple[str, ...]
    environment: str
    state: str
    reason: str


def awaiting_review(db: Session, *, include_drafts: bool = False) -> list[Review]:
    """Organisations in verifying (and drafts, when asked), oldest first."""
    states = ["verifying", "rejected", "draft"] if include_drafts else ["verifying"]
    rows = db.execute(sa.select(Organisation, Environment.name).join(
        Environment, Environment.id == Organisation.environment_id).where(
        Organisation.status.in_(states)).order_by(Organisation.id))
    return [Review(o.id, o.name, tuple(i.value for i in o.identifiers), env, o.status, o.status_reason)
            for o, env in rows]
