"""The few facts a list of invoices shows, read from a UBL Invoice or CreditNote: its number and date,
the seller's and the buyer's names, the amount due and its currency (and the buyer's country, which
Peppol Reporting needs).

One function reads them, from the first text at each of `SUMMARY_PATHS`, so the two ways a document
is read give the same summary: `summarise(root)` for a document already parsed (the outbox and a small
received message, whose tree exists anyway), and `summary_from_texts(texts)` for what `split_sbd`
collected at the same paths while streaming a large one. Neither parses anything itself.

The amount is kept as written (BT-115 `PayableAmount`, e.g. `1656.25` or `8550`), never converted to
a float; the currency is BT-5 `DocumentCurrencyCode`, which PEPPOL-EN16931-R051 makes the currency
of every amount in a BIS document. A value that is not what the field may hold (an amount that is
not a decimal number, a currency that is not three letters) is left out rather than shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from ._binding import CAC, CBC

__all__ = ["DocumentSummary", "SUMMARY_PATHS", "summarise", "summary_from_texts"]

#: The longest name kept (the `documents` columns' width); BIS sets no limit.
MAX_NAME_CHARS = 300
#: The same cut `split_sbd` makes (its MAX_TEXT_CHARS), so both readings agree on long values.
_MAX_TEXT_CHARS = 1024
_AMOUNT_RE = re.compile(r"[+-]?[0-9]{1,25}(?:\.[0-9]{1,10})?")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


def _c(ns: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{{{ns}}}{n}" for n in names)


def _party(role: str, *below: tuple[str, ...]) -> tuple[str, ...]:
    return _c(CAC, role, "Party") + tuple(p for part in below for p in part)


# Clark-name paths below the document root (Invoice and CreditNote use the same ones).
_NUMBER = _c(CBC, "ID")
_ISSUE_DATE = _c(CBC, "IssueDate")
_CURRENCY = _c(CBC, "DocumentCurrencyCode")
_PAYABLE = _c(CAC, "LegalMonetaryTotal") + _c(CBC, "PayableAmount")
# BT-27/BT-44 (legal name, mandatory in BIS) first, then BT-28/BT-45 (trading name).
_SELLER_LEGAL = _party("AccountingSupplierParty", _c(CAC, "PartyLegalEntity"), _c(CBC, "RegistrationName"))
_SELLER_TRADING = _party("AccountingSupplierParty", _c(CAC, "PartyName"), _c(CBC, "Name"))
_BUYER_LEGAL = _party("AccountingCustomerParty", _c(CAC, "PartyLegalEntity"), _c(CBC, "RegistrationName"))
_BUYER_TRADING = _party("AccountingCustomerParty", _c(CAC, "PartyName"), _c(CBC, "Name"))
_BUYER_COUNTRY = _party("AccountingCustomerParty", _c(CAC, "PostalAddress", "Country"), _c(CBC, "IdentificationCode"))

#: Every path `summarise` reads: pass them to `ubl.split_sbd(texts=...)` to summarise while streaming.
SUMMARY_PATHS: tuple[tuple[str, ...], ...] = (
    _NUMBER, _ISSUE_DATE, _CURRENCY, _PAYABLE, _SELLER_LEGAL, _SELLER_TRADING, _BUYER_LEGAL, _BUYER_TRADING,
    _BUYER_COUNTRY,
)


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """What a list row says about a document; blanks (or None) where the document does not say."""

    number: str = ""
    #: BT-2 as written, cut to its first 10 characters (YYYY-MM-DD).
    issue_date: str = ""
    seller_name: str = ""
    buyer_name: str = ""
    #: BT-115 exactly as written (a decimal number as text), or None.
    payable_amount: str | None = None
    #: BT-5 (ISO 4217), or None.
    currency: str | None = None
    #: The buyer's country (ISO 3166-1 alpha-2, upper case), or "" when absent or not two letters.
    buyer_country: str = ""


def summary_from_texts(texts: Mapping[tuple[str, ...], str]) -> DocumentSummary:
    """The summary from the first text at each of `SUMMARY_PATHS` (as `split_sbd` collects them)."""

    def text(path: tuple[str, ...]) -> str:
        return (texts.get(path) or "")[:_MAX_TEXT_CHARS].strip()

    amount, currency, country = text(_PAYABLE), text(_CURRENCY), text(_BUYER_COUNTRY).upper()
    return DocumentSummary(
        number=text(_NUMBER),
        issue_date=text(_ISSUE_DATE)[:10],
        seller_name=(text(_SELLER_LEGAL) or text(_SELLER_TRADING))[:MAX_NAME_CHARS],
        buyer_name=(text(_BUYER_LEGAL) or text(_BUYER_TRADING))[:MAX_NAME_CHARS],
        payable_amount=amount if _AMOUNT_RE.fullmatch(amount) else None,
        currency=currency if _CURRENCY_RE.fullmatch(currency) else None,
        buyer_country=country if len(country) == 2 and country.isalpha() else "",
    )


def _tree(paths: tuple[tuple[str, ...], ...]) -> dict:
    """The paths as nested dicts, tag by tag; `None` marks where a path ends."""
    tree: dict = {}
    for path in paths:
        node = tree
        for tag in path:
            node = node.setdefault(tag, {})
        node[None] = path
    return tree


_TREE = _tree(SUMMARY_PATHS)


def _collect(element: etree._Element, node: dict, texts: dict[tuple[str, ...], str]) -> None:
    for child in element:
        below = node.get(child.tag)  # a comment's or PI's tag is a function: never a key
        if below is None:
            continue
        path = below.get(None)
        if path is not None and path not in texts:
            texts[path] = child.text or ""  # the first element at the path, as split_sbd takes it
        if len(below) > (path is not None):
            _collect(child, below, texts)


def summarise(root: etree._Element) -> DocumentSummary:
    """The summary of a business document already parsed safely (e.g. by `ubl.parse_untrusted_xml`).

    Pure and cheap: one walk down the few branches the paths name (about half the cost of parsing a
    small invoice; nine `find` calls cost three times as much). A root that is no Invoice or
    CreditNote gives what its elements at the same paths say, usually only a number and a date.
    """
    texts: dict[tuple[str, ...], str] = {}
    _collect(root, _TREE, texts)
    return summary_from_texts(texts)
