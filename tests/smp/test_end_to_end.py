"""Our client against our server, for real: HTTPS on 127.0.0.1, SML over mutual TLS, NAPTR from our DNS server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

import sml
import smp
from accesspoint.db import create_engine, migrate
from accesspoint.smp_store import DbSmpStore
from tests.smp.network import TOKEN, ZONE, local_network
from ubl import BIS_BILLING_CREDIT_NOTE, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, ParticipantId

PID = ParticipantId.parse("0088:5798000000001")


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_register_lookup_deregister(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with local_network(tmp_path) as net:
            resolver = net.resolver()
            now = datetime.now(UTC)
            with pytest.raises(sml.ParticipantNotRegistered):
                await resolver.resolve(PID, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
            await net.publish(PID, address="https://ap.example.test/as4")
            found = await resolver.resolve(PID, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
            assert found.smp_url == net.smp_url
            assert found.address == "https://ap.example.test/as4"
            assert found.certificate() == net.ap.cert
            assert found.signer is not None and found.signer.seat_id == "PXX000001"

            group = await net.smp_client().lookup_service_group(net.smp_url, PID)
            assert group.document_type_ids == (BIS_BILLING_INVOICE,)
            with pytest.raises(smp.ParticipantNotFound):
                await net.smp_client().lookup_endpoint(net.smp_url, PID, BIS_BILLING_CREDIT_NOTE,
                                                       BIS_BILLING_PROCESS, at=now)
            # removing the participant removes it from DNS too
            r = await net.http.delete(smp.service_group_url(net.smp_url, PID),
                                      headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200
            with pytest.raises(sml.ParticipantNotRegistered):
                await sml.lookup_smp_url(PID, ZONE, resolver=net.dns_address)

    run(scenario())


def test_write_api_needs_the_token_and_checks_bodies(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with local_network(tmp_path) as net:
            url = smp.service_group_url(net.smp_url, PID)
            assert (await net.http.put(url)).status_code == 401
            assert (await net.http.put(url, headers={"Authorization": "Bearer wrong"})).status_code == 401
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert (await net.http.put(url, headers=auth)).status_code == 201
            assert (await net.http.put(url, headers=auth)).status_code == 200
            meta = smp.service_metadata_url(net.smp_url, PID, BIS_BILLING_INVOICE)
            assert (await net.http.put(meta, headers=auth, content=b"<not-smp/>")).status_code == 400
            assert (await net.http.put(meta, headers=auth, content=b"<a><b></a>")).status_code == 400
            assert (await net.http.put(meta, headers=auth,
                                       content=b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')).status_code == 400
            # a body for another participant than the URL names
            other = ParticipantId.parse("0088:5798000000002")
            await net.publish(other)
            body = (await net.http.get(smp.service_metadata_url(net.smp_url, other, BIS_BILLING_INVOICE))).content
            unsigned = smp.render_service_metadata(smp.parse_service_metadata(body).information)  # type: ignore[arg-type]
            assert (await net.http.put(meta, headers=auth, content=unsigned)).status_code == 400
            assert (await net.http.get(smp.service_group_url(net.smp_url, ParticipantId.parse("0088:1")))).status_code == 404
            assert (await net.http.get(net.smp_url + "/not-an-id")).status_code == 400

    run(scenario())


def test_our_signature_verifies_with_xmlsec1(tmp_path: Path) -> None:
    """An independent implementation (libxmlsec1 via python-xmlsec) accepts what our SMP signs."""
    import xmlsec
    from lxml import etree

    async def scenario() -> bytes:
        async with local_network(tmp_path) as net:
            await net.publish(PID)
            r = await net.http.get(smp.service_metadata_url(net.smp_url, PID, BIS_BILLING_INVOICE))
            assert r.status_code == 200
            return r.content

    body = run(scenario())
    root = etree.fromstring(body)
    sig = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    cert_b64 = sig.find(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate").text
    pem = b"-----BEGIN CERTIFICATE-----\n" + cert_b64.encode() + b"\n-----END CERTIFICATE-----\n"
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx.verify(sig)  # raises xmlsec.Error if it does not verify
    c14n = sig.find(".//{http://www.w3.org/2000/09/xmldsig#}CanonicalizationMethod").get("Algorithm")
    assert c14n == "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    # and a change to the content breaks it
    tampered = etree.fromstring(body.replace(b"0088:5798000000001", b"0088:5798000000009"))
    ctx2 = xmlsec.SignatureContext()
    ctx2.key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)
    with pytest.raises(xmlsec.Error):
        ctx2.verify(xmlsec.tree.find_node(tampered, xmlsec.constants.NodeSignature))


@pytest.mark.db
def test_database_store_end_to_end(tmp_path: Path, database_url: str) -> None:
    migrate(database_url)
    engine = create_engine(database_url)
    store = DbSmpStore(engine)

    async def scenario() -> None:
        async with local_network(tmp_path, store=store) as net:
            await net.publish(PID)
            await net.publish(PID, doctype=BIS_BILLING_CREDIT_NOTE)
            found = await net.resolver().resolve(PID, BIS_BILLING_CREDIT_NOTE, BIS_BILLING_PROCESS,
                                                 at=datetime.now(UTC))
            assert found.certificate() == net.ap.cert

    try:
        run(scenario())
        assert store.list_participants() == [PID]
        assert store.list_services(PID) == sorted([BIS_BILLING_INVOICE, BIS_BILLING_CREDIT_NOTE], key=str)
        assert store.put_service(PID, BIS_BILLING_INVOICE, b"<x/>") is False
        assert store.get_service(PID, BIS_BILLING_INVOICE) == b"<x/>"
        assert store.delete_service(PID, BIS_BILLING_INVOICE) is True
        assert store.delete_service(PID, BIS_BILLING_INVOICE) is False
        assert store.add_participant(PID) is False
        assert store.remove_participant(PID) is True
        assert store.list_services(PID) == [] and not store.has_participant(PID)
        with pytest.raises(KeyError):
            store.put_service(PID, BIS_BILLING_INVOICE, b"<x/>")
    finally:
        engine.dispose()


def test_revoked_certificates_are_refused(tmp_path: Path) -> None:
    """Testbed TC2A.4: never send to a revoked AP; and an answer signed by a revoked SMP is not trusted."""
    import certs

    async def scenario() -> None:
        async with local_network(tmp_path) as net:
            await net.publish(PID)
            now = datetime.now(UTC)
            checkers = [certs.RevocationChecker(soft_fail=False) for _ in range(3)]
            try:
                with certs.RevocationServer(net.pki):
                    found = await net.resolver(revocation=checkers[0]).resolve(
                        PID, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
                    assert found.certificate() == net.ap.cert
                    net.pki.revoke(net.ap.cert)
                    with pytest.raises(smp.NoEndpoint) as exc:
                        await net.resolver(revocation=checkers[1]).resolve(
                            PID, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
                    assert exc.value.reason is smp.NoEndpointReason.BAD_CERTIFICATE
                    net.pki.revoke(net.smp_signer.cert)
                    with pytest.raises(smp.SmpSignatureError) as sig:
                        await net.resolver(revocation=checkers[2]).resolve(
                            PID, BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, at=now)
                    assert sig.value.reason is smp.SignatureProblem.UNTRUSTED
            finally:
                for checker in checkers:
                    checker.close()

    run(scenario())


def test_pint_wildcard_registration_is_found(tmp_path: Path) -> None:
    from ubl import DocumentTypeId

    registered = DocumentTypeId(
        "peppol-doctype-wildcard",
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:peppol:pint:billing-1@jp-1*::2.1")
    wanted = DocumentTypeId(
        "peppol-doctype-wildcard",
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:peppol:pint:billing-1@jp-1@acme-2::2.1")
    unrelated = DocumentTypeId(
        "peppol-doctype-wildcard",
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:peppol:pint:billing-1@sg-1::2.1")

    async def scenario() -> None:
        async with local_network(tmp_path) as net:
            await net.publish(PID, doctype=registered)
            found = await net.resolver().resolve(PID, wanted, BIS_BILLING_PROCESS, at=datetime.now(UTC))
            assert found.document_type_id == registered
            with pytest.raises(smp.ParticipantNotFound):
                await net.resolver().resolve(PID, unrelated, BIS_BILLING_PROCESS, at=datetime.now(UTC))

    run(scenario())
