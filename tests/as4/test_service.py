"""The Starlette receiver and the httpx2 sender, talking through httpx2's ASGI transport to the real app."""

from __future__ import annotations

import asyncio
import threading

import httpx2
import pytest

import as4
from tests.as4.conftest import make_sbd

URL = "http://as4.test/as4"


def receiver(aps, **policy):
    return as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False, **policy))


def message(aps, now, instance="svc-1"):
    return as4.build_user_message(make_sbd(instance), key=aps.sender.key, cert=aps.sender.cert,
                                  receiver_cert=aps.receiver.cert, at=now)


async def no_sleep(_seconds: float) -> None:
    return None


class LoseFirstResponse(httpx2.AsyncBaseTransport):
    """Deliver every request to the real app, but drop the answer to the first one (a lost receipt)."""

    def __init__(self, app) -> None:
        self.inner = httpx2.ASGITransport(app=app)
        self.calls = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if self.calls == 1:
            raise httpx2.ReadTimeout("response lost", request=request)
        return response


def flaky(app, failures: int):
    """An ASGI wrapper answering 503 `failures` times before passing through (an overloaded proxy)."""
    state = {"n": 0}

    async def wrapper(scope, receive, send):
        if scope["type"] == "http" and state["n"] < failures:
            state["n"] += 1
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"busy"})
            return
        await app(scope, receive, send)

    return wrapper


def run(coro):
    return asyncio.run(coro)


def test_send_receive_store_and_duplicate(aps, now, tmp_path):
    store = as4.DirectoryStore(tmp_path)
    stored = []
    app = as4.create_app(receiver(aps), store, on_stored=stored.append)
    out = message(aps, now)

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            first = await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)
            second = await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)
            return first, second

    first, second = run(go())
    assert first.outcome is as4.Outcome.DELIVERED and second.outcome is as4.Outcome.DELIVERED
    assert first.receipt.message_id == second.receipt.message_id  # the stored receipt, again
    assert len(store.messages()) == 1 and len(stored) == 1
    (folder,) = store.messages()
    assert (folder / "sbd.xml").read_bytes() == make_sbd("svc-1")


def test_rejected_message_stores_nothing(aps, now, tmp_path):
    store = as4.DirectoryStore(tmp_path)
    app = as4.create_app(receiver(aps, accept=frozenset({"iso6523-actorid-upis::0088:0000000000000"})), store)
    out = message(aps, now)

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            return await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)

    result = run(go())
    assert result.outcome is as4.Outcome.REJECTED
    assert result.error.error_detail == "PEPPOL:NOT_SERVICED"
    assert len(result.attempts) == 1  # an ebMS error is final: no retry
    assert store.messages() == []


def test_retries_on_5xx_with_the_same_message_id(aps, now, tmp_path):
    store = as4.DirectoryStore(tmp_path)
    app = flaky(as4.create_app(receiver(aps), store), failures=2)
    out = message(aps, now)
    delays = []

    async def sleep(seconds):
        delays.append(seconds)

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            return await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=sleep,
                                          backoff=1.0)

    result = run(go())
    assert result.outcome is as4.Outcome.DELIVERED
    assert [a.status for a in result.attempts] == [503, 503, 200]
    assert delays == [1.0, 2.0]  # exponential backoff
    assert result.receipt.ref_to_message_id == out.message_id


def test_gives_up_after_max_attempts(aps, now, tmp_path):
    app = flaky(as4.create_app(receiver(aps), as4.DirectoryStore(tmp_path)), failures=10)

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            return await as4.send_message(client, URL, message(aps, now), receiver_cert=aps.receiver.cert,
                                          sleep=no_sleep, max_attempts=3)

    result = run(go())
    assert result.outcome is as4.Outcome.FAILED and len(result.attempts) == 3


def test_lost_receipt_is_recovered_from_the_stored_receipt(aps, now, tmp_path):
    store = as4.DirectoryStore(tmp_path)
    app = as4.create_app(receiver(aps), store)
    transport = LoseFirstResponse(app)
    out = message(aps, now)

    async def go():
        async with httpx2.AsyncClient(transport=transport) as client:
            return await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)

    result = run(go())
    assert result.outcome is as4.Outcome.DELIVERED
    assert result.attempts[0].error and "ReadTimeout" in result.attempts[0].error
    assert len(store.messages()) == 1


def test_duplicate_error_after_lost_receipt_is_probably_delivered(aps, now, tmp_path):
    """A phase4-like peer answers a resend with EBMS:4001: we report PROBABLY_DELIVERED, not success."""
    real = as4.create_app(receiver(aps), as4.DirectoryStore(tmp_path))
    seen = {"n": 0}

    async def phase4_like(scope, receive, send):
        seen["n"] += 1
        if seen["n"] == 1:
            await real(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        err = as4.build_error_signal(as4.As4Error(as4.EbmsError.DUPLICATE_DETECTED, "dup", out.message_id),
                                     key=aps.receiver.key, cert=aps.receiver.cert, at=now)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", err.content_type.encode())]})
        await send({"type": "http.response.body", "body": err.body})

    out = message(aps, now)
    transport = LoseFirstResponse(phase4_like)

    async def go():
        async with httpx2.AsyncClient(transport=transport) as client:
            return await as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)

    result = run(go())
    assert result.outcome is as4.Outcome.PROBABLY_DELIVERED
    assert not result.delivered


def test_non_post_and_garbage(aps, now, tmp_path):
    app = as4.create_app(receiver(aps), as4.DirectoryStore(tmp_path))

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            get = await client.get(URL)
            junk = await client.post(URL, content=b"\x00" * 100, headers={"content-type": "multipart/related"})
            return get, junk

    get, junk = run(go())
    assert get.status_code == 405
    assert junk.status_code == 200
    signal = as4.parse_message(junk.headers["content-type"], junk.content).message
    assert signal.error.errors[0].code == "EBMS:0007"


@pytest.mark.parametrize("limit", [1000])
def test_oversized_body_is_refused(aps, now, tmp_path, limit):
    app = as4.create_app(receiver(aps, max_message_bytes=limit), as4.DirectoryStore(tmp_path))
    out = message(aps, now)

    async def go():
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
            return await client.post(URL, content=out.body, headers=out.headers)

    resp = run(go())
    assert as4.parse_message(resp.headers["content-type"], resp.content).message.error.errors[0].code == "EBMS:0007"


def test_receives_while_the_loops_default_executor_is_full(aps, now, tmp_path):
    """The endpoint works in threads of its own: a node's delivery workers may fill the event
    loop's default executor (`asyncio.to_thread`), and a message must not wait behind them."""
    store = as4.DirectoryStore(tmp_path)
    threads: list[str] = []

    class Recording:
        def store(self, document, response):
            threads.append(threading.current_thread().name)
            return store.store(document, response)

    app = as4.create_app(receiver(aps), Recording())
    out = message(aps, now)

    async def go():
        loop = asyncio.get_running_loop()
        release = threading.Event()
        # min(32, cores + 4) threads by default: this many blockers hold every one of them.
        blockers = [loop.run_in_executor(None, release.wait) for _ in range(64)]
        try:
            async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as client:
                return await asyncio.wait_for(
                    as4.send_message(client, URL, out, receiver_cert=aps.receiver.cert, sleep=no_sleep), 60)
        finally:
            release.set()
            await asyncio.gather(*blockers)

    result = run(go())
    assert result.outcome is as4.Outcome.DELIVERED
    assert threads and all(name.startswith("as4-receive") for name in threads)
