"""Putting a participant on the Peppol network and taking it off: our SMP first, then the SML.

A sender finds a receiver in two steps (SML DNS -> SMP -> endpoint), so receiving on this node
takes two writes: the ServiceMetadata in our SMP (our own database, always possible) and the
participant at the SML (a remote SOAP call, or our local SML, which only answers while `serve`
runs). The SMP write is done at once; the SML's is recorded as wished (`pending`) and attempted
right away, and whatever could not be finished is finished by `serve` at start-up
(`sync_sml`). So `org add --receive` works the same with the node up or down, and a node whose
SML is unreachable for a while catches up by itself.

One code path for the operator's CLI (`org add --receive`, `org update --receive/--no-receive`),
the web app's receive switch (both through `switch_receive`), and the node's own MLS participant
(Peppol Network Policy: every service provider receives Message Level Status at its SPIS
participant `0242:<SPID>`).

Receiving sits with one access point only; sending can go through several (product.md EC-7,
W1.4). So before publishing, `switch_receive` looks the participant up in the SML
(`receiving_elsewhere`): one that already receives at another access point is registered here as
a **sender only** (`sender_only`), and the answer names that access point (its endpoint URL and
certificate subject, from its SMP's signed answer) so its owner can ask it to deregister or for a
migration key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx2
import sqlalchemy as sa

import shares
import sml
import smp
import ubl
from accesspoint.db.tables.smp import NetworkRegistration

if TYPE_CHECKING:
    from accesspoint.node import Node

__all__ = [
    "RECEIVED_DOCUMENT_TYPES",
    "NotActive",
    "OtherAccessPoint",
    "ReceiveSwitch",
    "Registration",
    "receiving_elsewhere",
    "switch_receive",
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
#: Not published here: the participant receives at another access point (EC-7); it sends from here.
SENDER_ONLY = "sender_only"

#: How long the SML's DNS may take to say where a participant is before we register without knowing.
ELSEWHERE_DNS_TIMEOUT = 5.0


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


class NotActive(Exception):
    """Receiving was asked for an organisation that is not active (W1.3): nothing was published."""


@dataclass(frozen=True, slots=True)
class OtherAccessPoint:
    """Where a participant already receives (EC-7): its SMP and, from the SMP's answer, the AP."""

    participant_id: str
    smp_url: str
    #: The AS4 endpoint and the subject of its AP certificate; empty when its SMP did not answer.
    endpoint_url: str = ""
    certificate_subject: str = ""
    #: Why the endpoint is unknown (the SMP's error), when it is.
    detail: str = ""

    def describe(self) -> str:
        """One sentence for the page and the CLI: which access point, and what to do."""
        where = (f"the access point at {self.endpoint_url} (certificate {self.certificate_subject}; SMP {self.smp_url})"
                 if self.endpoint_url else f"another access point (SMP {self.smp_url}; {self.detail or 'no endpoint'})")
        return (f"{self.participant_id.split('::')[-1]} already receives at {where}. It is registered here as a sender only: "
                "ask that access point to deregister it or for a migration key, then switch receiving on again.")


async def _smp_url_at_sml(node: Node, pid: ubl.ParticipantId) -> str | None:
    """The SMP base URL the SML has for `pid`, or None when it has none (or could not say in time).

    Our own local SML keeps its registrations in our database: read there, so a node that is not
    serving (its DNS is inside `serve`) does not wait for a DNS timeout. Any other SML is asked as
    a sender asks it, by DNS (NAPTR).
    """
    if node.settings.sml.local and not node.settings.sml.management_url:
        from accesspoint.sml_store import DbSmlStore

        store = DbSmlStore(node.engine)
        record = store.get_participant(smp_key(pid))
        smp_record = store.get_smp(record.smp_id) if record is not None else None
        return smp_record.logical_address if smp_record is not None else None
    try:
        return await sml.lookup_smp_url(pid, node.discovery.zone, resolver=node.discovery.dns_resolver,
                                        timeout=ELSEWHERE_DNS_TIMEOUT, require_https=node.settings.production)
    except sml.ParticipantNotRegistered:
        return None
    except sml.SmlError as exc:  # the SML's own check still refuses a participant another SMP holds
        log.warning("could not ask the SML where %s receives: %s", pid, exc)
        return None


async def receiving_elsewhere(node: Node, pid: ubl.ParticipantId) -> OtherAccessPoint | None:
    """EC-7 / W1.4: the access point `pid` already receives at, if it is not ours; None otherwise."""
    smp_url = await _smp_url_at_sml(node, pid)
    if smp_url is None or smp_url.rstrip("/") == node.discovery.smp_public_url.rstrip("/"):
        return None
    async with httpx2.AsyncClient(verify=node.discovery.client_tls(), timeout=httpx2.Timeout(15, connect=5)) as http:
        policy = smp.SmpPolicy(trust=node.trust, revocation=node.revocation, production=node.settings.production)
        try:
            found = await smp.SmpClient(http, policy).lookup_endpoint(
                smp_url, pid, ubl.BIS_BILLING_INVOICE, ubl.BIS_BILLING_PROCESS, at=node.now())
        except smp.SmpError as exc:
            return OtherAccessPoint(str(pid), smp_url, detail=f"its SMP did not say which: {exc}")
    try:
        subject = found.certificate().subject.rfc4514_string()
    except smp.SmpError:
        subject = "unreadable"
    return OtherAccessPoint(str(pid), smp_url, found.address, subject)


@dataclass(frozen=True, slots=True)
class ReceiveSwitch:
    """What switching receiving did: each id's registration, and the ids that receive elsewhere."""

    registrations: list[Registration]
    elsewhere: list[OtherAccessPoint]


async def switch_receive(node: Node, pids: Sequence[ubl.ParticipantId], receive: bool) -> ReceiveSwitch:
    """Switch receiving on this node on or off for `pids` (all of one or more of the node's organisations).

    On: each id the SML already has at another access point is recorded `sender_only` and not
    published (EC-7); the others are published in our SMP and registered at the SML. Off: removed
    from our SMP and deregistered. The organisations' receive flags follow. Raises
    `organisations.UnknownParticipant` for an id of no organisation here and `NotActive` when
    receiving is asked for an organisation that is not active (W1.3).
    """
    from accesspoint import organisations

    for pid, state, reason in organisations.activation_states(node.sessions, pids):  # every id known first
        if receive and not shares.activation.may_exchange(state):
            raise NotActive(f"{pid}: {shares.activation.why_not_active(state, reason)}")
    elsewhere: list[OtherAccessPoint] = []
    here: list[ubl.ParticipantId] = []
    for pid in pids:
        other = await receiving_elsewhere(node, pid) if receive else None
        if other is not None:
            elsewhere.append(other)
            _record(node, pid, receive=False, state=SENDER_ONLY, detail=other.describe())
        elif receive:
            publish(node, pid)
            here.append(pid)
        else:
            withdraw(node, pid)
            here.append(pid)
    # An organisation receives here when one of its ids does: the elsewhere ones first, so that
    # an organisation with ids of both kinds ends up receiving.
    organisations.set_receive(node.sessions, [ubl.ParticipantId.parse(o.participant_id) for o in elsewhere], False)
    organisations.set_receive(node.sessions, here, receive)
    return ReceiveSwitch(await sync_sml(node, here) + registrations(node, [
        ubl.ParticipantId.parse(o.participant_id) for o in elsewhere]), elsewhere)
