"""Rule-set discovery and installing a rules archive with a pinned SHA-256."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from ubl import DocumentKind, RulesError, discover_rule_sets, install_rules

INV = DocumentKind("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "Invoice",
                   "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0")


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_discovery_in_phive_layout(testdata: Path) -> None:
    sets = discover_rule_sets(testdata / "phive-rules")
    labels = [s.label for s in sets]
    assert labels.index("bis-billing 2026.5") < labels.index("bis-billing 2025.11")  # newest first
    for label in ("bis-selfbilling 2026.5", "mls 1.0.1", "tsr 1.0.5", "eusr 1.1.5", "nl-si-ubl 2.0.3.13", "nl-si-ubl 2.0.3.2"):
        assert label in labels
    bis = sets[labels.index("bis-billing 2026.5")]
    assert [p.name for p in bis.stylesheets] == ["CEN-EN16931-UBL.xslt", "PEPPOL-EN16931-UBL.xslt"]
    assert bis.applies_to(INV)
    sb = sets[labels.index("bis-selfbilling 2026.5")]
    assert not sb.applies_to(INV)
    assert sb.applies_to(DocumentKind(INV.namespace, INV.local_name, "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0"))


def test_unknown_stylesheets_become_named_sets(tmp_path: Path) -> None:
    (tmp_path / "my-rules-1.2.xslt").write_text("<x/>")
    (sets,) = discover_rule_sets(tmp_path)
    assert sets.name == "my-rules-1.2" and not sets.automatic


def test_install_checks_hash_and_unpacks(tmp_path: Path) -> None:
    archive = _zip({"rules/openpeppol/xslt/CEN-EN16931-UBL.xslt": b"<a/>",
                    "rules/openpeppol/xslt/PEPPOL-EN16931-UBL.xslt": b"<b/>"})
    sha = hashlib.sha256(archive).hexdigest()
    dest = install_rules(archive, expected_sha256=sha.upper(), destination=tmp_path / "v1")
    assert (dest / "rules/openpeppol/xslt/CEN-EN16931-UBL.xslt").read_bytes() == b"<a/>"
    assert [s.name for s in discover_rule_sets(dest)] == ["bis-billing"]
    # reinstall replaces the old tree
    archive2 = _zip({"x/PEPPOL-EN16931-UBL.xslt": b"<c/>"})
    install_rules(archive2, expected_sha256=hashlib.sha256(archive2).hexdigest(), destination=dest)
    assert not (dest / "rules").exists() and (dest / "x/PEPPOL-EN16931-UBL.xslt").exists()


@pytest.mark.parametrize(
    "files, message",
    [
        ({"../evil.xslt": b"x"}, "unsafe path"),
        ({"/abs/evil.xslt": b"x"}, "unsafe path"),
        ({"readme.txt": b"x"}, "no XSLT"),
    ],
)
def test_install_refuses_hostile_or_empty_archives(tmp_path: Path, files: dict, message: str) -> None:
    archive = _zip(files)
    with pytest.raises(RulesError, match=message):
        install_rules(archive, expected_sha256=hashlib.sha256(archive).hexdigest(), destination=tmp_path / "d")
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.partial").exists()
    assert not (tmp_path.parent / "evil.xslt").exists()


def test_install_refuses_wrong_hash_and_non_zip(tmp_path: Path) -> None:
    archive = _zip({"a.xslt": b"<a/>"})
    old = tmp_path / "d"
    old.mkdir()
    (old / "keep.xslt").write_text("<k/>")
    with pytest.raises(RulesError, match="SHA-256 mismatch"):
        install_rules(archive, expected_sha256="0" * 64, destination=old)
    assert (old / "keep.xslt").exists()  # the installed rules are untouched
    with pytest.raises(RulesError, match="not a zip"):
        install_rules(b"junk", expected_sha256=hashlib.sha256(b"junk").hexdigest(), destination=old)
