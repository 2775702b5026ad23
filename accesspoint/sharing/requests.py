"""W3: authorisation requests from an intermediary to a client, and the partnerships they create."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

import shares
from accesspoint.db.tables.accounts import Membership, User
from accesspoint.db.tables.organisations import Environment, Organisation, OrganisationIdentifier
from accesspoint.db.tables.sharing import AuthorisationRequest, Invitation, Partnership

from . import activation, audit, invites, orgs, partnerships, ratelimit
from .context import Context, Services

__all__ = ["create", "resend", "cancel", "for_requester", "inbox", "get_for_client", "acceptance", "Acceptance",
           "accept", "refuse", "revoke"]


def _mail(svc: Services, db: Session, req: AuthorisationRequest, inv: Invitation, token: str, reminder: int = 0):
    env = db.get(Environment, req.requester_environment_id)
    requester = db.get(User, req.requester_user_id)
    return shares.build_request_mail(
        to=req.client_email, firm=env.name if env else "", requester=(requester.name or requester.email)
        if requester else "", client_name=req.client_name, client_identifier=req.client_identifier,
        costs_paid_by=req.costs_paid_by, link=svc.link(f"/i/{token}"), expires_at=inv.expires_at, reminder=reminder)


def _new(db: Session, svc: Services, ctx: Context, user: User, *, client_name: str, client_email: str,
         client_identifier: str, software_package: str, costs_paid_by: str, sent_count: int = 1):
    token, token_hash = shares.mint_token()
    inv = Invitation(kind="auth_request", environment_id=user.environment_id, inviter_user_id=user.id,
                     organisation_id=None, email=client_email, token_hash=token_hash, status="pending",
                     expires_at=ctx.now + shares.invite_ttl(svc.invite_ttl_days), sent_count=sent_count,
                     last_sent_at=ctx.now, reminders_sent=0, created_at=ctx.now)
    db.add(inv)
    db.flush()
    req = AuthorisationRequest(
        requester_environment_id=user.environment_id, requester_user_id=user.id, client_name=client_name,
        client_email=client_email, client_identifier=client_identifier, software_package=software_package,
        costs_paid_by=costs_paid_by, status="pending", invitation_id=inv.id, created_at=ctx.now)
    db.add(req)
    db.flush()
    audit.record(db, ctx, "request.created", actor_id=user.id, object_type="authorisation_request",
                 object_id=req.id, environment_id=user.environment_id, after="pending",
                 detail={"client_identifier": client_identifier, "costs_paid_by": costs_paid_by})
    return req, inv, token


def create(svc: Services, ctx: Context, user_id: int, *, client_name: str, client_email: str,
           client_identifier: str, software_package: str = "", costs_paid_by: str = "client") -> int:
    """W3.1: advanced or admin users only (E7); returns the request id."""
    client_email = shares.normalise_email(client_email)
    pid = orgs.parse_identifier(client_identifier)
    if not client_name.strip():
        raise shares.InvalidInput("Enter the client's name.")
    if costs_paid_by not in shares.PAYERS:
        raise shares.InvalidInput("Choose who pays.")
    ratelimit.hit(svc, ctx, "request", f"user:{user_id}")
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        if user.environment_role not in ("advanced", "admin"):
            raise shares.NotAllowed("Only advanced users and admins can send authorisation requests.")
        _check_ours_to_hand_over(db, user, pid.value)
        req, inv, token = _new(db, svc, ctx, user, client_name=client_name.strip()[:200], client_email=client_email,
                               client_identifier=pid.value, software_package=software_package.strip()[:200],
                               costs_paid_by=costs_paid_by)
        mail = _mail(svc, db, req, inv, token)
        req_id = req.id
    svc.mailer.send(mail)
    return req_id


def _check_ours_to_hand_over(db: Session, user: User, identifier: str) -> None:
    """A request for an organisation of the requester's own environment asks the client to take it over,
    so only its org admin may send it (checked again at acceptance: `shares.accept_as`)."""
    ident = db.scalar(sa.select(OrganisationIdentifier).where(OrganisationIdentifier.value == identifier))
    org = db.get(Organisation, ident.organisation_id) if ident is not None else None
    if org is not None and org.environment_id == user.environment_id:
        if org.held_for != "client":
            raise shares.InvalidInput(f"{org.name} is your own organisation, not a client's: an authorisation "
                                      "request for it would hand it to someone else.")
        m = orgs.membership(db, user.id, org.id)
        if m is None or m.role != "org_admin":
            raise shares.NotAllowed(f"{org.name} is registered in your environment; only its admins can ask the "
                                    "client to take it over.")


def _requester_side(db: Session, user_id: int, request_id: int) -> tuple[User, AuthorisationRequest]:
    user = db.get(User, user_id)
    req = db.get(AuthorisationRequest, request_id)
    if user is None or req is None or req.requester_environment_id != user.environment_id:
        raise shares.NotAllowed("No such request.")
    return user, req


def _kill_link(db: Session, ctx: Context, req: AuthorisationRequest, reason: str) -> None:
    inv = db.get(Invitation, req.invitation_id) if req.invitation_id else None
    if inv is not None and inv.status == "pending":
        inv.status, inv.reason, inv.decided_at = "revoked", reason, ctx.now


def cancel(svc: Services, ctx: Context, user_id: int, request_id: int, *, reason: str = "withdrawn") -> None:
    """W3.4 cancelled: the requester withdraws before acceptance; the link dies at once (E4)."""
    with svc.sessions.begin() as db:
        user, req = _requester_side(db, user_id, request_id)
        shares.check_transition(shares.RequestState, req.status, "cancelled")
        req.status, req.reason, req.decided_at, req.decided_by = "cancelled", reason, ctx.now, user.id
        _kill_link(db, ctx, req, reason)
        audit.record(db, ctx, "request.cancelled", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=user.environment_id, before="pending", after="cancelled",
                     detail={"reason": reason})


def resend(svc: Services, ctx: Context, user_id: int, request_id: int) -> int:
    """W3.4: a resend replaces the request; the old one is cancelled (superseded) and its link dies (E3)."""
    with svc.sessions() as db:
        row = db.get(AuthorisationRequest, request_id)
        key = f"request:{row.requester_environment_id}:{row.client_email}" if row is not None else f"request:{request_id}"
    ratelimit.hit(svc, ctx, "resend", key)
    with svc.sessions.begin() as db:
        user, old = _requester_side(db, user_id, request_id)
        shares.check_transition(shares.RequestState, old.status, "cancelled")
        old_inv = db.get(Invitation, old.invitation_id) if old.invitation_id else None
        old.status, old.reason, old.decided_at, old.decided_by = "cancelled", "superseded", ctx.now, user.id
        _kill_link(db, ctx, old, "superseded")
        req, inv, token = _new(db, svc, ctx, user, client_name=old.client_name, client_email=old.client_email,
                               client_identifier=old.client_identifier, software_package=old.software_package,
                               costs_paid_by=old.costs_paid_by,
                               sent_count=(old_inv.sent_count if old_inv else 1) + 1)
        if old_inv is not None:
            old_inv.superseded_by = inv.id
        audit.record(db, ctx, "request.resent", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=user.environment_id, detail={"supersedes": old.id})
        mail = _mail(svc, db, req, inv, token)
        req_id = req.id
    svc.mailer.send(mail)
    return req_id


def for_requester(db: Session, user: User, status: str | None = None) -> list[tuple[AuthorisationRequest, Invitation | None]]:
    q = sa.select(AuthorisationRequest, Invitation).outerjoin(
        Invitation, Invitation.id == AuthorisationRequest.invitation_id).where(
        AuthorisationRequest.requester_environment_id == user.environment_id)
    if status:
        q = q.where(AuthorisationRequest.status == status)
    return [(r, i) for r, i in db.execute(q.order_by(AuthorisationRequest.id.desc()))]


def inbox(db: Session, user: User) -> list[tuple[AuthorisationRequest, str]]:
    """Inbox → Requests (W3.2): requests addressed to the user's verified email, with the firm's name."""
    if user.email_verified_at is None:
        return []
    rows = db.execute(sa.select(AuthorisationRequest, Environment.name).join(
        Environment, Environment.id == AuthorisationRequest.requester_environment_id).where(
        AuthorisationRequest.client_email == user.email,
        # Kept with their state once decided: a revoked or expired request stays visible (issue 12);
        # cancelled ones are the requester's (withdrawn or superseded by a resend) and would only repeat.
        AuthorisationRequest.status.in_(("pending", "accepted", "refused", "revoked", "expired")))
        .order_by(AuthorisationRequest.id.desc()))
    return [(r, n) for r, n in rows]


def get_for_client(db: Session, user: User, request_id: int) -> tuple[AuthorisationRequest, str]:
    req = db.get(AuthorisationRequest, request_id)
    if req is None or user.email_verified_at is None or req.client_email != user.email:
        raise shares.NotAllowed("No such request.")
    env = db.get(Environment, req.requester_environment_id)
    return req, env.name if env else ""


@dataclass(frozen=True, slots=True)
class Acceptance:
    """What accepting a request would do now, and the text the client is asked to agree to (SEC-8)."""

    how: shares.AcceptAs
    #: The organisation that holds the identifier (EXISTING, TAKE_OVER), else None.
    organisation_id: int | None
    organisation_name: str
    firm: str
    requester_name: str
    requester_email: str
    consent: str

    def evidence(self) -> dict[str, object]:
        """The requester's details as shown to the client, kept with the acceptance."""
        return {"firm": self.firm, "requester": {"name": self.requester_name, "email": self.requester_email},
                "accept_as": self.how.value, "takeover": self.how is shares.AcceptAs.TAKE_OVER}


def _holder(db: Session, user: User, req: AuthorisationRequest) -> tuple[shares.IdentifierHolder | None, Organisation | None]:
    ident = db.scalar(sa.select(OrganisationIdentifier).where(
        OrganisationIdentifier.value == req.client_identifier))
    org = db.get(Organisation, ident.organisation_id) if ident is not None else None
    if org is None:
        return None, None

    def is_admin(user_id: int) -> bool:
        m = orgs.membership(db, user_id, org.id)
        return m is not None and m.role == "org_admin"

    return shares.IdentifierHolder(organisation_id=org.id, environment_id=org.environment_id,
                                   client_is_admin=is_admin(user.id),
                                   requester_is_admin=is_admin(req.requester_user_id),
                                   registered_for_client=org.held_for == "client"), org


def acceptance(db: Session, user: User, req: AuthorisationRequest, firm: str) -> Acceptance:
    """W3.3: who asks (firm and person, shown first) and what accepting does to which organisation."""
    holder, org = _holder(db, user, req)
    how = shares.accept_as(holder, requester_environment_id=req.requester_environment_id)
    requester = db.get(User, req.requester_user_id)
    name = (requester.name or requester.email) if requester else ""
    email = requester.email if requester else ""
    org_name = org.name if org is not None and how in (shares.AcceptAs.TAKE_OVER, shares.AcceptAs.EXISTING) \
        else req.client_name
    payer = firm if req.costs_paid_by == "intermediary" else org_name
    consent = shares.consent_text(how, firm=firm, requester=name, organisation=org_name,
                                  identifier=req.client_identifier, payer=payer)
    return Acceptance(how, org.id if org is not None and how is not shares.AcceptAs.UNAVAILABLE else None,
                      org_name, firm, name, email, consent)


def _take_over(db: Session, ctx: Context, user: User, org: Organisation, req: AuthorisationRequest) -> None:
    """The client becomes the owner and an org admin of the organisation the requester registered for it.

    The organisation moves to the client's environment (it owns its data and rights, product.md §1);
    the requester's side keeps access only as members through the partnership set up next, so a
    revocation ends it (W3.4). Nothing else changes: identifiers, connections, shares, documents.
    """
    before_env = org.environment_id
    org.environment_id, org.held_for = user.environment_id, "own"
    m = db.scalar(sa.select(Membership).where(Membership.user_id == user.id, Membership.organisation_id == org.id))
    if m is None:
        m = Membership(user_id=user.id, organisation_id=org.id, role="org_admin", status="active", created_at=ctx.now)
        db.add(m)
    else:
        if m.status != "active":
            shares.check_transition(shares.MembershipState, m.status, "active")
        m.status, m.role, m.via_partnership_id = "active", "org_admin", None
    db.flush()
    audit.record(db, ctx, "organisation.taken_over", actor_id=user.id, object_type="organisation", object_id=org.id,
                 organisation_id=org.id, environment_id=user.environment_id, before=f"environment:{before_env}",
                 after=f"environment:{user.environment_id}", detail={"request": req.id})
    audit.record(db, ctx, "membership.added", actor_id=user.id, object_type="membership", object_id=m.id,
                 organisation_id=org.id, after="active:org_admin", detail={"takeover": True})


def _through_partnership(db: Session, ctx: Context, user: User, org: Organisation, req: AuthorisationRequest,
                         partnership_id: int) -> None:
    """After a take-over: the requester environment's members of the organisation now hold it through the
    partnership, as members (W3.4 proposal: role member by default), so revoking removes them."""
    rows = db.scalars(sa.select(Membership).join(User, User.id == Membership.user_id).where(
        Membership.organisation_id == org.id, Membership.status == "active",
        User.environment_id == req.requester_environment_id))
    for m in rows:
        before = f"{m.status}:{m.role}"
        m.role, m.via_partnership_id = "member", partnership_id
        audit.record(db, ctx, "membership.role_changed", actor_id=user.id, object_type="membership", object_id=m.id,
                     organisation_id=org.id, before=before, after="active:member",
                     detail={"via_partnership": partnership_id, "takeover": True})


def _pending_invitation(db: Session, ctx: Context, req: AuthorisationRequest) -> Invitation:
    inv = db.get(Invitation, req.invitation_id) if req.invitation_id else None
    if req.status != "pending" or inv is None or inv.status != "pending" or inv.expires_at <= ctx.now:
        raise shares.InviteInvalid("This request is no longer open.")
    return inv


def accept(svc: Services, ctx: Context, user_id: int, request_id: int, *, organisation_id: int | None,
           organisation_name: str = "", text_shown: str = "", confirmed_requester: bool = False) -> int:
    """W3.4 accepted: partnership created or reused, the requester becomes a member, payer set; returns org id.

    Which organisation: the one named by `organisation_id` (the client must be its org admin); else the one
    holding the requested identifier, which the client takes over when the requester registered it for
    them (`confirmed_requester` must then be True: W3.3), or a new one. Raises NotAllowed when someone
    else holds the identifier, InvalidInput when the take-over is not confirmed. `text_shown` is stored
    with the requester's details, IP, user agent and time as the mandate record (SEC-8).
    """
    ratelimit.hit(svc, ctx, "token", ctx.ip or "-")
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        req, firm = get_for_client(db, user, request_id)
        inv = _pending_invitation(db, ctx, req)
        shown = acceptance(db, user, req, firm)
        takeover = False
        if organisation_id and organisation_id != shown.organisation_id:
            org = orgs.require_member(db, user, organisation_id, admin=True)
        else:
            shares.check_acceptable(shown.how, confirmed_requester=confirmed_requester)
            if shown.how is shares.AcceptAs.CREATE:
                org = orgs.create_organisation(db, ctx, user, organisation_name or req.client_name,
                                               [req.client_identifier])
            else:
                org = db.get(Organisation, shown.organisation_id)
                assert org is not None
                if shown.how is shares.AcceptAs.TAKE_OVER:
                    _take_over(db, ctx, user, org, req)
                    takeover = True
                else:
                    org = orgs.require_member(db, user, org.id, admin=True)
        if org.environment_id == req.requester_environment_id:
            raise shares.InvalidInput("This organisation is already in the requester's environment.")
        invites.consume(db, ctx, inv, status="accepted", user_id=user.id)
        shares.check_transition(shares.RequestState, req.status, "accepted")
        a, b = sorted((req.requester_environment_id, org.environment_id))
        # The pair's open partnership (also one pending from a W6 relationship request), else its
        # newest ended one; never a rejected one (a new row then).
        partnership = partnerships.current_between(db, a, b)
        if partnership is None:
            partnership = Partnership(environment_a_id=a, environment_b_id=b, origin="authorisation_request",
                                      status="active", created_at=ctx.now)
            db.add(partnership)
            db.flush()
        elif partnership.status != "active":
            shares.check_transition(shares.PartnershipState, partnership.status, "active")
            partnership.status, partnership.ended_at = "active", None
        if takeover:
            _through_partnership(db, ctx, user, org, req, partnership.id)
        m = db.scalar(sa.select(Membership).where(Membership.user_id == req.requester_user_id,
                                                   Membership.organisation_id == org.id))
        if m is None:
            m = Membership(user_id=req.requester_user_id, organisation_id=org.id, role="member", status="active",
                           via_partnership_id=partnership.id, created_at=ctx.now)
            db.add(m)
        elif m.status != "active":
            m.status, m.via_partnership_id = "active", partnership.id
        before_payer = org.payer
        org.payer = f"intermediary:{req.requester_environment_id}" if req.costs_paid_by == "intermediary" else "own"
        req.status, req.decided_at, req.decided_by = "accepted", ctx.now, user.id
        req.organisation_id, req.partnership_id = org.id, partnership.id
        db.flush()
        audit.record(db, ctx, "request.accepted", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, organisation_id=org.id, environment_id=user.environment_id,
                     before="pending", after="accepted",
                     detail={"text_shown": text_shown or shown.consent, "costs_paid_by": req.costs_paid_by,
                             "payer": org.payer, "partnership": partnership.id, "confirmed_requester": confirmed_requester,
                             **shown.evidence(), "takeover": takeover})
        audit.record(db, ctx, "membership.added", actor_id=user.id, object_type="membership", object_id=m.id,
                     organisation_id=org.id, after="active:member", detail={"via_partnership": partnership.id})
        if before_payer != org.payer:
            audit.record(db, ctx, "organisation.payer_changed", actor_id=user.id, object_type="organisation",
                         object_id=org.id, organisation_id=org.id, before=before_payer, after=org.payer)
        # The accepted request is the intermediary's recorded mandate: it activates the organisation (W1.3).
        activation.on_mandate(db, ctx, org, actor_id=user.id)
        requester = db.get(User, req.requester_user_id)
        mail = shares.build_outcome_mail(to=requester.email, what="your authorisation request",
                                         organisation=org.name, by=user.email, outcome="accepted") if requester else None
        org_id = org.id
    if mail is not None:
        svc.mailer.send(mail)
    return org_id


def refuse(svc: Services, ctx: Context, user_id: int, request_id: int) -> None:
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        assert user is not None
        req, _ = get_for_client(db, user, request_id)
        inv = _pending_invitation(db, ctx, req)
        invites.consume(db, ctx, inv, status="declined", user_id=user.id)
        shares.check_transition(shares.RequestState, req.status, "refused")
        req.status, req.decided_at, req.decided_by = "refused", ctx.now, user.id
        audit.record(db, ctx, "request.refused", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, environment_id=req.requester_environment_id, before="pending", after="refused")
        requester = db.get(User, req.requester_user_id)
        mail = shares.build_outcome_mail(to=requester.email, what="your authorisation request",
                                         organisation=req.client_name, by=user.email, outcome="refused") if requester else None
    if mail is not None:
        svc.mailer.send(mail)


def revoke(svc: Services, ctx: Context, user_id: int, request_id: int) -> None:
    """W3.4 revoked, by either party: memberships granted through the partnership go, payer reverts (E4)."""
    with svc.sessions.begin() as db:
        user = db.get(User, user_id)
        req = db.get(AuthorisationRequest, request_id)
        if user is None or req is None:
            raise shares.NotAllowed("No such request.")
        requester_side = req.requester_environment_id == user.environment_id
        client_side = req.organisation_id is not None and orgs.membership(db, user.id, req.organisation_id) is not None \
            and not requester_side
        if not (requester_side or client_side):
            raise shares.NotAllowed("No such request.")
        shares.check_transition(shares.RequestState, req.status, "revoked")
        req.status, req.decided_at, req.decided_by = "revoked", ctx.now, user.id
        org = db.get(Organisation, req.organisation_id) if req.organisation_id else None
        if org is not None:
            db.execute(sa.update(Membership).where(
                Membership.organisation_id == org.id, Membership.via_partnership_id == req.partnership_id,
                Membership.status == "active").values(status="removed"))
            before_payer = org.payer
            org.payer = "own"
            if before_payer != "own":
                audit.record(db, ctx, "organisation.payer_changed", actor_id=user.id, object_type="organisation",
                             object_id=org.id, organisation_id=org.id, before=before_payer, after="own")
        still = db.scalar(sa.select(sa.func.count()).select_from(AuthorisationRequest).where(
            AuthorisationRequest.partnership_id == req.partnership_id, AuthorisationRequest.status == "accepted"))
        p = db.get(Partnership, req.partnership_id) if req.partnership_id else None
        # A partnership the requests made ends with its last mandate; one the two firms formed
        # themselves (W6) outlives it, and is ended on the Partners page.
        if p is not None and not still and p.status == "active" and p.origin == "authorisation_request":
            p.status, p.ended_at = "ended", ctx.now
        # SEC-9: its connection keys stop working (they are also re-checked on every use).
        from . import keys
        keys.revoke_where(db, ctx, keys.ApiKey.via_request_id == req.id, reason="request_revoked", actor_id=user.id)
        audit.record(db, ctx, "request.revoked", actor_id=user.id, object_type="authorisation_request",
                     object_id=req.id, organisation_id=req.organisation_id, environment_id=user.environment_id,
                     before="accepted", after="revoked", detail={"by": "requester" if requester_side else "client"})
        # The other party learns of it (W3.4: "either party cancels"; the accountant was not told).
        if requester_side:
            to, name = req.client_email, org.name if org is not None else req.client_name
        else:
            requester = db.get(User, req.requester_user_id)
            to, name = (requester.email if requester else ""), org.name if org is not None else req.client_name
        mail = shares.build_outcome_mail(to=to, what="the authorisation" if requester_side else
                                         "your authorisation request", organisation=name, by=user.email,
                                         outcome="revoked") if to else None
    if mail is not None:
        svc.mailer.send(mail)
