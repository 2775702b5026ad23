"""Partnerships without an authorisation request (product.md W6, E5), as rules without a database.

A relationship manager of one environment asks a relationship manager of
another for a partnership: `pending -> active | rejected`, then `active -> ended`
by either side (the table is `PartnershipState` in `_states`). Both people need
the advanced or admin role *and* the relationship-manager flag (W6).

A partnership grants nothing by itself (SEC-12, E5/E6): no organisation, document
or connection becomes visible through it. Access only ever comes from a
membership (an accepted authorisation request, or an admin adding a colleague)
or a share. That is why ending one here needs no clean-up - except when
authorisation requests were accepted through it: those carry memberships, the
payer and connection keys, so they are revoked first, on their own page (W3.4).
A partnership made by requests ends with its last revocation; one formed here
stays until a side ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from ._states import PartnershipState, check_transition
from .errors import InvalidInput, InvalidTransition, NotAllowed
from .messages import _message  # the one way the sharing mails are built

__all__ = [
    "Party",
    "PartnershipFacts",
    "PARTNER_ROLES",
    "may_form_partnerships",
    "check_may_request",
    "check_may_decide",
    "check_may_end",
    "build_partnership_request_mail",
    "build_partnership_outcome_mail",
]

#: W6: "Both sides need the advanced or admin role, plus the relationship-manager flag."
PARTNER_ROLES = frozenset({"advanced", "admin"})


@dataclass(frozen=True, slots=True)
class Party:
    """A person as the partnership rules see them."""

    environment_id: int
    environment_role: str
    relationship_manager: bool


@dataclass(frozen=True, slots=True)
class PartnershipFacts:
    environment_a_id: int
    environment_b_id: int
    status: str
    #: The environment that asked (None for one made by an authorisation request).
    requester_environment_id: int | None
    #: Accepted authorisation requests carried by this partnership.
    open_mandates: int = 0

    def involves(self, environment_id: int) -> bool:
        return environment_id in (self.environment_a_id, self.environment_b_id)


def may_form_partnerships(party: Party) -> bool:
    return party.relationship_manager and party.environment_role in PARTNER_ROLES


def _qualified(party: Party, doing: str) -> None:
    if not may_form_partnerships(party):
        raise NotAllowed(f"Only relationship managers with the advanced or admin role can {doing}.")


def check_may_request(requester: Party, target: Party | None) -> None:
    """May `requester` ask `target` (None = no such user) for a partnership?

    An address that is not a qualified relationship manager of another environment gets one
    and the same answer, whether or not it has an account.
    """
    _qualified(requester, "ask for partnerships")
    if target is None or not may_form_partnerships(target):
        raise InvalidInput("No relationship manager with this address can receive partnership requests. "
                           "Ask the other firm for the address of its relationship manager.")
    if target.environment_id == requester.environment_id:
        raise InvalidInput("That is a colleague in your own environment; a partnership is between two environments.")


def check_may_decide(decider: Party, partnership: PartnershipFacts, target: str) -> None:
    """Accept or reject: a relationship manager of the environment that was asked, while pending."""
    _qualified(decider, "accept or reject partnerships")
    asked = (partnership.environment_b_id if partnership.requester_environment_id == partnership.environment_a_id
             else partnership.environment_a_id)
    if partnership.requester_environment_id is None or decider.environment_id != asked:
        raise NotAllowed("Only the environment that was asked can accept or reject this request.")
    # The table also allows ended -> active, for an authorisation request that reuses the pair's
    # partnership (W3.4); a decision here is only ever on a pending request.
    if PartnershipState(partnership.status) is not PartnershipState.PENDING:
        raise InvalidTransition(f"This partnership is {partnership.status}; only a pending request is decided.")
    check_transition(PartnershipState, partnership.status, target)


def check_may_end(party: Party, partnership: PartnershipFacts) -> None:
    """End an active partnership: either side's relationship manager, when no mandate rides on it."""
    _qualified(party, "end partnerships")
    if not partnership.involves(party.environment_id):
        raise NotAllowed("No such partnership.")
    check_transition(PartnershipState, partnership.status, PartnershipState.ENDED)
    if partnership.open_mandates:
        raise InvalidInput(f"This partnership carries {partnership.open_mandates} accepted authorisation "
                           f"request{'s' if partnership.open_mandates != 1 else ''}. Revoke "
                           f"{'them' if partnership.open_mandates != 1 else 'it'} on the Requests page first.")


def build_partnership_request_mail(*, to: str, firm: str, requester: str, requester_email: str, link: str,
                                   node_name: str) -> EmailMessage:
    """To the relationship manager asked (SEC-11: the asking firm and person are named, so they can check)."""
    body = "\n".join([
        f"{requester} ({requester_email}) of {firm} asks your environment for a partnership on {node_name}.",
        "",
        "A partnership by itself gives neither side access to any organisation, document or connection:",
        "access still comes only from an accepted authorisation request or a membership.",
        "",
        "Accept or reject it after logging in:",
        link,
        "",
        "If you do not know this firm, reject it.",
    ])
    return _message(to, f"Partnership request from {firm}", body)


def build_partnership_outcome_mail(*, to: str, firm: str, by: str, outcome: str) -> EmailMessage:
    """To the other side: `firm` (through `by`) has accepted, rejected or ended the partnership."""
    return _message(to, f"{firm} has {outcome} the partnership",
                    f"{by} of {firm} has {outcome} the partnership between your environments.\n")
