"""`/metrics`: Prometheus text exposition of the node's delivery, read from the database.

Counted from the database on each scrape, not from in-process counters, so
every `serve` process of one node reports the same numbers and a restart
loses nothing. Exposition format 0.0.4 written directly: it is a few lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from accesspoint.db.tables.documents import Document, OutboxEntry
from accesspoint.delivery import State
from accesspoint.delivery.outbox import utc

if TYPE_CHECKING:
    from accesspoint.node import Node

#: Delivery latency buckets in seconds (internal is milliseconds, AS4 seconds, email backoff minutes+).
BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)
#: Latency is computed over the most recent deliveries only, to keep a scrape cheap.
LATENCY_WINDOW = 10_000


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(node: Node, now: datetime) -> str:
    lines: list[str] = []
    with node.sessions() as session:
        states = dict(session.execute(
            sa.select(OutboxEntry.state, sa.func.count()).group_by(OutboxEntry.state)).all())
        inbound = session.scalar(sa.select(sa.func.count()).select_from(Document).where(Document.direction == "in"))
        due = session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry).where(
            OutboxEntry.next_attempt_at.is_not(None), OutboxEntry.next_attempt_at <= now))
        waiting = session.scalar(sa.select(sa.func.count()).select_from(OutboxEntry).where(
            OutboxEntry.next_attempt_at.is_not(None)))
        pairs = session.execute(
            sa.select(OutboxEntry.channel, OutboxEntry.created_at, OutboxEntry.delivered_at)
            .where(OutboxEntry.delivered_at.is_not(None))
            .order_by(OutboxEntry.id.desc()).limit(LATENCY_WINDOW)).all()
    lines += ["# HELP peppol_messages_out Outbox entries by state.", "# TYPE peppol_messages_out gauge"]
    for state in State:
        lines.append(f'peppol_messages_out{{state="{state.value}"}} {int(states.get(state.value, 0))}')
    lines += ["# HELP peppol_messages_in Documents received (AS4 or internal).", "# TYPE peppol_messages_in gauge",
              f'peppol_messages_in{{state="received"}} {int(inbound or 0)}']
    lines += ["# HELP peppol_queue_depth Outbox entries due for a delivery attempt now.",
              "# TYPE peppol_queue_depth gauge", f"peppol_queue_depth {int(due or 0)}",
              "# HELP peppol_queue_scheduled Outbox entries with an attempt scheduled (due or backing off).",
              "# TYPE peppol_queue_scheduled gauge", f"peppol_queue_scheduled {int(waiting or 0)}"]
    by_channel: dict[str, list[float]] = {}
    for channel, created, delivered in pairs:
        by_channel.setdefault(channel or "unknown", []).append((utc(delivered) - utc(created)).total_seconds())
    lines += ["# HELP peppol_delivery_latency_seconds From submission to verified delivery (recent deliveries).",
              "# TYPE peppol_delivery_latency_seconds histogram"]
    for channel, values in sorted(by_channel.items()):
        label = _escape(channel)
        for bound in BUCKETS:
            count = sum(v <= bound for v in values)
            lines.append(f'peppol_delivery_latency_seconds_bucket{{channel="{label}",le="{bound}"}} {count}')
        lines.append(f'peppol_delivery_latency_seconds_bucket{{channel="{label}",le="+Inf"}} {len(values)}')
        lines.append(f'peppol_delivery_latency_seconds_sum{{channel="{label}"}} {sum(values):.6f}')
        lines.append(f'peppol_delivery_latency_seconds_count{{channel="{label}"}} {len(values)}')
    return "\n".join(lines) + "\n"


def routes(node: Node) -> list[BaseRoute]:
    async def metrics(request: Request) -> Response:
        text = await run_in_threadpool(render_metrics, node, node.now())
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [Route("/metrics", metrics, methods=["GET"], include_in_schema=False)]
