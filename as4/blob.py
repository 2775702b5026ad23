"""Payload bytes that may be too big to hold in memory.

A 100 MB SBD passes through gzip, AES-GCM and MIME on both sides; holding it
in `bytes` at each step would cost several times its size. A `Blob` is either
small bytes or a spooled temporary file, read in chunks, so every stage
streams and memory stays bounded by the chunk size.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["Blob", "BlobWriter", "CHUNK", "SPOOL_BYTES"]

#: Streaming chunk size: big enough that per-chunk Python overhead disappears.
CHUNK = 1 << 20
#: Parts above this size go to a temporary file instead of memory.
SPOOL_BYTES = 1024 * 1024


class Blob:
    """Immutable once written; `chunks()` may be called any number of times."""

    __slots__ = ("_data", "_file", "size")

    def __init__(self, data: bytes | None = None, file: BinaryIO | None = None, size: int = 0) -> None:
        self._data = data
        self._file = file
        self.size = len(data) if data is not None else size

    @classmethod
    def from_bytes(cls, data: bytes) -> Blob:
        return cls(data=bytes(data))

    @property
    def in_memory(self) -> bool:
        return self._data is not None

    def chunks(self, size: int = CHUNK, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        if self._data is not None:
            view = memoryview(self._data)
            for pos in range(start, end, size):
                yield bytes(view[pos:min(pos + size, end)])
            return
        assert self._file is not None
        pos = start
        while pos < end:
            self._file.seek(pos)
            chunk = self._file.read(min(size, end - pos))
            if not chunk:
                break
            pos += len(chunk)
            yield chunk

    def read(self) -> bytes:
        """All bytes at once: only for parts known to be small (headers, tests)."""
        if self._data is not None:
            return self._data
        return b"".join(self.chunks())

    def head(self, n: int) -> bytes:
        return b"".join(self.chunks(size=n, end=n))

    def open(self) -> BinaryIO:
        """A fresh reader positioned at 0."""
        if self._data is not None:
            return io.BytesIO(self._data)
        return _BlobReader(self)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __repr__(self) -> str:
        return f"Blob(size={self.size}, in_memory={self.in_memory})"


class _BlobReader(io.RawIOBase):
    def __init__(self, blob: Blob) -> None:
        self._blob = blob
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        want = min(len(buffer), self._blob.size - self._pos)
        if want <= 0:
            return 0
        chunk = b"".join(self._blob.chunks(size=want, start=self._pos, end=self._pos + want))
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


class BlobWriter:
    """Collects written chunks in memory up to `spool` bytes, then in a temp file."""

    def __init__(self, spool: int = SPOOL_BYTES, limit: int | None = None) -> None:
        self._buf = bytearray()
        self._file: BinaryIO | None = None
        self._spool = spool
        self._limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            raise OverflowError(f"more than {self._limit} bytes")
        if self._file is not None:
            self._file.write(data)
            return
        self._buf += data
        if len(self._buf) > self._spool:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the Blob
            self._file.write(self._buf)
            self._buf = bytearray()

    def finish(self) -> Blob:
        if self._file is None:
            return Blob(data=bytes(self._buf))
        self._file.flush()
        return Blob(file=self._file, size=self.size)
