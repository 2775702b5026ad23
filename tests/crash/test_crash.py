"""Crash safety with real SIGKILLs: nothing acknowledged is lost, nothing is delivered twice.

- The receiving node is killed after it stored a message but before its receipt
  reached the sender: the sender re-sends the same MessageId, the restarted node
  answers with the stored receipt, one copy exists.
- The receiving node is killed while the message is still arriving (before it
  could store): the sender re-sends, one copy exists.
- A sending node's delivery process is killed mid-queue (delivering over AS4 to
  a real receiving node, and delivering internally): after a restart every
  queued document is delivered exactly once, and the receiver holds one copy.
- The receiving node is killed while it writes a large message's document_chunks rows: all of
  it or nothing is there, and the re-send stores one complete copy.
- PostgreSQL crashes (immediate restart) under AS4 load: every message a
  receipt was given for is in the database, once.

Kill points are chosen from outside (bytes on the wire, rows in the database),
so the node runs unmodified. Each test is bounded in time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

import as4
import certs
from tests.crash.harness import (
    REPO,
    SENDER_SEAT,
    Database,
    KillingProxy,
    PrivatePostgres,
    ReceiverNode,
    SendingAp,
    wait_until,
)

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[certs.TestPki, Path]:
    pki_dir = tmp_path_factory.mktemp("crash") / "pki"
    return certs.TestPki.generate(pki_dir), pki_dir


@pytest.fixture
def receiver(tmp_path: Path, pki) -> Iterator[ReceiverNode]:  # noqa: ANN001
    database = Database(tmp_path)
    node = ReceiverNode(tmp_path, database, pki[0], pki[1])
    try:
        yield node
    finally:
        node.stop()
        database.close()


@pytest.fixture(scope="module")
def sender(pki) -> SendingAp:  # noqa: ANN001
    return SendingAp(pki[0], pki[0].issue_ap(SENDER_SEAT))


def send_in_background(sender: SendingAp, receiver: ReceiverNode, url: str, message: as4.OutboundMessage,
                       out: dict) -> threading.Thread:
    async def go() -> as4.SendResult:
        async with httpx2.AsyncClient(verify=receiver.tls(), timeout=30) as client:
            return await sender.send(client, url, message, receiver)

    def run() -> None:
        try:
            out["result"] = asyncio.run(go())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_receiver_killed_after_storing_before_answering(receiver: ReceiverNode, sender: SendingAp) -> None:
    receiver.start()
    proxy = KillingProxy(receiver.port)
    try:
        message = sender.seal(receiver, "CRASH-AFTER-STORE")
        proxy.hold_after = message.size  # the request goes through; the answer waits in the proxy
        out: dict = {}
        thread = send_in_background(sender, receiver, f"https://127.0.0.1:{proxy.port}/as4", message, out)
        wait_until(lambda: receiver.database.stored(message.message_id) == 1, 60, "the message being stored")
        receiver.kill()  # stored, receipt not yet at the sender
        proxy.cut()
        proxy.hold_after = None
        assert receiver.database.stored(message.message_id) == 1
        receiver.start()  # same port, same database
        thread.join(90)
        assert not thread.is_alive(), "the sender did not finish"
        assert "error" not in out, out.get("error")
        result: as4.SendResult = out["result"]
        assert result.outcome is as4.Outcome.DELIVERED, result
        assert len(result.attempts) >= 2, "the first attempt cannot have had a receipt"
        assert result.attempts[0].status is None
    finally:
        proxy.close()
    assert receiver.database.stored(message.message_id) == 1
    assert receiver.database.inbound_documents() == 1


def test_receiver_killed_before_storing(receiver: ReceiverNode, sender: SendingAp) -> None:
    receiver.start()
    proxy = KillingProxy(receiver.port)
    try:
        message = sender.seal(receiver, "CRASH-BEFORE-STORE")
        killed = threading.Event()

        def midway(sent: int) -> bool:
            if not killed.is_set() and sent >= message.size // 2:
                receiver.kill()  # half the message is in; nothing can have been stored
                killed.set()
                return False
            return True

        proxy.on_request_bytes = midway
        out: dict = {}
        thread = send_in_background(sender, receiver, f"https://127.0.0.1:{proxy.port}/as4", message, out)
        assert killed.wait(60), "the receiver was never killed"
        proxy.cut()
        proxy.on_request_bytes = None
        assert receiver.database.stored(message.message_id) == 0
        receiver.start()
        thread.join(90)
        assert not thread.is_alive() and "error" not in out, out
        result: as4.SendResult = out["result"]
        assert result.outcome is as4.Outcome.DELIVERED, result
        assert len(result.attempts) >= 2
    finally:
        proxy.close()
    assert receiver.database.stored(message.message_id) == 1
    assert receiver.database.inbound_documents() == 1


def test_sending_node_killed_mid_queue_delivers_every_document_once(tmp_path: Path) -> None:
    """`peppol-node deliver` (the outbox workers) SIGKILLed mid-queue, then restarted."""
    from accesspoint.db.tables.documents import OutboxEntry
    from accesspoint.delivery.service import DeliveryService
    from accesspoint.delivery.worker import RetryPolicy
    from benchmarks.multinode import audit, node_dir, seed
    from tests.accesspoint.helpers import make_sessions

    documents = 300
    database = Database(tmp_path)
    try:
        seed(database.url, documents)
        directory = node_dir(database.url, tmp_path / "sender")
        env = dict(os.environ, PYTHONPATH=str(REPO))

        def delivered() -> int:
            return int(database.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                       .where(OutboxEntry.state == "delivered")) or 0)

        proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "deliver", str(directory), "--workers", "2",
                                 "--worker-id", "doomed"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: delivered() >= documents // 5, 120, "a fifth of the queue delivered", interval=0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        at_kill = delivered()
        assert at_kill < documents, "the process finished before it could be killed mid-queue"

        # Restart: a new process drains what is due. Entries the dead process had claimed stay
        # leased until the lease runs out (RetryPolicy.lease), by design: a live but slow send
        # must never be sent twice by a second worker.
        result = subprocess.run([sys.executable, "-m", "accesspoint.cli", "deliver", str(directory), "--until-idle",
                                 "--worker-id", "restarted"], env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-2000:]
        leased = documents - delivered()
        assert leased <= 2 * 50, f"{leased} entries left: more than the dead process can have held"

        # ... and once the lease has run out (the clock moved on), the same node delivers those too.
        engine, sessions = make_sessions(database.url)
        later = RetryPolicy().lease + (RetryPolicy().lease / 60)
        service = DeliveryService(sessions, clock=lambda: datetime.now(UTC) + later, seat_id="PXX000001")
        asyncio.run(service.worker("after-lease").drain())
        engine.dispose()

        final = audit(database.url)
    finally:
        database.close()
    assert final["entries"] == documents
    assert final["delivered"] == documents
    assert final["inbound"] == documents
    assert final["duplicate_inbound"] == 0
    assert final["delivered_twice"] == 0


def test_sending_node_killed_mid_queue_over_as4_delivers_every_document_once(tmp_path: Path, pki,  # noqa: ANN001
                                                                             receiver: ReceiverNode) -> None:
    """The sender's outbox workers deliver over HTTPS AS4 to a real receiving node and are SIGKILLed mid-queue.

    An entry the dead process had sent (and maybe stored at the receiver) but not yet marked delivered is
    re-sent after restart with the same MessageId: the receiver answers with its stored receipt and
    stores nothing new, so the receiver ends with exactly one message per document.
    """
    from accesspoint.db.tables.documents import OutboxEntry, OutboxEvent
    from accesspoint.delivery import Outbox
    from accesspoint.init import init_node
    from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions

    documents = 40
    receiver.start()
    (tmp_path / "sender-db").mkdir()
    sender_db = Database(tmp_path / "sender-db")
    try:
        directory = init_node(tmp_path / "sender", pki_dir=pki[1], port=0, sml_local=False, seat_id="PXX000001")
        engine, sessions = make_sessions(sender_db.url)
        add_organisation(sessions, "Seller BV", SELLER, receive=False)
        outbox = Outbox(sessions, clock=lambda: datetime.now(UTC))
        for i in range(documents):
            outbox.submit(invoice(f"AS4-{i:04d}", buyer=BUYER_HERE))
        engine.dispose()
        env = dict(os.environ, PYTHONPATH=str(REPO), PEPPOL_DATABASE_URL=sender_db.url,
                   PEPPOL_REVOCATION_ENABLED="false", PEPPOL_SML_LOCAL="false")
        argv = [sys.executable, "-m", "tests.crash.sender_node", str(directory), receiver.url,
                str(receiver.directory / "keys/ap.cert.pem"), str(receiver.ca)]

        def delivered() -> int:
            return int(sender_db.scalar(sa.select(sa.func.count()).select_from(OutboxEntry)
                                        .where(OutboxEntry.state == "delivered")) or 0)

        proc = subprocess.Popen([*argv, "--name", "doomed"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=(tmp_path / "sender-1.log").open("w"))
        try:
            wait_until(lambda: delivered() >= documents // 4, 120, "a quarter delivered over AS4", interval=0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert delivered() < documents, "the sender finished before it could be killed mid-queue"

        for name, offset in (("restarted", 0), ("after-lease", 360)):  # restart; then again once leases ran out
            result = subprocess.run([*argv, "--until-idle", "--name", name, "--clock-offset", str(offset)],
                                    env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
            assert result.returncode == 0, result.stderr[-3000:]

        assert delivered() == documents
        twice = sender_db.scalar(sa.select(sa.func.count()).select_from(
            sa.select(OutboxEvent.entry_id).where(OutboxEvent.to_state == "delivered")
            .group_by(OutboxEvent.entry_id).having(sa.func.count() > 1).subquery()))
        assert twice == 0
        assert receiver.database.stored_total() == documents  # one AS4 message per document: MessageIds reused
        assert receiver.database.inbound_documents() == documents
    finally:
        sender_db.close()


@pytest.mark.skipif(not (shutil.which("runuser") or os.geteuid() != 0), reason="needs runuser to run PostgreSQL")
def test_database_restarted_under_load_loses_nothing_acknowledged(tmp_path: Path, pki, sender: SendingAp) -> None:  # noqa: ANN001
    try:
        pg = PrivatePostgres()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot run a private PostgreSQL here: {exc}")
    database = Database(tmp_path, base_url=pg.url)
    node = ReceiverNode(tmp_path, database, pki[0], pki[1])
    senders, per_sender = 4, 6
    messages = [sender.seal(node, f"PG-{s}-{i}") for s in range(senders) for i in range(per_sender)]
    try:
        node.start()

        async def one_sender(batch: list[as4.OutboundMessage]) -> list[as4.SendResult]:
            async with httpx2.AsyncClient(verify=node.tls(), timeout=30) as client:
                return [await sender.send(client, node.url, m, node, max_attempts=10, backoff=0.5) for m in batch]

        async def load() -> list[as4.SendResult]:
            batches = [messages[s * per_sender:(s + 1) * per_sender] for s in range(senders)]
            results = await asyncio.gather(*(one_sender(b) for b in batches))
            return [r for rs in results for r in rs]

        out: dict = {}
        thread = threading.Thread(target=lambda: out.update(results=asyncio.run(load())), daemon=True)
        thread.start()
        wait_until(lambda: database.stored_total() >= 3, 60, "load under way", interval=0.05)
        database.engine.dispose()
        pg.restart("immediate")  # a crash for every connection: in-flight transactions are gone
        thread.join(180)
        assert not thread.is_alive(), "the senders did not finish"
        results: list[as4.SendResult] = out["results"]
        database.engine.dispose()
        stored = database.stored_ids()
        acknowledged = {r.message_id for r in results if r.outcome is as4.Outcome.DELIVERED}
        assert acknowledged <= stored, f"receipts given for messages not stored: {acknowledged - stored}"
        assert database.stored_total() == len(stored)  # none twice
        assert database.inbound_documents() == len(stored)
        # With retries spanning the restart, everything got through in the end.
        assert acknowledged == {m.message_id for m in messages}, [r.outcome for r in results]
        assert any(len(r.attempts) > 1 for r in results), "the restart did not hit any exchange"
    finally:
        node.stop()
        database.close()
        pg.stop()


def _writing_chunks(receiver: ReceiverNode, wal_before: int) -> bool:
    """Seen from outside: the receiver is inside the transaction that writes document_chunks.

    PostgreSQL shows the statement in pg_stat_activity; SQLite spills the big transaction's pages
    into its WAL file before the commit, so the file grows by megabytes.
    """
    if receiver.database.kind == "postgresql":
        return bool(receiver.database.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO document_chunks%'")))
    wal = receiver.base / "receiver.db-wal"
    return wal.exists() and wal.stat().st_size > wal_before + 4 * 1024 * 1024


def test_receiver_killed_while_storing_a_large_message_keeps_all_of_it_or_nothing(receiver: ReceiverNode,
                                                                                   sender: SendingAp) -> None:
    """A 16 MB invoice streams into document_chunks (issue 14), chunk after chunk in the storing
    transaction: a SIGKILL while those rows are being written, before the receipt, leaves either
    the whole document or none of it, and the re-send makes it exactly one complete copy."""
    import ubl
    from accesspoint.db.tables.documents import DocumentChunk
    from tests.accesspoint.test_large_inbound import large_sbd
    from tests.crash.harness import BUYER_HERE

    sbd = large_sbd("CRASH-LARGE", receiver=BUYER_HERE, mb=16)
    business_message = ubl.split_sbd([sbd], lambda _chunk: None).payload_size
    receiver.start()
    proxy = KillingProxy(receiver.port)
    wal = receiver.base / "receiver.db-wal"
    wal_before = wal.stat().st_size if wal.exists() else 0
    try:
        message = as4.build_user_message(sbd, key=sender.issued.key, cert=sender.issued.cert,
                                         receiver_cert=receiver.ap_cert, at=datetime.now(UTC))
        proxy.hold_after = message.size  # whatever the receiver answers stays in the proxy
        out: dict = {}
        thread = send_in_background(sender, receiver, f"https://127.0.0.1:{proxy.port}/as4", message, out)
        wait_until(lambda: _writing_chunks(receiver, wal_before), 90, "the receiver writing document_chunks",
                   interval=0.002)
        receiver.kill()
        proxy.cut()
        proxy.hold_after = None

        def chunk_bytes() -> int:
            return int(receiver.database.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(sa.func.length(DocumentChunk.data)), 0))))

        after_kill = (receiver.database.stored(message.message_id), chunk_bytes())
        assert after_kill in ((0, 0), (1, business_message)), after_kill  # never a part
        receiver.start()
        thread.join(120)
        assert not thread.is_alive() and "error" not in out, out
        result: as4.SendResult = out["result"]
        assert result.outcome is as4.Outcome.DELIVERED, result
        assert len(result.attempts) >= 2 and result.attempts[0].status is None
    finally:
        proxy.close()
    assert receiver.database.stored(message.message_id) == 1
    assert receiver.database.inbound_documents() == 1
    assert chunk_bytes() == business_message
