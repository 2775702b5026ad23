"""A typed model of UBL 2.1 Invoice and CreditNote, as Peppol BIS Billing 3.0 uses them.

The classes cover the whole BIS Billing 3.0 syntax binding (EN 16931 on UBL): parties
with endpoint ids, references, delivery, payment means and terms, allowances and
charges, the VAT breakdown, totals, lines and embedded attachments. `parse_document`
reads XML into them and `build_document` writes them back; the reading of any
official example and writing it back keeps every element and attribute.

Elements outside the model (UBL has many that BIS forbids) are listed in
`ParsedDocument.ignored` instead of being dropped silently. Business rules are not
checked here: that is the official XSLT's job (`ubl.validate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from lxml import etree

from . import _binding
from ._binding import CAC, CBC, Amount, BinaryObject, Code, Id, Quantity
from ._xml import XmlRejected, parse_xml
from .errors import DocumentError
from .identifiers import DOCTYPE_SCHEME, DocumentTypeId, ParticipantId

__all__ = [
    "Id", "Code", "Amount", "Quantity", "BinaryObject",
    "Address", "Contact", "PartyTaxScheme", "PartyLegalEntity", "Party",
    "Period", "OrderReference", "DocumentReference", "Attachment", "DeliveryLocation", "Delivery",
    "CardAccount", "FinancialAccount", "PaymentMandate", "PaymentMeans", "PaymentTerms",
    "TaxCategory", "AllowanceCharge", "TaxSubtotal", "TaxTotal", "MonetaryTotal",
    "ItemProperty", "Item", "Price", "Line", "Invoice", "CreditNote", "ParsedDocument",
    "parse_document", "build_document", "INVOICE_NS", "CREDIT_NOTE_NS",
]

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

_M = dict(frozen=True, slots=True, kw_only=True)


@dataclass(**_M)
class Address:
    street_name: str | None = None
    additional_street_name: str | None = None
    city_name: str | None = None
    postal_zone: str | None = None
    country_subentity: str | None = None
    address_lines: tuple[str, ...] = ()
    country_code: str | None = None

    _UBL: ClassVar = (
        ("street_name", "cbc:StreetName"),
        ("additional_street_name", "cbc:AdditionalStreetName"),
        ("city_name", "cbc:CityName"),
        ("postal_zone", "cbc:PostalZone"),
        ("country_subentity", "cbc:CountrySubentity"),
        ("address_lines", "cac:AddressLine/cbc:Line"),
        ("country_code", "cac:Country/cbc:IdentificationCode"),
    )


@dataclass(**_M)
class Contact:
    name: str | None = None
    telephone: str | None = None
    electronic_mail: str | None = None

    _UBL: ClassVar = (("name", "cbc:Name"), ("telephone", "cbc:Telephone"), ("electronic_mail", "cbc:ElectronicMail"))


@dataclass(**_M)
class PartyTaxScheme:
    company_id: Id | None = None
    tax_scheme_id: Id | None = None

    _UBL: ClassVar = (("company_id", "cbc:CompanyID"), ("tax_scheme_id", "cac:TaxScheme/cbc:ID"))


@dataclass(**_M)
class PartyLegalEntity:
    registration_name: str | None = None
    company_id: Id | None = None
    company_legal_form: str | None = None

    _UBL: ClassVar = (
        ("registration_name", "cbc:RegistrationName"),
        ("company_id", "cbc:CompanyID"),
        ("company_legal_form", "cbc:CompanyLegalForm"),
    )


@dataclass(**_M)
class Party:
    """A trade party. `endpoint_id` is its Peppol address (BT-34 / BT-49)."""

    endpoint_id: Id | None = None
    identifications: tuple[Id, ...] = ()
    name: str | None = None
    postal_address: Address | None = None
    tax_schemes: tuple[PartyTaxScheme, ...] = ()
    legal_entity: PartyLegalEntity | None = None
    contact: Contact | None = None

    _UBL: ClassVar = (
        ("endpoint_id", "cbc:EndpointID"),
        ("identifications", "cac:PartyIdentification/cbc:ID"),
        ("name", "cac:PartyName/cbc:Name"),
        ("postal_address", "cac:PostalAddress"),
        ("tax_schemes", "cac:PartyTaxScheme"),
        ("legal_entity", "cac:PartyLegalEntity"),
        ("contact", "cac:Contact"),
    )

    @property
    def participant_id(self) -> ParticipantId | None:
        """The endpoint as a Peppol participant id, or None when absent or not well-formed."""
        if self.endpoint_id is None or not self.endpoint_id.scheme_id:
            return None
        try:
            return ParticipantId.of(self.endpoint_id.scheme_id, self.endpoint_id.value)
        except ValueError:
            return None

    @property
    def display_name(self) -> str | None:
        return self.legal_entity.registration_name if self.legal_entity and self.legal_entity.registration_name else self.name


@dataclass(**_M)
class Period:
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    description_code: str | None = None

    _UBL: ClassVar = (
        ("start_date", "cbc:StartDate"),
        ("end_date", "cbc:EndDate"),
        ("description_code", "cbc:DescriptionCode"),
    )


@dataclass(**_M)
class Attachment:
    embedded: BinaryObject | None = None
    external_uri: str | None = None

    _UBL: ClassVar = (
        ("embedded", "cbc:EmbeddedDocumentBinaryObject"),
        ("external_uri", "cac:ExternalReference/cbc:URI"),
    )


@dataclass(**_M)
class DocumentReference:
    id: Id
    issue_date: dt.date | None = None
    document_type_code: str | None = None
    description: str | None = None
    attachment: Attachment | None = None

    _UBL: ClassVar = (
        ("id", "cbc:ID"),
        ("issue_date", "cbc:IssueDate"),
        ("document_type_code", "cbc:DocumentTypeCode"),
        ("description", "cbc:DocumentDescription"),
        ("attachment", "cac:Attachment"),
    )


@dataclass(**_M)
class OrderReference:
    id: str
    sales_order_id: str | None = None

    _UBL: ClassVar = (("id", "cbc:ID"), ("sales_order_id", "cbc:SalesOrderID"))


@dataclass(**_M)
class DeliveryLocation:
    id: Id | None = None
    address: Address | None = None

    _UBL: ClassVar = (("id", "cbc:ID"), ("address", "cac:Address"))


@dataclass(**_M)
class Delivery:
    actual_delivery_date: dt.date | None = None
    location: DeliveryLocation | None = None
    party_name: str | None = None

    _UBL: ClassVar = (
        ("actual_delivery_date", "cbc:ActualDeliveryDate"),
        ("location", "cac:DeliveryLocation"),
        ("party_name", "cac:DeliveryParty/cac:PartyName/cbc:Name"),
    )


@dataclass(**_M)
class CardAccount:
    primary_account_number: str
    network_id: str
    holder_name: str | None = None

    _UBL: ClassVar = (
        ("primary_account_number", "cbc:PrimaryAccountNumberID"),
        ("network_id", "cbc:NetworkID"),
        ("holder_name", "cbc:HolderName"),
    )


@dataclass(**_M)
class FinancialAccount:
    id: Id
    name: str | None = None
    branch_id: str | None = None

    _UBL: ClassVar = (("id", "cbc:ID"), ("name", "cbc:Name"), ("branch_id", "cac:FinancialInstitutionBranch/cbc:ID"))


@dataclass(**_M)
class PaymentMandate:
    id: str | None = None
    payer_account_id: str | None = None

    _UBL: ClassVar = (("id", "cbc:ID"), ("payer_account_id", "cac:PayerFinancialAccount/cbc:ID"))


@dataclass(**_M)
class PaymentMeans:
    code: Code
    due_date: dt.date | None = None  # CreditNote only (BT-9 has no root element there)
    payment_ids: tuple[str, ...] = ()
    card_account: CardAccount | None = None
    payee_account: FinancialAccount | None = None
    mandate: PaymentMandate | None = None

    _UBL: ClassVar = (
        ("code", "cbc:PaymentMeansCode"),
        ("due_date", "cbc:PaymentDueDate"),
        ("payment_ids", "cbc:PaymentID"),
        ("card_account", "cac:CardAccount"),
        ("payee_account", "cac:PayeeFinancialAccount"),
        ("mandate", "cac:PaymentMandate"),
    )


@dataclass(**_M)
class PaymentTerms:
    notes: tuple[str, ...] = ()

    _UBL: ClassVar = (("notes", "cbc:Note"),)


@dataclass(**_M)
class TaxCategory:
    id: Id | None = None
    percent: Decimal | None = None
    exemption_reason_code: Code | None = None
    exemption_reason: str | None = None
    tax_scheme_id: Id | None = None

    _UBL: ClassVar = (
        ("id", "cbc:ID"),
        ("percent", "cbc:Percent"),
        ("exemption_reason_code", "cbc:TaxExemptionReasonCode"),
        ("exemption_reason", "cbc:TaxExemptionReason"),
        ("tax_scheme_id", "cac:TaxScheme/cbc:ID"),
    )


@dataclass(**_M)
class AllowanceCharge:
    """An allowance (charge_indicator False) or a charge (True), document, line or price level."""

    charge_indicator: bool
    amount: Amount
    reason_code: str | None = None
    reason: str | None = None
    multiplier_factor: Decimal | None = None
    base_amount: Amount | None = None
    tax_category: TaxCategory | None = None

    _UBL: ClassVar = (
        ("charge_indicator", "cbc:ChargeIndicator"),
        ("reason_code", "cbc:AllowanceChargeReasonCode"),
        ("reason", "cbc:AllowanceChargeReason"),
        ("multiplier_factor", "cbc:MultiplierFactorNumeric"),
        ("amount", "cbc:Amount"),
        ("base_amount", "cbc:BaseAmount"),
        ("tax_category", "cac:TaxCategory"),
    )


@dataclass(**_M)
class TaxSubtotal:
    taxable_amount: Amount
    tax_amount: Amount
    tax_category: TaxCategory

    _UBL: ClassVar = (
        ("taxable_amount", "cbc:TaxableAmount"),
        ("tax_amount", "cbc:TaxAmount"),
        ("tax_category", "cac:TaxCategory"),
    )


@dataclass(**_M)
class TaxTotal:
    tax_amount: Amount
    subtotals: tuple[TaxSubtotal, ...] = ()

    _UBL: ClassVar = (("tax_amount", "cbc:TaxAmount"), ("subtotals", "cac:TaxSubtotal"))


@dataclass(**_M)
class MonetaryTotal:
    line_extension_amount: Amount | None = None
    tax_exclusive_amount: Amount | None = None
    tax_inclusive_amount: Amount | None = None
    allowance_total_amount: Amount | None = None
    charge_total_amount: Amount | None = None
    prepaid_amount: Amount | None = None
    payable_rounding_amount: Amount | None = None
    payable_amount: Amount | None = None

    _UBL: ClassVar = (
        ("line_extension_amount", "cbc:LineExtensionAmount"),
        ("tax_exclusive_amount", "cbc:TaxExclusiveAmount"),
        ("tax_inclusive_amount", "cbc:TaxInclusiveAmount"),
        ("allowance_total_amount", "cbc:AllowanceTotalAmount"),
        ("charge_total_amount", "cbc:ChargeTotalAmount"),
        ("prepaid_amount", "cbc:PrepaidAmount"),
        ("payable_rounding_amount", "cbc:PayableRoundingAmount"),
        ("payable_amount", "cbc:PayableAmount"),
    )


@dataclass(**_M)
class ItemProperty:
    name: str
    value: str

    _UBL: ClassVar = (("name", "cbc:Name"), ("value", "cbc:Value"))


@dataclass(**_M)
class Item:
    name: str | None = None
    description: str | None = None
    buyers_item_id: str | None = None
    sellers_item_id: str | None = None
    standard_item_id: Id | None = None
    origin_country: str | None = None
    classifications: tuple[Code, ...] = ()
    classified_tax_category: TaxCategory | None = None
    properties: tuple[ItemProperty, ...] = ()

    _UBL: ClassVar = (
        ("description", "cbc:Description"),
        ("name", "cbc:Name"),
        ("buyers_item_id", "cac:BuyersItemIdentification/cbc:ID"),
        ("sellers_item_id", "cac:SellersItemIdentification/cbc:ID"),
        ("standard_item_id", "cac:StandardItemIdentification/cbc:ID"),
        ("origin_country", "cac:OriginCountry/cbc:IdentificationCode"),
        ("classifications", "cac:CommodityClassification/cbc:ItemClassificationCode"),
        ("classified_tax_category", "cac:ClassifiedTaxCategory"),
        ("properties", "cac:AdditionalItemProperty"),
    )


@dataclass(**_M)
class Price:
    amount: Amount
    base_quantity: Quantity | None = None
    allowance_charge: AllowanceCharge | None = None

    _UBL: ClassVar = (
        ("amount", "cbc:PriceAmount"),
        ("base_quantity", "cbc:BaseQuantity"),
        ("allowance_charge", "cac:AllowanceCharge"),
    )


@dataclass(**_M)
class Line:
    """An invoice line or credit note line (the quantity element differs)."""

    id: str
    quantity: Quantity
    line_extension_amount: Amount
    item: Item
    price: Price
    notes: tuple[str, ...] = ()
    accounting_cost: str | None = None
    period: Period | None = None
    order_line_reference: str | None = None
    document_references: tuple[DocumentReference, ...] = ()
    allowance_charges: tuple[AllowanceCharge, ...] = ()
    tax_totals: tuple[TaxTotal, ...] = ()

    _UBL: ClassVar = (
        ("id", "cbc:ID"),
        ("notes", "cbc:Note"),
        ("quantity", "cbc:InvoicedQuantity"),
        ("line_extension_amount", "cbc:LineExtensionAmount"),
        ("accounting_cost", "cbc:AccountingCost"),
        ("period", "cac:InvoicePeriod"),
        ("order_line_reference", "cac:OrderLineReference/cbc:LineID"),
        ("document_references", "cac:DocumentReference"),
        ("allowance_charges", "cac:AllowanceCharge"),
        ("tax_totals", "cac:TaxTotal"),
        ("item", "cac:Item"),
        ("price", "cac:Price"),
    )
    # UBL 2.1 CreditNoteLine: CreditedQuantity, and TaxTotal before AllowanceCharge.
    _UBL_CN: ClassVar = (
        ("id", "cbc:ID"),
        ("notes", "cbc:Note"),
        ("quantity", "cbc:CreditedQuantity"),
        ("line_extension_amount", "cbc:LineExtensionAmount"),
        ("accounting_cost", "cbc:AccountingCost"),
        ("period", "cac:InvoicePeriod"),
        ("order_line_reference", "cac:OrderLineReference/cbc:LineID"),
        ("document_references", "cac:DocumentReference"),
        ("tax_totals", "cac:TaxTotal"),
        ("allowance_charges", "cac:AllowanceCharge"),
        ("item", "cac:Item"),
        ("price", "cac:Price"),
    )


@dataclass(**_M)
class _BillingDocument:
    id: str
    issue_date: dt.date
    supplier: Party
    customer: Party
    totals: MonetaryTotal
    lines: tuple[Line, ...]
    type_code: str | None = None
    ubl_version_id: str | None = None
    customization_id: str | None = None
    profile_id: str | None = None
    notes: tuple[str, ...] = ()
    tax_point_date: dt.date | None = None
    document_currency_code: str | None = None
    tax_currency_code: str | None = None
    accounting_cost: str | None = None
    buyer_reference: str | None = None
    invoice_period: Period | None = None
    order_reference: OrderReference | None = None
    billing_references: tuple[DocumentReference, ...] = ()
    despatch_document_reference: DocumentReference | None = None
    receipt_document_reference: DocumentReference | None = None
    originator_document_reference: DocumentReference | None = None
    contract_document_reference: DocumentReference | None = None
    additional_document_references: tuple[DocumentReference, ...] = ()
    payee: Party | None = None
    tax_representative: Party | None = None
    delivery: Delivery | None = None
    payment_means: tuple[PaymentMeans, ...] = ()
    payment_terms: PaymentTerms | None = None
    allowance_charges: tuple[AllowanceCharge, ...] = ()
    tax_totals: tuple[TaxTotal, ...] = ()

    ROOT_NS: ClassVar[str] = ""
    ROOT_NAME: ClassVar[str] = ""

    @property
    def document_type_id(self) -> DocumentTypeId | None:
        """The Peppol document type id this document is sent under (from its CustomizationID)."""
        if not self.customization_id:
            return None
        return DocumentTypeId(
            DOCTYPE_SCHEME, f"{self.ROOT_NS}::{self.ROOT_NAME}##{self.customization_id.strip()}::2.1"
        )

    @property
    def attachments(self) -> tuple[BinaryObject, ...]:
        """The embedded attachments (BG-24), in document order."""
        return tuple(
            ref.attachment.embedded
            for ref in self.additional_document_references
            if ref.attachment is not None and ref.attachment.embedded is not None
        )

    @property
    def currency(self) -> str | None:
        return self.document_currency_code


@dataclass(**_M)
class Invoice(_BillingDocument):
    due_date: dt.date | None = None
    project_reference: str | None = None

    ROOT_NS: ClassVar[str] = INVOICE_NS
    ROOT_NAME: ClassVar[str] = "Invoice"
    _UBL: ClassVar = (
        ("ubl_version_id", "cbc:UBLVersionID"),
        ("customization_id", "cbc:CustomizationID"),
        ("profile_id", "cbc:ProfileID"),
        ("id", "cbc:ID"),
        ("issue_date", "cbc:IssueDate"),
        ("due_date", "cbc:DueDate"),
        ("type_code", "cbc:InvoiceTypeCode"),
        ("notes", "cbc:Note"),
        ("tax_point_date", "cbc:TaxPointDate"),
        ("document_currency_code", "cbc:DocumentCurrencyCode"),
        ("tax_currency_code", "cbc:TaxCurrencyCode"),
        ("accounting_cost", "cbc:AccountingCost"),
        ("buyer_reference", "cbc:BuyerReference"),
        ("invoice_period", "cac:InvoicePeriod"),
        ("order_reference", "cac:OrderReference"),
        ("billing_references", "cac:BillingReference/cac:InvoiceDocumentReference"),
        ("despatch_document_reference", "cac:DespatchDocumentReference"),
        ("receipt_document_reference", "cac:ReceiptDocumentReference"),
        ("originator_document_reference", "cac:OriginatorDocumentReference"),
        ("contract_document_reference", "cac:ContractDocumentReference"),
        ("additional_document_references", "cac:AdditionalDocumentReference"),
        ("project_reference", "cac:ProjectReference/cbc:ID"),
        ("supplier", "cac:AccountingSupplierParty/cac:Party"),
        ("customer", "cac:AccountingCustomerParty/cac:Party"),
        ("payee", "cac:PayeeParty"),
        ("tax_representative", "cac:TaxRepresentativeParty"),
        ("delivery", "cac:Delivery"),
        ("payment_means", "cac:PaymentMeans"),
        ("payment_terms", "cac:PaymentTerms"),
        ("allowance_charges", "cac:AllowanceCharge"),
        ("tax_totals", "cac:TaxTotal"),
        ("totals", "cac:LegalMonetaryTotal"),
        ("lines", "cac:InvoiceLine"),
    )


@dataclass(**_M)
class CreditNote(_BillingDocument):
    ROOT_NS: ClassVar[str] = CREDIT_NOTE_NS
    ROOT_NAME: ClassVar[str] = "CreditNote"
    _UBL: ClassVar = (
        ("ubl_version_id", "cbc:UBLVersionID"),
        ("customization_id", "cbc:CustomizationID"),
        ("profile_id", "cbc:ProfileID"),
        ("id", "cbc:ID"),
        ("issue_date", "cbc:IssueDate"),
        ("tax_point_date", "cbc:TaxPointDate"),
        ("type_code", "cbc:CreditNoteTypeCode"),
        ("notes", "cbc:Note"),
        ("document_currency_code", "cbc:DocumentCurrencyCode"),
        ("tax_currency_code", "cbc:TaxCurrencyCode"),
        ("accounting_cost", "cbc:AccountingCost"),
        ("buyer_reference", "cbc:BuyerReference"),
        ("invoice_period", "cac:InvoicePeriod"),
        ("order_reference", "cac:OrderReference"),
        ("billing_references", "cac:BillingReference/cac:InvoiceDocumentReference"),
        ("despatch_document_reference", "cac:DespatchDocumentReference"),
        ("receipt_document_reference", "cac:ReceiptDocumentReference"),
        ("contract_document_reference", "cac:ContractDocumentReference"),
        ("additional_document_references", "cac:AdditionalDocumentReference"),
        ("originator_document_reference", "cac:OriginatorDocumentReference"),
        ("supplier", "cac:AccountingSupplierParty/cac:Party"),
        ("customer", "cac:AccountingCustomerParty/cac:Party"),
        ("payee", "cac:PayeeParty"),
        ("tax_representative", "cac:TaxRepresentativeParty"),
        ("delivery", "cac:Delivery"),
        ("payment_means", "cac:PaymentMeans"),
        ("payment_terms", "cac:PaymentTerms"),
        ("allowance_charges", "cac:AllowanceCharge"),
        ("tax_totals", "cac:TaxTotal"),
        ("totals", "cac:LegalMonetaryTotal"),
        ("lines", "cac:CreditNoteLine"),
    )


@dataclass(**_M)
class ParsedDocument:
    """The result of `parse_document`: the typed document and what the model did not hold."""

    document: Invoice | CreditNote
    #: XPaths of elements present in the XML but outside the model (empty for BIS documents).
    ignored: tuple[str, ...] = ()


def parse_document(data: bytes) -> ParsedDocument:
    """Read a UBL 2.1 Invoice or CreditNote.

    Raises DocumentError if the bytes are not safe, well-formed XML, the root is
    not an Invoice/CreditNote, a mandatory element is missing or a value does not
    convert (an amount that is not a number, a date that is not YYYY-MM-DD).
    """
    try:
        root = parse_xml(data).getroot()
    except XmlRejected as exc:
        raise DocumentError(str(exc)) from None
    return parse_element(root)


def parse_element(root: etree._Element) -> ParsedDocument:
    """`parse_document` for an already parsed (safe) element."""
    if root.tag == f"{{{INVOICE_NS}}}Invoice":
        cls: type[_BillingDocument] = Invoice
    elif root.tag == f"{{{CREDIT_NOTE_NS}}}CreditNote":
        cls = CreditNote
    else:
        raise DocumentError(f"not a UBL 2.1 Invoice or CreditNote: root element is {root.tag}")
    ignored: list[str] = []
    doc = _binding.read(cls, root, cls is CreditNote, ignored)
    return ParsedDocument(document=doc, ignored=tuple(ignored))


def build_document(doc: Invoice | CreditNote) -> bytes:
    """Write `doc` as UBL 2.1 XML (UTF-8, with declaration), elements in schema order."""
    credit_note = isinstance(doc, CreditNote)
    root = etree.Element(f"{{{doc.ROOT_NS}}}{doc.ROOT_NAME}", nsmap={None: doc.ROOT_NS, "cac": CAC, "cbc": CBC})
    _binding.write(doc, root, credit_note)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
