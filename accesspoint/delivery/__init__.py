"""Delivery: the outbox (network first, email fallback), the workers that drain it, and the inbox.

Public surface:
- `Outbox` — submit, list, get, preflight, provide an email, resend, document links.
- `DeliveryWorker` + `RetryPolicy` — claim due entries (row locks / single writer) and deliver.
- `Router`, `EndpointDirectory`, `PeppolEndpoint`, `LookupUnavailable`, `Channel`, `Route` — W8.2 selection.
- `As4Transport`, `As4Request`, `As4Outcome`, `As4SendError` — the AS4 sender contract.
- `Inbox`, `Accepted` — inbound storage and routing, duplicates, MLS.
- `State`, `TRANSITIONS` — the outbox state machine.
"""

from .errors import DeliveryError, DocumentRejected, NotServiced, UnknownEntry
from .facts import OutgoingDocument, read_outgoing
from .inbox import Accepted, Inbox
from .outbox import EntryView, EventView, Outbox, Preflight, Submission, Validator
from .routing import AS4_TRANSPORT_PROFILE, Channel, EndpointDirectory, LookupUnavailable, PeppolEndpoint, Route, Router
from .states import FINAL_STATES, TRANSITIONS, InvalidTransition, State
from .transport import As4Outcome, As4Request, As4SendError, As4Transport
from .worker import DeliveryWorker, RetryPolicy

__all__ = [
    "DeliveryError",
    "DocumentRejected",
    "NotServiced",
    "UnknownEntry",
    "OutgoingDocument",
    "read_outgoing",
    "Accepted",
    "Inbox",
    "EntryView",
    "EventView",
    "Outbox",
    "Preflight",
    "Submission",
    "Validator",
    "AS4_TRANSPORT_PROFILE",
    "Channel",
    "EndpointDirectory",
    "LookupUnavailable",
    "PeppolEndpoint",
    "Route",
    "Router",
    "FINAL_STATES",
    "TRANSITIONS",
    "InvalidTransition",
    "State",
    "As4Outcome",
    "As4Request",
    "As4SendError",
    "As4Transport",
    "DeliveryWorker",
    "RetryPolicy",
]
