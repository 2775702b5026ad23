"""Sending: POST a sealed message with httpx2, retry what may succeed later, verify the receipt.

Retries (protocol.md §1.8): transport failures and 5xx answers, with
exponential backoff, always the same bytes and MessageId so the receiver's
duplicate check can work. A signed Error or an invalid receipt is final.

A lost receipt: if the first attempt may have reached the receiver (timeout
after sending, connection reset) and a later attempt is answered with a
duplicate error (phase4's EBMS:4001 DuplicateDetected), the message was
probably delivered but we hold no proof. The outcome is then
`PROBABLY_DELIVERED`, not `DELIVERED`: the caller must reconcile (MLS or
operator) and must not resend under a new MessageId. Our own receiver avoids
this by answering a duplicate with the stored receipt.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpcore2
import httpx2
from cryptography import x509

from as4._http import AsyncioBackend, PoolClient, RawResponse
from as4.errors import As4Error, EbmsError, PeerRejected
from as4.message import OutboundMessage
from as4.signals import VerifiedReceipt, verify_receipt

__all__ = ["Outcome", "Attempt", "SendResult", "send_message", "make_client", "tls_context",
           "CONNECT_TIMEOUT", "RESPONSE_TIMEOUT"]

#: phase4 Peppol defaults ("2 minutes according to the new Peppol SLAs").
CONNECT_TIMEOUT = 5.0
RESPONSE_TIMEOUT = 120.0
POOL_TIMEOUT = 1.0
#: Connections per client, all kept alive between messages. httpx2 keeps only 20 idle by default:
#: a node's delivery workers send up to batch x workers messages at once, and every connection
#: over 20 was closed after its message, so most sends paid a new TLS handshake (py-spy of a
#: sending node: the handshake and connect were 11% of its samples).
MAX_CONNECTIONS = 100
#: Seconds an idle connection is kept for the next message.
KEEPALIVE_EXPIRY = 30.0


class Outcome(enum.Enum):
    DELIVERED = "delivered"                    # verified receipt
    PROBABLY_DELIVERED = "probably_delivered"  # duplicate error after a lost receipt
    REJECTED = "rejected"                      # signed ebMS Error
    INVALID_RECEIPT = "invalid_receipt"        # answer was not proof of delivery
    FAILED = "failed"                          # retries exhausted


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: datetime
    seconds: float
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class SendResult:
    message_id: str
    outcome: Outcome
    attempts: tuple[Attempt, ...]
    receipt: VerifiedReceipt | None = None
    error: As4Error | None = None
    status: int | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """TLS >= 1.2 with certificate and host name checks (Peppol transport security policy)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def make_client(*, verify: ssl.SSLContext | None = None, max_connections: int = MAX_CONNECTIONS) -> httpx2.AsyncClient:
    """An AsyncClient with the Peppol timeouts; the caller owns and closes it.

    Its transport is httpcore2's pool on asyncio's own transports (`as4._http`), not httpx2's
    default on anyio: the same HTTP/1.1, pooling and errors for about 0.1 ms less client CPU per
    request (benchmarks/http_client.py), and `send_message` POSTs to that pool directly
    (`PoolClient.post_raw`), not through httpx2's models: about 0.1 ms less again. httpx2
    ignores proxy variables for a client given a transport, so when the environment names a
    proxy the client is httpx2's own, as before.
    `max_connections` (all kept alive) lets a caller model one connection per sender, as
    benchmarks/load.py does.
    """
    ctx = verify or tls_context()
    timeout = httpx2.Timeout(RESPONSE_TIMEOUT, connect=CONNECT_TIMEOUT, pool=POOL_TIMEOUT)
    if urllib.request.getproxies():
        return httpx2.AsyncClient(
            verify=ctx, timeout=timeout, follow_redirects=False,
            limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                                 keepalive_expiry=KEEPALIVE_EXPIRY),
        )
    pool = httpcore2.AsyncConnectionPool(
        ssl_context=ctx, max_connections=max_connections, max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY, network_backend=AsyncioBackend(),
    )
    return PoolClient(pool, timeout=timeout)


#: Transport failures before any byte of the request went out.
_NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)

#: Body pieces are sent in writes of at least this size (the last may be smaller).
WRITE_SIZE = 64 * 1024


async def _body(message: OutboundMessage) -> AsyncIterator[bytes]:
    """The body in writes of `WRITE_SIZE` or more, not in the MIME rendering's pieces.

    A small message renders as seven pieces (boundaries, part headers, envelope, payload), and
    each piece sent is an HTTP event, a TLS record and a system call: joined, a small message
    is one write. A piece of `WRITE_SIZE` or more goes out as it is (after what was pending), so
    a large payload's chunks are never copied.
    """
    pending: list[bytes] = []
    size = 0
    for piece in message.iter_body():
        if len(piece) >= WRITE_SIZE:
            if pending:
                yield b"".join(pending)
                pending, size = [], 0
            yield piece
            continue
        pending.append(piece)
        size += len(piece)
        if size >= WRITE_SIZE:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


async def _post(client: httpx2.AsyncClient, url: str, body: AsyncIterator[bytes],
                headers: dict[str, str]) -> RawResponse:
    """One POST and its whole answer: straight to the pool on our own client (`as4._http.PoolClient`),
    through httpx2 on any other (a test's ASGI transport, the proxy case of `make_client`)."""
    if isinstance(client, PoolClient):
        return await client.post_raw(url, body, headers)
    response = await client.post(url, content=body, headers=headers)
    return RawResponse(response.status_code, response.headers.get("content-type", ""), await response.aread())


def _is_duplicate(exc: PeerRejected) -> bool:
    return exc.raw_code == EbmsError.DUPLICATE_DETECTED.code or "duplicate" in (exc.detail or "").lower()


async def send_message(
    client: httpx2.AsyncClient,
    url: str,
    message: OutboundMessage,
    *,
    receiver_cert: x509.Certificate,
    verify_signer: Callable[[x509.Certificate, datetime], object] | None = None,
    max_attempts: int = 4,
    backoff: float = 2.0,
    max_backoff: float = 60.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> SendResult:
    """POST `message` to `url` until a final answer; every attempt is in the result."""
    attempts: list[Attempt] = []
    last_error: As4Error | None = None
    last_status: int | None = None
    maybe_arrived = False
    for number in range(1, max_attempts + 1):
        started, t0 = clock(), time.monotonic()
        try:
            # a known length instead of chunked encoding: some receivers handle chunked badly
            headers = {**message.headers, "Content-Length": str(message.size)}
            answer = await _post(client, url, _body(message), headers)
        except httpx2.TransportError as exc:
            # a failure after the request went out may mean it arrived and only the receipt was lost;
            # no connection (refused, timed out, or none free in the pool) means it never left
            maybe_arrived = maybe_arrived or not isinstance(exc, _NEVER_SENT)
            attempts.append(Attempt(number, started, time.monotonic() - t0, None, f"{type(exc).__name__}: {exc}"))
        else:
            last_status, ctype, body = answer.status, answer.content_type, answer.body
            attempts.append(Attempt(number, started, time.monotonic() - t0, last_status))
            if "soap+xml" in ctype or "multipart/related" in ctype:
                try:
                    receipt = verify_receipt(ctype, body, sent=message, receiver_cert=receiver_cert,
                                             verify_signer=verify_signer, at=clock())
                    return SendResult(message.message_id, Outcome.DELIVERED, tuple(attempts), receipt,
                                      status=last_status)
                except PeerRejected as exc:
                    if number > 1 and maybe_arrived and _is_duplicate(exc):
                        return SendResult(message.message_id, Outcome.PROBABLY_DELIVERED, tuple(attempts),
                                          error=exc, status=last_status)
                    return SendResult(message.message_id, Outcome.REJECTED, tuple(attempts), error=exc,
                                      status=last_status)
                except As4Error as exc:
                    if last_status < 500:
                        return SendResult(message.message_id, Outcome.INVALID_RECEIPT, tuple(attempts),
                                          error=exc, status=last_status)
                    last_error = exc
            elif last_status < 500:
                return SendResult(message.message_id, Outcome.INVALID_RECEIPT, tuple(attempts),
                                  error=As4Error(EbmsError.MISSING_RECEIPT,
                                                 f"HTTP {last_status} without an AS4 signal",
                                                 message.message_id),
                                  status=last_status)
            maybe_arrived = True
        if number < max_attempts:
            await sleep(min(max_backoff, backoff * 2 ** (number - 1)))
    return SendResult(message.message_id, Outcome.FAILED, tuple(attempts),
                      error=last_error or As4Error(EbmsError.MISSING_RECEIPT, "no receipt after retries",
                                                   message.message_id),
                      status=last_status)

