"""The sender's HTTP stack: httpx2's client on httpcore2's pool, over asyncio's own transports.

httpx2's default transport runs httpcore2 on anyio. Under load every read and write of a
sending node then paid for `anyio.fail_after` and anyio's backend lookup (`sniffio` ->
`asyncio.current_task`), and TLS went through anyio's Python-level `TLSStream` over a memory
BIO: py-spy put anyio at about 5% of a sender's samples. `AsyncioBackend` gives httpcore2 the
loop's own transports instead (`loop.create_connection`, `loop.start_tls`: under uvloop its SSL
protocol is compiled Cython), arms a timer only when a read or write must actually wait, and answers
httpcore2's "is this idle connection readable?" from its own buffer, with no `poll()` call.
benchmarks/http_client.py measures it against the anyio stack.

httpx2.AsyncHTTPTransport takes no network backend, so `PoolTransport` is the small
`httpx2.AsyncBaseTransport` that hands httpx2 requests to an `httpcore2.AsyncConnectionPool`
and translates httpcore2's errors into httpx2's, once, as httpx2's own transport does.
`send_message` depends on that translation: `ConnectError`/`ConnectTimeout` mean the message
never left, every other `TransportError` that it may have arrived.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore2
import httpx2

__all__ = ["AsyncioBackend", "PoolTransport", "PoolClient", "RawResponse"]

#: Bytes held unread before the socket stops being read (asyncio's StreamReader uses 64 KiB;
#: httpcore2 reads 64 KiB at a time, so two full reads may wait here).
READ_BUFFER_LIMIT = 128 * 1024


class _Stream(asyncio.Protocol, httpcore2.AsyncNetworkStream):
    """One connection: the asyncio protocol is also the stream httpcore2 reads and writes.

    Reads are served from the protocol's buffer; only an empty buffer makes a read wait, and
    only a waiting read arms its timeout. Writes go straight to the transport; only a transport
    that asked to pause (its buffer over the high-water mark) makes a write wait, which is what
    keeps a 100 MB streamed body from being buffered in memory.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None  # why the connection was lost, if it was
        self._closed = False
        self._reading_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport (uvloop's is no subclass)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > READ_BUFFER_LIMIT and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        return False  # let the transport close its side

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._eof = True
        self._error = exc
        self._wake_reader()
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httpcore2.AsyncNetworkStream ----------------------------------------------------------

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """The next bytes received, at most `max_bytes`; b"" once the peer has closed.

        Raises `httpcore2.ReadTimeout` when nothing arrives within `timeout`, and
        `httpcore2.ReadError` when the connection was lost with an error (a reset, a bad TLS
        record) and nothing is left to read.
        """
        if not self._chunks and not self._eof:
            waiter = self._read_waiter = self._loop.create_future()
            await _wait(self._loop, waiter, timeout, httpcore2.ReadTimeout)
        if not self._chunks:
            if self._error is not None:
                raise httpcore2.ReadError(f"{type(self._error).__name__}: {self._error}") from self._error
            return b""
        data = self._chunks.popleft()
        if len(data) > max_bytes:
            self._chunks.appendleft(data[max_bytes:])
            data = data[:max_bytes]
        self._buffered -= len(data)
        if self._reading_paused and self._buffered <= READ_BUFFER_LIMIT // 2 and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Hand `buffer` to the transport; wait only while it is over its high-water mark.

        Raises `httpcore2.WriteError` on a closed or lost connection, and
        `httpcore2.WriteTimeout` when the peer takes nothing for `timeout`.
        """
        if not buffer:
            return
        if self._closed or self._transport is None or self._transport.is_closing():
            raise httpcore2.WriteError(f"connection closed: {self._error or 'by the peer'}")
        self._transport.write(buffer)
        if self._writing_paused:
            waiter = self._write_waiter = self._loop.create_future()
            await _wait(self._loop, waiter, timeout, httpcore2.WriteTimeout)
            if self._closed:
                raise httpcore2.WriteError(f"connection lost while sending: {self._error or 'closed'}")

    async def aclose(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore2.AsyncNetworkStream:
        """The TLS handshake on this connection; this protocol then reads the decrypted bytes.

        Raises `httpcore2.ConnectError` for a handshake the peer or the certificate check
        refused, and `httpcore2.ConnectTimeout` for one that did not finish within `timeout`.
        """
        assert self._transport is not None
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(self._transport, self, ssl_context,
                                                       server_hostname=server_hostname)
        except TimeoutError as exc:
            self._transport.abort()
            raise httpcore2.ConnectTimeout("TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:  # ssl.SSLCertVerificationError is both
            self._transport.abort()
            raise httpcore2.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        if transport is None:  # the peer went away as the handshake ended
            raise httpcore2.ConnectError("connection closed during the TLS handshake")
        self._transport = transport
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore2 asks before reusing an idle connection: anything buffered, an EOF or a
            # lost connection means the server closed it (or broke HTTP), so it is not reused.
            return bool(self._chunks) or self._eof
        transport = self._transport
        if transport is None:
            return None
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        return None


async def _wait(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], timeout: float | None,
                timeout_error: type[httpcore2.TimeoutException]) -> None:
    """Await `waiter` under a timer of our own: cheaper than `asyncio.timeout`'s task cancel."""
    if timeout is None:
        await waiter
        return
    timer = loop.call_later(timeout, _expire, waiter)
    try:
        await waiter
    except TimeoutError:
        raise timeout_error(f"no progress in {timeout:g} s") from None
    finally:
        timer.cancel()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend on the running asyncio loop (uvloop's or the standard one)."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        """A TCP connection (TCP_NODELAY, as asyncio sets it).

        Raises `httpcore2.ConnectError` for a refused or unreachable peer or an unknown host,
        `httpcore2.ConnectTimeout` after `timeout`.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_connection(
                    _Stream, host, port, local_addr=(local_address, 0) if local_address else None)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:  # refused, unreachable, socket.gaierror
            raise httpcore2.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        sock = stream.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return stream

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, stream = await loop.create_unix_connection(_Stream, path)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"connecting to {path} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return stream

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


#: httpcore2's errors as httpx2's, the most specific first (an httpcore2.ConnectTimeout is also
#: a TimeoutException). `send_message` tells "never arrived" from "maybe arrived" by these classes.
_ERRORS: tuple[tuple[type[Exception], type[httpx2.TransportError]], ...] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.ProxyError, httpx2.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
)


_THEIRS = tuple(theirs for theirs, _ in _ERRORS)


def _translate(exc: Exception) -> httpx2.TransportError:
    return next(ours(str(exc)) for theirs, ours in _ERRORS if isinstance(exc, theirs))


class _ResponseStream(httpx2.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except _THEIRS as exc:
            raise _translate(exc) from exc

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class PoolTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport on an `httpcore2.AsyncConnectionPool` the caller configured.

    What httpx2's AsyncHTTPTransport does without a proxy, with the pool (and so its network
    backend) chosen by the caller; the pool is closed with the transport.
    """

    def __init__(self, pool: httpcore2.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send `request` on the pool; httpcore2's errors come out as httpx2's."""
        assert isinstance(request.stream, httpx2.AsyncByteStream)
        core_request = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                              port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except _THEIRS as exc:
            raise _translate(exc) from exc
        assert isinstance(response.stream, AsyncIterable)
        return httpx2.Response(status_code=response.status, headers=response.headers,
                               stream=_ResponseStream(response.stream), extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()



@dataclass(frozen=True, slots=True)
class RawResponse:
    """What `send_message` reads of an answer: the status, its Content-Type and the whole body."""

    status: int
    content_type: str
    body: bytes


#: Request headers httpx2 would add that the direct path keeps (not Accept-Encoding: it asks for no
#: compression, so it has no decoder to run, and an AS4 answer is a few KB).
_KEPT_DEFAULTS = frozenset({b"accept", b"connection", b"user-agent"})


class PoolClient(httpx2.AsyncClient):
    """httpx2's client on an `httpcore2.AsyncConnectionPool`, with a direct path for a streamed POST.

    Every httpx2 call works as on any client (`PoolTransport`). `post_raw` hands the request to
    the pool itself: httpx2's request and response models, URL parsing, cookie jar and event
    hooks cost about 0.1 ms of CPU per request (benchmarks/http_client.py: the pool alone is
    0.6-0.65x of httpx2 on it), and an AS4 POST needs none of them. Its errors are httpx2's, as
    from `post`, and it obeys the client's timeouts.
    """

    def __init__(self, pool: httpcore2.AsyncConnectionPool, *, timeout: httpx2.Timeout) -> None:
        super().__init__(transport=PoolTransport(pool), timeout=timeout, follow_redirects=False)
        self._direct = pool
        self._extensions = {"timeout": timeout.as_dict()}
        self._defaults = [(k, v) for k, v in self.headers.raw if k.lower() in _KEPT_DEFAULTS]

    async def post_raw(self, url: str, content: bytes | AsyncIterable[bytes], headers: Mapping[str, str] | None = None,
                       *, timeout: httpx2.Timeout | None = None) -> RawResponse:
        """POST `content` (streamed when an async iterable) to `url` and read the whole answer.

        Raises httpx2's `TransportError`s as `post` does; `timeout` replaces the client's for this
        request, as `post`'s does. A body the server compressed anyway is inflated (gzip or deflate),
        as httpx2 would.
        """
        raw = [*self._defaults, *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())]
        extensions = self._extensions if timeout is None else {"timeout": timeout.as_dict()}
        try:
            response = await self._direct.request("POST", url, headers=raw, content=content, extensions=extensions)
        except _THEIRS as exc:
            raise _translate(exc) from exc
        content_type, encoding = "", b""
        for name, value in response.headers:
            lowered = name.lower()
            if lowered == b"content-type":
                content_type = value.decode("latin-1")
            elif lowered == b"content-encoding":
                encoding = value.strip().lower()
        body = response.content
        if encoding in (b"gzip", b"x-gzip", b"deflate"):
            try:
                body = zlib.decompress(body, 47)  # gzip or zlib header, detected
            except zlib.error as exc:
                raise httpx2.DecodingError(f"answer body is not {encoding.decode()}: {exc}") from None
        return RawResponse(response.status, content_type, body)
