"""The receiving HTTP endpoint: a Starlette app with POST /as4.

Thin on purpose: spool the body, then in one worker thread (parsing, RSA and
AES are CPU-bound; the event loop stays free for other connections) hand it to
`Receiver.handle`, store durably and build the answer.

`create_app` is the endpoint as a Starlette app of its own; `inbound_endpoint` is the same
endpoint as a request handler, for an application that routes `/as4` itself (one framework
stack per message instead of two).

HTTP status: 200 with a signed signal for every ebMS outcome, receipt or
Error alike, because the signal *is* the answer of the One-Way/Push MEP and a
resend would get the same Error. 5xx only when we failed (storage down), which
tells the sender to retry later with the same MessageId.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from as4.blob import Blob, BlobWriter
from as4.errors import As4Error, MimeInconsistency
from as4.inbound import ReceivedDocument
from as4.receiver import Receiver
from as4.store import MessageStore

__all__ = ["create_app", "inbound_endpoint", "RECEIVE_THREADS"]

log = logging.getLogger("as4.service")


#: Worker threads per endpoint. Handling is CPU-bound under the GIL, but storing waits on the
#: database (a commit's fsync, a PostgreSQL round trip) with the GIL released, so more messages
#: than cores may be in a thread at once; the pool makes threads only as they are needed.
RECEIVE_THREADS = 32

_T = TypeVar("_T")


def _now() -> datetime:
    return datetime.now(UTC)


def _in_thread(executor: ThreadPoolExecutor) -> Callable[..., Awaitable[Any]]:
    """`await run(fn, *args, **kwargs)`: `fn` in one of the endpoint's threads, in a copied context.

    Not Starlette's `run_in_threadpool`: anyio's hop (capacity limiter, cancel scope, the
    sniffio look-up of the running library, a queue per worker thread) cost 60-80 us of CPU per
    call against 15-25 us for the event loop's `run_in_executor` (uvloop, 8 to 32 calls in
    flight). Own threads, not the loop's default executor: the node's delivery workers fill
    that one with `asyncio.to_thread`, and an incoming message must not queue behind them.
    Like anyio's, a cancelled caller does not stop the thread: what it stores stays stored
    (the sender resends and gets the stored receipt).
    """

    async def run(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    return run


def create_app(receiver: Receiver, store: MessageStore, *, clock: Callable[[], datetime] = _now,
               on_stored: Callable[[object], None] | None = None) -> Starlette:
    """An ASGI app answering AS4 on POST /as4; `store` gets each accepted message before its receipt."""
    endpoint = inbound_endpoint(receiver, store, clock=clock, on_stored=on_stored)
    return Starlette(routes=[Route("/as4", endpoint, methods=["POST"])])


def inbound_endpoint(receiver: Receiver, store: MessageStore, *, clock: Callable[[], datetime] = _now,
                     on_stored: Callable[[object], None] | None = None
                     ) -> Callable[[Request], Awaitable[Response]]:
    """The POST /as4 request handler of `create_app`, for an application that routes it itself."""
    run_in_thread = _in_thread(ThreadPoolExecutor(RECEIVE_THREADS, thread_name_prefix="as4-receive"))

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
            signal = await run_in_thread(
                receiver.error, MimeInconsistency("message is larger than the limit"), at=at)
            return Response(signal.body, 200, media_type=signal.content_type)
        response, stored = await run_in_thread(answer, content_type, spool.finish(), at)
        if on_stored is not None and stored is not None:
            on_stored(stored)
        return response

    return as4_inbound
