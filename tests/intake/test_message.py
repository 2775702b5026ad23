"""`read_mail` on what suppliers' packages send, and on anything else: it never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accesspoint.intake.message import read_mail
from tests.accesspoint.helpers import invoice
from tests.intake.harness import invoice_mail


def test_attachments_inline_xml_and_the_from_address():
    raw = invoice_mail("Facturen <facturen@boekhouder.example>", "x@intake.test", ("INV-1.xml", invoice("INV-1")),
                       ("INV-1.pdf", b"%PDF-1.4"), message_id="<m1@bk>")
    facts = read_mail(raw)
    assert facts.header_from == "facturen@boekhouder.example" and facts.message_id == "<m1@bk>"
    assert [a.filename for a in facts.xml] == ["INV-1.xml"] and facts.xml[0].content == invoice("INV-1")
    assert [a.content for a in facts.pdf] == [b"%PDF-1.4"]
    # A mail whose only part is the XML itself (some packages send it so).
    bare = (b"From: facturen@boekhouder.example\r\nTo: x@intake.test\r\nSubject: INV-2\r\n"
            b"Content-Type: application/xml\r\n\r\n" + invoice("INV-2"))
    assert read_mail(bare).xml[0].content.strip() == invoice("INV-2").strip()


def test_two_from_addresses_or_none_read_as_no_from():
    assert read_mail(b"From: a@x.example, b@y.example\r\n\r\nbody").header_from == ""
    assert read_mail(b"Subject: no from\r\n\r\nbody").header_from == ""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_facts_and_never_an_exception(raw):
    facts = read_mail(raw)
    assert len(facts.sha256) == 64


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([
    b"From: =?utf-8?q?=E2=82=AC?= <a@b.example>\r\n", b"From: <<<>>>\r\n", b"Message-ID: \x00\xff\r\n",
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"\r\n", b"--b\r\n", b"--b--\r\n", b"Content-Type: application/xml; name=a.xml\r\n", b"PD94bWw=\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.xml\r\n", b"Subject: =?x?B?AAAA?=\r\n",
]), max_size=40))
def test_hostile_mime_structure_never_raises(lines):
    read_mail(b"".join(lines))
