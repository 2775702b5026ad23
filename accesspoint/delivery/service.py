"""The delivery services of one node, built from its collaborators: what `serve` starts.

    service = DeliveryService.for_node(node)      # AS4 + SML/SMP discovery over its own httpx2 client
    app routes use service.outbox / service.inbox / service.as4_store
    async with service.running(workers=2): ...   # the delivery workers, beside the web app

Everything is passed in (session factory, clock, resolver, httpx2 client,
mailer), so tests and the CLI build the same object with real parts of their
choosing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx2
from sqlalchemy.orm import Session, sessionmaker

import smp
import ubl
from accesspoint import mls
from accesspoint.mail import Mailer

from .inbox import Inbox
from .outbox import EntryView, Outbox, Validator
from .peppol import As4HttpTransport, InboxStore, SmpDirectory
from .routing import EndpointDirectory, Router
from .transport import As4Transport
from .worker import DeliveryWorker, PdfRenderer, RetryPolicy, Siblings

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = ["DeliveryService", "ubl_validator"]


def ubl_pdf(content: bytes) -> bytes | None:
    """The PDF for the email fallback: the one the supplier embedded, else one rendered by ubl.

    None for documents ubl's model does not hold (not an Invoice/CreditNote): the UBL
    still goes out, without a PDF copy.
    """
    try:
        doc = ubl.parse_document(content).document
        return ubl.choose_pdf(doc, ubl.EmbeddedPdfPolicy.ONLY_WHEN_NONE).data
    except ubl.UblError:
        return None


def ubl_validator(validator: ubl.Validator) -> Validator:
    """Submit-time and receive-time validation with ubl's validator: the ids of fatal findings.

    Rule sets that could not run are SKIPPED by ubl and do not block (a node without
    installed rules still sends); a stylesheet that breaks on a document is fatal.
    """

    def fatal(data: bytes) -> list[str]:
        try:
            report = validator.validate(data)
        except ubl.UblError as exc:
            return [f"unreadable: {exc}"]
        return sorted({f.rule_id for f in report.fatal})

    return fatal


class DeliveryService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        seat_id: str,
        directory: EndpointDirectory | None = None,
        as4: As4Transport | None = None,
        mailer: Mailer | None = None,
        link_base_url: str = "",
        validator: Validator | None = None,
        render_pdf: PdfRenderer | None = ubl_pdf,
        policy: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.seat_id = seat_id
        self.router = Router(sessions, directory)
        self.outbox = Outbox(sessions, clock=clock, router=self.router, validator=validator)
        self.inbox = Inbox(sessions, clock=clock, seat_id=seat_id, validator=validator)
        self.as4_store = InboxStore(self.inbox)
        self.as4 = as4
        self.mailer = mailer
        self.link_base_url = link_base_url
        self.render_pdf = render_pdf
        self.policy = policy
        self.workers: list[DeliveryWorker] = []
        #: One idle poller among this service's loops (they all run in one event loop).
        self.siblings = Siblings()
        #: MLS_TYPE we ask receivers for; None = the envelope default, FAILURE_ONLY (SBDH 2.0.2).
        self.mls_type: ubl.MlsType | None = None
        try:
            self.mls_to: ubl.ParticipantId | None = mls.spis_participant(seat_id)
        except (ValueError, ubl.UblError):
            self.mls_to = None

    @classmethod
    def from_node(cls, node: Node, *, resolver: smp.EndpointResolver | None = None,
                  http: httpx2.AsyncClient | None = None, **kwargs: Any) -> DeliveryService:
        """The node's delivery: AS4 over `http` with the node's AP key, lookups through `resolver`."""
        settings = node.settings
        as4 = None
        if http is not None:
            as4 = As4HttpTransport(http, keys=lambda: node.ap_keys, trust=node.trust,
                                   revocation=node.revocation, clock=node.now)
        return cls(
            node.sessions, clock=node.now, seat_id=settings.node.seat_id,
            directory=SmpDirectory(resolver, clock=node.now) if resolver is not None else None,
            as4=as4, mailer=node.mailer, link_base_url=settings.web.base_url or settings.node.public_url,
            **kwargs,
        )

    @classmethod
    def for_node(cls, node: Node, **kwargs: Any) -> DeliveryService:
        """The complete delivery of a node: AS4 and SML/SMP lookups over one owned httpx2 client
        (TLS as `node.discovery` sets it up), closed by `aclose()` or when `running()` ends."""
        import as4

        http = as4.make_client(verify=node.discovery.client_tls())
        service = cls.from_node(node, resolver=node.discovery.resolver(http), http=http, **kwargs)
        service.owned_http = http
        return service

    owned_http: httpx2.AsyncClient | None = None

    async def aclose(self) -> None:
        if self.owned_http is not None:
            await self.owned_http.aclose()
            self.owned_http = None

    def worker(self, worker_id: str | None = None, **kwargs: Any) -> DeliveryWorker:
        kwargs.setdefault("policy", self.policy)
        w = DeliveryWorker(
            self.sessions, router=self.router, clock=self.clock, seat_id=self.seat_id, as4=self.as4,
            mailer=self.mailer, link_base_url=self.link_base_url, issue_link=self.outbox.issue_link,
            render_pdf=self.render_pdf, worker_id=worker_id, mls_to=self.mls_to, mls_type=self.mls_type,
            siblings=self.siblings, **kwargs,
        )
        self.workers.append(w)
        return w

    def wake(self) -> None:
        """Nudge the workers after a submit, so delivery starts without waiting for the next poll."""
        for w in self.workers:
            w.wake()

    def provide_email(self, entry_id: str, email: str) -> EntryView:
        """W8.2(c): the address a `needs_email` entry waits for; delivery continues by email at once.

        The one path behind `POST /api/v1/documents/{id}/email` and the web pages' form, so both
        check the address and move the entry the same way. Raises DocumentRejected (bad-email,
        or bad-state once the entry is past needing an address) and UnknownEntry.
        """
        entry = self.outbox.provide_email(entry_id, email)
        self.wake()
        return entry

    @contextlib.asynccontextmanager
    async def running(self, *, workers: int = 2, poll_interval: float = 1.0,
                      id_prefix: str | None = None) -> AsyncIterator[DeliveryService]:
        """Run `workers` delivery loops in this process until the block exits.

        `id_prefix` names the loops `<prefix>-<n>` in the outbox events, so an operator
        (and the exactly-once test) can tell which process delivered what.
        """
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                self.worker(f"{id_prefix}-{n}" if id_prefix else None).run(stop, poll_interval=poll_interval))
            for n in range(workers)
        ]
        try:
            yield self
        finally:
            stop.set()
            for w in self.workers:
                w.wake()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.aclose()
