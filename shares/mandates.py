"""What accepting an authorisation request does to the client's organisation (product.md W3.3, W3.4).

Two orders are common. eConnect's: the client has (or creates) its organisation, then
accepts the mandate. Doccle's: the accountant registers the client first, then asks the
mandate; the organisation then sits in the accountant's environment, and the client must
be able to *take it over* (become its admin: the client owns its data and rights even when
the accountant registered it, product.md §1 [E2]). Which case applies is decided here from
who holds the requested identifier on this node; the node looks that up and applies it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import InvalidInput, NotAllowed

__all__ = ["AcceptAs", "IdentifierHolder", "accept_as", "check_acceptable", "consent_text"]


class AcceptAs(str, enum.Enum):
    #: No organisation on this node has the identifier: accepting creates it for the client.
    CREATE = "create"
    #: The requester's environment registered it for the client: the client takes it over.
    TAKE_OVER = "take_over"
    #: It is already the client's (the client is its org admin): the mandate is for it.
    EXISTING = "existing"
    #: Someone else holds it (a third environment, or the requester's without an org admin
    #: asking): the request cannot be accepted for it here.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class IdentifierHolder:
    """The organisation on this node that holds the requested participant identifier."""

    organisation_id: int
    environment_id: int
    #: The client user is an org admin of it.
    client_is_admin: bool
    #: The requesting user is (still) an org admin of it: only an admin may give it away.
    requester_is_admin: bool


def accept_as(holder: IdentifierHolder | None, *, requester_environment_id: int) -> AcceptAs:
    """Which acceptance the request allows, given who holds its identifier now.

    A take-over needs the requesting user to be an org admin *at acceptance*: a colleague
    without admin rights cannot hand an organisation of the firm (its own, say) to an outsider
    by sending a request for its number.
    """
    if holder is None:
        return AcceptAs.CREATE
    if holder.client_is_admin:
        return AcceptAs.EXISTING
    if holder.environment_id == requester_environment_id and holder.requester_is_admin:
        return AcceptAs.TAKE_OVER
    return AcceptAs.UNAVAILABLE


def check_acceptable(how: AcceptAs, *, confirmed_requester: bool) -> None:
    """Raise unless the request may be accepted this way now.

    A take-over transfers ownership, so the client must have ticked that the requester's
    details (firm, person, identifier, payer) are right (W3.3: "shown first, and the client
    must confirm them"); InvalidInput otherwise. UNAVAILABLE raises NotAllowed.
    """
    if how is AcceptAs.UNAVAILABLE:
        raise NotAllowed("This identifier is registered on this node by another organisation's owner; "
                         "ask the firm to check the number, or contact support.")
    if how is AcceptAs.TAKE_OVER and not confirmed_requester:
        raise InvalidInput("Tick that you have checked who sent this request before you take the organisation over.")


def consent_text(how: AcceptAs, *, firm: str, requester: str, organisation: str, identifier: str,
                 payer: str) -> str:
    """The sentence shown beside *Accept*, stored verbatim as the mandate record (SEC-8)."""
    mandate = (f"I authorise {firm} to manage Peppol e-invoicing for {organisation} ({identifier}); "
               f"transaction costs are paid by {payer}.")
    if how is AcceptAs.TAKE_OVER:
        return (f"I confirm that {requester} of {firm} registered {organisation} ({identifier}) for me. "
                f"I take over {organisation} and become its administrator. " + mandate)
    return mandate
