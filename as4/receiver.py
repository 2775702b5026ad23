"""The receiving side's decision, without I/O: bytes in -> a response to send and maybe a document to store.

`Receiver.handle` parses, opens and answers; storing is the caller's job and
must happen before the receipt goes out (see `as4.service`). Every failure
becomes a signed ebMS Error with the right code; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from as4.ebms import SignalMessage
from as4.errors import As4Error, EbmsError
from as4.inbound import ReceivedDocument, ReceiverPolicy, open_user_message
from as4.message import parse_message
from as4.signals import SignalResponse, build_error_signal, build_receipt
from certs import CertificateVerifier, Role

__all__ = ["Receiver", "Handled"]


@dataclass(frozen=True)
class Handled:
    """What to do with one request: store `document` (if any), then answer `response` (if any)."""

    response: SignalResponse | None
    document: ReceivedDocument | None = None
    error: As4Error | None = None


class Receiver:
    """Our key, our certificate, the PKI check and the policy, bound once per process."""

    def __init__(self, *, key: rsa.RSAPrivateKey, cert: x509.Certificate, trust: object,
                 revocation: object | None = None, policy: ReceiverPolicy = ReceiverPolicy()) -> None:
        self.key = key
        self.cert = cert
        self.trust = trust
        self.revocation = revocation
        self.policy = policy
        self._chains = CertificateVerifier(Role.ACCESS_POINT)

    def verify_signer(self, cert: x509.Certificate, at: datetime) -> str:
        """certs' AP check: chains to the AP CA, valid at `at`, not revoked; returns the seat id.

        The chain part is remembered per certificate (`certs.CertificateVerifier`); revocation
        is asked every time.
        """
        revocation = self.revocation if self.policy.check_revocation else None
        return str(self._chains.verify(cert, trust=self.trust, at=at, revocation=revocation))  # type: ignore[arg-type]

    def handle(self, content_type: str, body: bytes | Iterable[bytes], *, at: datetime) -> Handled:
        """Never raises for bad input: the result carries a signed Error signal instead."""
        try:
            inbound = parse_message(content_type, body, max_bytes=self.policy.max_message_bytes)
            if isinstance(inbound.message, SignalMessage):
                # Peppol is one-way push: signals only come back synchronously. phase4 accepts
                # stray signals without answering; so do we.
                return Handled(None)
            document = open_user_message(inbound, key=self.key, cert=self.cert, verify_signer=self.verify_signer,
                                         at=at, policy=self.policy)
        except As4Error as exc:
            return Handled(self.error(exc, at=at), error=exc)
        receipt = build_receipt(document.message_id, document.nri, key=self.key, cert=self.cert, at=at)
        return Handled(receipt, document)

    def error(self, exc: As4Error, *, at: datetime) -> SignalResponse:
        return build_error_signal(exc, key=self.key, cert=self.cert, at=at)

    def internal_error(self, *, at: datetime, ref_to_message_id: str | None = None) -> SignalResponse:
        return self.error(As4Error(EbmsError.OTHER, "internal error", ref_to_message_id), at=at)
