"""Validation against the official material: examples, the collector's oracle, the
upstream Schematron unit tests, the Dutch SI-UBL set, and the failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import TESTDATA
from ubl import CheckStatus, DocumentError, RulesError, Severity, Validator

VEFA = "http://difi.no/xsd/vefa/validator/1.0"
PHIVE = TESTDATA / "phive-rules"


@pytest.fixture(scope="session")
def v2026(testdata: Path) -> Validator:
    return Validator(rules_dir=testdata / "phive-rules" / "openpeppol-2026.5", xsd_dir=testdata / "ubl-2.1" / "xsd")


@pytest.fixture(scope="session")
def v2025(testdata: Path) -> Validator:
    return Validator(rules_dir=testdata / "phive-rules" / "openpeppol-2025.11", xsd_dir=testdata / "ubl-2.1" / "xsd")


@pytest.fixture(scope="session")
def vcen(testdata: Path) -> Validator:
    return Validator(rules_dir=testdata / "en16931-cen" / "ubl" / "xslt", select=["en16931"])


@pytest.fixture(scope="session")
def vall(testdata: Path) -> Validator:
    """Everything in phive-rules: BIS (newest), self-billing, MLS, reporting, NL."""
    return Validator(rules_dir=testdata / "phive-rules", xsd_dir=testdata / "ubl-2.1" / "xsd")


def _official() -> list[str]:
    groups = [
        "peppol-bis-invoice-3/examples/*.xml",
        "phive-rules/openpeppol-2026.5/test-files/billing/*.xml",
        "phive-rules/openpeppol-2026.5/test-files/SB-*.xml",
        "phive-rules/mls-1.0.1/test-files/*.xml",
        "phive-rules/reporting/*/test-files/*.xml",
    ]
    return sorted(str(p.relative_to(TESTDATA)) for g in groups for p in TESTDATA.glob(g)) or ["missing"]


@pytest.mark.parametrize("rel", _official())
def test_official_examples_have_no_fatal_finding(vall: Validator, testdata: Path, rel: str) -> None:
    report = vall.validate((testdata / rel).read_bytes())
    rules_fatal = [(f.rule_id, f.text) for f in report.fatal if f.check != "xsd"]
    assert rules_fatal == []
    if "mls-1.0.1" not in rel:  # three MLS samples pad their dates with spaces: XSD-invalid upstream
        assert report.valid, report.fatal
    ran = [c for c in report.checks if c.status is CheckStatus.PASSED and c.name != "xsd"]
    assert ran, report.checks  # a rule set really ran: nothing passed by being skipped


def test_greek_national_examples_fail_the_xsd(v2026: Validator, testdata: Path) -> None:
    files = sorted((testdata / "peppol-bis-invoice-3" / "national-examples" / "GR").glob("*.xml"))
    assert files
    for path in files:
        report = v2026.validate(path.read_bytes())
        assert not report.valid
        xsd = next(c for c in report.checks if c.name == "xsd")
        assert xsd.status is CheckStatus.FAILED
        assert any(f.rule_id == "XSD" and f.severity is Severity.FATAL and f.location.startswith("line ")
                   for f in report.findings)


def _reference() -> list[tuple[str, dict]]:
    path = TESTDATA / "reference-results" / "ubl-validation-results.json"
    if not path.exists():
        return [("missing", {})]
    return sorted(json.loads(path.read_text())["results"].items())


@pytest.mark.parametrize("rel, expected", _reference())
def test_reference_rule_ids_are_reproduced(v2026, v2025, vcen, testdata: Path, rel: str, expected: dict) -> None:
    data = (testdata / rel).read_bytes()
    report = v2026.validate(data)
    xsd = next(c for c in report.checks if c.name == "xsd")
    assert (xsd.status is CheckStatus.PASSED) == expected["xsd_valid"]
    for key, validator in (("peppol_2026.5", v2026), ("peppol_2025.11", v2025), ("en16931_cen_1.3.16", vcen)):
        if key not in expected:
            continue
        rep = report if validator is v2026 else validator.validate(data, xsd=False)
        rules = [f for f in rep.findings if f.check != "xsd"]
        got = {
            "fatal": sorted({f.rule_id for f in rules if f.severity is Severity.FATAL}),
            "warning": sorted({f.rule_id for f in rules if f.severity is Severity.WARNING}),
        }
        assert got == {k: sorted(expected[key][k]) for k in ("fatal", "warning")}, key


def test_rule_version_matters(v2026, v2025, testdata: Path) -> None:
    data = (testdata / "phive-rules/openpeppol-2026.5/test-files/billing/base-example_profile02.xml").read_bytes()
    assert v2026.validate(data).valid
    old = v2025.validate(data)
    assert "PEPPOL-EN16931-R007" in old.rule_ids(Severity.FATAL) and not old.valid


# --- upstream Schematron unit tests ---------------------------------------------------------------


def _unit_files(pattern: str) -> list[str]:
    return sorted(str(p.relative_to(TESTDATA)) for p in TESTDATA.glob(pattern)) or ["missing"]


def _run_unit_file(validator: Validator, path: Path) -> tuple[int, list[tuple[int, str, str, str]]]:
    """Run every <test> of a vefa testSet; (number of tests, failures)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(path), parser).getroot()
    failures = []
    tests = root.findall(f"{{{VEFA}}}test")
    for n, test in enumerate(tests):  # 0-based, as the reference results count
        doc = next(c for c in test if isinstance(c.tag, str) and etree.QName(c).namespace != VEFA)
        report = validator.validate_element(doc, xsd=False)
        assert all(c.status is not CheckStatus.ERROR for c in report.checks), report.checks
        fired: dict[str, set[str]] = {}
        for f in report.findings:
            fired.setdefault(f.rule_id, set()).add(f.severity.value)
        for exp in test.find(f"{{{VEFA}}}assert"):
            kind, rule = etree.QName(exp).localname, (exp.text or "").strip()
            if kind == "success":
                ok = rule not in fired
            elif kind in ("error", "fatal"):
                ok = "fatal" in fired.get(rule, set())
            elif kind == "warning":
                ok = "warning" in fired.get(rule, set())
            else:
                continue
            if not ok:
                failures.append((n, kind, rule, str(sorted(fired.get(rule, set())))))
    return len(tests), failures


@pytest.mark.slow
@pytest.mark.parametrize("rel", _unit_files("peppol-bis-invoice-3/unit-UBL-*/*.xm*"))
def test_bis_unit_tests_with_3_0_20(v2025, testdata: Path, rel: str) -> None:
    count, failures = _run_unit_file(v2025, testdata / rel)
    assert failures == [] and (count or "commented out" in (testdata / rel).read_text())


def test_bis_unit_tests_with_3_0_21_differ_only_where_dk_r_003_became_fatal(v2026, testdata: Path) -> None:
    """3.0.21 made DK-R-003 fatal; the oracle lists the 3 unit tests that now disagree."""
    runs = json.loads((testdata / "reference-results" / "schematron-unit-test-results.json").read_text())["runs"]
    run = next(v for k, v in runs.items() if "2026.5" in k and "unit-UBL-*" in k)
    expected = [(f[1], kind, rule, str(sorted(f[3][rule])))
                for f in run["peppol-bis-invoice-3/unit-UBL-DK"]["fails"] for kind, rule in f[2]]
    count, failures = _run_unit_file(v2026, testdata / "peppol-bis-invoice-3/unit-UBL-DK/DK_Validation_DKR003.xml")
    assert failures == expected and len(expected) == 3


@pytest.mark.slow
@pytest.mark.parametrize("rel", _unit_files("en16931-cen/test/*-unit-UBL/*.xml"))
def test_cen_unit_tests(vcen, testdata: Path, rel: str) -> None:
    count, failures = _run_unit_file(vcen, testdata / rel)
    assert failures == [] and (count or "commented out" in (testdata / rel).read_text())


def test_unit_test_counts_match_upstream(testdata: Path) -> None:
    bis = sum(len(etree.parse(str(p)).getroot().findall(f"{{{VEFA}}}test"))
              for p in testdata.glob("peppol-bis-invoice-3/unit-UBL-*/*.xm*"))
    cen = sum(len(etree.parse(str(p)).getroot().findall(f"{{{VEFA}}}test"))
              for p in testdata.glob("en16931-cen/test/*-unit-UBL/*.xml"))
    assert (bis, cen) == (543, 1131)


# --- Dutch SI-UBL 2.0 -------------------------------------------------------------------------------


def _nl_files() -> list[str]:
    return _unit_files("phive-rules/nl-si-ubl-2.0/test-files-2.0.3.2/*.xml")


@pytest.fixture(scope="session")
def nl_reference() -> dict:
    return json.loads((TESTDATA / "reference-results" / "nl-si-ubl-results.json").read_text())["results"]


@pytest.mark.parametrize("rel", _nl_files())
def test_nl_si_ubl_files_match_their_names(vall, nl_reference, testdata: Path, rel: str) -> None:
    data = (testdata / rel).read_bytes()
    name = Path(rel).name
    outcome = "error" if "_error" in name else "warning" if "_warning" in name else "ok"
    old = Validator(rule_sets=vall.rule_sets, select=["nl-si-ubl@2.0.3.2"]).validate(data, xsd=False)
    assert (not old.valid) == (outcome == "error"), name
    if outcome == "warning":
        assert old.warnings
    expected = nl_reference[rel]["si-ubl-2.0.3.2"]
    assert sorted(old.rule_ids(Severity.FATAL)) == sorted(expected["fatal"])
    assert sorted(old.rule_ids(Severity.WARNING)) == sorted(expected["warning"])
    new = Validator(rule_sets=vall.rule_sets, select=["nl-si-ubl"]).validate(data, xsd=False)  # newest
    assert [c.name for c in new.checks] == ["nl-si-ubl 2.0.3.13"]
    if b"nlcius" in data:  # chosen automatically from the CustomizationID
        assert [c.name for c in vall.validate(data, xsd=False).checks] == ["nl-si-ubl 2.0.3.13"]
    if "error_multiple_legalentity_registrationname" in name:
        # the 2.0.3.13 stylesheet throws XPTY0004 here: an error finding, not a crash
        assert new.checks[0].status is CheckStatus.ERROR and not new.valid
        assert new.rule_ids() == {"RULES-ERROR"}
    else:
        assert sorted(new.rule_ids(Severity.FATAL)) == sorted(nl_reference[rel]["si-ubl-2.0.3.13"]["fatal"])


# --- failure modes ----------------------------------------------------------------------------------


def test_checks_that_cannot_run_are_skipped_not_passed(testdata: Path) -> None:
    data = (testdata / "peppol-bis-invoice-3/examples/base-example.xml").read_bytes()
    report = Validator().validate(data)
    assert [(c.name, c.status) for c in report.checks] == [("xsd", CheckStatus.SKIPPED), ("rules", CheckStatus.SKIPPED)]
    assert all(c.reason for c in report.checks)
    order = (testdata / "ubl-2.1/xml/UBL-Invoice-2.1-Example.xml").read_bytes().replace(b"Invoice", b"Order")
    report = Validator(rules_dir=PHIVE / "openpeppol-2026.5", xsd_dir=testdata / "ubl-2.1/xsd").validate(order)
    assert report.checks[-1].status is CheckStatus.SKIPPED and "no rule set" in report.checks[-1].reason


def test_unreadable_documents_raise_document_error(v2026) -> None:
    for data in (b"", b"not xml", b'<!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>'):
        with pytest.raises(DocumentError):
            v2026.validate(data)


def test_unknown_rule_set_and_directory(testdata: Path) -> None:
    with pytest.raises(RulesError):
        Validator(rules_dir=testdata / "nope")
    with pytest.raises(RulesError):
        Validator(rules_dir=PHIVE / "openpeppol-2026.5", select=["no-such-rules"])


def test_broken_stylesheet_is_an_error_check(tmp_path: Path, testdata: Path) -> None:
    (tmp_path / "broken.xslt").write_text("<xsl:stylesheet xmlns:xsl='http://www.w3.org/1999/XSL/Transform' version='2.0'><xsl:template match='/'><xsl:value-of select='1 +'/></xsl:template></xsl:stylesheet>")
    report = Validator(rules_dir=tmp_path, select=["broken"]).validate(
        (testdata / "peppol-bis-invoice-3/examples/base-example.xml").read_bytes(), xsd=False)
    assert report.checks[0].status is CheckStatus.ERROR and not report.valid
