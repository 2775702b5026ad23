"""The node's side of sharing: stores `shares` rules in the database and sends their emails.

`shares/` is pure (states, tokens, passwords, policies, email builders); this
package runs its workflows against the node's tables inside one SQLAlchemy
session per action, and is what `accesspoint.web` and the scheduler call.
Every function takes a `Context` (who, from where, when) and raises only
`shares.ShareError` subclasses for anything a person can get wrong.
"""

from .context import Context, Services, services_for
from . import (accounts, activation, audit, deletion, invites, keys, ledger, orgs, partnerships, ratelimit, requests,
               scheduler, team)

__all__ = ["Context", "Services", "services_for", "accounts", "activation", "audit", "deletion", "invites", "keys",
           "ledger", "orgs", "partnerships", "ratelimit", "requests", "scheduler", "team"]
