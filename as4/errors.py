"""The ebMS 3 error codes and the one exception `as4` raises.

Tree::

    As4Error(code: EbmsError, detail, ref_to_message_id)
     +-- ValueInconsistent      EBMS:0003  header vs P-Mode / SBDH mismatch
     +-- NotServiced            EBMS:0004  + ErrorDetail PEPPOL:NOT_SERVICED
     +-- MimeInconsistency      EBMS:0007  the MIME envelope is broken
     +-- InvalidHeader          EBMS:0009  eb:Messaging missing or malformed
     +-- FailedAuthentication   EBMS:0101  bad/absent signature, untrusted or revoked signer
     +-- FailedDecryption       EBMS:0102
     +-- PolicyNoncompliance    EBMS:0103  not signed + encrypted, wrong algorithms, non-BST key refs
     +-- DecompressionFailure   EBMS:0303

Subclasses exist only where a caller branches on them; any other code is an
`As4Error` with the right `EbmsError`. The `detail` is for our own logs; the
text sent to the peer is the generic short description (a detailed reason
would help an attacker probe the signature check).
"""

from __future__ import annotations

import enum

__all__ = [
    "EbmsError",
    "Severity",
    "As4Error",
    "ValueInconsistent",
    "NotServiced",
    "MimeInconsistency",
    "InvalidHeader",
    "FailedAuthentication",
    "FailedDecryption",
    "PolicyNoncompliance",
    "DecompressionFailure",
    "NOT_SERVICED_DETAIL",
    "PeerRejected",
    "InvalidReceipt",
]

#: Peppol AS4 2.0.3 "not serviced": EBMS:0004 with this ErrorDetail (04-not-serviced.adoc).
NOT_SERVICED_DETAIL = "PEPPOL:NOT_SERVICED"


class Severity(enum.Enum):
    FAILURE = "failure"
    WARNING = "warning"


class EbmsError(enum.Enum):
    """Every ebMS 3 / AS4 error of protocol.md §1.6 (ebMS 3 core §6.7, AS4 §7.2)."""

    #: (code, short description, severity, category)
    VALUE_NOT_RECOGNIZED = ("EBMS:0001", "ValueNotRecognized", Severity.FAILURE, "Content")
    FEATURE_NOT_SUPPORTED = ("EBMS:0002", "FeatureNotSupported", Severity.WARNING, "Content")
    VALUE_INCONSISTENT = ("EBMS:0003", "ValueInconsistent", Severity.FAILURE, "Content")
    OTHER = ("EBMS:0004", "Other", Severity.FAILURE, "Content")
    CONNECTION_FAILURE = ("EBMS:0005", "ConnectionFailure", Severity.WARNING, "Communication")
    EMPTY_MPC = ("EBMS:0006", "EmptyMessagePartitionChannel", Severity.FAILURE, "Communication")
    MIME_INCONSISTENCY = ("EBMS:0007", "MimeInconsistency", Severity.FAILURE, "Unpackaging")
    FEATURE_NOT_SUPPORTED_INCONSISTENCY = (
        "EBMS:0008", "FeatureNotSupportedInconsistency", Severity.FAILURE, "Unpackaging")
    INVALID_HEADER = ("EBMS:0009", "InvalidHeader", Severity.FAILURE, "Unpackaging")
    PROCESSING_MODE_MISMATCH = ("EBMS:0010", "ProcessingModeMismatch", Severity.FAILURE, "Processing")
    EXTERNAL_PAYLOAD_ERROR = ("EBMS:0011", "ExternalPayloadError", Severity.FAILURE, "Processing")
    FAILED_AUTHENTICATION = ("EBMS:0101", "FailedAuthentication", Severity.FAILURE, "Processing")
    FAILED_DECRYPTION = ("EBMS:0102", "FailedDecryption", Severity.FAILURE, "Processing")
    POLICY_NONCOMPLIANCE = ("EBMS:0103", "PolicyNoncompliance", Severity.FAILURE, "Processing")
    DYSFUNCTIONAL_RELIABILITY = ("EBMS:0201", "DysfunctionalReliability", Severity.FAILURE, "Processing")
    DELIVERY_FAILURE = ("EBMS:0202", "DeliveryFailure", Severity.FAILURE, "Communication")
    MISSING_RECEIPT = ("EBMS:0301", "MissingReceipt", Severity.FAILURE, "Communication")
    INVALID_RECEIPT = ("EBMS:0302", "InvalidReceipt", Severity.FAILURE, "Communication")
    DECOMPRESSION_FAILURE = ("EBMS:0303", "DecompressionFailure", Severity.FAILURE, "Communication")
    #: (not part of ebMS 3) phase4's answer to a re-sent MessageId.
    DUPLICATE_DETECTED = ("EBMS:4001", "DuplicateDetected", Severity.FAILURE, "Processing")

    def __init__(self, code: str, short_description: str, severity: Severity, category: str) -> None:
        self.code = code
        self.short_description = short_description
        self.severity = severity
        self.category = category

    @classmethod
    def from_code(cls, code: str) -> EbmsError | None:
        for member in cls:
            if member.code == code:
                return member
        return None


class As4Error(Exception):
    """A message (or signal) we cannot accept; `code` is what goes back on the wire."""

    default_code: EbmsError = EbmsError.OTHER

    def __init__(
        self,
        code: EbmsError | None = None,
        detail: str = "",
        ref_to_message_id: str | None = None,
        *,
        error_detail: str | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.detail = detail
        self.ref_to_message_id = ref_to_message_id
        #: text for eb:ErrorDetail on the wire (None: the generic short description)
        self.error_detail = error_detail
        super().__init__(f"{self.code.code} {self.code.short_description}: {detail}")

    def with_ref(self, ref_to_message_id: str | None) -> As4Error:
        """Attach the MessageId once it is known (errors raised before the header was read lack it)."""
        if self.ref_to_message_id is None:
            self.ref_to_message_id = ref_to_message_id
        return self


class _FixedCode(As4Error):
    """A subclass whose code is fixed: constructed as `FailedAuthentication(detail, ref)`."""

    def __init__(self, detail: str = "", ref_to_message_id: str | None = None, *,
                 error_detail: str | None = None) -> None:
        super().__init__(self.default_code, detail, ref_to_message_id, error_detail=error_detail)


class ValueInconsistent(_FixedCode):
    default_code = EbmsError.VALUE_INCONSISTENT


class NotServiced(_FixedCode):
    default_code = EbmsError.OTHER

    def __init__(self, detail: str = "", ref_to_message_id: str | None = None) -> None:
        super().__init__(detail, ref_to_message_id, error_detail=NOT_SERVICED_DETAIL)


class MimeInconsistency(_FixedCode):
    default_code = EbmsError.MIME_INCONSISTENCY


class InvalidHeader(_FixedCode):
    default_code = EbmsError.INVALID_HEADER


class FailedAuthentication(_FixedCode):
    default_code = EbmsError.FAILED_AUTHENTICATION


class FailedDecryption(_FixedCode):
    default_code = EbmsError.FAILED_DECRYPTION


class PolicyNoncompliance(_FixedCode):
    default_code = EbmsError.POLICY_NONCOMPLIANCE


class DecompressionFailure(_FixedCode):
    default_code = EbmsError.DECOMPRESSION_FAILURE


class PeerRejected(As4Error):
    """The receiver answered with a (verified or not) ebMS Error signal; `code` is theirs."""

    def __init__(self, code: EbmsError, detail: str, ref_to_message_id: str | None = None,
                 *, error_detail: str | None = None, raw_code: str | None = None) -> None:
        super().__init__(code, detail, ref_to_message_id, error_detail=error_detail)
        self.raw_code = raw_code or code.code


class InvalidReceipt(_FixedCode):
    """A receipt that does not prove delivery of what we sent (EBMS:0302)."""

    default_code = EbmsError.INVALID_RECEIPT
