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
    from accesspoint.discovery import Discovery

__all__ = ["Node"]

log = logging.getLogger(__name__)


class Node:
    def __init__(self, settings: Settings, *, mailer: Mailer | None = None) -> None:
        self.settings = settings
        self._mailer = mailer

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
        return db.create_engine(self.settings.database_url)

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
        pki = certs.TestPki.load(self.settings.path(self.settings.pki.local_pki_dir))
        server = certs.RevocationServer(pki)
        try:
            server.start()
        except OSError:  # another node of the same local network serves this PKI already
            yield
            return
        try:
            yield
        finally:
            server.stop()

    @cached_property
    def discovery(self) -> Discovery:
        from accesspoint.discovery import Discovery

        return Discovery(self)

    @contextlib.asynccontextmanager
    async def _smp_registration(self) -> AsyncIterator[None]:
        """Register our SMP at the SML once it answers; a node whose SML is down still starts."""
        try:
            await self.discovery.ensure_smp_registered()
        except Exception as exc:  # noqa: BLE001 - composition root: log and serve anyway
            log.warning("could not register our SMP at the SML %s: %s", self.discovery.management_url, exc)
        yield

    def background_services(self) -> list[contextlib.AbstractAsyncContextManager[Any]]:
        """What runs beside the web app while the node serves, started in this order."""
        services: list[contextlib.AbstractAsyncContextManager[Any]] = []
        if self.settings.pki.trust == "local" and self.settings.revocation.enabled:
            services.append(self._local_revocation_responder())
        if self.settings.sml.local:
            services.append(self.discovery.local_sml())
        services.append(self._smp_registration())
        return services

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        self.migrate()  # migrations are applied at start-up, before anything is served
        async with contextlib.AsyncExitStack() as stack:
            for service in self.background_services():
                await stack.enter_async_context(service)
            try:
                yield
            finally:
                await self.discovery.aclose()
                if self.revocation is not None:
                    self.revocation.close()
                self.engine.dispose()
