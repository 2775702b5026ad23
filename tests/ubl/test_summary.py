"""`ubl.summarise` on the official BIS Billing 3.0 examples: the names, number, date and amount the pages list,
the amount exactly as written; and the streaming reading (`split_sbd` at `SUMMARY_PATHS`) agreeing with it."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ubl
from tests.conftest import TESTDATA

EXAMPLES = TESTDATA / "peppol-bis-invoice-3" / "examples"

#: file -> (number, date, seller, buyer, amount, currency, buyer country), read off the files by hand.
EXPECTED = {
    "base-example.xml": ("Snippet1", "2017-11-13", "SupplierOfficialName Ltd", "Buyer Official Name", "1656.25",
                         "EUR", "SE"),
    "base-creditnote-correction.xml": ("Snippet1", "2017-11-13", "SupplierOfficialName Ltd", "Buyer Official Name",
                                       "1656.25", "EUR", "SE"),
    "base-negative-inv-correction.xml": ("Correction1", "2017-11-13", "SupplierOfficialName Ltd",
                                         "Buyer Official Name", "-1656.25", "EUR", "SE"),
    "Allowance-example.xml": ("Snippet1", "2017-11-13", "SupplierOfficialName Ltd", "Buyer Official Name", "6125.00",
                              "EUR", "SE"),
    # written without decimals: kept so, not turned into 8550.00 or 8550.0
    "Vat-category-S.xml": ("Snippet1", "2017-11-13", "SupplierOfficialName Ltd", "Buyer Official Name", "8550",
                           "EUR", "SE"),
    "sales-order-example.xml": ("Snippet1", "2017-11-13", "SupplierOfficialName Ltd", "Buyer Official Name",
                                "1656.25", "EUR", "SE"),
    # no trading names (BT-28/BT-45) in these: the legal names
    "vat-category-E.xml": ("Vat-Z", "2018-08-30", "The Sellercompany Incorporated", "The Buyercompany", "1200.00",
                           "GBP", "DK"),
    "vat-category-O.xml": ("Vat-O", "2018-08-30", "The Sellercompany Incorporated", "The Buyercompany", "3200.00",
                           "SEK", "NO"),
    "vat-category-Z.xml": ("Vat-Z", "2018-08-30", "The Sellercompany Incorporated", "The Buyercompany", "1200.00",
                           "GBP", "DK"),
}


def _root(data: bytes):
    return ubl.parse_untrusted_xml(data).getroot()


def _streamed(content: bytes, size: int = 977) -> ubl.DocumentSummary:
    """The summary as the receiver gets it for a large message: from `split_sbd`'s texts."""
    doc = ubl.parse_document(content).document
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse("0088:7300010000001"),
                        receiver=ubl.ParticipantId.parse("0208:0123456749"), document_type_id=doc.document_type_id,
                        process_id=ubl.BIS_BILLING_PROCESS, country_c1="SE", payload=content,
                        creation_time=dt.datetime(2026, 12, 8, tzinfo=dt.UTC))
    split = ubl.split_sbd((sbd[i:i + size] for i in range(0, len(sbd), size)), lambda _: None,
                          texts=ubl.SUMMARY_PATHS)
    return ubl.summary_from_texts(split.texts)


@pytest.fixture(scope="module")
def examples():
    if not EXAMPLES.is_dir():
        pytest.skip(f"the official BIS examples are not at {EXAMPLES}")
    return EXAMPLES


def test_every_official_example_is_in_the_table(examples):
    assert sorted(p.name for p in examples.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_official_example(examples, name):
    content = (examples / name).read_bytes()
    summary = ubl.summarise(_root(content))
    number, date, seller, buyer, amount, currency, country = EXPECTED[name]
    assert summary == ubl.DocumentSummary(number=number, issue_date=date, seller_name=seller, buyer_name=buyer,
                                          payable_amount=amount, currency=currency, buyer_country=country)
    # The typed model reads the same amount (as a Decimal): the text is that number, digit for digit.
    doc = ubl.parse_document(content).document
    assert str(doc.totals.payable_amount.value) == amount
    assert _streamed(content) == summary


def test_trading_name_when_there_is_no_legal_name(examples):
    content = (examples / "base-example.xml").read_bytes()
    for legal in (b"<cbc:RegistrationName>Buyer Official Name</cbc:RegistrationName>",
                  b"<cbc:RegistrationName>SupplierOfficialName Ltd</cbc:RegistrationName>"):
        assert legal in content
        content = content.replace(legal, b"")
    summary = ubl.summarise(_root(content))
    assert (summary.seller_name, summary.buyer_name) == ("SupplierTradingName Ltd.", "BuyerTradingName AS")
    assert _streamed(content) == summary


@pytest.mark.parametrize(("amount", "currency", "kept"), [
    ("1656.25", "EUR", ("1656.25", "EUR")),
    (" 0.10 ", "EUR", ("0.10", "EUR")),
    ("1,656.25", "EUR", (None, "EUR")),   # not a decimal number as UBL writes one
    ("1e3", "eur", (None, None)),         # an exponent; a currency in lower case
    ("NaN", "EURO", (None, None)),
])
def test_values_that_are_not_an_amount_or_a_currency_are_left_out(amount, currency, kept):
    xml = (f'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           f'xmlns:cac="{ubl.summary.CAC}" xmlns:cbc="{ubl.summary.CBC}"><cbc:ID>X</cbc:ID>'
           f'<cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>'
           f'<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">{amount}</cbc:PayableAmount>'
           f'</cac:LegalMonetaryTotal></Invoice>').encode()
    summary = ubl.summarise(_root(xml))
    assert (summary.payable_amount, summary.currency) == kept
    assert (summary.number, summary.seller_name, summary.buyer_name, summary.buyer_country) == ("X", "", "", "")


def test_a_document_that_is_no_invoice_gives_blanks():
    xml = b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>'
    assert ubl.summarise(_root(xml)) == ubl.DocumentSummary()


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=400))
def test_a_name_is_read_as_written_and_cut_to_the_column(name):
    from xml.sax.saxutils import escape

    xml = (f'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           f'xmlns:cac="{ubl.summary.CAC}" xmlns:cbc="{ubl.summary.CBC}">'
           f'<cac:AccountingCustomerParty><cac:Party><cac:PartyLegalEntity><cbc:RegistrationName>'
           f'{escape(name)}</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>'
           f'</Invoice>').encode()
    assert ubl.summarise(_root(xml)).buyer_name == name.strip()[:300]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_sbd_summarises_from_its_own_tree_as_a_fresh_parse_does(examples, name):
    """`parse_sbd(summarise=True)` (the receiver's one parse) reads the summary a second parse of
    the payload would give, on every official example; without it, `summary` stays None."""
    content = (examples / name).read_bytes()
    doc = ubl.parse_document(content).document
    data = ubl.build_sbd(sender=ubl.ParticipantId.parse("0088:7300010000001"),
                         receiver=ubl.ParticipantId.parse("0208:0123456749"), document_type_id=doc.document_type_id,
                         process_id=ubl.BIS_BILLING_PROCESS, country_c1="SE", payload=content,
                         creation_time=dt.datetime(2026, 12, 8, tzinfo=dt.UTC))
    sbd = ubl.parse_sbd(data, summarise=True)
    fresh = ubl.summarise(_root(sbd.payload))
    assert sbd.summary == fresh == ubl.summarise(_root(content))
    assert sbd.summary.number == EXPECTED[name][0]
    assert ubl.parse_sbd(data).summary is None
    # the summary is read from the tree, not from the serialised payload: it needs none
    assert ubl.parse_sbd(data, with_payload=False, summarise=True).summary == fresh
