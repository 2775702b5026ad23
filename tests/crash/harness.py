"""Real processes to kill: a receiving node under `peppol-node serve`, a TCP proxy that kills it at a chosen
moment, a private PostgreSQL cluster to restart, and sealed AS4 messages from a sending access point.

Nothing here reaches into the code under test: kill points are chosen from the
outside, by watching the bytes on the wire (the proxy) and the rows in the
database, so the node runs exactly as in production. `benchmarks/load.py`
drives the same receiving node.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import as4  # noqa: E402
import certs  # noqa: E402
import ubl  # noqa: E402
from accesspoint import db  # noqa: E402
from accesspoint.db.tables.documents import Document, InboundMessage  # noqa: E402
from tests.accesspoint.helpers import BUYER_HERE, SELLER, add_organisation, invoice, make_sessions  # noqa: E402

SENDER_SEAT = "PNL000007"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(interval)


# --- databases ---------------------------------------------------------------------------------------------

class Database:
    """A private schema on the test PostgreSQL, or a SQLite file: dropped/removed by `close()`."""

    def __init__(self, directory: Path, base_url: str | None = None) -> None:
        self.base = base_url or os.environ.get("PEPPOL_TEST_DATABASE_URL") or None
        if self.base:
            self.schema = "crash_" + secrets.token_hex(5)
            admin = db.create_engine(self.base)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            sep = "&" if "?" in self.base else "?"
            self.url = f"{self.base}{sep}options=-csearch_path%3D{self.schema}"
        else:
            self.schema = None
            self.url = f"sqlite:///{directory / 'receiver.db'}"
        self.engine: sa.Engine | None = None

    @property
    def kind(self) -> str:
        return "postgresql" if self.base else "sqlite"

    def connect(self) -> sa.Engine:
        if self.engine is None:
            self.engine = db.create_engine(self.url)
        return self.engine

    def scalar(self, statement: sa.Select) -> object:
        try:
            with self.connect().connect() as conn:
                return conn.scalar(statement)
        except sa.exc.OperationalError:
            if self.engine is not None:
                self.engine.dispose()
            raise

    def stored(self, message_id: str) -> int:
        return int(self.scalar(sa.select(sa.func.count()).select_from(InboundMessage)
                               .where(InboundMessage.as4_message_id == message_id)) or 0)

    def stored_total(self) -> int:
        return int(self.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) or 0)

    def inbound_documents(self) -> int:
        return int(self.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in"))
                   or 0)

    def stored_ids(self) -> set[str]:
        with self.connect().connect() as conn:
            return set(conn.scalars(sa.select(InboundMessage.as4_message_id)))

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if self.schema:
            admin = db.create_engine(self.base)
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()


class PrivatePostgres:
    """A PostgreSQL cluster of our own on a free port, so a test may stop and restart it.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
    """

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise FileNotFoundError("initdb not found under /usr/lib/postgresql")
        self.bin = found[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="peppol-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        (self.data / "postgresql.conf").open("a").write(
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            "fsync = on\nsynchronous_commit = on\n")
        self.start()

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "start")

    def restart(self, mode: str = "immediate") -> None:
        """`immediate` is a crash for the clients: connections drop, uncommitted work is lost."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "restart", "-l", str(self.dir / "log"))

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the receiving node -------------------------------------------------------------------------------------

class ReceiverNode:
    """A node that receives for BUYER_HERE, run as `peppol-node serve` (HTTPS) in its own process."""

    def __init__(self, base: Path, database: Database, pki: certs.TestPki, pki_dir: Path) -> None:
        from accesspoint.init import init_node

        self.base = base
        self.database = database
        self.port = free_port()
        self.directory = init_node(base / "receiver", pki_dir=pki_dir, port=self.port, sml_local=False,
                                   seat_id="PXX000002")
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "PEPPOL_DATABASE_URL": database.url,
                    "PEPPOL_REVOCATION_ENABLED": "false", "PEPPOL_SML_LOCAL": "false"}
        engine, sessions = make_sessions(database.url)
        add_organisation(sessions, "Buyer NV", BUYER_HERE)
        engine.dispose()
        self.ap_cert = certs.load_certificate(self.directory / "keys/ap.cert.pem")
        self.ca = self.directory / "keys/tls-ca.cert.pem"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/as4"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = (self.base / f"serve-{self.starts}.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "accesspoint.cli", "serve", str(self.directory)],
                                     cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        log.close()

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited: {self.log()[-2000:]}")
            try:
                return httpx2.get(f"https://127.0.0.1:{self.port}/healthz", verify=self.tls(), timeout=2)\
                    .status_code == 200
            except httpx2.TransportError:
                return False

        wait_until(healthy, timeout, "receiver start", interval=0.1)

    def wait_for_workers(self, timeout: float = 120) -> int:
        """Wait until every HTTP worker process of this start serves (benchmarks measure all of them);
        how many processes serve. Call after `start()`: by then the primary has logged how many."""
        import json

        def events() -> list[dict]:
            text = (self.base / f"serve-{self.starts}.log").read_text()
            return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

        processes = next((e["processes"] for e in events() if e.get("event") == "workers"), 1)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"receiver exited: {self.log()[-2000:]}")
            return sum(e.get("event") == "worker_ready" for e in events()) >= processes - 1

        wait_until(ready, timeout, "the HTTP workers to serve", interval=0.1)
        return processes

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return "".join(p.read_text() for p in sorted(self.base.glob("serve-*.log")))


@dataclass
class SendingAp:
    """The other access point: its key pair from the same test PKI, and messages sealed for the receiver."""

    pki: certs.TestPki
    issued: certs.Issued

    def __post_init__(self) -> None:
        # As the node's AS4 transport checks a receipt's signer (accesspoint.delivery.peppol): one
        # trust store, each certificate's chain check remembered. Building the trust store for
        # every receipt was 5% of load.py's sender, a cost no real sender has.
        self._trust = self.pki.trust_store()
        self._chains = certs.CertificateVerifier(certs.Role.ACCESS_POINT)

    def seal(self, receiver: ReceiverNode, number: str, *, message_id: str | None = None) -> as4.OutboundMessage:
        sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_HERE),
                            document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                            country_c1="NL", payload=invoice(number, buyer=BUYER_HERE),
                            creation_time=datetime.now(UTC))
        return as4.build_user_message(sbd, key=self.issued.key, cert=self.issued.cert,
                                      receiver_cert=receiver.ap_cert, at=datetime.now(UTC), message_id=message_id)

    def verify_signer(self, cert, at):  # noqa: ANN001, ANN201
        return self._chains.verify(cert, trust=self._trust, at=at)

    async def send(self, client: httpx2.AsyncClient, url: str, message: as4.OutboundMessage, receiver: ReceiverNode,
                   *, max_attempts: int = 8, backoff: float = 0.5) -> as4.SendResult:
        return await as4.send_message(client, url, message, receiver_cert=receiver.ap_cert,
                                      verify_signer=self.verify_signer, max_attempts=max_attempts, backoff=backoff,
                                      max_backoff=4.0)


# --- a proxy that kills --------------------------------------------------------------------------------------

class KillingProxy:
    """A TCP proxy in front of the receiver (TLS passes through it untouched).

    `on_request_bytes(total)` is called as client bytes go upstream; `hold_responses`
    keeps upstream bytes from reaching the client once the request is fully sent,
    so the test decides whether the answer ever arrives. `cut()` drops every
    connection, as a dead process would.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.hold_after: int | None = None  # hold upstream->client bytes once this many client bytes went up
        self.on_request_bytes: Callable[[int], bool] | None = None  # return False to stop forwarding
        self._writers: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self.loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        sent = 0

        async def client_to_upstream() -> None:
            nonlocal sent
            while data := await reader.read(65536):
                sent += len(data)
                if self.on_request_bytes is not None and not self.on_request_bytes(sent):
                    return
                up_writer.write(data)
                await up_writer.drain()

        async def upstream_to_client() -> None:
            while data := await up_reader.read(65536):
                while self.hold_after is not None and sent >= self.hold_after:
                    await asyncio.sleep(0.01)  # held until cut() closes us
                    if writer.is_closing():
                        return
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(client_to_upstream(), upstream_to_client())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            self._writers -= {writer, up_writer}

    def cut(self) -> None:
        def close_all() -> None:
            for w in list(self._writers):
                w.transport.abort()
        self.loop.call_soon_threadsafe(close_all)

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
