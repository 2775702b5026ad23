"""SmlClient against our local SML over real mutual TLS on 127.0.0.1, with DNS."""

from __future__ import annotations

import asyncio
import ssl

import httpx2
import pytest

from certs import TestPki, certificate_pem
from sml import (
    BadRequestFault,
    DnsServer,
    LocalSml,
    MemorySmlStore,
    NotFoundFault,
    ParticipantNotRegistered,
    SmlTransportError,
    UnauthorizedFault,
    Zone,
    lookup_smp_url,
)
from sml.client import SmlClient, mtls_context
from sml.https import HttpsServer
from sml.server import create_sml_app
from ubl import ParticipantId

ZONE = Zone("sml.mtls.test")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sml-pki")
    pki = TestPki.generate(directory / "pki")
    files = {}
    files["server_key"], files["server_cert"] = pki.issue_tls("127.0.0.1").write(directory, "sml-server")
    files["smp1_key"], files["smp1_cert"] = pki.issue_smp("PSM000001").write(directory, "smp1")
    files["smp2_key"], files["smp2_cert"] = pki.issue_smp("PSM000002").write(directory, "smp2")
    files["ap_key"], files["ap_cert"] = pki.issue_ap("PAP000001").write(directory, "ap")
    clients = directory / "smp-clients.pem"
    clients.write_bytes(certificate_pem(pki.smp_ca.cert) + certificate_pem(pki.root.cert))
    files["client_ca"] = clients
    tls_ca = directory / "tls-ca.pem"
    tls_ca.write_bytes(certificate_pem(pki.tls_ca.cert))
    files["tls_ca"] = tls_ca
    return files


def _client(pki, which: str, server: HttpsServer, smp_id: str) -> tuple[httpx2.AsyncClient, SmlClient]:
    ctx = mtls_context(cert=pki[f"{which}_cert"], key=pki[f"{which}_key"], ca=pki["tls_ca"])
    http = httpx2.AsyncClient(verify=ctx, timeout=10)
    return http, SmlClient(server.url + "/edelivery-sml", smp_id, http=http)


def _app(local: LocalSml):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    return Starlette(routes=[Mount("/edelivery-sml", create_sml_app(local))])


def test_register_lookup_migrate_delete_over_mutual_tls(pki):
    async def main():
        store = MemorySmlStore()
        local = LocalSml(store, ZONE)
        pid = ParticipantId.parse("0088:5798000000001")
        async with HttpsServer(_app(local), certfile=pki["server_cert"], keyfile=pki["server_key"],
                               client_ca=pki["client_ca"]) as server, DnsServer(ZONE, store) as dns_server:
            http1, smp1 = _client(pki, "smp1", server, "SMP-ONE")
            http2, smp2 = _client(pki, "smp2", server, "SMP-TWO")
            async with http1, http2:
                await smp1.create_smp("https://smp1.example/", "192.0.2.1")
                await smp2.create_smp("https://smp2.example/", "192.0.2.2")
                with pytest.raises(BadRequestFault) as dup:
                    await smp1.create_smp("https://smp1.example/", "192.0.2.1")
                assert dup.value.code == "ERR-106"
                info = await smp1.read_smp()
                assert (info.smp_id, info.logical_address, info.physical_address) == (
                    "SMP-ONE", "https://smp1.example/", "192.0.2.1")

                with pytest.raises(ParticipantNotRegistered):
                    await lookup_smp_url(pid, ZONE, resolver=dns_server.address)
                await smp1.create_participant(pid)
                assert await lookup_smp_url(pid, ZONE, resolver=dns_server.address) == "https://smp1.example/"
                with pytest.raises(BadRequestFault) as exists:
                    await smp1.create_participant(pid)
                assert exists.value.code == "ERR-106" and "already exists" in exists.value.message
                assert await smp1.list_participants() == [pid]
                assert await smp2.list_participants() == []

                # SMP two may not touch SMP one's participant, nor act as SMP one.
                with pytest.raises(UnauthorizedFault) as unauth:
                    await smp2.delete_participant(pid)
                assert unauth.value.code == "ERR-101"
                impostor = SmlClient(server.url + "/edelivery-sml", "SMP-ONE", http=http2)
                with pytest.raises(UnauthorizedFault):
                    await impostor.delete_participant(pid)
                with pytest.raises(UnauthorizedFault):
                    await impostor.read_smp()
                with pytest.raises(NotFoundFault):
                    await smp2.migrate(pid, "Wr0ng!Key#")

                # Migration: SMP one hands the key over, SMP two takes the participant.
                key = await smp1.prepare_to_migrate(pid)
                await smp2.migrate(pid, key)
                assert await lookup_smp_url(pid, ZONE, resolver=dns_server.address) == "https://smp2.example/"
                assert await smp2.list_participants() == [pid]
                assert await smp1.list_participants() == []
                with pytest.raises(NotFoundFault):  # a key works once
                    await smp2.migrate(pid, key)

                # Moving the SMP moves every participant's NAPTR.
                await smp2.update_smp("https://smp2-new.example/", "192.0.2.3")
                assert await lookup_smp_url(pid, ZONE, resolver=dns_server.address) == "https://smp2-new.example/"
                await smp2.delete_participant(pid)
                with pytest.raises(ParticipantNotRegistered):
                    await lookup_smp_url(pid, ZONE, resolver=dns_server.address)
                with pytest.raises(NotFoundFault):
                    await smp2.delete_participant(pid)

                await smp2.create_participant(pid)
                await smp2.delete_smp()  # takes its participants along
                with pytest.raises(ParticipantNotRegistered):
                    await lookup_smp_url(pid, ZONE, resolver=dns_server.address)
                with pytest.raises(NotFoundFault):
                    await smp2.read_smp()

    asyncio.run(main())


def test_list_pages(pki, monkeypatch):
    import sml.local

    monkeypatch.setattr(sml.local, "PAGE_SIZE", 3)

    async def main():
        store = MemorySmlStore()
        async with HttpsServer(_app(LocalSml(store, ZONE)), certfile=pki["server_cert"], keyfile=pki["server_key"],
                               client_ca=pki["client_ca"]) as server:
            http, client = _client(pki, "smp1", server, "SMP-ONE")
            async with http:
                await client.create_smp("https://smp1.example/", "192.0.2.1")
                pids = [ParticipantId.parse(f"0088:{n:04d}") for n in range(8)]
                for pid in pids:
                    await client.create_participant(pid)
                assert await client.list_participants() == pids

    asyncio.run(main())


def test_tls_refuses_missing_or_foreign_client_certificates(pki):
    async def main():
        local = LocalSml(MemorySmlStore(), ZONE)
        async with HttpsServer(_app(local), certfile=pki["server_cert"], keyfile=pki["server_key"],
                               client_ca=pki["client_ca"]) as server:
            anonymous = ssl.create_default_context(cafile=str(pki["tls_ca"]))
            async with httpx2.AsyncClient(verify=anonymous, timeout=10) as http:
                with pytest.raises(SmlTransportError):
                    await SmlClient(server.url + "/edelivery-sml", "SMP-X", http=http).read_smp()
            # An AP certificate chains to an issuing CA the SML does not accept for SMPs.
            http, client = _client(pki, "ap", server, "SMP-X")
            async with http:
                with pytest.raises(SmlTransportError):
                    await client.read_smp()

    asyncio.run(main())


def test_optional_client_certificates(pki):
    async def main():
        local = LocalSml(MemorySmlStore(), ZONE)
        async with HttpsServer(_app(local), certfile=pki["server_cert"], keyfile=pki["server_key"],
                               client_ca=pki["client_ca"], client_cert_required=False) as server:
            anonymous = ssl.create_default_context(cafile=str(pki["tls_ca"]))
            async with httpx2.AsyncClient(verify=anonymous, timeout=10) as http:
                with pytest.raises(UnauthorizedFault):  # connected, but the SML wants a certificate
                    await SmlClient(server.url + "/edelivery-sml", "SMP-X", http=http).read_smp()
            http, client = _client(pki, "smp1", server, "SMP-ONE")
            async with http:
                await client.create_smp("https://smp1.example/", "192.0.2.1")
                assert (await client.read_smp()).smp_id == "SMP-ONE"

    asyncio.run(main())


def test_without_tls_the_app_refuses(pki):
    async def main():
        app = _app(LocalSml(MemorySmlStore(), ZONE))
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sml") as http:
            with pytest.raises(UnauthorizedFault) as info:
                await SmlClient("http://sml/edelivery-sml", "SMP-X", http=http).read_smp()
            assert info.value.code == "ERR-101"
            bad = await http.post("/edelivery-sml/manageservicemetadata", content=b"x")
            assert bad.status_code == 500 and b"UnauthorizedFault" in bad.content

    asyncio.run(main())


def test_input_checks_of_the_local_sml(pki):
    async def main():
        local = LocalSml(MemorySmlStore(), ZONE)
        for smp_id, url, ip in (("bad id!", "https://a/", "192.0.2.1"), ("S", "ftp://a/", "192.0.2.1"),
                                ("S", "https://a/", "not-an-ip"), ("S", "https://a!b/", "192.0.2.1")):
            with pytest.raises(BadRequestFault):
                await local.create_smp("o", smp_id, url, ip)
        await local.create_smp("o", "S", "https://a/", "192.0.2.1")
        pid = ParticipantId.parse("0088:1")
        await local.create_participant("o", "S", pid)
        for key in ("short1A!", "alllowercase12!!", "ABCDEFGH12!!", "Abcdefgh!!", "Ab12Cd34ef"):
            with pytest.raises(BadRequestFault):
                await local.prepare_to_migrate("o", "S", pid, key)
        with pytest.raises(NotFoundFault):
            await local.create_participant("o", "NOPE", pid)
        await local.prepare_to_migrate("o", "S", pid, "Ab1!cD2#")
        await local.create_smp("o2", "S2", "https://b/", "192.0.2.2")
        for wrong in ("clé€Ab1!cD2#", "", "Ab1!cD2$"):
            with pytest.raises(NotFoundFault):
                await local.migrate("o2", "S2", pid, wrong)
        with pytest.raises(UnauthorizedFault):  # only the owner of S2 may migrate into S2
            await local.migrate("o", "S2", pid, "Ab1!cD2#")
        await local.migrate("o2", "S2", pid, "Ab1!cD2#")
        assert (await local.list_participants("o2", "S2")).participants == (pid,)

    asyncio.run(main())
