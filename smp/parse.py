"""Peppol SMP 1.x documents (bytes) -> model values. Pure; raises SmpParseError.

These functions do not check signatures: `smp.signature.verify_service_metadata`
does, and hands the signed part to `service_metadata_from_element` so what we
read is exactly what was signed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from urllib.parse import unquote

from lxml import etree

from smp._xml import NS_IDS, NS_SMP, NS_WSA, parse_xml
from smp.errors import SmpParseError
from smp.model import (
    Endpoint,
    ProcessMetadata,
    Redirect,
    ServiceGroup,
    ServiceInformation,
    ServiceMetadata,
    ServiceReference,
    decode_base64,
)
from ubl import DocumentTypeId, IdentifierError, ParticipantId, ProcessId

__all__ = [
    "parse_service_group",
    "parse_service_metadata",
    "service_metadata_from_element",
    "parse_datetime",
]

_S = f"{{{NS_SMP}}}"
_I = f"{{{NS_IDS}}}"
_W = f"{{{NS_WSA}}}"


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def _required(parent: etree._Element, tag: str, what: str) -> etree._Element:
    el = parent.find(tag)
    if el is None:
        raise SmpParseError(f"{what} is missing")
    return el


def _identifier(parent: etree._Element, local: str, kind: type, what: str):  # type: ignore[no-untyped-def]
    el = _required(parent, _I + local, what)
    scheme = (el.get("scheme") or "").strip()
    value = _text(el)
    if not scheme or not value:
        raise SmpParseError(f"{what} needs both a scheme and a value")
    try:
        return kind(scheme, value)
    except IdentifierError as exc:
        raise SmpParseError(f"{what}: {exc}") from None


def parse_datetime(text: str, what: str = "date") -> datetime:
    """xs:dateTime (or xs:date) as an aware UTC datetime; no zone means UTC, as SMPs mean it."""
    raw = text.strip()
    value = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        if "T" in value:
            head, _, rest = value.partition(".")
            if rest:  # Python < 3.11 quirks aside, clamp fractions to microseconds
                digits = "".join(ch for ch in rest if ch.isdigit())
                zone = rest[len(digits):]
                value = f"{head}.{(digits + '000000')[:6]}{zone}"
            parsed = datetime.fromisoformat(value)
        else:
            parsed = datetime.combine(date.fromisoformat(value[:10]), time(0), tzinfo=UTC)
    except ValueError:
        raise SmpParseError(f"{what} {raw!r} is not an xs:dateTime") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _endpoint(el: etree._Element) -> Endpoint:
    profile = (el.get("transportProfile") or "").strip()
    if not profile:
        raise SmpParseError("Endpoint without transportProfile")
    ref = _required(el, _W + "EndpointReference", "Endpoint/EndpointReference")
    address = _text(ref.find(_W + "Address"))
    if not address:
        raise SmpParseError(f"Endpoint ({profile}) has no EndpointReference/Address")
    cert = decode_base64(_text(el.find(_S + "Certificate")), f"Endpoint ({profile}) Certificate")
    rbls = (_text(el.find(_S + "RequireBusinessLevelSignature")) or "false").lower()
    activation = _text(el.find(_S + "ServiceActivationDate"))
    expiration = _text(el.find(_S + "ServiceExpirationDate"))
    return Endpoint(
        transport_profile=profile,
        address=address,
        certificate_der=cert,
        require_business_level_signature=rbls in ("true", "1"),
        minimum_authentication_level=_text(el.find(_S + "MinimumAuthenticationLevel")),
        activation=parse_datetime(activation, "ServiceActivationDate") if activation else None,
        expiration=parse_datetime(expiration, "ServiceExpirationDate") if expiration else None,
        service_description=_text(el.find(_S + "ServiceDescription")),
        technical_contact_url=_text(el.find(_S + "TechnicalContactUrl")),
        technical_information_url=_text(el.find(_S + "TechnicalInformationUrl")),
    )


def _information(el: etree._Element) -> ServiceInformation:
    pid = _identifier(el, "ParticipantIdentifier", ParticipantId, "ServiceInformation/ParticipantIdentifier")
    doctype = _identifier(el, "DocumentIdentifier", DocumentTypeId, "ServiceInformation/DocumentIdentifier")
    plist = _required(el, _S + "ProcessList", "ServiceInformation/ProcessList")
    processes = []
    for proc in plist.findall(_S + "Process"):
        process_id = _identifier(proc, "ProcessIdentifier", ProcessId, "Process/ProcessIdentifier")
        elist = _required(proc, _S + "ServiceEndpointList", "Process/ServiceEndpointList")
        endpoints = tuple(_endpoint(e) for e in elist.findall(_S + "Endpoint"))
        processes.append(ProcessMetadata(process_id, endpoints))
    if not processes:
        raise SmpParseError("ServiceInformation/ProcessList has no Process")
    return ServiceInformation(pid, doctype, tuple(processes))


def service_metadata_from_element(el: etree._Element) -> ServiceMetadata:
    """Read an smp:ServiceMetadata element (already parsed, e.g. the signed part)."""
    if el.tag != _S + "ServiceMetadata":
        raise SmpParseError(f"expected smp:ServiceMetadata, found {el.tag}")
    info = el.find(_S + "ServiceInformation")
    redirect = el.find(_S + "Redirect")
    if (info is None) == (redirect is None):
        raise SmpParseError("ServiceMetadata must hold exactly one of ServiceInformation and Redirect")
    if redirect is not None:
        href = (redirect.get("href") or "").strip()
        uid = _text(redirect.find(_S + "CertificateUID"))
        if not href or not uid:
            raise SmpParseError("Redirect needs an href and a CertificateUID")
        return ServiceMetadata(redirect=Redirect(href, uid))
    return ServiceMetadata(information=_information(info))


def parse_service_metadata(data: bytes) -> ServiceMetadata:
    """A SignedServiceMetadata (or a bare ServiceMetadata, as written to the SMP) WITHOUT checking the signature."""
    root = parse_xml(data)
    if root.tag == _S + "SignedServiceMetadata":
        return service_metadata_from_element(_required(root, _S + "ServiceMetadata", "SignedServiceMetadata/ServiceMetadata"))
    return service_metadata_from_element(root)


def _doctype_from_href(href: str) -> DocumentTypeId | None:
    _, sep, tail = href.partition("/services/")
    if not sep:
        return None
    try:
        return DocumentTypeId.parse(unquote(tail.split("?")[0].rstrip("/")))
    except IdentifierError:
        return None


def parse_service_group(data: bytes) -> ServiceGroup:
    root = parse_xml(data)
    if root.tag != _S + "ServiceGroup":
        raise SmpParseError(f"expected smp:ServiceGroup, found {root.tag}")
    pid = _identifier(root, "ParticipantIdentifier", ParticipantId, "ServiceGroup/ParticipantIdentifier")
    refs = []
    coll = root.find(_S + "ServiceMetadataReferenceCollection")
    if coll is None:
        raise SmpParseError("ServiceGroup/ServiceMetadataReferenceCollection is missing")
    for ref in coll.findall(_S + "ServiceMetadataReference"):
        href = (ref.get("href") or "").strip()
        if href:
            refs.append(ServiceReference(href, _doctype_from_href(href)))
    return ServiceGroup(pid, tuple(refs))
