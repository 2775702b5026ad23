"""Every route of the node's web application, asked by someone who should not get in.

The routes are enumerated from `create_app(node).routes`, so a route added later
is checked without anyone remembering to: it must refuse an anonymous caller
unless it is on PUBLIC below, with the reason it is public. Objects in the paths
are real (Alice's organisation, its connections and her membership), so a 403
means "refused", not "no such thing"; Alice herself gets 200 on the same paths,
which shows the ids are right.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from accesspoint.config import load_settings
from accesspoint.node import Node
from accesspoint.web.app import create_app

#: (method, path template) anyone may call, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness for Docker and the proxy; says only ok/unhealthy and the seat id",
    ("GET", "/static"): "our CSS",
    ("GET", "/"): "landing page (shows the user's home only with a session)",
    ("GET", "/signup"): "sign-up form",
    ("POST", "/signup"): "sign-up (CSRF-checked, rate-limited, email-verified)",
    ("POST", "/api/signup"): "sign-up, API twin",
    ("GET", "/verify/{token}"): "email verification link (the token is the credential)",
    ("POST", "/verify"): "email verification (the token is the credential)",
    ("POST", "/api/verify"): "email verification, API twin",
    ("GET", "/login"): "login form",
    ("POST", "/login"): "login (rate-limited)",
    ("POST", "/api/session/logout"): "logging out without a session does nothing",
    ("POST", "/api/session"): "login, API twin",
    ("GET", "/i/{token}"): "invitation link (the token is the credential)",
    ("POST", "/i"): "invitation token exchange (the token is the credential)",
    ("GET", "/invite"): "invitation landing after the token exchange (reads the invite cookie)",
    ("GET", "/openapi.json"): "the API's published description",
    ("POST", "/as4"): "the AS4 endpoint: each message is authenticated by its WS-Security signature and the "
                      "sender's Peppol AP certificate, not a session (tests/hostile/test_signature_wrapping.py)",
    ("GET", "/d/{token}"): "document link from an email (the token is the credential)",
    ("POST", "/d/{token}"): "document link actions (the token is the credential)",
    ("POST", "/api/invitations/preview"): "invitation preview (the invite token is the credential)",
    ("GET", "/smp/{path:path}"): "SMP answers are public by design (Peppol SMP 1.x); writes need the write token",
    ("GET", "/metrics"): "Prometheus counters, no names or ids; the proxy of docker/ does not forward it",
}


@dataclass
class World:
    client: TestClient
    node: Node
    alice_token: str
    alice_csrf: str
    mallory_token: str
    mallory_csrf: str
    ids: dict[str, int | str]


def _routes(app, prefix: str = "") -> Iterator[tuple[str, str]]:  # noqa: ANN001
    for route in app.routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner:  # a mounted application (the SMP): check its own routes
                yield from _routes(route.app, prefix + route.path)
            else:  # static files
                yield "GET", prefix + route.path
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, prefix + route.path
        else:  # a WebSocketRoute or something new: it must be added to this test deliberately
            raise AssertionError(f"unexpected route type {type(route).__name__}: teach this test about it")


ROUTES: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from accesspoint.db.tables.accounts import Membership
    from accesspoint.db.tables.documents import OutboxUpload
    from accesspoint.sharing import Context, accounts, orgs
    from tests.accesspoint.helpers import invoice
    from accesspoint.sharing.accounts import SignUp
    from accesspoint.web._session import services

    from accesspoint.init import init_node

    directory = init_node(tmp_path_factory.mktemp("webauth") / "node")
    node = Node(load_settings(directory, environ={"PEPPOL_REVOCATION_ENABLED": "false", "PEPPOL_SML_LOCAL": "false",
                                                  "PEPPOL_SMTP_PORT": "9"}))
    app = create_app(node)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        svc = services(node)
        ctx = Context(now=node.now())
        with node.sessions.begin() as db:
            alice = accounts.create_verified_user(db, svc, ctx, SignUp("alice@example.com", "correct horse battery"))
            mallory = accounts.create_verified_user(db, svc, ctx, SignUp("mallory@example.com", "staple gun paper 9"))
            org = orgs.create_organisation(db, ctx, alice, "Alice BV", ["0208:0123456749"])
            mallory_org = orgs.create_organisation(db, ctx, mallory, "Mallory BV", ["0208:0987654394"])
            org.status = "active"  # approved (W1.3), so the sending routes answer the owner too
            connection_id = orgs.connections_of(db, org.id)["peppol_sales"].id
            membership_id = db.scalar(sa.select(Membership.id).where(Membership.user_id == alice.id))
            a_token, a_csrf = accounts.open_session(db, ctx, alice.id)
            m_token, m_csrf = accounts.open_session(db, ctx, mallory.id)
            # An upload waiting for its second click (W8.2 preflight), so /uploads/{upload_id}/... is real.
            upload_id = str(uuid.uuid4())
            db.add(OutboxUpload(public_id=upload_id, connection_id=connection_id, user_id=alice.id,
                                content=invoice("UP-1", seller="0208:0123456749"), created_at=ctx.now))
            ids = {"org_id": org.id, "connection_id": connection_id, "membership_id": membership_id,
                   "upload_id": upload_id,
                   "_mallory_org_id": mallory_org.id, "_alice_id": alice.id, "_mallory_id": mallory.id}
        ROUTES[:] = list(_routes(app))
        yield World(client, node, a_token, a_csrf, m_token, m_csrf, ids)


def concrete(path: str, ids: dict[str, int]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(ids.get(name, 1)) if name in ids or match.group(2) == "int" else "x" + secrets.token_hex(8)
    return re.sub(r"\{(\w+)(?::(\w+))?\}", fill, path)


#: A plausible body for every form, so a handler that validates before it authorises still gets to its
#: authorisation check (an empty form could be refused as 400 and hide a missing membership check).
PLAUSIBLE = {"email": "victim@example.com", "connections": ["peppol_sales"], "role": "org_admin",
             "name": "Forged", "identifiers": "0208:0123456749", "message": "hi"}


def call(world: World, method: str, path: str, *, token: str | None = None, csrf: str | None = None):
    """One request; unsafe ones carry a valid CSRF token, so what is tested is the login/membership rule."""
    url = concrete(path, world.ids)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if token is not None:
        cookies["pn_session"] = token
    if csrf is None:  # anonymous: the CSRF token the site hands any visitor
        csrf = secrets.token_urlsafe(32)
        cookies["pn_csrf"] = csrf
    world.client.cookies.clear()
    for k, v in cookies.items():
        world.client.cookies.set(k, v)
    if method == "GET":
        return world.client.get(url, headers=headers)
    if url.startswith("/api/"):
        headers["x-csrf-token"] = csrf
        return world.client.request(method, url, headers=headers, json=PLAUSIBLE)
    return world.client.request(method, url, headers=headers, data={**PLAUSIBLE, "csrf": csrf})


def refused(response) -> bool:  # noqa: ANN001
    if response.status_code in (401, 403):
        return True
    return response.status_code in (302, 303, 307) and response.headers["location"].startswith("/login")


def test_the_allow_list_names_only_routes_that_exist(world: World) -> None:
    stale = set(PUBLIC) - set(ROUTES)
    assert not stale, f"PUBLIC lists routes the app no longer has: {stale}"


def test_every_non_public_route_refuses_an_anonymous_caller(world: World) -> None:
    open_routes = []
    for method, path in ROUTES:
        if (method, path) in PUBLIC:
            continue
        response = call(world, method, path)
        if not refused(response):
            open_routes.append((method, path, response.status_code))
    assert not open_routes, f"reachable without a session: {open_routes}"


def test_a_forged_or_stale_session_cookie_is_anonymous(world: World) -> None:
    for token in ("", "x" * 43, world.alice_token[:-2] + "AA", world.alice_token + "\x00"):
        response = call(world, "GET", "/api/me", token=token)
        assert response.status_code == 401, token


MEMBER_ONLY = re.compile(r"\{(org_id|connection_id|membership_id)")


def test_a_logged_in_outsider_cannot_reach_another_organisation(world: World) -> None:
    checked, leaked = 0, []
    for method, path in ROUTES:
        if not MEMBER_ONLY.search(path) or path.startswith("/api/v1/"):
            continue  # /api/v1 takes no session at all (below); its keys are checked further down
        checked += 1
        response = call(world, method, path, token=world.mallory_token, csrf=world.mallory_csrf)
        if response.status_code not in (403, 404):
            leaked.append((method, path, response.status_code))
    assert checked >= 10
    assert not leaked, f"Mallory reached Alice's organisation: {leaked}"


def test_the_owner_gets_in_on_the_same_paths(world: World) -> None:
    """The negative tests above are only meaningful if these ids are real."""
    gets = [p for m, p in ROUTES if m == "GET" and MEMBER_ONLY.search(p) and not p.startswith("/api/v1/")]
    assert gets
    for path in gets:
        response = call(world, "GET", path, token=world.alice_token, csrf=world.alice_csrf)
        assert response.status_code == 200, (path, response.status_code)


def test_the_documents_api_wants_the_api_token_not_a_session(world: World) -> None:
    api = [(m, p) for m, p in ROUTES if p.startswith("/api/v1/")]
    assert api
    for method, path in api:
        for bearer in (world.alice_token, "", world.node.settings.web.api_token[:-1]):
            world.client.cookies.clear()
            url = concrete(path, world.ids)
            response = world.client.request(method, url, headers={"authorization": f"Bearer {bearer}"})
            assert response.status_code == 401, (method, path)


def test_a_connection_key_reaches_only_its_own_organisation_on_api_v1(world: World) -> None:
    """/api/v1 routes of an organisation: Mallory's key gets 403/404 on Alice's, Alice's key gets in."""
    from accesspoint.sharing import Context, keys
    from accesspoint.web._session import services

    svc, ctx = services(world.node), Context(now=world.node.now())
    alice_key = keys.issue(svc, ctx, world.ids["_alice_id"], world.ids["org_id"], "alice's").secret
    mallory_key = keys.issue(svc, ctx, world.ids["_mallory_id"], world.ids["_mallory_org_id"], "mallory's").secret
    routes = [(m, p) for m, p in ROUTES if p.startswith("/api/v1/") and MEMBER_ONLY.search(p)]
    assert routes
    leaked = []
    for method, path in routes:
        world.client.cookies.clear()
        url = concrete(path, world.ids)
        response = world.client.request(method, url, headers={"authorization": f"Bearer {mallory_key}"},
                                        json=PLAUSIBLE if method != "GET" else None)
        if response.status_code not in (403, 404):
            leaked.append((method, path, response.status_code))
        if method == "GET":
            own = world.client.get(url, headers={"authorization": f"Bearer {alice_key}"})
            # Trusted senders are the org admins' (W7.1): even its own organisation's key gets 403 there.
            assert own.status_code == (403 if "/trusted-senders" in path else 200), (path, own.status_code)
    assert not leaked, f"Mallory's key reached Alice's organisation: {leaked}"


def test_unsafe_requests_without_csrf_are_refused_even_with_a_session(world: World) -> None:
    for method, path in ROUTES:
        if method != "POST" or path.startswith(("/api/", "/as4", "/smp/", "/d/")):
            continue  # JSON APIs, AS4 and token links do not take a session cookie as credential
        world.client.cookies.clear()
        world.client.cookies.set("pn_session", world.alice_token)
        response = world.client.post(concrete(path, world.ids), data={"csrf": "wrong"})
        assert response.status_code in (403, 404), (path, response.status_code)


# --- form posts and JSON bodies from a hostile client ------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIELDS = ["email", "password", "name", "token", "connections", "role", "identifiers", "csrf", "next", "kind",
          "organisation_name", "message", "payer", "rights", "code"]
VALUES = st.one_of(st.text(alphabet=st.characters(blacklist_categories=()), max_size=80),
                   st.sampled_from(["\ud800", "\x00", "' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd",
                                    "a" * 5000, "0208:0123456749", "alice@example.com", "-1", "1e309"]))
BODIES = st.dictionaries(st.sampled_from(FIELDS), st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=6)


@settings(max_examples=60, deadline=None, derandomize=bool(__import__("os").environ.get("CI")),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_form_posts_and_json_bodies_never_crash_the_app(world: World, data: st.DataObject) -> None:
    """Any body to any POST route, as Mallory or anonymous: a 4xx or a page, never a 500 (TestClient re-raises)."""
    posts = [p for m, p in ROUTES if m == "POST"]
    path = data.draw(st.sampled_from(posts))
    body = data.draw(BODIES)
    who = data.draw(st.sampled_from(["anonymous", "mallory"]))
    world.client.cookies.clear()
    csrf = world.mallory_csrf if who == "mallory" else "c" * 43
    if who == "mallory":
        world.client.cookies.set("pn_session", world.mallory_token)
    else:
        world.client.cookies.set("pn_csrf", csrf)
    url = concrete(path, world.ids)
    response = _post(world, url, body, csrf)
    assert response.status_code < 500, (path, body, response.status_code)


def _post(world: World, url: str, body: dict, csrf: str):  # noqa: ANN202
    if url.startswith("/api/"):
        import json  # ensure_ascii writes a lone surrogate as \ud800, as a hostile client may
        return world.client.post(url, content=json.dumps(body).encode(),
                                 headers={"x-csrf-token": csrf, "content-type": "application/json"})
    else:
        form = {k: (v if isinstance(v, list) else [v]) for k, v in body.items()}
        form["csrf"] = [csrf]
        encoded = [(k, x.encode("utf-8", "surrogatepass")) for k, vs in form.items() for x in vs]
    return world.client.post(url, content=_urlencode(encoded),
                             headers={"content-type": "application/x-www-form-urlencoded"})


def _urlencode(pairs: list[tuple[str, bytes]]) -> bytes:
    from urllib.parse import quote_from_bytes

    return "&".join(f"{k}={quote_from_bytes(v)}" for k, v in pairs).encode()


@pytest.mark.parametrize("path", ["/api/verify", "/api/invitations/accept", "/api/invitations/decline"])
def test_a_lone_surrogate_token_in_json_is_refused_not_a_crash(world: World, path: str) -> None:
    world.client.cookies.clear()
    world.client.cookies.set("pn_session", world.mallory_token)
    response = world.client.post(path, content=b'{"token": "\\ud800"}',
                                 headers={"content-type": "application/json", "x-csrf-token": world.mallory_csrf})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("token", ["%00", "a" * 10000, "..%2f..%2fetc%2fpasswd", "%ED%A0%80"])
def test_hostile_invite_and_verify_links_are_refused_cleanly(world: World, token: str) -> None:
    world.client.cookies.clear()
    for path in ("/i/", "/verify/"):
        response = world.client.get(path + token)
        assert response.status_code < 500
