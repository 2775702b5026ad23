"""The hardened XML parser of the smp package.

SMP answers come from servers we do not control (and, through Redirects, from
servers the first one chose): no entities, no DTD, no network, no huge trees,
and any DOCTYPE is refused.
"""

from __future__ import annotations

import threading

from lxml import etree

from smp.errors import SmpParseError

__all__ = ["parse_xml", "NS_SMP", "NS_IDS", "NS_WSA", "NS_DS"]

NS_SMP = "http://busdox.org/serviceMetadata/publishing/1.0/"
NS_IDS = "http://busdox.org/transport/identifiers/1.0/"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # the largest real answers are a few 100 kB (many endpoints/certs)

_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:  # lxml parsers must not be shared between threads
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted bytes; raise SmpParseError on anything but a plain XML document."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"XML must be bytes, not {type(data).__name__}")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SmpParseError(f"SMP answer of {len(data)} bytes exceeds the {MAX_DOCUMENT_BYTES} byte limit")
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise SmpParseError(f"not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise SmpParseError(f"not XML: {exc}") from None
    if root is None:
        raise SmpParseError("not XML: empty document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SmpParseError("a DOCTYPE is not allowed in an SMP answer")
    return root
