"""What delivery needs to know about an outgoing document, read from its bytes.

A user submits either a bare UBL business document (Invoice, CreditNote, ...)
or a complete Peppol SBD. Either way delivery needs the same few facts: who
sends, the receiver's candidate participant ids in the order W8.2 tries them
(the buyer's EndpointID first, then its other Peppol-schemed ids), the document
type and process, the number and date (duplicate detection), the C1 country,
the buyer's email (prefill for the email fallback) and what the pages list
(`ubl.summarise`: names, amount, currency). Pure: bytes in, facts out, one parse.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import ubl
from lxml import etree

from ._xml import XmlRejected, parse_xml
from .errors import DocumentRejected

__all__ = ["OutgoingDocument", "read_outgoing", "summary_columns"]

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
UBL_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
_NS = {"cac": CAC, "cbc": CBC}
_ICD_RE = re.compile(r"[0-9]{4}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# Where each party sits in each UBL document type we route (BIS Billing 3 and the
# ordering documents use these; anything else must come as an SBD).
_PARTIES = {
    "Invoice": ("cac:AccountingSupplierParty/cac:Party", "cac:AccountingCustomerParty/cac:Party"),
    "CreditNote": ("cac:AccountingSupplierParty/cac:Party", "cac:AccountingCustomerParty/cac:Party"),
    "Order": ("cac:BuyerCustomerParty/cac:Party", "cac:SellerSupplierParty/cac:Party"),
    "ApplicationResponse": ("cac:SenderParty", "cac:ReceiverParty"),
}


@dataclass(frozen=True, slots=True)
class OutgoingDocument:
    sender: ubl.ParticipantId
    #: The receiver ids to try, in order; the first is the envelope's receiver.
    candidates: tuple[ubl.ParticipantId, ...]
    document_type_id: ubl.DocumentTypeId
    process_id: ubl.ProcessId
    number: str
    issue_date: str
    country_c1: str
    #: The business document alone (no SBDH).
    content: bytes
    #: The SBDH InstanceIdentifier when the user sent an SBD, else None (we mint one).
    instance_identifier: str | None
    buyer_email: str | None
    buyer_name: str
    #: The name the email fallback's subject gives (trading name first: what the buyer knows).
    seller_name: str = ""
    #: Number, date, names, amount and currency as the outbox and inbox lists show them.
    summary: ubl.DocumentSummary = ubl.DocumentSummary()
    mls_to: ubl.ParticipantId | None = None
    mls_type: ubl.MlsType | None = None

    @property
    def receiver(self) -> ubl.ParticipantId:
        return self.candidates[0]

    @property
    def duplicate_key(self) -> str:
        """Supplier id + type + number + date (product.md §2), hashed to a fixed width."""
        key = "\x1f".join((str(self.sender), self.document_type_id.local_name or "", self.number, self.issue_date))
        return hashlib.sha256(key.encode()).hexdigest()


def _text(root: etree._Element, path: str) -> str:
    el = root.find(path, _NS)
    return (el.text or "").strip() if el is not None else ""


def _party_ids(party: etree._Element | None) -> list[ubl.ParticipantId]:
    """EndpointID first, then the other ids whose scheme is an ICD (PartyIdentification, legal CompanyID)."""
    if party is None:
        return []
    found: list[ubl.ParticipantId] = []
    for path in ("cbc:EndpointID", "cac:PartyIdentification/cbc:ID", "cac:PartyLegalEntity/cbc:CompanyID"):
        for el in party.findall(path, _NS):
            scheme = (el.get("schemeID") or "").strip()
            value = (el.text or "").strip()
            if not _ICD_RE.fullmatch(scheme) or not value:
                continue
            try:
                pid = ubl.ParticipantId.parse(f"{scheme}:{value}")
            except ubl.IdentifierError:
                continue
            if pid not in found:
                found.append(pid)
    return found


def _read_ubl(content: bytes) -> tuple[etree._Element, str, str]:
    try:
        root = parse_xml(content)
    except XmlRejected as exc:
        raise DocumentRejected("not-xml", str(exc)) from None
    q = etree.QName(root)
    if not (q.namespace or "").startswith(UBL_PREFIX):
        raise DocumentRejected("not-ubl", f"the root element {{{q.namespace}}}{q.localname} is not a UBL document")
    return root, q.namespace or "", q.localname


def read_outgoing(data: bytes) -> OutgoingDocument:
    """Read a bare UBL document or a Peppol SBD. Raises `DocumentRejected` with a stable `code`."""
    try:
        sniff = parse_xml(data)
    except XmlRejected as exc:
        raise DocumentRejected("not-xml", str(exc)) from None
    sbd = None
    if etree.QName(sniff).namespace == ubl.SBDH_NS:
        try:
            sbd = ubl.parse_sbd(data)
        except ubl.UblError as exc:
            raise DocumentRejected("bad-sbdh", str(exc)) from None
        content = sbd.payload
    else:
        content = bytes(data)
    root, namespace, local = _read_ubl(content)
    paths = _PARTIES.get(local)
    supplier = root.find(paths[0], _NS) if paths else None
    customer = root.find(paths[1], _NS) if paths else None
    customization = _text(root, "cbc:CustomizationID")
    profile = _text(root, "cbc:ProfileID")
    if sbd is not None:
        sender, document_type_id, process_id = sbd.sender, sbd.document_type_id, sbd.process_id
        candidates = [sbd.receiver] + [p for p in _party_ids(customer) if p != sbd.receiver]
        country = sbd.country_c1
    else:
        senders = _party_ids(supplier)
        if not senders:
            raise DocumentRejected("no-sender", "the supplier has no EndpointID with a Peppol scheme (ICD)")
        sender = senders[0]
        candidates = _party_ids(customer)
        if not customization or not profile:
            raise DocumentRejected("not-ubl", "CustomizationID and ProfileID are required to address the document")
        version = _text(root, "cbc:UBLVersionID") or "2.1"
        try:
            document_type_id = ubl.DocumentTypeId.parse(
                f"{ubl.DOCTYPE_SCHEME}::{namespace}::{local}##{customization}::{version}"
            )
            process_id = ubl.ProcessId.parse(f"{ubl.PROCESS_SCHEME}::{profile}")
        except ubl.IdentifierError as exc:
            raise DocumentRejected("not-ubl", str(exc)) from None
        country = _text(supplier, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") if supplier is not None else ""
        country = country.upper() if re.fullmatch(r"[A-Za-z]{2}", country) else "ZZ"
    if not candidates:
        raise DocumentRejected("no-receiver", "the buyer has no EndpointID or other id with a Peppol scheme (ICD)")
    email = _text(customer, "cac:Contact/cbc:ElectronicMail") if customer is not None else ""
    name = ""
    if customer is not None:  # the receiving party of any type we route (an Order's seller, say)
        name = _text(customer, "cac:PartyLegalEntity/cbc:RegistrationName") or _text(customer, "cac:PartyName/cbc:Name")
    summary = ubl.summarise(root)
    seller = ""
    if supplier is not None:
        seller = _text(supplier, "cac:PartyName/cbc:Name") or _text(supplier, "cac:PartyLegalEntity/cbc:RegistrationName")
    return OutgoingDocument(
        sender=sender,
        candidates=tuple(candidates),
        document_type_id=document_type_id,
        process_id=process_id,
        number=summary.number,
        issue_date=summary.issue_date,
        country_c1=country,
        content=content,
        instance_identifier=sbd.instance_identifier if sbd else None,
        buyer_email=email if _EMAIL_RE.fullmatch(email) else None,
        buyer_name=name,
        seller_name=seller,
        summary=summary,
        mls_to=sbd.mls_to if sbd else None,
        mls_type=sbd.mls_type if sbd else None,
    )


def summary_columns(summary: ubl.DocumentSummary) -> dict[str, str | None]:
    """The `documents` columns a summary fills (migration 0018); a blank is NULL, so pages fall back."""
    return {"seller_name": summary.seller_name or None, "buyer_name": summary.buyer_name or None,
            "payable_amount": summary.payable_amount, "currency": summary.currency}
