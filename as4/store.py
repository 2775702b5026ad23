"""Where accepted messages go before the receipt is sent: the `MessageStore` protocol and a directory store.

The node (accesspoint/) plugs its database in through `MessageStore`; the
stand-alone `peppol-node as4 receive` uses `DirectoryStore`. Both must be
durable when `store` returns, and idempotent on the AS4 MessageId and on the
SBDH InstanceIdentifier (per sender), so a re-sent message is answered again
but delivered once (protocol.md §1.8).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from as4.inbound import ReceivedDocument
from as4.signals import SignalResponse

__all__ = ["MessageStore", "Stored", "DirectoryStore"]


@dataclass(frozen=True)
class Stored:
    """The receipt to answer with; `duplicate` means nothing new was stored."""

    receipt: bytes
    duplicate: bool
    location: str | None = None


class MessageStore(Protocol):
    def store(self, document: ReceivedDocument, receipt: SignalResponse) -> Stored:
        """Persist `document` and `receipt` durably, or return the earlier receipt for a duplicate.

        Duplicate on MessageId: answer with the stored receipt. Duplicate on
        (sender, InstanceIdentifier) under a new MessageId: store nothing new
        but answer with `receipt` (it names the new MessageId, which the
        sender needs to see). Called from a worker thread.
        """
        ...


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, chunks) -> None:  # noqa: ANN001
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())


class DirectoryStore:
    """One folder per accepted message: `<DIR>/<key>/{sbd.xml,message.json,receipt.xml}`.

    A message folder is built in a temporary folder and renamed into place
    (atomic on POSIX), so a crash leaves either nothing or a complete message;
    the rename also arbitrates between concurrent requests with the same id.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index = self.directory / ".instances"
        self._index.mkdir(exist_ok=True)
        self._tmp = self.directory / ".tmp"
        self._tmp.mkdir(exist_ok=True)
        self._lock = threading.Lock()

    def _folder(self, message_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", message_id)[:60]
        return self.directory / f"{safe}-{_key(message_id)[:16]}"

    def store(self, document: ReceivedDocument, receipt: SignalResponse) -> Stored:
        folder = self._folder(document.message_id)
        instance_marker = self._index / _key(f"{document.sbdh.sender.lower()}|{document.sbdh.instance_identifier}")
        with self._lock:
            if folder.exists():
                return Stored((folder / "receipt.xml").read_bytes(), True, str(folder))
            if instance_marker.exists():
                return Stored(receipt.body, True, instance_marker.read_text())
            tmp = Path(tempfile.mkdtemp(dir=self._tmp))
            try:
                _write(tmp / "sbd.xml", document.sbd.chunks())
                um = document.user_message
                meta = {
                    "message_id": um.message_id,
                    "conversation_id": um.conversation_id,
                    "timestamp": um.timestamp.isoformat(),
                    "from_party": um.from_party.party_id,
                    "to_party": um.to_party.party_id,
                    "service": f"{um.service_type}::{um.service}" if um.service_type else um.service,
                    "action": um.action,
                    "sender": document.sbdh.sender,
                    "receiver": document.sbdh.receiver,
                    "instance_identifier": document.sbdh.instance_identifier,
                    "signer_seat_id": document.seat_id,
                    "receipt_message_id": receipt.message_id,
                    "sbd_bytes": document.sbd.size,
                }
                _write(tmp / "message.json", [json.dumps(meta, indent=2).encode()])
                _write(tmp / "receipt.xml", [receipt.body])
                _fsync_dir(tmp)
                try:
                    os.rename(tmp, folder)
                except OSError:
                    if not folder.exists():
                        raise
                    # another process stored the same MessageId first: theirs stands
                    shutil.rmtree(tmp, ignore_errors=True)
                    return Stored((folder / "receipt.xml").read_bytes(), True, str(folder))
                _fsync_dir(self.directory)
                _write(instance_marker, [str(folder).encode()])
                _fsync_dir(self._index)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return Stored(receipt.body, False, str(folder))

    def messages(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith("."))
