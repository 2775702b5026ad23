"""Every parser that takes outside bytes, fed random and mutated input: only the package's own error escapes.

The contract is h11's (`fuzz/afl-server.py` lets only RemoteProtocolError
through): a parser may refuse anything, but with its package's error, never
with an IndexError, a UnicodeDecodeError, an lxml or cryptography exception, a
hang, or by accepting something it should not. Where the input is signed (AS4,
SMP), a mutation that still passes must yield exactly the original content.

Budgets are bounded (max_examples) so the whole suite stays well under a
minute and a half; `HYPOTHESIS_PROFILE=hostile-long` runs ten times more.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import dns.flags
from lxml import etree
import dns.message
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import as4
import certs
import sml
import smp
import ubl
from tests.hostile.conftest import Pki, make_sbd, mutations

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "hostile-long"


#: In CI the examples are fixed (derandomize), so a submission is judged on the same inputs every run;
#: elsewhere each run explores new ones, and what it finds is kept in .hypothesis/ and replayed first.
CI = bool(os.environ.get("CI"))


def budget(n: int):  # noqa: ANN201
    return settings(max_examples=n * (10 if LONG else 1), deadline=None, derandomize=CI,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


_now = datetime.now(UTC)
NOW = _now.replace(microsecond=_now.microsecond // 1000 * 1000)  # the wire carries milliseconds


# --- AS4: MIME, SOAP, ebMS, WS-Security ---------------------------------------------------------

@pytest.fixture(scope="module")
def sealed(pki: Pki) -> as4.OutboundMessage:
    return as4.build_user_message(make_sbd(), key=pki.sender.key, cert=pki.sender.cert,
                                  receiver_cert=pki.receiver.cert, at=NOW)


@pytest.fixture(scope="module")
def receiver(pki: Pki) -> as4.Receiver:
    return as4.Receiver(key=pki.receiver.key, cert=pki.receiver.cert, trust=pki.trust,
                        policy=as4.ReceiverPolicy(check_revocation=False))


CONTENT_TYPES = st.one_of(
    st.sampled_from(["", "application/soap+xml", "multipart/related", "multipart/related; boundary=",
                     'multipart/related; boundary="x"; type="application/soap+xml"', "text/plain; charset=\x00",
                     "multipart/related; boundary=" + "a" * 5000]),
    st.text(max_size=120))


@budget(300)
@given(content_type=CONTENT_TYPES, body=st.binary(max_size=2000))
def test_as4_parse_message_raises_only_as4_error(content_type: str, body: bytes) -> None:
    try:
        as4.parse_message(content_type, body)
    except as4.As4Error:
        pass


@budget(250)
@given(data=st.data())
def test_as4_mutated_message_is_refused_with_a_code_or_is_the_original(receiver: as4.Receiver,
                                                                        sealed: as4.OutboundMessage,
                                                                        data: st.DataObject) -> None:
    body = data.draw(mutations(sealed.body))
    content_type = data.draw(st.one_of(st.just(sealed.content_type), mutations(sealed.content_type.encode(), 2)
                                       .map(lambda b: b.decode("latin-1"))))
    handled = receiver.handle(content_type, body, at=NOW)  # never raises: Receiver.handle's contract
    assert handled.response is not None
    if handled.document is None:
        assert handled.error is not None and handled.error.code.code.startswith("EBMS:")
        assert handled.response.is_error
    else:
        # Only bytes outside what is signed changed (MIME whitespace, say): the content is the original.
        assert b"".join(handled.document.sbd.chunks()) == make_sbd()
        assert handled.document.user_message == sealed.user_message


@budget(200)
@given(data=st.data())
def test_as4_chunked_delivery_of_a_mutated_body_agrees_with_whole(sealed: as4.OutboundMessage,
                                                                   data: st.DataObject) -> None:
    """A slow or fragmenting client must not change the verdict (the MIME parser is incremental)."""
    body = data.draw(mutations(sealed.body, 2))
    cut = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=6)))
    chunks = [body[a:b] for a, b in zip([0, *cut], [*cut, len(body)], strict=True)]

    def verdict(source) -> str:  # noqa: ANN001
        try:
            msg = as4.parse_message(sealed.content_type, source)
        except as4.As4Error as exc:
            return exc.code.code
        return msg.message.message_id if hasattr(msg.message, "message_id") else type(msg.message).__name__

    assert verdict(body) == verdict(iter(chunks))


# --- SBDH, UBL, identifiers -----------------------------------------------------------------------

@budget(300)
@given(st.one_of(st.binary(max_size=1500), mutations(make_sbd())))
def test_sbdh_raises_only_ubl_error(data: bytes) -> None:
    try:
        ubl.parse_sbd(data)
    except ubl.UblError:
        pass


@pytest.fixture(scope="module")
def invoice(testdata) -> bytes:  # noqa: ANN001
    candidates = sorted((testdata / "peppol-bis-invoice-3").rglob("*.xml"))
    for path in candidates:
        data = path.read_bytes()
        if b"<Invoice" in data[:2000] or b":Invoice" in data[:2000]:
            try:
                ubl.parse_document(data)
            except ubl.UblError:
                continue
            return data
    pytest.skip("no parseable BIS 3 invoice in testdata/peppol-bis-invoice-3")


@budget(200)
@given(data=st.data())
def test_ubl_document_raises_only_ubl_error(invoice: bytes, data: st.DataObject) -> None:
    doc = data.draw(st.one_of(st.binary(max_size=800), mutations(invoice)))
    try:
        ubl.parse_document(doc)
    except ubl.UblError:
        pass


ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=120)  # surrogates and controls too


@budget(400)
@given(st.one_of(ANY_TEXT, st.from_regex(r"(iso6523-actorid-upis::)?[0-9]{4}:[ -~]{0,60}", fullmatch=True)))
def test_identifiers_raise_only_identifier_error(text: str) -> None:
    for parse in (ubl.ParticipantId.parse, ubl.DocumentTypeId.parse, ubl.ProcessId.parse):
        try:
            parsed = parse(text)
        except ubl.IdentifierError:
            continue
        assert type(parsed).parse(str(parsed)) == parsed  # what parses, round-trips
    try:
        ubl.check_participant_id(ubl.ParticipantId.parse(text))
    except ubl.UblError:
        pass


# --- certificates and keys (PEM, DER, PKCS#12) --------------------------------------------------------

@pytest.fixture(scope="module")
def key_material(pki: Pki) -> dict[str, bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    p12 = pkcs12.serialize_key_and_certificates(b"ap", pki.sender.key, pki.sender.cert, [pki.pki.ap_ca.cert],
                                                BestAvailableEncryption(b"secret"))
    return {"pem": certs.certificate_pem(pki.sender.cert), "der": pki.sender.cert.public_bytes(Encoding.DER),
            "key": certs.private_key_pem(pki.sender.key), "p12": p12}


@budget(300)
@given(data=st.data())
def test_certificate_and_key_loaders_raise_only_cert_error(key_material: dict[str, bytes],
                                                           data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(key_material)))
    blob = data.draw(st.one_of(st.binary(max_size=600), mutations(key_material[kind], 3)))
    for load in (certs.load_certificate, certs.load_certificates, certs.load_private_key):
        try:
            load(blob)
        except certs.CertError:
            pass
    try:
        certs.load_pkcs12(blob, data.draw(st.sampled_from(["secret", "", None])))
    except certs.CertError:
        pass


def test_an_unknown_key_algorithm_is_a_cert_error(key_material: dict[str, bytes]) -> None:
    pem = key_material["key"]
    body_start = pem.index(b"\n") + 1
    oid_at = pem.index(b"qhkiG9w0", body_start)  # base64 of the rsaEncryption OID's first bytes
    forged = pem[:oid_at] + b"AAAA" + pem[oid_at + 4:]
    with pytest.raises(certs.CertError):
        certs.load_private_key(forged)


@budget(60)
@given(data=st.data())
def test_a_mutated_certificate_is_never_trusted_as_someone_else(pki: Pki, key_material: dict[str, bytes],
                                                                 data: st.DataObject) -> None:
    blob = data.draw(mutations(key_material["der"], 2))
    try:
        cert = certs.load_certificate(blob)
        seat = certs.verify_ap_certificate(cert, trust=pki.trust, at=NOW)
    except (certs.CertError, ValueError):
        return
    # The CA's signature covers the whole TBSCertificate: only an unchanged certificate passes.
    assert cert == pki.sender.cert and str(getattr(seat, "value", seat)) == "POP000001"


def test_a_malformed_issuer_name_is_a_cert_error(pki: Pki, key_material: dict[str, bytes]) -> None:
    """Names are parsed lazily by cryptography: a malformed one must still be a CertError, on load and on verify."""
    from cryptography import x509

    der = bytearray(key_material["der"])
    issuer_at = der.index(b"\x06\x03U\x04\x06\x13")  # the first attribute of the issuer: countryName, PrintableString
    der[issuer_at + 5] ^= 0x10  # PrintableString (0x13) -> BIT STRING (0x03)
    with pytest.raises(certs.CertificateLoadError):
        certs.load_certificate(bytes(der))
    # The same bytes reaching a check without our loader (e.g. a BinarySecurityToken parsed by cryptography).
    with pytest.raises(certs.CertificateRejected) as exc:
        certs.verify_ap_certificate(x509.load_der_x509_certificate(bytes(der)), trust=pki.trust, at=NOW)
    assert exc.value.reason is certs.RejectReason.MALFORMED


# --- SMP answers ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smp_answer(pki: Pki) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    info = smp.ServiceInformation(
        participant_id=ubl.ParticipantId.parse("0088:2222222222222"),
        document_type_id=ubl.BIS_BILLING_INVOICE,
        processes=(smp.ProcessMetadata(
            process_id=ubl.BIS_BILLING_PROCESS,
            endpoints=(smp.Endpoint(transport_profile=smp.TRANSPORT_AS4_V2, address="https://ap.example/as4",
                                    certificate_der=pki.receiver.cert.public_bytes(Encoding.DER)),)),))
    signed = smp.sign_service_metadata(smp.render_service_metadata(info), key=pki.smp.key,
                                       certificate=pki.smp.cert)
    group = smp.render_service_group("https://smp.example", info.participant_id, [info.document_type_id])
    return signed, group


@budget(300)
@given(data=st.data())
def test_smp_parsers_raise_only_smp_error(smp_answer: tuple[bytes, bytes], data: st.DataObject) -> None:
    signed, group = smp_answer
    blob = data.draw(st.one_of(st.binary(max_size=600), mutations(signed), mutations(group)))
    for parse in (smp.parse_service_metadata, smp.parse_service_group):
        try:
            parse(blob)
        except smp.SmpError:
            pass


@budget(200)
@given(data=st.data())
def test_a_mutated_smp_answer_verifies_only_as_the_original(pki: Pki, smp_answer: tuple[bytes, bytes],
                                                            data: st.DataObject) -> None:
    signed, _ = smp_answer
    original = smp.verify_service_metadata(signed, trust=pki.trust, at=NOW)
    blob = data.draw(mutations(signed))
    try:
        verified = smp.verify_service_metadata(blob, trust=pki.trust, at=NOW)
    except smp.SmpError:
        return
    assert verified == original


def test_text_inside_ds_transforms_is_an_smp_error(pki: Pki, smp_answer: tuple[bytes, bytes]) -> None:
    signed, _ = smp_answer
    blob = signed.replace(b"<Transforms>", b"<Transforms>text", 1)
    assert blob != signed
    with pytest.raises(smp.SmpError):
        smp.verify_service_metadata(blob, trust=pki.trust, at=NOW)


def test_relative_namespace_uri_in_an_smp_answer_is_an_smp_error(pki: Pki, smp_answer: tuple[bytes, bytes]) -> None:
    signed, _ = smp_answer
    blob = signed.replace(b'"http://busdox.org/transport/identifiers/1.0/"', b'"relative//busdox.org/"', 1)
    assert blob != signed
    with pytest.raises(smp.SmpError):
        smp.verify_service_metadata(blob, trust=pki.trust, at=NOW)


# --- DNS answers (SML lookups against a hostile name server) -----------------------------------------------

class HostileDns:
    """A UDP name server on 127.0.0.1 answering each query with whatever `respond(query)` returns."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.respond = lambda query: b""
        self.queries = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries += 1
            try:
                answer = self.respond(wire)
            except Exception:  # noqa: BLE001 - a broken generator must not kill the server thread
                answer = b""
            if answer:
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop = True
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="module")
def hostile_dns() -> Iterator[HostileDns]:
    server = HostileDns()
    yield server
    server.close()


PID = "iso6523-actorid-upis::0088:2222222222222"
ZONE = "hostile.peppol.test"


def _naptr_answer(query_wire: bytes, records: list[tuple[int, int, str, str, str, str]]) -> bytes:
    query = dns.message.from_wire(query_wire)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    name = query.question[0].name
    for order, pref, flags, service, regexp, replacement in records:
        text = f'{order} {pref} "{flags}" "{service}" "{regexp}" {replacement}'
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NAPTR, text)
        response.answer.append(dns.rrset.from_rdata(name, 60, rdata))
    return response.to_wire()


_DNS_TEXT = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, blacklist_characters='"\\'),
                    max_size=60)
NAPTR_RECORDS = st.lists(st.tuples(
    st.integers(0, 65535), st.integers(0, 65535), st.sampled_from(["U", "u", "S", "", "A"]),
    st.sampled_from(["Meta:SMP", "meta:smp", "Meta:SMP+x", "E2U+sip", ""]),
    st.one_of(st.sampled_from(["!.*!https://smp.example/!", "!^.*$!http://smp.example!", "!(a+)+$!x!",
                               "!.*!!", "!!!", "!.*!https://smp.example/\\\\1!"]), _DNS_TEXT.map(lambda t: f"!.*!{t}!")),
    st.sampled_from([".", "smp.example."])), max_size=6)


@budget(80)
@given(data=st.data())
def test_hostile_dns_answers_give_only_sml_errors(hostile_dns: HostileDns, data: st.DataObject) -> None:
    records = data.draw(NAPTR_RECORDS)
    mutate = data.draw(st.booleans())
    junk = data.draw(st.lists(st.tuples(st.integers(0, 400), st.binary(min_size=1, max_size=4)), min_size=1, max_size=3))

    def respond(wire: bytes) -> bytes:
        answer = bytearray(_naptr_answer(wire, records))
        # (A reply dnspython cannot parse is dropped too, and the lookup then times out: hence the
        # short timeout, ample on loopback.) Damage only what follows the header and question (which the response repeats): a reply
        # whose id or question does not match is dropped by the resolver as not ours, and would
        # only make the test wait for its timeout.
        start = len(wire)
        if mutate and len(answer) > start:
            for pos, b in junk:
                at = start + pos % (len(answer) - start)
                answer[at:at + len(b)] = b
        return bytes(answer)

    hostile_dns.respond = respond
    asked = hostile_dns.queries
    try:
        url = asyncio.run(sml.lookup_smp_url(PID, ZONE, resolver=f"127.0.0.1:{hostile_dns.port}", timeout=0.1))
    except sml.SmlError:
        return
    finally:
        assert hostile_dns.queries > asked, "the lookup never reached the hostile server"
    assert isinstance(url, str)


def test_a_naptr_regexp_yielding_no_url_is_no_matching_smp_service(hostile_dns: HostileDns) -> None:
    hostile_dns.respond = lambda wire: _naptr_answer(wire, [(0, 0, "U", "Meta:SMP", "!.*!0!", ".")])
    with pytest.raises(sml.SmlError):
        asyncio.run(sml.lookup_smp_url(PID, ZONE, resolver=f"127.0.0.1:{hostile_dns.port}", timeout=2.0))


def test_the_hostile_name_server_is_really_asked(hostile_dns: HostileDns) -> None:
    """The fuzz test above means something only if a clean answer through the same server resolves."""
    hostile_dns.respond = lambda wire: _naptr_answer(wire, [(100, 10, "U", "Meta:SMP", "!.*!https://smp.example/!",
                                                             ".")])
    url = asyncio.run(sml.lookup_smp_url(PID, ZONE, resolver=f"127.0.0.1:{hostile_dns.port}", timeout=2.0))
    assert url.rstrip("/") == "https://smp.example"


# --- tokens ----------------------------------------------------------------------------------------------

def test_token_helpers_take_a_lone_surrogate() -> None:
    import shares

    shares.hash_token("\ud800")


@budget(300)
@given(st.text(max_size=120), st.text(max_size=120))
def test_token_helpers_take_any_text(a: str, b: str) -> None:
    """Invite and session tokens arrive in URLs, forms and JSON (where a lone surrogate can appear)."""
    import shares

    try:
        assert len(shares.hash_token(a)) == 64
        assert shares.tokens_equal(a, b) == (a == b)
    except shares.ShareError:
        pass
