"""XML from SML clients and servers, parsed with the project's one hardened parser (ubl's).

No entity expansion, no DTD, no network, no huge trees, and any DOCTYPE is refused.
"""

from __future__ import annotations

from lxml import etree

from ubl import XmlRejected, parse_untrusted_xml

__all__ = ["parse_xml", "XmlRejected"]


def parse_xml(data: bytes) -> etree._Element:
    """The root element of untrusted `data`; raises XmlRejected."""
    return parse_untrusted_xml(bytes(data)).getroot()
