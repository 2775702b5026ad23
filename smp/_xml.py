"""SMP answers parsed with the project's one hardened parser (ubl's), plus a size limit.

SMP answers come from servers we do not control (and, through Redirects, from
servers the first one chose): no entities, no DTD, no network, no huge trees,
and any DOCTYPE is refused.
"""

from __future__ import annotations

from lxml import etree

from smp.errors import SmpParseError
from ubl import XmlRejected, parse_untrusted_xml

__all__ = ["parse_xml", "NS_SMP", "NS_IDS", "NS_WSA", "NS_DS"]

NS_SMP = "http://busdox.org/serviceMetadata/publishing/1.0/"
NS_IDS = "http://busdox.org/transport/identifiers/1.0/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # the largest real answers are a few 100 kB (many endpoints/certs)


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted bytes; raise SmpParseError on anything but a plain XML document."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"XML must be bytes, not {type(data).__name__}")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SmpParseError(f"SMP answer of {len(data)} bytes exceeds the {MAX_DOCUMENT_BYTES} byte limit")
    try:
        return parse_untrusted_xml(bytes(data)).getroot()
    except XmlRejected as exc:
        raise SmpParseError(f"{exc} (SMP answer)") from None
