"""Real parts for the intake tests: the listener on an ephemeral port in a thread of its own, an
SMTP sink for what the node mails, a DNS server for DKIM keys and DMARC records, and mail with
or without a DKIM signature."""

from __future__ import annotations

import asyncio
import base64
import socket
import socketserver
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid

import dkim
import dns.message
import dns.rrset
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accesspoint.intake.listener import serving
from accesspoint.intake.receive import Intake


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Listening:
    """`accesspoint.intake.listener.serving` on 127.0.0.1, run on an event loop in a thread."""

    def __init__(self, intake: Intake, *, max_message_bytes: int = 5 * 1024 * 1024) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None

        async def run() -> None:
            self._stop = asyncio.Event()
            try:
                async with serving(intake, host="127.0.0.1", port=self.port, max_message_bytes=max_message_bytes,
                                   hostname="intake.test"):
                    self._ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                self._error = exc
                self._ready.set()

        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(run(),), daemon=True)
        self.thread.start()
        if not self._ready.wait(20) or self._error:
            raise RuntimeError(f"listener did not start: {self._error}")

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)
        self.loop.close()


class TxtDns:
    """A DNS server (UDP, 127.0.0.1, ephemeral port) answering TXT from a dict; NXDOMAIN otherwise."""

    def __init__(self, records: dict[str, str] | None = None) -> None:
        self.records = dict(records or {})
        zone = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                query = dns.message.from_wire(data)
                response = dns.message.make_response(query)
                question = query.question[0]
                name = question.name.to_text().rstrip(".").lower()
                value = zone.records.get(name)
                if value is None:
                    response.set_rcode(dns.rcode.NXDOMAIN)
                elif question.rdtype == dns.rdatatype.TXT:
                    chunks = " ".join(f'"{value[i:i + 250]}"' for i in range(0, len(value), 250))
                    response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", chunks))
                sock.sendto(response.to_wire(), self.client_address)

        self.server = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DkimKey:
    def __init__(self, domain: str, selector: str = "mail") -> None:
        self.domain, self.selector = domain, selector
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                             serialization.NoEncryption())
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.record_name = f"{selector}._domainkey.{domain}"
        self.record = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

    def sign(self, raw: bytes) -> bytes:
        sig = dkim.sign(raw, self.selector.encode(), self.domain.encode(), self.private_pem,
                        include_headers=[b"from", b"to", b"subject", b"message-id", b"date"])
        return sig + raw


def invoice_mail(sender: str, to: str, *attachments: tuple[str, bytes], subject: str = "Invoice",
                 message_id: str | None = None, sign: Callable[[bytes], bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sun, 06 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    msg.set_content("Please find the invoice attached.\n")
    for name, content in attachments:
        maintype, subtype = ("application", "pdf") if name.endswith(".pdf") else ("application", "xml")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    return sign(raw) if sign else raw
