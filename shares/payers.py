"""Who pays for an organisation's transactions (product.md W4), without a database.

An organisation's `payer` is "own" (its own environment pays) or
"intermediary:<environment id>" (the accountant that asked for it in an accepted
authorisation request with costs_paid_by=intermediary). The ledger copies the
payer of the moment onto each transaction, so a change applies from then on.
"""

from __future__ import annotations

__all__ = ["OWN_PAYER", "intermediary_payer", "payer_environment", "may_view_paid_by"]

OWN_PAYER = "own"
_INTERMEDIARY = "intermediary:"

#: The Paid by view is billing: the roles that may choose costs_paid_by in a request (W3.1) see it.
PAID_BY_ROLES = frozenset({"advanced", "admin"})


def intermediary_payer(environment_id: int) -> str:
    """The stored payer value for an intermediary environment."""
    return f"{_INTERMEDIARY}{int(environment_id)}"


def payer_environment(payer: str, *, organisation_environment_id: int) -> int:
    """The environment charged for a transaction of an organisation whose payer is `payer`.

    Raises ValueError for a value the node never writes (a bug or a hand-edited row).
    """
    if payer == OWN_PAYER:
        return organisation_environment_id
    if payer.startswith(_INTERMEDIARY) and payer[len(_INTERMEDIARY):].isdigit():
        return int(payer[len(_INTERMEDIARY):])
    raise ValueError(f"unknown payer {payer!r}")


def may_view_paid_by(environment_role: str) -> bool:
    return environment_role in PAID_BY_ROLES
