"""Readable views of an invoice or credit note: HTML for the web app, PDF for e-mail.

Both are built from the typed model (never from the XML), so what is shown is what
the model read. HTML comes from a Jinja2 template with autoescaping on: invoice
content is untrusted text and must never become markup; only http(s) links are
made clickable. The PDF is drawn with fpdf2. Its core fonts only cover Latin-1, so
for full Unicode pass a TrueType font (`font_path`); without one, characters
outside Latin-1 are shown as "?", never dropped silently from amounts or ids.

When a document embeds its own PDF (BG-24 attachment, application/pdf), the
policy `EmbeddedPdfPolicy` decides whether that one is used or ours generated.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import jinja2

from .model import Amount, CreditNote, Invoice, Party

__all__ = ["EmbeddedPdfPolicy", "PdfChoice", "render_html", "render_pdf", "choose_pdf"]

_TITLES = {"380": "Invoice", "381": "Credit note", "383": "Debit note", "384": "Corrected invoice",
           "386": "Prepayment invoice", "389": "Self-billed invoice", "751": "Invoice information"}


class EmbeddedPdfPolicy(enum.Enum):
    #: Always generate our own PDF, even when the document carries one.
    ALWAYS = "always"
    #: Never generate: hand over the embedded PDF if there is one, else no PDF at all.
    NEVER = "never"
    #: Use the embedded PDF when there is one, generate ours only when none is attached.
    ONLY_WHEN_NONE = "only-when-none"


@dataclass(frozen=True, slots=True)
class PdfChoice:
    data: bytes | None
    source: str  # "generated" | "embedded" | "none"
    filename: str | None


def _title(doc: Invoice | CreditNote) -> str:
    if doc.type_code in _TITLES:
        return _TITLES[doc.type_code]
    return "Credit note" if isinstance(doc, CreditNote) else "Invoice"


def _num(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _money(amount: Amount | None) -> str:
    """"1656.25 EUR": two decimals unless the document gave more; no grouping (locale-neutral)."""
    if amount is None:
        return ""
    value = amount.value
    if value == value.quantize(Decimal("0.01")):
        value = value.quantize(Decimal("0.01"))
    return f"{format(value, 'f')} {amount.currency}"


def _totals(doc: Invoice | CreditNote) -> list[tuple[str, Amount]]:
    t = doc.totals
    rows = [
        ("Sum of line net amounts", t.line_extension_amount),
        ("Allowances", t.allowance_total_amount),
        ("Charges", t.charge_total_amount),
        ("Total without VAT", t.tax_exclusive_amount),
        *[("VAT total", tt.tax_amount) for tt in doc.tax_totals],
        ("Total with VAT", t.tax_inclusive_amount),
        ("Paid in advance", t.prepaid_amount),
        ("Rounding", t.payable_rounding_amount),
        ("Amount due", t.payable_amount),
    ]
    return [(label, amount) for label, amount in rows if amount is not None]


def _parties(doc: Invoice | CreditNote) -> list[tuple[str, Party]]:
    rows = [("Seller", doc.supplier), ("Buyer", doc.customer)]
    if doc.payee is not None:
        rows.append(("Payee", doc.payee))
    if doc.tax_representative is not None:
        rows.append(("Seller's tax representative", doc.tax_representative))
    return rows


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(num=_num, money=_money, http_url=lambda u: u.strip().lower().startswith(("http://", "https://")))
    return env


def render_html(doc: Invoice | CreditNote) -> str:
    """A complete, self-contained HTML page for `doc` (no scripts, no external resources)."""
    template = _environment().get_template("billing_document.html")
    return template.render(
        doc=doc,
        kind=type(doc).__name__,
        title=_title(doc),
        due_date=getattr(doc, "due_date", None) or next((pm.due_date for pm in doc.payment_means if pm.due_date), None),
        parties=_parties(doc),
        totals=_totals(doc),
        attachments=[r for r in doc.additional_document_references if r.attachment is not None],
    )


# --- PDF ------------------------------------------------------------------------------------------


def render_pdf(doc: Invoice | CreditNote, *, font_path: Path | None = None) -> bytes:
    """A PDF of `doc`. Deterministic for a given document and font (creation date = issue date)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime.combine(doc.issue_date, dt.time(), tzinfo=dt.timezone.utc))
    pdf.set_title(f"{_title(doc)} {doc.id}")
    pdf.set_producer("peppol-node")
    if font_path is not None:
        pdf.add_font("doc", "", str(font_path))
        pdf.add_font("doc", "B", str(font_path))
        family, clean = "doc", (lambda s: s)
    else:
        family = "helvetica"

        def clean(s: str) -> str:
            return s.encode("latin-1", "replace").decode("latin-1")

    def text(value: object) -> str:
        return clean("" if value is None else str(value).replace("\t", " "))

    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 9, text(f"{_title(doc)} {doc.id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    due = getattr(doc, "due_date", None) or next((pm.due_date for pm in doc.payment_means if pm.due_date), None)
    meta = [f"Issue date: {doc.issue_date}"]
    if due:
        meta.append(f"Due date: {due}")
    if doc.document_currency_code:
        meta.append(f"Currency: {doc.document_currency_code}")
    if doc.buyer_reference:
        meta.append(f"Buyer reference: {doc.buyer_reference}")
    if doc.order_reference:
        meta.append(f"Order: {doc.order_reference.id}")
    pdf.cell(0, 5, text("   ".join(meta)), new_x="LMARGIN", new_y="NEXT")
    for ref in doc.billing_references:
        pdf.cell(0, 5, text(f"Preceding invoice: {ref.id.value} {ref.issue_date or ''}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    # parties, two per row
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    parties = _parties(doc)
    for i in range(0, len(parties), 2):
        top = pdf.get_y()
        bottoms = []
        for j, (label, party) in enumerate(parties[i : i + 2]):
            pdf.set_xy(pdf.l_margin + j * width, top)
            pdf.set_font(family, "B", 10)
            pdf.cell(width, 5, text(label), new_x="LEFT", new_y="NEXT")
            pdf.set_font(family, "", 9)
            pdf.multi_cell(width - 4, 4.5, text("\n".join(_party_lines(party))), new_x="LEFT", new_y="NEXT")
            bottoms.append(pdf.get_y())
        pdf.set_xy(pdf.l_margin, max(bottoms) + 3)

    # lines
    pdf.set_font(family, "", 8.5)
    with pdf.table(col_widths=(8, 62, 22, 26, 16, 28), text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
                   line_height=4.5, first_row_as_headings=True) as table:
        table.row([text(h) for h in ("#", "Item", "Quantity", "Price", "VAT", "Net amount")])
        for line in doc.lines:
            tc = line.item.classified_tax_category
            vat = ""
            if tc is not None:
                vat = f"{tc.id.value if tc.id else ''} {_num(tc.percent) + '%' if tc.percent is not None else ''}".strip()
            item = line.item.name or ""
            if line.item.description:
                item += f"\n{line.item.description}"
            table.row([
                text(line.id), text(item),
                text(f"{_num(line.quantity.value)} {line.quantity.unit_code or ''}".strip()),
                text(_money(line.price.amount)), text(vat), text(_money(line.line_extension_amount)),
            ])
    pdf.ln(2)

    subtotals = [st for tt in doc.tax_totals for st in tt.subtotals]
    if subtotals:
        with pdf.table(col_widths=(60, 30, 50, 50), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
                       line_height=4.5) as table:
            table.row([text(h) for h in ("VAT category", "Rate", "Taxable amount", "VAT")])
            for st in subtotals:
                cat = st.tax_category
                table.row([
                    text((cat.id.value if cat.id else "") + (f" - {cat.exemption_reason}" if cat.exemption_reason else "")),
                    text(f"{_num(cat.percent)}%" if cat.percent is not None else ""),
                    text(_money(st.taxable_amount)), text(_money(st.tax_amount)),
                ])
        pdf.ln(2)

    for label, amount in _totals(doc):
        last = label == "Amount due"
        pdf.set_font(family, "B" if last else "", 10 if last else 9)
        pdf.cell(0, 5.5, text(f"{label}: {_money(amount)}"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    pdf.ln(2)
    for pm in doc.payment_means:
        words = [f"Payment means {pm.code.value}" + (f" ({pm.code.name})" if pm.code.name else "")]
        if pm.payee_account:
            words.append(f"account {pm.payee_account.id.value}")
            if pm.payee_account.branch_id:
                words.append(f"BIC {pm.payee_account.branch_id}")
        words.extend(f"reference {p}" for p in pm.payment_ids)
        pdf.multi_cell(0, 4.5, text(", ".join(words)), new_x="LMARGIN", new_y="NEXT")
    if doc.payment_terms:
        for note in doc.payment_terms.notes:
            pdf.multi_cell(0, 4.5, text(f"Terms: {note}"), new_x="LMARGIN", new_y="NEXT")
    for note in doc.notes:
        pdf.multi_cell(0, 4.5, text(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _party_lines(party: Party) -> list[str]:
    lines = [party.display_name or party.name or ""]
    a = party.postal_address
    if a is not None:
        lines += [x for x in (a.street_name, a.additional_street_name, *a.address_lines) if x]
        lines.append(" ".join(x for x in (a.postal_zone, a.city_name, a.country_subentity, a.country_code) if x))
    for ts in party.tax_schemes:
        if ts.company_id:
            lines.append(f"{ts.tax_scheme_id.value if ts.tax_scheme_id else 'Tax'} id: {ts.company_id.value}")
    if party.legal_entity and party.legal_entity.company_id:
        lines.append(f"Company id: {party.legal_entity.company_id.value}")
    if party.endpoint_id:
        lines.append(f"Peppol: {party.endpoint_id.scheme_id or ''}:{party.endpoint_id.value}")
    if party.contact:
        lines += [x for x in (party.contact.name, party.contact.telephone, party.contact.electronic_mail) if x]
    return [line for line in lines if line]


def choose_pdf(doc: Invoice | CreditNote, policy: EmbeddedPdfPolicy, *, font_path: Path | None = None) -> PdfChoice:
    """The PDF to deliver with `doc` under `policy` (see EmbeddedPdfPolicy)."""
    embedded = next((a for a in doc.attachments if a.mime_code == "application/pdf" and a.data[:5] == b"%PDF-"), None)
    if policy is EmbeddedPdfPolicy.ALWAYS or (policy is EmbeddedPdfPolicy.ONLY_WHEN_NONE and embedded is None):
        return PdfChoice(render_pdf(doc, font_path=font_path), "generated", f"{doc.id}.pdf")
    if embedded is not None:
        return PdfChoice(embedded.data, "embedded", embedded.filename or f"{doc.id}.pdf")
    return PdfChoice(None, "none", None)
