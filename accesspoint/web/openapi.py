"""`/openapi.json`: the OpenAPI document of the node's JSON API.

Built from the routes themselves: each API endpoint carries its OpenAPI
description as YAML after a `---` line in its docstring (Starlette's
`SchemaGenerator` convention), so the document cannot drift from the code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

if TYPE_CHECKING:
    from accesspoint.node import Node

_generator = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {
            "title": "peppol-node API",
            "version": "1",
            "description": "Submit and track documents, manage shares and authorisation requests, "
                           "and publish participants. Authenticate with a session cookie (web app) "
                           "(then POSTs also need the `X-CSRF-Token` header) or `Authorization: Bearer <token>`.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "pn_session"},
            }
        },
    }
)


async def openapi(request: Request) -> Response:
    schema = _generator.get_schema(routes=request.app.routes)
    return JSONResponse(schema)


def routes(node: Node) -> list[BaseRoute]:
    return [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)]
