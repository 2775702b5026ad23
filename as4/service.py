"""The receiving HTTP endpoint: a Starlette app with POST /as4.

Thin on purpose: spool the body, hand it to `Receiver.handle` in a worker
thread (parsing, RSA and AES are CPU-bound; the event loop stays free for
other connections), store durably, then answer.

HTTP status: 200 with a signed signal for every ebMS outcome, receipt or
Error alike, because the signal *is* the answer of the One-Way/Push MEP and a
resend would get the same Error. 5xx only when we failed (storage down), which
tells the sender to retry later with the same MessageId.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from as4.blob import BlobWriter
from as4.errors import As4Error, MimeInconsistency
from as4.receiver import Receiver
from as4.store import MessageStore

__all__ = ["create_app"]

log = logging.getLogger("as4.service")


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(receiver: Receiver, store: MessageStore, *, clock: Callable[[], datetime] = _now,
               on_stored: Callable[[object], None] | None = None) -> Starlette:
    """An ASGI app answering AS4 on POST /as4; `store` gets each accepted message before its receipt."""

    async def as4_inbound(request: Request) -> Response:
        at = clock()
        content_type = request.headers.get("content-type", "")
        spool = BlobWriter(limit=receiver.policy.max_message_bytes)
        try:
            async for chunk in request.stream():
                spool.write(chunk)
        except OverflowError:
            spool.finish().close()
            signal = await run_in_threadpool(
                receiver.error, MimeInconsistency("message is larger than the limit"), at=at)
            return Response(signal.body, 200, media_type=signal.content_type)
        body = spool.finish()
        try:
            handled = await run_in_threadpool(receiver.handle, content_type, body.chunks(), at=at)
        finally:
            body.close()
        if handled.error is not None:
            log.info("rejected %s: %s", handled.error.ref_to_message_id, handled.error)
        if handled.response is None:
            return Response(b"", 200)
        if handled.document is None:
            return Response(handled.response.body, 200, media_type=handled.response.content_type)
        try:
            stored = await run_in_threadpool(store.store, handled.document, handled.response)
        except As4Error as exc:  # a store may refuse a message on business grounds
            signal = await run_in_threadpool(receiver.error, exc.with_ref(handled.document.message_id), at=at)
            return Response(signal.body, 200, media_type=signal.content_type)
        except Exception:  # noqa: BLE001 - storage failure: no receipt, sender retries
            log.exception("storing %s failed", handled.document.message_id)
            return Response(b"storage unavailable", 503, media_type="text/plain")
        finally:
            for payload in handled.document.payloads:
                payload.content.close()
        if on_stored is not None and not stored.duplicate:
            on_stored(handled.document)
        return Response(stored.receipt, 200, media_type=handled.response.content_type)

    return Starlette(routes=[Route("/as4", as4_inbound, methods=["POST"])])
