"""The packaged ICD table matches the official Peppol code list."""

from __future__ import annotations

import datetime as dt

from lxml import etree

import ubl


def test_table_matches_official_code_list(testdata) -> None:
    path = testdata / "peppol-commons" / "codelists" / "Peppol Code Lists - Participant identifier schemes v9.7.xml"
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    official = {
        e.get("iso6523"): (e.get("schemeid"), e.get("country"), e.get("state"), e.get("removal-date"))
        for e in root
    }
    ours = {
        s.icd: (s.scheme_id, s.country, s.state, s.removal_date.isoformat() if s.removal_date else None)
        for s in ubl.icd_schemes().values()
    }
    assert ours == official
    assert root.get("version") == ubl.ICD_CODE_LIST_VERSION
    assert len(ours) == int(root.get("entry-count"))


def test_well_known_rows() -> None:
    assert ubl.lookup_icd("0088").scheme_id == "GLN"
    assert ubl.lookup_icd("0208").scheme_id == "BE:EN"
    assert ubl.lookup_icd("9925").country == "BE"
    assert ubl.lookup_icd("9954").state == "removed"
    assert not ubl.lookup_icd("9954").usable_on(None)
    assert ubl.lookup_icd("0193").usable_on(dt.date(2026, 1, 1))
    assert ubl.lookup_icd("9999") is None
