"""`peppol-node send DIR FILE [--email ADDRESS]` and `peppol-node deliver DIR`: the outbox from the shell.

`send` queues a document (validated, deduplicated) and, unless `--queue-only`,
delivers it at once with a worker in this process, printing the outcome.
`deliver` runs delivery workers against the node's database until the queue is
empty (`--until-idle`) or until interrupted: several of these, in any number of
processes or hosts on one PostgreSQL, share the work without sending twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from accesspoint.config import ConfigError
from accesspoint.delivery import DocumentRejected
from accesspoint.delivery.service import DeliveryService
from accesspoint.node import Node


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("send", help="submit a document (UBL or SBD) for delivery")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("file", type=Path, help="a UBL invoice or credit note, or a complete SBD")
    p.add_argument("--email", help="address for the email fallback when the buyer is not on Peppol")
    p.add_argument("--queue-only", action="store_true", help="only queue it; a running node delivers it")
    p.add_argument("--json", action="store_true", help="print the outbox entry as JSON")
    p.set_defaults(handler=cmd_send)

    p = subparsers.add_parser("deliver", help="run delivery workers on the node's outbox")
    p.add_argument("directory", help="the node directory (made by `peppol-node init`)")
    p.add_argument("--workers", type=int, default=2, help="concurrent delivery workers (default 2)")
    p.add_argument("--until-idle", action="store_true", help="stop when nothing is due")
    p.add_argument("--worker-id", help="name of this process's workers in events (default: random)")
    p.set_defaults(handler=cmd_deliver)


def _service(directory: str) -> tuple[Node, DeliveryService]:
    node = Node.open(directory)
    node.migrate()
    return node, DeliveryService.for_node(node)


def _print_entry(entry: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry, indent=2))
        return
    print(f"entry {entry['id']}: {entry['state']} via {entry['channel'] or '-'}"
          + (f" ({entry['endpoint']})" if entry.get("endpoint") else ""))
    for e in entry["events"]:
        print(f"  {e['at']}  {e['from'] or '':12} -> {e['to']:12} {e['action']}: {e['detail']}")
    if entry.get("error"):
        print(f"  error {entry['error']['code']}: {entry['error']['detail']}")


def cmd_send(args: argparse.Namespace) -> int:
    try:
        node, service = _service(args.directory)
    except ConfigError as exc:
        print(f"peppol-node send: {exc}", file=sys.stderr)
        return 1
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"peppol-node send: {exc}", file=sys.stderr)
        return 1
    try:
        sub = service.outbox.submit(data, email=args.email)
    except DocumentRejected as exc:
        asyncio.run(service.aclose())
        print(f"peppol-node send: rejected ({exc.code}): {exc.detail}", file=sys.stderr)
        for finding in exc.findings:
            print(f"  {finding}", file=sys.stderr)
        return 2
    if sub.duplicate:
        print("already submitted: showing the existing entry", file=sys.stderr)
    asyncio.run(_drain_one(service, deliver=not (sub.duplicate or args.queue_only)))
    entry = service.outbox.get(sub.entry.id).as_json()
    _print_entry(entry, args.json)
    node.engine.dispose()
    return 1 if entry["state"] == "failed" else 0


async def _drain_one(service: DeliveryService, *, deliver: bool) -> None:
    try:
        if deliver:
            await service.worker().drain(max_rounds=20)
    finally:
        await service.aclose()


def cmd_deliver(args: argparse.Namespace) -> int:
    try:
        node, service = _service(args.directory)
    except ConfigError as exc:
        print(f"peppol-node deliver: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        workers = [service.worker(f"{args.worker_id}-{i}" if args.worker_id else None)
                   for i in range(max(1, args.workers))]
        try:
            if args.until_idle:
                counts = await asyncio.gather(*(w.drain(max_rounds=1_000_000) for w in workers))
                return sum(counts)
            stop = asyncio.Event()
            await asyncio.gather(*(w.run(stop) for w in workers))
            return 0
        finally:
            await service.aclose()

    try:
        done = asyncio.run(run())
    except KeyboardInterrupt:
        return 130
    finally:
        node.engine.dispose()
    print(f"{done} delivery attempts")
    return 0
