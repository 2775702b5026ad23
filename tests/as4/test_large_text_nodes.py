"""An invoice whose attachment is one base64 text node over libxml2's default 10 MB limit.

A Peppol invoice carries a PDF as `cbc:EmbeddedDocumentBinaryObject`: a single text node.
Before huge-tree mode the receiver refused such a message (EBMS:0004, "Text node too
long") although it is an ordinary invoice; phase4 tests 10, 100 and 125 MB SBDs.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import as4
import ubl
from tests.accesspoint.helpers import BUYER_HERE, SELLER

from .conftest import Aps

#: 12 MB of base64: over the 10 MB a text node may have without huge-tree mode.
ATTACHMENT = base64.b64encode(os.urandom(9 * 1024 * 1024))


def large_sbd() -> bytes:
    invoice = (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
               b' xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"'
               b' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
               b'<cbc:ID>BIG-1</cbc:ID><cac:AdditionalDocumentReference><cbc:ID>scan</cbc:ID><cac:Attachment>'
               b'<cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="scan.pdf">PLACEHOLDER'
               b'</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference></Invoice>')
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_HERE),
                        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                        country_c1="NL", payload=invoice, creation_time=datetime.now(UTC))
    return sbd.replace(b"PLACEHOLDER", ATTACHMENT)


def test_ubl_parses_an_sbd_with_a_text_node_over_10_mb() -> None:
    sbd = ubl.parse_sbd(large_sbd())
    assert ATTACHMENT in sbd.payload
    assert str(sbd.receiver).endswith(BUYER_HERE)


def test_the_receiver_accepts_it_and_hands_over_the_whole_attachment(aps: Aps, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    src = tmp_path / "large.xml"
    src.write_bytes(large_sbd())
    out = as4.build_user_message(src, key=aps.sender.key, cert=aps.sender.cert, receiver_cert=aps.receiver.cert, at=now)
    receiver = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                            policy=as4.ReceiverPolicy(check_revocation=False))
    handled = receiver.handle(out.content_type, out.iter_body(), at=now)
    assert handled.error is None, handled.error
    received = ubl.parse_sbd(handled.document.sbd.read())
    assert ATTACHMENT in received.payload
