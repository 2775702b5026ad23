"""`/d/{token}`: the document link in an email-fallback delivery, and the `opened` state.

GET only shows a page with a button (SEC-5: mail scanners such as Safe Links
pre-fetch every link, so a GET must not count as a person opening it). The
POST from that button moves the entry to `opened` and returns the document.
Unknown tokens get the same page and the same "not available" answer (SEC-6).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from accesspoint.delivery import UnknownEntry

if TYPE_CHECKING:
    from accesspoint.node import Node

_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your document</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto;">
<h1>A document was sent to you</h1>
<p>It was sent by email because your organisation could not be reached on the Peppol network.</p>
<form method="post" action="{action}"><button type="submit">Open the document</button></form>
</body></html>"""


def routes(node: Node) -> list[BaseRoute]:
    async def landing(request: Request) -> Response:
        action = html.escape(request.url.path)
        return HTMLResponse(_PAGE.format(action=action), headers=_HEADERS)

    async def open_document(request: Request) -> Response:
        from accesspoint.web.api_documents import delivery_of

        try:
            entry, content = await run_in_threadpool(delivery_of(node).outbox.open_link, request.path_params["token"])
        except UnknownEntry:
            return HTMLResponse("<p>This document is not available.</p>", status_code=404, headers=_HEADERS)
        safe = "".join(ch for ch in entry.number if ch.isalnum() or ch in "-_.") or "document"
        headers = dict(_HEADERS, **{"Content-Disposition": f'attachment; filename="{safe}.xml"'})
        return Response(content, media_type="application/xml", headers=headers)

    return [
        Route("/d/{token}", landing, methods=["GET"], include_in_schema=False),
        Route("/d/{token}", open_document, methods=["POST"], include_in_schema=False),
    ]
