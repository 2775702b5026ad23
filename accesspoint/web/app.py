"""The composition of the node's ASGI application.

Each area of the node contributes routes from its own module in this package:
a module exposing `routes(node) -> list[BaseRoute]` is mounted automatically,
so areas (AS4 endpoint, SMP, local SML, accounts and shares, documents, API)
never edit each other's files. `node` is the `accesspoint.node.Node` holding
settings, database and services.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["create_app"]


async def healthz(request: Request) -> Response:
    node: Node = request.app.state.node
    ok, detail = node.health()
    return JSONResponse({"status": "ok" if ok else "unhealthy", **detail}, status_code=200 if ok else 503)


#: Modules whose routes are tried first. Starlette tries routes in order, a regular expression
#: each; every AS4 message came after some fifty page and API routes (accounts, activation,
#: api_documents sort before as4), and the message endpoint is the node's hot path.
FIRST = ("as4",)


def collect_routes(node: Node) -> list[BaseRoute]:
    from accesspoint import web

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    modules = sorted(pkgutil.iter_modules(web.__path__), key=lambda m: (m.name not in FIRST, m.name))
    for info in modules:
        if info.name.startswith("_") or info.name == "app":
            continue
        module = importlib.import_module(f"{web.__name__}.{info.name}")
        contribute = getattr(module, "routes", None)
        if contribute is not None:
            routes.extend(contribute(node))
    return routes


def create_app(node: Node) -> Starlette:
    app = Starlette(routes=collect_routes(node), lifespan=node.lifespan)
    app.state.node = node
    return app
