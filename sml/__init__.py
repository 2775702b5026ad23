"""Participant discovery through the SML: DNS names, NAPTR lookups, the SML
management client, and a local SML (SOAP API + authoritative DNS) for private
and test networks.

Pure parts (`names`, `naptr`, `soap`) turn values into values; `local` holds
the SML's rules (ownership, migration) over a `store.SmlStore`; the edges are
`dns` (lookups), `client` (SOAP over mutual TLS), `dnsserver` (authoritative
UDP + TCP), `server` (the SOAP app), `https` (uvicorn exposing the client
certificate) and `rfc2136` (TSIG dynamic updates to a real DNS server). It
never imports `accesspoint` or `shares`; storage of a local SML comes in through
the `SmlStore` protocol (`accesspoint.sml_store.DbSmlStore` on the node's DB).
"""

from .errors import (
    BadRequestFault,
    DnsFailure,
    DnsUpdateFailed,
    InternalErrorFault,
    InvalidParticipant,
    LookupFailed,
    NoMatchingSmpService,
    NotFoundFault,
    ParticipantNotRegistered,
    SmlError,
    SmlFault,
    SmlTransportError,
    UnauthorizedFault,
)
from .client import SmlClient, mtls_context
from .dns import lookup_smp_url, query_naptr
from .dnsserver import DnsServer
from .local import LocalSml, ParticipantPage, ZonePublisher, certificate_owner, dns_label, new_migration_key
from .names import Zone, bdxl_name, cname_name, legacy_cname_name, naptr_label, naptr_name
from .naptr import NaptrRecord, select_smp_url
from .https import HttpsServer, TlsScopeH11Protocol
from .rfc2136 import Rfc2136Publisher
from .server import create_sml_app, peer_certificate
from .soap import SmpInfo
from .store import MemorySmlStore, ParticipantRecord, SmlStore, SmpRecord

__all__ = [
    "SmlError",
    "InvalidParticipant",
    "LookupFailed",
    "ParticipantNotRegistered",
    "NoMatchingSmpService",
    "DnsFailure",
    "SmlFault",
    "BadRequestFault",
    "NotFoundFault",
    "UnauthorizedFault",
    "InternalErrorFault",
    "SmlTransportError",
    "DnsUpdateFailed",
    "Zone",
    "naptr_name",
    "naptr_label",
    "bdxl_name",
    "cname_name",
    "legacy_cname_name",
    "NaptrRecord",
    "select_smp_url",
    "lookup_smp_url",
    "query_naptr",
    "DnsServer",
    "SmlClient",
    "mtls_context",
    "SmpInfo",
    "create_sml_app",
    "peer_certificate",
    "HttpsServer",
    "TlsScopeH11Protocol",
    "Rfc2136Publisher",
    "LocalSml",
    "ParticipantPage",
    "ZonePublisher",
    "certificate_owner",
    "dns_label",
    "new_migration_key",
    "SmlStore",
    "MemorySmlStore",
    "SmpRecord",
    "ParticipantRecord",
]
