"""Validation of business documents: UBL 2.1 XSD plus the official Schematron rules.

`Validator(rules_dir=..., xsd_dir=...)` is built once (it compiles what it needs
on first use and keeps it for the process); `validator.validate(data)` returns a
`ValidationReport`: every finding with its rule id, severity, location and text,
and every check with its outcome. A check that could not run (no XSD folder, no
rule set for this document) is SKIPPED and says why: never silently passed. A
stylesheet that throws on a document (the Dutch SI-UBL 2.0.3.13 does, XPTY0004)
makes that check ERROR and adds a fatal finding, so the document is not valid.

Findings are data; only a document that cannot be read at all raises
(DocumentError), because then there is nothing to validate.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from . import _xslt
from ._xml import XmlRejected, parse_xml
from .errors import DocumentError
from .rules import DocumentKind, RuleSet, RulesError, discover_rule_sets

__all__ = [
    "Severity",
    "Finding",
    "CheckStatus",
    "CheckResult",
    "ValidationReport",
    "Validator",
    "XSD_CHECK",
]

SVRL = "http://purl.oclc.org/dsdl/svrl"
XSD_CHECK = "xsd"
_UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
_CBC = _UBL + "CommonBasicComponents-2"


class Severity(enum.Enum):
    FATAL = "fatal"
    WARNING = "warning"
    INFORMATION = "information"


class CheckStatus(enum.Enum):
    PASSED = "passed"  # ran, no fatal finding
    FAILED = "failed"  # ran, at least one fatal finding
    SKIPPED = "skipped"  # could not run here (reason says why)
    ERROR = "error"  # started but broke on this document


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    location: str
    text: str
    check: str  # "xsd" or the rule set label


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: CheckStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ValidationReport:
    document: DocumentKind
    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...]

    @property
    def fatal(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.FATAL)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def skipped(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.SKIPPED)

    @property
    def valid(self) -> bool:
        """No fatal finding and no check that broke. Skipped checks are listed, not hidden:
        a caller that needs full coverage also checks `skipped`."""
        return not self.fatal and all(c.status is not CheckStatus.ERROR for c in self.checks)

    def rule_ids(self, severity: Severity | None = None) -> set[str]:
        return {f.rule_id for f in self.findings if severity is None or f.severity is severity}


_SEVERITY = {"fatal": Severity.FATAL, "error": Severity.FATAL, "warning": Severity.WARNING,
             "information": Severity.INFORMATION, "info": Severity.INFORMATION}


def _svrl_findings(svrl: str, check: str) -> list[Finding]:
    if "failed-assert" not in svrl and "successful-report" not in svrl:
        return []  # the usual case, a clean document: no element of either name can be in the text
    root = parse_xml(svrl.encode("utf-8")).getroot()
    out = []
    for fa in root.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        flag = (fa.get("flag") or ("fatal" if fa.tag.endswith("failed-assert") else "information")).lower()
        text = " ".join("".join(fa.findtext(f"{{{SVRL}}}text") or "").split())
        out.append(Finding(
            # an assert without an id is named by its XPath test (as phive and the oracle do)
            rule_id=fa.get("id") or f"test:{fa.get('test', '')}",
            severity=_SEVERITY.get(flag, Severity.FATAL),
            location=fa.get("location") or "",
            text=text,
            check=check,
        ))
    return out


def document_kind(root: etree._Element) -> DocumentKind:
    q = etree.QName(root)
    customization = root.findtext(f"{{{_CBC}}}CustomizationID") or ""
    return DocumentKind(q.namespace or "", q.localname, customization.strip())


class Validator:
    """Validates documents against the UBL XSD and the rule sets found in `rules_dir`.

    `select` names rule sets to run (by name, or "name@version"); without it, every
    automatic rule set that applies to the document runs (newest version of each name).
    Raises RulesError when the rules directory is unusable or a selected set is unknown.
    """

    def __init__(
        self,
        *,
        rules_dir: Path | None = None,
        xsd_dir: Path | None = None,
        select: Sequence[str] = (),
        rule_sets: Sequence[RuleSet] | None = None,
    ) -> None:
        self.xsd_dir = xsd_dir
        self.rules_dir = rules_dir
        if rule_sets is not None:
            self.rule_sets = list(rule_sets)
        elif rules_dir is not None:
            self.rule_sets = discover_rule_sets(rules_dir)
        else:
            self.rule_sets = []
        self.select = tuple(select)
        for wanted in self.select:
            if not self._named(wanted):
                known = ", ".join(sorted({r.label for r in self.rule_sets})) or "none"
                raise RulesError(f"no rule set {wanted!r} (found: {known})")
        self._schemas: dict[str, etree.XMLSchema] = {}
        self._lock = threading.Lock()

    def _named(self, wanted: str) -> list[RuleSet]:
        name, _, version = wanted.partition("@")
        sets = [r for r in self.rule_sets if r.name == name and (not version or r.version == version)]
        return sets[:1]

    def rule_sets_for(self, kind: DocumentKind) -> list[RuleSet]:
        """The rule sets that will run on a document of this kind."""
        if self.select:
            return [r for wanted in self.select for r in self._named(wanted)]
        chosen: dict[str, RuleSet] = {}
        for r in self.rule_sets:  # newest first within a name
            if r.automatic and r.name not in chosen and r.applies_to(kind):
                chosen[r.name] = r
        return list(chosen.values())

    def warm_up(self, kinds: Sequence[DocumentKind] = ()) -> None:
        """Compile the stylesheets now (e.g. at start-up) rather than on the first document."""
        for r in self.rule_sets if not kinds else [r for k in kinds for r in self.rule_sets_for(k)]:
            for path in r.stylesheets:
                _xslt.compile_stylesheet(path)

    # ---------------------------------------------------------------------------------------

    def validate(self, data: bytes, *, xsd: bool = True) -> ValidationReport:
        """Validate one document. Raises DocumentError only if it is not safe, well-formed XML."""
        try:
            tree = parse_xml(data)
        except XmlRejected as exc:
            raise DocumentError(str(exc)) from None
        return self.validate_element(tree.getroot(), xsd=xsd)

    def validate_element(self, root: etree._Element, *, xsd: bool = True) -> ValidationReport:
        """`validate` for an element our safe parser produced (fragments: pass xsd=False)."""
        kind = document_kind(root)
        findings: list[Finding] = []
        checks: list[CheckResult] = []
        if xsd:
            checks.append(self._check_xsd(root, kind, findings))
        sets = self.rule_sets_for(kind)
        if not sets:
            reason = (
                "no rules directory configured" if self.rules_dir is None and not self.rule_sets
                else f"no rule set for {kind.local_name} with CustomizationID {kind.customization_id!r}"
            )
            checks.append(CheckResult("rules", CheckStatus.SKIPPED, reason))
        text = None
        for rule_set in sets:
            if text is None:
                text = etree.tostring(root, encoding="unicode")
            checks.append(self._check_rules(rule_set, text, findings))
        return ValidationReport(document=kind, findings=tuple(findings), checks=tuple(checks))

    def _check_xsd(self, root: etree._Element, kind: DocumentKind, findings: list[Finding]) -> CheckResult:
        if self.xsd_dir is None:
            return CheckResult(XSD_CHECK, CheckStatus.SKIPPED, "no UBL XSD folder configured")
        if not kind.namespace.startswith(_UBL) or not kind.namespace.endswith("-2"):
            return CheckResult(XSD_CHECK, CheckStatus.SKIPPED, f"no UBL 2.1 schema for {{{kind.namespace}}}{kind.local_name}")
        xsd_path = self.xsd_dir / "maindoc" / f"UBL-{kind.local_name}-2.1.xsd"
        if not xsd_path.is_file():
            return CheckResult(XSD_CHECK, CheckStatus.SKIPPED, f"{xsd_path} not found")
        try:
            schema = self._schema(xsd_path)
        except (etree.XMLSchemaParseError, XmlRejected, OSError) as exc:
            return CheckResult(XSD_CHECK, CheckStatus.ERROR, f"cannot load {xsd_path}: {exc}")
        with self._lock:
            ok = schema.validate(root)
            errors = list(schema.error_log)
        for e in errors:
            findings.append(Finding(
                rule_id="XSD", severity=Severity.FATAL, location=f"line {e.line}" + (f" {e.path}" if e.path else ""),
                text=e.message, check=XSD_CHECK,
            ))
        return CheckResult(XSD_CHECK, CheckStatus.PASSED if ok else CheckStatus.FAILED)

    def _schema(self, path: Path) -> etree.XMLSchema:
        key = str(path)
        with self._lock:
            schema = self._schemas.get(key)
            if schema is None:
                parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
                schema = etree.XMLSchema(etree.parse(str(path), parser))
                self._schemas[key] = schema
            return schema

    def _check_rules(self, rule_set: RuleSet, text: str, findings: list[Finding]) -> CheckResult:
        label = rule_set.label
        try:
            executables = [_xslt.compile_stylesheet(p) for p in rule_set.stylesheets]
            outputs = _xslt.transform(executables, text)
            found = [f for out in outputs for f in _svrl_findings(out, label)]
        except (_xslt.XsltFailed, OSError, XmlRejected) as exc:
            findings.append(Finding(
                rule_id="RULES-ERROR", severity=Severity.FATAL, location="/",
                text=f"the {label} rules could not be run on this document: {exc}", check=label,
            ))
            return CheckResult(label, CheckStatus.ERROR, str(exc).splitlines()[0][:300] if str(exc) else "error")
        findings.extend(found)
        failed = any(f.severity is Severity.FATAL for f in found)
        return CheckResult(label, CheckStatus.FAILED if failed else CheckStatus.PASSED)
