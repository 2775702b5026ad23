"""The sender's HTTP stack (`as4.make_client`) against real servers on 127.0.0.1.

Each failure must come out as the httpx2 class `send_message` branches on: `ConnectError`, `PoolTimeout` and
`ConnectTimeout` mean the message never left (safe to resend as new), everything else that it may
have arrived (a later duplicate error is then PROBABLY_DELIVERED).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import httpcore2
import httpx2
import pytest

import as4
import certs
from as4._http import AsyncioBackend, PoolClient, PoolTransport
from tests.as4.conftest import make_sbd

Answer = Callable[[int, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext


def tls_pair(aps, tmp_path, *hostnames: str) -> Tls:
    key, cert = aps.pki.issue_tls(*hostnames).write(tmp_path, "server")
    ca = tmp_path / "tls-ca.pem"
    ca.write_bytes(certs.certificate_pem(aps.pki.tls_ca.cert))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return Tls(server, as4.tls_context(str(ca)))


@pytest.fixture
def tls(aps, tmp_path) -> Tls:
    return tls_pair(aps, tmp_path, "127.0.0.1")


def response(body: bytes = b"ok", status: int = 200, content_type: str = "text/plain") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


async def answer_ok(_number: int, writer: asyncio.StreamWriter) -> None:
    writer.write(response())


async def reset(_number: int, writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP RST, as when a receiver process dies."""
    writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Server:
    """An HTTP/1.1 server whose answer to each request (numbered from 1) the test chooses.

    It reads every request whole (h11) before answering, so what `bodies` holds arrived.
    """

    answer: Answer = answer_ok
    tls: ssl.SSLContext | None = None
    read_requests: bool = True
    port: int = 0
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)
    handlers_done: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/as4"

    async def start(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()  # handlers still waiting are cancelled when asyncio.run ends

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if not self.read_requests:
                await asyncio.Event().wait()  # holds the connection and reads nothing
            h11_conn = h11.Connection(h11.SERVER)
            body = b""
            while True:
                event = h11_conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        return
                    h11_conn.receive_data(data)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.bodies.append(body)
                    body = b""
                    await self.answer(len(self.bodies), writer)
                    if writer.transport.is_closing():
                        return
                    await writer.drain()
                    # the answer was raw bytes, so h11 is told the response went out
                    h11_conn = h11.Connection(h11.SERVER)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.handlers_done += 1
            writer.close()


def chain(exc: BaseException | None) -> list[BaseException]:
    """`exc` and what it was raised from (httpcore2's pool re-raises `from None`, leaving only the context)."""
    found = []
    while exc is not None:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request) -> Callable[..., Any]:
    """Each test on the standard loop and on uvloop, which `peppol-node serve` runs."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.run
    return asyncio.run


@dataclass
class Answered:
    status: int
    content: bytes


@pytest.fixture(params=["post", "post_raw"])
def post(request) -> Callable[..., Awaitable[Answered]]:
    """Each request through httpx2's `post` and through `PoolClient.post_raw`, the direct path
    `send_message` takes on `make_client`'s client: both must raise the same httpx2 classes."""

    async def via(client: httpx2.AsyncClient, url: str, *, content: Any, headers: dict[str, str] | None = None,
                  timeout: httpx2.Timeout | None = None) -> Answered:
        if request.param == "post_raw":
            assert isinstance(client, PoolClient)
            answer = await client.post_raw(url, content, headers, timeout=timeout)
            return Answered(answer.status, answer.body)
        kwargs = {} if timeout is None else {"timeout": timeout}
        response = await client.post(url, content=content, headers=headers, **kwargs)
        return Answered(response.status_code, await response.aread())

    return via


async def body(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def test_streamed_posts_share_one_kept_alive_tls_connection(tls, run, post) -> None:
    async def go():
        server = await Server(tls=tls.server).start()
        async with as4.make_client(verify=tls.client) as client:
            answers = [await post(client, server.url, content=body(b"a" * 70_000, b"b" * 10),
                                         headers={"Content-Length": "70010"}) for _ in range(3)]
        await server.stop()
        return server, answers

    server, answers = run(go())
    assert [a.status for a in answers] == [200, 200, 200] and answers[0].content == b"ok"
    assert server.bodies == [b"a" * 70_000 + b"b" * 10] * 3
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(tls, run) -> None:
    """The server ends the keep-alive; the next message goes on a new connection, not into a dead one."""
    async def close_after(_number: int, writer: asyncio.StreamWriter) -> None:
        writer.write(response())
        await writer.drain()
        writer.close()

    class Recording(AsyncioBackend):
        def __init__(self) -> None:
            self.streams: list[httpcore2.AsyncNetworkStream] = []

        async def connect_tcp(self, *args, **kwargs) -> httpcore2.AsyncNetworkStream:
            self.streams.append(await super().connect_tcp(*args, **kwargs))
            return self.streams[-1]

    async def go():
        server = await Server(close_after, tls=tls.server).start()
        backend = Recording()  # make_client's stack, with a backend that lets the test see the connection
        pool = httpcore2.AsyncConnectionPool(ssl_context=tls.client, network_backend=backend)
        async with httpx2.AsyncClient(transport=PoolTransport(pool)) as client:
            first = await client.post(server.url, content=b"1")
            [stream] = backend.streams
            while not stream.get_extra_info("is_readable"):  # until the server's close has reached us
                await asyncio.sleep(0.01)
            second = await client.post(server.url, content=b"2")
        await server.stop()
        return server, first, second

    server, first, second = run(go())
    assert first.status_code == second.status_code == 200
    assert server.connections == 2


def test_refused_connection_is_connect_error(run, post) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused

        async def go():
            async with as4.make_client() as client:
                await post(client, f"https://127.0.0.1:{port}/as4", content=b"x")

        with pytest.raises(httpx2.ConnectError):
            run(go())


def test_untrusted_certificate_is_connect_error(tls, run, post) -> None:
    async def go():
        server = await Server(tls=tls.server).start()
        try:
            async with as4.make_client() as client:  # the system's CAs: our test TLS CA is not among them
                await post(client, server.url, content=b"x")
        finally:
            await server.stop()
        return server

    with pytest.raises(httpx2.ConnectError) as info:
        run(go())
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain(info.value))


def test_host_name_mismatch_is_connect_error(aps, tmp_path, run, post) -> None:
    tls = tls_pair(aps, tmp_path, "localhost")  # no 127.0.0.1 in the certificate

    async def go():
        server = await Server(tls=tls.server).start()
        try:
            async with as4.make_client(verify=tls.client) as client:
                await post(client, server.url, content=b"x")
        finally:
            await server.stop()

    with pytest.raises(httpx2.ConnectError) as info:
        run(go())
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in chain(info.value))


def test_handshake_that_never_finishes_is_connect_timeout(tls, run, post) -> None:
    async def go():
        server = await Server(read_requests=False).start()  # TCP accepted, no TLS ever answered
        try:
            async with as4.make_client(verify=tls.client) as client:
                await post(client, server.url.replace("http:", "https:"), content=b"x",
                                  timeout=httpx2.Timeout(5.0, connect=0.3))
        finally:
            await server.stop()

    with pytest.raises(httpx2.ConnectTimeout):
        run(go())


async def hang(_number: int, _writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


async def close(_number: int, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize(("answer", "read_timeout", "error"), [
    (hang, 0.3, httpx2.ReadTimeout),                # no answer within the read timeout
    (reset, None, httpx2.ReadError),                # a reset after the request
    (close, None, httpx2.RemoteProtocolError),      # a close without an answer
], ids=["no-answer", "reset", "close"])
def test_a_request_that_went_out_fails_as_maybe_arrived(tls, run, post, answer, read_timeout, error) -> None:
    """Each failure after the request was sent comes out as its own class, none a ConnectError."""
    timeout = httpx2.Timeout(read_timeout, connect=5.0) if read_timeout else None  # else make_client's

    async def go():
        server = await Server(answer, tls=tls.server).start()
        try:
            async with as4.make_client(verify=tls.client) as client:
                await post(client, server.url, content=b"x", timeout=timeout)
        finally:
            await server.stop()

    with pytest.raises(error) as info:
        run(go())
    assert not isinstance(info.value, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout))


def test_a_stalled_receiver_gets_a_write_timeout_and_the_body_is_not_buffered(tls, run, post) -> None:
    """Writes wait while the receiver reads nothing: a 100 MB message is not pulled into memory."""
    chunk = b"z" * (1 << 20)
    total = 256
    produced = 0

    async def big() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(total):
            produced += 1
            yield chunk

    async def go():
        server = await Server(read_requests=False, tls=tls.server).start()
        try:
            async with as4.make_client(verify=tls.client) as client:
                await post(client, server.url, content=big(), headers={"Content-Length": str(total << 20)},
                                  timeout=httpx2.Timeout(5.0, write=0.5))
        finally:
            await server.stop()

    with pytest.raises(httpx2.WriteTimeout):
        run(go())
    assert produced < 64  # MB: what the kernel's socket buffers and the transport's high-water mark hold


# -- send_message's lost-receipt logic over the real stack --------------------------------------------------

def _message(aps, now, instance: str) -> as4.OutboundMessage:
    return as4.build_user_message(make_sbd(instance), key=aps.sender.key, cert=aps.sender.cert,
                                  receiver_cert=aps.receiver.cert, at=now)


def duplicate_error(aps, now, out: as4.OutboundMessage, *, first: Answer | None = None) -> Answer:
    """Answers `first` to the first request, then a signed EBMS:4001 DuplicateDetected (phase4's answer to a resend)."""
    err = as4.build_error_signal(as4.As4Error(as4.EbmsError.DUPLICATE_DETECTED, "dup", out.message_id),
                                 key=aps.receiver.key, cert=aps.receiver.cert, at=now)

    async def answer(number: int, writer: asyncio.StreamWriter) -> None:
        if number == 1 and first is not None:
            await first(number, writer)
        else:
            writer.write(response(err.body, content_type=err.content_type))

    return answer


async def no_sleep(_seconds: float) -> None:
    return None


def test_a_reset_after_sending_then_a_duplicate_error_is_probably_delivered(aps, now, tls, run) -> None:
    out = _message(aps, now, "http-reset")

    async def go():
        server = await Server(duplicate_error(aps, now, out, first=reset), tls=tls.server).start()
        async with as4.make_client(verify=tls.client) as client:
            result = await as4.send_message(client, server.url, out, receiver_cert=aps.receiver.cert, sleep=no_sleep)
        await server.stop()
        return result

    result = run(go())
    assert result.outcome is as4.Outcome.PROBABLY_DELIVERED
    assert result.attempts[0].error.startswith("ReadError")


def test_a_refused_first_attempt_then_a_duplicate_error_is_rejected(aps, now, tls, run) -> None:
    """A refused connection never carried the message, so a later duplicate error is no sign of delivery."""
    out = _message(aps, now, "http-refused")
    server = Server(duplicate_error(aps, now, out), tls=tls.server)
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # bound, not listening: the first attempt is refused
        server.port = placeholder.getsockname()[1]

        async def start_listening(_seconds: float) -> None:  # send_message's back-off: the receiver comes up
            if placeholder.fileno() != -1:
                placeholder.close()
                await server.start()

        async def go():
            async with as4.make_client(verify=tls.client) as client:
                result = await as4.send_message(client, server.url, out, receiver_cert=aps.receiver.cert,
                                                sleep=start_listening)
            await server.stop()
            return result

        result = run(go())
    assert result.attempts[0].error.startswith("ConnectError")
    assert result.outcome is as4.Outcome.REJECTED


def test_a_pool_timeout_then_a_duplicate_error_is_rejected(aps, now, tls, run) -> None:
    """A request that waited for a pooled connection in vain (PoolTimeout) never left either."""
    out = _message(aps, now, "http-pool")
    release = asyncio.Event()
    duplicate = duplicate_error(aps, now, out)

    async def answer(number: int, writer: asyncio.StreamWriter) -> None:
        if number == 1:  # the request holding the client's only connection
            await release.wait()
            writer.write(response())
        else:
            await duplicate(number, writer)

    async def go():
        server = await Server(answer, tls=tls.server).start()
        async with as4.make_client(verify=tls.client, max_connections=1) as client:
            holder = asyncio.ensure_future(client.post(server.url, content=b"hold"))
            while not server.bodies:  # the holder's request has arrived: the connection is taken
                await asyncio.sleep(0.01)

            async def back_off(_seconds: float) -> None:
                release.set()
                await holder

            result = await as4.send_message(client, server.url, out, receiver_cert=aps.receiver.cert,
                                            sleep=back_off)
        await server.stop()
        return result

    result = run(go())
    assert result.attempts[0].error.startswith("PoolTimeout")
    assert result.outcome is as4.Outcome.REJECTED


# -- the direct path's own behaviour ------------------------------------------------------------------------

def test_the_direct_path_sends_httpx2s_identifying_headers_and_asks_for_no_compression(tls, run) -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(1)
        writer.write(response())
        await writer.drain()
        writer.close()

    async def go():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls.server)
        port = server.sockets[0].getsockname()[1]
        async with as4.make_client(verify=tls.client) as client:
            answer = await client.post_raw(f"https://127.0.0.1:{port}/as4", b"x", {"Content-Type": "text/plain"})
        server.close()
        return answer, port

    answer, port = run(go())
    assert (answer.status, answer.content_type, answer.body) == (200, "text/plain", b"ok")
    head = {name.lower(): value.strip()
            for name, value in (line.split(b":", 1) for line in seen[0].split(b"\r\n")[1:] if line)}
    assert seen[0].startswith(b"POST /as4 HTTP/1.1\r\n") and head[b"host"] == b"127.0.0.1:%d" % port
    assert head[b"user-agent"].startswith(b"python-httpx2/") and head[b"content-length"] == b"1"
    assert b"accept-encoding" not in head  # nothing to decode is asked for


def test_the_direct_path_inflates_an_answer_compressed_anyway(tls, run) -> None:
    import gzip

    async def gzipped(_number: int, writer: asyncio.StreamWriter) -> None:
        packed = gzip.compress(b"<receipt/>")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: %d\r\n\r\n%b" % (len(packed), packed))

    async def go():
        server = await Server(gzipped, tls=tls.server).start()
        async with as4.make_client(verify=tls.client) as client:
            answer = await client.post_raw(server.url, b"x")
        await server.stop()
        return answer

    assert run(go()).body == b"<receipt/>"


# -- make_client behind a proxy -----------------------------------------------------------------------------

def test_with_a_proxy_in_the_environment_make_client_sends_through_it(tls, run, monkeypatch) -> None:
    """httpx2 reads HTTPS_PROXY only for a client without a transport of ours, so make_client
    builds httpx2's own client then: a node behind a corporate proxy keeps working."""
    tunnels: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        tunnels.append(method + b" " + target)
        host, port = target.rsplit(b":", 1)
        up_reader, up_writer = await asyncio.open_connection(host.decode(), int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def go():
        server = await Server(tls=tls.server).start()
        tunnel = await asyncio.start_server(proxy, "127.0.0.1", 0)
        proxy_port = tunnel.sockets[0].getsockname()[1]
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy_port}")
        async with as4.make_client(verify=tls.client) as client:
            if isinstance(client, PoolClient):
                pytest.fail("make_client ignored HTTPS_PROXY")
            answered = await client.post(server.url, content=b"x")
        tunnel.close()
        await server.stop()
        return server, answered

    server, answered = run(go())
    assert answered.status_code == 200 and server.bodies == [b"x"]
    assert tunnels == [b"CONNECT 127.0.0.1:%d" % server.port]
