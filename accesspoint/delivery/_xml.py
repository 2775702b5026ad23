"""Documents from end users and other access points, parsed with the project's one hardened parser (ubl's).

No entity expansion, no DTD loading, no network, and any DOCTYPE is refused (huge-tree mode
is on for text nodes over 10 MB, such as an embedded PDF: see ubl/_xml.py).
"""

from __future__ import annotations

from lxml import etree

from ubl import XmlRejected, parse_untrusted_xml

__all__ = ["parse_xml", "XmlRejected"]


def parse_xml(data: bytes) -> etree._Element:
    """The root element of untrusted `data`; raises XmlRejected with a short reason."""
    return parse_untrusted_xml(bytes(data)).getroot()
