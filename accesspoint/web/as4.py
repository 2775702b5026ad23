"""`POST /as4`: the node's AS4 endpoint (public_url + "/as4"), storing into the node's database.

The as4 package's receiver does the protocol (parse, verify, decrypt, answer
with a signed receipt or ebMS Error); `accesspoint.delivery.InboxStore` is its
`MessageStore`: durable in the database before the receipt goes out, routed to
the receiving organisation's purchase connection, EBMS:0004
PEPPOL:NOT_SERVICED for participants this node does not receive for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route, request_response
from starlette.types import Receive, Scope, Send

import as4

if TYPE_CHECKING:
    from accesspoint.node import Node


class _As4Endpoint:
    """An ASGI app (so Starlette passes the raw scope through) built on first use: the AP key is
    read when the first message arrives, so composing the app never needs it.

    It wraps the as4 package's request handler, not its Starlette app: the node's application
    has routed the request already, and a second application's middleware and router per
    message were about 2% of a receiving node's CPU.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self.app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            from accesspoint.web.api_documents import delivery_of

            node = self.node
            keys = node.ap_keys
            receiver = as4.Receiver(key=keys.key, cert=keys.cert, trust=node.trust, revocation=node.revocation,
                                    policy=as4.ReceiverPolicy(check_revocation=node.revocation is not None,
                                                              keep_envelope=True))  # InboxStore reads it
            self.app = request_response(as4.inbound_endpoint(receiver, delivery_of(node).as4_store, clock=node.now))
        await self.app(scope, receive, send)


def routes(node: Node) -> list[BaseRoute]:
    return [Route("/as4", _As4Endpoint(node), methods=["POST"], include_in_schema=False)]
