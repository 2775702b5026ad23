"""Model values -> Peppol SMP 1.x XML (what our SMP server serves and what clients PUT). Pure."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from lxml import etree

from smp._xml import NS_IDS, NS_SMP, NS_WSA
from smp.urls import service_metadata_url
from smp.model import Endpoint, ServiceInformation
from ubl import DocumentTypeId, ParticipantId

__all__ = ["render_service_group", "render_service_metadata"]

_S = f"{{{NS_SMP}}}"
_I = f"{{{NS_IDS}}}"
_W = f"{{{NS_WSA}}}"
_NSMAP = {"smp": NS_SMP, "id": NS_IDS, "wsa": NS_WSA}


def _xs_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_service_group(smp_url: str, participant_id: ParticipantId,
                         document_type_ids: list[DocumentTypeId]) -> bytes:
    root = etree.Element(_S + "ServiceGroup", nsmap=_NSMAP)
    pid = etree.SubElement(root, _I + "ParticipantIdentifier", scheme=participant_id.scheme)
    pid.text = participant_id.value
    coll = etree.SubElement(root, _S + "ServiceMetadataReferenceCollection")
    for doctype in document_type_ids:
        etree.SubElement(coll, _S + "ServiceMetadataReference",
                         href=service_metadata_url(smp_url, participant_id, doctype))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _endpoint(parent: etree._Element, endpoint: Endpoint) -> None:
    el = etree.SubElement(parent, _S + "Endpoint", transportProfile=endpoint.transport_profile)
    ref = etree.SubElement(el, _W + "EndpointReference")
    etree.SubElement(ref, _W + "Address").text = endpoint.address
    etree.SubElement(el, _S + "RequireBusinessLevelSignature").text = (
        "true" if endpoint.require_business_level_signature else "false")
    if endpoint.minimum_authentication_level:
        etree.SubElement(el, _S + "MinimumAuthenticationLevel").text = endpoint.minimum_authentication_level
    if endpoint.activation:
        etree.SubElement(el, _S + "ServiceActivationDate").text = _xs_datetime(endpoint.activation)
    if endpoint.expiration:
        etree.SubElement(el, _S + "ServiceExpirationDate").text = _xs_datetime(endpoint.expiration)
    etree.SubElement(el, _S + "Certificate").text = base64.b64encode(endpoint.certificate_der).decode("ascii")
    etree.SubElement(el, _S + "ServiceDescription").text = endpoint.service_description or "peppol-node access point"
    etree.SubElement(el, _S + "TechnicalContactUrl").text = endpoint.technical_contact_url or "mailto:postmaster@localhost"
    if endpoint.technical_information_url:
        etree.SubElement(el, _S + "TechnicalInformationUrl").text = endpoint.technical_information_url


def render_service_metadata(info: ServiceInformation) -> bytes:
    """An unsigned smp:ServiceMetadata (the body of a write-API PUT; the server signs what it serves)."""
    root = etree.Element(_S + "ServiceMetadata", nsmap=_NSMAP)
    si = etree.SubElement(root, _S + "ServiceInformation")
    pid = etree.SubElement(si, _I + "ParticipantIdentifier", scheme=info.participant_id.scheme)
    pid.text = info.participant_id.value
    doc = etree.SubElement(si, _I + "DocumentIdentifier", scheme=info.document_type_id.scheme)
    doc.text = info.document_type_id.value
    plist = etree.SubElement(si, _S + "ProcessList")
    for process in info.processes:
        proc = etree.SubElement(plist, _S + "Process")
        pr = etree.SubElement(proc, _I + "ProcessIdentifier", scheme=process.process_id.scheme)
        pr.text = process.process_id.value
        elist = etree.SubElement(proc, _S + "ServiceEndpointList")
        for endpoint in process.endpoints:
            _endpoint(elist, endpoint)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
