"""One table drives reading and writing UBL: the XML binding of the typed model.

Each model class lists its UBL children in schema order as `_UBL = ((attr, path), ...)`;
a path is one element ("cbc:ID") or a chain of single-child wrappers
("cac:PartyName/cbc:Name"). The attribute's type annotation says how to convert:
`X | None` is an optional single element, `tuple[X, ...]` a repeated one, a bare `X`
a mandatory one. Classes whose order differs in a CreditNote also give `_UBL_CN`.

Reading is order-tolerant (it looks children up by name); writing follows the
table, so what we write is in schema order. Elements the model does not hold are
not silently dropped: their paths are collected and returned with the document.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import re
import types
import typing
from decimal import Decimal, InvalidOperation

from lxml import etree

from .errors import DocumentError

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_PREFIX = {"cac": CAC, "cbc": CBC}


@dataclasses.dataclass(frozen=True, slots=True)
class Id:
    """An identifier with its optional scheme (cbc:ID/@schemeID, cbc:EndpointID/@schemeID...)."""

    value: str
    scheme_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Code:
    """A code with the list attributes UBL allows on it (listID, listVersionID, name)."""

    value: str
    list_id: str | None = None
    list_version_id: str | None = None
    name: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Amount:
    """A monetary amount; the value keeps the written scale (Decimal("100.00"))."""

    value: Decimal
    currency: str


@dataclasses.dataclass(frozen=True, slots=True)
class Quantity:
    value: Decimal
    unit_code: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class BinaryObject:
    """An embedded document (cbc:EmbeddedDocumentBinaryObject), decoded."""

    data: bytes = dataclasses.field(repr=False)
    mime_code: str
    filename: str | None = None


_ATTRS: dict[type, tuple[tuple[str, str], ...]] = {
    Id: (("scheme_id", "schemeID"),),
    Code: (("list_id", "listID"), ("list_version_id", "listVersionID"), ("name", "name")),
    Quantity: (("unit_code", "unitCode"),),
}
_SCALARS = (str, Decimal, dt.date, bool, Id, Code, Amount, Quantity, BinaryObject)


def _clark(step: str) -> str:
    prefix, _, local = step.partition(":")
    return f"{{{_PREFIX[prefix]}}}{local}"


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    attr: str
    steps: tuple[str, ...]  # Clark names
    kind: type
    many: bool
    required: bool


@functools.cache
def _fields(cls: type, credit_note: bool) -> tuple[_Field, ...]:
    table = getattr(cls, "_UBL_CN", None) if credit_note else None
    if table is None:
        table = cls._UBL  # type: ignore[attr-defined]
    hints = typing.get_type_hints(cls)
    out = []
    for attr, path in table:
        hint = hints[attr]
        many = required = False
        if typing.get_origin(hint) is tuple:
            kind, many = typing.get_args(hint)[0], True
        elif typing.get_origin(hint) in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(hint) if a is not type(None))
        else:
            kind, required = hint, True
        out.append(_Field(attr, tuple(_clark(s) for s in path.split("/")), kind, many, required))
    return tuple(out)


def _where(el: etree._Element) -> str:
    tree = el.getroottree()
    return tree.getpath(el) if tree is not None else etree.QName(el).localname


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _decimal(el: etree._Element, text: str) -> Decimal:
    # xs:decimal: no exponent, no NaN/Infinity (which Decimal() would accept).
    if not _DECIMAL_RE.fullmatch(text):
        _bad(el, "a number")
    return Decimal(text)


def _scalar(kind: type, el: etree._Element) -> object:
    text = _text(el)
    try:
        if kind is str:
            return el.text or ""
        if kind is Decimal:
            return _decimal(el, text)
        if kind is dt.date:
            return dt.date.fromisoformat(text) if len(text) == 10 else _bad(el, "a date (YYYY-MM-DD)")
        if kind is bool:
            if text in ("true", "1"):
                return True
            if text in ("false", "0"):
                return False
            return _bad(el, "true or false")
        if kind is Amount:
            currency = el.get("currencyID")
            if not currency:
                return _bad(el, "an amount with a currencyID")
            return Amount(_decimal(el, text), currency)
        if kind is Quantity:
            return Quantity(_decimal(el, text), el.get("unitCode"))
        if kind is BinaryObject:
            try:
                data = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                return _bad(el, "base64 content")
            return BinaryObject(data, el.get("mimeCode") or "", el.get("filename"))
        extra = {attr: el.get(xml) for attr, xml in _ATTRS[kind]}
        return kind(text, **extra)
    except (InvalidOperation, ValueError):
        return _bad(el, "a number" if kind in (Decimal, Amount, Quantity) else "a date (YYYY-MM-DD)")


def _bad(el: etree._Element, expected: str) -> typing.NoReturn:
    raise DocumentError(f"{_where(el)}: {(el.text or '').strip()[:40]!r} is not {expected}")


def _find(el: etree._Element, steps: tuple[str, ...], ignored: list[str]) -> list[etree._Element]:
    """Elements at the end of `steps`; every wrapper occurrence yields at most one."""
    found = []
    for first in el.iterchildren(steps[0]):
        node = first
        for step in steps[1:]:
            kids = list(node.iterchildren(step))
            if not kids:
                node = None
                break
            ignored.extend(_where(k) for k in kids[1:])
            node = kids[0]
        if node is not None:
            found.append(node)
    return found


def read(cls: type, el: etree._Element, credit_note: bool, ignored: list[str]) -> object:
    """Build `cls` from element `el`; DocumentError for values that do not convert."""
    fields = _fields(cls, credit_note)
    values: dict[str, object] = {}
    seen: set[str] = set()
    for f in fields:
        seen.add(f.steps[0])
        nodes = _find(el, f.steps, ignored)
        conv = (lambda n: _scalar(f.kind, n)) if f.kind in _SCALARS else (lambda n: read(f.kind, n, credit_note, ignored))
        if f.many:
            values[f.attr] = tuple(conv(n) for n in nodes)
        elif nodes:
            values[f.attr] = conv(nodes[0])
            ignored.extend(_where(n) for n in nodes[1:])
        elif f.required:
            raise DocumentError(f"{_where(el)}: missing {'/'.join(etree.QName(s).localname for s in f.steps)}")
    for child in el:
        if isinstance(child.tag, str) and child.tag not in seen:
            ignored.append(_where(child))
    return cls(**values)


def _decimal_text(value: Decimal) -> str:
    # Never scientific notation in XML (xs:decimal has none).
    return format(value, "f")


def _put(kind: type, value: object, el: etree._Element) -> None:
    if kind is str:
        el.text = value  # type: ignore[assignment]
    elif kind is Decimal:
        el.text = _decimal_text(value)  # type: ignore[arg-type]
    elif kind is dt.date:
        el.text = value.isoformat()  # type: ignore[union-attr]
    elif kind is bool:
        el.text = "true" if value else "false"
    elif kind is Amount:
        el.set("currencyID", value.currency)  # type: ignore[union-attr]
        el.text = _decimal_text(value.value)  # type: ignore[union-attr]
    elif kind is BinaryObject:
        el.set("mimeCode", value.mime_code)  # type: ignore[union-attr]
        if value.filename is not None:  # type: ignore[union-attr]
            el.set("filename", value.filename)  # type: ignore[union-attr]
        el.text = base64.b64encode(value.data).decode("ascii")  # type: ignore[union-attr]
    else:
        for attr, xml in _ATTRS[kind]:
            if getattr(value, attr) is not None:
                el.set(xml, getattr(value, attr))
        first = next(iter(dataclasses.fields(kind))).name
        if kind is Quantity:
            el.text = _decimal_text(value.value)  # type: ignore[union-attr]
        else:
            el.text = getattr(value, first)


def write(obj: object, el: etree._Element, credit_note: bool) -> None:
    """Append the children of `obj` to `el`, in schema order."""
    for f in _fields(type(obj), credit_note):
        value = getattr(obj, f.attr)
        items = value if f.many else (() if value is None else (value,))
        for item in items:
            node = el
            for step in f.steps:
                node = etree.SubElement(node, step)
            if f.kind in _SCALARS:
                _put(f.kind, item, node)
            else:
                write(item, node, credit_note)
