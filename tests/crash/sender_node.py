"""A sending node's delivery process, to be SIGKILLed by tests/crash: the node's outbox workers delivering
over AS4 (HTTPS) to one fixed receiver, the way `peppol-node deliver` does through SML/SMP.

    python -m tests.crash.sender_node NODE_DIR RECEIVER_AS4_URL RECEIVER_AP_CERT TLS_CA [--until-idle]
                                      [--clock-offset SECONDS]

`--clock-offset` runs the node's clock ahead, i.e. "this process was restarted
that much later" (the leases a killed process held have then run out).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from datetime import datetime, timedelta

import httpx2

import certs
import smp
from accesspoint.config import load_settings
from accesspoint.delivery.service import DeliveryService
from accesspoint.node import Node


class ShiftedNode(Node):
    offset = timedelta(0)

    def now(self) -> datetime:  # type: ignore[override]
        return super().now() + self.offset


async def run(args: argparse.Namespace) -> int:
    node = ShiftedNode(load_settings(args.directory))
    node.offset = timedelta(seconds=args.clock_offset)
    node.migrate()
    resolver = smp.StaticResolver(args.url, certs.load_certificate(args.cert))
    async with httpx2.AsyncClient(verify=ssl.create_default_context(cafile=args.ca), timeout=30) as http:
        service = DeliveryService.from_node(node, resolver=resolver, http=http)
        workers = [service.worker(f"{args.name}-{i}") for i in range(2)]
        if args.until_idle:
            await asyncio.gather(*(w.drain(max_rounds=100_000) for w in workers))
        else:
            stop = asyncio.Event()
            await asyncio.gather(*(w.run(stop, poll_interval=0.2) for w in workers))
    node.engine.dispose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("url")
    parser.add_argument("cert")
    parser.add_argument("ca")
    parser.add_argument("--until-idle", action="store_true")
    parser.add_argument("--clock-offset", type=float, default=0.0)
    parser.add_argument("--name", default="sender")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
