"""Our SMP: the Peppol SMP 1.x read API and a phoss-style write API, as a Starlette app.

Read (anyone):   GET /{pid}                     -> ServiceGroup
                 GET /{pid}/services/{doctype}  -> SignedServiceMetadata, signed now with our SMP key
Write (Bearer):  PUT|DELETE /{pid}              -> create/remove the participant (and register it at the SML)
                 PUT|DELETE /{pid}/services/{doctype} -> unsigned ServiceMetadata in, stored as given

Paths are split on the *raw* (still percent-encoded) path, so a `/` or `#`
inside an identifier can never change which route matches. The write API is
not in the Peppol spec (SMP 1.4 §3); the shape follows phoss-smp.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smp._xml import NS_SMP, parse_xml
from smp.build import render_service_group
from smp.errors import SmpError, SmpParseError, SmpRequestRejected
from smp.parse import parse_service_group, service_metadata_from_element
from smp.signature import sign_service_metadata
from smp.store import SmpStore
from ubl import DocumentTypeId, IdentifierError, ParticipantId

__all__ = ["SmlRegistrar", "SmpServerConfig", "create_smp_app"]

log = logging.getLogger(__name__)

XML = "application/xml"
MAX_BODY_BYTES = 1024 * 1024


@runtime_checkable
class SmlRegistrar(Protocol):
    """The SML our participants are published in; raise an SmpError when the SML refuses."""

    async def register(self, participant_id: ParticipantId) -> None: ...

    async def unregister(self, participant_id: ParticipantId) -> None: ...


@dataclass(frozen=True)
class SmpServerConfig:
    signing_key: rsa.RSAPrivateKey = field(repr=False)
    signing_certificate: x509.Certificate
    write_tokens: Collection[str] = field(default=(), repr=False)
    public_url: str | None = None  #: base URL for ServiceGroup hrefs; default: the request's own
    registrar: SmlRegistrar | None = None


def _ids(request: Request) -> tuple[ParticipantId, DocumentTypeId | None]:
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    root = request.scope.get("root_path", "").encode()
    path = raw.split(b"?")[0]
    if root and path.startswith(root):
        path = path[len(root):]
    parts = [unquote(p.decode("latin-1")) for p in path.strip(b"/").split(b"/")]
    try:
        if len(parts) == 1 and parts[0]:
            return ParticipantId.parse(parts[0]), None
        if len(parts) == 3 and parts[1] == "services":
            return ParticipantId.parse(parts[0]), DocumentTypeId.parse(parts[2])
    except IdentifierError as exc:
        raise SmpRequestRejected(400, f"bad identifier: {exc}") from None
    raise SmpRequestRejected(404, "not an SMP path")


def create_smp_app(store: SmpStore, config: SmpServerConfig) -> Starlette:
    tokens = [t.encode() for t in config.write_tokens if t]

    def authorise(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        ok = scheme.lower() == "bearer" and token and any(
            hmac.compare_digest(token.strip().encode(), t) for t in tokens)
        if not ok:
            raise SmpRequestRejected(401, "a valid bearer token is required to change the SMP")

    async def body(request: Request) -> bytes:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                raise SmpRequestRejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
        return bytes(data)

    def base_url(request: Request) -> str:
        return config.public_url or str(request.base_url)

    async def get(request: Request) -> Response:
        pid, doctype = _ids(request)
        if doctype is None:
            if not await run_in_threadpool(store.has_participant, pid):
                raise SmpRequestRejected(404, f"{pid} is not registered here")
            doctypes = await run_in_threadpool(store.list_services, pid)
            return Response(render_service_group(base_url(request), pid, doctypes), media_type=XML)
        xml = await run_in_threadpool(store.get_service, pid, doctype)
        if xml is None:
            raise SmpRequestRejected(404, f"no service metadata for {pid} / {doctype}")
        signed = await run_in_threadpool(
            sign_service_metadata, xml, key=config.signing_key, certificate=config.signing_certificate)
        return Response(signed, media_type=XML)

    async def put(request: Request) -> Response:
        authorise(request)
        pid, doctype = _ids(request)
        data = await body(request)
        if doctype is None:
            if data.strip():
                group = parse_service_group(data)
                if group.participant_id != pid:
                    raise SmpRequestRejected(400, f"the ServiceGroup is for {group.participant_id}, not {pid}")
            if await run_in_threadpool(store.has_participant, pid):
                return PlainTextResponse("exists\n", status_code=200)
            if config.registrar is not None:
                await config.registrar.register(pid)
            created = await run_in_threadpool(store.add_participant, pid)
            return PlainTextResponse("created\n", status_code=201 if created else 200)
        root = parse_xml(data)
        if root.tag != f"{{{NS_SMP}}}ServiceMetadata":
            raise SmpRequestRejected(400, "the body must be an unsigned smp:ServiceMetadata")
        metadata = service_metadata_from_element(root)
        info = metadata.information
        if info is not None and (info.participant_id != pid or info.document_type_id != doctype):
            raise SmpRequestRejected(
                400, f"the body is for {info.participant_id} / {info.document_type_id}, not {pid} / {doctype}")
        if not await run_in_threadpool(store.has_participant, pid):
            raise SmpRequestRejected(404, f"{pid} is not registered here; PUT /{{pid}} first")
        try:
            created = await run_in_threadpool(store.put_service, pid, doctype, data)
        except KeyError:
            raise SmpRequestRejected(404, f"{pid} is not registered here") from None
        return PlainTextResponse("created\n" if created else "replaced\n", status_code=201 if created else 200)

    async def delete(request: Request) -> Response:
        authorise(request)
        pid, doctype = _ids(request)
        if doctype is None:
            if not await run_in_threadpool(store.has_participant, pid):
                raise SmpRequestRejected(404, f"{pid} is not registered here")
            if config.registrar is not None:
                await config.registrar.unregister(pid)
            await run_in_threadpool(store.remove_participant, pid)
            return PlainTextResponse("deleted\n")
        if not await run_in_threadpool(store.delete_service, pid, doctype):
            raise SmpRequestRejected(404, f"no service metadata for {pid} / {doctype}")
        return PlainTextResponse("deleted\n")

    async def dispatch(request: Request) -> Response:
        handler = {"GET": get, "HEAD": get, "PUT": put, "DELETE": delete}.get(request.method)
        if handler is None:
            return PlainTextResponse("method not allowed\n", status_code=405)
        return await handler(request)

    async def on_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SmpRequestRejected)
        return PlainTextResponse(f"{exc}\n", status_code=exc.status)

    async def on_bad_xml(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"bad SMP document: {exc}\n", status_code=400)

    async def on_smp_error(request: Request, exc: Exception) -> Response:
        # Raised by the registrar (the SML refused or is down) or by signing.
        log.warning("SMP request %s %s failed: %s", request.method, request.url.path, exc)
        return PlainTextResponse(f"{exc}\n", status_code=502)

    return Starlette(
        routes=[Route("/{path:path}", dispatch, methods=["GET", "HEAD", "PUT", "DELETE"])],
        exception_handlers={SmpRequestRejected: on_rejected, SmpParseError: on_bad_xml, SmpError: on_smp_error},
    )
