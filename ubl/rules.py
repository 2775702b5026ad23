"""Official rule sets: finding them in a rules directory, and installing a release.

The official artefacts (compiled Schematron XSLT of CEN EN 16931, Peppol BIS
Billing, MLS, reporting, national CIUS) are not copied into this repository:
they are found in a configured directory, laid out like phive-rules
(`openpeppol-2026.5/xslt/CEN-EN16931-UBL.xslt`...), or unpacked there by
`install_rules` from a release archive whose SHA-256 is pinned.

A rule set is a named list of stylesheets plus a predicate saying which
documents it applies to. Known file names are recognised anywhere below the
directory; any other `*.xslt` becomes a rule set named after its file stem, used
only when selected by name, so new rule sets (reporting, a new CIUS) need no code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UblError

__all__ = [
    "DocumentKind",
    "RuleSet",
    "RulesError",
    "discover_rule_sets",
    "install_rules",
]


class RulesError(UblError):
    """A rules directory or a rules archive cannot be used."""


@dataclass(frozen=True, slots=True)
class DocumentKind:
    """What a rule set needs to know to decide whether it applies."""

    namespace: str
    local_name: str
    customization_id: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    name: str
    version: str
    stylesheets: tuple[Path, ...]
    applies_to: Callable[[DocumentKind], bool] = dataclasses.field(compare=False, repr=False)
    #: Applied automatically to documents it applies to (otherwise only when selected by name).
    automatic: bool = True

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}".strip()


_UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
_BILLING_ROOTS = {(_UBL + "Invoice-2", "Invoice"), (_UBL + "CreditNote-2", "CreditNote")}


def _billing(doc: DocumentKind) -> bool:
    return (doc.namespace, doc.local_name) in _BILLING_ROOTS


def _selfbilling(doc: DocumentKind) -> bool:
    return _billing(doc) and ":selfbilling:" in doc.customization_id


def _nlcius(doc: DocumentKind) -> bool:
    return _billing(doc) and "urn:fdc:nen.nl:nlcius:" in doc.customization_id


def _peppol_billing(doc: DocumentKind) -> bool:
    # Every other Invoice/CreditNote goes through BIS Billing: a Peppol AP must
    # refuse what BIS refuses, and BIS names a wrong CustomizationID itself (R004).
    return _billing(doc) and not _selfbilling(doc) and not _nlcius(doc)


def _mls(doc: DocumentKind) -> bool:
    return doc.local_name == "ApplicationResponse" and doc.customization_id.startswith("urn:peppol:edec:mls")


def _root(local: str) -> Callable[[DocumentKind], bool]:
    return lambda doc: doc.local_name == local


# (name, file patterns that must all be present in one folder, predicate, automatic)
_KNOWN: tuple[tuple[str, tuple[str, ...], Callable[[DocumentKind], bool], bool], ...] = (
    ("bis-billing", ("CEN-EN16931-UBL.xslt", "PEPPOL-EN16931-UBL.xslt"), _peppol_billing, True),
    ("bis-selfbilling", ("CEN-EN16931-UBL.xslt", "PEPPOL-EN16931-UBL-SB.xslt"), _selfbilling, True),
    ("en16931", ("EN16931-UBL-validation.xslt",), _billing, False),
    ("nl-si-ubl", ("si-ubl-*.xslt",), _nlcius, True),
    ("mls", ("peppol-mls-*.xslt",), _mls, True),
    ("tsr", ("peppol-transaction-statistics-reporting-*.xslt",), _root("TransactionStatisticsReport"), True),
    ("eusr", ("peppol-end-user-statistics-reporting-*.xslt",), _root("EndUserStatisticsReport"), True),
)
_VERSION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)+)")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _version_of(folder: Path, files: Iterable[Path]) -> str:
    for name in [*(f.stem for f in files), folder.name, folder.parent.name]:
        m = _VERSION_RE.search(name)
        if m:
            return m.group(1)
    return ""


def discover_rule_sets(directory: Path) -> list[RuleSet]:
    """All rule sets found below `directory`, newest version first within a name.

    Raises RulesError if the directory does not exist.
    """
    if not directory.is_dir():
        raise RulesError(f"rules directory {directory} does not exist")
    found: list[RuleSet] = []
    claimed: set[Path] = set()
    folders = sorted({p.parent for p in directory.rglob("*.xslt")})
    for folder in folders:
        for name, patterns, predicate, automatic in _KNOWN:
            matches = [sorted(folder.glob(p)) for p in patterns]
            if not all(matches):
                continue
            if len(matches) == 1 and len(matches[0]) > 1:
                # several versions side by side (si-ubl-2.0.3.2 and 2.0.3.13): one set each
                for path in matches[0]:
                    found.append(RuleSet(name, _version_of(folder, [path]), (path,), predicate, automatic))
                    claimed.add(path)
                continue
            files = tuple(m[0] for m in matches)
            found.append(RuleSet(name, _version_of(folder, files), files, predicate, automatic))
            claimed.update(files)
    for path in sorted(directory.rglob("*.xslt")):
        if path not in claimed:
            found.append(RuleSet(path.stem, "", (path,), lambda doc: True, automatic=False))
    found.sort(key=lambda r: (r.name, [-v for v in _version_key(r.version)]))
    return found


# --- installing a release --------------------------------------------------------------------

#: Limits for unpacking a downloaded archive (a hostile archive must not fill the disk).
MAX_ARCHIVE_FILES = 5_000
MAX_UNPACKED_BYTES = 500 * 1024 * 1024


def install_rules(archive: bytes, *, expected_sha256: str, destination: Path) -> Path:
    """Check `archive` against the pinned SHA-256 and unpack it (a zip or jar) into `destination`.

    Only regular files are written, never outside `destination` (no absolute paths,
    no `..`, no links). The unpacked tree is written next to `destination` and moved
    into place only when complete, so a failed install leaves the old rules intact.
    Raises RulesError on a hash mismatch, a broken or hostile archive, or one with no XSLT.
    """
    digest = hashlib.sha256(archive).hexdigest()
    if digest != expected_sha256.strip().lower():
        raise RulesError(f"SHA-256 mismatch: archive is {digest}, expected {expected_sha256.strip().lower()}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise RulesError(f"not a zip archive: {exc}") from None
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_ARCHIVE_FILES:
        raise RulesError(f"archive has {len(infos)} files, more than {MAX_ARCHIVE_FILES}")
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise RulesError("archive unpacks to more than the size limit")
    staging = destination.with_name(destination.name + ".partial")
    _remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        for info in infos:
            rel = PurePosixPath(info.filename)
            if rel.is_absolute() or ".." in rel.parts or not rel.parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise RulesError(f"unsafe path in archive: {info.filename!r}")
            target = staging.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src:
                data = src.read(MAX_UNPACKED_BYTES + 1)
            if len(data) != info.file_size:
                raise RulesError(f"{info.filename}: size does not match the archive directory")
            target.write_bytes(data)
        if not any(staging.rglob("*.xslt")):
            raise RulesError("archive contains no XSLT rule files")
        _remove_tree(destination)
        staging.rename(destination)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        _remove_tree(staging)
        raise RulesError(f"cannot unpack archive: {exc}") from None
    except RulesError:
        _remove_tree(staging)
        raise
    return destination


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
