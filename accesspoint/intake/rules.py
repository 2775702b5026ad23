"""The trusted-sender rules, free of I/O: what the SMTP listener, the web pages and the CLI share.

- A receiver address is unguessable (60 random bits): it is the only secret between a supplier
  and the organisation it sends to, and the listener answers RCPT for unknown addresses with
  550, which would otherwise let anyone enumerate them.
- A whitelist is one address, one whole domain (that domain exactly: a subdomain is another
  sender), or the *verified users* of the organisation (everyone with rights on it, including
  the intermediary's users after an accepted authorisation request; the caller passes their
  verified addresses, since finding them needs the database).
- A whitelisted *domain* is refused when the message's DMARC fails: anyone can write any
  From, and a domain rule would otherwise admit the whole internet under that name. For a
  single address or a verified user the verdict is left to the caller to record (issue 13
  names only the domain as refused).
- States (W7.2): draft -> invited (*Send invitation*) -> active (the first accepted invoice)
  -> inactive; *Update status* takes draft straight to active; inactive can be made active again.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

__all__ = [
    "DmarcVerdict", "SenderEvent", "SenderState", "TransitionRefused", "Whitelist", "WhitelistKind",
    "new_receiver_address", "normalise_address", "transition",
]

#: RFC 4648's base32 alphabet (no 0, 1, 8 or 9 to misread), lower case: mail is case-blind.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ADDRESS_LENGTH = 12  # 12 x 5 = 60 random bits


def new_receiver_address(domain: str) -> str:
    """A fresh receiver address at the intake `domain`, e.g. `k3tq7vxa2mfp@intake.example.nl`."""
    domain = domain.strip().lower().rstrip(".")
    if not domain or "@" in domain or " " in domain:
        raise ValueError(f"not a mail domain: {domain!r}")
    local = "".join(secrets.choice(_ALPHABET) for _ in range(ADDRESS_LENGTH))
    return f"{local}@{domain}"


def normalise_address(address: str) -> str:
    """The form addresses are compared in: trimmed, without angle brackets, lower case.

    Lower-casing the local part is not what RFC 5321 promises, but every mail provider a
    supplier uses treats it so, and a whitelist that missed `Facturen@` for `facturen@`
    would reject real invoices.
    """
    a = address.strip()
    if a.startswith("<") and a.endswith(">"):
        a = a[1:-1].strip()
    local, sep, domain = a.rpartition("@")
    if not sep or not local or not domain or any(c.isspace() for c in a):
        raise ValueError(f"not a mail address: {address!r}")
    return f"{local.lower()}@{domain.lower().rstrip('.')}"


class WhitelistKind(enum.StrEnum):
    ADDRESS = "address"
    DOMAIN = "domain"
    VERIFIED_USERS = "verified_users"


class DmarcVerdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    #: No DMARC record, or nothing could be checked (e.g. mail that came in without a DKIM
    #: signature from a domain without a policy).
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Whitelist:
    kind: WhitelistKind
    #: The address or the domain; empty for VERIFIED_USERS.
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind is WhitelistKind.ADDRESS:
            object.__setattr__(self, "value", normalise_address(self.value))
        elif self.kind is WhitelistKind.DOMAIN:
            domain = self.value.strip().lower().lstrip("@").rstrip(".")
            if not domain or "@" in domain or "." not in domain:
                raise ValueError(f"not a mail domain: {self.value!r}")
            object.__setattr__(self, "value", domain)
        elif self.value:
            raise ValueError("a verified-users whitelist has no value")

    def allows(self, sender: str, *, verified_users: frozenset[str] = frozenset(),
               dmarc: DmarcVerdict = DmarcVerdict.NONE) -> bool:
        """Whether mail from `sender` (the From the listener saw) is let in under this rule."""
        try:
            who = normalise_address(sender)
        except ValueError:
            return False
        if self.kind is WhitelistKind.ADDRESS:
            return who == self.value
        if self.kind is WhitelistKind.DOMAIN:
            return who.rpartition("@")[2] == self.value and dmarc is not DmarcVerdict.FAIL
        return who in {normalise_address(u) for u in verified_users}


class SenderState(enum.StrEnum):
    DRAFT = "draft"
    INVITED = "invited"
    ACTIVE = "active"
    INACTIVE = "inactive"


class SenderEvent(enum.StrEnum):
    SEND_INVITATION = "send_invitation"
    #: *Update status*: an org admin activates without an invitation round.
    ACTIVATE = "activate"
    FIRST_INVOICE = "first_invoice"
    DEACTIVATE = "deactivate"


class TransitionRefused(ValueError):
    """The event does not apply in the sender's state (e.g. inviting an inactive sender)."""


_TRANSITIONS: dict[tuple[SenderState, SenderEvent], SenderState] = {
    (SenderState.DRAFT, SenderEvent.SEND_INVITATION): SenderState.INVITED,
    (SenderState.INVITED, SenderEvent.SEND_INVITATION): SenderState.INVITED,  # a resend
    (SenderState.DRAFT, SenderEvent.ACTIVATE): SenderState.ACTIVE,
    (SenderState.INVITED, SenderEvent.ACTIVATE): SenderState.ACTIVE,
    (SenderState.INACTIVE, SenderEvent.ACTIVATE): SenderState.ACTIVE,
    (SenderState.INVITED, SenderEvent.FIRST_INVOICE): SenderState.ACTIVE,
    (SenderState.DRAFT, SenderEvent.FIRST_INVOICE): SenderState.ACTIVE,
    (SenderState.ACTIVE, SenderEvent.FIRST_INVOICE): SenderState.ACTIVE,
    (SenderState.DRAFT, SenderEvent.DEACTIVATE): SenderState.INACTIVE,
    (SenderState.INVITED, SenderEvent.DEACTIVATE): SenderState.INACTIVE,
    (SenderState.ACTIVE, SenderEvent.DEACTIVATE): SenderState.INACTIVE,
}


def transition(state: SenderState, event: SenderEvent) -> SenderState:
    """The state after `event`; mail to an inactive sender's address is refused, so an invoice
    never moves an inactive sender (FIRST_INVOICE from INACTIVE is refused)."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionRefused(f"a trusted sender that is {state.value} cannot {event.value.replace('_', ' ')}") from None
