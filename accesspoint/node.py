"""The node: settings plus the long-lived services built from them.

This is the composition root's object graph. Protocol packages get plain
arguments from here (keys, trust stores, policies); nothing below `accesspoint`
reads configuration itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

import certs
from accesspoint import db
from accesspoint.config import Settings, load_settings
from accesspoint.mail import Mailer, SmtpMailer

if TYPE_CHECKING:
    from accesspoint.delivery.service import DeliveryService
    from accesspoint.discovery import Discovery

__all__ = ["Node"]

log = logging.getLogger(__name__)


class Node:
    """The node's object graph, in one of two roles (see `accesspoint.processes`).

    role="primary" is the whole node: it migrates the database and runs every background
    service. role="http" is an extra `serve` process beside a primary: it answers HTTP and
    delivers from the outbox, and runs none of the once-per-node services.
    """

    def __init__(self, settings: Settings, *, mailer: Mailer | None = None, role: str = "primary") -> None:
        if role not in ("primary", "http"):
            raise ValueError(f"unknown node role {role!r}")
        self.settings = settings
        self._mailer = mailer
        self.role = role

    @classmethod
    def open(cls, directory: str, **kwargs: Any) -> Node:
        return cls(load_settings(directory), **kwargs)

    # -- clock --------------------------------------------------------------------------
    @staticmethod
    def now() -> datetime:
        """The one place the node reads the clock; everything below takes time as an argument."""
        return datetime.now(UTC)

    # -- database -----------------------------------------------------------------------
    @cached_property
    def engine(self) -> sa.Engine:
        d = self.settings.database
        return db.create_engine(self.settings.database_url, pool_size=d.pool_size, max_overflow=d.max_overflow)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        db.migrate(self.engine)

    # -- PKI ----------------------------------------------------------------------------
    @cached_property
    def trust(self) -> certs.TrustStore:
        pki = self.settings.pki
        if pki.trust == "local":
            return certs.TestPki.load(self.settings.path(pki.local_pki_dir)).trust_store()
        if pki.trust == "files":
            return certs.TrustStore.from_pem_files([self.settings.path(p) for p in pki.trust_files])
        return certs.TrustStore.builtin(pki.trust)

    @cached_property
    def ap_keys(self) -> certs.KeyPair:
        p = self.settings.pki
        return certs.load_key_pair(self.settings.path(p.ap_key), self.settings.path(p.ap_cert),
                                   p.ap_key_password or None)

    @cached_property
    def smp_keys(self) -> certs.KeyPair:
        p = self.settings.pki
        return certs.load_key_pair(self.settings.path(p.smp_key), self.settings.path(p.smp_cert),
                                   p.smp_key_password or None)

    @cached_property
    def revocation(self) -> certs.RevocationChecker | None:
        if not self.settings.revocation.enabled:
            return None
        return certs.RevocationChecker(soft_fail=self.settings.revocation_soft_fail)

    # -- services -----------------------------------------------------------------------
    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            self._mailer = SmtpMailer(self.settings.smtp)
        return self._mailer

    def health(self) -> tuple[bool, dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return False, {"database": f"unavailable: {type(exc).__name__}"}
        return True, {"database": "ok", "seat_id": self.settings.node.seat_id}

    @contextlib.asynccontextmanager
    async def _local_revocation_responder(self) -> AsyncIterator[None]:
        """With the node's own test PKI, serve its OCSP responder and CRLs (unless something already does)."""
        with certs.serve_revocation(certs.TestPki.load(self.settings.path(self.settings.pki.local_pki_dir))):
            yield

    @cached_property
    def discovery(self) -> Discovery:
        from accesspoint.discovery import Discovery

        return Discovery(self)

    @cached_property
    def validator(self) -> Any:
        """The official UBL validation (XSD + BIS rules) if rules are configured or installed, else None."""
        import ubl
        from accesspoint import rules_cache

        v = self.settings.validation
        rules = self.settings.path(v.rules_dir) if v.rules_dir else rules_cache.installed_rules()
        xsd = self.settings.path(v.xsd_dir) if v.xsd_dir else rules_cache.installed_xsd()
        if rules is None and xsd is None:
            return None
        return ubl.Validator(rules_dir=rules, xsd_dir=xsd)

    @cached_property
    def delivery(self) -> DeliveryService:
        """Outbox, inbox and workers: AS4 + SML/SMP lookups over one httpx2 client, email fallback."""
        from datetime import timedelta

        import ubl
        from accesspoint.delivery.service import DeliveryService, ubl_validator
        from accesspoint.delivery.worker import RetryPolicy

        d = self.settings.delivery
        policy = RetryPolicy(max_attempts=d.max_attempts, first_delay=timedelta(seconds=d.first_retry_seconds),
                             needs_email_timeout=timedelta(hours=d.needs_email_timeout_hours))
        validator = ubl_validator(self.validator) if self.validator is not None else None
        service = DeliveryService.for_node(self, policy=policy, validator=validator)
        if d.mls_type:
            service.mls_type = ubl.MlsType[d.mls_type]
        return service

    @cached_property
    def intake(self) -> Any:
        """Mail intake (trusted senders, W7): what the SMTP listener stores mail with."""
        from accesspoint.delivery.service import ubl_validator
        from accesspoint.intake.dmarc import DmarcChecker
        from accesspoint.intake.receive import Intake

        return Intake(self.sessions, clock=self.now, mailer=self.mailer,
                      validator=ubl_validator(self.validator) if self.validator is not None else None,
                      dmarc=DmarcChecker(self.settings.intake.dns), node_name=self.settings.node.name)

    @contextlib.asynccontextmanager
    async def _intake_listener(self) -> AsyncIterator[None]:
        import ssl

        from accesspoint.intake.listener import serving

        i, pki = self.settings.intake, self.settings.pki
        tls = None
        if self.settings.path(pki.tls_cert).exists():
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.settings.path(pki.tls_cert), self.settings.path(pki.tls_key))
        async with serving(self.intake, host=i.host, port=i.port, max_message_bytes=i.max_message_bytes,
                           hostname=i.domain, tls_context=tls):
            yield

    @property
    def outbox(self) -> Any:
        return self.delivery.outbox

    @contextlib.asynccontextmanager
    async def _delivery_workers(self) -> AsyncIterator[None]:
        import os

        d = self.settings.delivery
        async with self.delivery.running(workers=d.workers, poll_interval=d.poll_interval, id_prefix=f"p{os.getpid()}"):
            yield

    @contextlib.asynccontextmanager
    async def _sharing_scheduler(self, interval: float = 300.0) -> AsyncIterator[None]:
        """Invite reminders (day 3 and 10), expiry and session clean-up, every few minutes."""
        import asyncio

        from accesspoint.sharing.context import services_for
        from accesspoint.sharing.scheduler import run_due

        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(run_due, services_for(self), self.now())
                except Exception:  # noqa: BLE001 - composition root: log, keep the node up, try again
                    log.exception("sharing scheduler pass failed")
                await asyncio.sleep(interval)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def _warm_validator(self) -> AsyncIterator[None]:
        """Compile the official rules before the first document arrives (about a second)."""
        import asyncio

        if self.validator is not None:
            await asyncio.to_thread(self.validator.warm_up)
        yield

    @contextlib.asynccontextmanager
    async def _smp_registration(self) -> AsyncIterator[None]:
        """Register our SMP at the SML, then finish the participant registrations that wait for it
        (`accesspoint.network`); a node whose SML is down still starts, and tries again next start."""
        from accesspoint import network

        try:
            await self.discovery.ensure_smp_registered()
            network.publish_mls_participant(self)
            for r in await network.sync_sml(self):
                if r.sml_state in ("pending", "refused"):
                    log.warning("participant %s: SML registration %s: %s", r.participant_id, r.sml_state, r.detail)
        except Exception as exc:  # noqa: BLE001 - composition root: log and serve anyway
            log.warning("could not register at the SML %s: %s", self.discovery.management_url, exc)
        yield

    def background_services(self) -> list[contextlib.AbstractAsyncContextManager[Any]]:
        """What runs beside the web app while the node serves, started in this order.

        An HTTP worker runs none of the once-per-node services. It compiles the rules (so its
        first validated document is as fast as the primary's) and runs delivery workers too:
        sealing (RSA, AES-GCM, c14n, gzip) is as CPU-heavy as receiving, and the outbox claims
        (`FOR UPDATE SKIP LOCKED` / SQLite's single writer) already make delivery from several
        processes exactly-once, so outbound uses every core as inbound does.
        """
        if self.role == "http":
            http_services: list[contextlib.AbstractAsyncContextManager[Any]] = [self._warm_validator()]
            if self.settings.delivery.workers:
                http_services.append(self._delivery_workers())
            return http_services
        services: list[contextlib.AbstractAsyncContextManager[Any]] = []
        if self.settings.pki.trust == "local" and self.settings.revocation.enabled:
            services.append(self._local_revocation_responder())
        if self.settings.sml.local:
            services.append(self.discovery.local_sml())
        services.append(self._smp_registration())
        services.append(self._warm_validator())
        if self.settings.delivery.workers:
            services.append(self._delivery_workers())
        services.append(self._sharing_scheduler())
        if self.settings.intake.enabled:
            services.append(self._intake_listener())
        return services

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        if self.role == "primary":
            self.migrate()  # applied at start-up, before anything is served (HTTP workers start after)
        async with contextlib.AsyncExitStack() as stack:
            for service in self.background_services():
                await stack.enter_async_context(service)
            try:
                yield
            finally:
                if "delivery" in self.__dict__:  # built here; its workers (if any) closed it already
                    await self.delivery.aclose()
                await self.discovery.aclose()
                if self.revocation is not None:
                    self.revocation.close()
                self.engine.dispose()
