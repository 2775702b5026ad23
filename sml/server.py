"""The local SML's SOAP API as a Starlette app (BDMSL-compatible).

    app = create_sml_app(LocalSml(store, zone))
    # POST {base}/manageservicemetadata, POST {base}/manageparticipantidentifier

The caller is the SMP whose client certificate the TLS layer verified; the app
reads it from the ASGI TLS extension (`scope["extensions"]["tls"]
["client_cert_chain"]`, which `sml.https.HttpsServer` fills in under uvicorn)
and turns it into an owner id with `authorize` (default: subject + serial; pass
a function that also checks the Peppol SMP role, raising UnauthorizedFault).
No certificate, no service: there is no anonymous access to an SML.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from certs.keys import PARSE_ERRORS

from .errors import BadRequestFault, InternalErrorFault, SmlFault, UnauthorizedFault
from .local import LocalSml, certificate_owner
from .soap import CONTENT_TYPE, Operation, ParticipantList, SmlRequest, SmpInfo, build_fault, build_response, parse_request

__all__ = ["create_sml_app", "peer_certificate", "MAX_REQUEST_BYTES"]

# An SML request is a few hundred bytes; anything near this is not one.
MAX_REQUEST_BYTES = 256 * 1024


def peer_certificate(request: Request) -> x509.Certificate | None:
    """The verified client certificate of the TLS connection, from the ASGI TLS extension."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return None
    first = chain[0]
    data = first.encode("ascii") if isinstance(first, str) else bytes(first)
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except PARSE_ERRORS:
        return None


async def _dispatch(local: LocalSml, owner: str, req: SmlRequest) -> SmpInfo | ParticipantList | None:
    op = req.operation
    if op is Operation.CREATE_SMP:
        await local.create_smp(owner, req.smp_id, req.logical_address or "", req.physical_address or "")
    elif op is Operation.READ_SMP:
        smp = await local.read_smp(owner, req.smp_id)
        return SmpInfo(smp.smp_id, smp.logical_address, smp.physical_address)
    elif op is Operation.UPDATE_SMP:
        await local.update_smp(owner, req.smp_id, req.logical_address or "", req.physical_address or "")
    elif op is Operation.DELETE_SMP:
        await local.delete_smp(owner, req.smp_id)
    elif op is Operation.LIST_PARTICIPANTS:
        page = await local.list_participants(owner, req.smp_id, req.next_page)
        return ParticipantList(page.participants, page.smp_id, page.next_page)
    else:
        assert req.participant is not None
        if op is Operation.CREATE_PARTICIPANT:
            await local.create_participant(owner, req.smp_id, req.participant)
        elif op is Operation.DELETE_PARTICIPANT:
            await local.delete_participant(owner, req.smp_id, req.participant)
        elif op is Operation.PREPARE_TO_MIGRATE:
            await local.prepare_to_migrate(owner, req.smp_id, req.participant, req.migration_key or "")
        elif op is Operation.MIGRATE:
            await local.migrate(owner, req.smp_id, req.participant, req.migration_key or "")
    return None


def _fault(fault: SmlFault) -> Response:
    # SOAP 1.1 §6.2: a fault goes back with HTTP 500.
    return Response(build_fault(fault), status_code=500, media_type=CONTENT_TYPE)


def create_sml_app(
    local: LocalSml,
    *,
    authorize: Callable[[x509.Certificate], str] = certificate_owner,
) -> Starlette:
    """The SOAP endpoints of `local`; mount it at the SML base path."""

    def endpoint(service: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            cert = peer_certificate(request)
            try:
                if cert is None:
                    raise UnauthorizedFault("[ERR-101] A client certificate is required")
                owner = authorize(cert)
                body = bytearray()
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_REQUEST_BYTES:
                        raise BadRequestFault("[ERR-106] Request too large")
                req = parse_request(service, bytes(body))
                result = await _dispatch(local, owner, req)
            except SmlFault as fault:
                return _fault(fault)
            except OSError as exc:  # storage or publisher I/O gone wrong: the SMP may retry
                return _fault(InternalErrorFault(f"[ERR-105] Internal error: {exc}"))
            return Response(build_response(req.operation, result), media_type=CONTENT_TYPE)

        return handle

    routes = [
        Route("/manageservicemetadata", endpoint("manageservicemetadata"), methods=["POST"]),
        Route("/manageparticipantidentifier", endpoint("manageparticipantidentifier"), methods=["POST"]),
    ]
    return Starlette(routes=routes)
