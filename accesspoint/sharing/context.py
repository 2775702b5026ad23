"""Who acts, from where and when; and the services an action may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import shares

__all__ = ["Context", "Services", "services_for"]


@dataclass(frozen=True, slots=True)
class Context:
    """The request's facts: the clock reading and client details recorded in audit events."""

    now: datetime
    ip: str = ""
    user_agent: str = ""


@dataclass(frozen=True)
class Services:
    """What the sharing workflows need from the node (built once by the web layer or scheduler)."""

    sessions: sessionmaker[Session]
    mailer: shares.Mailer
    base_url: str
    node_name: str = "peppol-node"
    invite_ttl_days: int = shares.DEFAULT_INVITE_TTL_DAYS
    hasher: shares.PasswordHasher = field(default_factory=shares.PasswordHasher)
    #: Email addresses (normalised) of the node's operators, who decide organisation activations.
    operators: frozenset[str] = frozenset()

    def link(self, path: str) -> str:
        return self.base_url.rstrip("/") + path


def services_for(node: Any) -> Services:
    """The sharing services of a node (`accesspoint.node.Node`), built once and kept on it."""
    svc = getattr(node, "_sharing_services", None)
    if svc is None:
        web = node.settings.web
        svc = Services(sessions=node.sessions, mailer=node.mailer,
                       base_url=web.base_url or node.settings.node.public_url,
                       node_name=node.settings.node.name, invite_ttl_days=web.invite_ttl_days,
                       operators=frozenset(shares.normalise_email(e) for e in web.operators))
        node._sharing_services = svc
    return svc
