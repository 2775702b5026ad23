"""The hardened XML parser of the ubl package.

Documents come from other access points and end users: no entity expansion, no
DTD loading, no network, and any DOCTYPE is refused (it is the vehicle of
billion-laughs and XXE attacks, and no Peppol document has one).

Huge-tree mode is on: without it libxml2 refuses any text node over 10 MB, and a
Peppol invoice carries its attachments (PDF, scans) as one base64 text node, so an
ordinary invoice with a 8 MB PDF was refused (protocol.md: design for >= 100 MB; phase4
tests 10, 100 and 125 MB SBDs). What the mode lifts is a size limit, not a safety rule:
entities stay off, nesting stays limited (2048 levels), and the callers bound the input
size (the AS4 payload limit, the upload limits).
"""

from __future__ import annotations

import threading

from lxml import etree

__all__ = ["parse_xml", "XmlRejected"]


class XmlRejected(Exception):
    """Not well-formed, or carries a DOCTYPE; the caller maps it to its own error."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parser objects must not be shared between threads.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, dtd_validation=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._ElementTree:
    """Parse `data` safely; raises XmlRejected with a short reason."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"XML must be bytes, not {type(data).__name__}")
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    except ValueError as exc:  # e.g. empty input
        raise XmlRejected(f"not XML: {exc}") from None
    if root is None:
        raise XmlRejected("not XML: empty document")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("a DOCTYPE is not allowed")
    return tree
