"""The ebMS 3 header (eb:Messaging): typed objects, built to and parsed from lxml elements.

Profile rules (what Peppol requires of these values) live in `as4.peppol`;
this module only knows ebMS 3 core §5 structure. Parsing raises
`InvalidHeader` (EBMS:0009) for a structurally broken header and
`ValueInconsistent` (EBMS:0003) for several messages bundled in one.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from as4._xml import DS, EB, EBBP, WSU_ID, ChildMap, by_tag, children, first, first_of, qname, reference_parts, text_of
from as4.errors import EbmsError, InvalidHeader, ValueInconsistent
from as4.mime import normalize_cid

__all__ = [
    "Party",
    "Property",
    "PartInfo",
    "UserMessage",
    "NrReference",
    "Receipt",
    "ErrorItem",
    "ErrorSignal",
    "SignalMessage",
    "parse_messaging",
    "format_timestamp",
    "parse_timestamp",
]


@dataclass(frozen=True, slots=True)
class Party:
    party_id: str
    party_id_type: str | None
    role: str


@dataclass(frozen=True, slots=True)
class Property:
    name: str
    value: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One payload reference; `href` is the bare Content-ID (no `cid:`)."""

    href: str
    properties: tuple[Property, ...] = ()

    def property(self, name: str) -> str | None:
        return next((p.value for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class UserMessage:
    message_id: str
    timestamp: datetime
    from_party: Party
    to_party: Party
    service: str
    service_type: str | None
    action: str
    conversation_id: str
    agreement_ref: str | None = None
    agreement_ref_type: str | None = None
    agreement_pmode: str | None = None
    properties: tuple[Property, ...] = ()
    parts: tuple[PartInfo, ...] = ()
    ref_to_message_id: str | None = None
    mpc: str | None = None
    from_party_count: int = 1
    to_party_count: int = 1

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class NrReference:
    """One ds:Reference as copied into a receipt's NonRepudiationInformation."""

    uri: str
    digest_method: str
    digest_value: bytes
    transforms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    references: tuple[NrReference, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorItem:
    code: str
    severity: str
    category: str | None = None
    short_description: str | None = None
    origin: str | None = None
    ref_to_message_in_error: str | None = None
    description: str | None = None
    detail: str | None = None

    @property
    def ebms_error(self) -> EbmsError | None:
        return EbmsError.from_code(self.code)


@dataclass(frozen=True, slots=True)
class ErrorSignal:
    errors: tuple[ErrorItem, ...] = ()


@dataclass(frozen=True, slots=True)
class SignalMessage:
    message_id: str
    timestamp: datetime
    ref_to_message_id: str | None
    receipt: Receipt | None = None
    error: ErrorSignal | None = None
    other: tuple[str, ...] = field(default=())  # e.g. PullRequest: local names


# -- timestamps -------------------------------------------------------------------------------
_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def format_timestamp(at: datetime) -> str:
    """xs:dateTime in UTC with `Z` and milliseconds, as phase4 writes it."""
    at = at.astimezone(UTC)  # fields formatted directly: strftime parses its format every call
    return (f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}."
            f"{at.microsecond // 1000:03d}Z")


def parse_timestamp(value: str | None) -> datetime:
    if not value:
        raise InvalidHeader("eb:Timestamp is missing")
    m = _TS.match(value.strip())
    if not m:
        raise InvalidHeader(f"eb:Timestamp {value[:60]!r} is not an xs:dateTime")
    try:
        text = value.strip().replace("Z", "+00:00")
        if m.group(7):
            frac = m.group(7)[:7].ljust(7, "0")  # datetime takes at most 6 fraction digits
            text = text.replace(m.group(7), frac)
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidHeader(f"eb:Timestamp {value[:60]!r} is not a valid date/time") from None
    if dt.tzinfo is None:  # ebMS says UTC; an offset-less value is read as UTC
        dt = dt.replace(tzinfo=UTC)
    return dt


# -- parsing ----------------------------------------------------------------------------------
def _eb(local: str) -> str:
    return f"{{{EB}}}{local}"


def _one(kids: ChildMap, tag: str, what: str) -> etree._Element:
    """The one child named `tag` (Clark) in a `by_tag` map; InvalidHeader if missing or repeated."""
    found = kids.get(tag)
    if not found:
        raise InvalidHeader(f"{what} is missing")
    if len(found) > 1:
        raise InvalidHeader(f"{what} occurs {len(found)} times")
    return found[0]


def _text(kids: ChildMap, tag: str, what: str) -> str:
    value = text_of(_one(kids, tag, what))
    if not value:
        raise InvalidHeader(f"{what} is empty")
    return value


_MESSAGE_INFO, _MESSAGE_ID, _TIMESTAMP, _REF_TO_MESSAGE_ID = map(_eb, (
    "MessageInfo", "MessageId", "Timestamp", "RefToMessageId"))
_PARTY_INFO, _FROM, _TO, _PARTY_ID, _ROLE = map(_eb, ("PartyInfo", "From", "To", "PartyId", "Role"))
_COLLABORATION_INFO, _AGREEMENT_REF, _SERVICE, _ACTION, _CONVERSATION_ID = map(_eb, (
    "CollaborationInfo", "AgreementRef", "Service", "Action", "ConversationId"))
_MESSAGE_PROPERTIES, _PAYLOAD_INFO, _PART_INFO, _PART_PROPERTIES, _PROPERTY = map(_eb, (
    "MessageProperties", "PayloadInfo", "PartInfo", "PartProperties", "Property"))


def _properties(parent: etree._Element | None) -> tuple[Property, ...]:
    if parent is None:
        return ()
    out = []
    for p in children(parent, _PROPERTY):
        name = p.get("name")
        if not name:
            raise InvalidHeader("eb:Property without a name")
        out.append(Property(name, (p.text or "").strip(), p.get("type")))
    return tuple(out)


def _party(el: etree._Element, what: str) -> tuple[Party, int]:
    kids = by_tag(el)
    ids = kids.get(_PARTY_ID)
    if not ids:
        raise InvalidHeader(f"{what}/eb:PartyId is missing")
    value = (ids[0].text or "").strip()
    if not value:
        raise InvalidHeader(f"{what}/eb:PartyId is empty")
    role = _text(kids, _ROLE, f"{what}/eb:Role")
    return Party(value, ids[0].get("type"), role), len(ids)


def _message_info(kids: ChildMap, what: str) -> tuple[str, datetime, str | None]:
    """MessageId, Timestamp and RefToMessageId of the eb:MessageInfo among `kids` (a `by_tag` map)."""
    info = by_tag(_one(kids, _MESSAGE_INFO, f"{what}/eb:MessageInfo"))
    message_id = _text(info, _MESSAGE_ID, f"{what}/eb:MessageId")
    ts = parse_timestamp(text_of(_one(info, _TIMESTAMP, f"{what}/eb:Timestamp")))
    ref = first_of(info, _REF_TO_MESSAGE_ID)
    return message_id, ts, (text_of(ref) or None) if ref is not None else None


def _user_message(um: etree._Element) -> UserMessage:
    kids = by_tag(um)
    message_id, ts, ref = _message_info(kids, "eb:UserMessage")
    party_info = by_tag(_one(kids, _PARTY_INFO, "eb:PartyInfo"))
    from_party, n_from = _party(_one(party_info, _FROM, "eb:From"), "eb:From")
    to_party, n_to = _party(_one(party_info, _TO, "eb:To"), "eb:To")
    collab = by_tag(_one(kids, _COLLABORATION_INFO, "eb:CollaborationInfo"))
    agreement = first_of(collab, _AGREEMENT_REF)
    service_el = _one(collab, _SERVICE, "eb:Service")
    service = text_of(service_el)
    if not service:
        raise InvalidHeader("eb:Service is empty")
    action = _text(collab, _ACTION, "eb:Action")
    conversation = _text(collab, _CONVERSATION_ID, "eb:ConversationId")
    parts = []
    payload_info = first_of(kids, _PAYLOAD_INFO)
    if payload_info is not None:
        for pi in children(payload_info, _PART_INFO):
            href = pi.get("href")
            if href is None:
                # a SOAP-body payload; Peppol forbids it, the profile check says so
                parts.append(PartInfo("", _properties(first(pi, _PART_PROPERTIES))))
                continue
            if not href.startswith("cid:"):
                # `#id`: a SOAP-Body payload (ebMS 3 §5.2.2.13); Peppol refuses it in the profile check
                parts.append(PartInfo("", _properties(first(pi, _PART_PROPERTIES))))
                continue
            parts.append(PartInfo(normalize_cid(href), _properties(first(pi, _PART_PROPERTIES))))
    return UserMessage(
        message_id=message_id,
        timestamp=ts,
        ref_to_message_id=ref,
        from_party=from_party,
        to_party=to_party,
        service=service,
        service_type=service_el.get("type"),
        action=action,
        conversation_id=conversation,
        agreement_ref=text_of(agreement) if agreement is not None else None,
        agreement_ref_type=agreement.get("type") if agreement is not None else None,
        agreement_pmode=agreement.get("pmode") if agreement is not None else None,
        properties=_properties(first_of(kids, _MESSAGE_PROPERTIES)),
        parts=tuple(parts),
        mpc=um.get("mpc"),
        from_party_count=n_from,
        to_party_count=n_to,
    )


_REFERENCE = f"{{{DS}}}Reference"
_RECEIPT, _ERROR = _eb("Receipt"), _eb("Error")
_MESSAGE_PART_NR_INFORMATION = f"{{{EBBP}}}MessagePartNRInformation"
_SIGNAL_PARTS = frozenset({_MESSAGE_INFO, _RECEIPT, _ERROR})


def _nr_references(receipt: etree._Element) -> tuple[NrReference, ...]:
    """The ds:References at `.//ebbp:MessagePartNRInformation/ds:Reference`, in document order.

    Each Reference's children are read in one loop (`as4._xml.reference_parts`): a receipt has
    three references of three children, and a `by_tag` map and a tag matcher per step cost more
    than reading those tags once.
    """
    out = []
    for part in receipt.iter(_MESSAGE_PART_NR_INFORMATION):
        for ref in part:
            if ref.tag != _REFERENCE:
                continue
            dm, dv, transforms = reference_parts(ref)
            try:
                digest = binascii.a2b_base64(text_of(dv) or "")  # base64.b64decode without its Python layers
            except ValueError:
                digest = b""
            out.append(NrReference(ref.get("URI", ""), dm.get("Algorithm", "") if dm is not None else "", digest,
                                   tuple(t.get("Algorithm", "") for t in transforms)))
    return tuple(out)


def _signal_message(sm: etree._Element) -> SignalMessage:
    kids = by_tag(sm)
    message_id, ts, ref = _message_info(kids, "eb:SignalMessage")
    receipt_el = first_of(kids, _RECEIPT)
    errors = kids.get(_ERROR)
    receipt = Receipt(_nr_references(receipt_el)) if receipt_el is not None else None
    error = None
    if errors:
        items = []
        for e in errors:
            code = e.get("errorCode")
            if not code:
                raise InvalidHeader("eb:Error without errorCode")
            items.append(ErrorItem(
                code=code,
                severity=e.get("severity", ""),
                category=e.get("category"),
                short_description=e.get("shortDescription"),
                origin=e.get("origin"),
                ref_to_message_in_error=e.get("refToMessageInError"),
                description=text_of(first(e, _eb("Description"))),
                detail=text_of(first(e, _eb("ErrorDetail"))),
            ))
        error = ErrorSignal(tuple(items))
    other: tuple[str, ...] = ()
    if not _SIGNAL_PARTS.issuperset(kids):  # e.g. a PullRequest: its local names, in document order
        other = tuple(etree.QName(c).localname for c in sm if isinstance(c.tag, str) and c.tag not in _SIGNAL_PARTS)
    return SignalMessage(message_id, ts, ref, receipt, error, other)


def parse_messaging(messaging: etree._Element) -> UserMessage | SignalMessage:
    """The one message in an eb:Messaging header.

    Peppol is one message per HTTP request; bundling (ebMS 3 §5.2) is refused
    with EBMS:0003 as phase4 does.
    """
    kids = by_tag(messaging)
    users = kids.get(_eb("UserMessage"), [])
    signals = kids.get(_eb("SignalMessage"), [])
    if len(users) + len(signals) == 0:
        raise InvalidHeader("eb:Messaging holds neither a UserMessage nor a SignalMessage")
    if len(users) + len(signals) > 1:
        raise ValueInconsistent("eb:Messaging bundles several messages; one per request is supported")
    if users:
        return _user_message(users[0])
    return _signal_message(signals[0])


# -- building ---------------------------------------------------------------------------------
def _sub(parent: etree._Element, ns: str, local: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, qname(ns, local), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def build_messaging(msg: UserMessage | SignalMessage, *, messaging_id: str, soap_ns: str,
                    signal_body: etree._Element | None = None) -> etree._Element:
    """An eb:Messaging element (mustUnderstand, wsu:Id) for `msg`, as an lxml tree.

    What we send is written as text by `as4._envelope.messaging` (no tree to serialise, reparse and
    canonicalise); tests/as4/test_envelope.py holds its canonical form to this tree's.
    """
    from as4._xml import WSU

    prefix = "S12" if soap_ns.endswith("soap-envelope") else "S11"
    messaging = etree.Element(qname(EB, "Messaging"), nsmap={"eb": EB, prefix: soap_ns, "wsu": WSU})
    messaging.set(qname(soap_ns, "mustUnderstand"), "true")
    messaging.set(WSU_ID, messaging_id)
    if isinstance(msg, UserMessage):
        um = _sub(messaging, EB, "UserMessage", mpc=msg.mpc)
        info = _sub(um, EB, "MessageInfo")
        _sub(info, EB, "Timestamp", format_timestamp(msg.timestamp))
        _sub(info, EB, "MessageId", msg.message_id)
        if msg.ref_to_message_id:
            _sub(info, EB, "RefToMessageId", msg.ref_to_message_id)
        party_info = _sub(um, EB, "PartyInfo")
        for tag, party in (("From", msg.from_party), ("To", msg.to_party)):
            el = _sub(party_info, EB, tag)
            _sub(el, EB, "PartyId", party.party_id, type=party.party_id_type)
            _sub(el, EB, "Role", party.role)
        collab = _sub(um, EB, "CollaborationInfo")
        if msg.agreement_ref is not None:
            _sub(collab, EB, "AgreementRef", msg.agreement_ref, type=msg.agreement_ref_type, pmode=msg.agreement_pmode)
        _sub(collab, EB, "Service", msg.service, type=msg.service_type)
        _sub(collab, EB, "Action", msg.action)
        _sub(collab, EB, "ConversationId", msg.conversation_id)
        if msg.properties:
            props = _sub(um, EB, "MessageProperties")
            for p in msg.properties:
                _sub(props, EB, "Property", p.value, name=p.name, type=p.type)
        if msg.parts:
            payload = _sub(um, EB, "PayloadInfo")
            for part in msg.parts:
                pi = _sub(payload, EB, "PartInfo", href="cid:" + part.href)
                if part.properties:
                    pp = _sub(pi, EB, "PartProperties")
                    for p in part.properties:
                        _sub(pp, EB, "Property", p.value, name=p.name)
        return messaging
    sm = _sub(messaging, EB, "SignalMessage")
    info = _sub(sm, EB, "MessageInfo")
    _sub(info, EB, "Timestamp", format_timestamp(msg.timestamp))
    _sub(info, EB, "MessageId", msg.message_id)
    if msg.ref_to_message_id:
        _sub(info, EB, "RefToMessageId", msg.ref_to_message_id)
    if msg.receipt is not None:
        receipt = _sub(sm, EB, "Receipt")
        nri = etree.SubElement(receipt, qname(EBBP, "NonRepudiationInformation"), nsmap={"ebbp": EBBP})
        for ref in msg.receipt.references:
            part = _sub(nri, EBBP, "MessagePartNRInformation")
            _render_reference(part, ref)
    if msg.error is not None:
        for item in msg.error.errors:
            e = _sub(sm, EB, "Error", category=item.category, errorCode=item.code, origin=item.origin,
                     refToMessageInError=item.ref_to_message_in_error, severity=item.severity,
                     shortDescription=item.short_description)
            if item.description:
                d = _sub(e, EB, "Description", item.description)
                d.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
            if item.detail:
                _sub(e, EB, "ErrorDetail", item.detail)
    return messaging


def _render_reference(parent: etree._Element, ref: NrReference) -> None:
    r = etree.SubElement(parent, qname(DS, "Reference"), {"URI": ref.uri}, nsmap={"ds": DS})
    if ref.transforms:
        ts = _sub(r, DS, "Transforms")
        for alg in ref.transforms:
            _sub(ts, DS, "Transform", Algorithm=alg)
    _sub(r, DS, "DigestMethod", Algorithm=ref.digest_method)
    _sub(r, DS, "DigestValue", base64.b64encode(ref.digest_value).decode())
