"""A real node on 127.0.0.1 (uvicorn, ephemeral port) with a real SMTP server (aiosmtpd) catching its mail,
and Debian's Chromium driven by Playwright.

The browser fixture skips, with the reason, only when Chromium is not installed
and cannot be (`apt-get install chromium`).
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accesspoint.config import load_settings
from accesspoint.node import Node

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SCREENSHOT_WIDTHS = (390, 1280)


class Mailbox:
    """Messages the aiosmtpd server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def wait_for(self, to: str, subject_part: str = "", timeout: float = 10) -> email.message.EmailMessage:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                found = [m for m in self.messages if m["To"] == to and subject_part in m["Subject"]]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no mail to {to} with {subject_part!r} (have {seen})")

    def count(self, to: str) -> int:
        with self._lock:
            return sum(1 for m in self.messages if m["To"] == to)

    @staticmethod
    def link(msg: email.message.EmailMessage) -> str:
        return re.search(r"https?://\S+/(?:i|verify)/\S+", msg.get_content()).group(0)  # type: ignore[union-attr]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


class ClockedNode(Node):
    """A node whose clock tests can move forward (expiry, reminders)."""

    offset = timedelta(0)

    def now(self) -> datetime:  # type: ignore[override]
        return datetime.now(UTC) + self.offset


class Server:
    def __init__(self, node: ClockedNode, base_url: str, box: Mailbox, intake_port: int | None = None) -> None:
        self.node, self.base_url, self.mail = node, base_url, box
        #: The node's own SMTP listener (`@pytest.mark.intake`), at the intake domain INTAKE_DOMAIN.
        self.intake_port = intake_port


INTAKE_DOMAIN = "intake.test"


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the intake listener did not open port {port}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def shared_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path, database_url: str, smtp, shared_pki: Path) -> Iterator[Server]:
    import uvicorn

    from accesspoint.init import init_node
    from accesspoint.web.app import create_app

    box, smtp_port = smtp
    delivering = request.node.get_closest_marker("delivering") is not None
    # `@pytest.mark.operators("ops@node.test", ...)`: the node's operators ([web] operators, W1.3).
    operators = request.node.get_closest_marker("operators")
    intake = request.node.get_closest_marker("intake") is not None
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    # A complete node directory (keys from a test PKI shared by the session), as `peppol-node init` makes it.
    init_node(tmp_path / "node", pki_dir=shared_pki, sml_local=False, smtp_port=smtp_port)
    environ = {
        "PEPPOL_DATABASE_URL": database_url, "PEPPOL_SMTP_HOST": "127.0.0.1", "PEPPOL_SMTP_PORT": str(smtp_port),
        "PEPPOL_WEB_BASE_URL": base, "PEPPOL_REVOCATION_ENABLED": "false",
        # Documents sent from the web app stay in the outbox (no delivery workers): these tests are
        # about who sees what, and delivery has its own tests. `@pytest.mark.delivering` runs one
        # worker that polls often (a wake-up after each submit makes it prompt anyway).
        "PEPPOL_DELIVERY_WORKERS": "1" if delivering else "0", "PEPPOL_DELIVERY_POLL_INTERVAL": "0.2",
        "PEPPOL_WEB_OPERATORS": ",".join(operators.args) if operators else ""}
    dns = intake_port = None
    if intake:
        from tests.intake.harness import TxtDns

        # `@pytest.mark.intake`: `serve`'s own SMTP listener on an ephemeral port. DKIM keys and
        # DMARC policies come from a local DNS server that knows none (verdict "none"), so no
        # test waits on the internet's DNS.
        dns, intake_port = TxtDns(), _free_port()
        environ |= {"PEPPOL_INTAKE_ENABLED": "true", "PEPPOL_INTAKE_PORT": str(intake_port),
                    "PEPPOL_INTAKE_DOMAIN": INTAKE_DOMAIN, "PEPPOL_INTAKE_DNS": dns.address}
    node = ClockedNode(load_settings(tmp_path / "node", environ=environ))
    if delivering:
        from accesspoint.delivery.service import DeliveryService

        # No SML/SMP resolver: every buyer not on this node is on no network (W8.2(c)), without DNS.
        node.__dict__["delivery"] = DeliveryService.from_node(node)
    app = create_app(node)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        if intake_port is not None:
            _wait_listening(intake_port)
        yield Server(node, base, box, intake_port)
    finally:
        srv.should_exit = True
        thread.join(10)
        sock.close()
        if dns is not None:
            dns.close()


def _chromium_available() -> str | None:
    if Path(CHROMIUM).exists():
        return None
    if shutil.which("apt-get"):
        try:
            subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None if Path(CHROMIUM).exists() else f"{CHROMIUM} is missing and `apt-get install chromium` failed"


@pytest.fixture(scope="session")
def browser():
    reason = _chromium_available()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    suffix = request.node.callspec.id if hasattr(request.node, "callspec") else ""

    def take(page, name: str) -> None:
        """The page as it is now, at both widths issue 12 asks for (390 and 1280 px), then the
        page's own width again: `NAME-390.png` and `NAME-1280.png`."""
        original = page.viewport_size or {"width": 1280, "height": 900}
        for width in SCREENSHOT_WIDTHS:
            page.set_viewport_size({"width": width, "height": original["height"]})
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}{'-' + suffix if suffix else ''}.png"),
                            full_page=True)
        page.set_viewport_size(original)

    return take
