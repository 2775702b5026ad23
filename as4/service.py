"""The receiving HTTP endpoint: a Starlette app with POST /as4.

Thin on purpose: spool the body, then in one worker thread (parsing, RSA and
AES are CPU-bound; the event loop stays free for other connections) hand it to
`Receiver.handle`, store durably and build the answer.

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

from as4.blob import Blob, BlobWriter
from as4.errors import As4Error, MimeInconsistency
from as4.inbound import ReceivedDocument
from as4.receiver import Receiver
from as4.store import MessageStore

__all__ = ["create_app"]

log = logging.getLogger("as4.service")


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(receiver: Receiver, store: MessageStore, *, clock: Callable[[], datetime] = _now,
               on_stored: Callable[[object], None] | None = None) -> Starlette:
    """An ASGI app answering AS4 on POST /as4; `store` gets each accepted message before its receipt."""

    def answer(content_type: str, body: Blob, at: datetime) -> tuple[Response, ReceivedDocument | None]:
        """Handle, store and answer in one worker thread; the answer and the newly stored document.

        One hop to a thread and back per message rather than two (handle, then store): each
        hop wakes the event loop from another thread, which under load cost as much CPU as
        a database statement.
        """
        try:
            handled = receiver.handle(content_type, body.chunks(), at=at)
        finally:
            body.close()
        if handled.error is not None:
            log.info("rejected %s: %s", handled.error.ref_to_message_id, handled.error)
        if handled.response is None:
            return Response(b"", 200), None
        document = handled.document
        if document is None:
            return Response(handled.response.body, 200, media_type=handled.response.content_type), None
        try:
            stored = store.store(document, handled.response)
        except As4Error as exc:  # a store may refuse a message on business grounds
            signal = receiver.error(exc.with_ref(document.message_id), at=at)
            return Response(signal.body, 200, media_type=signal.content_type), None
        except Exception:  # noqa: BLE001 - storage failure: no receipt, sender retries
            log.exception("storing %s failed", document.message_id)
            return Response(b"storage unavailable", 503, media_type="text/plain"), None
        finally:
            for payload in document.payloads:
                payload.content.close()
        response = Response(stored.receipt, 200, media_type=handled.response.content_type)
        return response, None if stored.duplicate else document

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
        response, stored = await run_in_threadpool(answer, content_type, spool.finish(), at)
        if on_stored is not None and stored is not None:
            on_stored(stored)
        return response

    return Starlette(routes=[Route("/as4", as4_inbound, methods=["POST"])])
