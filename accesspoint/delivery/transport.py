"""What the delivery worker needs from the AS4 sender, as a Protocol.

The composition root passes an adapter over the as4 package's httpx2 sender
(`accesspoint.delivery.as4_adapter`); the worker only sees this contract:
`send` returns the verified receipt or raises `As4SendError` saying whether a
retry can help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import ubl

from .routing import PeppolEndpoint

__all__ = ["As4Request", "As4Outcome", "As4SendError", "As4Transport"]


@dataclass(frozen=True, slots=True)
class As4Request:
    #: Kept across retries of one entry, so the receiver's duplicate check works (protocol.md §1.8).
    message_id: str
    sbd: bytes
    endpoint: PeppolEndpoint
    sender: ubl.ParticipantId
    receiver: ubl.ParticipantId
    document_type_id: ubl.DocumentTypeId
    process_id: ubl.ProcessId


@dataclass(frozen=True, slots=True)
class As4Outcome:
    #: The signed receipt as received (non-repudiation evidence), already verified.
    receipt: bytes
    #: The receiving AP's seat id (CN of its certificate): C3 in the transaction log.
    remote_seat_id: str


class As4SendError(Exception):
    """An AS4 send that did not end in a verified receipt.

    `code`: the ebMS error code the receiver answered ("EBMS:0004"), or "http:<status>",
    "connect", "timeout", "invalid-receipt". `permanent`: retrying the same message
    cannot succeed (a Failure-severity ebMS error such as NOT_SERVICED or a rejected
    certificate); transport trouble is never permanent.
    """

    def __init__(self, code: str, detail: str, *, permanent: bool) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.permanent = permanent


class As4Transport(Protocol):
    async def send(self, request: As4Request) -> As4Outcome:
        ...
