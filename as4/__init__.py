"""Peppol AS4 (profile 2.0.3): build, seal, parse, open and answer messages; send and receive them.

The core is sans-I/O (bytes in, typed objects out, only `As4Error` raised for
bad input); `as4.client` (httpx2) and `as4.service` (Starlette) are the edges.
"""

from as4.blob import Blob
from as4.client import Attempt, Outcome, SendResult, make_client, send_message, tls_context
from as4.ebms import ErrorItem, NrReference, Party, PartInfo, Property, SignalMessage, UserMessage
from as4.errors import (
    NOT_SERVICED_DETAIL,
    As4Error,
    DecompressionFailure,
    EbmsError,
    FailedAuthentication,
    FailedDecryption,
    InvalidHeader,
    InvalidReceipt,
    MimeInconsistency,
    NotServiced,
    PeerRejected,
    PolicyNoncompliance,
    Severity,
    ValueInconsistent,
)
from as4.inbound import Payload, ReceivedDocument, ReceiverPolicy, open_user_message
from as4.message import InboundMessage, OutboundMessage, build_user_message, new_message_id, parse_message
from as4.mime import split_message_headers
from as4.receiver import Handled, Receiver
from as4.sbdh import SbdhInfo, read_sbdh
from as4.service import create_app, inbound_endpoint
from as4.signals import SignalResponse, VerifiedReceipt, build_error_signal, build_receipt, verify_receipt, \
    verify_signal
from as4.store import DirectoryStore, MessageStore, Stored

__all__ = [
    "NOT_SERVICED_DETAIL",
    "As4Error",
    "Attempt",
    "Blob",
    "DecompressionFailure",
    "DirectoryStore",
    "EbmsError",
    "ErrorItem",
    "FailedAuthentication",
    "FailedDecryption",
    "Handled",
    "InboundMessage",
    "InvalidHeader",
    "InvalidReceipt",
    "MessageStore",
    "MimeInconsistency",
    "NotServiced",
    "NrReference",
    "Outcome",
    "OutboundMessage",
    "PartInfo",
    "Party",
    "Payload",
    "PeerRejected",
    "PolicyNoncompliance",
    "Property",
    "ReceivedDocument",
    "Receiver",
    "ReceiverPolicy",
    "SbdhInfo",
    "SendResult",
    "Severity",
    "SignalMessage",
    "SignalResponse",
    "Stored",
    "UserMessage",
    "ValueInconsistent",
    "VerifiedReceipt",
    "build_error_signal",
    "build_receipt",
    "build_user_message",
    "create_app",
    "inbound_endpoint",
    "make_client",
    "new_message_id",
    "open_user_message",
    "parse_message",
    "read_sbdh",
    "send_message",
    "split_message_headers",
    "tls_context",
    "verify_receipt",
    "verify_signal",
]
