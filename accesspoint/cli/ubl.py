"""`peppol-node validate`, `render` and `rules install`: business documents from the shell.

Exit codes of `validate`: 0 every file valid, 1 any fatal finding (or a rule set
that broke on a file), 2 a file that is unreadable or not a supported document
(or unusable rules). Checks that cannot run are printed as skipped: a missing
rule set never turns into a silent pass.

Where the rules come from: `--rules DIR` / `--xsd DIR`, else the environment
(`PEPPOL_UBL_RULES_DIR`, `PEPPOL_UBL_XSD_DIR`), else what `peppol-node rules
install` put in the user cache (`$PEPPOL_UBL_CACHE_DIR`, `$XDG_CACHE_HOME/peppol-node`
or `~/.cache/peppol-node`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from accesspoint import rules_cache
import ubl

# Published releases `rules install` knows. The SHA-256 is pinned only once someone has
# verified the artefact from the publisher; until then `--sha256` must be given (fail closed).
RELEASES: dict[str, dict[str, tuple[str, str | None]]] = {
    # Compiled Schematron XSLT of Peppol BIS Billing (CEN + PEPPOL), MLS, reporting, as packaged by phive.
    "peppol": {
        "4.3.6": (
            "https://repo1.maven.org/maven2/com/helger/phive/rules/phive-rules-peppol/4.3.6/phive-rules-peppol-4.3.6.jar",
            None,
        ),
    },
    # The OASIS UBL 2.1 OS package (xsd/maindoc + xsd/common).
    "ubl-xsd": {
        "2.1": ("https://docs.oasis-open.org/ubl/os-UBL-2.1/UBL-2.1.zip", None),
    },
}
DEFAULT_VERSION = {"peppol": "4.3.6", "ubl-xsd": "2.1"}
_PDF_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("validate", help="validate UBL documents (XSD + official Schematron rules)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="UBL invoices or credit notes to validate")
    p.add_argument("--rules", type=Path, help="directory with the compiled official XSLT rules")
    p.add_argument("--xsd", type=Path, help="UBL 2.1 schema folder (with maindoc/ and common/)")
    p.add_argument("--rule-set", action="append", default=[], metavar="NAME[@VERSION]",
                   help="run this rule set instead of choosing by document (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON report per line")
    p.set_defaults(handler=validate_command)

    p = subparsers.add_parser("render", help="render an invoice or credit note as HTML and/or PDF")
    p.add_argument("file", type=Path, metavar="FILE", help="a UBL invoice or credit note")
    p.add_argument("--html", type=Path, metavar="OUT", help="write the HTML rendering here")
    p.add_argument("--pdf", type=Path, metavar="OUT", help="write the PDF rendering here")
    p.add_argument("--embedded-pdf", choices=[e.value for e in ubl.EmbeddedPdfPolicy], default="always",
                   help="when the document carries its own PDF: always generate ours, never, or only when none")
    p.add_argument("--font", type=Path, help="TrueType font for the PDF (default: DejaVu Sans if installed)")
    p.set_defaults(handler=render_command)

    p = subparsers.add_parser("rules", help="official validation rules")
    sub = p.add_subparsers(dest="rules_command", metavar="COMMAND")
    sub.required = True
    i = sub.add_parser("install", help="download a rules release, check its pinned SHA-256, unpack it")
    i.add_argument("--name", choices=sorted(RELEASES), default="peppol", help="which rules release (default peppol)")
    i.add_argument("--version", help="release version (default: the pinned one)")
    i.add_argument("--url", help="download from here instead of the official release URL")
    i.add_argument("--sha256", help="expected SHA-256 of the archive (required where none is pinned)")
    i.add_argument("--dest", type=Path, help="install directory (default: the user cache)")
    i.set_defaults(handler=rules_install_command)


def _err(message: str) -> None:
    print(f"peppol-node: {message}", file=sys.stderr)


def validate_command(args: argparse.Namespace) -> int:
    rules = args.rules or (Path(os.environ["PEPPOL_UBL_RULES_DIR"]) if os.environ.get("PEPPOL_UBL_RULES_DIR") else None) \
        or rules_cache.installed_rules()
    xsd = args.xsd or (Path(os.environ["PEPPOL_UBL_XSD_DIR"]) if os.environ.get("PEPPOL_UBL_XSD_DIR") else None)
    if xsd is None:
        xsd = rules_cache.installed_xsd()
    if rules is None and xsd is None:
        _err("no validation rules: run `peppol-node rules install` (downloads the official Peppol BIS rules and"
             " the UBL 2.1 schemas, SHA-256 checked), or pass --rules DIR / --xsd DIR")
        return 2
    if xsd is not None and not (xsd / "maindoc").is_dir():
        _err(f"{xsd} has no maindoc/ folder")
        return 2
    try:
        validator = ubl.Validator(rules_dir=rules, xsd_dir=xsd, select=args.rule_set)
    except ubl.RulesError as exc:
        _err(str(exc))
        return 2
    worst = 0
    for path in args.files:
        code, report = _validate_one(validator, path)
        worst = max(worst, code)
        if args.json:
            print(json.dumps(_as_json(path, code, report)))
        else:
            _print_report(path, code, report)
    return worst


def _validate_one(validator: ubl.Validator, path: Path) -> tuple[int, ubl.ValidationReport | str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return 2, f"cannot read: {exc.strerror or exc}"
    try:
        sbd = ubl.parse_sbd(data)
        data = sbd.payload  # an SBD: validate the business document inside
    except ubl.SbdhError:
        pass
    try:
        report = validator.validate(data)
    except ubl.DocumentError as exc:
        return 2, f"not a readable XML document: {exc}"
    kind = report.document
    if (kind.local_name not in ("Invoice", "CreditNote") or not kind.namespace.startswith("urn:oasis:")) \
            and not validator.rule_sets_for(kind):
        return 2, f"not a supported document: {{{kind.namespace}}}{kind.local_name}"
    if all(c.status is ubl.CheckStatus.SKIPPED for c in report.checks):
        # nothing ran: that is no verdict, and must not read as a pass
        return 2, "nothing could be checked: " + "; ".join(f"{c.name}: {c.reason}" for c in report.checks)
    return (0 if report.valid else 1), report


def _as_json(path: Path, code: int, report: ubl.ValidationReport | str) -> dict:
    if isinstance(report, str):
        return {"file": str(path), "status": "unreadable", "exit": code, "error": report}
    return {
        "file": str(path),
        "status": "valid" if code == 0 else "invalid",
        "exit": code,
        "document": {"namespace": report.document.namespace, "root": report.document.local_name,
                     "customization_id": report.document.customization_id},
        "checks": [{"name": c.name, "status": c.status.value, "reason": c.reason} for c in report.checks],
        "findings": [{"rule_id": f.rule_id, "severity": f.severity.value, "location": f.location,
                      "text": f.text, "check": f.check} for f in report.findings],
    }


def _print_report(path: Path, code: int, report: ubl.ValidationReport | str) -> None:
    if isinstance(report, str):
        print(f"{path}: ERROR {report}")
        return
    print(f"{path}: {'VALID' if code == 0 else 'INVALID'} ({report.document.local_name})")
    for c in report.checks:
        print(f"  check {c.name}: {c.status.value}" + (f" ({c.reason})" if c.reason else ""))
    for f in report.findings:
        print(f"  [{f.severity.value}] {f.rule_id} at {f.location}: {f.text}")


def render_command(args: argparse.Namespace) -> int:
    if args.html is None and args.pdf is None:
        _err("nothing to do: give --html OUT and/or --pdf OUT")
        return 2
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        _err(f"{args.file}: cannot read: {exc.strerror or exc}")
        return 2
    try:
        data = ubl.parse_sbd(data).payload
    except ubl.SbdhError:
        pass
    try:
        doc = ubl.parse_document(data).document
    except ubl.DocumentError as exc:
        _err(f"{args.file}: {exc}")
        return 2
    if args.html is not None:
        args.html.write_text(ubl.render_html(doc), encoding="utf-8")
        print(f"HTML written to {args.html}")
    if args.pdf is not None:
        font = args.font or next((Path(f) for f in _PDF_FONTS if Path(f).is_file()), None)
        choice = ubl.choose_pdf(doc, ubl.EmbeddedPdfPolicy(args.embedded_pdf), font_path=font)
        if choice.data is None:
            print("no PDF written: the document embeds none and --embedded-pdf never forbids generating one")
        else:
            args.pdf.write_bytes(choice.data)
            print(f"PDF ({choice.source}) written to {args.pdf}")
    return 0


def rules_install_command(args: argparse.Namespace) -> int:
    import httpx2

    version = args.version or DEFAULT_VERSION[args.name]
    url, pinned = RELEASES[args.name].get(version, (None, None))
    url = args.url or url
    sha256 = args.sha256 or pinned
    if url is None:
        _err(f"no known release {args.name} {version}: give --url and --sha256")
        return 2
    if not sha256:
        _err(f"no pinned SHA-256 for {args.name} {version}: verify the archive with its publisher and pass --sha256")
        return 2
    dest = args.dest or rules_cache.cache_dir() / args.name
    try:
        with httpx2.Client(timeout=httpx2.Timeout(60.0), follow_redirects=True) as client:
            response = client.get(url)
            response.raise_for_status()
            archive = response.content
    except httpx2.HTTPError as exc:
        _err(f"download of {url} failed: {exc}")
        return 2
    try:
        ubl.install_rules(archive, expected_sha256=sha256, destination=dest)
    except ubl.RulesError as exc:
        _err(str(exc))
        return 2
    print(f"installed {args.name} {version} into {dest}")
    try:
        for rule_set in ubl.discover_rule_sets(dest):
            print(f"  rule set {rule_set.label}: {', '.join(p.name for p in rule_set.stylesheets)}")
    except ubl.RulesError:
        pass
    return 0
