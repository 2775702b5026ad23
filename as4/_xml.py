"""Hardened XML parsing and the namespaces of SOAP, ebMS 3, WS-Security and XML Enc/DSig.

Untrusted XML never gets a DTD, entity expansion or network access: a DOCTYPE
is refused outright (XXE and billion-laughs both start there); the parser is
the project's one hardened parser (ubl's), with every resolver off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from as4.errors import As4Error, EbmsError
from ubl import XmlRejected, parse_untrusted_xml

S12 = "http://www.w3.org/2003/05/soap-envelope"
S11 = "http://schemas.xmlsoap.org/soap/envelope/"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
EBBP = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
EC = "http://www.w3.org/2001/10/xml-exc-c14n#"

NS = {"S12": S12, "S11": S11, "eb": EB, "ebbp": EBBP, "wsse": WSSE, "wsse11": WSSE11, "wsu": WSU,
      "ds": DS, "xenc": XENC, "xenc11": XENC11, "ec": EC}

WSU_ID = f"{{{WSU}}}Id"

#: A SOAP header + signature for a Peppol message is a few kB; 16 MB leaves room for odd
#: peers (many references, long certificate chains) while bounding what one request costs.
MAX_XML_BYTES = 16 * 1024 * 1024


def _error(code: EbmsError, detail: str) -> As4Error:
    from as4.errors import InvalidHeader

    return InvalidHeader(detail) if code is EbmsError.INVALID_HEADER else As4Error(code, detail)


#: how far into a document `parse_xml` looks for a DOCTYPE or ENTITY declaration before parsing
_DTD_SCAN_BYTES = 65536
_DTD_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
#: `!` hits looked at one by one before the regex takes over (a body full of `!` costs no more than it)
_BANG_HITS = 8


def _declares_dtd(window: bytes) -> bool:
    """Whether `window` holds `<!DOCTYPE` or `<!ENTITY`.

    Found from its `!`s: a SOAP envelope has none or a few (comments, CDATA), and `find` of one byte
    is a memchr, some forty times cheaper than searching for either string (9 us for a 10 KB envelope).
    """
    pos = window.find(b"!")
    hits = 0
    while pos >= 0:
        if pos and window[pos - 1] == 0x3C and window.startswith((b"DOCTYPE", b"ENTITY"), pos + 1):
            return True
        hits += 1
        if hits == _BANG_HITS:
            return _DTD_DECLARATION.search(window) is not None
        pos = window.find(b"!", pos + 1)
    return False


def parse_xml(data: bytes, code: EbmsError = EbmsError.INVALID_HEADER, what: str = "SOAP envelope") -> etree._Element:
    """Parse untrusted XML bytes; raise `As4Error(code)` for anything we will not read.

    lxml keeps a DOCTYPE in `docinfo` even with the DTD not loaded, so we check
    there and refuse: an AS4 message never has one.
    """
    if len(data) > MAX_XML_BYTES:
        raise _error(code, f"{what} is larger than {MAX_XML_BYTES} bytes")
    if _declares_dtd(data if len(data) <= _DTD_SCAN_BYTES else data[:_DTD_SCAN_BYTES]):
        raise _error(code, f"{what} has a DOCTYPE; DTDs and entities are refused")
    try:
        return parse_untrusted_xml(bytes(data)).getroot()
    except XmlRejected as exc:
        raise _error(code, f"{what}: {exc}; DTDs and entities are refused" if "DOCTYPE" in str(exc)
                     else f"{what}: {exc}") from None


def qname(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def children(parent: etree._Element, tag: str) -> list[etree._Element]:
    """The child elements named `tag` (Clark notation), in order: what `parent.findall(tag)` returns,
    without its path parsing (a message takes some sixty such look-ups).

    The children's tags are compared here rather than through `iterchildren(tag)`: lxml sets up a tag
    matcher (parsing the Clark name) for each such call, which costs more than reading the tags of the
    few children a SOAP header element has. Comments and processing instructions have a `tag` that
    is not a str, so they never match, as with the matcher.
    """
    return [child for child in parent if child.tag == tag]


def first(parent: etree._Element, tag: str) -> etree._Element | None:
    """The first child element named `tag`, as `parent.find(tag)` returns it (tags compared as in `children`)."""
    for child in parent:
        if child.tag == tag:
            return child
    return None


ChildMap = dict[str, list[etree._Element]]

_NO_ELEMENT: tuple[None] = (None,)


def by_tag(parent: etree._Element) -> ChildMap:
    """The child elements of `parent` by Clark name, each list in document order: `children(parent, t)`
    is `by_tag(parent).get(t, [])` for every `t`.

    One walk for an element whose several children are looked up (a ds:Reference, SignedInfo, an
    eb:UserMessage): each `children`/`first` call sets up lxml's tag matcher again, which costs
    more than reading the tags of a handful of children once. Comments and processing
    instructions (whose `tag` is not a str) are skipped, as the tag matcher skips them.
    """
    out: ChildMap = {}
    for child in parent:
        tag = child.tag
        if isinstance(tag, str):
            found = out.get(tag)
            if found is None:
                out[tag] = [child]
            else:
                found.append(child)
    return out


def first_of(kids: ChildMap, tag: str) -> etree._Element | None:
    """The first child named `tag` in a `by_tag` map, as `first(parent, tag)` returns it."""
    return kids.get(tag, _NO_ELEMENT)[0]  # type: ignore[arg-type]


def along(parent: etree._Element, *tags: str) -> Iterator[etree._Element]:
    """The elements at the child path `tags` (Clark names) in document order: `findall("a/b")`
    without its path parsing."""
    return _descend([parent], tags)


def along_in(kids: ChildMap, *tags: str) -> Iterator[etree._Element]:
    """`along` from a `by_tag` map: the elements at the child path `tags`, the first step read from `kids`."""
    return _descend(kids.get(tags[0], []), tags[1:])


def _descend(level: list[etree._Element], tags: tuple[str, ...]) -> Iterator[etree._Element]:
    """The children named `tags[0]` of every element of `level`, their children named `tags[1]`, and so
    on, in document order. One list per step rather than nested generators (one per element and step,
    each with lxml's tag matcher): the paths walked are two or three steps over a few elements, and
    the generators cost about a microsecond each."""
    for tag in tags:
        level = [child for el in level for child in el if child.tag == tag]
    return iter(level)


def text_of(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


_DS_DIGEST_METHOD, _DS_DIGEST_VALUE, _DS_TRANSFORMS, _DS_TRANSFORM = (
    f"{{{DS}}}{name}" for name in ("DigestMethod", "DigestValue", "Transforms", "Transform"))


def reference_parts(ref: etree._Element) -> tuple[etree._Element | None, etree._Element | None,
                                                  list[etree._Element]]:
    """A ds:Reference's first DigestMethod, first DigestValue and every Transforms/Transform, in
    document order: what `by_tag` + `first_of` + `along_in` answered, from one loop over its
    children (a by_tag map and a path walk per reference cost more than its three tags). Both
    the signature check and a receipt's NonRepudiationInformation read References this way."""
    dm = dv = None
    transforms: list[etree._Element] = []
    for child in ref:
        tag = child.tag
        if tag == _DS_DIGEST_METHOD:
            if dm is None:
                dm = child
        elif tag == _DS_DIGEST_VALUE:
            if dv is None:
                dv = child
        elif tag == _DS_TRANSFORMS:
            transforms.extend(t for t in child if t.tag == _DS_TRANSFORM)
    return dm, dv, transforms
