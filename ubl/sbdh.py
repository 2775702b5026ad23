"""The Peppol SBDH envelope (Business Message Envelope 2.0.x, protocol.md §2).

Every Peppol AS4 payload is a GS1 StandardBusinessDocument: a header naming the
sender and receiver participants, the document type and process, the C1 country
and optional MLS routing, followed by exactly one business message.

`parse_sbd(bytes)` checks the structure the GS1 SBDH 1.3 schema prescribes and the
Peppol rules on top of it, and raises `SbdhError(problem)` with the problem named
as in peppol-commons (EPeppolSBDHDataError) so results compare with phase4.
Problems the envelope spec only warns about (an invalid MLS_TO, since
peppol-commons 12.3.9) are returned in `warnings` and the field is left unset.
`build_sbd(...)` writes an envelope that `parse_sbd` reads back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import functools
import re
import uuid
from dataclasses import dataclass, field

from lxml import etree

from ._xml import XmlRejected, parse_xml
from .errors import IdentifierError, SbdhError, SbdhProblem
from .identifiers import (
    DOCTYPE_SCHEME,
    NO_PROCESS_SCHEME,
    PARTICIPANT_SCHEME,
    PROCESS_SCHEME,
    DocumentTypeId,
    ParticipantId,
    ProcessId,
)
from .summary import DocumentSummary
from .summary import summarise as summarise_document

__all__ = [
    "StandardBusinessDocument",
    "SbdhWarning",
    "MlsType",
    "parse_sbd",
    "build_sbd",
    "SBDH_NS",
    "ENVELOPE_NS",
]

SBDH_NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
#: Peppol wrapper elements for non-XML payloads (BinaryContent / TextContent).
ENVELOPE_NS = "http://peppol.eu/xsd/ticc/envelope/1.0"
_HEADER_VERSION = "1.0"
_UBL_NS_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"

P = SbdhProblem


class MlsType(enum.Enum):
    """Scope MLS_TYPE: when the receiving AP must send a Message Level Status.

    Absent means FAILURE_ONLY (Envelope 2.0.2; peppol-commons 12.5.1 default).
    """

    FAILURE_ONLY = "FAILURE_ONLY"
    ALWAYS_SEND = "ALWAYS_SEND"


@dataclass(frozen=True, slots=True)
class SbdhWarning:
    """A problem that the envelope spec does not treat as fatal."""

    problem: SbdhProblem
    detail: str


@dataclass(frozen=True, slots=True)
class StandardBusinessDocument:
    """A parsed Peppol envelope; `payload` is the business message as XML bytes."""

    sender: ParticipantId
    receiver: ParticipantId
    document_type_id: DocumentTypeId
    process_id: ProcessId
    instance_identifier: str
    creation_time: dt.datetime  # always timezone-aware
    country_c1: str
    standard: str
    type_version: str
    type: str
    payload: bytes
    mls_to: ParticipantId | None = None
    mls_type: MlsType | None = None
    #: Scopes other than the Peppol ones, as (Type, InstanceIdentifier, Identifier or None).
    additional_scopes: tuple[tuple[str, str, str | None], ...] = ()
    warnings: tuple[SbdhWarning, ...] = field(default=(), compare=False)
    #: With `parse_sbd(summarise=True)`: the business message's summary, read from the tree the
    #: envelope was parsed into, so a receiver storing the document need not parse it a second
    #: time (for an MLS or a binary payload, blanks, as `summarise` gives them); else None.
    summary: DocumentSummary | None = field(default=None, repr=False, compare=False)

    @property
    def payload_root(self) -> tuple[str, str]:
        """(namespace URI, local name) of the business message root element."""
        root = parse_xml(self.payload).getroot()
        q = etree.QName(root)
        return q.namespace or "", q.localname

    def binary_content(self) -> tuple[str, bytes] | None:
        """For a Peppol BinaryContent/TextContent payload: (mime type, decoded bytes); else None."""
        root = parse_xml(self.payload).getroot()
        q = etree.QName(root)
        if q.namespace != ENVELOPE_NS:
            return None
        mime = root.get("mimeType", "application/octet-stream")
        text = root.text or ""
        if q.localname == "TextContent":
            return mime, text.encode(root.get("encoding") or "utf-8")
        try:
            return mime, base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise SbdhError(P.INVALID_BUSINESS_MESSAGE, f"BinaryContent is not base64: {exc}") from None


def _q(local: str) -> str:
    return _CLARK.get(local) or f"{{{SBDH_NS}}}{local}"


#: The Clark names parse_sbd and build_sbd use, built once: some 50 per envelope otherwise (issue 14).
_CLARK = {local: f"{{{SBDH_NS}}}{local}" for local in (
    "StandardBusinessDocument", "StandardBusinessDocumentHeader", "HeaderVersion", "Sender", "Receiver",
    "Identifier", "ContactInformation", "DocumentIdentification", "Manifest", "BusinessScope", "Standard",
    "TypeVersion", "InstanceIdentifier", "Type", "MultipleType", "CreationDateAndTime", "Scope",
)}


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


class _Shape:
    """Checks an element's children against an XSD-like sequence, the way the
    GS1 SBDH schema would; any deviation is INVALID_SBD_XML.

    One pass over the children (comments and processing instructions skipped, text
    between them refused), and `take` compares each tag with one Clark name built per
    call: parse_sbd makes some 30 of these checks per envelope (issue 14).
    """

    __slots__ = ("kids", "tags", "pos", "where")

    def __init__(self, el: etree._Element, where: str) -> None:
        self.pos = 0
        self.where = where
        text = el.text
        # `not text.isspace()` is `text.strip() != ""` without the copy (the same whitespace).
        if text and not text.isspace():
            raise SbdhError(P.INVALID_SBD_XML, f"{where} has text content")
        kids, tags = [], []
        for kid in el:
            tail = kid.tail
            if tail and not tail.isspace():
                raise SbdhError(P.INVALID_SBD_XML, f"{where} has text content")
            tag = kid.tag  # lxml builds this string on every access: once per child here
            if isinstance(tag, str):
                kids.append(kid)
                tags.append(tag)
        self.kids, self.tags = kids, tags

    def take(self, local: str, lo: int = 1, hi: int | None = 1) -> list[etree._Element]:
        """The next `lo` to `hi` children named `local` (one step of `take_all`)."""
        return self.take_all(((_q(local), local, lo, hi),))[0]

    def take_all(self, layout: _Layout, done: bool = False) -> list[list[etree._Element]]:
        """`[take(local, lo, hi) for local, lo, hi in layout]` (and `done()` if asked) in one loop: the
        same answers and the same first error, without a call and a Clark-name lookup per step."""
        tags, kids, pos, n = self.tags, self.kids, self.pos, len(self.tags)
        out = []
        for tag, local, lo, hi in layout:
            end = n if hi is None or pos + hi > n else pos + hi
            start = pos
            while pos < end and tags[pos] == tag:
                pos += 1
            if pos - start < lo:
                self.pos = start
                raise SbdhError(P.INVALID_SBD_XML, f"{self.where}: missing <{local}>")
            out.append(kids[start:pos])
        self.pos = pos
        if done:
            self.done()
        return out

    def done(self) -> None:
        if self.pos < len(self.kids):
            raise SbdhError(
                P.INVALID_SBD_XML, f"{self.where}: unexpected <{etree.QName(self.kids[self.pos]).localname}>"
            )


_Layout = tuple[tuple[str, str, int, "int | None"], ...]


def _layout(*steps: tuple[str, int, int | None]) -> _Layout:
    """`_Shape.take_all`'s steps, (Clark name, local name, min, max) per `take`, built once."""
    return tuple((_q(local), local, lo, hi) for local, lo, hi in steps)


_PARTNER = _layout(("Identifier", 1, 1), ("ContactInformation", 0, None))
_HEADER = _layout(("HeaderVersion", 1, 1), ("Sender", 1, None), ("Receiver", 1, None),
                  ("DocumentIdentification", 1, 1), ("Manifest", 0, 1), ("BusinessScope", 0, 1))
_IDENTIFICATION = _layout(("Standard", 1, 1), ("TypeVersion", 1, 1), ("InstanceIdentifier", 1, 1), ("Type", 1, 1),
                          ("MultipleType", 0, 1), ("CreationDateAndTime", 1, 1))
_SCOPE = _layout(("Type", 1, 1), ("InstanceIdentifier", 1, 1), ("Identifier", 0, 1))

# xs:dateTime; Peppol additionally requires the time zone (Envelope 2.0 §3.3).
_DATETIME_RE = re.compile(
    r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_TYPE_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]*")
_UBL_VERSION_RE = re.compile(r"2\.[0-9]")
#: `\s` of a str pattern is exactly `str.isspace()` (both are Py_UNICODE_ISSPACE), in one C call.
_SPACE_RE = re.compile(r"\s")


def _parse_datetime(text: str, warnings: list[SbdhWarning]) -> dt.datetime:
    if not _DATETIME_RE.fullmatch(text):
        raise SbdhError(P.INVALID_SBD_XML, f"CreationDateAndTime {text!r} is not an xs:dateTime")
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SbdhError(P.INVALID_SBD_XML, f"CreationDateAndTime {text!r} is not an xs:dateTime") from None
    if value.tzinfo is None:
        # The envelope spec asks for a time zone, but older senders (Oxalis samples) omit it;
        # read it as UTC rather than lose the message, and say so.
        warnings.append(SbdhWarning(P.INVALID_CREATION_DATE_TIME, f"CreationDateAndTime {text!r} has no time zone; read as UTC"))
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def _partner(elements: list[etree._Element], role: str) -> ParticipantId:
    count_problem = P.INVALID_SENDER_COUNT if role == "Sender" else P.INVALID_RECEIVER_COUNT
    authority_problem = P.INVALID_SENDER_AUTHORITY if role == "Sender" else P.INVALID_RECEIVER_AUTHORITY
    value_problem = P.INVALID_SENDER_VALUE if role == "Sender" else P.INVALID_RECEIVER_VALUE
    if len(elements) != 1:
        raise SbdhError(count_problem, f"exactly one {role} is required, found {len(elements)}")
    (ident,), _ = _Shape(elements[0], role).take_all(_PARTNER, done=True)
    authority = ident.get("Authority")
    if authority != PARTICIPANT_SCHEME:
        raise SbdhError(authority_problem, f"{role} Authority must be {PARTICIPANT_SCHEME}, not {authority!r}")
    try:
        return ParticipantId(PARTICIPANT_SCHEME, _text(ident))
    except IdentifierError as exc:
        raise SbdhError(value_problem, f"{role}: {exc}") from None


def parse_sbd(data: bytes, *, with_payload: bool = True, summarise: bool = False) -> StandardBusinessDocument:
    """Read a Peppol SBD; raises SbdhError (and only that) on any bad input.

    `with_payload=False` runs every check, the business message's included (well-formed, one
    element, its namespace and name against Standard and Type), but leaves `payload` empty
    (`b""`): a receiver routing on the header has the SBD already and need not pay for
    serialising a copy of the invoice (`payload_root` and `binary_content` then have nothing to read).

    `summarise=True` also fills `summary` (`ubl.summarise` of the business message) from this
    parse's tree: one walk of a few branches, where summarising `payload` later would parse the
    invoice again (about as much as this whole parse of a small SBD costs again).
    """
    try:
        tree = parse_xml(data)
    except XmlRejected as exc:
        raise SbdhError(P.INVALID_SBD_XML, str(exc)) from None
    return _read_envelope(tree.getroot(), with_payload=with_payload, summarise=summarise)


def _read_envelope(root: etree._Element, *, with_payload: bool, summarise: bool = False) -> StandardBusinessDocument:
    """Every check of `parse_sbd` on the parsed tree; raises SbdhError.

    `with_payload=False` (build_sbd checking the tree it has just built, a receiver reading the
    header) leaves `payload` empty rather than serialising a business message the caller already has.
    """
    if root.tag != _q("StandardBusinessDocument"):
        raise SbdhError(P.INVALID_SBD_XML, f"root element is {root.tag}, not the SBDH StandardBusinessDocument")

    shape = _Shape(root, "StandardBusinessDocument")
    headers = shape.take("StandardBusinessDocumentHeader", 0, 1)
    rest = shape.kids[shape.pos :]
    if len(rest) != 1 or etree.QName(rest[0]).namespace in (SBDH_NS, None):
        raise SbdhError(
            P.INVALID_SBD_XML, f"expected exactly one business message after the header, found {len(rest)} element(s)"
        )
    message = rest[0]
    if not headers:
        raise SbdhError(P.MISSING_SBDH, "StandardBusinessDocumentHeader is missing")
    header = headers[0]

    (version_el,), senders, receivers, (ident_el,), _, scopes_el = _Shape(
        header, "StandardBusinessDocumentHeader").take_all(_HEADER, done=True)
    (standard_el,), (type_version_el,), (instance_el,), (type_el,), _, (created_el,) = _Shape(
        ident_el, "DocumentIdentification").take_all(_IDENTIFICATION, done=True)
    warnings: list[SbdhWarning] = []
    creation_time = _parse_datetime(_text(created_el), warnings)

    scopes: list[tuple[str, str, str | None]] = []
    if scopes_el:
        for scope in _Shape(scopes_el[0], "BusinessScope").take("Scope", 0, None):
            (type_,), (inst,), ident = _Shape(scope, "Scope").take_all(_SCOPE)
            # ScopeInformation (abstract; CorrelationInformation, BusinessService...) may follow: not read.
            scopes.append((_text(type_), _text(inst), _text(ident[0]) if ident else None))

    # --- Peppol rules on top of the GS1 structure -------------------------------------------
    if _text(version_el) != _HEADER_VERSION:
        raise SbdhError(P.INVALID_HEADER_VERSION, f"HeaderVersion must be {_HEADER_VERSION}, not {_text(version_el)!r}")
    sender = _partner(senders, "Sender")
    receiver = _partner(receivers, "Receiver")

    msg_q = etree.QName(message)
    xml_payload = msg_q.namespace != ENVELOPE_NS
    standard = _text(standard_el)
    if not standard or (xml_payload and standard != msg_q.namespace):
        raise SbdhError(
            P.INVALID_STANDARD, f"Standard {standard!r} is not the business message namespace {msg_q.namespace!r}"
        )
    type_version = _text(type_version_el)
    if not _TYPE_VERSION_RE.fullmatch(type_version) or (
        standard.startswith(_UBL_NS_PREFIX) and not _UBL_VERSION_RE.fullmatch(type_version)
    ):
        raise SbdhError(P.INVALID_TYPE_VERSION, f"TypeVersion {type_version!r} is not a syntax version of {standard}")
    type_ = _text(type_el)
    if not type_ or (xml_payload and type_ != msg_q.localname):
        raise SbdhError(P.INVALID_TYPE, f"Type {type_!r} is not the business message root {msg_q.localname!r}")
    instance_identifier = _text(instance_el)
    if not instance_identifier or _SPACE_RE.search(instance_identifier):
        raise SbdhError(P.INVALID_INSTANCE_IDENTIFIER, f"InstanceIdentifier {instance_identifier!r} is empty or has spaces")

    if not scopes_el:
        raise SbdhError(P.BUSINESS_SCOPE_MISSING, "BusinessScope is missing")
    if len(scopes) < 3:
        raise SbdhError(P.INVALID_SCOPE_COUNT, f"at least 3 scopes (DOCUMENTID, PROCESSID, COUNTRY_C1) needed, found {len(scopes)}")

    document_type_id = process_id = mls_to = mls_type = None
    country_c1 = None
    extra: list[tuple[str, str, str | None]] = []
    for type_name, value, scheme in scopes:
        if type_name == "DOCUMENTID":
            try:
                document_type_id = DocumentTypeId(scheme or DOCTYPE_SCHEME, value)
            except IdentifierError as exc:
                raise SbdhError(P.INVALID_DOCUMENT_TYPE_IDENTIFIER, f"DOCUMENTID: {exc}") from None
        elif type_name == "PROCESSID":
            if scheme is not None and scheme not in (PROCESS_SCHEME, NO_PROCESS_SCHEME):
                # Envelope 1.1 senders put arbitrary text here (peppol-commons' good-v11.xml
                # has "ptype" and is accepted upstream): keep the message, note it.
                warnings.append(SbdhWarning(P.INVALID_PROCESS_IDENTIFIER, f"PROCESSID scheme {scheme!r} ignored"))
                scheme = None
            try:
                process_id = ProcessId(scheme or PROCESS_SCHEME, value)
            except IdentifierError as exc:
                raise SbdhError(P.INVALID_PROCESS_IDENTIFIER, f"PROCESSID: {exc}") from None
        elif type_name == "COUNTRY_C1":
            if not _COUNTRY_RE.fullmatch(value):
                raise SbdhError(P.INVALID_COUNTRY_C1, f"COUNTRY_C1 {value!r} is not an ISO 3166-1 alpha-2 code")
            country_c1 = value
        elif type_name == "MLS_TO":
            if scheme != PARTICIPANT_SCHEME:
                warnings.append(SbdhWarning(P.INVALID_MLS_TO, f"MLS_TO scheme must be {PARTICIPANT_SCHEME}, not {scheme!r}"))
                continue
            try:
                mls_to = ParticipantId(PARTICIPANT_SCHEME, value)
            except IdentifierError as exc:
                warnings.append(SbdhWarning(P.INVALID_MLS_TO, f"MLS_TO: {exc}"))
        elif type_name == "MLS_TYPE":
            try:
                mls_type = MlsType(value)
            except ValueError:
                raise SbdhError(P.INVALID_MLS_TYPE, f"MLS_TYPE must be FAILURE_ONLY or ALWAYS_SEND, not {value!r}") from None
        else:
            extra.append((type_name, value, scheme))
    if document_type_id is None:
        raise SbdhError(P.MISSING_DOCUMENT_TYPE_IDENTIFIER, "no DOCUMENTID scope")
    if process_id is None:
        raise SbdhError(P.MISSING_PROCESS_IDENTIFIER, "no PROCESSID scope")
    if country_c1 is None:
        raise SbdhError(P.MISSING_COUNTRY_C1, "no COUNTRY_C1 scope (mandatory since 2024-01-01)")
    root_ns = document_type_id.root_namespace
    if root_ns is not None and (root_ns != standard or document_type_id.local_name != type_):
        raise SbdhError(
            P.INVALID_DOCUMENT_TYPE_IDENTIFIER,
            f"document type {document_type_id.value!r} does not match Standard {standard!r} / Type {type_!r}",
        )

    return StandardBusinessDocument(
        sender=sender,
        receiver=receiver,
        document_type_id=document_type_id,
        process_id=process_id,
        instance_identifier=instance_identifier,
        creation_time=creation_time,
        country_c1=country_c1,
        standard=standard,
        type_version=type_version,
        type=type_,
        payload=etree.tostring(message, with_tail=False) if with_payload else b"",
        mls_to=mls_to,
        mls_type=mls_type,
        additional_scopes=tuple(extra),
        warnings=tuple(warnings),
        summary=summarise_document(message) if summarise else None,
    )


def _format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("creation_time must be timezone-aware")
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def build_sbd(
    *,
    sender: ParticipantId,
    receiver: ParticipantId,
    document_type_id: DocumentTypeId,
    process_id: ProcessId,
    country_c1: str,
    payload: bytes,
    creation_time: dt.datetime,
    instance_identifier: str | None = None,
    mls_to: ParticipantId | None = None,
    mls_type: MlsType | None = None,
    type_version: str | None = None,
    additional_scopes: tuple[tuple[str, str, str | None], ...] = (),
) -> bytes:
    """Wrap the business message `payload` (XML bytes) in a Peppol SBDH.

    Standard and Type come from the payload's root element, TypeVersion from the
    document type id (`...::2.1`) unless given. `instance_identifier` defaults to a
    fresh UUID. The result passes every check of `parse_sbd` (run on the tree built
    here, see below), so a caller can never send an envelope we would ourselves
    reject; raises SbdhError if it would be.
    """
    try:
        payload_tree = parse_xml(payload)
    except XmlRejected as exc:
        raise SbdhError(P.INVALID_BUSINESS_MESSAGE, f"payload: {exc}") from None
    message, encoding = payload_tree.getroot(), payload_tree.docinfo.encoding
    q = etree.QName(message)
    if type_version is None:
        type_version = document_type_id.version
        if type_version is None:
            raise ValueError("type_version is needed: the document type id carries no version")
    nsmap = {None: SBDH_NS}
    sbd = etree.Element(_q("StandardBusinessDocument"), nsmap=nsmap)
    header = etree.SubElement(sbd, _q("StandardBusinessDocumentHeader"))
    etree.SubElement(header, _q("HeaderVersion")).text = _HEADER_VERSION
    for role, pid in (("Sender", sender), ("Receiver", receiver)):
        part = etree.SubElement(header, _q(role))
        ident = etree.SubElement(part, _q("Identifier"), Authority=pid.scheme)
        ident.text = pid.value
    di = etree.SubElement(header, _q("DocumentIdentification"))
    etree.SubElement(di, _q("Standard")).text = q.namespace or ""
    etree.SubElement(di, _q("TypeVersion")).text = type_version
    etree.SubElement(di, _q("InstanceIdentifier")).text = instance_identifier or str(uuid.uuid4())
    etree.SubElement(di, _q("Type")).text = q.localname
    etree.SubElement(di, _q("CreationDateAndTime")).text = _format_datetime(creation_time)
    bs = etree.SubElement(header, _q("BusinessScope"))
    scopes: list[tuple[str, str, str | None]] = [
        ("DOCUMENTID", document_type_id.value, document_type_id.scheme),
        ("PROCESSID", process_id.value, process_id.scheme),
        ("COUNTRY_C1", country_c1, None),
    ]
    if mls_to is not None:
        scopes.append(("MLS_TO", mls_to.value, mls_to.scheme))
    if mls_type is not None:
        scopes.append(("MLS_TYPE", mls_type.value, None))
    scopes.extend(additional_scopes)
    for type_name, value, scheme in scopes:
        scope = etree.SubElement(bs, _q("Scope"))
        etree.SubElement(scope, _q("Type")).text = type_name
        etree.SubElement(scope, _q("InstanceIdentifier")).text = value
        if scheme is not None:
            etree.SubElement(scope, _q("Identifier")).text = scheme
    sbd.append(message)
    out = etree.tostring(sbd, xml_declaration=True, encoding="UTF-8")
    # The checks of parse_sbd run on the tree just serialised, not on a re-parse of `out` (issue 14):
    # the two trees are the same for every check, because lxml writes text and attribute values so
    # that they parse back as they were (it escapes CR, TAB and LF, and refuses a string XML cannot
    # carry), and the one element whose namespace re-parsing changes, a business message root in no
    # namespace (it would fall into the SBDH default namespace), is refused either way with the same
    # INVALID_SBD_XML. What only a re-parse would see is nesting one level too deep; checked apart.
    if _too_deep_in_sbd(payload, encoding, message):
        raise SbdhError(P.INVALID_SBD_XML, f"the business message nests deeper than {_MAX_DEPTH - 1} levels")
    _read_envelope(sbd, with_payload=False)
    return out


#: libxml2's nesting limit in huge-tree mode (ubl/_xml.py): an element deeper than this is refused.
_MAX_DEPTH = 2048
#: Encodings in which every `<` is the byte 0x3C, so counting that byte bounds the number of elements.
_LT_IS_0X3C = frozenset({"UTF-8", "US-ASCII", "ASCII", "ISO-8859-1", "UTF-16", "UTF-16LE", "UTF-16BE"})


def _too_deep_in_sbd(payload: bytes, encoding: str | None, message: etree._Element) -> bool:
    """Whether `message`, one level down in the SBD, has an element past libxml2's nesting limit.

    A re-parse of the SBD (and the receiver's parse) would refuse it, though the payload alone parsed.
    Each level needs its own start tag, so a payload with fewer `<` than the limit cannot reach it; only
    larger ones pay for the XPath (a path of `_MAX_DEPTH - 1` steps below the message root).
    """
    if (encoding or "").upper() in _LT_IS_0X3C and payload.count(b"<") < _MAX_DEPTH - 1:
        return False
    return bool(_deep_path()(message))


@functools.cache
def _deep_path() -> etree.XPath:
    return etree.XPath("boolean(" + "/".join(["*"] * (_MAX_DEPTH - 1)) + ")")
