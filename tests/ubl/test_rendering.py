"""HTML and PDF views, and the embedded-PDF policy."""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

import pytest

from ubl import (
    Attachment, BinaryObject, DocumentReference, EmbeddedPdfPolicy, Id, choose_pdf, parse_document, render_html,
    render_pdf,
)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _doc(testdata: Path, rel: str = "peppol-bis-invoice-3/examples/base-example.xml"):
    return parse_document((testdata / rel).read_bytes()).document


def _pdf_text(pdf: bytes) -> str:
    """The text drawn with core fonts: literal strings in the (deflated) content streams."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(m.group(1)).decode("latin-1"))
        except zlib.error:
            continue
    return "".join(re.findall(r"\((.*?)\)\s*Tj", "".join(out)))


def _expected_strings(doc) -> list[str]:
    return [
        doc.id, doc.issue_date.isoformat(), doc.supplier.display_name, doc.customer.display_name,
        f"{doc.totals.payable_amount.value:.2f} {doc.totals.payable_amount.currency}",
        *[line.item.name for line in doc.lines],
        *[pm.payee_account.id.value for pm in doc.payment_means if pm.payee_account],
    ]


def test_html_shows_the_content(testdata: Path) -> None:
    doc = _doc(testdata)
    html = render_html(doc)
    assert html.startswith("<!DOCTYPE html>")
    for expected in _expected_strings(doc):
        assert expected in html, expected
    assert html.count("<tr><td>") >= len(doc.lines)
    assert "<script" not in html


def test_html_escapes_untrusted_text(testdata: Path) -> None:
    doc = _doc(testdata)
    evil = "<script>alert(1)</script>"
    ref = DocumentReference(id=Id("x"), attachment=Attachment(external_uri="javascript:alert(1)"))
    doc = dataclasses.replace(doc, notes=(evil,), additional_document_references=(ref,))
    html = render_html(doc)
    assert evil not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_credit_note_title(testdata: Path) -> None:
    html = render_html(_doc(testdata, "peppol-bis-invoice-3/examples/base-creditnote-correction.xml"))
    assert "<h1>Credit note" in html


def test_pdf_core_font(testdata: Path) -> None:
    doc = _doc(testdata)
    pdf = render_pdf(doc)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = _pdf_text(pdf)
    for expected in _expected_strings(doc):
        assert expected in text, expected
    assert "Amount due: 1656.25 EUR" in text
    assert render_pdf(doc) == pdf  # deterministic


@pytest.mark.skipif(not DEJAVU.exists(), reason="DejaVu font not installed")
def test_pdf_unicode_font(testdata: Path) -> None:
    greek = _doc(testdata, "peppol-bis-invoice-3/national-examples/GR/GR-base-example-correct.xml")
    pdf = render_pdf(greek, font_path=DEJAVU)
    assert pdf.startswith(b"%PDF-") and b"DejaVu" in pdf


def test_embedded_pdf_policy(testdata: Path) -> None:
    big = next(p for p in (testdata / "en16931-cen/ubl/examples").iterdir() if p.stat().st_size > 2_000_000)
    with_pdf = parse_document(big.read_bytes()).document
    embedded = with_pdf.attachments[0].data
    without = _doc(testdata)
    assert not [a for a in without.attachments if a.mime_code == "application/pdf"]

    always = choose_pdf(with_pdf, EmbeddedPdfPolicy.ALWAYS)
    assert always.source == "generated" and always.data != embedded and always.data.startswith(b"%PDF-")
    never = choose_pdf(with_pdf, EmbeddedPdfPolicy.NEVER)
    assert never.source == "embedded" and never.data == embedded
    assert choose_pdf(without, EmbeddedPdfPolicy.NEVER) == choose_pdf(without, EmbeddedPdfPolicy.NEVER)
    assert choose_pdf(without, EmbeddedPdfPolicy.NEVER).data is None
    only = choose_pdf(with_pdf, EmbeddedPdfPolicy.ONLY_WHEN_NONE)
    assert only.source == "embedded" and only.data == embedded
    gen = choose_pdf(without, EmbeddedPdfPolicy.ONLY_WHEN_NONE)
    assert gen.source == "generated" and gen.filename == "Snippet1.pdf"
    # an attachment that only claims to be a PDF is not handed over as one
    fake = dataclasses.replace(without, additional_document_references=(DocumentReference(
        id=Id("a"), attachment=Attachment(embedded=BinaryObject(b"MZ\x90", "application/pdf", "x.pdf"))),))
    assert choose_pdf(fake, EmbeddedPdfPolicy.ONLY_WHEN_NONE).source == "generated"
