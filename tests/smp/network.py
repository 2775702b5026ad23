"""A whole local Peppol discovery network on 127.0.0.1, for end-to-end tests and benchmarks/lookup.py.

    test PKI ─ SML (SOAP over mutual TLS, LocalSml) ─ DNS server (NAPTR for the zone)
             └ our SMP (HTTPS, signs with an SMP certificate, registers participants at the SML)

Everything binds port 0 and stops on exit.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2

import certs
import sml
import smp
from accesspoint.smp_store import SmlRegistration
from ubl import BIS_BILLING_INVOICE, BIS_BILLING_PROCESS, ParticipantId

TOKEN = "s3cret-write-token"
ZONE = sml.Zone.TEST


@dataclass
class Network:
    directory: Path
    pki: certs.TestPki
    ap: certs.Issued
    smp_signer: certs.Issued
    smp_url: str
    dns_address: str
    tls_ca_file: Path
    trust_file: Path
    http: httpx2.AsyncClient  # trusts our TLS CA

    def smp_client(self, **policy: object) -> smp.SmpClient:
        return smp.SmpClient(self.http, smp.SmpPolicy(trust=self.pki.trust_store(), **policy))  # type: ignore[arg-type]

    def resolver(self, **policy: object) -> smp.SmpResolver:
        async def locate(pid: ParticipantId) -> str:
            return await sml.lookup_smp_url(pid, ZONE, resolver=self.dns_address)

        return smp.SmpResolver(locate, self.smp_client(**policy))

    async def publish(self, pid: ParticipantId, *, address: str = "https://127.0.0.1:8443/as4",
                      doctype=BIS_BILLING_INVOICE, process=BIS_BILLING_PROCESS) -> None:  # type: ignore[no-untyped-def]
        """Register `pid` at our SMP (and so at the SML) with an AS4 endpoint for `doctype`."""
        headers = {"Authorization": f"Bearer {TOKEN}"}
        r = await self.http.put(smp.service_group_url(self.smp_url, pid), headers=headers)
        r.raise_for_status()
        now = datetime.now(UTC)
        endpoint = smp.Endpoint.with_certificate(
            smp.TRANSPORT_AS4_V2, address, self.ap.cert,
            activation=now - timedelta(days=1), expiration=now + timedelta(days=365))
        info = smp.ServiceInformation(pid, doctype, (smp.ProcessMetadata(process, (endpoint,)),))
        r = await self.http.put(smp.service_metadata_url(self.smp_url, pid, doctype),
                                content=smp.render_service_metadata(info), headers=headers)
        r.raise_for_status()


@contextlib.asynccontextmanager
async def local_network(directory: Path, store: smp.SmpStore | None = None) -> AsyncIterator[Network]:
    pki = certs.TestPki.generate(directory / "pki")
    files = directory / "files"
    tls_key, tls_cert = pki.issue_tls("127.0.0.1", "localhost").write(files, "tls")
    smp_signer = pki.issue_smp("PXX000001")
    smp_key_file, smp_cert_file = smp_signer.write(files, "smp")
    ap = pki.issue_ap("PXX000002")
    tls_ca_file = files / "tls-ca.pem"
    tls_ca_file.write_bytes(certs.certificate_pem(pki.tls_ca.cert))
    client_ca = files / "sml-clients.pem"
    client_ca.write_bytes(certs.certificate_pem(pki.smp_ca.cert) + certs.certificate_pem(pki.root.cert))
    trust_file = files / "peppol-trust.pem"
    trust_file.write_bytes(pki.trust_pem())

    sml_store = sml.MemorySmlStore()
    local = sml.LocalSml(sml_store, ZONE)
    http = httpx2.AsyncClient(verify=ssl.create_default_context(cafile=str(tls_ca_file)), timeout=10)
    sml_http = httpx2.AsyncClient(verify=sml.mtls_context(cert=smp_cert_file, key=smp_key_file, ca=tls_ca_file),
                                 timeout=10)
    async with sml.HttpsServer(sml.create_sml_app(local), certfile=tls_cert, keyfile=tls_key,
                               client_ca=client_ca) as sml_server, \
            sml.DnsServer(ZONE, sml_store) as dns_server:
        sml_client = sml.SmlClient(sml_server.url, "PXX000001-SMP", http=sml_http)
        config = smp.SmpServerConfig(signing_key=smp_signer.key, signing_certificate=smp_signer.cert,
                                     write_tokens=[TOKEN], registrar=SmlRegistration(sml_client))
        app = smp.create_smp_app(store if store is not None else smp.InMemorySmpStore(), config)
        async with sml.HttpsServer(app, certfile=tls_cert, keyfile=tls_key) as smp_server:
            await sml_client.create_smp(smp_server.url, "127.0.0.1")
            try:
                yield Network(directory, pki, ap, smp_signer, smp_server.url, dns_server.address, tls_ca_file,
                              trust_file, http)
            finally:
                await http.aclose()
                await sml_http.aclose()
