"""The sender's body writes: a small message goes out as one write, a large one without copying its chunks."""

from __future__ import annotations

import asyncio
import base64
import os

import as4
from as4.client import WRITE_SIZE, _body
from tests.as4.conftest import make_sbd


def _writes(message) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [piece async for piece in _body(message)]

    return asyncio.run(collect())


def test_a_small_message_is_one_write(aps, now) -> None:
    out = as4.build_user_message(make_sbd("writes-1"), key=aps.sender.key, cert=aps.sender.cert,
                                 receiver_cert=aps.receiver.cert, at=now)
    assert len(list(out.iter_body())) > 1  # what the MIME rendering gives
    assert _writes(out) == [out.body]


def test_large_pieces_go_out_as_they_are_and_small_ones_are_joined(aps, now) -> None:
    filler = base64.b64encode(os.urandom(3 * WRITE_SIZE)).decode()  # does not compress: a large attachment
    out = as4.build_user_message(make_sbd("writes-2", filler=f"<Note>{filler}</Note>"), key=aps.sender.key,
                                 cert=aps.sender.cert, receiver_cert=aps.receiver.cert, at=now)
    pieces = list(out.iter_body())
    writes = _writes(out)
    assert b"".join(writes) == out.body
    large = [p for p in pieces if len(p) >= WRITE_SIZE]
    assert large and all(any(w == p for w in writes) for p in large)
    assert len(writes) < len(pieces)
    # every write but the last, and but one just before a large piece, is WRITE_SIZE or more
    for i, write in enumerate(writes[:-1]):
        assert len(write) >= WRITE_SIZE or len(writes[i + 1]) >= WRITE_SIZE
