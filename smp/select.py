"""Choosing the endpoint to deliver to, and the document type ids to ask for. Pure.

Peppol SMP 1.x: among the answer's processes take the one with our process id,
then the endpoint with our transport profile (`peppol-transport-as4-v2_0`),
ignoring every other profile (oxalis' "unknown protocol" answer), and it must be
active at the time of sending.
"""

from __future__ import annotations

from datetime import datetime

from smp.errors import NoEndpoint, NoEndpointReason
from smp.model import TRANSPORT_AS4_V2, Endpoint, ServiceInformation
from ubl import DOCTYPE_WILDCARD_SCHEME, DocumentTypeId, ProcessId

__all__ = ["select_endpoint", "wildcard_candidates"]

# When no endpoint qualifies, report the reason closest to success.
_REASON_ORDER = (
    NoEndpointReason.NOT_YET_ACTIVE,
    NoEndpointReason.EXPIRED,
    NoEndpointReason.INVALID_DATES,
)


def select_endpoint(
    info: ServiceInformation,
    *,
    process_id: ProcessId,
    at: datetime,
    transport_profile: str = TRANSPORT_AS4_V2,
) -> Endpoint:
    """The endpoint for `process_id` over `transport_profile` active at `at`; raises NoEndpoint(reason)."""
    process = next((p for p in info.processes if p.process_id == process_id), None)
    if process is None:
        offered = ", ".join(str(p.process_id) for p in info.processes)
        raise NoEndpoint(NoEndpointReason.NO_PROCESS,
                         f"{info.participant_id} accepts {info.document_type_id} only for process(es) {offered}, "
                         f"not {process_id}")
    candidates = [e for e in process.endpoints if e.transport_profile == transport_profile]
    if not candidates:
        offered = ", ".join(e.transport_profile for e in process.endpoints) or "none"
        raise NoEndpoint(NoEndpointReason.NO_TRANSPORT,
                         f"no {transport_profile} endpoint for {process_id} (offered: {offered})")
    reasons = []
    for endpoint in candidates:
        reason = endpoint.inactive_reason(at)
        if reason is None:
            return endpoint
        reasons.append((reason, endpoint))
    reason, endpoint = min(reasons, key=lambda r: _REASON_ORDER.index(r[0]))
    if reason is NoEndpointReason.NOT_YET_ACTIVE:
        detail = f"is not active before {endpoint.activation:%Y-%m-%d %H:%M}Z"
    elif reason is NoEndpointReason.EXPIRED:
        detail = f"expired on {endpoint.expiration:%Y-%m-%d %H:%M}Z"
    else:
        detail = "expires before it is activated"
    raise NoEndpoint(reason, f"the {transport_profile} endpoint {endpoint.address} {detail}")


def wildcard_candidates(document_type_id: DocumentTypeId) -> list[DocumentTypeId]:
    """The ids to ask the SMP for, best first.

    `busdox-docid-qns` is exact: one candidate. For `peppol-doctype-wildcard`
    (PINT) a receiver registers a customization followed by `*` meaning "this
    and every specialisation"; so try the exact id, then `cust*`, then strip the
    last `@segment` and try `shorter*`, down to the base customization
    (peppol-commons PeppolWildcardSelector, mode WILDCARD_ONLY + exact first).
    """
    if document_type_id.scheme != DOCTYPE_WILDCARD_SCHEME:
        return [document_type_id]
    value = document_type_id.value
    head, sep, tail = value.partition("##")
    cust, sep2, version = tail.rpartition("::")
    if not (sep and sep2 and cust):
        return [document_type_id]
    cust = cust.rstrip("*")
    out = [DocumentTypeId(DOCTYPE_WILDCARD_SCHEME, f"{head}##{cust}::{version}")]
    while True:
        star = DocumentTypeId(DOCTYPE_WILDCARD_SCHEME, f"{head}##{cust}*::{version}")
        if star not in out:
            out.append(star)
        if "@" not in cust:
            return out
        cust = cust.rsplit("@", 1)[0]
