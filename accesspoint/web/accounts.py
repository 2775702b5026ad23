"""Pages and API of accounts: sign-up with email verification, login, logout, home, organisations, members (W1, W2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

import shares
from accesspoint.db.tables.accounts import User
from accesspoint.db.tables.organisations import Environment
from accesspoint.sharing import accounts, activation, audit, deletion, invites, orgs, requests, team

from ._session import INVITE_COOKIE, SESSION_COOKIE, Req, endpoint

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["routes"]


def _safe_next(value: str) -> str:
    """Only local paths: an open redirect would turn our login page into a phishing aid."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


@endpoint(login=False)
def signup(r: Req) -> Response:
    """Sign up: creates an unverified account and emails a verification link.
    ---
    summary: Sign up
    description: Same answer whether or not the address has an account (SEC-6).
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email, password]
            properties: {email: {type: string}, password: {type: string}, name: {type: string},
                         organisation_name: {type: string}}
    responses:
      "202": {description: Check your email}
      "400": {description: Invalid input}
      "429": {description: Rate limited}
    """
    invite_token = r.request.cookies.get(INVITE_COOKIE, "")
    locked = locked_kind = ""
    if invite_token and not r.api:
        with r.svc.sessions() as db:
            try:
                inv = invites.lookup(db, invite_token, r.ctx.now)
                locked, locked_kind = inv.email, inv.kind
            except shares.InviteInvalid:
                locked = ""
    if r.request.method == "GET":
        return r.page("signup.html", locked_email=locked, form={})
    form = accounts.SignUp(email=locked or r.get("email"), password=r.get("password"), name=r.get("name"),
                           organisation_name=r.get("organisation_name"))
    try:
        if locked:
            # SEC-4: from an invitation link the email is the invited one, whatever was posted.
            user_id = team.sign_up_from_invite(r.svc, r.ctx, invite_token, form)
            with r.svc.sessions.begin() as db:
                token, _ = accounts.open_session(db, r.ctx, user_id)
            r.set_cookie(SESSION_COOKIE, token, None)
            if locked_kind == "user":
                r.set_cookie(INVITE_COOKIE, "", 0)
                return r.done("/", flash="Welcome! Your account is ready.")
            return r.done("/invite", {"ok": True})
        accounts.sign_up(r.svc, r.ctx, form)
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return r.page("signup.html", status=400, locked_email=locked, error=exc.message,
                      form={"email": form.email, "name": form.name, "organisation_name": form.organisation_name})
    if r.api:
        return r.done("", {"ok": True, "next": "check your email"}, status=202)
    return r.page("message.html", title="Check your email",
                  message=f"We sent a link to {form.email.strip()}. Open it to activate your account.",
                  code="check_email")


@endpoint(login=False)
def verify_page(r: Req) -> Response:
    """GET only renders (SEC-5): mail scanners may fetch it without activating anything."""
    token = r.request.path_params["token"]
    if not accounts.peek_verification(r.svc, token, r.ctx.now):
        raise shares.InviteInvalid()
    return r.page("verify.html", token=token)


@endpoint(login=False)
def verify(r: Req) -> Response:
    """Confirm an email address with the token from the verification email.
    ---
    summary: Verify email
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [token], properties: {token: {type: string}}}
    responses:
      "200": {description: Verified; logged in (the response holds a session token for the API)}
      "410": {description: Invalid, used or expired link}
    """
    user_id = accounts.verify_email(r.svc, r.ctx, r.get("token"))
    with r.svc.sessions.begin() as db:
        token, csrf = accounts.open_session(db, r.ctx, user_id)
    if r.api:
        return r.done("", {"ok": True, "session_token": token, "csrf_token": csrf})
    r.set_cookie(SESSION_COOKIE, token, None)
    return r.done("/", flash="Your email address is confirmed. Welcome!")


@endpoint(login=False)
def login(r: Req) -> Response:
    """Log in with email and password; the API answer carries a bearer session token.
    ---
    summary: Log in (open a session)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email, password]
            properties: {email: {type: string}, password: {type: string}}
    responses:
      "200": {description: "{session_token, csrf_token}: send 'Authorization: Bearer <session_token>'"}
      "403": {description: Wrong email or password, or email not verified}
      "429": {description: Rate limited}
    """
    nxt = _safe_next(r.request.query_params.get("next", "") or r.get("next", "/"))
    if r.request.method == "GET":
        return r.page("login.html", next=nxt, email="")
    try:
        user_id = accounts.authenticate(r.svc, r.ctx, r.get("email"), r.get("password"))
    except (shares.NotAllowed, shares.RateLimited) as exc:
        if r.api:
            raise
        return r.page("login.html", status=403 if isinstance(exc, shares.NotAllowed) else 429, next=nxt,
                      email=r.get("email"), error=exc.message)
    with r.svc.sessions.begin() as db:
        token, csrf = accounts.open_session(db, r.ctx, user_id)
    if r.api:
        return r.done("", {"session_token": token, "csrf_token": csrf})
    r.set_cookie(SESSION_COOKIE, token, None)
    return r.done(nxt)


@endpoint(login=False)
def logout(r: Req) -> Response:
    """End the session (server-side: the token stops working at once).
    ---
    summary: Log out
    responses:
      "200": {description: Logged out}
    """
    token = r.request.headers.get("authorization", "")[7:].strip() if r.api else r.request.cookies.get(SESSION_COOKIE, "")
    with r.svc.sessions.begin() as db:
        accounts.close_session(db, token)
    r.set_cookie(SESSION_COOKIE, "", 0)
    nxt = _safe_next(r.get("next", "/login"))
    return r.done(nxt)


@endpoint()
def home(r: Req) -> Response:
    """The signed-in user's overview: organisations, connections shared with them, open requests.
    ---
    summary: Who am I, and what can I reach
    responses:
      "200": {description: "{user, organisations, shared_connections, open_requests}"}
    """
    assert r.user is not None
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)
        my_orgs = orgs.organisations_of(db, user)
        shared = orgs.shared_with(db, user)
        inbox = [x for x in requests.inbox(db, user) if x[0].status == "pending"]
        deletions = [o for _, o in deletion.pending_for(db, user)]
        environment_name = db.get(Environment, user.environment_id).name
    if r.api:
        return r.done("", {
            "user": {"id": r.user.id, "email": r.user.email, "environment_role": r.user.environment_role},
            "organisations": [{"id": o.id, "name": o.name, "role": role} for o, role in my_orgs],
            "shared_connections": [{"connection_id": c.id, "kind": c.kind, "organisation": o.name,
                                    "share_id": s.id, "rights": s.rights.split(",")} for s, c, o in shared],
            "open_requests": len(inbox),
        })
    return r.page("home.html", orgs=my_orgs, shared=shared, open_requests=len(inbox), deletions=deletions,
                  environment_name=environment_name)


@endpoint()
def organisation_new(r: Req) -> Response:
    """Add an organisation (with its Peppol identifiers, checked with ubl) to your environment.
    ---
    summary: Create an organisation
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [name, identifiers]
            properties:
              name: {type: string}
              identifiers: {type: array, items: {type: string}, example: ["0208:0123456749"]}
              held_for: {type: string, enum: [client, own], default: client,
                description: "client: you register it for a client (who can take it over by accepting your
                  authorisation request); own: your environment's own organisation"}
    responses:
      "201": {description: "{id}"}
      "400": {description: Invalid name or identifier (ICD, format, check digit)}
    """
    if r.request.method == "GET":
        if r.request.query_params.get("own"):  # "Add <your firm>" on a new accountant's home page
            with r.svc.sessions() as db:
                name = db.get(Environment, db.get(User, r.user.id).environment_id).name  # type: ignore[union-attr]
            return r.page("org_new.html", form={"held_for": "own", "name": name})
        return r.page("org_new.html", form={"held_for": "client"})
    idents = r.getlist("identifiers") if r.api else [t for t in r.get("identifiers").replace(",", "\n").splitlines()]
    try:
        with r.svc.sessions.begin() as db:
            user = db.get(User, r.user.id)  # type: ignore[union-attr]
            org = orgs.create_organisation(db, r.ctx, user, r.get("name"), idents,
                                           held_for=r.get("held_for") or "client")
            activation.on_created(db, r.ctx, r.svc, user, org)  # the node's operator vouches at once
            org_id = org.id
    except shares.InvalidInput as exc:
        if r.api:
            raise
        return r.page("org_new.html", status=400, error=exc.message,
                      form={"name": r.get("name"), "identifiers": r.get("identifiers"),
                            "held_for": r.get("held_for") or "client"})
    return r.done(f"/orgs/{org_id}", {"id": org_id}, flash="Organisation added.", status=201)


@endpoint()
def members_list(r: Req) -> Response:
    """Members of an organisation (W2).
    ---
    summary: List members
    responses:
      "200": {description: "[{membership_id, email, role, status}]"}
      "403": {description: No membership}
    """
    org_id = r.path_int("org_id")
    with r.svc.sessions() as db:
        orgs.require_member(db, db.get(User, r.user.id), org_id)  # type: ignore[union-attr]
        rows = orgs.members(db, org_id)
        data = [{"membership_id": m.id, "email": u.email, "role": m.role, "status": m.status} for m, u in rows]
    return r.done("", data)  # type: ignore[arg-type]


@endpoint()
def members(r: Req) -> Response:
    """Add a colleague of your environment to an organisation (org admins only; W2).
    ---
    summary: Add a member
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [email]
            properties: {email: {type: string}, role: {type: string, enum: [member, org_admin]}}
    responses:
      "200": {description: Added}
      "403": {description: Not an org admin}
    """
    org_id = r.path_int("org_id")
    try:
        with r.svc.sessions.begin() as db:
            orgs.add_member(db, r.ctx, db.get(User, r.user.id), org_id, r.get("email"), r.get("role", "member"))  # type: ignore[union-attr]
    except shares.InvalidInput as exc:
        if r.api:
            raise
        from .sharing import organisation_page

        return organisation_page(r, org_id, status=400, member_error=exc.message,
                                 member_form={"email": r.get("email"), "role": r.get("role", "member")})
    return r.done(f"/orgs/{org_id}", flash="Member added.")


@endpoint()
def member_remove(r: Req) -> Response:
    """Remove a member; effective on their next request (SEC-9).
    ---
    summary: Remove a member
    responses:
      "200": {description: Removed}
      "403": {description: Not an org admin}
    """
    org_id, mid = r.path_int("org_id"), r.path_int("membership_id")
    with r.svc.sessions.begin() as db:
        orgs.remove_member(db, r.ctx, db.get(User, r.user.id), org_id, mid)  # type: ignore[union-attr]
    return r.done(f"/orgs/{org_id}", flash="Member removed.")


@endpoint()
def member_role(r: Req) -> Response:
    """Change a member's role on the organisation.
    ---
    summary: Change a member's role
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [role], properties: {role: {type: string, enum: [member, org_admin]}}}
    responses:
      "200": {description: Changed}
    """
    org_id, mid = r.path_int("org_id"), r.path_int("membership_id")
    with r.svc.sessions.begin() as db:
        orgs.set_role(db, r.ctx, db.get(User, r.user.id), org_id, mid, r.get("role"))  # type: ignore[union-attr]
    return r.done(f"/orgs/{org_id}", flash="Role changed.")


@endpoint()
def org_audit(r: Req) -> Response:
    """The organisation's audit log, for its org admins (SEC-10).
    ---
    summary: Audit log of an organisation
    responses:
      "200": {description: "[{at, actor, action, object, before, after, ip}]"}
      "403": {description: Not an org admin}
    """
    org_id = r.path_int("org_id")
    with r.svc.sessions() as db:
        org = orgs.require_member(db, db.get(User, r.user.id), org_id, admin=True)  # type: ignore[union-attr]
        events = _events(db, audit.for_organisation(db, org_id))
    if r.api:
        return r.done("", events)  # type: ignore[arg-type]
    return r.page("audit.html", title=f"Audit log – {org.name}", events=events)


@endpoint()
def my_activity(r: Req) -> Response:
    """Your own actions (SEC-10 ★: the actor sees their own events).
    ---
    summary: My audit events
    responses:
      "200": {description: "[{at, action, object, before, after, ip}]"}
    """
    with r.svc.sessions() as db:
        events = _events(db, audit.by_actor(db, r.user.id))  # type: ignore[union-attr]
    if r.api:
        return r.done("", events)  # type: ignore[arg-type]
    return r.page("audit.html", title="My activity", events=events)


def _events(db, rows) -> list[dict]:
    emails = dict(db.execute(sa.select(User.id, User.email).where(
        User.id.in_({e.actor_user_id for e in rows if e.actor_user_id}))).all())
    return [{"at": e.at.isoformat(timespec="seconds"), "actor": emails.get(e.actor_user_id, "system"),
             "action": e.action, "object": f"{e.object_type} {e.object_id or ''}".strip(), "before": e.before,
             "after": e.after, "ip": e.ip} for e in rows]


@endpoint()
def team_page(r: Req) -> Response:
    """The environment's users and their roles; admins invite colleagues and change roles (W2, E7).
    ---
    summary: Users of my environment
    responses:
      "200": {description: "{users: [{id, email, role, relationship_manager}], pending: [{invitation_id, email, expires_at}]}"}
    """
    with r.svc.sessions() as db:
        user = db.get(User, r.user.id)  # type: ignore[union-attr]
        people = team.colleagues(db, user)
        waiting = team.pending(db, user) if user.environment_role == "admin" else []
    if r.api:
        return r.done("", {"users": [{"id": u.id, "email": u.email, "role": u.environment_role,
                                      "relationship_manager": u.relationship_manager} for u in people],
                           "pending": [{"invitation_id": i.id, "email": i.email,
                                        "expires_at": i.expires_at.isoformat()} for i in waiting]})
    return r.page("team.html", people=people, waiting=waiting, roles=team.ENVIRONMENT_ROLES)


@endpoint()
def team_invite(r: Req) -> Response:
    """Invite a colleague into your environment (admins; the colleague starts as basic).
    ---
    summary: Invite a colleague
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [email], properties: {email: {type: string}}}
    responses:
      "200": {description: "{invitation_id}"}
      "403": {description: Not an environment admin}
    """
    inv = team.invite_colleague(r.svc, r.ctx, r.user.id, r.get("email"))  # type: ignore[union-attr]
    return r.done("/team", {"invitation_id": inv}, flash="Invitation sent.")


@endpoint()
def team_withdraw(r: Req) -> Response:
    """Withdraw a colleague invitation; its link dies at once.
    ---
    summary: Withdraw a colleague invitation
    responses:
      "200": {description: Withdrawn}
    """
    team.withdraw(r.svc, r.ctx, r.user.id, r.path_int("invitation_id"))  # type: ignore[union-attr]
    return r.done("/team", flash="Invitation withdrawn.")


@endpoint()
def team_role(r: Req) -> Response:
    """Change a colleague's environment role (basic, advanced, admin).
    ---
    summary: Change an environment role
    requestBody:
      content:
        application/json:
          schema: {type: object, required: [role], properties: {role: {type: string, enum: [basic, advanced, admin]}}}
    responses:
      "200": {description: Changed}
      "403": {description: Not an environment admin}
    """
    team.set_role(r.svc, r.ctx, r.user.id, r.path_int("user_id"), r.get("role"))  # type: ignore[union-attr]
    return r.done("/team", flash="Role changed.")


async def root_redirect(request) -> Response:  # pragma: no cover - trivial
    return RedirectResponse("/", status_code=303)


def routes(node: Node) -> list[BaseRoute]:
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from ._session import HERE

    html = dict(include_in_schema=False)
    return [
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        Route("/", home, methods=["GET"], **html),
        Route("/signup", signup, methods=["GET", "POST"], **html),
        Route("/verify/{token}", verify_page, methods=["GET"], **html),
        Route("/verify", verify, methods=["POST"], **html),
        Route("/login", login, methods=["GET", "POST"], **html),
        Route("/logout", logout, methods=["POST"], **html),
        Route("/orgs/new", organisation_new, methods=["GET", "POST"], **html),
        Route("/orgs/{org_id:int}/members", members, methods=["POST"], **html),
        Route("/orgs/{org_id:int}/members/{membership_id:int}/remove", member_remove, methods=["POST"], **html),
        Route("/orgs/{org_id:int}/members/{membership_id:int}/role", member_role, methods=["POST"], **html),
        Route("/orgs/{org_id:int}/audit", org_audit, methods=["GET"], **html),
        Route("/activity", my_activity, methods=["GET"], **html),
        Route("/team", team_page, methods=["GET"], **html),
        Route("/team/invite", team_invite, methods=["POST"], **html),
        Route("/team/invitations/{invitation_id:int}/withdraw", team_withdraw, methods=["POST"], **html),
        Route("/team/users/{user_id:int}/role", team_role, methods=["POST"], **html),
        # JSON API twins
        Route("/api/signup", signup, methods=["POST"]),
        Route("/api/verify", verify, methods=["POST"]),
        Route("/api/session", login, methods=["POST"]),
        Route("/api/session/logout", logout, methods=["POST"]),
        Route("/api/me", home, methods=["GET"]),
        Route("/api/organisations", organisation_new, methods=["POST"]),
        Route("/api/organisations/{org_id:int}/members", members_list, methods=["GET"]),
        Route("/api/organisations/{org_id:int}/members", members, methods=["POST"]),
        Route("/api/organisations/{org_id:int}/members/{membership_id:int}/remove", member_remove, methods=["POST"]),
        Route("/api/organisations/{org_id:int}/members/{membership_id:int}/role", member_role, methods=["POST"]),
        Route("/api/organisations/{org_id:int}/audit", org_audit, methods=["GET"]),
        Route("/api/activity", my_activity, methods=["GET"]),
        Route("/api/team", team_page, methods=["GET"]),
        Route("/api/team/invite", team_invite, methods=["POST"]),
        Route("/api/team/invitations/{invitation_id:int}/withdraw", team_withdraw, methods=["POST"]),
        Route("/api/team/users/{user_id:int}/role", team_role, methods=["POST"]),
    ]
