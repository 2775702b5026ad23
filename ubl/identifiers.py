"""Peppol identifiers: participants, document types, processes.

Policy for use of Identifiers 4.4 (PFUOI), protocol.md §7:
- serialised as `scheme::value`; a scheme is 3 dash-separated lower-case parts, at most 25 characters;
- participant scheme `iso6523-actorid-upis`, value `NNNN:id` (4-digit ICD, then 1..130 characters
  of A-Z a-z 0-9 - . _ ~), case-insensitive, so we keep it lower-case;
- document type schemes `busdox-docid-qns` and `peppol-doctype-wildcard`, value <= 500 ISO-8859-1
  characters, case-sensitive;
- process scheme `cenbii-procid-ubl` (and `busdox-procid-transport` for `busdox:noprocess`),
  value <= 200 characters, case-sensitive.

`parse` checks syntax only, so any id seen on the network can be carried, stored and
compared. Whether a participant id is *acceptable* (ICD in the code list and still in use,
structure and check digit of its scheme) is `check_participant_id`, a separate step:
Peppol's own test ids such as `0088:123abc` or `9999:elonia` are well-formed but would fail it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .errors import IdentifierError, IdentifierProblem
from .icd import check_icd_value, lookup_icd

__all__ = [
    "ParticipantId",
    "DocumentTypeId",
    "ProcessId",
    "check_participant_id",
    "PARTICIPANT_SCHEME",
    "DOCTYPE_SCHEME",
    "DOCTYPE_WILDCARD_SCHEME",
    "PROCESS_SCHEME",
    "NO_PROCESS_SCHEME",
    "BIS_BILLING_INVOICE",
    "BIS_BILLING_CREDIT_NOTE",
    "BIS_BILLING_PROCESS",
]

PARTICIPANT_SCHEME = "iso6523-actorid-upis"
DOCTYPE_SCHEME = "busdox-docid-qns"
DOCTYPE_WILDCARD_SCHEME = "peppol-doctype-wildcard"
PROCESS_SCHEME = "cenbii-procid-ubl"
NO_PROCESS_SCHEME = "busdox-procid-transport"  # only for `busdox:noprocess`

# PFUOI 4.4: scheme identifiers, limits.
_SCHEME_RE = re.compile(r"[a-z0-9]+-[a-z0-9]+-[a-z0-9]+")
_MAX_SCHEME = 25
_MAX_PARTICIPANT_ID = 130  # after "NNNN:" (PFUOI 4.4 raised it from 50)
_MAX_DOCTYPE_VALUE = 500
_MAX_PROCESS_VALUE = 200
_ICD_RE = re.compile(r"[0-9]{4}")
_PARTICIPANT_CHARS_RE = re.compile(r"[A-Za-z0-9\-._~]+")


def _split(text: object, kind: str, default_scheme: str | None) -> tuple[str, str]:
    """Split `scheme::value`; a bare value gets `default_scheme`.

    Only a prefix that looks like a scheme counts as one, because doctype values
    themselves contain `::` ("urn:...:Invoice-2::Invoice##...::2.1").
    """
    if not isinstance(text, str):
        raise TypeError(f"{kind} must be a str, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise IdentifierError(IdentifierProblem.EMPTY, f"empty {kind}")
    head, sep, tail = text.partition("::")
    if sep and ":" not in head and "-" in head:
        return head, tail
    if sep and ":" not in head:
        # "something::value" where something is not shaped like a scheme
        _check_scheme(head, kind)
    if default_scheme is None:
        raise IdentifierError(IdentifierProblem.BAD_SCHEME, f"{kind} {text!r} has no scheme")
    return default_scheme, text


def _check_scheme(scheme: str, kind: str) -> None:
    if len(scheme) > _MAX_SCHEME or not _SCHEME_RE.fullmatch(scheme):
        raise IdentifierError(
            IdentifierProblem.BAD_SCHEME,
            f"{kind} scheme {scheme!r} is not of the form xxx-yyy-zzz (lower case, <= {_MAX_SCHEME} chars)",
        )


@dataclass(frozen=True, slots=True)
class ParticipantId:
    """A Peppol participant identifier, e.g. `iso6523-actorid-upis::0088:5798000000001`.

    Case-insensitive by policy, so the value is kept lower-case: two ids are equal
    exactly when their strings are equal, and the string is a safe database key.
    """

    scheme: str
    value: str

    def __post_init__(self) -> None:
        scheme = self.scheme.strip().lower()
        value = self.value.strip().lower()
        _check_scheme(scheme, "participant id")
        if scheme != PARTICIPANT_SCHEME:
            raise IdentifierError(
                IdentifierProblem.UNSUPPORTED_SCHEME,
                f"participant id scheme must be {PARTICIPANT_SCHEME}, not {scheme!r}",
            )
        if not value:
            raise IdentifierError(IdentifierProblem.EMPTY_VALUE, "participant id has an empty value")
        icd, sep, local = value.partition(":")
        if not sep:
            raise IdentifierError(IdentifierProblem.MISSING_ICD, f"participant id {value!r} lacks the 'NNNN:' ICD prefix")
        if not _ICD_RE.fullmatch(icd):
            raise IdentifierError(IdentifierProblem.BAD_ICD, f"participant id {value!r}: ICD {icd!r} is not 4 digits")
        if not local:
            raise IdentifierError(IdentifierProblem.EMPTY_VALUE, f"participant id {value!r} has nothing after the ICD")
        if len(local) > _MAX_PARTICIPANT_ID:
            raise IdentifierError(
                IdentifierProblem.TOO_LONG,
                f"participant id {value[:20]!r}...: {len(local)} characters after the ICD, at most {_MAX_PARTICIPANT_ID}",
            )
        if not _PARTICIPANT_CHARS_RE.fullmatch(local):
            raise IdentifierError(
                IdentifierProblem.BAD_CHARACTERS,
                f"participant id {value!r} may only use A-Z a-z 0-9 - . _ ~ after the ICD",
            )
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "value", value)

    @classmethod
    def parse(cls, text: str) -> ParticipantId:
        """`iso6523-actorid-upis::0088:123abc` or `0088:123abc` (scheme implied).

        Raises IdentifierError with the problem found; syntax only (see module doc).
        """
        scheme, value = _split(text, "participant id", PARTICIPANT_SCHEME)
        return cls(scheme, value)

    @classmethod
    def of(cls, icd: str, identifier: str) -> ParticipantId:
        """Build from an ICD and the identifier (e.g. a UBL EndpointID and its schemeID)."""
        return cls(PARTICIPANT_SCHEME, f"{icd.strip()}:{identifier.strip()}")

    @property
    def icd(self) -> str:
        """The ISO 6523 ICD, e.g. "0088"."""
        return self.value.partition(":")[0]

    @property
    def identifier(self) -> str:
        """The part after the ICD, e.g. "5798000000001"."""
        return self.value.partition(":")[2]

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


def check_participant_id(pid: ParticipantId, *, on: dt.date | None = None) -> None:
    """Check that `pid` is acceptable for use in Peppol, beyond its syntax.

    The ICD must be in the Peppol code list and usable on `on` (a removed scheme
    never is; a deprecated one stops on its removal date), and the identifier must
    have its scheme's structure and check digit (GLN, KBO/BCE, VAT numbers, ...).

    Raises IdentifierError(UNKNOWN_ICD | REMOVED_ICD | BAD_FORMAT | BAD_CHECK_DIGIT).
    """
    scheme = lookup_icd(pid.icd)
    if scheme is None:
        raise IdentifierError(IdentifierProblem.UNKNOWN_ICD, f"{pid}: ICD {pid.icd} is not in the Peppol code list")
    if not scheme.usable_on(on):
        when = f" on {scheme.removal_date.isoformat()}" if scheme.removal_date else ""
        raise IdentifierError(
            IdentifierProblem.REMOVED_ICD,
            f"{pid}: ICD {pid.icd} ({scheme.scheme_id}) was removed from the Peppol code list{when}",
        )
    check_icd_value(pid.icd, pid.identifier)


#: whitespace (str.isspace(): the `\s` of a str pattern is the same set) or a C0 control character
_SPACE_OR_CONTROL_RE = re.compile(r"[\s\x00-\x1f]")


def _check_latin1(value: str, kind: str) -> None:
    # One C-level scan each (the receiver checks two identifiers of every message): a per-character
    # generator here was a tenth of a millisecond per exchange.
    try:
        value.encode("iso-8859-1")
    except UnicodeEncodeError:
        raise IdentifierError(IdentifierProblem.BAD_CHARACTERS, f"{kind} {value[:40]!r} is not ISO-8859-1") from None
    if _SPACE_OR_CONTROL_RE.search(value):
        raise IdentifierError(IdentifierProblem.BAD_CHARACTERS, f"{kind} {value[:40]!r} contains whitespace")


@dataclass(frozen=True, slots=True)
class DocumentTypeId:
    """A Peppol document type identifier; case-sensitive, kept exactly as given.

    For the `busdox-docid-qns` form `<root ns>::<local name>##<customization>::<version>`
    the parts are available as properties.
    """

    scheme: str
    value: str

    def __post_init__(self) -> None:
        _check_scheme(self.scheme, "document type id")
        if self.scheme not in (DOCTYPE_SCHEME, DOCTYPE_WILDCARD_SCHEME):
            raise IdentifierError(
                IdentifierProblem.UNSUPPORTED_SCHEME,
                f"document type id scheme must be {DOCTYPE_SCHEME} or {DOCTYPE_WILDCARD_SCHEME}, not {self.scheme!r}",
            )
        if not self.value:
            raise IdentifierError(IdentifierProblem.EMPTY_VALUE, "document type id has an empty value")
        if len(self.value) > _MAX_DOCTYPE_VALUE:
            raise IdentifierError(
                IdentifierProblem.TOO_LONG, f"document type id is {len(self.value)} characters, at most {_MAX_DOCTYPE_VALUE}"
            )
        _check_latin1(self.value, "document type id")

    @classmethod
    def parse(cls, text: str) -> DocumentTypeId:
        """`busdox-docid-qns::urn:...::Invoice##...::2.1`, or the bare value (busdox-docid-qns implied)."""
        scheme, value = _split(text, "document type id", DOCTYPE_SCHEME)
        return cls(scheme, value)

    @property
    def root_namespace(self) -> str | None:
        """Namespace URI of the business document root ("urn:oasis:...:Invoice-2"), or None if not structured."""
        head, sep, _ = self.value.partition("##")
        ns, sep2, _ = head.rpartition("::")
        return ns if sep and sep2 else None

    @property
    def local_name(self) -> str | None:
        """Local name of the business document root ("Invoice"), or None if not structured."""
        head, sep, _ = self.value.partition("##")
        _, sep2, name = head.rpartition("::")
        return name if sep and sep2 else None

    @property
    def customization_id(self) -> str | None:
        """The CustomizationID part ("urn:cen.eu:en16931:2017#compliant#..."), or None."""
        _, sep, tail = self.value.partition("##")
        cust, sep2, _ = tail.rpartition("::")
        return cust if sep and sep2 else None

    @property
    def version(self) -> str | None:
        """The syntax version ("2.1"), or None."""
        _, sep, tail = self.value.partition("##")
        _, sep2, ver = tail.rpartition("::")
        return ver if sep and sep2 else None

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


@dataclass(frozen=True, slots=True)
class ProcessId:
    """A Peppol process identifier, e.g. `cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0`."""

    scheme: str
    value: str

    def __post_init__(self) -> None:
        _check_scheme(self.scheme, "process id")
        if self.scheme not in (PROCESS_SCHEME, NO_PROCESS_SCHEME):
            raise IdentifierError(
                IdentifierProblem.UNSUPPORTED_SCHEME,
                f"process id scheme must be {PROCESS_SCHEME} (or {NO_PROCESS_SCHEME}), not {self.scheme!r}",
            )
        if not self.value:
            raise IdentifierError(IdentifierProblem.EMPTY_VALUE, "process id has an empty value")
        if len(self.value) > _MAX_PROCESS_VALUE:
            raise IdentifierError(
                IdentifierProblem.TOO_LONG, f"process id is {len(self.value)} characters, at most {_MAX_PROCESS_VALUE}"
            )
        _check_latin1(self.value, "process id")

    @classmethod
    def parse(cls, text: str) -> ProcessId:
        """`cenbii-procid-ubl::urn:...`, or the bare value (cenbii-procid-ubl implied)."""
        scheme, value = _split(text, "process id", PROCESS_SCHEME)
        return cls(scheme, value)

    def __str__(self) -> str:
        return f"{self.scheme}::{self.value}"


# BIS Billing 3.0 (protocol.md §7).
BIS_BILLING_INVOICE = DocumentTypeId(
    DOCTYPE_SCHEME,
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
    "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
)
BIS_BILLING_CREDIT_NOTE = DocumentTypeId(
    DOCTYPE_SCHEME,
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote"
    "##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
)
BIS_BILLING_PROCESS = ProcessId(PROCESS_SCHEME, "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
