"""XML attacks against every parser that reads outside XML: XXE (file and network), external DTDs,
parameter entities, entity expansion (billion laughs, quadratic blow-up), XInclude, deep nesting.

Each parser must refuse with its own package error, read no file, open no
connection, and finish quickly. A canary file and a canary HTTP server on
127.0.0.1 tell whether anything was fetched; a wall-clock bound per call
catches expansion that was merely slow rather than refused.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import as4
import smp
import ubl
from sml.soap import Operation, parse_request, parse_response  # the SML SOAP parsers (server and client side)
from tests.hostile.conftest import Pki, make_sbd

SOAP = b'<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"><S12:Header>{X}</S12:Header><S12:Body/></S12:Envelope>'
SBD_NS = b"http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
SMP_NS = b"http://busdox.org/serviceMetadata/publishing/1.0/"
SML_SOAP = (b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
            b'<CreateParticipantIdentifier xmlns="http://busdox.org/serviceMetadata/locator/1.0/">{X}'
            b'</CreateParticipantIdentifier></S:Body></S:Envelope>')


class Canary(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Canary.hits.append(self.path)
        body = b'<!ENTITY leak "FETCHED">' if self.path.endswith(".dtd") else b"FETCHED"
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    secret = tmp_path_factory.mktemp("canary") / "secret.txt"
    secret.write_text("CANARY-FILE-CONTENT")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield secret, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def attacks(secret: Path, url: str) -> dict[str, tuple[bytes, bytes]]:
    """name -> (prolog before the root element, text to put inside it)."""
    # a = 10 bytes, b = 10 a's, ... i = 10^9 bytes once expanded
    lol = b'<!ENTITY a "aaaaaaaaaa">' + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([ord("b") + i]), b"&%s;" % bytes([ord("a") + i]) * 10) for i in range(8))
    return {
        "xxe-file": (b'<!DOCTYPE r [<!ENTITY x SYSTEM "file://%s">]>' % str(secret).encode(), b"&x;"),
        "xxe-http": (b'<!DOCTYPE r [<!ENTITY x SYSTEM "%s/entity">]>' % url.encode(), b"&x;"),
        "external-dtd": (b'<!DOCTYPE r SYSTEM "%s/external.dtd">' % url.encode(), b"&leak;"),
        "parameter-entity": (b'<!DOCTYPE r [<!ENTITY %% p SYSTEM "%s/param.dtd"> %%p;]>' % url.encode(), b"&leak;"),
        "billion-laughs": (b"<!DOCTYPE r [" + lol + b"]>", b"&i;"),
        "quadratic": (b'<!DOCTYPE r [<!ENTITY q "' + b"Q" * 50_000 + b'">]>', b"&q;" * 2_000),
        "internal-entity": (b'<!DOCTYPE r [<!ENTITY x "harmless">]>', b"&x;"),
        "xinclude": (b"", b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://%s" parse="text"/>'
                     % str(secret).encode()),
        "deep-nesting": (b"", b"<d>" * 100_000 + b"</d>" * 100_000),
    }


def _sbd(prolog: bytes, inner: bytes) -> bytes:
    doc = make_sbd()
    head, rest = doc.split(b"?>", 1)
    return head + b"?>" + prolog + rest.replace(b"<HeaderVersion>1.0</HeaderVersion>",
                                                b"<HeaderVersion>1.0</HeaderVersion>" + inner, 1)


def _wrap(template: bytes, prolog: bytes, inner: bytes) -> bytes:
    return b'<?xml version="1.0"?>' + prolog + template.replace(b"{X}", inner)


PARSERS: dict[str, tuple[Callable[[bytes, bytes], object], type[Exception]]] = {
    "as4.parse_message": (lambda p, i: as4.parse_message("application/soap+xml", _wrap(SOAP, p, i)), as4.As4Error),
    "ubl.parse_sbd": (lambda p, i: ubl.parse_sbd(_sbd(p, i)), ubl.UblError),
    "ubl.parse_document": (lambda p, i: ubl.parse_document(
        _wrap(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>{X}</ID></Invoice>', p, i)),
        ubl.UblError),
    "smp.parse_service_metadata": (lambda p, i: smp.parse_service_metadata(
        _wrap(b'<ServiceMetadata xmlns="' + SMP_NS + b'">{X}</ServiceMetadata>', p, i)), smp.SmpError),
    "smp.parse_service_group": (lambda p, i: smp.parse_service_group(
        _wrap(b'<ServiceGroup xmlns="' + SMP_NS + b'">{X}</ServiceGroup>', p, i)), smp.SmpError),
    "sml.parse_request": (lambda p, i: parse_request("manageparticipantidentifier", _wrap(SML_SOAP, p, i)),
                          __import__("sml").SmlError),
    "sml.parse_response": (lambda p, i: parse_response(list(Operation)[0], _wrap(SML_SOAP, p, i)),
                           __import__("sml").SmlError),
}


@pytest.mark.parametrize("attack", ["xxe-file", "xxe-http", "external-dtd", "parameter-entity", "billion-laughs",
                                    "quadratic", "internal-entity", "xinclude", "deep-nesting"])
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_xml_attack_is_refused_without_fetching_or_expanding(canary: tuple[Path, str], parser: str,
                                                             attack: str) -> None:
    secret, url = canary
    prolog, inner = attacks(secret, url)[attack]
    parse, error = PARSERS[parser]
    before = len(Canary.hits)
    started = time.monotonic()
    try:
        result = parse(prolog, inner)
    except error as exc:
        assert "CANARY-FILE-CONTENT" not in str(exc) and "FETCHED" not in str(exc)
    else:
        # Only the two attacks without a DOCTYPE may parse at all, and then without their payload.
        assert attack in {"xinclude", "deep-nesting"}, f"{parser} accepted a DOCTYPE ({attack})"
        assert "CANARY-FILE-CONTENT" not in repr(result)
    elapsed = time.monotonic() - started
    assert Canary.hits[before:] == [], f"{parser} fetched {Canary.hits[before:]} ({attack})"
    assert elapsed < 5, f"{parser} took {elapsed:.1f}s on {attack}"


def test_the_canaries_would_notice(canary: tuple[Path, str]) -> None:
    """An unsafe parser on the same input does fetch and expand: the test above can fail."""
    from lxml import etree

    secret, url = canary
    prolog, inner = attacks(secret, url)["xxe-file"]
    unsafe = etree.XMLParser(resolve_entities=True, load_dtd=True, no_network=False)
    assert b"CANARY-FILE-CONTENT" in etree.tostring(etree.fromstring(prolog + b"<r>" + inner + b"</r>", unsafe))
    # (This libxml2 has no HTTP client of its own, so show the network canary counts a real fetch.)
    import urllib.request

    before = len(Canary.hits)
    with urllib.request.urlopen(f"{url}/external.dtd", timeout=5) as response:  # noqa: S310
        assert b"leak" in response.read()
    assert Canary.hits[before:] == ["/external.dtd"]


def test_xml_attacks_inside_a_sealed_as4_message_get_an_ebms_code(pki: Pki, canary: tuple[Path, str]) -> None:
    """Through the whole receiver: the SBD inside a correctly signed and encrypted message carries the XXE."""
    from datetime import UTC, datetime

    secret, url = canary
    now = datetime.now(UTC)
    receiver = as4.Receiver(key=pki.receiver.key, cert=pki.receiver.cert, trust=pki.trust,
                            policy=as4.ReceiverPolicy(check_revocation=False))
    for attack in ("xxe-file", "xxe-http", "external-dtd", "billion-laughs"):
        prolog, inner = attacks(secret, url)[attack]
        sbd = _sbd(prolog, inner)
        out = as4.build_user_message(sbd, key=pki.sender.key, cert=pki.sender.cert, receiver_cert=pki.receiver.cert,
                                     at=now, original_sender="0088:1111111111111",
                                     final_recipient="0088:2222222222222", document_type_id="busdox-docid-qns::x",
                                     process_id="p")
        before = len(Canary.hits)
        handled = receiver.handle(out.content_type, out.body, at=now)
        assert handled.document is None and handled.error is not None, attack
        assert handled.error.code.code.startswith("EBMS:"), attack
        assert Canary.hits[before:] == []
