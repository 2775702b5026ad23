"""MIME multipart/related for SOAP with attachments: a tolerant, streaming parser and a writer.

Peers differ (protocol.md §1.2, phase4#304): some send a preamble, some omit
the Content-ID of the root part, some use base64 instead of binary, some use
Content-IDs starting with a digit, some end lines with bare LF. We accept all of
that, but nothing ambiguous: no boundary, no root part or a truncated body is
EBMS:0007 MimeInconsistency.

`MultipartParser.feed()` takes the body in chunks (as an ASGI server delivers
it) and spools each part to a `Blob`, so a 100 MB attachment is held once, on
disk, not in memory.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message

from as4._ids import random_octets
from as4.blob import Blob, BlobWriter
from as4.errors import MimeInconsistency

__all__ = [
    "MimePart",
    "MultipartParser",
    "parse_multipart",
    "parse_content_type",
    "normalize_cid",
    "split_message_headers",
    "render_multipart",
    "MAX_PARTS",
    "MAX_HEADER_BYTES",
]

#: A Peppol message has the SOAP part plus one SBD; other AS4 peers may add a few
#: attachments. 64 bounds the work per request without refusing any real message.
MAX_PARTS = 64
#: MIME headers of one part; real ones are < 300 bytes.
MAX_HEADER_BYTES = 16 * 1024
#: Default bound for a whole message; the receiver policy can lower or raise it.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MimePart:
    headers: dict[str, str]
    body: Blob
    content_id: str | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype` (lower-case) and its parameters (keys lower-case, values unquoted).

    Every message and receipt has two or three of these, and the email module's parser costs
    ~60 us each; the plain ASCII form every AS4 peer sends is split here, with the same answer
    (tests/as4/test_mime.py compares the two). Anything else (RFC 2231 `name*=`, backslash
    escapes, line breaks, non-ASCII) still goes through the email module.
    """
    if not value.isascii() or any(c in value for c in "*\\\r\n"):
        return _parse_content_type_email(value)
    items = _split_params(value)
    main = items[0].partition("=")[0].strip().lower()
    params: dict[str, str] = {}
    for item in items[1:]:
        name, _, raw = item.partition("=")
        params[name.strip().lower()] = _unquote(raw.strip())
    return main, params


def _split_params(value: str) -> list[str]:
    """`value` cut at each `;` outside double quotes (no backslash escapes: the caller excluded them).

    Cut at the quotes first: the pieces alternate outside/inside (an unclosed quote runs to the
    end, as a scan toggling at each quote reads it), and only the outside ones are cut at `;`,
    in C rather than a Python loop over every character of the boundary.
    """
    if '"' not in value:
        return value.split(";")
    items: list[str] = []
    current = ""
    for i, piece in enumerate(value.split('"')):
        if i:
            current += '"'
        if i % 2:  # inside quotes
            current += piece
            continue
        head, *rest = piece.split(";")
        current += head
        for item in rest:
            items.append(current)
            current = item
    items.append(current)
    return items


def _unquote(value: str) -> str:
    """One level of `"..."` or `<...>` off, as email.utils.unquote does."""
    if len(value) > 1 and ((value[0] == '"' and value[-1] == '"') or (value[0] == "<" and value[-1] == ">")):
        return value[1:-1]
    return value


def _parse_content_type_email(value: str) -> tuple[str, dict[str, str]]:
    """The general case (and the reference the fast path is tested against): the email module's parser."""
    msg = Message()
    msg["content-type"] = value
    params = msg.get_params(header="content-type") or []
    main = params[0][0].lower() if params else ""
    return main, {k.lower(): str(v) for k, v in params[1:]}


def normalize_cid(value: str) -> str:
    """Content-ID header (`<x@y>`) or reference (`cid:x%40y`) to the bare id."""
    value = value.strip()
    if value[:4].lower() == "cid:":
        value = urllib.parse.unquote(value[4:])
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def _parse_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last: str | None = None
    for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            continue
        text = line.decode("latin-1")
        if text[0] in " \t" and last is not None:  # folded continuation
            headers[last] += " " + text.strip()
            continue
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise MimeInconsistency(f"malformed MIME header line {text[:80]!r}")
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


class _Base64Decoder:
    """Streaming base64 with whitespace between chunks (RFC 2045 line breaks)."""

    _ws = re.compile(rb"[\s]+")

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + self._ws.sub(b"", data)
        cut = len(data) - len(data) % 4
        self._rest = data[cut:]
        return self._decode(data[:cut])

    def finish(self) -> bytes:
        rest, self._rest = self._rest, b""
        if not rest:
            return b""
        return self._decode(rest + b"=" * (-len(rest) % 4))

    @staticmethod
    def _decode(data: bytes) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise MimeInconsistency("a base64 MIME part is not valid base64") from None


class MultipartParser:
    """Incremental multipart parser; raises only `MimeInconsistency`."""

    _PREAMBLE, _HEADERS, _BODY, _EPILOGUE = range(4)

    def __init__(self, content_type: str, *, max_bytes: int = MAX_MESSAGE_BYTES,
                 max_parts: int = MAX_PARTS) -> None:
        main, params = parse_content_type(content_type)
        if not main.startswith("multipart/"):
            raise MimeInconsistency(f"expected a multipart content type, got {main or content_type!r}")
        boundary = params.get("boundary")
        if not boundary or len(boundary) > 200:
            raise MimeInconsistency("multipart content type without a usable boundary")
        self.content_type = main
        self.params = params
        self._delim = b"\n--" + boundary.encode("latin-1")
        # A virtual line break in front, so a body that starts with the boundary
        # (no preamble) is found by the same search as every later one.
        self._buf = bytearray(b"\r\n")
        self._state = self._PREAMBLE
        self._max_bytes = max_bytes
        self._max_parts = max_parts
        self._total = 0
        self._parts: list[MimePart] = []
        self._headers: dict[str, str] = {}
        self._writer: BlobWriter | None = None
        self._decoder: _Base64Decoder | None = None
        self._qp = False
        self._done = False
        self._first = False

    # -- feeding ------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._total += len(data)
        if self._total > self._max_bytes:
            raise MimeInconsistency(f"message is larger than the limit of {self._max_bytes} bytes")
        if self._state == self._EPILOGUE:
            return
        self._buf += data
        self._run()

    def _run(self) -> None:
        while True:
            if self._state == self._PREAMBLE:
                idx = self._buf.find(self._delim)
                if idx < 0:
                    keep = len(self._delim) + 2
                    if len(self._buf) > keep:
                        del self._buf[: len(self._buf) - keep]
                    return
                del self._buf[: idx + len(self._delim)]
                self._state = self._HEADERS
            elif self._state == self._HEADERS:
                if not self._after_delimiter():
                    return
            elif self._state == self._BODY:
                idx = self._buf.find(self._delim)
                if idx < 0:
                    safe = len(self._buf) - len(self._delim) - 1
                    if safe > (2 if self._first else 0):
                        self._body_data(bytes(self._buf[:safe]))
                        del self._buf[:safe]
                    return
                end = idx
                if end > 0 and self._buf[end - 1] == 0x0D:
                    end -= 1
                self._body_data(bytes(self._buf[:end]))
                del self._buf[: idx + len(self._delim)]
                self._end_part()
                self._state = self._HEADERS
            else:
                self._buf.clear()
                return

    def _after_delimiter(self) -> bool:
        """At the end of a boundary line: `--` ends the body, else headers follow."""
        if len(self._buf) < 2:
            return False
        if self._buf[:2] == b"--":
            self._state = self._EPILOGUE
            self._done = True
            self._buf.clear()
            return False
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > 1024:
                raise MimeInconsistency("garbage after a MIME boundary")
            return False
        if self._buf[:nl].strip(b" \t\r"):
            # Not our delimiter after all (boundary is a prefix of a longer line):
            # treat as part data is impossible here, so refuse.
            raise MimeInconsistency("MIME boundary followed by unexpected characters")
        # headers end at the first empty line
        start = nl + 1
        if self._buf[start:start + 2] == b"\r\n" or self._buf[start:start + 1] == b"\n":
            raw, rest = b"", start + (2 if self._buf[start:start + 1] == b"\r" else 1)
        else:
            m = re.search(rb"\r?\n\r?\n", self._buf[start:])
            if m is None:
                if len(self._buf) > MAX_HEADER_BYTES:
                    raise MimeInconsistency("MIME part headers are too long")
                return False
            raw, rest = bytes(self._buf[start:start + m.start()]), start + m.end()
        if len(raw) > MAX_HEADER_BYTES:
            raise MimeInconsistency("MIME part headers are too long")
        self._begin_part(_parse_headers(raw))
        del self._buf[:rest]
        # the body search needs the virtual line break, for an empty body
        self._buf[0:0] = b"\r\n"
        self._state = self._BODY
        return True

    def _begin_part(self, headers: dict[str, str]) -> None:
        if len(self._parts) >= self._max_parts:
            raise MimeInconsistency(f"more than {self._max_parts} MIME parts")
        self._headers = headers
        self._writer = BlobWriter()
        cte = headers.get("content-transfer-encoding", "binary").strip().lower()
        self._decoder = _Base64Decoder() if cte == "base64" else None
        self._qp = cte == "quoted-printable"
        if cte not in ("binary", "8bit", "7bit", "base64", "quoted-printable"):
            raise MimeInconsistency(f"unsupported Content-Transfer-Encoding {cte!r}")
        self._first = True

    def _body_data(self, data: bytes) -> None:
        assert self._writer is not None
        if self._first:
            # drop the virtual line break we inserted before the body
            if data.startswith(b"\r\n"):
                data = data[2:]
            self._first = False
        if self._decoder is not None:
            data = self._decoder.feed(data)
        self._writer.write(data)

    def _end_part(self) -> None:
        assert self._writer is not None
        if self._first:
            self._first = False
        if self._decoder is not None:
            self._writer.write(self._decoder.finish())
        blob = self._writer.finish()
        if self._qp:
            blob = Blob.from_bytes(quopri.decodestring(blob.read()))
        cid = self._headers.get("content-id")
        self._parts.append(MimePart(self._headers, blob, normalize_cid(cid) if cid else None))
        self._writer = None

    def finish(self) -> list[MimePart]:
        """All parts; raises if the closing boundary never came."""
        if not self._done:
            if self._state == self._BODY and self._writer is not None:
                raise MimeInconsistency("MIME body ends inside a part (no closing boundary)")
            if not self._parts:
                raise MimeInconsistency("no MIME part found (boundary never seen)")
            raise MimeInconsistency("MIME body has no closing boundary")
        if not self._parts:
            raise MimeInconsistency("multipart body without parts")
        return self._parts


def parse_multipart(content_type: str, body: bytes | Iterable[bytes], **limits: int) -> list[MimePart]:
    parser = MultipartParser(content_type, **limits)
    if isinstance(body, (bytes, bytearray, memoryview)):
        parser.feed(bytes(body))
    else:
        for chunk in body:
            parser.feed(chunk)
    return parser.finish()


def split_message_headers(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Split a captured message (`Header: value` lines, blank line, body) into headers and body.

    Captures like phase4's `.as4out`/`.as4in` dumps carry the HTTP or MIME
    headers in front of the body. Without a header block, the headers are empty.
    """
    first = raw[:200].split(b"\n", 1)[0]
    if not re.match(rb"^[A-Za-z][A-Za-z0-9-]*:", first):
        return {}, raw
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        return {}, raw
    try:
        headers = _parse_headers(raw[: m.start()])
    except MimeInconsistency:
        return {}, raw
    return headers, raw[m.end():]


@dataclass(frozen=True, slots=True)
class OutboundPart:
    headers: list[tuple[str, str]]
    body: Blob


@dataclass(slots=True)
class RenderedMultipart:
    content_type: str
    preamble_parts: list[bytes] = field(default_factory=list)
    blobs: list[Blob | bytes] = field(default_factory=list)

    def iter_bytes(self) -> Iterator[bytes]:
        for item in self.blobs:
            if isinstance(item, bytes):
                yield item
            else:
                yield from item.chunks()

    @property
    def size(self) -> int:
        return sum(len(b) if isinstance(b, bytes) else b.size for b in self.blobs)


def render_multipart(parts: list[OutboundPart], *, root_type: str = "application/soap+xml") -> RenderedMultipart:
    """multipart/related with binary parts; bodies stream from their blobs."""
    boundary = "----=_Part_" + random_octets(16).hex()
    ctype = f'multipart/related; boundary="{boundary}"; type="{root_type}"'
    out = RenderedMultipart(ctype)
    for part in parts:
        head = f"--{boundary}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in part.headers) + "\r\n"
        out.blobs.append(head.encode("latin-1"))
        out.blobs.append(part.body)
        out.blobs.append(b"\r\n")
    out.blobs.append(f"--{boundary}--\r\n".encode("latin-1"))
    return out
