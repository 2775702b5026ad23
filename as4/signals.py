"""Signals: signed Receipts (with NonRepudiationInformation) and signed ebMS Errors, and checking a receipt.

A receipt is only proof of delivery if (Peppol AS4 2.0.3 §1.5, phase4#177):
it is signed by the receiver's certificate, its RefToMessageId is our
MessageId, and its NRI repeats exactly the digests we signed. `verify_receipt`
checks all three and raises `InvalidReceipt` (EBMS:0302) otherwise; an Error
signal in place of a receipt becomes `PeerRejected` carrying the peer's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from as4 import _envelope, _wss
from as4.ebms import ErrorItem, ErrorSignal, NrReference, Receipt, SignalMessage
from as4.errors import As4Error, EbmsError, InvalidReceipt, PeerRejected
from as4.message import InboundMessage, OutboundMessage, new_message_id, parse_message
from certs import CertError
from certs.keys import same_certificate

__all__ = ["SignalResponse", "VerifiedReceipt", "build_receipt", "build_error_signal", "verify_receipt",
           "verify_signal"]

SOAP12_CT = "application/soap+xml;charset=UTF-8"


@dataclass(frozen=True)
class SignalResponse:
    message_id: str
    ref_to_message_id: str | None
    content_type: str
    body: bytes
    is_error: bool = False


def _signed_signal(sm: SignalMessage, *, key: rsa.RSAPrivateKey, cert: x509.Certificate,
                   nri: tuple[etree._Element, ...] | None) -> bytes:
    """The signed signal envelope, written as text (as4/_envelope.py says why).

    `nri`: the received ds:References, copied in their own exclusive c14n (they come from the peer's
    tree). When one uses a prefix the receipt's eb:Messaging also renders, its canonical form inside the
    receipt differs, and the digest is taken from the parsed envelope instead.
    """
    refs = tuple(_wss.c14n(ref).decode() for ref in nri or ())
    messaging_id, bst = _wss.new_ids("msg", "X509")
    messaging_wire, messaging_c14n = _envelope.messaging(sm, messaging_id, refs)
    soap, _ = _envelope.envelope(
        tokens=_envelope.bst(cert, bst), messaging_wire=messaging_wire,
        messaging_c14n=messaging_c14n if all(_envelope.reference_fits(r) for r in refs) else None,
        messaging_id=messaging_id, key=key, signer_bst_id=bst)
    return soap


def build_receipt(ref_to_message_id: str, nri: tuple[etree._Element, ...], *, key: rsa.RSAPrivateKey,
                  cert: x509.Certificate, at: datetime, message_id: str | None = None) -> SignalResponse:
    """A signed Receipt whose NRI copies each received ds:Reference (`ReceivedDocument.nri`)."""
    mid = message_id or new_message_id()
    sm = SignalMessage(mid, at, ref_to_message_id, receipt=Receipt(()))
    return SignalResponse(mid, ref_to_message_id, SOAP12_CT, _signed_signal(sm, key=key, cert=cert, nri=nri))


def build_error_signal(error: As4Error, *, key: rsa.RSAPrivateKey, cert: x509.Certificate, at: datetime,
                       message_id: str | None = None) -> SignalResponse:
    """A signed ebMS Error for `error`; the peer sees the code and generic text, never our detail."""
    mid = message_id or new_message_id()
    code = error.code
    item = ErrorItem(code=code.code, severity=code.severity.value, category=code.category,
                     short_description=code.short_description, origin="ebMS",
                     ref_to_message_in_error=error.ref_to_message_id,
                     description=code.short_description, detail=error.error_detail or code.short_description)
    sm = SignalMessage(mid, at, error.ref_to_message_id, error=ErrorSignal((item,)))
    return SignalResponse(mid, error.ref_to_message_id, SOAP12_CT,
                          _signed_signal(sm, key=key, cert=cert, nri=None), is_error=True)


@dataclass(frozen=True)
class VerifiedReceipt:
    message_id: str
    ref_to_message_id: str
    timestamp: datetime
    signer: x509.Certificate
    references: tuple[NrReference, ...]


def verify_signal(inbound: InboundMessage) -> _wss.VerifiedSignature:
    """Signature of a signal (no attachments) covering its eb:Messaging; raises As4Error."""
    security = inbound.security
    if security is None:
        raise As4Error(EbmsError.POLICY_NONCOMPLIANCE, "signal is not signed")
    sig = _wss.verify(security, attachments={})
    if not any(r.element is inbound.messaging for r in sig.references):
        raise As4Error(EbmsError.FAILED_AUTHENTICATION, "the signal's eb:Messaging is not the signed one")
    return sig


def verify_receipt(
    content_type: str,
    body: bytes,
    *,
    sent: OutboundMessage,
    receiver_cert: x509.Certificate | None = None,
    verify_signer: Callable[[x509.Certificate, datetime], object] | None = None,
    at: datetime,
) -> VerifiedReceipt:
    """Check that `body` is a receipt proving delivery of `sent`.

    The signer must be `receiver_cert` (the certificate from the SMP, the
    one we encrypted for) when given, and pass `verify_signer` (a PKI check)
    when given. Raises `PeerRejected` for an Error signal, `InvalidReceipt`
    (EBMS:0302) for anything else that is not a valid receipt.
    """
    try:
        inbound = parse_message(content_type, body)
    except As4Error as exc:
        raise InvalidReceipt(f"response is not an AS4 signal: {exc}", sent.message_id) from None
    sm = inbound.message
    if not isinstance(sm, SignalMessage):
        raise InvalidReceipt("response is a UserMessage, not a signal", sent.message_id)
    if sm.error is not None and sm.receipt is None:
        first = sm.error.errors[0]
        code = first.ebms_error or EbmsError.OTHER
        raise PeerRejected(code, f"receiver answered {first.code} {first.short_description or ''} "
                                 f"{first.detail or ''}".strip(), sent.message_id,
                           error_detail=first.detail, raw_code=first.code)
    if sm.receipt is None:
        raise InvalidReceipt("signal holds neither a Receipt nor an Error", sent.message_id)
    try:
        sig = verify_signal(inbound)
    except As4Error as exc:
        raise InvalidReceipt(f"receipt signature: {exc.detail}", sent.message_id) from None
    if receiver_cert is not None and not same_certificate(sig.certificate, receiver_cert):
        raise InvalidReceipt("receipt is not signed by the receiver's certificate", sent.message_id)
    if verify_signer is not None:
        try:
            verify_signer(sig.certificate, at)
        except (CertError, ValueError) as exc:
            raise InvalidReceipt(f"receipt signer rejected: {exc}", sent.message_id) from None
    if sm.ref_to_message_id != sent.message_id:
        raise InvalidReceipt(f"receipt refers to {sm.ref_to_message_id!r}, not {sent.message_id!r}",
                             sent.message_id)
    got = {(r.uri, r.digest_value) for r in sm.receipt.references}
    want = {(r.uri, r.digest_value) for r in sent.signed_references}
    if got != want:
        raise InvalidReceipt("receipt NonRepudiationInformation does not match what we signed", sent.message_id)
    return VerifiedReceipt(sm.message_id, sm.ref_to_message_id, sm.timestamp, sig.certificate,
                           sm.receipt.references)
