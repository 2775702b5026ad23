"""Putting a participant on the Peppol network and taking it off: our SMP first, then the SML.

A sender finds a receiver in two steps (SML DNS -> SMP -> endpoint), so receiving on this node
takes two writes: the ServiceMetadata in our SMP (our own database, always possible) and the
participant at the SML (a remote SOAP call, or our local SML, which only answers while `serve`
runs). The SMP write is done at once; the SML's is recorded as wished (`pending`) and attempted
right away, and whatever could not be finished is finished by `serve` at start-up
(`sync_sml`). So `org add --receive` works the same with the node up or down, and a node whose
SML is unreachable for a while catches up by itself.

One code path for the operator's CLI (`org add --receive`, `org update --receive/--no-receive`),
the web app's receive switch, and the node's own MLS participant (Peppol Network Policy: every
service provider receives Message Level Status at its SPIS participant `0242:<SPID>`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

import sml
import smp
import ubl
from accesspoint.db.tables.smp import NetworkRegistration

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = [
    "RECEIVED_DOCUMENT_TYPES",
    "Registration",
    "publish",
    "withdraw",
    "registrations",
    "sync_sml",
    "publish_mls_participant",
]

log = logging.getLogger(__name__)

#: What a business participant receives here: Peppol BIS Billing 3.0 invoices and credit notes.
#: MLS is not among them: it goes to the service provider's SPIS participant, not to each business.
RECEIVED_DOCUMENT_TYPES: tuple[ubl.DocumentTypeId, ...] = (ubl.BIS_BILLING_INVOICE, ubl.BIS_BILLING_CREDIT_NOTE)

PENDING, REGISTERED, WITHDRAWN, REFUSED = "pending", "registered", "withdrawn", "refused"


@dataclass(frozen=True, slots=True)
class Registration:
    """Where one participant stands: `receive` is the wish, `sml_state` what the SML was told."""

    participant_id: str
    receive: bool
    sml_state: str
    detail: str

    @property
    def discoverable(self) -> bool:
        return self.receive and self.sml_state == REGISTERED


def _endpoint(node: Node) -> smp.Endpoint:
    """Our AS4 endpoint as the SMP publishes it, valid as long as the AP certificate is."""
    cert = node.ap_keys.cert
    return smp.Endpoint.with_certificate(
        smp.TRANSPORT_AS4_V2, node.settings.node.public_url.rstrip("/") + "/as4", cert,
        activation=cert.not_valid_before_utc, expiration=cert.not_valid_after_utc,
        technical_contact_url=node.settings.node.public_url.rstrip("/"),
    )


def _record(node: Node, pid: ubl.ParticipantId, *, receive: bool, state: str, detail: str = "") -> None:
    key = smp_key(pid)
    with node.engine.begin() as conn:
        values = {"receive": receive, "sml_state": state, "detail": detail, "updated_at": node.now()}
        if not conn.execute(sa.update(NetworkRegistration).where(
                NetworkRegistration.participant_id == key).values(**values)).rowcount:
            conn.execute(sa.insert(NetworkRegistration).values(participant_id=key, **values))


def smp_key(pid: ubl.ParticipantId) -> str:
    """The participant as our SMP stores it (`scheme::value`; `ubl` already lower-cases the value)."""
    return str(pid)


def publish(node: Node, pid: ubl.ParticipantId,
            document_types: Sequence[ubl.DocumentTypeId] = RECEIVED_DOCUMENT_TYPES,
            process: ubl.ProcessId = ubl.BIS_BILLING_PROCESS) -> None:
    """Publish `pid` in our SMP with our endpoint and ask for its SML registration (see `sync_sml`)."""
    store = node.discovery.smp_store
    store.add_participant(pid)
    endpoint = _endpoint(node)
    for doctype in document_types:
        info = smp.ServiceInformation(pid, doctype, (smp.ProcessMetadata(process, (endpoint,)),))
        store.put_service(pid, doctype, smp.render_service_metadata(info))
    _record(node, pid, receive=True, state=PENDING)


def withdraw(node: Node, pid: ubl.ParticipantId) -> None:
    """Stop publishing `pid` in our SMP and ask for its removal from the SML (see `sync_sml`)."""
    node.discovery.smp_store.remove_participant(pid)
    _record(node, pid, receive=False, state=PENDING)


def registrations(node: Node, pids: Iterable[ubl.ParticipantId] | None = None) -> list[Registration]:
    query = sa.select(NetworkRegistration).order_by(NetworkRegistration.participant_id)
    if pids is not None:
        query = query.where(NetworkRegistration.participant_id.in_([smp_key(p) for p in pids]))
    with node.engine.connect() as conn:
        return [Registration(r.participant_id, r.receive, r.sml_state, r.detail) for r in conn.execute(query)]


async def _tell_sml(client: sml.SmlClient, registration: Registration) -> tuple[str, str]:
    pid = ubl.ParticipantId.parse(registration.participant_id)
    if registration.receive:
        try:
            await client.create_participant(pid)
            return REGISTERED, ""
        except sml.BadRequestFault as exc:  # already registered: by us (a repeat) or by another SMP
            if pid in await client.list_participants():
                return REGISTERED, ""
            return REFUSED, f"the SML already has {pid} under another SMP (it receives at another access point): {exc}"
    try:
        await client.delete_participant(pid)
    except sml.NotFoundFault:
        pass  # not there: the goal is reached
    except sml.UnauthorizedFault as exc:
        return WITHDRAWN, f"the SML has {pid} under another SMP; left alone: {exc}"
    return WITHDRAWN, ""


async def sync_sml(node: Node, pids: Iterable[ubl.ParticipantId] | None = None) -> list[Registration]:
    """Tell the SML every pending wish (of `pids`, or all); returns the registrations afterwards.

    A transport failure leaves a wish pending with the reason, for the next call (serve's start).
    """
    pending = [r for r in registrations(node, pids) if r.sml_state == PENDING]
    client = node.discovery.sml_client
    if pending and client is None:
        for r in pending:
            _record(node, ubl.ParticipantId.parse(r.participant_id), receive=r.receive, state=PENDING,
                    detail="no SML configured ([sml] local = false and no management_url)")
    elif pending:
        assert client is not None
        for r in pending:
            pid = ubl.ParticipantId.parse(r.participant_id)
            try:
                state, detail = await _tell_sml(client, r)
            except sml.SmlError as exc:
                state, detail = PENDING, f"the SML at {node.discovery.management_url} did not answer: {exc}"
            _record(node, pid, receive=r.receive, state=state, detail=detail)
            log.info("SML %s for %s%s", state, pid, f": {detail}" if detail else "",
                     extra={"participant_id": str(pid), "sml_state": state})
    return registrations(node, pids)


def publish_mls_participant(node: Node) -> ubl.ParticipantId | None:
    """Publish our SPIS participant (`0242:<SPID>`) for MLS, once; None when the seat id has no SPID."""
    from accesspoint import mls

    try:
        spis = mls.spis_participant(node.settings.node.seat_id)
    except ValueError:
        return None
    if node.discovery.smp_store.get_service(spis, mls.MLS_DOCUMENT_TYPE) is None \
            or not [r for r in registrations(node, [spis]) if r.receive]:
        publish(node, spis, (mls.MLS_DOCUMENT_TYPE,), mls.MLS_PROCESS)
    return spis
