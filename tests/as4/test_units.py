"""Small pieces: the error table, SBDH reading on both paths, timestamps, TLS floor, the public surface."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

import pytest

import as4
from as4 import sbdh
from as4.blob import Blob
from as4.ebms import format_timestamp, parse_timestamp
from tests.as4.conftest import Aps, make_sbd

ROWS = {  # protocol.md §1.6
    "EBMS:0001": ("ValueNotRecognized", "failure", "Content"),
    "EBMS:0002": ("FeatureNotSupported", "warning", "Content"),
    "EBMS:0003": ("ValueInconsistent", "failure", "Content"),
    "EBMS:0004": ("Other", "failure", "Content"),
    "EBMS:0005": ("ConnectionFailure", "warning", "Communication"),
    "EBMS:0006": ("EmptyMessagePartitionChannel", "failure", "Communication"),
    "EBMS:0007": ("MimeInconsistency", "failure", "Unpackaging"),
    "EBMS:0008": ("FeatureNotSupportedInconsistency", "failure", "Unpackaging"),
    "EBMS:0009": ("InvalidHeader", "failure", "Unpackaging"),
    "EBMS:0010": ("ProcessingModeMismatch", "failure", "Processing"),
    "EBMS:0011": ("ExternalPayloadError", "failure", "Processing"),
    "EBMS:0101": ("FailedAuthentication", "failure", "Processing"),
    "EBMS:0102": ("FailedDecryption", "failure", "Processing"),
    "EBMS:0103": ("PolicyNoncompliance", "failure", "Processing"),
    "EBMS:0201": ("DysfunctionalReliability", "failure", "Processing"),
    "EBMS:0202": ("DeliveryFailure", "failure", "Communication"),
    "EBMS:0301": ("MissingReceipt", "failure", "Communication"),
    "EBMS:0302": ("InvalidReceipt", "failure", "Communication"),
    "EBMS:0303": ("DecompressionFailure", "failure", "Communication"),
}


@pytest.mark.parametrize("code", sorted(ROWS))
def test_every_ebms_error_row(code):
    err = as4.EbmsError.from_code(code)
    assert (err.short_description, err.severity.value, err.category) == ROWS[code]


@pytest.mark.parametrize(("cls", "code"), [
    (as4.FailedAuthentication, "EBMS:0101"), (as4.FailedDecryption, "EBMS:0102"),
    (as4.PolicyNoncompliance, "EBMS:0103"), (as4.InvalidHeader, "EBMS:0009"), (as4.ValueInconsistent, "EBMS:0003"),
    (as4.MimeInconsistency, "EBMS:0007"), (as4.DecompressionFailure, "EBMS:0303"), (as4.NotServiced, "EBMS:0004"),
])
def test_error_subclasses_carry_their_code(cls, code):
    exc = cls("detail", "m@x")
    assert isinstance(exc, as4.As4Error) and exc.code.code == code and exc.ref_to_message_id == "m@x"


def test_not_serviced_detail():
    assert as4.NotServiced("x").error_detail == "PEPPOL:NOT_SERVICED"


def test_sbdh_streaming_and_ubl_paths_agree(monkeypatch):
    data = make_sbd("agree-1")
    via_ubl = sbdh.read_sbdh(Blob.from_bytes(data))
    monkeypatch.setattr(sbdh, "_SMALL", 0)
    streamed = sbdh.read_sbdh(Blob.from_bytes(data))
    assert via_ubl == streamed
    assert streamed.instance_identifier == "agree-1" and streamed.country_c1 == "BE"


def test_a_kept_envelope_is_ubls_whole_parse_and_only_a_small_sbd_keeps_one(monkeypatch):
    import ubl

    data = make_sbd("kept-1")
    assert sbdh.read_sbdh(Blob.from_bytes(data)).envelope is None
    kept = sbdh.read_sbdh(Blob.from_bytes(data), keep_envelope=True).envelope
    assert kept == ubl.parse_sbd(data) and kept.payload.startswith(b"<Invoice")
    # with the business message's summary, read from the same tree (the store lists the document by it)
    assert kept.summary is not None and kept.summary == ubl.summarise(ubl.parse_untrusted_xml(kept.payload).getroot())
    monkeypatch.setattr(sbdh, "_SMALL", 0)  # streamed: never held, so nothing to keep
    assert sbdh.read_sbdh(Blob.from_bytes(data), keep_envelope=True).envelope is None


def _sbd_variants() -> list[bytes]:
    good = make_sbd("variant-1", filler="<Note>x</Note>" * 50)
    head, sep, tail = good.partition(b"</StandardBusinessDocumentHeader>")
    return [
        good,
        good.replace(b"<Note>x</Note>", b"<Note>x<Note>", 1),                      # business message not well-formed
        head + sep + b"text in the root" + tail,                                     # text between the children
        head + sep + b"<Extra xmlns='urn:x'/>" + tail,                              # two business messages
        good.replace(b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"", b"urn:other\"", 1),  # namespace
        head + sep + b"</StandardBusinessDocument>",                                 # no business message
        b"<!DOCTYPE x [<!ENTITY e 'v'>]>" + good.split(b"?>", 1)[-1],              # DOCTYPE
    ]


@pytest.mark.parametrize("index", range(7))
def test_sbdh_check_sees_what_ubl_sees(index):
    """read_sbdh has ubl check the SBD without serialising its payload: same verdict as the whole parse."""
    import ubl

    data = _sbd_variants()[index]
    try:
        whole = ubl.parse_sbd(data)
        expected = (whole.sender, whole.receiver, whole.instance_identifier, whole.document_type_id)
    except ubl.UblError as exc:
        expected = type(exc)
    try:
        got = sbdh.read_sbdh(Blob.from_bytes(data))
        assert isinstance(expected, tuple), "read_sbdh accepted an SBD ubl rejects"
        assert (got.sender, got.receiver, got.instance_identifier, got.document_type_id) == tuple(map(str, expected))
    except as4.As4Error as exc:
        assert exc.code.code == "EBMS:0004"
        assert not isinstance(expected, tuple), f"read_sbdh rejected an SBD ubl accepts: {exc.detail}"


@pytest.mark.parametrize("small", [True, False])
def test_not_an_sbd_is_0004(monkeypatch, small):
    if not small:
        monkeypatch.setattr(sbdh, "_SMALL", 0)
    with pytest.raises(as4.As4Error) as info:
        sbdh.read_sbdh(Blob.from_bytes(b"<Invoice xmlns='urn:x'><ID>1</ID></Invoice>"))
    assert info.value.code.code == "EBMS:0004"


def test_timestamps():
    at = datetime(2026, 1, 29, 15, 39, 3, 805000, tzinfo=UTC)
    assert format_timestamp(at) == "2026-01-29T15:39:03.805Z"
    assert parse_timestamp("2026-01-29T15:39:03.805Z") == at
    assert parse_timestamp("2016-12-21T11:01:16.795+01:00").utcoffset() is not None
    assert parse_timestamp("2026-01-29T15:39:03.123456789Z").microsecond == 123456
    with pytest.raises(as4.InvalidHeader):
        parse_timestamp("yesterday")


def test_tls_floor_and_timeouts():
    assert as4.tls_context().minimum_version >= ssl.TLSVersion.TLSv1_2
    client = as4.make_client()
    try:
        assert client.timeout.connect == 5.0 and client.timeout.read == 120.0
    finally:
        import asyncio

        asyncio.run(client.aclose())


def test_public_surface_is_stable():
    """Names the interop tests and accesspoint/ rely on."""
    for name in ("build_user_message", "parse_message", "verify_receipt", "create_app", "Receiver",
                 "ReceiverPolicy", "MessageStore", "DirectoryStore", "send_message", "EbmsError", "As4Error"):
        assert name in as4.__all__ and hasattr(as4, name)
    assert sorted(as4.__all__) == as4.__all__ or len(set(as4.__all__)) == len(as4.__all__)


def test_generated_ids_are_uuid4_strings():
    import uuid

    from as4.message import _uuid4, new_message_id

    seen = set()
    for _ in range(500):
        value = _uuid4()
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(value)
    assert len(seen) == 500
    local, _, domain = new_message_id("ap.example").partition("@")
    assert domain == "ap.example" and uuid.UUID(local).version == 4


def test_bst_holds_each_certificates_own_der(aps: Aps) -> None:
    import base64

    from cryptography.hazmat.primitives.serialization import Encoding

    from as4 import _wss

    one, two = aps.sender.cert, aps.receiver.cert
    for _ in range(2):  # the second round comes from the caches
        assert base64.b64decode(_wss._der_base64(one)) == one.public_bytes(Encoding.DER)
        assert base64.b64decode(_wss._der_base64(two)) == two.public_bytes(Encoding.DER)
