"""Outgoing email: the one edge module that talks SMTP.

Used for email delivery of documents (the fallback when a buyer is not on
Peppol) and for invites, reminders and notifications. STARTTLS and
authentication come from `[smtp]` in the node config.

`MailError.permanent` tells a caller whether retrying can help: a 5xx reply is
permanent (the outbox marks the entry failed), anything else is transient.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from accesspoint.config import SmtpSettings

__all__ = ["MailError", "Mailer", "SmtpMailer"]


class MailError(Exception):
    def __init__(self, message: str, *, permanent: bool, smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = smtp_code


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Hand `message` to the mail system; return its Message-ID. Raises `MailError`."""
        ...


class SmtpMailer:
    """Sends through the configured SMTP server, one connection per message.

    One connection per message keeps failure handling simple and is plenty for an
    access point's email volume (fallback deliveries and invites).
    """

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._tls_context = tls_context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> str:
        s = self.settings
        if "From" not in message:
            message["From"] = s.sender
        if "Message-ID" not in message:
            from email.utils import make_msgid

            message["Message-ID"] = make_msgid(domain=s.sender.rpartition("@")[2] or "localhost")
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    smtp.starttls(context=self._tls_context)
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            code = int(exc.smtp_code)
            raise MailError(f"SMTP server answered {code}: {exc.smtp_error!r}", permanent=500 <= code < 600,
                            smtp_code=code) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            permanent = all(500 <= c < 600 for c in codes)
            raise MailError(f"recipients refused: {exc.recipients!r}", permanent=permanent,
                            smtp_code=codes[0] if codes else None) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"cannot send mail via {s.host}:{s.port}: {exc}", permanent=False) from exc
        return str(message["Message-ID"])
