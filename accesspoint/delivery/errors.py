"""Errors of the delivery package.

    DeliveryError                 base of what this package raises on bad input or state
    ├── DocumentRejected          a submitted document cannot be sent; `.code` says why
    ├── UnknownEntry              no outbox entry / document with that id
    └── NotServiced               an inbound message for a participant this node does not serve
                                  (the AS4 endpoint answers EBMS:0004 PEPPOL:NOT_SERVICED)

Failures of a delivery *attempt* are not exceptions of this package: they are
recorded on the outbox entry (`error_code`, events) because the entry, not the
caller, owns them.
"""

from __future__ import annotations

__all__ = ["DeliveryError", "DocumentRejected", "UnknownEntry", "NotServiced"]


class DeliveryError(Exception):
    """Base error of the delivery package."""


class DocumentRejected(DeliveryError):
    """A submitted document cannot be accepted into the outbox.

    `code` is stable for API clients: "not-xml", "not-ubl", "no-sender", "no-receiver",
    "unknown-sender", "sender-not-active", "invalid" (validation found fatal rules; see
    `findings`), "bad-sbdh", "bad-email".
    """

    def __init__(self, code: str, detail: str, findings: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.findings = findings


class UnknownEntry(DeliveryError, LookupError):
    pass


class NotServiced(DeliveryError):
    """The final recipient is not a participant that receives on this node."""

    def __init__(self, participant_id: str) -> None:
        super().__init__(f"{participant_id} is not serviced by this access point")
        self.participant_id = participant_id
