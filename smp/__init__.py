"""Peppol SMP 1.x: the client that finds a receiver's endpoint, and our own SMP server.

Pure modules turn bytes into typed values (`parse`, `signature`, `select`,
`build`); the edges are `client` (an injected httpx2.AsyncClient) and `server`
(a Starlette app over an `SmpStore`). Every error is an `SmpError`. smp never
imports `accesspoint`; DNS (SML) lookups come in through `SmpResolver`'s
`locate_smp` callable.
"""

from smp.build import render_service_group, render_service_metadata
from smp.cache import TtlCache
from smp.client import SmpClient, SmpEndpoint, SmpPolicy, subject_matches_uid
from smp.errors import (
    IdentifierMismatch,
    NoEndpoint,
    NoEndpointReason,
    ParticipantNotFound,
    RedirectError,
    SignatureProblem,
    SmpError,
    SmpLookupError,
    SmpParseError,
    SmpRequestRejected,
    SmpSignatureError,
    SmpUnavailable,
)
from smp.model import (
    TRANSPORT_AS4_V2,
    Endpoint,
    ProcessMetadata,
    Redirect,
    ServiceGroup,
    ServiceInformation,
    ServiceMetadata,
    ServiceReference,
    SignerInfo,
    VerifiedServiceMetadata,
)
from smp.parse import parse_datetime, parse_service_group, parse_service_metadata
from smp.resolver import EndpointResolver, SmpLocator, SmpResolver, StaticResolver
from smp.select import select_endpoint, wildcard_candidates
from smp.server import SmlRegistrar, SmpServerConfig, create_smp_app
from smp.signature import SignatureCheck, check_signature, sign_service_metadata, verify_service_metadata
from smp.store import InMemorySmpStore, SmpStore
from smp.urls import service_group_url, service_metadata_url

__all__ = [
    "TRANSPORT_AS4_V2",
    # errors
    "SmpError",
    "SmpParseError",
    "SmpSignatureError",
    "SignatureProblem",
    "SmpLookupError",
    "ParticipantNotFound",
    "SmpUnavailable",
    "RedirectError",
    "IdentifierMismatch",
    "NoEndpoint",
    "NoEndpointReason",
    "SmpRequestRejected",
    # model
    "Endpoint",
    "ProcessMetadata",
    "ServiceInformation",
    "Redirect",
    "ServiceMetadata",
    "ServiceReference",
    "ServiceGroup",
    "SignerInfo",
    "VerifiedServiceMetadata",
    # pure functions
    "parse_service_group",
    "parse_service_metadata",
    "parse_datetime",
    "check_signature",
    "verify_service_metadata",
    "sign_service_metadata",
    "SignatureCheck",
    "select_endpoint",
    "wildcard_candidates",
    "render_service_group",
    "render_service_metadata",
    "service_group_url",
    "service_metadata_url",
    "subject_matches_uid",
    # edges
    "TtlCache",
    "SmpPolicy",
    "SmpClient",
    "SmpEndpoint",
    "EndpointResolver",
    "SmpLocator",
    "SmpResolver",
    "StaticResolver",
    "SmpStore",
    "InMemorySmpStore",
    "SmlRegistrar",
    "SmpServerConfig",
    "create_smp_app",
]
