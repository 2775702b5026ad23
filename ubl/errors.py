"""Errors raised by the `ubl` package.

    UblError                      base of everything this package raises on bad input
    ├── IdentifierError (+ValueError)  a participant / document type / process id is wrong;
    │                                   `.problem` says which way (IdentifierProblem)
    ├── SbdhError                  an SBDH envelope is wrong; `.problem` (SbdhProblem)
    └── DocumentError              a business document cannot be read as UBL

Validation *findings* are data (`ValidationReport`), not exceptions: a document
that breaks a business rule is still a document. We raise only when work cannot
go on. Callers branch on `.problem`, never on the message text.
"""

from __future__ import annotations

import enum

__all__ = [
    "UblError",
    "IdentifierError",
    "IdentifierProblem",
    "SbdhError",
    "SbdhProblem",
    "DocumentError",
]


class UblError(Exception):
    """Base error of the ubl package: the input (not the caller) is wrong."""


class IdentifierProblem(enum.Enum):
    """Each way a Peppol identifier can be wrong (Policy for use of Identifiers 4.4)."""

    #: Nothing given, or only whitespace.
    EMPTY = "empty"
    #: The scheme is not of the form `xxx-yyy-zzz` (PFUOI: 3 dash-separated parts, <= 25 chars).
    BAD_SCHEME = "bad-scheme"
    #: A well-formed scheme that Peppol does not use for this kind of identifier.
    UNSUPPORTED_SCHEME = "unsupported-scheme"
    #: The scheme is there but the value after `::` is empty.
    EMPTY_VALUE = "empty-value"
    #: A participant value without the `NNNN:` ICD prefix.
    MISSING_ICD = "missing-icd"
    #: The ICD prefix is not exactly four digits.
    BAD_ICD = "bad-icd"
    #: The ICD is well-formed but not in the Peppol code list.
    UNKNOWN_ICD = "unknown-icd"
    #: The ICD was in the code list but has been removed (or its removal date has passed).
    REMOVED_ICD = "removed-icd"
    #: Longer than the policy allows (participant 130 after the ICD, doctype 500, process 200).
    TOO_LONG = "too-long"
    #: Characters the policy does not allow (participant: A-Z a-z 0-9 - . _ ~; doctype: ISO-8859-1).
    BAD_CHARACTERS = "bad-characters"
    #: The identifier does not have the structure its ICD prescribes (length, digits, prefix).
    BAD_FORMAT = "bad-format"
    #: The structure is right but the check digit(s) are wrong.
    BAD_CHECK_DIGIT = "bad-check-digit"


class IdentifierError(UblError, ValueError):
    """An identifier is wrong; `problem` says how, the message says where."""

    def __init__(self, problem: IdentifierProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


class SbdhProblem(enum.Enum):
    """Each way a Peppol SBDH envelope can be wrong.

    Values follow peppol-commons' EPeppolSBDHDataError names so that logs and
    test expectations line up with the reference implementation.
    """

    #: Not XML, or not valid against the GS1 SBDH 1.3 structure (missing/misplaced elements).
    INVALID_SBD_XML = "INVALID_SBD_XML"
    #: Root is a StandardBusinessDocument but it has no header.
    MISSING_SBDH = "MISSING_SBDH"
    INVALID_HEADER_VERSION = "INVALID_HEADER_VERSION"
    INVALID_SENDER_COUNT = "INVALID_SENDER_COUNT"
    INVALID_SENDER_AUTHORITY = "INVALID_SENDER_AUTHORITY"
    INVALID_SENDER_VALUE = "INVALID_SENDER_VALUE"
    INVALID_RECEIVER_COUNT = "INVALID_RECEIVER_COUNT"
    INVALID_RECEIVER_AUTHORITY = "INVALID_RECEIVER_AUTHORITY"
    INVALID_RECEIVER_VALUE = "INVALID_RECEIVER_VALUE"
    INVALID_STANDARD = "INVALID_STANDARD"
    INVALID_TYPE_VERSION = "INVALID_TYPE_VERSION"
    INVALID_TYPE = "INVALID_TYPE"
    INVALID_INSTANCE_IDENTIFIER = "INVALID_INSTANCE_IDENTIFIER"
    INVALID_CREATION_DATE_TIME = "INVALID_CREATION_DATE_TIME"
    BUSINESS_SCOPE_MISSING = "BUSINESS_SCOPE_MISSING"
    INVALID_SCOPE_COUNT = "INVALID_SCOPE_COUNT"
    MISSING_DOCUMENT_TYPE_IDENTIFIER = "MISSING_DOCUMENT_TYPE_IDENTIFIER"
    INVALID_DOCUMENT_TYPE_IDENTIFIER = "INVALID_DOCUMENT_TYPE_IDENTIFIER"
    MISSING_PROCESS_IDENTIFIER = "MISSING_PROCESS_IDENTIFIER"
    INVALID_PROCESS_IDENTIFIER = "INVALID_PROCESS_IDENTIFIER"
    MISSING_COUNTRY_C1 = "MISSING_COUNTRY_C1"
    INVALID_COUNTRY_C1 = "INVALID_COUNTRY_C1"
    INVALID_MLS_TO = "INVALID_MLS_TO"
    INVALID_MLS_TYPE = "INVALID_MLS_TYPE"
    #: The envelope carries no business message, or one that does not match the header.
    INVALID_BUSINESS_MESSAGE = "INVALID_BUSINESS_MESSAGE"


class SbdhError(UblError):
    """An SBDH envelope is wrong; `problem` says how."""

    def __init__(self, problem: SbdhProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


class DocumentError(UblError):
    """A business document is not readable as a supported UBL document."""
