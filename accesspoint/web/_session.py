"""What every page and API endpoint of the account area shares: who is asking, CSRF, rendering, errors.

`endpoint(...)` wraps a *synchronous* handler (run in the thread pool, since it
uses the database and scrypt). Per request it reads the session row and the user
fresh from the database - no role or share is cached anywhere (SEC-9) - checks
CSRF on every unsafe HTML request, and maps `shares.ShareError` to a clear page
or a JSON error. The same handler serves the HTML form route and its `/api/...`
twin: `Req.api` tells which, and `Req.done(...)` answers either way.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

import shares
from accesspoint.db.tables.accounts import User, WebSession
from accesspoint.sharing import Context, Services, accounts, activation, services_for

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["endpoint", "Req", "services", "templates", "SESSION_COOKIE", "INVITE_COOKIE"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SESSION_COOKIE = "pn_session"
CSRF_COOKIE = "pn_csrf"
INVITE_COOKIE = "pn_invite"
FLASH_COOKIE = "pn_flash"

_STATUS = {
    shares.ShareErrorCode.INVALID_INPUT: 400,
    shares.ShareErrorCode.INVALID_TRANSITION: 409,
    shares.ShareErrorCode.INVITE_INVALID: 410,
    shares.ShareErrorCode.INVITE_FOR_OTHER_ADDRESS: 403,
    shares.ShareErrorCode.NOT_ALLOWED: 403,
    shares.ShareErrorCode.RATE_LIMITED: 429,
}
_TITLES = {
    shares.ShareErrorCode.INVITE_INVALID: "This link does not work",
    shares.ShareErrorCode.INVITE_FOR_OTHER_ADDRESS: "This invitation is for another address",
    shares.ShareErrorCode.NOT_ALLOWED: "No access",
    shares.ShareErrorCode.RATE_LIMITED: "Too many attempts",
    shares.ShareErrorCode.INVALID_TRANSITION: "That is no longer possible",
    shares.ShareErrorCode.INVALID_INPUT: "Please check your input",
}

# Pages only load our own CSS; invoices render in a sandboxed frame of their own.
_CSP = ("default-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def services(node: Node) -> Services:
    """The sharing services of this node, built once per node."""
    return services_for(node)


@dataclass
class Req:
    request: Request
    node: Any
    svc: Services
    ctx: Context
    api: bool
    user: User | None
    session: WebSession | None
    csrf: str
    form: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    cookies_out: list[tuple[str, str, int | None]] = field(default_factory=list)

    # -- input ---------------------------------------------------------------------------
    def get(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value if isinstance(value, str) else str(value)

    def getlist(self, name: str) -> list[str]:
        if self.api:
            value = self.form.get(name, [])
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        return self.lists.get(name, [])

    def path_int(self, name: str) -> int:
        try:
            return int(self.request.path_params[name])
        except (KeyError, ValueError):
            raise shares.NotAllowed("Not found.") from None

    # -- output --------------------------------------------------------------------------
    def page(self, name: str, status: int = 200, **context: Any) -> Response:
        flash = self.request.cookies.get(FLASH_COOKIE, "")
        if flash:
            self.cookies_out.append((FLASH_COOKIE, "", 0))
        return templates.TemplateResponse(self.request, name, {
            "user": self.user, "csrf": self.csrf, "flash": flash, "labels": shares.CONNECTION_LABELS,
            # The node's operators see the activation review in the menu (W1.3).
            "operator": activation.is_operator(self.svc, self.user), **context,
        }, status_code=status)

    def done(self, redirect: str, data: dict[str, Any] | list[Any] | None = None, *, flash: str = "",
             status: int = 200) -> Response:
        if self.api:
            # An empty list is an answer ("none"), not an absent one.
            return JSONResponse(data if data is not None else {"ok": True}, status_code=status)
        if flash:
            self.cookies_out.append((FLASH_COOKIE, flash, 60))
        return RedirectResponse(redirect, status_code=303)

    def set_cookie(self, name: str, value: str, max_age: int | None) -> None:
        self.cookies_out.append((name, value, max_age))


def _client(request: Request) -> tuple[str, str]:
    ip = request.client.host if request.client else ""
    return ip, request.headers.get("user-agent", "")[:300]


def _session_token(request: Request) -> tuple[str, bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), True
    return request.cookies.get(SESSION_COOKIE, ""), False


def _error(r: Req, exc: shares.ShareError) -> Response:
    status = _STATUS.get(exc.code, 400)
    if r.api:
        return JSONResponse({"error": exc.code.value, "message": exc.message}, status_code=status)
    return r.page("message.html", status=status, title=_TITLES.get(exc.code, "Something went wrong"),
                  message=exc.message, code=exc.code.value)


def endpoint(*, login: bool = True) -> Callable[[Callable[[Req], Response]], Callable[[Request], Any]]:
    def wrap(handler: Callable[[Req], Response]) -> Callable[[Request], Any]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            node = request.app.state.node
            svc = services(node)
            api = request.url.path.startswith("/api/")
            ip, ua = _client(request)
            ctx = Context(now=node.now(), ip=ip, user_agent=ua)
            form: dict[str, Any] = {}
            lists: dict[str, list[str]] = {}
            unsafe = request.method not in ("GET", "HEAD")
            if unsafe:
                if api:
                    try:
                        body = await request.body()
                        form = json.loads(body) if body.strip() else {}
                        if not isinstance(form, dict):
                            raise ValueError
                    except ValueError:
                        return JSONResponse({"error": "invalid_input", "message": "Send a JSON object."}, 400)
                else:
                    data: FormData = await request.form()
                    form = {k: v for k, v in data.items() if isinstance(v, str)}
                    lists = {k: [v for v in data.getlist(k) if isinstance(v, str)] for k in data.keys()}
                    form["_files"] = {k: v for k, v in data.items() if not isinstance(v, str)}
            token, bearer = _session_token(request)
            return await run_in_threadpool(_run, handler, request, node, svc, ctx, api, unsafe, form, lists,
                                           token, bearer, login)

        return run

    return wrap


def _run(handler: Callable[[Req], Response], request: Request, node: Any, svc: Services, ctx: Context, api: bool,
         unsafe: bool, form: dict[str, Any], lists: dict[str, list[str]], token: str, bearer: bool,
         login: bool) -> Response:
    with svc.sessions() as db:
        found = accounts.load_session(db, token, ctx.now)
        db.expunge_all()
    session, user = found if found else (None, None)
    anon_csrf = request.cookies.get(CSRF_COOKIE, "")
    new_anon = False
    if session is not None:
        csrf = session.csrf_token
    else:
        if not anon_csrf:
            anon_csrf, new_anon = secrets.token_urlsafe(32), True
        csrf = anon_csrf
    r = Req(request, node, svc, ctx, api, user, session, csrf, form, lists)
    if new_anon:
        r.set_cookie(CSRF_COOKIE, anon_csrf, None)
    # CSRF guards ambient credentials. API calls with a bearer token, or with no session cookie at all
    # (sign-up, verify, login: they answer with a token and set no cookie), carry none.
    exempt = api and (bearer or not request.cookies.get(SESSION_COOKIE))
    if unsafe and not exempt:
        sent = request.headers.get("x-csrf-token", "") if api else str(form.get("csrf", ""))
        if not sent or not shares.tokens_equal(sent, csrf):
            if api:
                response: Response = JSONResponse({"error": "csrf", "message": "Missing or wrong CSRF token."}, 403)
            else:
                response = r.page("message.html", status=403, title="Please try again",
                                  message="This form was stale or came from another site. Go back, reload the "
                                          "page and submit it again.", code="csrf")
            return _finish(r, response)
    if login and user is None:
        if api:
            return _finish(r, JSONResponse({"error": "login_required", "message": "Log in first."}, 401))
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return _finish(r, RedirectResponse(f"/login?next={nxt}", status_code=303))
    try:
        response = handler(r)
    except shares.ShareError as exc:
        response = _error(r, exc)
    return _finish(r, response)


def _finish(r: Req, response: Response) -> Response:
    secure = r.svc.base_url.startswith("https://")
    for name, value, max_age in r.cookies_out:
        if max_age == 0:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
        else:
            response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")
    h = response.headers
    # SEC-1: no page of ours leaks its URL (which may hold a token) to another site.
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Content-Security-Policy", _CSP)
    h.setdefault("Cache-Control", "no-store")
    return response


def html_escape_json(value: Any) -> str:
    return json.dumps(value, default=str)


__all__ += ["HTMLResponse"]
