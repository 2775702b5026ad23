"""U-NAPTR record selection (RFC 4848 on RFC 3403), pure.

Peppol SML answers `<name>. NAPTR 100 10 "U" "Meta:SMP" "!^.*$!https://smp.example!" .`
(protocol.md §6). A sender keeps the records with flag `U` and service `Meta:SMP`
(case-insensitive), takes the lowest order and then the lowest preference, and
applies the regexp to the queried name (the application unique string) to get
the SMP base URL. A terminal U-NAPTR has an empty replacement (`.`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import NoMatchingSmpService

__all__ = ["NaptrRecord", "SMP_SERVICE", "apply_regexp", "select_smp_url", "smp_naptr"]

SMP_SERVICE = "Meta:SMP"
# RFC 3402 §3.2: the delimiter may be any character but a digit, the flag 'i' or backslash.
_BAD_DELIMITERS = set("0123456789i\\")
# The pattern arrives in a DNS answer. Python's re has no time limit, so a quantified
# group - the shape of catastrophic backtracking, e.g. (a+)+$ - is refused; Peppol
# uses `.*` or `^.*$`, and BDXL examples at most a plain group such as ([0-9a-f]+).
_QUANTIFIED_GROUP = re.compile(r"\)[*+?{]")
_MAX_REGEXP = 1024


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """One NAPTR record as text fields; `replacement` is "." for none."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str = "."


def smp_naptr(smp_url: str, *, order: int = 100, preference: int = 10) -> NaptrRecord:
    """The record an SML publishes for a participant of the SMP at `smp_url`."""
    if "!" in smp_url:
        raise ValueError(f"an SMP URL cannot contain '!': {smp_url!r}")
    return NaptrRecord(order, preference, "U", SMP_SERVICE, f"!^.*$!{smp_url}!", ".")


def _split_regexp(regexp: str) -> tuple[str, str, str]:
    """`<d>ere<d>repl<d>flags` -> (ere, repl, flags); the delimiter is escapable with backslash."""
    if len(regexp) < 3:
        raise ValueError("regexp too short")
    delim = regexp[0]
    if delim in _BAD_DELIMITERS:
        raise ValueError(f"bad regexp delimiter {delim!r}")
    parts: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(regexp):
        char = regexp[i]
        if char == "\\" and i + 1 < len(regexp) and regexp[i + 1] == delim:
            current.append(delim)
            i += 2
            continue
        if char == delim:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    flags = "".join(current)
    if len(parts) != 2 or flags not in ("", "i"):
        raise ValueError(f"malformed NAPTR regexp {regexp!r}")
    return parts[0], parts[1], flags


def apply_regexp(regexp: str, subject: str) -> str:
    """Apply a NAPTR substitution expression to `subject` (RFC 3402 §3.2).

    The result is the replacement with back-references \\1..\\9 expanded; raises
    ValueError if the expression is malformed or does not match.
    """
    if len(regexp) > _MAX_REGEXP:
        raise ValueError("NAPTR regexp too long")
    ere, repl, flags = _split_regexp(regexp)
    if _QUANTIFIED_GROUP.search(ere):
        raise ValueError(f"NAPTR regular expression {ere!r} quantifies a group (refused: backtracking risk)")
    try:
        pattern = re.compile(ere, re.IGNORECASE if flags == "i" else 0)
    except re.error as exc:
        raise ValueError(f"bad NAPTR regular expression {ere!r}: {exc}") from None
    match = pattern.search(subject)
    if match is None:
        raise ValueError(f"NAPTR regexp {regexp!r} does not match {subject!r}")
    # Only \1..\9 are back-references in RFC 3402; anything else after a backslash is literal.
    out: list[str] = []
    i = 0
    while i < len(repl):
        char = repl[i]
        if char == "\\" and i + 1 < len(repl):
            nxt = repl[i + 1]
            if nxt.isdigit() and nxt != "0":
                index = int(nxt)
                if index > (pattern.groups or 0):
                    raise ValueError(f"NAPTR regexp {regexp!r} refers to missing group {index}")
                out.append(match.group(index) or "")
            else:
                out.append(nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _is_absolute_http_url(url: str) -> bool:
    """A U-NAPTR for Meta:SMP must yield the SMP's absolute base URI (RFC 4848 §3; PFUOI 4.4)."""
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def select_smp_url(records: Iterable[NaptrRecord], name: str) -> str:
    """The SMP base URL from the NAPTR records found at `name`.

    Records are tried by (order, preference); the first U / Meta:SMP record whose
    regexp applies wins. Raises NoMatchingSmpService when none does.
    """
    subject = name.rstrip(".")
    candidates = sorted(
        (r for r in records if r.flags.upper() == "U" and r.service.lower() == SMP_SERVICE.lower()),
        key=lambda r: (r.order, r.preference),
    )
    problems: list[str] = []
    for record in candidates:
        if record.replacement not in (".", ""):
            problems.append(f"U-NAPTR with a replacement ({record.replacement}) is not terminal")
            continue
        try:
            url = apply_regexp(record.regexp, subject)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if _is_absolute_http_url(url):
            return url
        problems.append(f"regexp gave {url!r}, not an absolute http(s) URL" if url else "regexp gave an empty URL")
    detail = "; ".join(problems) if problems else "no record with flag U and service Meta:SMP"
    raise NoMatchingSmpService(f"{name}: {detail}", name=subject)
