"""The trimmed official stylesheets find exactly what the shipped ones find.

`ubl._svrl_trim` removes the Schematron trace (fired-rule, active-pattern walks),
the attribute visits of patterns that have no rule for attributes, and starts
patterns whose rules all name their element on just those elements, before
compiling, for speed. Here the shipped stylesheet (compiled straight from
its file) and ours run on official documents that fail many rules, and every
finding must agree, in the same order: rule id, flag, location, test and text. (The full corpus,
8,792 document/stylesheet runs, was compared the same way when this was written.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ubl import _xslt
from ubl._svrl_trim import _cannot_match_attributes, select_rule_candidates, skip_attribute_visits, trim_svrl_trace

SVRL = "http://purl.oclc.org/dsdl/svrl"
VEFA = "http://difi.no/xsd/vefa/validator/1.0"
XSL = "http://www.w3.org/1999/XSL/Transform"


def _findings(executable, node) -> list[tuple[str, ...]]:
    out = etree.fromstring(executable.transform_to_string(xdm_node=node).encode())
    return [  # in output order: the rewrites keep the order of findings too
        (etree.QName(e).localname, e.get("id") or "", e.get("flag") or "", e.get("location") or "",
         e.get("test") or "", " ".join("".join(e.itertext()).split()))
        for e in out.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report")
    ]


def _unit_documents(path: Path) -> list[str]:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)).getroot()
    return [
        etree.tostring(next(c for c in t if isinstance(c.tag, str) and etree.QName(c).namespace != VEFA), encoding="unicode")
        for t in root.findall(f"{{{VEFA}}}test")
    ]


@pytest.mark.parametrize("stylesheet", ["CEN-EN16931-UBL.xslt", "PEPPOL-EN16931-UBL.xslt"])
def test_trimmed_stylesheet_finds_what_the_shipped_one_finds(testdata: Path, stylesheet: str) -> None:
    path = testdata / "phive-rules" / "openpeppol-2026.5" / "xslt" / stylesheet
    processor, _ = _xslt._saxon()
    shipped = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))
    trimmed = _xslt.compile_stylesheet(path)
    documents = [p.read_text() for p in sorted((testdata / "peppol-bis-invoice-3" / "examples").glob("*.xml"))[:4]]
    for unit in ("peppol-bis-invoice-3/unit-UBL-PEPPOL/PEPPOL-COMMON-R040.xml",
                 "peppol-bis-invoice-3/unit-UBL-PEPPOL/PEPPOL-EN16931-R040.xml",
                 "en16931-cen/test/Invoice-unit-UBL/BR-CO-15.xml",
                 "en16931-cen/test/Invoice-unit-UBL/BR-S-08-1.xml"):
        documents += _unit_documents(testdata / unit)
    found = 0
    for text in documents:
        node = processor.parse_xml(xml_text=text)
        expected = _findings(shipped, node)
        assert _findings(trimmed, node) == expected
        found += len(expected)
    assert found > 0  # the sample does fail rules, so the comparison means something


SKELETON = f"""<xsl:stylesheet xmlns:xsl="{XSL}" xmlns:svrl="{SVRL}" version="2.0">
  <xsl:output indent="yes" method="xml"/>
  <xsl:template match="text()" priority="-1"/>
  <xsl:template match="/">
    <svrl:schematron-output>
      <svrl:active-pattern><xsl:attribute name="id">p</xsl:attribute><xsl:apply-templates/></svrl:active-pattern>
      <xsl:apply-templates mode="M1" select="/"/>
    </svrl:schematron-output>
  </xsl:template>
  <xsl:template match="a" mode="M1" priority="1000">
    <svrl:fired-rule context="a"/>
    <svrl:fired-rule context="a"><xsl:value-of select="."/></svrl:fired-rule>
    <xsl:apply-templates mode="M1" select="@*|*"/>
  </xsl:template>
  EXTRA
</xsl:stylesheet>"""


def _trim(text: str) -> etree._Element:
    root = etree.fromstring(text.encode())
    trim_svrl_trace(root)
    return root


def test_trace_is_removed_and_output_unindented() -> None:
    root = _trim(SKELETON.replace("EXTRA", ""))
    assert root.find(f".//{{{SVRL}}}active-pattern") is None
    fired = root.findall(f".//{{{SVRL}}}fired-rule")
    assert len(fired) == 1 and len(fired[0]) == 1  # the one that computes something stays
    assert root.find(f"{{{XSL}}}output").get("indent") == "no"
    assert root.find(f".//{{{XSL}}}apply-templates[@mode='M1']") is not None


@pytest.mark.parametrize("extra", [
    '<xsl:template match="b"><svrl:failed-assert id="X"/></xsl:template>',  # the unnamed mode outputs
    '<xsl:mode on-no-match="shallow-copy"/>',
    '<xsl:include href="other.xsl"/>',
    '<xsl:template match="c" mode="#all"/>',
])
def test_active_pattern_walk_kept_when_the_unnamed_mode_could_output(extra: str) -> None:
    root = _trim(SKELETON.replace("EXTRA", extra))
    assert root.find(f".//{{{SVRL}}}active-pattern") is not None


def test_default_mode_attribute_keeps_the_walk() -> None:
    root = _trim(SKELETON.replace("EXTRA", "").replace('version="2.0"', 'version="3.0" default-mode="M1"'))
    assert root.find(f".//{{{SVRL}}}active-pattern") is not None


@pytest.mark.parametrize(("pattern", "safe"), [
    ("cbc:EndpointID[@schemeID = '0088'] | cac:PartyIdentification/cbc:ID[@schemeID]", True),
    ("(/ubl-invoice:Invoice | /ubl-creditnote:CreditNote)[$supplierCountryIsDE]", True),
    ("//*[ends-with(name(), 'Amount') and not(ancestor::cac:Price/cac:AllowanceCharge)]", True),
    ("cbc:X[. = ']']/cbc:Y", True),
    ("@schemeID", False),
    ("cac:X/@y", False),
    ("attribute(id)", False),
    ("node()", False),
    (".[. = 'x']", False),
    ("key('k', 'v')", False),
    ("$nodes", False),
])
def test_which_patterns_surely_match_no_attribute(pattern: str, safe: bool) -> None:
    assert _cannot_match_attributes(pattern) is safe


def test_attribute_visits_skipped_only_where_no_rule_wants_them() -> None:
    extra = (
        '<xsl:template match="@*|node()" mode="M1" priority="-2"><xsl:apply-templates mode="M1" select="@*|*"/></xsl:template>'
        '<xsl:template match="b/@id" mode="M2" priority="1000"><svrl:failed-assert id="A"/>'
        '<xsl:apply-templates mode="M2" select="@*|*"/></xsl:template>'
        '<xsl:template match="@*|node()" mode="M2" priority="-2"><xsl:apply-templates mode="M2" select="@*|*"/></xsl:template>'
    )
    root = etree.fromstring(SKELETON.replace("EXTRA", extra).encode())
    assert skip_attribute_visits(root) == 1
    selects = {(a.get("mode"), a.get("select")) for a in root.iter(f"{{{XSL}}}apply-templates") if a.get("mode")}
    assert selects == {("M1", "/"), ("M1", "*"), ("M2", "@*|*")}
    everywhere = etree.fromstring(SKELETON.replace("EXTRA", '<xsl:template match="@x" mode="#all"/>').encode())
    assert skip_attribute_visits(everywhere) == 0


CANDIDATES = f"""<xsl:stylesheet xmlns:xsl="{XSL}" xmlns:svrl="{SVRL}" xmlns:c="urn:c" version="2.0">
  <xsl:template match="/">
    <svrl:schematron-output>
      <xsl:apply-templates mode="M1" select="/"/>
      <xsl:apply-templates mode="M2" select="/"/>
    </svrl:schematron-output>
  </xsl:template>
  <xsl:template match="c:a/c:b[@x] | /c:r/c:d" mode="M1" priority="1001">
    <svrl:failed-assert id="B"/><xsl:apply-templates mode="M1" select="*"/>
  </xsl:template>
  <xsl:template match="(//c:e)[. = 'a|b']" mode="M1" priority="1000">
    <svrl:failed-assert id="E"/><xsl:apply-templates mode="M1" select="*"/>
  </xsl:template>
  <xsl:template match="text()" mode="M1" priority="-1"/>
  <xsl:template match="@*|node()" mode="M1" priority="-2"><xsl:apply-templates mode="M1" select="*"/></xsl:template>
  <xsl:template match="//*[not(*)]" mode="M2" priority="1000">
    <svrl:failed-assert id="W"/><xsl:apply-templates mode="M2" select="*"/>
  </xsl:template>
  <xsl:template match="@*|node()" mode="M2" priority="-2"><xsl:apply-templates mode="M2" select="*"/></xsl:template>
</xsl:stylesheet>"""


def test_patterns_naming_their_elements_start_on_those_elements() -> None:
    root = etree.fromstring(CANDIDATES.encode())
    assert select_rule_candidates(root) == 1
    drivers = {a.get("mode"): a.get("select") for a in root.find(f"{{{XSL}}}template").iter(f"{{{XSL}}}apply-templates")}
    assert drivers == {"M1": "/descendant::Q{urn:c}b | /descendant::Q{urn:c}d | /descendant::Q{urn:c}e", "M2": "/"}
    m1 = [t for t in root.iterchildren(f"{{{XSL}}}template") if t.get("mode") == "M1"]
    assert not [a for t in m1 for a in t.iter(f"{{{XSL}}}apply-templates") if a.get("mode") == "M1"]
    m2 = [t for t in root.iterchildren(f"{{{XSL}}}template") if t.get("mode") == "M2"]
    assert len([a for t in m2 for a in t.iter(f"{{{XSL}}}apply-templates")]) == 2  # wildcard rule: walk kept


def test_candidates_fire_the_same_rules_in_the_same_order() -> None:
    processor, compiler = _xslt._saxon()
    shipped = compiler.compile_stylesheet(stylesheet_text=CANDIDATES)
    root = etree.fromstring(CANDIDATES.encode())
    select_rule_candidates(root)
    ours = compiler.compile_stylesheet(stylesheet_text=etree.tostring(root, encoding="unicode"))
    doc = processor.parse_xml(xml_text=(
        '<r xmlns="urn:c"><a><b x="1"><e>a|b</e></b><b/></a><d/><d><e>a|b</e></d><e>no</e><f><e>a|b</e></f></r>'))
    ids = [(e.get("id")) for e in etree.fromstring(shipped.transform_to_string(xdm_node=doc).encode()).iter(f"{{{SVRL}}}failed-assert")]
    assert ids.count("B") == 3 and ids.count("E") == 3 and "W" in ids
    assert [e.get("id") for e in etree.fromstring(ours.transform_to_string(xdm_node=doc).encode()).iter(f"{{{SVRL}}}failed-assert")] == ids
