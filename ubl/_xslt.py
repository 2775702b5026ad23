"""The one Saxon processor of the process, and its cache of compiled stylesheets.

The official Schematron rules ship as XSLT 2.0, which only Saxon runs (libxslt is
XSLT 1.0). Compiling the CEN stylesheet takes most of a second, running it a few
milliseconds, so each stylesheet is compiled once per process and kept, keyed by
path, size and modification time (a reinstalled rule set is picked up). Before
compiling, the Schematron trace output nobody reads is trimmed, and patterns
with no rule for attributes stop visiting them (`_svrl_trim`): together about
a third of the running time.

SaxonC objects are not documented as thread-safe: every call into Saxon holds
one lock. Documents reach Saxon only after our hardened lxml parser accepted
them (no DOCTYPE), re-serialised as text, so Saxon's own parser never sees an
entity declaration.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

from ._svrl_trim import select_rule_candidates, skip_attribute_visits, trim_svrl_trace
from ._xml import XmlRejected, parse_xml

__all__ = ["XsltFailed", "compile_stylesheet", "transform"]


class XsltFailed(Exception):
    """Saxon could not compile a stylesheet or run it on a document."""


_lock = threading.RLock()
_processor = None
_compiler = None
_compiled: dict[tuple[str, int, int, int, int], object] = {}


def _saxon() -> tuple[object, object]:
    global _processor, _compiler
    if _processor is None:
        from saxonche import PySaxonProcessor  # imported late: the wheel is large

        _processor = PySaxonProcessor(license=False)
        _compiler = _processor.new_xslt30_processor()
    return _processor, _compiler


def compile_stylesheet(path: Path) -> object:
    """The compiled executable for `path`, compiling it on first use."""
    from saxonche import PySaxonApiError

    stat = os.stat(path)  # per validation: a stat, no path resolution (that cost 0.1 ms per stylesheet)
    key = (os.fspath(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _lock:
        executable = _compiled.get(key)
        if executable is None:
            processor, compiler = _saxon()
            try:
                stylesheet = parse_xml(path.read_bytes()).getroot()
            except XmlRejected as exc:
                raise XsltFailed(f"cannot read {path.name}: {exc}") from None
            trim_svrl_trace(stylesheet)
            skip_attribute_visits(stylesheet)
            select_rule_candidates(stylesheet)
            builder = processor.new_document_builder()
            builder.set_base_uri(path.resolve().as_uri())  # relative xsl:include, document() still resolve
            builder.set_line_numbering(True)  # errors name a line of the stylesheet
            try:
                node = builder.parse_xml(xml_text=etree.tostring(stylesheet, encoding="unicode"))
                executable = compiler.compile_stylesheet(stylesheet_node=node)
            except PySaxonApiError as exc:
                raise XsltFailed(f"cannot compile {path.name}: {str(exc).strip()[:500]}") from None
            if executable is None:
                raise XsltFailed(f"cannot compile {path.name}")
            _compiled[key] = executable
        return executable


def transform(executables: list[object], document_text: str) -> list[str]:
    """Run each executable on the document (parsed once); their outputs as text."""
    from saxonche import PySaxonApiError

    with _lock:
        processor, _ = _saxon()
        try:
            node = processor.parse_xml(xml_text=document_text)
        except PySaxonApiError as exc:
            raise XsltFailed(f"Saxon cannot read the document: {str(exc).strip()[:500]}") from None
        out = []
        for executable in executables:
            try:
                result = executable.transform_to_string(xdm_node=node)
            except PySaxonApiError as exc:
                raise XsltFailed(str(exc).strip()[:1000]) from None
            if result is None:
                raise XsltFailed("the stylesheet produced no output")
            out.append(result)
        return out
