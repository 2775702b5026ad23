"""TSR and EUSR from the transaction log, checked with the official Peppol Reporting rules (phive-rules)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

import ubl
from accesspoint.db.tables.documents import Transaction
from accesspoint.reporting import Record, build_eusr, build_tsr, load_records, month_period
from tests.accesspoint.helpers import make_sessions

INVOICE = str(ubl.BIS_BILLING_INVOICE)
CREDIT = str(ubl.BIS_BILLING_CREDIT_NOTE)
PROCESS = str(ubl.BIS_BILLING_PROCESS)
MLS = ("busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::"
       "ApplicationResponse##urn:peppol:edec:mls:1.0::2.1")
TP = "peppol-transport-as4-v2_0"

RECORDS = [
    Record("out", "business", "PBE000002", INVOICE, PROCESS, TP, "iso6523-actorid-upis::0208:0123456749", "BE"),
    Record("out", "business", "PBE000002", INVOICE, PROCESS, TP, "iso6523-actorid-upis::0208:0123456749", "BE", "BE"),
    Record("out", "business", "PNL000003", CREDIT, PROCESS, TP, "iso6523-actorid-upis::0106:12345678", "NL"),
    Record("in", "business", "PBE000002", INVOICE, PROCESS, TP, "iso6523-actorid-upis::0208:0123456749", "BE"),
    Record("in", "business", "PDE000004", INVOICE, PROCESS, TP, "iso6523-actorid-upis::0208:0987654321", "ZZ"),
    Record("in", "mls", "PBE000002", MLS, "cenbii-procid-ubl::urn:peppol:edec:mls", TP,
           "iso6523-actorid-upis::0242:000001", "BE"),
]


@pytest.fixture(scope="module")
def rules(testdata):
    reporting = testdata / "phive-rules" / "reporting"
    validator = ubl.Validator(rules_dir=reporting)
    schemas = {
        "tsr": etree.XMLSchema(etree.parse(str(reporting / "xsd" / "peppol-transaction-statistics-reporting-1.0.1.xsd"))),
        "eusr": etree.XMLSchema(etree.parse(str(reporting / "xsd" / "peppol-end-user-statistics-reporting-1.1.xsd"))),
    }
    return validator, schemas


def check(rules, kind: str, xml: bytes) -> None:
    validator, schemas = rules
    schema = schemas[kind]
    assert schema.validate(etree.fromstring(xml)), schema.error_log
    report = validator.validate(xml, xsd=False)
    ran = [c for c in report.checks if c.status.value != "skipped"]
    assert ran, "the reporting rule set did not run"
    assert report.valid, [f"{f.rule_id}: {f.text}" for f in report.fatal]


@pytest.mark.parametrize("records", [RECORDS, []], ids=["traffic", "empty-month"])
def test_tsr_and_eusr_pass_the_official_rules(rules, records):
    period = month_period("2026-11")
    check(rules, "tsr", build_tsr(records, period, "PBE000001"))
    check(rules, "eusr", build_eusr(records, period, "PBE000001"))


def test_counts_follow_the_reporting_rules():
    period = month_period("2026-11")
    ns = {"t": "urn:fdc:peppol:transaction-statistics-report:1.0", "e": "urn:fdc:peppol:end-user-statistics-report:1.1"}
    tsr = etree.fromstring(build_tsr(RECORDS + [Record("out", "report", "PBE000009", INVOICE, PROCESS, TP, "x", "BE")],
                                     period, "PBE000001"))
    assert tsr.findtext("t:Total/t:Incoming", namespaces=ns) == "3"  # MLS counted, the report itself not
    assert tsr.findtext("t:Total/t:Outgoing", namespaces=ns) == "3"
    eusr = etree.fromstring(build_eusr(RECORDS, period, "PBE000001"))
    assert eusr.findtext("e:FullSet/e:SendingEndUsers", namespaces=ns) == "2"  # distinct, not messages
    assert eusr.findtext("e:FullSet/e:ReceivingEndUsers", namespaces=ns) == "2"  # MLS not counted
    assert eusr.findtext("e:FullSet/e:SendingOrReceivingEndUsers", namespaces=ns) == "3"


def test_a_broken_report_is_caught_by_the_rules(rules):
    tsr = build_tsr(RECORDS, month_period("2026-11"), "PBE000001").replace(b"<Incoming>3</Incoming>",
                                                                        b"<Incoming>4</Incoming>", 1)
    report = rules[0].validate(tsr, xsd=False)
    assert not report.valid


@pytest.mark.db
def test_records_come_from_the_transaction_log_of_that_month(database_url):
    engine, sessions = make_sessions(database_url)
    with sessions.begin() as s:
        for day, direction in ((31, "out"), (1, "in")):
            month = 10 if day == 31 else 11
            s.add(Transaction(at=datetime(2026, month, day, 23 if day == 31 else 0, 30, tzinfo=UTC),
                              direction=direction, kind="business", other_seat_id="PBE000002",
                              document_type_id=INVOICE, process_id=PROCESS, transport_profile=TP,
                              end_user_id="iso6523-actorid-upis::0208:0123456749", c1_country="BE",
                              c4_country="NL", instance_identifier="x"))
    records = load_records(sessions, month_period("2026-11"))
    assert [(r.direction, r.end_user_country) for r in records] == [("in", "NL")]
    engine.dispose()
