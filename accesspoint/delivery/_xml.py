"""The hardened XML parser of the delivery package (documents come from end users and other APs).

No entity expansion, no DTD loading, no network, no huge trees, and any DOCTYPE
is refused: the vehicle of billion-laughs and XXE attacks, and no Peppol
document has one.
"""

from __future__ import annotations

import threading

from lxml import etree

__all__ = ["parse_xml", "XmlRejected"]


class XmlRejected(Exception):
    """Not well-formed, or carries a DOCTYPE; the caller maps it to its own error."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)  # lxml parsers must not be shared between threads
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False,
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._Element:
    """Parse `data` safely and return the root element; raises XmlRejected with a short reason."""
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise XmlRejected(f"not XML: {exc}") from None
    if root is None:
        raise XmlRejected("not XML: empty document")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("a DOCTYPE is not allowed")
    return root
