"""The hardened XML parser of the sml package (SOAP from SML clients and servers).

No entity expansion, no DTD, no network, no huge trees, and any DOCTYPE is refused.
"""

from __future__ import annotations

import threading

from lxml import etree

__all__ = ["parse_xml", "XmlRejected"]


class XmlRejected(Exception):
    """Not well-formed or carries a DOCTYPE; callers map it to their own error."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
        )
        _local.parser = parser
    return parser


def parse_xml(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(bytes(data), _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XmlRejected(f"not well-formed XML: {exc}") from None
    if root is None:
        raise XmlRejected("empty document")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("a DOCTYPE is not allowed")
    return root
