"""The client against recorded answers (httpx2.MockTransport replaying ../shared/testdata)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

import certs
import smp
from smp import (
    IdentifierMismatch,
    ParticipantNotFound,
    RedirectError,
    SignatureProblem,
    SmpLookupError,
    SmpSignatureError,
    SmpUnavailable,
)
from tests.smp.conftest import g2_store
from ubl import DocumentTypeId, ParticipantId, ProcessId

VEFA = "vefa-peppol/smp/"
PID = ParticipantId.parse("0192:991825827")
ORDER_RESPONSE = DocumentTypeId.parse(
    "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:OrderResponse-2::OrderResponse"
    "##urn:fdc:peppol.eu:poacc:trns:order_response:3:extended:urn:fdc:anskaffelser.no:2019:ehf:spec:3.0::2.2"
)
PROCESS = ProcessId.parse("urn:fdc:anskaffelser.no:2019:ehf:postaward:g3:02:1.0")
SMP_URL = "http://smp.example.test"
AT = datetime(2021, 6, 1, tzinfo=UTC)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def replay(routes: dict[str, bytes | int]) -> httpx2.MockTransport:
    """Answer each known URL with a recorded file (or a status); anything else is a 404."""
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        seen.append(url)
        answer = routes.get(url, 404)
        if isinstance(answer, int):
            return httpx2.Response(answer)
        return httpx2.Response(200, content=answer, headers={"content-type": "text/xml"})

    transport = httpx2.MockTransport(handler)
    transport.seen = seen  # type: ignore[attr-defined]
    return transport


def client(transport: httpx2.BaseTransport, trust: certs.TrustStore, **policy: object) -> smp.SmpClient:
    kwargs = dict(production=False, allow_sha1=True)
    kwargs.update(policy)
    return smp.SmpClient(httpx2.AsyncClient(transport=transport), smp.SmpPolicy(trust=trust, **kwargs))  # type: ignore[arg-type]


def redirect_routes(testdata: Path, target: bytes | None = None) -> tuple[dict[str, bytes | int], str]:
    redirect = (testdata / VEFA / "busdox-servicemetadata-redirect-0192-991825827.xml").read_bytes()
    first = smp.service_metadata_url(SMP_URL, PID, ORDER_RESPONSE)
    meta = smp.parse_service_metadata(redirect)
    assert meta.redirect is not None
    href = meta.redirect.href
    if target is None:
        target = (testdata / VEFA / "busdox-servicemetadata-redirected-0192-991825827.xml").read_bytes()
    return {first: redirect, href: target}, href


def test_percent_encoding_of_identifiers() -> None:
    url = smp.service_metadata_url("https://smp.example/base/", ParticipantId.parse("0088:123ABC"),
                                   DocumentTypeId.parse("busdox-docid-qns::a:b::C##x#y::2.1"))
    assert url == ("https://smp.example/base/iso6523-actorid-upis%3A%3A0088%3A123abc/services/"
                   "busdox-docid-qns%3A%3Aa%3Ab%3A%3AC%23%23x%23y%3A%3A2.1")


def test_follows_one_redirect_to_the_named_smp(testdata: Path, g2_test: certs.TrustStore) -> None:
    routes, href = redirect_routes(testdata)
    transport = replay(routes)
    c = client(transport, g2_test)
    found = run(c.lookup_endpoint(SMP_URL, PID, ORDER_RESPONSE, PROCESS, at=AT))
    assert found.address == "https://peppol-ap-stage.maventa.com/as4"
    assert found.transport_profile == smp.TRANSPORT_AS4_V2
    assert found.signer is not None and found.signer.seat_id == "PNO000179"
    assert transport.seen == [smp.service_metadata_url(SMP_URL, PID, ORDER_RESPONSE), href]  # type: ignore[attr-defined]
    # cached: no more HTTP
    again = run(c.lookup_endpoint(SMP_URL, PID, ORDER_RESPONSE, PROCESS, at=AT))
    assert again == found
    assert len(transport.seen) == 2  # type: ignore[attr-defined]
    # a cached answer still honours time: the endpoint expired on 2022-07-27
    with pytest.raises(smp.NoEndpoint) as exc:
        run(c.lookup_endpoint(SMP_URL, PID, ORDER_RESPONSE, PROCESS, at=datetime(2022, 8, 1, tzinfo=UTC)))
    assert exc.value.reason is smp.NoEndpointReason.EXPIRED
    assert len(transport.seen) == 2  # type: ignore[attr-defined]


def test_redirect_target_signed_by_another_smp_is_refused(testdata: Path) -> None:
    both = certs.TrustStore.from_certificates(
        [*g2_store(testdata, "prod").roots, *g2_store(testdata, "prod").all_issuing_cas(),
         *g2_store(testdata, "test").roots, *g2_store(testdata, "test").all_issuing_cas()])
    other = (testdata / "peppol-commons/smp/signed-service-metadata2.xml").read_bytes()  # signed by PNO000070
    routes, _ = redirect_routes(testdata, target=other)
    with pytest.raises(SmpSignatureError) as exc:
        run(client(replay(routes), both).lookup_service_metadata(SMP_URL, PID, ORDER_RESPONSE,
                                                                 at=datetime(2021, 1, 15, tzinfo=UTC)))
    assert exc.value.reason is SignatureProblem.WRONG_SIGNER


def test_a_second_redirect_is_refused(testdata: Path, g2_test: certs.TrustStore) -> None:
    redirect = (testdata / VEFA / "busdox-servicemetadata-redirect-0192-991825827.xml").read_bytes()
    routes, _ = redirect_routes(testdata, target=redirect)
    with pytest.raises(RedirectError):
        run(client(replay(routes), g2_test).lookup_service_metadata(SMP_URL, PID, ORDER_RESPONSE, at=AT))


def test_production_mode_refuses_http(testdata: Path, g2_test: certs.TrustStore) -> None:
    routes, _ = redirect_routes(testdata)
    transport = replay(routes)
    with pytest.raises(SmpLookupError, match="https"):
        run(client(transport, g2_test, production=True).lookup_service_metadata(SMP_URL, PID, ORDER_RESPONSE, at=AT))
    assert transport.seen == []  # type: ignore[attr-defined]


def test_answer_for_another_participant_is_refused(testdata: Path, g2_test: certs.TrustStore) -> None:
    data = (testdata / VEFA / "busdox-servicemetadata-0192-12345678-1.xml").read_bytes()
    asked = ParticipantId.parse("0192:87654321")
    doctype = smp.parse_service_metadata(data).information.document_type_id  # type: ignore[union-attr]
    routes = {smp.service_metadata_url(SMP_URL, asked, doctype): data}
    with pytest.raises(IdentifierMismatch):
        run(client(replay(routes), g2_test).lookup_service_metadata(SMP_URL, asked, doctype,
                                                                    at=datetime(2022, 6, 1, tzinfo=UTC)))


@pytest.mark.parametrize("status, error", [(404, ParticipantNotFound), (500, SmpUnavailable), (503, SmpUnavailable),
                                           (403, SmpLookupError)])
def test_http_status_mapping(g2_test: certs.TrustStore, status: int, error: type) -> None:
    routes: dict[str, bytes | int] = {smp.service_metadata_url(SMP_URL, PID, ORDER_RESPONSE): status}
    with pytest.raises(error):
        run(client(replay(routes), g2_test).lookup_service_metadata(SMP_URL, PID, ORDER_RESPONSE, at=AT))


def test_connection_refused_is_retryable(g2_test: certs.TrustStore) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = smp.SmpClient(httpx2.AsyncClient(timeout=2), smp.SmpPolicy(trust=g2_test, production=False))
    with pytest.raises(SmpUnavailable):
        run(c.lookup_service_group(f"http://127.0.0.1:{port}", PID))


def test_service_group_lookup(testdata: Path, g2_test: certs.TrustStore) -> None:
    data = (testdata / VEFA / "busdox-servicegroup-0192-991825827.xml").read_bytes()
    routes = {smp.service_group_url(SMP_URL, PID): data}
    group = run(client(replay(routes), g2_test).lookup_service_group(SMP_URL, PID))
    assert group.participant_id == PID and len(group.references) == 9


def test_cache_expires() -> None:
    now = [0.0]
    cache: smp.TtlCache[str] = smp.TtlCache(10, clock=lambda: now[0], max_entries=2)
    cache.put("a", "1")
    assert cache.get("a") == "1"
    now[0] = 10.0
    assert cache.get("a") is None
    cache.put("a", "1"), cache.put("b", "2"), cache.put("c", "3")
    assert cache.get("a") is None and cache.get("c") == "3"


def test_subject_matches_certificate_uid(testdata: Path) -> None:
    data = (testdata / VEFA / "busdox-servicemetadata-redirected-0192-991825827.xml").read_bytes()
    cert = smp.check_signature(data, at=AT, allow_sha1=True).certificate
    assert smp.subject_matches_uid(cert, "C=NO,O=Direktoratet for Forvaltning og IKT,OU=PEPPOL TEST SMP,CN=PNO000179")
    assert smp.subject_matches_uid(cert, "CN=PNO000179, OU=PEPPOL TEST SMP, O=Direktoratet for Forvaltning og IKT, C=NO")
    assert not smp.subject_matches_uid(cert, "C=NO,O=Direktoratet for Forvaltning og IKT,OU=PEPPOL TEST SMP,CN=PNO000178")
    assert not smp.subject_matches_uid(cert, "CN=PNO000179")
