"""Opening a received UserMessage: security first, then the profile, then the payload.

The order reproduces phase4's answers for the same faults (their fixtures are
our test vectors): payload compression (0003) -> signed? (0103) -> signature
algorithms and header digests (0101) -> encrypted? (0103) -> decrypt (0102) ->
attachment digests (0101) -> signer certificate and CN (0101) -> Peppol
P-Mode (0003) -> decompress (0303) -> SBDH and its cross-check (0004/0003) ->
served recipient (0004 PEPPOL:NOT_SERVICED).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from as4 import _wss, _xenc, peppol
from as4._xml import XENC, by_tag
from as4.blob import Blob, BlobWriter
from as4.ebms import UserMessage
from as4.errors import (As4Error, DecompressionFailure, EbmsError, FailedAuthentication, FailedDecryption,
                        NotServiced, PolicyNoncompliance, ValueInconsistent)
from as4.message import InboundMessage
from as4.sbdh import SbdhInfo, read_sbdh
from certs import CertError
from certs.keys import same_certificate

__all__ = ["ReceiverPolicy", "Payload", "ReceivedDocument", "open_user_message", "decompress_blob",
           "participant_key"]

_ENCRYPTED_KEY = f"{{{XENC}}}EncryptedKey"


@dataclass(frozen=True)
class ReceiverPolicy:
    """What a receiver accepts; like httpx2 `Limits`, a small immutable value object."""

    #: whole HTTP body
    max_message_bytes: int = 512 * 1024 * 1024
    #: one decompressed payload; gzip bombs stop here
    max_payload_bytes: int = 256 * 1024 * 1024
    #: decompressed / compressed; real XML compresses 10-30x, bombs 1000x
    max_compression_ratio: int = 200
    #: participants we serve, normalised `scheme::value`; None = any (the CLI default)
    accept: frozenset[str] | None = None
    #: certificate revocation: None = not checked (tests with historic material only)
    check_revocation: bool = True
    #: keep the checked `ubl.StandardBusinessDocument`, business message included, in
    #: `SbdhInfo.envelope` for an SBD small enough to be read whole: a store that needs the envelope
    #: (the node's inbox) then does not parse and check the SBD a second time. Off by default: a
    #: store that keeps the SBD as received (the CLI's directory) would pay for a copy of the invoice.
    keep_envelope: bool = False


@dataclass(frozen=True)
class Payload:
    content_id: str
    mime_type: str | None
    content: Blob


@dataclass(frozen=True)
class ReceivedDocument:
    user_message: UserMessage
    signer: x509.Certificate
    seat_id: str
    payloads: tuple[Payload, ...]
    sbdh: SbdhInfo
    #: copies of the received ds:References, for the receipt's NonRepudiationInformation
    nri: tuple[etree._Element, ...] = field(repr=False, default=())

    @property
    def message_id(self) -> str:
        return self.user_message.message_id

    @property
    def sbd(self) -> Blob:
        return self.payloads[0].content


def participant_key(value: str, scheme: str | None = None) -> str:
    """`scheme::value` with the iso6523 value lower-cased (identifiers are case-insensitive there)."""
    if scheme is None:
        scheme, sep, rest = value.partition("::")
        if not sep:
            scheme, rest = peppol.PARTICIPANT_SCHEME, value
        value = rest
    scheme = scheme.strip().lower()
    value = value.strip()
    if scheme == peppol.PARTICIPANT_SCHEME:
        value = value.lower()
    return f"{scheme}::{value}"


def decompress_blob(blob: Blob, *, limit: int, ratio: int, ref: str | None = None) -> Blob:
    """gunzip in a streaming pass with absolute and ratio limits (EBMS:0303 on any problem)."""
    d = zlib.decompressobj(31)
    out = BlobWriter()
    cap = min(limit, max(blob.size, 1) * ratio + 65536)
    try:
        for chunk in blob.chunks():
            while chunk:
                piece = d.decompress(chunk, 1 << 20)
                out.write(piece)
                if out.size > cap:
                    raise DecompressionFailure(
                        f"payload expands beyond {cap} bytes (limit {limit}, ratio {ratio})", ref)
                chunk = d.unconsumed_tail
            if d.eof:
                break
        out.write(d.flush())
    except zlib.error as exc:
        out.finish().close()
        raise DecompressionFailure(f"payload is not valid gzip: {exc}", ref) from None
    if not d.eof:
        out.finish().close()
        raise DecompressionFailure("gzip stream is truncated", ref)
    if out.size > cap:
        raise DecompressionFailure("payload expands beyond the limit", ref)
    return out.finish()


def open_user_message(
    inbound: InboundMessage,
    *,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate | None = None,
    verify_signer: Callable[[x509.Certificate, datetime], str],
    at: datetime,
    policy: ReceiverPolicy = ReceiverPolicy(),
) -> ReceivedDocument:
    """Decrypt, verify and unpack a parsed UserMessage; raise `As4Error` with the code to answer.

    `verify_signer(cert, at) -> seat id` is the PKI decision (certs.verify_ap_certificate
    bound to a trust store and revocation checker); it raises `certs.CertError` to reject.
    `cert` is our own certificate: an EncryptedKey for another certificate is EBMS:0102.
    """
    um = inbound.message
    if not isinstance(um, UserMessage):
        raise ValueInconsistent("expected a UserMessage, got a signal")
    mid = um.message_id
    try:
        peppol.check_payload_parts(um)
        security = inbound.security
        if security is None:
            raise PolicyNoncompliance("message has no WS-Security header: not signed and encrypted")
        index = _wss.id_index(inbound.envelope)  # one pass for the signature's and the EncryptedKey's tokens
        kids = by_tag(security)  # the security header's children, read once for the three look-ups
        signature = _wss.verify(security, attachments=None, index=index, kids=kids)
        eks = kids.get(_ENCRYPTED_KEY, [])
        parts = _xenc.encrypted_parts(security, kids)
        by_cid = {p.content_id: p for p in parts}
        if not eks or any(p.href not in by_cid for p in um.parts):
            raise PolicyNoncompliance("payloads are not all encrypted")
        if len(eks) != 1:
            raise PolicyNoncompliance("expected exactly one EncryptedKey")
        ek_kids = by_tag(eks[0])
        info = _xenc.describe_encrypted_key(eks[0], index, ek_kids)
        if info.key_reference != "bst":
            raise PolicyNoncompliance("EncryptedKey does not reference a BinarySecurityToken")
        if cert is not None and info.certificate is not None and not same_certificate(info.certificate, cert):
            raise FailedDecryption("message is encrypted for another certificate")
        for p in parts:
            if p.algorithm != _xenc.AES128_GCM:
                raise PolicyNoncompliance(f"payload encryption {p.algorithm!r} is not AES-128-GCM")
        content_key = _xenc.decrypt_key(eks[0], key, ek_kids)
        plain: dict[str, Blob] = {}
        for p in parts:
            mime = inbound.attachments.get(p.content_id)
            if mime is None:
                raise FailedDecryption(f"encrypted attachment cid:{p.content_id} is missing")
            plain[p.content_id] = _xenc.decrypt_blob(mime.body, content_key, limit=policy.max_message_bytes)
        _wss.check_attachments(signature, plain)
        _check_coverage(inbound, signature)
        try:
            seat = verify_signer(signature.certificate, at)
        except (CertError, ValueError) as exc:  # ValueError: a certificate field cryptography cannot parse
            raise FailedAuthentication(f"signing certificate rejected: {exc}") from None
        if str(seat) != um.from_party.party_id:
            raise FailedAuthentication(f"signer {seat} is not the sender {um.from_party.party_id}")
        peppol.check_user_message(um)
        payloads = []
        for part in um.parts:
            content = plain[part.href]
            if part.property("CompressionType") == peppol.COMPRESSION_GZIP:
                content = decompress_blob(content, limit=policy.max_payload_bytes,
                                          ratio=policy.max_compression_ratio, ref=mid)
            payloads.append(Payload(part.href, part.property("MimeType"), content))
        sbdh = read_sbdh(payloads[0].content, keep_envelope=policy.keep_envelope)
        _cross_check(um, sbdh)
        if policy.accept is not None and participant_key(sbdh.receiver) not in policy.accept:
            raise NotServiced(f"final recipient {sbdh.receiver} is not served here", mid)
    except As4Error as exc:
        raise exc.with_ref(mid) from None
    return ReceivedDocument(um, signature.certificate, str(seat), tuple(payloads), sbdh,
                            tuple(r.copy for r in signature.references))


def _check_coverage(inbound: InboundMessage, signature: _wss.VerifiedSignature) -> None:
    """The elements we process must be exactly the ones signed (signature-wrapping defence)."""
    signed_elements = [r.element for r in signature.references if r.element is not None]
    if not any(el is inbound.messaging for el in signed_elements):
        raise FailedAuthentication("the eb:Messaging header being processed is not the one signed")
    if not any(el is inbound.body for el in signed_elements):
        raise FailedAuthentication("the SOAP Body is not signed")
    signed_cids = {r.content_id for r in signature.references if r.content_id}
    um = inbound.message
    assert isinstance(um, UserMessage)
    for part in um.parts:
        if part.href not in signed_cids:
            raise FailedAuthentication(f"attachment cid:{part.href} is not signed")
    if set(inbound.attachments) - signed_cids:
        raise FailedAuthentication("the message carries unsigned attachments")


def _cross_check(um: UserMessage, sbdh: SbdhInfo) -> None:
    """originalSender / finalRecipient must equal the SBDH Sender / Receiver (Peppol AS4 §1.7)."""
    for name, sbdh_value in ((peppol.ORIGINAL_SENDER, sbdh.sender), (peppol.FINAL_RECIPIENT, sbdh.receiver)):
        prop = um.property(name)
        assert prop is not None  # check_user_message ran
        if participant_key(prop.value, prop.type) != participant_key(sbdh_value):
            raise ValueInconsistent(f"{name} {prop.type}::{prop.value} differs from the SBDH ({sbdh_value})",
                                    um.message_id)
    if sbdh.document_type_id and sbdh.document_type_id != um.action:
        raise ValueInconsistent("eb:Action differs from the SBDH document type", um.message_id)
    if sbdh.process_id:
        scheme = um.service_type or peppol.DEFAULT_PROCESS_SCHEME
        if sbdh.process_id != f"{scheme}::{um.service}":
            raise ValueInconsistent("eb:Service differs from the SBDH process", um.message_id)


def error_code_of(exc: BaseException) -> EbmsError:
    return exc.code if isinstance(exc, As4Error) else EbmsError.OTHER
