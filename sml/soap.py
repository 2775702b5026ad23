"""The SML management API as SOAP 1.1 messages (BDMSL / peppol-commons WSDLs), pure.

Two services (protocol.md §6, peppol-commons sml-wsdl):
- `{base}/manageservicemetadata`  Create / Read / Update / Delete an SMP;
- `{base}/manageparticipantidentifier`  Create / Delete / List participants,
  PrepareToMigrate / Migrate.
Faults travel as a SOAP Fault whose detail is `lrs:<Kind>Fault/lrs:FaultMessage`.

Both the client and our local SML use this module, so the two sides share one
reading of the WSDL. Parsers raise `BadRequestFault` (on requests) or
`SmlTransportError` (on responses) for malformed input, never lxml errors.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lxml import etree

from ubl import IdentifierError, ParticipantId

from ._xml import XmlRejected, parse_xml
from .errors import BadRequestFault, SmlFault, SmlTransportError

__all__ = [
    "Operation",
    "SmlRequest",
    "SmpInfo",
    "ParticipantList",
    "build_request",
    "parse_request",
    "build_response",
    "parse_response",
    "build_fault",
    "SOAP_NS",
    "LOCATOR_NS",
    "IDS_NS",
    "CONTENT_TYPE",
]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
LOCATOR_NS = "http://busdox.org/serviceMetadata/locator/1.0/"
IDS_NS = "http://busdox.org/transport/identifiers/1.0/"
SMP_SERVICE_NS = "http://busdox.org/serviceMetadata/ManageServiceMetadataService/1.0/"
# The 9 blanks are in the WSDL and in the CEF/OpenPeppol SML: "unfortunate but implemented like this".
PARTICIPANT_SERVICE_NS = "http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/         "
CONTENT_TYPE = "text/xml; charset=utf-8"
_NSMAP = {"soap": SOAP_NS, "lrs": LOCATOR_NS, "ids": IDS_NS}


class Operation(enum.Enum):
    """(service path, soapAction suffix, request element, response element or None)."""

    CREATE_SMP = ("manageservicemetadata", "createIn", "CreateServiceMetadataPublisherService", None)
    READ_SMP = ("manageservicemetadata", "readIn", "ReadServiceMetadataPublisherService", "ServiceMetadataPublisherService")
    UPDATE_SMP = ("manageservicemetadata", "updateIn", "UpdateServiceMetadataPublisherService", None)
    DELETE_SMP = ("manageservicemetadata", "deleteIn", "ServiceMetadataPublisherID", None)
    CREATE_PARTICIPANT = ("manageparticipantidentifier", "createIn", "CreateParticipantIdentifier", None)
    DELETE_PARTICIPANT = ("manageparticipantidentifier", "deleteIn", "DeleteParticipantIdentifier", None)
    LIST_PARTICIPANTS = ("manageparticipantidentifier", "listIn", "PageRequest", "ParticipantIdentifierPage")
    PREPARE_TO_MIGRATE = ("manageparticipantidentifier", "prepareMigrateIn", "PrepareMigrationRecord", None)
    MIGRATE = ("manageparticipantidentifier", "migrateIn", "CompleteMigrationRecord", None)

    @property
    def service(self) -> str:
        return self.value[0]

    @property
    def soap_action(self) -> str:
        ns = SMP_SERVICE_NS if self.service == "manageservicemetadata" else PARTICIPANT_SERVICE_NS
        return f"{ns}:{self.value[1]}"

    @property
    def request_element(self) -> str:
        return self.value[2]

    @property
    def response_element(self) -> str | None:
        return self.value[3]


_BY_ELEMENT = {(op.service, op.request_element): op for op in Operation}


@dataclass(frozen=True, slots=True)
class SmlRequest:
    """One management call; which fields are set depends on the operation."""

    operation: Operation
    smp_id: str
    logical_address: str | None = None
    physical_address: str | None = None
    participant: ParticipantId | None = None
    migration_key: str | None = None
    next_page: str | None = None


@dataclass(frozen=True, slots=True)
class SmpInfo:
    """What Read answers about an SMP."""

    smp_id: str
    logical_address: str
    physical_address: str


@dataclass(frozen=True, slots=True)
class ParticipantList:
    """One page of List."""

    participants: tuple[ParticipantId, ...]
    smp_id: str | None
    next_page: str | None


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _envelope(payload: etree._Element | None) -> bytes:
    env = etree.Element(_q(SOAP_NS, "Envelope"), nsmap=_NSMAP)
    etree.SubElement(env, _q(SOAP_NS, "Header"))
    body = etree.SubElement(env, _q(SOAP_NS, "Body"))
    if payload is not None:
        body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _text(parent: etree._Element, ns: str, name: str, value: str) -> etree._Element:
    el = etree.SubElement(parent, _q(ns, name))
    el.text = value
    return el


def _participant(parent: etree._Element, pid: ParticipantId) -> None:
    el = etree.SubElement(parent, _q(IDS_NS, "ParticipantIdentifier"), scheme=pid.scheme)
    el.text = pid.value


def build_request(request: SmlRequest) -> bytes:
    """The SOAP envelope of `request`."""
    op = request.operation
    if op is Operation.DELETE_SMP:
        el = etree.Element(_q(LOCATOR_NS, "ServiceMetadataPublisherID"), nsmap=_NSMAP)
        el.text = request.smp_id
        return _envelope(el)
    root = etree.Element(_q(LOCATOR_NS, op.request_element), nsmap=_NSMAP)
    if op in (Operation.CREATE_SMP, Operation.UPDATE_SMP):
        if not request.logical_address or not request.physical_address:
            raise ValueError(f"{op.name} needs a logical and a physical address")
        endpoint = etree.SubElement(root, _q(LOCATOR_NS, "PublisherEndpoint"))
        _text(endpoint, LOCATOR_NS, "LogicalAddress", request.logical_address)
        _text(endpoint, LOCATOR_NS, "PhysicalAddress", request.physical_address)
        _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", request.smp_id)
    elif op is Operation.READ_SMP:
        _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", request.smp_id)
    elif op is Operation.LIST_PARTICIPANTS:
        _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", request.smp_id)
        if request.next_page:
            _text(root, LOCATOR_NS, "NextPageIdentifier", request.next_page)
    else:
        if request.participant is None:
            raise ValueError(f"{op.name} needs a participant")
        _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", request.smp_id)
        _participant(root, request.participant)
        if op in (Operation.PREPARE_TO_MIGRATE, Operation.MIGRATE):
            if not request.migration_key:
                raise ValueError(f"{op.name} needs a migration key")
            _text(root, LOCATOR_NS, "MigrationKey", request.migration_key)
    return _envelope(root)


def _body_child(root: etree._Element, error: type[Exception]) -> etree._Element | None:
    if root.tag != _q(SOAP_NS, "Envelope"):
        raise error("not a SOAP 1.1 envelope")
    body = root.find(_q(SOAP_NS, "Body"))
    if body is None:
        raise error("SOAP envelope without Body")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) > 1:
        raise error("SOAP Body with more than one element")
    return children[0] if children else None


def _child_text(el: etree._Element, ns: str, name: str, *, required: bool = True) -> str | None:
    child = el.find(_q(ns, name))
    text = (child.text or "").strip() if child is not None else ""
    if not text:
        if required:
            raise BadRequestFault(f"[ERR-106] Missing {name} in {etree.QName(el).localname}")
        return None
    return text


def _read_participant(el: etree._Element) -> ParticipantId:
    child = el.find(_q(IDS_NS, "ParticipantIdentifier"))
    if child is None or not (child.text or "").strip():
        raise BadRequestFault(f"[ERR-106] Missing ParticipantIdentifier in {etree.QName(el).localname}")
    scheme = (child.get("scheme") or "").strip()
    if not scheme:
        raise BadRequestFault("[ERR-106] The participant identifier has no scheme")
    try:
        return ParticipantId(scheme, child.text.strip())
    except IdentifierError as exc:
        raise BadRequestFault(f"[ERR-106] Invalid participant identifier: {exc}") from None


def parse_request(service: str, data: bytes) -> SmlRequest:
    """A request received on `service` (path segment); BadRequestFault if malformed or unknown."""
    try:
        root = parse_xml(data)
    except XmlRejected as exc:
        raise BadRequestFault(f"[ERR-106] {exc}") from None
    payload = _body_child(root, lambda m: BadRequestFault(f"[ERR-106] {m}"))
    if payload is None or etree.QName(payload).namespace != LOCATOR_NS:
        raise BadRequestFault("[ERR-106] The SOAP Body holds no SML request")
    op = _BY_ELEMENT.get((service, etree.QName(payload).localname))
    if op is None:
        raise BadRequestFault(f"[ERR-106] Unknown operation {etree.QName(payload).localname} on {service}")
    if op is Operation.DELETE_SMP:
        smp_id = (payload.text or "").strip()
        if not smp_id:
            raise BadRequestFault("[ERR-106] Missing ServiceMetadataPublisherID")
        return SmlRequest(op, smp_id)
    smp_id = _child_text(payload, LOCATOR_NS, "ServiceMetadataPublisherID")
    assert smp_id is not None
    if op in (Operation.CREATE_SMP, Operation.UPDATE_SMP):
        endpoint = payload.find(_q(LOCATOR_NS, "PublisherEndpoint"))
        if endpoint is None:
            raise BadRequestFault("[ERR-106] Missing PublisherEndpoint")
        return SmlRequest(
            op,
            smp_id,
            logical_address=_child_text(endpoint, LOCATOR_NS, "LogicalAddress"),
            physical_address=_child_text(endpoint, LOCATOR_NS, "PhysicalAddress"),
        )
    if op is Operation.READ_SMP:
        return SmlRequest(op, smp_id)
    if op is Operation.LIST_PARTICIPANTS:
        return SmlRequest(op, smp_id, next_page=_child_text(payload, LOCATOR_NS, "NextPageIdentifier", required=False))
    participant = _read_participant(payload)
    key = None
    if op in (Operation.PREPARE_TO_MIGRATE, Operation.MIGRATE):
        key = _child_text(payload, LOCATOR_NS, "MigrationKey")
    return SmlRequest(op, smp_id, participant=participant, migration_key=key)


def build_response(operation: Operation, result: SmpInfo | ParticipantList | None = None) -> bytes:
    """The success envelope; Read takes an SmpInfo, List a ParticipantList, others nothing."""
    if operation is Operation.READ_SMP:
        if not isinstance(result, SmpInfo):
            raise TypeError("READ_SMP answers an SmpInfo")
        root = etree.Element(_q(LOCATOR_NS, "ServiceMetadataPublisherService"), nsmap=_NSMAP)
        endpoint = etree.SubElement(root, _q(LOCATOR_NS, "PublisherEndpoint"))
        _text(endpoint, LOCATOR_NS, "LogicalAddress", result.logical_address)
        _text(endpoint, LOCATOR_NS, "PhysicalAddress", result.physical_address)
        _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", result.smp_id)
        return _envelope(root)
    if operation is Operation.LIST_PARTICIPANTS:
        if not isinstance(result, ParticipantList):
            raise TypeError("LIST_PARTICIPANTS answers a ParticipantList")
        root = etree.Element(_q(LOCATOR_NS, "ParticipantIdentifierPage"), nsmap=_NSMAP)
        for pid in result.participants:
            _participant(root, pid)
        if result.smp_id:
            _text(root, LOCATOR_NS, "ServiceMetadataPublisherID", result.smp_id)
        if result.next_page:
            _text(root, LOCATOR_NS, "NextPageIdentifier", result.next_page)
        return _envelope(root)
    return _envelope(None)


def build_fault(fault: SmlFault) -> bytes:
    """A SOAP 1.1 Fault carrying the BDMSL fault element (sent with HTTP 500)."""
    env = etree.Element(_q(SOAP_NS, "Envelope"), nsmap=_NSMAP)
    body = etree.SubElement(env, _q(SOAP_NS, "Body"))
    el = etree.SubElement(body, _q(SOAP_NS, "Fault"))
    code = "soap:Server" if fault.fault == "InternalErrorFault" else "soap:Client"
    etree.SubElement(el, "faultcode").text = code
    etree.SubElement(el, "faultstring").text = fault.message
    detail = etree.SubElement(el, "detail")
    kind = etree.SubElement(detail, _q(LOCATOR_NS, fault.fault))
    _text(kind, LOCATOR_NS, "FaultMessage", fault.message)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _raise_fault(fault: etree._Element) -> None:
    faultstring = (fault.findtext("faultstring") or "").strip()
    detail = fault.find("detail")
    if detail is not None:
        for child in detail:
            if isinstance(child.tag, str):
                name = etree.QName(child).localname
                message = (child.findtext(_q(LOCATOR_NS, "FaultMessage")) or child.findtext("FaultMessage") or "").strip()
                raise SmlFault.of(name, message or faultstring or name)
    raise SmlFault.of("InternalErrorFault", faultstring or "SOAP fault without text")


def parse_response(operation: Operation, data: bytes) -> SmpInfo | ParticipantList | None:
    """The result of `operation` from a response body; raises the SmlFault it carries,
    or SmlTransportError if the body is not a usable SOAP answer."""
    try:
        root = parse_xml(data)
    except XmlRejected as exc:
        raise SmlTransportError(f"SML answer is not XML: {exc}") from None
    payload = _body_child(root, SmlTransportError)
    if payload is not None and payload.tag == _q(SOAP_NS, "Fault"):
        _raise_fault(payload)
    expected = operation.response_element
    if expected is None:
        return None
    if payload is None or payload.tag != _q(LOCATOR_NS, expected):
        raise SmlTransportError(f"SML answer to {operation.name} lacks {expected}")
    try:
        if operation is Operation.READ_SMP:
            endpoint = payload.find(_q(LOCATOR_NS, "PublisherEndpoint"))
            if endpoint is None:
                raise BadRequestFault("no PublisherEndpoint")
            return SmpInfo(
                smp_id=_child_text(payload, LOCATOR_NS, "ServiceMetadataPublisherID") or "",
                logical_address=_child_text(endpoint, LOCATOR_NS, "LogicalAddress") or "",
                physical_address=_child_text(endpoint, LOCATOR_NS, "PhysicalAddress") or "",
            )
        pids = []
        for child in payload.findall(_q(IDS_NS, "ParticipantIdentifier")):
            pids.append(ParticipantId((child.get("scheme") or "").strip(), (child.text or "").strip()))
        return ParticipantList(
            tuple(pids),
            _child_text(payload, LOCATOR_NS, "ServiceMetadataPublisherID", required=False),
            _child_text(payload, LOCATOR_NS, "NextPageIdentifier", required=False),
        )
    except (BadRequestFault, IdentifierError) as exc:
        raise SmlTransportError(f"malformed SML answer to {operation.name}: {exc}") from None
