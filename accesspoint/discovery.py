"""The node's place in the Peppol discovery network: SML zone, local SML, our SMP, and the resolver.

Wiring only: the rules live in `sml/` and `smp/`. What this adds is the node's
policy: which SML our SMP registers at (our own local SML unless configured
otherwise), that an SML client must present a Peppol SMP certificate, and
which trust and TLS settings the lookups use.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
from cryptography import x509
from starlette.applications import Starlette

import certs
import sml
import smp
from accesspoint.smp_store import DbSmpStore, SmlRegistration
from accesspoint.sml_store import DbSmlStore
from ubl import ParticipantId

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["Discovery"]

log = logging.getLogger(__name__)


class Discovery:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = node.settings

    # -- names and addresses ------------------------------------------------------------
    @cached_property
    def zone(self) -> sml.Zone:
        return sml.Zone.named(self.settings.sml.zone)

    @property
    def smp_id(self) -> str:
        return self.settings.sml.smp_id or self.settings.node.seat_id

    @property
    def smp_public_url(self) -> str:
        """The SMP base URL published in the SML (NAPTR) and used in ServiceGroup hrefs."""
        return self.settings.smp_public_url

    @property
    def management_url(self) -> str:
        s = self.settings.sml
        if s.management_url:
            return s.management_url.rstrip("/")
        if s.local:
            return f"https://127.0.0.1:{s.soap_port}"
        return ""

    @property
    def dns_resolver(self) -> str | None:
        """`[sml] dns`; when empty, our local SML's DNS if we run one, else the system resolver."""
        s = self.settings.sml
        if s.dns:
            return s.dns
        return f"{s.dns_host}:{s.dns_port}" if s.local else None

    # -- TLS ----------------------------------------------------------------------------
    def client_tls(self) -> ssl.SSLContext:
        """Outbound HTTPS: the system CAs plus the configured extra CA (the local PKI's TLS CA)."""
        ctx = ssl.create_default_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        extra = self.settings.pki.tls_ca
        if extra and self.settings.path(extra).exists():
            ctx.load_verify_locations(cafile=str(self.settings.path(extra)))
        return ctx

    def _sml_client_tls(self) -> ssl.SSLContext:
        ctx = self.client_tls()
        p = self.settings.pki
        ctx.load_cert_chain(str(self.settings.path(p.smp_cert)), str(self.settings.path(p.smp_key)),
                            password=p.smp_key_password or None)
        return ctx

    @cached_property
    def sml_http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(verify=self._sml_client_tls(), timeout=httpx2.Timeout(30, connect=5))

    # -- our SMP ------------------------------------------------------------------------
    @cached_property
    def smp_store(self) -> DbSmpStore:
        return DbSmpStore(self.node.engine)

    @cached_property
    def sml_client(self) -> sml.SmlClient | None:
        url = self.management_url
        return sml.SmlClient(url, self.smp_id, http=self.sml_http) if url else None

    def smp_app(self) -> Starlette:
        keys = self.node.smp_keys
        tokens = [t for t in (self.settings.smp.write_token, self.settings.web.api_token) if t]
        config = smp.SmpServerConfig(
            signing_key=keys.key,
            signing_certificate=keys.cert,
            write_tokens=tokens,
            public_url=self.smp_public_url,
            registrar=SmlRegistration(self.sml_client) if self.sml_client else None,
        )
        return smp.create_smp_app(self.smp_store, config)

    async def ensure_smp_registered(self) -> None:
        """Make sure the SML knows our SMP (and its URL) before participants are registered."""
        client = self.sml_client
        if client is None:
            return
        try:
            info = await client.read_smp()
        except sml.NotFoundFault:
            # The SML answers an unknown SMP with a SOAP NotFound fault, which SOAP 1.1 sends as
            # HTTP 500: expected once, on the first start against an SML.
            log.info("SMP %s is not yet known at the SML %s: registering it", self.smp_id, self.management_url)
            await client.create_smp(self.smp_public_url, "127.0.0.1")
            log.info("registered SMP %s at the SML %s", self.smp_id, self.management_url)
            return
        if info.logical_address.rstrip("/") != self.smp_public_url:
            await client.update_smp(self.smp_public_url, "127.0.0.1")

    # -- the local SML ------------------------------------------------------------------
    def _authorise_smp(self, cert: x509.Certificate) -> str:
        """Only Peppol SMP certificates (of our trust set) may manage the local SML."""
        try:
            certs.verify_smp_certificate(cert, trust=self.node.trust, at=self.node.now())
        except certs.CertificateRejected as exc:
            raise sml.UnauthorizedFault(f"[ERR-101] The certificate is not a trusted SMP certificate: {exc}") from None
        return sml.certificate_owner(cert)

    def _client_ca_file(self) -> Path:
        trust = self.node.trust
        path = self.settings.directory / "run" / "sml-client-cas.pem"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"".join(certs.certificate_pem(c) for c in (*trust.roots, *trust.issuing_cas(certs.Role.SMP))))
        return path

    @contextlib.asynccontextmanager
    async def local_sml(self) -> AsyncIterator[None]:
        """Serve the local SML: DNS for the zone and the SOAP API over mutual TLS."""
        s = self.settings
        store = DbSmlStore(self.node.engine)
        local = sml.LocalSml(store, self.zone)
        app = sml.create_sml_app(local, authorize=self._authorise_smp)
        async with sml.DnsServer(self.zone, store, host=s.sml.dns_host, port=s.sml.dns_port), \
                sml.HttpsServer(app, certfile=s.path(s.pki.tls_cert), keyfile=s.path(s.pki.tls_key),
                                client_ca=self._client_ca_file(), host="127.0.0.1", port=s.sml.soap_port):
            log.info("local SML: DNS on %s:%s, SOAP on port %s", s.sml.dns_host, s.sml.dns_port, s.sml.soap_port)
            yield

    # -- finding other participants ----------------------------------------------------
    def resolver(self, http: httpx2.AsyncClient) -> smp.SmpResolver:
        """SML (NAPTR) then SMP (signed, verified against our trust), with the node's policy."""
        zone, resolver = self.zone, self.dns_resolver

        async def locate(pid: ParticipantId) -> str:
            return await sml.lookup_smp_url(pid, zone, resolver=resolver, require_https=self.settings.production)

        policy = smp.SmpPolicy(trust=self.node.trust, revocation=self.node.revocation,
                               production=self.settings.production)
        return smp.SmpResolver(locate, smp.SmpClient(http, policy))

    async def aclose(self) -> None:
        if "sml_http" in self.__dict__:
            await self.sml_http.aclose()
