"""Our SMP, published under /smp (read API for everyone, write API with a bearer token)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount

if TYPE_CHECKING:
    from accesspoint.node import Node


def routes(node: Node) -> list[BaseRoute]:
    return [Mount("/smp", app=node.discovery.smp_app())]
