"""The Peppol ICD list (participant identifier schemes) and per-scheme checks.

The table is `icd_schemes.json` next to this module, generated from the OpenPeppol
eDEC code list "Participant identifier schemes" v9.7 (see its `_source`); the
product never reads the code list files themselves. `tests/ubl/test_icd.py`
compares the table with the official file so a stale copy is noticed.

Check digits come from python-stdnum, the maintained reference implementation of
these national algorithms. Where a scheme has no check digit (KvK since 2016,
OIN, DUNS, ...) only the structure is checked. Structures are written here
rather than taken from the code list's free-text "RegEx:" lines, because some of
those do not match real identifiers (0106 says 17 digits, real KvK numbers are 8).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources

from stdnum import get_cc_module
from stdnum import ean as _ean
from stdnum import lei as _lei
from stdnum.exceptions import InvalidChecksum as _InvalidChecksum
from stdnum.exceptions import ValidationError as _StdnumError

from .errors import IdentifierError, IdentifierProblem

__all__ = ["IcdScheme", "icd_schemes", "lookup_icd", "check_icd_value", "ICD_CODE_LIST_VERSION"]


@dataclass(frozen=True, slots=True)
class IcdScheme:
    """One row of the Peppol participant identifier scheme code list."""

    icd: str  # "0088"
    scheme_id: str  # "GLN", "BE:EN"
    country: str  # ISO 3166 alpha-2 or "international"
    name: str
    state: str  # "active" | "deprecated" | "removed"
    removal_date: dt.date | None

    def usable_on(self, day: dt.date | None) -> bool:
        """Whether new identifiers in this scheme may be used on `day`.

        A removed scheme is never usable; a deprecated one stops on its removal date.
        Without a day only the state counts.
        """
        if self.state == "removed":
            return False
        if self.removal_date is not None and day is not None and day >= self.removal_date:
            return False
        return True


@functools.cache
def _table() -> tuple[str, dict[str, IcdScheme]]:
    raw = json.loads(resources.files(__package__).joinpath("icd_schemes.json").read_text("utf-8"))
    schemes = {}
    for row in raw["schemes"]:
        removal = row.get("removal_date")
        schemes[row["icd"]] = IcdScheme(
            icd=row["icd"],
            scheme_id=row["scheme_id"],
            country=row["country"],
            name=row["name"],
            state=row["state"],
            removal_date=dt.date.fromisoformat(removal) if removal else None,
        )
    return raw["version"], schemes


def icd_schemes() -> Mapping[str, IcdScheme]:
    """All schemes of the code list, keyed by ICD ("0088")."""
    return dict(_table()[1])


def lookup_icd(icd: str) -> IcdScheme | None:
    """The scheme for `icd`, or None if the code list does not know it."""
    return _table()[1].get(icd)


ICD_CODE_LIST_VERSION = "9.7"


# ---------------------------------------------------------------------------
# Per-scheme structure and check digits. Each checker gets the identifier part
# (after "NNNN:") in upper case and raises IdentifierError.


def _bad_format(icd: str, value: str, expected: str) -> IdentifierError:
    return IdentifierError(IdentifierProblem.BAD_FORMAT, f"{icd}:{value} is not {expected}")


def _bad_check(icd: str, value: str, what: str) -> IdentifierError:
    return IdentifierError(IdentifierProblem.BAD_CHECK_DIGIT, f"{icd}:{value}: wrong check digit for a {what}")


def _pattern(regex: str, expected: str) -> Callable[[str, str], None]:
    compiled = re.compile(regex)

    def check(icd: str, value: str) -> None:
        if not compiled.fullmatch(value):
            raise _bad_format(icd, value, expected)

    return check


def _stdnum(regex: str, expected: str, validate: Callable[[str], object], what: str) -> Callable[[str, str], None]:
    shape = _pattern(regex, expected)

    def check(icd: str, value: str) -> None:
        shape(icd, value)
        try:
            validate(value)
        except _InvalidChecksum:
            raise _bad_check(icd, value, what) from None
        except _StdnumError:
            raise _bad_format(icd, value, expected) from None

    return check


def _gln(value: str) -> None:
    # A GLN is a GS1 key of 13 digits; GS1 keys share the EAN mod-10 (weights 3/1) check digit.
    _ean.validate(value)


def _belgian_enterprise_number(value: str) -> None:
    # KBO/BCE number = the Belgian VAT number without "BE": 10 digits, mod 97 (PEPPOL-COMMON-R043).
    get_cc_module("be", "vat").validate(value)


def _vat(country: str) -> Callable[[str, str], None]:
    """VAT numbers for ICD 99xx: with or without the country prefix, checked by stdnum."""
    module = get_cc_module(country.lower(), "vat")
    prefixes = {country, "EL"} if country == "GR" else {country}

    def check(icd: str, value: str) -> None:
        number = value
        for prefix in prefixes:
            if number.startswith(prefix):
                number = number[len(prefix) :]
                break
        if not number or not number.isalnum():
            raise _bad_format(icd, value, f"a {country} VAT number")
        try:
            module.validate(number)
        except _InvalidChecksum:
            raise _bad_check(icd, value, f"{country} VAT number") from None
        except _StdnumError:
            raise _bad_format(icd, value, f"a {country} VAT number") from None

    return check


_CHECKERS: dict[str, Callable[[str, str], None]] = {
    "0002": _stdnum(r"[0-9]{9}([0-9]{5})?", "a SIREN (9 digits) or SIRET (14 digits)",
                    lambda v: get_cc_module("fr", "siren" if len(v) == 9 else "siret").validate(v), "SIREN/SIRET"),
    "0007": _stdnum(r"[0-9]{10}", "a Swedish organisation number (10 digits)",
                    get_cc_module("se", "orgnr").validate, "Swedish organisation number"),
    "0009": _stdnum(r"[0-9]{14}", "a SIRET (14 digits)", get_cc_module("fr", "siret").validate, "SIRET"),
    "0060": _pattern(r"[0-9]{9}", "a DUNS number (9 digits)"),
    "0088": _stdnum(r"[0-9]{13}", "a GLN (13 digits)", _gln, "GLN"),
    "0096": _pattern(r"[0-9]{10}", "a Danish P number (10 digits)"),
    # KvK numbers are 8 digits and carry no check digit since 2016; the code list
    # also allows the 17-digit form (KvK + establishment number).
    "0106": _pattern(r"[0-9]{8}|[0-9]{17}", "a KvK number (8 digits)"),
    "0151": _stdnum(r"[0-9]{11}", "an ABN (11 digits)", get_cc_module("au", "abn").validate, "ABN"),
    "0183": _stdnum(r"CHE[0-9]{9}", "a Swiss UID (CHE + 9 digits)", get_cc_module("ch", "uid").validate, "Swiss UID"),
    "0184": _pattern(r"[1-9][0-9]{7}", "a Danish CVR number (8 digits)"),
    # OIN: 20 digits, no check digit (Logius, "OIN Stelsel").
    "0190": _pattern(r"[0-9]{20}", "a Dutch OIN (20 digits)"),
    "0192": _stdnum(r"[0-9]{9}", "a Norwegian organisation number (9 digits)",
                    get_cc_module("no", "orgnr").validate, "Norwegian organisation number"),
    "0199": _stdnum(r"[A-Z0-9]{18}[0-9]{2}", "an LEI (20 characters)",
                    _lei.validate, "LEI"),
    "0204": _pattern(r"[0-9]{2,12}(-[0-9A-Z]{0,30})?-[0-9]{2}", "a Leitweg-ID"),
    "0208": _stdnum(r"[01][0-9]{9}", "a Belgian enterprise number (10 digits starting 0 or 1)",
                    _belgian_enterprise_number, "Belgian enterprise number"),
    "0211": _stdnum(r"IT[0-9]{11}", "an Italian VAT number (IT + 11 digits)",
                    lambda v: get_cc_module("it", "iva").validate(v[2:]), "Italian VAT number"),
    "0242": _pattern(r"[0-9]{6}(-[0-9A-Z_]{3,12}(\.[0-9A-Z\-._~]{3,24})?)?", "a Peppol SPID"),
    "9914": _vat("AT"),
    "9920": _vat("ES"),
    "9925": _vat("BE"),
    "9930": _vat("DE"),
    "9944": _vat("NL"),
    "9957": _vat("FR"),
}


def check_icd_value(icd: str, identifier: str) -> None:
    """Check `identifier` (the part after "NNNN:") against the structure and
    check digit of its ICD; schemes without a known structure pass.

    Raises IdentifierError(BAD_FORMAT | BAD_CHECK_DIGIT).
    """
    checker = _CHECKERS.get(icd)
    if checker is not None:
        checker(icd, identifier.upper())
