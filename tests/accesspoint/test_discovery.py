"""W8.2 with real discovery: SML (DNS NAPTR) -> SMP (signed, HTTPS) for each candidate id, on a local network."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

import sml
import smp
import ubl
from accesspoint.delivery import DeliveryWorker, Outbox, RetryPolicy, Router, State
from accesspoint.delivery.peppol import SmpDirectory
from tests.accesspoint.helpers import BUYER_NOWHERE, BUYER_REMOTE, SELLER, Clock, add_organisation, invoice, \
    make_sessions
from tests.smp.network import ZONE, local_network

INVOICE, PROCESS = ubl.BIS_BILLING_INVOICE, ubl.BIS_BILLING_PROCESS


def test_candidates_are_looked_up_in_order_and_unregistered_ones_fall_through(tmp_path):
    async def scenario() -> None:
        async with local_network(tmp_path) as net:
            await net.publish(ubl.ParticipantId.parse(BUYER_REMOTE), address="https://127.0.0.1:9/as4")
            directory = SmpDirectory(net.resolver(), clock=lambda: datetime.now(UTC))
            found = await directory.find_endpoint(ubl.ParticipantId.parse(BUYER_REMOTE), INVOICE, PROCESS)
            assert found is not None and found.url == "https://127.0.0.1:9/as4"
            assert found.certificate == net.ap.cert.public_bytes(Encoding.DER)
            # not in the SML at all: a definite "no"
            assert await directory.find_endpoint(ubl.ParticipantId.parse(BUYER_NOWHERE), INVOICE, PROCESS) is None
            # registered, but not for credit notes: also "no"
            assert await directory.find_endpoint(ubl.ParticipantId.parse(BUYER_REMOTE),
                                                 ubl.BIS_BILLING_CREDIT_NOTE, PROCESS) is None

            router = Router(None, directory)  # type: ignore[arg-type] - no database needed without internal
            route = await router.choose([ubl.ParticipantId.parse(BUYER_NOWHERE), ubl.ParticipantId.parse(BUYER_REMOTE)],
                                        INVOICE, PROCESS, email=None, allow_internal=False)
            assert route is not None and route.channel.value == "peppol"
            assert route.participant_id == f"iso6523-actorid-upis::{BUYER_REMOTE}"

    asyncio.run(scenario())


@pytest.mark.db
def test_dns_down_is_retried_never_mailed(database_url, tmp_path):
    engine, sessions = make_sessions(database_url)
    add_organisation(sessions, "Seller BV", SELLER, receive=False)
    clock = Clock()

    async def locate(pid: ubl.ParticipantId) -> str:  # a resolver nobody answers on
        return await sml.lookup_smp_url(pid, ZONE, resolver="127.0.0.1:9", timeout=0.5)

    async def scenario() -> None:
        import httpx2

        async with httpx2.AsyncClient() as http:
            resolver = smp.SmpResolver(locate, smp.SmpClient(http, smp.SmpPolicy(trust=None)))  # type: ignore[arg-type]
            router = Router(sessions, SmpDirectory(resolver, clock=clock))
            outbox = Outbox(sessions, clock=clock, router=router)
            sub = outbox.submit(invoice("DNS-1", buyer=BUYER_NOWHERE), email="ap@buyer.example")
            pre = await outbox.preflight(invoice("DNS-1", buyer=BUYER_NOWHERE))
            assert pre.as_json()["channel"] == "unknown" and pre.unavailable
            w = DeliveryWorker(sessions, router=router, clock=clock, seat_id="PXX000001",
                               policy=RetryPolicy(max_attempts=5))
            await w.drain()
            entry = outbox.get(sub.entry.id)
            assert entry.state is State.CREATED and entry.error_code == "lookup-unavailable"
            assert entry.channel is None  # not mailed: "could not ask" is not "not on Peppol"

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()
