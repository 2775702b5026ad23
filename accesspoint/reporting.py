"""Peppol Reporting (protocol.md §4): the monthly TSR and EUSR, built from the transaction log.

`transactions` holds one row per Peppol exchange that got a positive AS4
receipt (C2 outgoing, C3 incoming). `build_tsr` / `build_eusr` are pure:
records and a period in, report XML out. `load_records` is the database edge.

Counting rules (TSR 1.0, EUSR 1.1; peppol-reporting 4.1.5):
- reports themselves are never counted; MLS count in TSR but not in EUSR;
- TSR: totals, and the subtotals per transport profile, per (other service
  provider, document type, process) and, for incoming only (SCH-TSR-43: C2
  cannot know C4's country), per the same plus sender and receiver country;
- EUSR: distinct end users (our C1 when sending, our C4 when receiving) per
  full set, per (document type, process), per (document type, country), per
  (document type, process, country) and per country.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Record", "Period", "build_tsr", "build_eusr", "load_records", "month_period",
           "TSR_NS", "EUSR_NS"]

TSR_NS = "urn:fdc:peppol:transaction-statistics-report:1.0"
EUSR_NS = "urn:fdc:peppol:end-user-statistics-report:1.1"
TSR_CUSTOMIZATION = "urn:fdc:peppol.eu:edec:trns:transaction-statistics-reporting:1.0"
EUSR_CUSTOMIZATION = "urn:fdc:peppol.eu:edec:trns:end-user-statistics-report:1.1"
PROFILE = "urn:fdc:peppol.eu:edec:bis:reporting:1.0"


@dataclass(frozen=True, slots=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive


def month_period(text: str) -> Period:
    """"YYYY-MM" -> the whole month (reports cover calendar months in UTC)."""
    try:
        year, month = (int(p) for p in text.split("-"))
        last = calendar.monthrange(year, month)[1]
        return Period(dt.date(year, month, 1), dt.date(year, month, last))
    except ValueError:
        raise ValueError(f"{text!r} is not a month (YYYY-MM)") from None


@dataclass(frozen=True, slots=True)
class Record:
    direction: str  # "out" | "in"
    kind: str  # "business" | "mls" | "report"
    other_seat_id: str
    document_type_id: str  # scheme::value
    process_id: str  # scheme::value
    transport_profile: str
    end_user_id: str
    end_user_country: str
    #: C1's country (SBDH COUNTRY_C1) and C4's (known to C3 only; ZZ = unknown).
    sender_country: str = "ZZ"
    receiver_country: str = "ZZ"


def _split(identifier: str) -> tuple[str, str]:
    scheme, sep, value = identifier.partition("::")
    return (scheme, value) if sep else ("", identifier)


def _el(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", **attrs)
    if text is not None:
        el.text = text
    return el


def _header(root: etree._Element, ns: str, customization: str, period: Period, reporter: str) -> None:
    _el(root, ns, "CustomizationID", customization)
    _el(root, ns, "ProfileID", PROFILE)
    header = _el(root, ns, "Header")
    rp = _el(header, ns, "ReportPeriod")
    _el(rp, ns, "StartDate", period.start.isoformat())
    _el(rp, ns, "EndDate", period.end.isoformat())
    _el(header, ns, "ReporterID", reporter, schemeID="CertSubjectCN")


def build_tsr(records: Iterable[Record], period: Period, reporter_seat_id: str) -> bytes:
    """The Transaction Statistics Report for `period`."""
    counted = [r for r in records if r.kind != "report"]
    root = etree.Element(f"{{{TSR_NS}}}TransactionStatisticsReport", nsmap={None: TSR_NS})
    _header(root, TSR_NS, TSR_CUSTOMIZATION, period, reporter_seat_id)

    def counts(rows: Iterable[Record]) -> tuple[int, int]:
        rows = list(rows)
        return sum(r.direction == "in" for r in rows), sum(r.direction == "out" for r in rows)

    def totals(parent: etree._Element, rows: Iterable[Record]) -> None:
        incoming, outgoing = counts(rows)
        _el(parent, TSR_NS, "Incoming", str(incoming))
        _el(parent, TSR_NS, "Outgoing", str(outgoing))

    totals(_el(root, TSR_NS, "Total"), counted)
    per_tp: dict[str, list[Record]] = defaultdict(list)
    per_sp: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    per_cc: dict[tuple[str, str, str, str, str], list[Record]] = defaultdict(list)
    for r in counted:
        per_tp[r.transport_profile].append(r)
        per_sp[(r.other_seat_id, r.document_type_id, r.process_id)].append(r)
        if r.direction == "in":  # SCH-TSR-43: countries are C3-side data; outgoing stays 0
            per_cc[(r.other_seat_id, r.document_type_id, r.process_id, r.sender_country,
                    r.receiver_country)].append(r)
    for tp in sorted(per_tp):
        sub = _el(root, TSR_NS, "Subtotal", type="PerTP")
        _el(sub, TSR_NS, "Key", tp, metaSchemeID="TP", schemeID="Peppol")
        totals(sub, per_tp[tp])
    for sp, doctype, process in sorted(per_sp):
        sub = _el(root, TSR_NS, "Subtotal", type="PerSP-DT-PR")
        _el(sub, TSR_NS, "Key", sp, metaSchemeID="SP", schemeID="CertSubjectCN")
        scheme, value = _split(doctype)
        _el(sub, TSR_NS, "Key", value, metaSchemeID="DT", schemeID=scheme)
        scheme, value = _split(process)
        _el(sub, TSR_NS, "Key", value, metaSchemeID="PR", schemeID=scheme)
        totals(sub, per_sp[(sp, doctype, process)])
    for sp, doctype, process, c1, c4 in sorted(per_cc):
        sub = _el(root, TSR_NS, "Subtotal", type="PerSP-DT-PR-CC")
        _el(sub, TSR_NS, "Key", sp, metaSchemeID="SP", schemeID="CertSubjectCN")
        scheme, value = _split(doctype)
        _el(sub, TSR_NS, "Key", value, metaSchemeID="DT", schemeID=scheme)
        scheme, value = _split(process)
        _el(sub, TSR_NS, "Key", value, metaSchemeID="PR", schemeID=scheme)
        _el(sub, TSR_NS, "Key", c1, metaSchemeID="CC", schemeID="SenderCountry")
        _el(sub, TSR_NS, "Key", c4, metaSchemeID="CC", schemeID="ReceiverCountry")
        totals(sub, per_cc[(sp, doctype, process, c1, c4)])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _end_user_country(record: Record) -> str:
    """EUSR needs a real country (SCH-EUSR-30): the document's, else the participant id's ICD country."""
    if record.end_user_country and record.end_user_country != "ZZ":
        return record.end_user_country
    import ubl

    icd = _split(record.end_user_id)[1].partition(":")[0]
    try:
        country = ubl.lookup_icd(icd).country
    except (LookupError, ubl.UblError, AttributeError):
        country = ""
    return country if len(country) == 2 and country.isalpha() else "ZZ"


def build_eusr(records: Iterable[Record], period: Period, reporter_seat_id: str) -> bytes:
    """The End User Statistics Report for `period` (distinct end users, not messages).

    An end user whose country is unknown (no document country, an international ICD
    such as GLN) is reported as `ZZ`, which the rules reject: BIS documents always
    carry the buyer's and seller's country, so this only happens for other documents.
    """
    import dataclasses

    counted = [dataclasses.replace(r, end_user_country=_end_user_country(r)) for r in records if r.kind == "business"]
    root = etree.Element(f"{{{EUSR_NS}}}EndUserStatisticsReport", nsmap={None: EUSR_NS})
    _header(root, EUSR_NS, EUSR_CUSTOMIZATION, period, reporter_seat_id)

    def users(parent: etree._Element, rows: list[Record]) -> None:
        sending = {r.end_user_id for r in rows if r.direction == "out"}
        receiving = {r.end_user_id for r in rows if r.direction == "in"}
        _el(parent, EUSR_NS, "SendingEndUsers", str(len(sending)))
        _el(parent, EUSR_NS, "ReceivingEndUsers", str(len(receiving)))
        _el(parent, EUSR_NS, "SendingOrReceivingEndUsers", str(len(sending | receiving)))

    users(_el(root, EUSR_NS, "FullSet"), counted)

    def key(parent: etree._Element, meta: str, part: str) -> None:
        if meta == "CC":
            _el(parent, EUSR_NS, "Key", part, metaSchemeID="CC", schemeID="EndUserCountry")
        else:
            scheme, value = _split(part)
            _el(parent, EUSR_NS, "Key", value, metaSchemeID=meta, schemeID=scheme)

    subsets: list[tuple[str, tuple[str, ...], callable]] = [
        ("PerDT-PR", ("DT", "PR"), lambda r: (r.document_type_id, r.process_id)),
        ("PerDT-EUC", ("DT", "CC"), lambda r: (r.document_type_id, r.end_user_country)),
        ("PerDT-PR-EUC", ("DT", "PR", "CC"), lambda r: (r.document_type_id, r.process_id, r.end_user_country)),
        ("PerEUC", ("CC",), lambda r: (r.end_user_country,)),
    ]
    for type_name, metas, group in subsets:
        grouped: dict[tuple[str, ...], list[Record]] = defaultdict(list)
        for r in counted:
            grouped[group(r)].append(r)
        for parts in sorted(grouped):
            subset = _el(root, EUSR_NS, "Subset", type=type_name)
            for meta, part in zip(metas, parts, strict=True):
                key(subset, meta, part)
            users(subset, grouped[parts])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def load_records(sessions: sessionmaker[Session], period: Period) -> list[Record]:
    """The transaction log rows of `period` (UTC days, end inclusive)."""
    from accesspoint.db.tables.documents import Transaction

    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    with sessions() as session:
        rows = session.scalars(sa.select(Transaction).where(Transaction.at >= start, Transaction.at < end)).all()
    return [
        Record(direction=t.direction, kind=t.kind, other_seat_id=t.other_seat_id,
               document_type_id=t.document_type_id, process_id=t.process_id,
               transport_profile=t.transport_profile, end_user_id=t.end_user_id,
               end_user_country=(t.c1_country if t.direction == "out" else (t.c4_country or "ZZ")) or "ZZ",
               sender_country=t.c1_country or "ZZ", receiver_country=t.c4_country or "ZZ")
        for t in rows
    ]
