"""Adapters between delivery and the protocol packages: smp (+sml) lookups, the as4 sender and receiver store.

Each adapter translates the package's own outcomes and errors into the
delivery contracts once, here, so the worker and the inbox never see an
`SmpError`, an `SmlError` or an `as4.SendResult`:

- `SmpDirectory`: `smp.EndpointResolver` -> `EndpointDirectory`. "Not
  registered" answers (NXDOMAIN, SMP 404, no endpoint for the document type)
  are a definite None; DNS or SMP trouble is `LookupUnavailable` (retry).
- `As4HttpTransport`: `as4.build_user_message` + `as4.send_message` ->
  `As4Transport`. Rejections with a Failure ebMS error are permanent.
- `InboxStore`: `Inbox` -> `as4.MessageStore` for the AS4 endpoint.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import as4
from as4.blob import BlobWriter
import certs
import sml
import smp
import ubl

from .errors import NotServiced
from accesspoint import mls

from .inbox import FACT_PATHS, Inbox, StreamedPayload, facts_from_texts
from .routing import LookupUnavailable, PeppolEndpoint
from .transport import As4Outcome, As4Request, As4SendError

__all__ = ["SmpDirectory", "As4HttpTransport", "InboxStore", "TRANSIENT_EBMS_CODES"]

#: ebMS errors a later attempt may not get (Communication / reliability trouble on their side).
TRANSIENT_EBMS_CODES = frozenset({"EBMS:0005", "EBMS:0201", "EBMS:0202", "EBMS:0301"})


class SmpDirectory:
    def __init__(self, resolver: smp.EndpointResolver, *, clock: Callable[[], datetime]) -> None:
        self.resolver = resolver
        self.clock = clock

    async def find_endpoint(self, participant_id: ubl.ParticipantId, document_type_id: ubl.DocumentTypeId,
                            process_id: ubl.ProcessId) -> PeppolEndpoint | None:
        try:
            found = await self.resolver.resolve(participant_id, document_type_id, process_id, at=self.clock())
        except (sml.ParticipantNotRegistered, sml.NoMatchingSmpService, sml.InvalidParticipant,
                smp.ParticipantNotFound, smp.NoEndpoint):
            return None
        except sml.DnsFailure as exc:
            raise LookupUnavailable(f"DNS: {exc}") from exc
        except (smp.SmpError, sml.SmlError) as exc:
            # SMP down, bad signature, redirect trouble: we could not get a trustworthy answer.
            raise LookupUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return PeppolEndpoint(found.address, found.endpoint.certificate_der, found.transport_profile)


def _receipt_evidence(receipt: as4.VerifiedReceipt) -> bytes:
    """What we keep of a verified receipt: its ids, time, signer and the digests it vouches for."""
    return json.dumps({
        "message_id": receipt.message_id,
        "ref_to_message_id": receipt.ref_to_message_id,
        "timestamp": receipt.timestamp.isoformat(),
        "signer": receipt.signer.public_bytes(Encoding.PEM).decode(),
        "references": [str(r) for r in receipt.references],
    }, indent=2).encode()


#: AS4 sends in flight at once per transport (per `serve` process). The delivery workers may hand it
#: batch x workers entries together (80 by default); more than this many at once gains nothing on a few
#: cores and costs connections. (With httpx's pool, whose bookkeeping walked every open connection on
#: every request, 80 connections were 36% of a sending node's samples; httpx2 keeps that state
#: incrementally, and this bound now only keeps the number of connections to one receiver sane.)
MAX_IN_FLIGHT = 16


class As4HttpTransport:
    """Seals with our AP key and POSTs with the caller's httpx2 client (which owns TLS and pooling).

    `max_attempts` is the quick in-request retry of `as4.send_message` (it also spots a
    duplicate answer after a lost receipt); the durable, long backoff is the worker's.
    At most `max_in_flight` messages are sealed and sent at once; the others wait their turn
    (outside httpx2, so they never meet its pool timeout).
    """

    def __init__(self, client: httpx2.AsyncClient, *, keys: certs.KeyPair | Callable[[], certs.KeyPair],
                 trust: certs.TrustStore,
                 revocation: certs.RevocationChecker | None, clock: Callable[[], datetime],
                 max_attempts: int = 2, backoff: float = 0.5, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.client = client
        self.max_in_flight = max_in_flight
        # One semaphore per event loop: an asyncio.Semaphore that once had to wait is bound to its loop,
        # and a transport may outlive a loop (a CLI or a test that calls asyncio.run twice).
        self._in_flight: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        # A callable is read at the first send: a node without an AP key still delivers
        # internally and by email, and says why when it must use AS4.
        self._keys = keys
        self.trust = trust
        self.revocation = revocation
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._chains = certs.CertificateVerifier(certs.Role.ACCESS_POINT)

    @property
    def keys(self) -> certs.KeyPair:
        if callable(self._keys):
            self._keys = self._keys()
        return self._keys

    def _verify_signer(self, cert: x509.Certificate, at: datetime) -> str:
        # the receiver's certificate before each send, and again as the signer of its receipt
        return str(self._chains.verify(cert, trust=self.trust, at=at, revocation=self.revocation))

    async def send(self, request: As4Request) -> As4Outcome:
        loop = asyncio.get_running_loop()
        if self._in_flight is None or self._in_flight[0] is not loop:
            self._in_flight = (loop, asyncio.Semaphore(self.max_in_flight))
        async with self._in_flight[1]:
            return await self._send(request)

    async def _send(self, request: As4Request) -> As4Outcome:
        try:
            receiver_cert = x509.load_der_x509_certificate(request.endpoint.certificate)
        except certs.PARSE_ERRORS as exc:
            raise As4SendError("bad-certificate", f"the SMP's endpoint certificate is unreadable: {exc}",
                               permanent=True) from None
        try:
            # Never send to a revoked or foreign AP (Testbed TC2A.4).
            self._verify_signer(receiver_cert, self.clock())
        except certs.CertError as exc:
            raise As4SendError("receiver-certificate", str(exc), permanent=True) from None
        try:
            keys = self.keys
        except (OSError, certs.CertError) as exc:
            raise As4SendError("no-ap-key", f"this node's AP key cannot be loaded: {exc}", permanent=False) from None
        message = as4.build_user_message(
            request.sbd, key=keys.key, cert=keys.cert, receiver_cert=receiver_cert, at=self.clock(),
            original_sender=str(request.sender), final_recipient=str(request.receiver),
            document_type_id=str(request.document_type_id), process_id=str(request.process_id),
            message_id=request.message_id,
        )
        result = await as4.send_message(
            self.client, request.endpoint.url, message, receiver_cert=receiver_cert,
            verify_signer=self._verify_signer, max_attempts=self.max_attempts, backoff=self.backoff,
            clock=self.clock,
        )
        if result.outcome is as4.Outcome.DELIVERED and result.receipt is not None:
            return As4Outcome(_receipt_evidence(result.receipt), certs.common_name(result.receipt.signer) or "unknown")
        error = result.error
        detail = str(error) if error is not None else result.outcome.value
        if result.outcome is as4.Outcome.PROBABLY_DELIVERED:
            raise As4SendError("probably-delivered", detail, permanent=False)
        if result.outcome is as4.Outcome.REJECTED and isinstance(error, as4.PeerRejected):
            code = error.raw_code
            if error.error_detail:
                detail = f"{error.error_detail}: {detail}"
            raise As4SendError(code, detail, permanent=code not in TRANSIENT_EBMS_CODES)
        if result.outcome is as4.Outcome.INVALID_RECEIPT:
            code = f"http:{result.status}" if result.status and result.status >= 300 else "invalid-receipt"
            raise As4SendError(code, detail, permanent=False)
        last = result.attempts[-1] if result.attempts else None
        code = f"http:{result.status}" if result.status else "connect"
        if last is not None and last.error:
            detail = last.error
        raise As4SendError(code, detail, permanent=False)


#: Above this SBD size the business message streams from the received payload to the database
#: (ubl.split_sbd); below it, one in-memory parse is faster and costs little.
STREAM_FROM_BYTES = 2 * 1024 * 1024


def _split(sbd: as4.Blob) -> tuple[ubl.StandardBusinessDocument, StreamedPayload | None]:
    """The envelope and the business message spooled to a temporary file (not held in memory).

    An MLS, or an SBD the byte-level split cannot represent exactly (ubl.SbdStreamUnsuitable),
    is read whole instead, as a small one is; raises `ubl.UblError` for a bad SBD.
    """
    spool = BlobWriter()
    try:
        split = ubl.split_sbd(sbd.chunks(), spool.write, texts=FACT_PATHS)
    except ubl.SbdStreamUnsuitable:
        spool.finish().close()
        return ubl.parse_sbd(sbd.read(), summarise=True), None
    except BaseException:
        spool.finish().close()
        raise
    content = spool.finish()
    if split.envelope.document_type_id == mls.MLS_DOCUMENT_TYPE:
        payload = content.read()
        content.close()
        return dataclasses.replace(split.envelope, payload=payload), None
    return split.envelope, StreamedPayload(content, facts_from_texts(split.texts))


class InboxStore:
    """The AS4 endpoint's `MessageStore`: durable in the node's database before the receipt goes out."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def store(self, document: as4.ReceivedDocument, receipt: as4.SignalResponse) -> as4.Stored:
        streamed: StreamedPayload | None = None
        try:
            if document.sbdh.envelope is not None:  # checked whole by the receiver (ReceiverPolicy.keep_envelope)
                sbd = document.sbdh.envelope
            elif document.sbd.size > STREAM_FROM_BYTES:
                sbd, streamed = _split(document.sbd)
            else:
                sbd = ubl.parse_sbd(document.sbd.read(), summarise=True)
        except ubl.UblError as exc:
            raise as4.As4Error(as4.EbmsError.OTHER, f"SBDH: {exc}", document.message_id) from None
        try:
            accepted = self.inbox.accept(sbd, as4_message_id=document.message_id, sender_seat_id=document.seat_id,
                                         receipt=receipt.body, streamed=streamed)
        except NotServiced as exc:
            raise as4.NotServiced(str(exc), document.message_id) from None
        finally:
            if streamed is not None:
                streamed.content.close()
        if accepted.duplicate:
            # Answer with the receipt for *this* request, not the stored one: a sender that
            # re-seals a message for a retry (same MessageId, new signature) can only verify a
            # receipt whose NonRepudiationInformation repeats the digests it just signed. Nothing
            # new is stored, so delivery stays once; the first receipt stays our evidence.
            return as4.Stored(receipt.body, True, accepted.document_id)
        return as4.Stored(receipt.body, False, accepted.document_id or accepted.outbox_entry_id)
