"""The node's SMTP listener (aiosmtpd): the transport edge of the intake.

SMTP replies are where the rules show:
- RCPT TO an address no sender has (or an inactive sender's): `550 5.1.1` at once, before any
  of the mail is sent, and nothing is stored.
- Mail over `[intake] max_message_bytes`: `552 5.3.4` (aiosmtpd counts while reading DATA).
- Otherwise the mail is stored with its verdict (`Intake.receive` commits before it returns)
  and then answered: `250` when at least one receiver address took it, else `550 5.7.1` with
  the reason, so the sending system bounces it to the supplier as well as the contact hearing.

The database work runs in a thread: a slow validation or commit must not stall the other
SMTP sessions on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from .receive import REASONS, Intake, Recipient

__all__ = ["IntakeHandler", "serving"]

log = logging.getLogger(__name__)


class IntakeHandler:
    """aiosmtpd's handler hooks, answering from `Intake`."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        state = await asyncio.to_thread(self.intake.recipient, address)
        if state is Recipient.UNKNOWN:
            return "550 5.1.1 No such receiver address here"
        if state is Recipient.INACTIVE:
            return "550 5.2.1 This receiver address no longer takes mail"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        try:
            outcomes = await asyncio.to_thread(
                self.intake.receive, raw, recipients=list(envelope.rcpt_tos),
                mail_from=str(envelope.mail_from or ""), peer=str(peer))
        except Exception:  # noqa: BLE001 - nothing was stored: the client keeps the mail and retries
            log.exception("intake: storing a mail failed")
            return "451 4.3.0 Could not store the mail; try again later"
        if any(o.accepted for o in outcomes):
            return "250 2.0.0 Stored"
        first = outcomes[0] if outcomes else None
        reason = REASONS.get(first.reason, first.reason) if first else "refused"
        detail = (first.detail if first and first.reason == "invalid" else reason).replace("\r", " ").replace("\n", " ")
        return f"550 5.7.1 Refused: {detail}"[:500]


@contextlib.asynccontextmanager
async def serving(intake: Intake, *, host: str, port: int, max_message_bytes: int, hostname: str,
                  tls_context: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    """Listen on `host:port` until the block ends; STARTTLS is offered when `tls_context` is given."""
    loop = asyncio.get_running_loop()
    handler = IntakeHandler(intake)

    def factory() -> SMTP:
        return SMTP(handler, data_size_limit=max_message_bytes, hostname=hostname, ident="peppol-node intake",
                    tls_context=tls_context, decode_data=False, enable_SMTPUTF8=True)

    server = await loop.create_server(factory, host=host, port=port, reuse_address=True)
    try:
        yield server
    finally:
        server.close()
        # Python 3.12 waits here for open sessions too; a client idling in a session must not
        # hold up the node's shutdown (what it had not finished sending, it keeps and retries).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
