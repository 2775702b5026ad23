"""Peppol business documents: identifiers, SBDH envelopes, UBL invoices and
credit notes, official validation and rendering.

- identifiers: `ParticipantId`, `DocumentTypeId`, `ProcessId`, the ICD list, `check_participant_id`
- envelope: `parse_sbd` / `build_sbd` -> `StandardBusinessDocument`
- documents: `parse_document` / `build_document` -> `Invoice` | `CreditNote` (typed model)
- validation: `Validator(rules_dir=, xsd_dir=).validate(bytes) -> ValidationReport`; `install_rules`
- rendering: `render_html`, `render_pdf`, `choose_pdf` (embedded-PDF policy)
- summary: `summarise(root)` / `summary_from_texts(texts)` -> `DocumentSummary` (names, number, amount)

A sans-I/O core: functions turn bytes into typed objects and back and raise
`UblError` (or a subclass) on bad input; reading rule files and fonts is the only
file access. It never imports `accesspoint` or `shares`.
"""

from ._xml import XmlRejected
from ._xml import parse_xml as parse_untrusted_xml
from .errors import (
    DocumentError,
    IdentifierError,
    IdentifierProblem,
    SbdhError,
    SbdhProblem,
    UblError,
)
from .icd import ICD_CODE_LIST_VERSION, IcdScheme, icd_schemes, lookup_icd
from .identifiers import (
    BIS_BILLING_CREDIT_NOTE,
    BIS_BILLING_INVOICE,
    BIS_BILLING_PROCESS,
    DOCTYPE_SCHEME,
    DOCTYPE_WILDCARD_SCHEME,
    PARTICIPANT_SCHEME,
    PROCESS_SCHEME,
    DocumentTypeId,
    ParticipantId,
    ProcessId,
    check_participant_id,
)
from .sbdh import ENVELOPE_NS, SBDH_NS, MlsType, SbdhWarning, StandardBusinessDocument, build_sbd, parse_sbd
from .sbd_stream import SbdStreamUnsuitable, SplitSbd, split_sbd
from .summary import SUMMARY_PATHS, DocumentSummary, summarise, summary_from_texts
from .model import (
    Address, AllowanceCharge, Amount, Attachment, BinaryObject, CardAccount, Code, Contact, CreditNote,
    Delivery, DeliveryLocation, DocumentReference, FinancialAccount, Id, Invoice, Item, ItemProperty, Line,
    MonetaryTotal, OrderReference, ParsedDocument, Party, PartyLegalEntity, PartyTaxScheme, PaymentMandate,
    PaymentMeans, PaymentTerms, Period, Price, Quantity, TaxCategory, TaxSubtotal, TaxTotal, build_document,
    parse_document,
)
from .validation import CheckResult, CheckStatus, Finding, Severity, ValidationReport, Validator
from .rules import DocumentKind, RuleSet, RulesError, discover_rule_sets, install_rules
from .rendering import EmbeddedPdfPolicy, PdfChoice, choose_pdf, render_html, render_pdf

__all__ = [
    "XmlRejected",
    "parse_untrusted_xml",
    "UblError",
    "IdentifierError",
    "IdentifierProblem",
    "SbdhError",
    "SplitSbd",
    "SbdStreamUnsuitable",
    "split_sbd",
    "DocumentSummary",
    "SUMMARY_PATHS",
    "summarise",
    "summary_from_texts",
    "SbdhProblem",
    "DocumentError",
    "ParticipantId",
    "DocumentTypeId",
    "ProcessId",
    "check_participant_id",
    "IcdScheme",
    "icd_schemes",
    "lookup_icd",
    "ICD_CODE_LIST_VERSION",
    "PARTICIPANT_SCHEME",
    "DOCTYPE_SCHEME",
    "DOCTYPE_WILDCARD_SCHEME",
    "PROCESS_SCHEME",
    "BIS_BILLING_INVOICE",
    "BIS_BILLING_CREDIT_NOTE",
    "BIS_BILLING_PROCESS",
    "StandardBusinessDocument",
    "SbdhWarning",
    "MlsType",
    "parse_sbd",
    "build_sbd",
    "SBDH_NS",
    "ENVELOPE_NS",
    "Invoice", "CreditNote", "ParsedDocument", "parse_document", "build_document",
    "Id", "Code", "Amount", "Quantity", "BinaryObject", "Address", "Contact", "PartyTaxScheme",
    "PartyLegalEntity", "Party", "Period", "OrderReference", "DocumentReference", "Attachment",
    "DeliveryLocation", "Delivery", "CardAccount", "FinancialAccount", "PaymentMandate", "PaymentMeans",
    "PaymentTerms", "TaxCategory", "AllowanceCharge", "TaxSubtotal", "TaxTotal", "MonetaryTotal",
    "ItemProperty", "Item", "Price", "Line",
    "Validator", "ValidationReport", "Finding", "Severity", "CheckResult", "CheckStatus",
    "RuleSet", "RulesError", "DocumentKind", "discover_rule_sets", "install_rules",
    "render_html", "render_pdf", "choose_pdf", "EmbeddedPdfPolicy", "PdfChoice",
]
