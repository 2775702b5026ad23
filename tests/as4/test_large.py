"""Large payloads stream: memory stays bounded by chunk sizes, not by the payload.

The default size keeps the suite fast; AS4_LARGE_MB=100 runs the real thing
(the benchmark does, and prints the figure).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tracemalloc

import pytest

import as4
from tests.as4.conftest import make_sbd

SIZE_MB = int(os.environ.get("AS4_LARGE_MB", "24"))


def write_large_sbd(path, size_mb: int) -> str:
    head, tail = make_sbd("large-1").split(b"<ID>large-1</ID>")
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        for piece in (head, b"<ID>large-1</ID><Note>"):
            fh.write(piece)
            h.update(piece)
        block = base64.b64encode(os.urandom(3 * 256 * 1024))  # 1 MB of base64: compresses like real attachments
        for _ in range(size_mb):
            fh.write(block)
            h.update(block)
        for piece in (b"</Note>", tail):
            fh.write(piece)
            h.update(piece)
    return h.hexdigest()


@pytest.mark.slow
def test_large_message_through_sender_receiver_and_store_in_bounded_memory(aps, now, tmp_path):
    src = tmp_path / "large.xml"
    digest = write_large_sbd(src, SIZE_MB)
    size = src.stat().st_size
    store = as4.DirectoryStore(tmp_path / "store")
    rx = as4.Receiver(key=aps.receiver.key, cert=aps.receiver.cert, trust=aps.trust,
                      policy=as4.ReceiverPolicy(check_revocation=False))
    tracemalloc.start()
    try:
        out = as4.build_user_message(src, key=aps.sender.key, cert=aps.sender.cert,
                                     receiver_cert=aps.receiver.cert, at=now)
        handled = rx.handle(out.content_type, out.iter_body(), at=now)
        assert handled.error is None, handled.error
        stored = store.store(handled.document, handled.response)
        as4.verify_receipt(handled.response.content_type, stored.receipt, sent=out,
                           receiver_cert=aps.receiver.cert, at=now)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size > size * 0.5  # the wire really carried the (compressed, encrypted) payload
    h = hashlib.sha256()
    with open(os.path.join(stored.location, "sbd.xml"), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == digest
    # a handful of 1 MB chunks in flight, never the payload (or a multiple of it)
    print(f"peak {peak / 1e6:.1f} MB for {size / 1e6:.0f} MB")
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB payload"
    assert peak < size / 2
