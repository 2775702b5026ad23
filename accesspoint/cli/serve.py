"""`peppol-node serve DIR`: the node as one HTTPS ASGI application under uvicorn."""

from __future__ import annotations

import argparse
import ssl
import sys

from accesspoint.config import ConfigError, load_settings
from accesspoint.logs import configure_logging


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the node: AS4, SMP, local SML, web app and API over HTTPS")
    p.add_argument("directory")
    p.add_argument("--host", help="override [http] host")
    p.add_argument("--port", type=int, help="override [http] port")
    p.add_argument("--no-tls", action="store_true",
                   help="plain HTTP (only behind a TLS-terminating proxy, or for loopback tests)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from accesspoint.node import Node
    from accesspoint.web.app import create_app

    configure_logging(args.log_level)
    try:
        settings = load_settings(args.directory)
    except ConfigError as exc:
        print(f"peppol-node serve: {exc}", file=sys.stderr)
        return 1
    node = Node(settings)
    host = args.host or settings.http.host
    port = args.port if args.port is not None else settings.http.port
    tls: dict[str, object] = {}
    if not args.no_tls:
        tls = {
            "ssl_keyfile": str(settings.path(settings.pki.tls_key)),
            "ssl_certfile": str(settings.path(settings.pki.tls_cert)),
            # Peppol Policy for Transport Security: TLS 1.2 at least.
            "ssl_version": ssl.PROTOCOL_TLS_SERVER,
            "ssl_ciphers": "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS",
        }
    config = uvicorn.Config(
        create_app(node), host=host, port=port, log_config=None, access_log=False,
        timeout_keep_alive=30, limit_concurrency=1000,
        # On SIGTERM, finish what is in flight but do not wait forever for idle keep-alive
        # connections: stored messages are durable, a cut-off sender retries.
        timeout_graceful_shutdown=10, **tls,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
