"""One large message over HTTPS to a real node: wall time and the receiver's memory growth.

    python benchmarks/large_message.py [--mb 100] [--database URL] [--json]
    python benchmarks/large_message.py --stages     # in process: peak RSS of each receiving stage

Starts a receiving node as `peppol-node serve` (HTTPS, local test PKI, one HTTP process so the
process measured is the one that receives; SQLite by default or the PostgreSQL of --database /
PEPPOL_TEST_DATABASE_URL in a private schema), writes an N MB SBD to a file (a BIS invoice whose
Note carries N MB of base64, which compresses like a real PDF attachment), seals it with our
sender from that file, POSTs it once and waits for the signed receipt.

Prints the wall time from the first byte sent to the verified receipt, and the receiver
process's peak resident set size (VmHWM from /proc/<pid>/status) before and after: their
difference is what one large message costs the receiver in memory (issue 14: < 64 MB for
100 MB). A sampled VmRSS peak is printed beside it as a cross-check. Exits 1 unless the
message was delivered and stored exactly once with the full business document.

`--stages` runs the receiving path in this process, stage by stage, and prints each stage's peak
RSS above what was resident when it started (VmHWM reset through /proc/self/clear_refs; lxml's
memory is outside tracemalloc's view): the as4 part (spooled body, MIME, AES-GCM, gunzip, SBDH
read), then the storing step twice, as it was before issue 14 (the SBD read whole, parse_sbd,
`_summary`, the insert) and as the endpoint now runs it (ubl.split_sbd into a spooled file,
rows of document_chunks).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import as4  # noqa: E402
import certs  # noqa: E402
import ubl  # noqa: E402
from accesspoint.db.tables.documents import Document, DocumentChunk  # noqa: E402
from tests.accesspoint.helpers import BUYER_HERE, SELLER, invoice  # noqa: E402
from tests.crash.harness import SENDER_SEAT, Database, ReceiverNode, SendingAp  # noqa: E402

_MARK = b"</cbc:InvoiceTypeCode>"


def write_large_sbd(path: Path, size_mb: int, number: str = "LARGE-1") -> int:
    """An SBD for BUYER_HERE whose invoice Note holds `size_mb` MB of base64; returns its size."""
    sbd = ubl.build_sbd(sender=ubl.ParticipantId.parse(SELLER), receiver=ubl.ParticipantId.parse(BUYER_HERE),
                        document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                        country_c1="NL", payload=invoice(number, buyer=BUYER_HERE), creation_time=datetime.now(UTC))
    head, sep, tail = sbd.partition(_MARK)
    assert sep, "the invoice template has no InvoiceTypeCode"
    block = base64.b64encode(os.urandom(3 * 256 * 1024))  # 1 MiB of base64
    with open(path, "wb") as fh:
        fh.write(head + sep + b"<cbc:Note>")
        for _ in range(size_mb):
            fh.write(block)
        fh.write(b"</cbc:Note>" + tail)
    return path.stat().st_size


def proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler:
    """Samples VmRSS of `pid` every few milliseconds in a thread; `peak_kb` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run(size_mb: int, database_url: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="peppol-large-") as tmp:
        base = Path(tmp)
        pki = certs.TestPki.generate(base / "pki")
        database = Database(base, base_url=database_url)
        node = ReceiverNode(base, database, pki, base / "pki")
        node.env["PEPPOL_HTTP_WORKERS"] = "1"  # one process: the one measured receives the message
        sender = SendingAp(pki, pki.issue_ap(SENDER_SEAT))
        src = base / "large.sbd.xml"
        sbd_bytes = write_large_sbd(src, size_mb)
        try:
            node.start()
            node.wait_for_workers()
            pid = node.proc.pid
            t0 = time.monotonic()
            message = as4.build_user_message(src, key=sender.issued.key, cert=sender.issued.cert,
                                             receiver_cert=node.ap_cert, at=datetime.now(UTC))
            seal_seconds = time.monotonic() - t0
            hwm_before, rss_before = proc_status_kb(pid, "VmHWM"), proc_status_kb(pid, "VmRSS")

            async def send() -> as4.SendResult:
                async with as4.make_client(verify=as4.tls_context(str(node.ca))) as client:  # the real sender
                    return await sender.send(client, node.url, message, node, max_attempts=1)

            with RssSampler(pid) as sampler:
                t1 = time.monotonic()
                result = asyncio.run(send())
                wall = time.monotonic() - t1
            hwm_after = proc_status_kb(pid, "VmHWM")
            stored = database.stored_total()
            # a large document is in document_chunks (issue 14), a small one in documents.content
            content_bytes = (database.scalar(sa.select(sa.func.sum(sa.func.length(Document.content)))
                                             .where(Document.direction == "in")) or 0) \
                + (database.scalar(sa.select(sa.func.sum(sa.func.length(DocumentChunk.data)))) or 0)
        finally:
            node.stop()
            database.close()
    return {
        "database": database.kind, "sbd_mb": round(sbd_bytes / 1e6, 1), "wire_mb": round(message.size / 1e6, 1),
        "delivered": result.outcome is as4.Outcome.DELIVERED,
        "error": None if result.error is None else f"{result.error.code.code}: {result.error}",
        "seal_seconds": round(seal_seconds, 2), "wall_seconds": round(wall, 2),
        "receiver_vmhwm_before_mb": round(hwm_before / 1024, 1), "receiver_vmhwm_after_mb": round(hwm_after / 1024, 1),
        "receiver_peak_growth_mb": round((hwm_after - hwm_before) / 1024, 1),
        "receiver_sampled_rss_growth_mb": round((sampler.peak_kb - rss_before) / 1024, 1),
        "stored": stored, "stored_content_mb": round((content_bytes or 0) / 1e6, 1),
    }


def stages(size_mb: int, database_url: str | None) -> None:
    """The breakdown: where one large message's memory goes, stage by stage, in this process."""
    from as4.blob import BlobWriter
    from accesspoint.delivery.inbox import Inbox, _summary
    from accesspoint.delivery.peppol import _split
    from tests.accesspoint.helpers import add_organisation, make_sessions

    def stage(name: str, run):  # noqa: ANN001, ANN202
        resident = proc_status_kb(os.getpid(), "VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        t0 = time.monotonic()
        result = run()
        peak = proc_status_kb(os.getpid(), "VmHWM") - resident
        print(f"  {name:58s} peak +{peak / 1024:6.1f} MB  {time.monotonic() - t0:5.2f} s", flush=True)
        return result

    with tempfile.TemporaryDirectory(prefix="peppol-large-stages-") as tmp:
        base = Path(tmp)
        pki = certs.TestPki.generate(base / "pki")
        receiver_ap, sender_ap = pki.issue_ap("PXX000002"), pki.issue_ap(SENDER_SEAT)
        src = base / "large.sbd.xml"
        write_large_sbd(src, size_mb)
        database = Database(base, base_url=database_url)
        engine, sessions = make_sessions(database.url)
        add_organisation(sessions, "Buyer NV", BUYER_HERE)
        inbox = Inbox(sessions, clock=lambda: datetime.now(UTC), seat_id="PXX000002")
        receiver = as4.Receiver(key=receiver_ap.key, cert=receiver_ap.cert, trust=pki.trust_store(),
                                policy=as4.ReceiverPolicy(check_revocation=False))
        now = datetime.now(UTC)
        out = as4.build_user_message(src, key=sender_ap.key, cert=sender_ap.cert, receiver_cert=receiver_ap.cert, at=now)
        print(f"{src.stat().st_size / 1e6:.1f} MB SBD on {database.kind}, receiving stages:")
        try:
            def spool() -> as4.Blob:
                writer = BlobWriter()
                for chunk in out.iter_body():
                    writer.write(chunk)
                return writer.finish()

            body = stage("request body spooled", spool)
            handled = stage("Receiver.handle: MIME, AES-GCM, gunzip, SBDH read",
                            lambda: receiver.handle(out.content_type, body.chunks(), at=now))
            assert handled.error is None, handled.error
            print(" before issue 14:")
            raw = stage("SBD read whole (Blob.read)", handled.document.sbd.read)
            sbd = stage("ubl.parse_sbd (tree + business message serialised)", lambda: ubl.parse_sbd(raw))
            del raw
            stage("_summary (a second tree)", lambda: _summary(sbd.payload))
            stage("Inbox.accept: facts again + the insert of one bound value",
                  lambda: inbox.accept(sbd, as4_message_id="before@bench", sender_seat_id=SENDER_SEAT))
            del sbd
            print(" now:")
            envelope, streamed = stage("ubl.split_sbd into a spooled file", lambda: _split(handled.document.sbd))
            envelope = dataclasses.replace(envelope, instance_identifier="now-" + envelope.instance_identifier)
            streamed = dataclasses.replace(streamed, facts=("NOW-1", *streamed.facts[1:]))
            stage("Inbox.accept: rows of document_chunks",
                  lambda: inbox.accept(envelope, as4_message_id="now@bench", sender_seat_id=SENDER_SEAT,
                                       streamed=streamed))
        finally:
            engine.dispose()
            database.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the SBD in MB (default 100)")
    parser.add_argument("--database", help="PostgreSQL URL (a private schema is made and dropped); default SQLite")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stages", action="store_true", help="in process: peak RSS of each receiving stage")
    args = parser.parse_args(argv)
    if args.stages:
        stages(args.mb, args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL"))
        return 0
    figures = run(args.mb, args.database or os.environ.get("PEPPOL_TEST_DATABASE_URL"))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['sbd_mb']} MB SBD ({figures['wire_mb']} MB on the wire) over HTTPS to serve on "
              f"{figures['database']}: {'delivered' if figures['delivered'] else 'NOT delivered: ' + str(figures['error'])}"
              f" in {figures['wall_seconds']} s (sealed beforehand in {figures['seal_seconds']} s)")
        print(f"  receiver peak RSS (VmHWM) {figures['receiver_vmhwm_before_mb']} -> {figures['receiver_vmhwm_after_mb']} MB:"
              f" growth {figures['receiver_peak_growth_mb']} MB (sampled VmRSS growth {figures['receiver_sampled_rss_growth_mb']} MB)")
        print(f"  stored messages {figures['stored']}, stored business document {figures['stored_content_mb']} MB")
    ok = figures["delivered"] and figures["stored"] == 1 and figures["stored_content_mb"] >= figures["sbd_mb"] * 0.99
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
