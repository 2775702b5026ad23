"""The test PKI's OCSP responder and CRL server: real HTTP on 127.0.0.1.

    POST /ocsp                 application/ocsp-request -> application/ocsp-response
    GET  /ocsp/<base64 req>    the RFC 6960 Appendix A GET form
    GET  /crl/<ca>.crl         DER CRL of root, ap-ca or smp-ca

It reads revocations from the PKI directory on every request, so a certificate
revoked by another process (e.g. `peppol-node pki revoke`) is answered as revoked
at once. `ocsp_enabled=False` makes the OCSP endpoint answer 503, which is how
tests prove the CRL fallback.
"""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from certs.testpki import TestPki

__all__ = ["RevocationServer", "serve_revocation"]

MAX_REQUEST_BYTES = 64 * 1024


class RevocationServer:
    """Serve `pki`'s OCSP and CRLs on its configured 127.0.0.1 port (a context manager)."""

    def __init__(self, pki: TestPki, *, ocsp_enabled: bool = True, crl_enabled: bool = True) -> None:
        self.pki = pki
        self.ocsp_enabled = ocsp_enabled
        self.crl_enabled = crl_enabled
        self.requests: list[str] = []
        parts = urlsplit(pki.revocation_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RevocationServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

            def _send(self, status: int, body: bytes = b"", ctype: str = "application/octet-stream") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - stdlib naming
                path = urlsplit(self.path).path
                owner.requests.append(f"POST {path}")
                if path != "/ocsp":
                    return self._send(404)
                if not owner.ocsp_enabled:
                    return self._send(503)
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > MAX_REQUEST_BYTES:
                    return self._send(400)
                body = self.rfile.read(length)
                self._send(200, owner.pki.ocsp_response(body), "application/ocsp-response")

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                owner.requests.append(f"GET {path}")
                if path.startswith("/ocsp/"):
                    if not owner.ocsp_enabled:
                        return self._send(503)
                    try:
                        der = base64.b64decode(unquote(path[len("/ocsp/"):]))
                    except ValueError:
                        return self._send(400)
                    return self._send(200, owner.pki.ocsp_response(der), "application/ocsp-response")
                if path.startswith("/crl/") and path.endswith(".crl"):
                    if not owner.crl_enabled:
                        return self._send(503)
                    ca = owner.pki.ca_named(path[len("/crl/"):-len(".crl")])
                    if ca is None:
                        return self._send(404)
                    return self._send(200, owner.pki.crl(ca), "application/pkix-crl")
                self._send(404)

        self._server = ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="revocation-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RevocationServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_revocation(pki: TestPki) -> Iterator[RevocationServer | None]:
    """Serve `pki`'s OCSP/CRL while the block runs, unless its port is taken already.

    Several nodes of one local network share a test PKI; whichever starts first
    answers for all of them, and the others find the port taken (yielding None).
    """
    server = RevocationServer(pki)
    try:
        server.start()
    except OSError:
        yield None
        return
    try:
        yield server
    finally:
        server.stop()
