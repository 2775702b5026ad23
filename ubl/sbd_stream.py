"""A large SBD split in one streaming pass: the envelope checked as `parse_sbd` checks it, the business
message handed on in chunks, never held.

`parse_sbd` builds a tree of the whole document and serialises the business message again, so a
100 MB SBD cost about four times its size in memory (issue 14). `split_sbd` reads the bytes once
with expat, which reports byte positions and passes text in pieces:

- the envelope (everything before the business message, the business message's start element
  emptied, everything after it) is small, kept, and given to `parse_sbd`, so every envelope rule
  and problem code is the same as for a small SBD;
- the business message goes to `sink` as its original bytes, with the namespace declarations it
  inherits from the SBD root added to its start tag (what `etree.tostring` of the element adds), so
  it is a standalone document: entity and character references stay as written, which is valid
  XML on its own because a DOCTYPE (and so any entity declaration) is refused;
- the text of a few elements the caller names by path (an invoice number, say) is collected on the
  way, bounded.

The parser is as hardened as ubl's lxml parser: no DTD (a DOCTYPE is refused), no entities beyond
the predefined ones, no network, nesting limited to 2048 levels (libxml2's huge-tree limit), and
no limit on a text node's size. Bad input raises `SbdhError` (INVALID_SBD_XML for XML that is not
well-formed, else the problem `parse_sbd` names). What this byte-level split cannot represent
exactly (a document not in UTF-8) or would have to hold (more than 1 MB of envelope before or
after the business message) raises `SbdStreamUnsuitable`: the caller then reads the document
whole, as before, so the verdict is always parse_sbd's.
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from .errors import SbdhError, SbdhProblem
from .sbdh import SBDH_NS, StandardBusinessDocument, parse_sbd

__all__ = ["SplitSbd", "SbdStreamUnsuitable", "split_sbd"]

#: The SBDH in front of the business message, and what may follow it; real ones are < 10 KB.
MAX_ENVELOPE_BYTES = 1024 * 1024
#: libxml2's nesting limit in huge-tree mode (ubl's lxml parser), so both refuse the same documents.
MAX_DEPTH = 2048
#: A collected text is cut here: the callers want short values (numbers, dates, codes).
MAX_TEXT_CHARS = 1024

#: Bytes of the business message kept back while streaming: an end tag up to this long is found whole.
_HOLD_BACK = 64 * 1024
_SEP = "\x1f"  # expat's namespace separator: a character XML 1.0 forbids, so it never occurs in a name
_HEADER = f"{{{SBDH_NS}}}StandardBusinessDocumentHeader"


class SbdStreamUnsuitable(Exception):
    """The document is fine to read whole, but its business message cannot be cut out byte for byte."""


@dataclass(frozen=True, slots=True)
class SplitSbd:
    #: The envelope as `parse_sbd` reads it; its `payload` is the emptied business message element.
    envelope: StandardBusinessDocument
    #: Bytes given to the sink: the standalone business message.
    payload_size: int
    #: For each requested path (Clark names from the business message root down), its first text.
    texts: dict[tuple[str, ...], str]


def _clark(name: str) -> str:
    parts = name.split(_SEP)
    return f"{{{parts[0]}}}{parts[1]}" if len(parts) > 1 else parts[0]


def _raw_qname(name: str) -> str:
    """The qualified name as written: `prefix:local` or `local` (expat gives uri, local, prefix)."""
    parts = name.split(_SEP)
    if len(parts) == 3:
        return f"{parts[2]}:{parts[1]}"
    return parts[1] if len(parts) == 2 else parts[0]


def _invalid(detail: str) -> SbdhError:
    return SbdhError(SbdhProblem.INVALID_SBD_XML, detail)


class _Splitter:
    def __init__(self, sink: Callable[[bytes], None], paths: Iterable[tuple[str, ...]]) -> None:
        self.sink = sink
        self.paths = {tuple(p) for p in paths}
        self.max_path = max((len(p) for p in self.paths), default=0)
        self.texts: dict[tuple[str, ...], str] = {}
        self.parser = p = xml.parsers.expat.ParserCreate(namespace_separator=_SEP)
        p.namespace_prefixes = True
        p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.XmlDeclHandler = self._xml_decl
        p.StartNamespaceDeclHandler = self._ns_decl
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        self.depth = 0
        self.root_ns: dict[str, str] = {}   # prefix ('' = default) -> uri, declared on the root
        self.pending_ns: dict[str, str] = {}  # declared on the element about to start
        self.bm_name: str | None = None      # expat name of the business message root
        self.bm_start: int | None = None
        self.bm_stub = b""
        self.bm_inject_at = 0
        self.bm_inject = b""
        self.bm_end: int | None = None
        self.root_qname = b""
        self.bm_qname = b""
        self.path: list[str] = []            # Clark names below the business message root, while short
        self.capture: tuple[str, ...] | None = None
        self.captured: list[str] = []
        self.captured_len = 0
        # bytes fed and not yet disposed of: window[0] is at absolute offset window_at
        self.window = bytearray()
        self.window_at = 0
        self.envelope_head = b""
        self.emitted = 0
        self.tail = bytearray()

    # -- expat handlers ------------------------------------------------------------------------------
    def _doctype(self, *_: object) -> None:
        raise _invalid("a DOCTYPE is not allowed")

    def _entity(self, *_: object) -> None:
        raise _invalid("entity declarations are not allowed")

    def _xml_decl(self, _version: str, encoding: str | None, _standalone: int) -> None:
        if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
            raise SbdStreamUnsuitable(f"encoding {encoding}")

    def _ns_decl(self, prefix: str | None, uri: str | None) -> None:
        self.pending_ns[prefix or ""] = uri or ""

    def _start(self, name: str, _attrs: dict[str, str]) -> None:
        self.depth += 1
        declared, self.pending_ns = self.pending_ns, {}
        if self.depth > MAX_DEPTH:
            raise _invalid(f"elements nested deeper than {MAX_DEPTH} levels")
        if self.depth == 1:
            self.root_ns, self.root_qname = declared, _raw_qname(name).encode()
            return
        if self.bm_name is not None and self.bm_end is None:
            self._start_inside(name)
            return
        if self.depth == 2 and self.bm_name is None and _clark(name) != _HEADER:
            self._start_business_message(name, declared)

    def _start_business_message(self, name: str, declared: dict[str, str]) -> None:
        p = self.parser
        self.bm_name, self.bm_start = name, p.CurrentByteIndex
        self.bm_qname = qname = _raw_qname(name).encode()
        offset = self.bm_start - self.window_at
        if self.window[offset:offset + 1 + len(qname)] != b"<" + qname:
            raise SbdStreamUnsuitable("business message start tag not where expat says")
        inherited = {k: v for k, v in self.root_ns.items() if k not in declared}
        self.bm_inject_at = self.bm_start + 1 + len(qname)
        self.bm_inject = "".join(f" xmlns{':' + k if k else ''}={quoteattr(v)}" for k, v in inherited.items()).encode()
        own = "".join(f" xmlns{':' + k if k else ''}={quoteattr(v)}" for k, v in declared.items())
        self.bm_stub = f"<{_raw_qname(name)}{own}/>".encode()
        self.envelope_head = bytes(self.window[:offset])

    def _start_inside(self, name: str) -> None:
        if self.capture is not None:  # text of a captured element ends at its first child (lxml's .text)
            self._stop_capture()
        level = self.depth - 2  # 1 = a child of the business message root
        if level <= self.max_path:
            self.path.append(_clark(name))
            key = tuple(self.path)
            if key in self.paths and key not in self.texts:
                self.capture, self.captured, self.captured_len = key, [], 0
                self.parser.CharacterDataHandler = self._text

    def _text(self, data: str) -> None:
        if self.captured_len < MAX_TEXT_CHARS:
            self.captured.append(data)
            self.captured_len += len(data)

    def _stop_capture(self) -> None:
        assert self.capture is not None
        self.texts[self.capture] = "".join(self.captured)[:MAX_TEXT_CHARS]
        self.capture = None
        self.parser.CharacterDataHandler = None

    def _end(self, _name: str) -> None:
        depth, self.depth = self.depth, self.depth - 1
        if self.bm_name is None or self.bm_end is not None:
            return
        if depth > 2:
            if self.capture is not None:
                self._stop_capture()
            if depth - 2 <= self.max_path:
                self.path.pop()
            return
        if depth == 2:
            self._end_business_message()

    def _end_business_message(self) -> None:
        """Where the business message ends: after its end tag, or after `/>` of an empty element.

        expat reports an end tag at its `</`, and the end of an empty-element tag just after its
        `/>`; which one it is shows in the bytes there, unless the root has the same raw name.
        """
        index = self.parser.CurrentByteIndex - self.window_at
        if index < 2:
            raise SbdStreamUnsuitable(f"the business message end tag is longer than {_HOLD_BACK} bytes")
        qname = self.bm_qname
        after = self.window[index + 2 + len(qname):index + 3 + len(qname)]
        if self.window[index:index + 2 + len(qname)] == b"</" + qname and after and after in b" \t\r\n>":
            if qname == self.root_qname:
                raise SbdStreamUnsuitable("the business message has the raw name of the root")
            close = self.window.find(b">", index)
            self.bm_end = self.window_at + close + 1
        elif self.window[index - 2:index] == b"/>":
            self.bm_end = self.window_at + index
        else:
            raise SbdStreamUnsuitable("business message end not where expat says")

    # -- feeding -------------------------------------------------------------------------------------
    def feed(self, chunk: bytes, final: bool = False) -> None:
        self.window += chunk
        try:
            self.parser.Parse(chunk, final)
        except xml.parsers.expat.ExpatError as exc:
            raise _invalid(f"not well-formed XML: {exc}") from None
        self._dispose()

    def _emit(self, upto: int) -> None:
        """Hand the business message bytes up to absolute offset `upto` to the sink, leaving the window."""
        assert self.bm_start is not None
        start = max(self.window_at, self.bm_start)
        if upto <= start:
            return
        if start < self.bm_inject_at <= upto:
            self._sink(self.window[start - self.window_at:self.bm_inject_at - self.window_at])
            self._sink(self.bm_inject)
            start = self.bm_inject_at
        self._sink(self.window[start - self.window_at:upto - self.window_at])
        del self.window[:upto - self.window_at]
        self.window_at = upto

    def _sink(self, data: bytes | bytearray) -> None:
        if data:
            self.sink(bytes(data))
            self.emitted += len(data)

    def _dispose(self) -> None:
        if self.bm_start is None:
            if len(self.window) > MAX_ENVELOPE_BYTES:
                raise SbdStreamUnsuitable(f"no business message within the first {MAX_ENVELOPE_BYTES} bytes")
            return
        if self.bm_end is None:
            # everything fed belongs to the business message (its end tag was not reported yet); the
            # last bytes stay, so the end tag, when expat reports it, is still here to be found
            self._emit(self.window_at + len(self.window) - _HOLD_BACK)
            return
        if self.window_at < self.bm_end:
            self._emit(self.bm_end)
        self.tail += self.window  # what follows the business message: kept for the envelope check
        self.window_at += len(self.window)
        self.window.clear()
        if len(self.tail) > MAX_ENVELOPE_BYTES:
            raise SbdStreamUnsuitable(f"more than {MAX_ENVELOPE_BYTES} bytes after the business message")


def split_sbd(chunks: Iterable[bytes], sink: Callable[[bytes], None], *,
              texts: Iterable[tuple[str, ...]] = ()) -> SplitSbd:
    """Check the envelope of the SBD in `chunks` and pass its business message to `sink`, streaming.

    `texts`: element paths (Clark names, from the business message root's children down) whose first
    text to collect. Raises `SbdhError` for a bad SBD and `SbdStreamUnsuitable` when the document
    must be read whole instead (see the module docstring); the sink may then have received part of
    the business message and the caller discards it.
    """
    splitter = _Splitter(sink, texts)
    head = b""
    for chunk in chunks:
        if not chunk:
            continue
        if len(head) < 4:
            head += chunk[:4]
            if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
                raise SbdStreamUnsuitable("a UTF-16 or UTF-32 document")
        splitter.feed(chunk)
    splitter.feed(b"", final=True)
    if splitter.bm_start is None or splitter.bm_end is None:
        # no business message (or not well-formed, which expat reported above): parse_sbd names the problem
        raise SbdStreamUnsuitable("no business message found")
    envelope = parse_sbd(splitter.envelope_head + splitter.bm_stub + bytes(splitter.tail))
    return SplitSbd(envelope, splitter.emitted, dict(splitter.texts))
