"""What the intake needs to know about one mail, read from its bytes: pure, no I/O.

A supplier's accounting package sends one mail per invoice: the UBL as an XML attachment,
often the PDF beside it, sometimes the XML inline as the only part. Anything that is not
XML or PDF (signatures, logos, the mail body) is ignored; XML that is not a UBL invoice or
credit note is reported, since a supplier who attached the wrong file must be told.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

__all__ = ["Attachment", "MailFacts", "read_mail"]

_XML_TYPES = {"application/xml", "text/xml"}
_PDF_TYPES = {"application/pdf"}
#: Decoded attachments larger than this are not looked at (the mail's size is capped at DATA
#: already; this bounds one part of a many-part mail).
MAX_PART_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class MailFacts:
    #: The header From address (what DMARC aligns and the whitelist is checked against), or ""
    #: when the mail has none or more than one.
    header_from: str
    message_id: str | None
    subject: str
    sha256: str
    xml: tuple[Attachment, ...] = field(default=())
    pdf: tuple[Attachment, ...] = field(default=())


def _is(part: EmailMessage, types: set[str], suffix: str) -> bool:
    ctype = part.get_content_type()
    name = (part.get_filename() or "").lower()
    return ctype in types or name.endswith(suffix) or (ctype == "application/octet-stream" and name.endswith(suffix))


def read_mail(raw: bytes) -> MailFacts:
    """The From, Message-ID, subject, content hash and the XML and PDF parts of `raw`.

    Never raises on bad mail: a header that cannot be parsed reads as empty, a part that
    cannot be decoded is skipped. The caller turns "no From" or "no invoice" into a rejection.
    """
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    try:
        froms = getaddresses([str(v) for v in msg.get_all("From", [])])
    except Exception:  # noqa: BLE001 - a hostile header: treated as missing
        froms = []
    addresses = [a for _, a in froms if a]
    header_from = addresses[0] if len(addresses) == 1 else ""
    message_id = str(msg.get("Message-ID", "") or "").strip()[:500] or None
    try:
        subject = str(msg.get("Subject", "") or "")[:500]
    except Exception:  # noqa: BLE001
        subject = ""
    xml: list[Attachment] = []
    pdf: list[Attachment] = []
    parts = msg.walk() if msg.is_multipart() else iter([msg])
    for part in parts:
        if part.is_multipart():
            continue
        is_xml, is_pdf = _is(part, _XML_TYPES, ".xml"), _is(part, _PDF_TYPES, ".pdf")
        if not (is_xml or is_pdf):
            continue
        try:
            content = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - a broken transfer encoding: skip the part
            continue
        if not isinstance(content, bytes) or not content or len(content) > MAX_PART_BYTES:
            continue
        (xml if is_xml else pdf).append(Attachment(part.get_filename() or "", content))
    return MailFacts(header_from=header_from, message_id=message_id, subject=subject,
                     sha256=hashlib.sha256(raw).hexdigest(), xml=tuple(xml), pdf=tuple(pdf))
