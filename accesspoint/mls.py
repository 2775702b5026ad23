"""Peppol Message Level Status (MLS 1.0/1.1, protocol.md §3): build and parse, pure.

An MLS is a UBL ApplicationResponse the receiving access point (C3) sends back
to the sending one (C2) about one message, referring to it by its SBDH
InstanceIdentifier. `AP` = delivered with confirmation, `AB` = delivered,
`RE` = rejected; a negative (RE) one carries a description and at least one
line saying what failed (SV syntax, BV/BW business rule, FD failure of delivery).
Senders and receivers are service providers, named by their SPID (`0242:` +
the six digits of the seat id).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from lxml import etree

import ubl
from accesspoint.delivery._xml import XmlRejected, parse_xml

__all__ = [
    "MlsError",
    "ResponseCode",
    "StatusReason",
    "MlsLine",
    "MessageLevelStatus",
    "build_mls",
    "parse_mls",
    "spid_for_seat",
    "spis_participant",
    "MLS_DOCUMENT_TYPE",
    "MLS_PROCESS",
    "MLS_CUSTOMIZATION_ID",
    "MLS_PROFILE_ID",
]

MLS_CUSTOMIZATION_ID = "urn:peppol:edec:mls:1.0"
MLS_PROFILE_ID = "urn:peppol:edec:mls"
MLS_DOCUMENT_TYPE = ubl.DocumentTypeId.parse(
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::"
    "ApplicationResponse##urn:peppol:edec:mls:1.0::2.1"
)
MLS_PROCESS = ubl.ProcessId.parse("cenbii-procid-ubl::urn:peppol:edec:mls")

_AR = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_NS = {"ar": _AR, "cac": _CAC, "cbc": _CBC}
#: SPID as in SPIDHelper (protocol.md §3): six digits, optional sub-ids.
_SPID_RE = re.compile(r"[0-9]{6}(-[0-9A-Z_]{3,12}(\.[0-9A-Z\-._~]{3,24})?)?", re.IGNORECASE)
_SEAT_RE = re.compile(r"P[A-Z]{2}([0-9]{6})")


class MlsError(ValueError):
    """Bytes that are not a Peppol MLS, or an MLS that breaks its own rules."""


class ResponseCode(enum.Enum):
    ACCEPTED = "AP"
    ACKNOWLEDGED = "AB"
    REJECTED = "RE"


class StatusReason(enum.Enum):
    SYNTAX = "SV"
    BUSINESS_RULE_FATAL = "BV"
    BUSINESS_RULE_WARNING = "BW"
    FAILURE_OF_DELIVERY = "FD"


@dataclass(frozen=True, slots=True)
class MlsLine:
    description: str
    reason: StatusReason
    #: What the line is about (an XPath, a rule id); "NA" when nothing narrower applies.
    reference: str = "NA"


@dataclass(frozen=True, slots=True)
class MessageLevelStatus:
    id: str
    issued_at: dt.datetime
    sender_spid: str
    receiver_spid: str
    response_code: ResponseCode
    #: SBDH InstanceIdentifier of the message this status is about.
    ref_instance_identifier: str
    description: str | None = None
    lines: tuple[MlsLine, ...] = ()

    def __post_init__(self) -> None:
        for spid in (self.sender_spid, self.receiver_spid):
            if not _SPID_RE.fullmatch(spid):
                raise MlsError(f"{spid!r} is not a Peppol service provider id")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        negative = self.response_code is ResponseCode.REJECTED
        # peppol-mls-1.0.1.sch: a rejection MUST explain itself; a positive status MUST NOT carry issues.
        if negative and (not self.description or not self.lines):
            raise MlsError("a negative MLS (RE) needs a description and at least one line")
        if not negative and self.lines:
            raise MlsError("a positive MLS (AP/AB) must not carry lines")

    @property
    def positive(self) -> bool:
        return self.response_code is not ResponseCode.REJECTED


def spid_for_seat(seat_id: str) -> str:
    """The SPID (without scheme) of an access point: the six digits of its seat id (POP000306 -> 000306)."""
    m = _SEAT_RE.fullmatch(seat_id.strip().upper())
    if not m:
        raise ValueError(f"{seat_id!r} is not a Peppol seat id")
    return m.group(1)


def spis_participant(seat_id: str) -> ubl.ParticipantId:
    """The participant an access point receives MLS at (`0242:<SPID>`): each node registers it in
    its SMP for `MLS_DOCUMENT_TYPE` / `MLS_PROCESS` (Peppol Network Policy; protocol.md §3)."""
    return ubl.ParticipantId.parse(f"0242:{spid_for_seat(seat_id)}")


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", **attrs)
    if text is not None:
        el.text = text
    return el


def build_mls(status: MessageLevelStatus) -> bytes:
    """The ApplicationResponse XML of `status` (UBL 2.1 element order)."""
    root = etree.Element(f"{{{_AR}}}ApplicationResponse", nsmap={None: _AR, "cac": _CAC, "cbc": _CBC})
    _sub(root, _CBC, "CustomizationID", MLS_CUSTOMIZATION_ID)
    _sub(root, _CBC, "ProfileID", MLS_PROFILE_ID)
    _sub(root, _CBC, "ID", status.id)
    at = status.issued_at.astimezone(dt.UTC)
    _sub(root, _CBC, "IssueDate", at.date().isoformat())
    _sub(root, _CBC, "IssueTime", at.strftime("%H:%M:%SZ"))
    _sub(_sub(root, _CAC, "SenderParty"), _CBC, "EndpointID", status.sender_spid, schemeID="0242")
    _sub(_sub(root, _CAC, "ReceiverParty"), _CBC, "EndpointID", status.receiver_spid, schemeID="0242")
    dr = _sub(root, _CAC, "DocumentResponse")
    response = _sub(dr, _CAC, "Response")
    _sub(response, _CBC, "ResponseCode", status.response_code.value)
    if status.description:
        _sub(response, _CBC, "Description", status.description)
    _sub(_sub(dr, _CAC, "DocumentReference"), _CBC, "ID", status.ref_instance_identifier)
    for line in status.lines:
        lr = _sub(dr, _CAC, "LineResponse")
        _sub(_sub(lr, _CAC, "LineReference"), _CBC, "LineID", line.reference)
        r = _sub(lr, _CAC, "Response")
        _sub(r, _CBC, "Description", line.description)
        _sub(_sub(r, _CAC, "Status"), _CBC, "StatusReasonCode", line.reason.value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _text(el: etree._Element, path: str) -> str:
    found = el.find(path, _NS)
    return (found.text or "").strip() if found is not None else ""


def parse_mls(data: bytes) -> MessageLevelStatus:
    """Read an MLS; raises `MlsError` when it is not one or breaks the MLS rules."""
    try:
        root = parse_xml(data)
    except XmlRejected as exc:
        raise MlsError(str(exc)) from None
    if root.tag != f"{{{_AR}}}ApplicationResponse":
        raise MlsError("not an ApplicationResponse")
    if _text(root, "cbc:CustomizationID") != MLS_CUSTOMIZATION_ID or _text(root, "cbc:ProfileID") != MLS_PROFILE_ID:
        raise MlsError("CustomizationID/ProfileID are not those of an MLS")
    date, time = _text(root, "cbc:IssueDate"), _text(root, "cbc:IssueTime")
    try:
        issued = dt.datetime.fromisoformat(f"{date}T{time or '00:00:00'}".replace("Z", "+00:00"))
    except ValueError:
        raise MlsError(f"bad IssueDate/IssueTime {date!r} {time!r}") from None
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=dt.UTC)
    try:
        code = ResponseCode(_text(root, "cac:DocumentResponse/cac:Response/cbc:ResponseCode"))
    except ValueError:
        raise MlsError("ResponseCode is not AP, AB or RE") from None
    lines = []
    for lr in root.findall("cac:DocumentResponse/cac:LineResponse", _NS):
        try:
            reason = StatusReason(_text(lr, "cac:Response/cac:Status/cbc:StatusReasonCode"))
        except ValueError:
            raise MlsError("StatusReasonCode is not SV, BV, BW or FD") from None
        lines.append(MlsLine(_text(lr, "cac:Response/cbc:Description"), reason,
                             _text(lr, "cac:LineReference/cbc:LineID") or "NA"))
    ref = _text(root, "cac:DocumentResponse/cac:DocumentReference/cbc:ID")
    if not ref:
        raise MlsError("DocumentReference/ID (the source InstanceIdentifier) is missing")
    return MessageLevelStatus(
        id=_text(root, "cbc:ID"),
        issued_at=issued,
        sender_spid=_text(root, "cac:SenderParty/cbc:EndpointID"),
        receiver_spid=_text(root, "cac:ReceiverParty/cbc:EndpointID"),
        response_code=code,
        ref_instance_identifier=ref,
        description=_text(root, "cac:DocumentResponse/cac:Response/cbc:Description") or None,
        lines=tuple(lines),
    )
