"""Peppol delivery between two nodes: real AS4 over HTTPS, signed and encrypted, to a real receiver
whose store is the node's database; failure paths; duplicates; MLS back to the sender."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx2
import pytest
import sqlalchemy as sa

import as4
import certs
import smp
import ubl
from accesspoint.db.tables.documents import Document, Transaction
from accesspoint.delivery import RetryPolicy, State
from accesspoint.delivery.peppol import As4HttpTransport, InboxStore, SmpDirectory
from accesspoint.delivery.service import DeliveryService
from accesspoint.delivery.transport import As4Request
from accesspoint.delivery.routing import PeppolEndpoint
from tests.accesspoint.helpers import (
    BUYER_REMOTE, SELLER, AsgiServer, Clock, add_organisation, invoice, make_sessions,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    pki = certs.TestPki.generate(d / "pki")
    tls = pki.issue_tls("localhost")
    key_path, cert_path = tls.write(d, "tls")
    return pki, pki.issue_ap("PBE000001"), pki.issue_ap("PBE000002"), cert_path, key_path


@dataclass
class Side:
    service: DeliveryService
    server: AsgiServer
    sessions: object
    engine: object


def tls_client(pki) -> httpx2.AsyncClient:
    ctx = as4.tls_context()
    ctx.load_verify_locations(cadata=certs.certificate_pem(pki.tls_ca.cert).decode())
    return as4.make_client(verify=ctx)


class Network:
    """Node A (seller, SQLite) and node B (buyer, the database under test), each with an AS4 endpoint
    on HTTPS; each resolves every participant to the other node (a static SMP answer)."""

    def __init__(self, pki, url_a: str, url_b: str, *, b_receives: bool = True, mls_type=None,
                 wrap_b=lambda app: app, max_in_flight: int | None = None, keep_envelope: bool = True) -> None:
        self.pki, ap_a, ap_b, tls_cert, tls_key = pki
        self.clock = Clock(datetime.now(UTC))
        trust = self.pki.trust_store()
        self.sides = {}
        for name, url, ap in (("a", url_a, ap_a), ("b", url_b, ap_b)):
            engine, sessions = make_sessions(url)
            service = DeliveryService(sessions, clock=self.clock, seat_id=certs.common_name(ap.cert),
                                      mailer=None, policy=RetryPolicy(max_attempts=3))
            receiver = as4.Receiver(key=ap.key, cert=ap.cert, trust=trust, revocation=None,
                                    policy=as4.ReceiverPolicy(check_revocation=False, keep_envelope=keep_envelope))
            app = as4.create_app(receiver, service.as4_store)
            server = AsgiServer(wrap_b(app) if name == "b" else app, tls_cert=tls_cert, tls_key=tls_key)
            self.sides[name] = Side(service, server, sessions, engine)
        # one event loop for the whole test: the httpx2 client's pooled connections belong to it
        self.loop = asyncio.new_event_loop()
        self.http = tls_client(self.pki)
        for name, other, ap, peer in (("a", "b", ap_a, ap_b), ("b", "a", ap_b, ap_a)):
            side = self.sides[name]
            resolver = smp.StaticResolver(self.sides[other].server.url + "/as4", peer.cert)
            side.service.router.directory = SmpDirectory(resolver, clock=self.clock)
            limit = {} if max_in_flight is None else {"max_in_flight": max_in_flight}
            side.service.as4 = As4HttpTransport(self.http, keys=certs.KeyPair(ap.key, ap.cert), trust=trust,
                                                revocation=None, clock=self.clock, max_attempts=1, **limit)
        self.seller = add_organisation(self.a.sessions, "Seller BV", SELLER, receive=False)
        self.buyer = add_organisation(self.b.sessions, "Buyer NV", BUYER_REMOTE, receive=b_receives)
        self.a.service.mls_type = mls_type

    @property
    def a(self) -> Side:
        return self.sides["a"]

    @property
    def b(self) -> Side:
        return self.sides["b"]

    def run(self, coro):  # noqa: ANN001, ANN201
        return self.loop.run_until_complete(coro)

    def deliver(self, name: str) -> None:
        self.run(self.sides[name].service.worker().drain())

    def close(self) -> None:
        self.run(self.http.aclose())  # first: open keep-alive connections would hold the servers up
        self.loop.close()
        for side in self.sides.values():
            side.server.stop()
            side.engine.dispose()


@pytest.fixture
def network(pki, database_url, tmp_path):
    nets = []

    def make(**kwargs):
        net = Network(pki, f"sqlite:///{tmp_path / 'a.db'}", database_url, **kwargs)
        nets.append(net)
        return net

    yield make
    for net in nets:
        net.close()


@pytest.mark.db
@pytest.mark.parametrize("keep_envelope", [True, False])
def test_as4_delivery_with_receipt_lands_in_the_buyers_purchase_connection(network, monkeypatch, keep_envelope):
    # The node's receiver keeps the envelope it checked (accesspoint/web/as4.py): B's store must then
    # not parse the SBD again; without it, the store parses it itself. Either way B stores the same.
    store_parses = []
    parse_sbd = ubl.parse_sbd

    def counting(*args, **kwargs):
        if sys._getframe(1).f_code is InboxStore.store.__code__:
            store_parses.append(1)
        return parse_sbd(*args, **kwargs)

    monkeypatch.setattr(ubl, "parse_sbd", counting)
    net = network(keep_envelope=keep_envelope)
    net.a.server.start()
    net.b.server.start()
    sub = net.a.service.outbox.submit(invoice("AS4-1", buyer=BUYER_REMOTE))
    pre = net.run(net.a.service.outbox.preflight(invoice("AS4-1", buyer=BUYER_REMOTE)))
    assert pre.channel == "peppol" and pre.endpoint == net.b.server.url + "/as4"
    net.deliver("a")
    entry = net.a.service.outbox.get(sub.entry.id)
    assert entry.state is State.DELIVERED, entry.as_json()
    assert entry.channel == "peppol" and entry.has_receipt and entry.as4_message_id
    assert [e.to_state for e in entry.events] == ["created", "sent", "delivered"]
    with net.b.sessions() as s:
        doc = s.scalars(sa.select(Document).where(Document.direction == "in")).one()
        assert doc.organisation_id == net.buyer and doc.connection == "peppol_purchase"
        assert doc.number == "AS4-1" and doc.content.startswith(b"<Invoice")
        (tin,) = s.scalars(sa.select(Transaction)).all()
    with net.a.sessions() as s:
        (tout,) = s.scalars(sa.select(Transaction)).all()
    assert (tout.direction, tout.other_seat_id, tout.c1_country) == ("out", "PBE000002", "NL")
    assert (tin.direction, tin.other_seat_id, tin.c4_country) == ("in", "PBE000001", "BE")
    assert len(store_parses) == (0 if keep_envelope else 1)


class InFlight:
    """ASGI wrapper counting the AS4 requests the receiver holds at once. Each request waits (up to half
    a second) until more than `limit` are in, so a sender without a bound shows it, and fast."""

    def __init__(self, app, limit: int) -> None:  # noqa: ANN001
        self.app, self.limit, self.now, self.peak = app, limit, 0, 0
        self.over: asyncio.Event | None = None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.over = self.over or asyncio.Event()
        self.now += 1
        self.peak = max(self.peak, self.now)
        if self.now > self.limit:
            self.over.set()
        try:
            try:
                await asyncio.wait_for(self.over.wait(), 0.5)
            except TimeoutError:
                pass
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


@pytest.mark.parametrize("limit", [1, 2])
def test_the_transport_keeps_at_most_max_in_flight_messages_on_the_wire(network, limit):
    """The delivery worker hands a whole batch over at once; the transport lets `max_in_flight` through
    (a bounded number of connections per receiver: accesspoint/delivery/peppol.py)."""
    counter = {}

    def wrap(app):  # noqa: ANN001, ANN202
        counter["app"] = InFlight(app, limit)
        return counter["app"]

    net = network(wrap_b=wrap, max_in_flight=limit)
    net.b.server.start()
    subs = [net.a.service.outbox.submit(invoice(f"FLIGHT-{limit}-{n}", buyer=BUYER_REMOTE)) for n in range(limit + 3)]
    net.deliver("a")
    assert all(net.a.service.outbox.get(s.entry.id).state is State.DELIVERED for s in subs)
    assert counter["app"].peak == limit


@pytest.mark.db
def test_receiver_not_serviced_fails_with_ebms_0004(network):
    net = network(b_receives=False)
    net.b.server.start()
    sub = net.a.service.outbox.submit(invoice("AS4-2", buyer=BUYER_REMOTE))
    net.deliver("a")
    entry = net.a.service.outbox.get(sub.entry.id)
    assert entry.state is State.FAILED and entry.error_code == "EBMS:0004"
    assert "PEPPOL:NOT_SERVICED" in entry.error_detail
    with net.b.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 0


@pytest.mark.db
def test_remote_down_then_up_again_is_retried_with_the_same_message_id(network):
    net = network()
    sub = net.a.service.outbox.submit(invoice("AS4-3", buyer=BUYER_REMOTE))
    net.deliver("a")  # B's endpoint is not listening
    entry = net.a.service.outbox.get(sub.entry.id)
    assert entry.state is State.CREATED and entry.attempts == 1 and entry.error_code == "connect"
    net.b.server.start()
    net.clock.advance(seconds=11)
    net.deliver("a")
    entry = net.a.service.outbox.get(sub.entry.id)
    assert entry.state is State.DELIVERED and entry.attempts == 2
    assert [e.action for e in entry.events] == ["submitted", "attempt-failed", "sent", "delivered"]


@pytest.mark.db
def test_a_resent_message_is_stored_once_and_each_copy_gets_a_verifiable_receipt(network, pki):
    net = network()
    net.b.server.start()
    _, ap_a, ap_b, *_ = pki
    content = invoice("AS4-4", buyer=BUYER_REMOTE)
    doctype, process = ubl.BIS_BILLING_INVOICE, ubl.BIS_BILLING_PROCESS
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_REMOTE),
                        document_type_id=doctype, process_id=process, country_c1="NL", payload=content,
                        creation_time=net.clock())
    request = As4Request("dup-1@test", sbd, PeppolEndpoint(net.b.server.url + "/as4", _der(ap_b.cert)),
        ubl.ParticipantId.parse(SELLER), ubl.ParticipantId.parse(BUYER_REMOTE), doctype, process)
    first = net.run(net.a.service.as4.send(request))
    second = net.run(net.a.service.as4.send(request))
    assert first.remote_seat_id == second.remote_seat_id == "PBE000002"
    assert b'"ref_to_message_id": "dup-1@test"' in first.receipt and b'"ref_to_message_id": "dup-1@test"' in second.receipt
    with net.b.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1


def _der(cert) -> bytes:  # noqa: ANN001
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


@pytest.mark.db
def test_mls_always_send_comes_back_and_confirms_the_entry(network):
    net = network(mls_type=ubl.MlsType.ALWAYS_SEND)
    net.a.server.start()
    net.b.server.start()
    sub = net.a.service.outbox.submit(invoice("AS4-5", buyer=BUYER_REMOTE))
    net.deliver("a")
    assert net.a.service.outbox.get(sub.entry.id).state is State.DELIVERED
    net.deliver("b")  # B sends the positive MLS its envelope asked for, to A's SPIS participant
    mls_entries = [e for e in net.b.service.outbox.list() if e.kind == "mls"]
    assert [(e.state, e.receiver_id) for e in mls_entries] == [
        (State.DELIVERED, "iso6523-actorid-upis::0242:000001")]
    entry = net.a.service.outbox.get(sub.entry.id)
    assert entry.mls_status == "AP"
    assert entry.events[-1].action == "mls"


def test_the_in_flight_bound_survives_a_second_event_loop():
    """A CLI or a test may drive one transport from two `asyncio.run`s; a semaphore that once had to
    wait is bound to its loop, so the transport keeps one per loop. (The sealing and HTTP are replaced
    by a yield here: this is about the bound alone; the test above runs it against a real receiver.)"""
    transport = As4HttpTransport(None, keys=lambda: None, trust=None, revocation=None,  # type: ignore[arg-type]
                                 clock=lambda: datetime.now(UTC), max_in_flight=1)
    now = peak = 0

    async def fake_send(request):  # noqa: ANN001, ANN202
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0)  # the others queue on the semaphore meanwhile
        now -= 1
        return request

    transport._send = fake_send  # type: ignore[method-assign]

    async def three() -> list:
        return await asyncio.gather(*(transport.send(n) for n in range(3)))  # type: ignore[arg-type]

    assert asyncio.run(three()) == [0, 1, 2]
    assert asyncio.run(three()) == [0, 1, 2]  # a new loop: no "bound to a different event loop"
    assert peak == 1
