"""Errors of the sharing domain.

    ShareError                    base; `.code` is a ShareErrorCode the web layer maps to a page/status
    ├── InvalidTransition         a state change the tables in `_states` do not allow
    ├── InviteInvalid             unknown, expired, used or revoked link: one uniform error (SEC-6)
    ├── InviteForOtherAddress     signed in as someone else than the invited address (SEC-4, EC-4)
    ├── NotAllowed                the user has no right to do this (SEC-12)
    ├── RateLimited               too many attempts (SEC-7)
    └── InvalidInput              a form or JSON value is unusable (the message says which)
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ShareErrorCode",
    "ShareError",
    "InvalidTransition",
    "InviteInvalid",
    "InviteForOtherAddress",
    "NotAllowed",
    "RateLimited",
    "InvalidInput",
]


class ShareErrorCode(Enum):
    INVALID_TRANSITION = "invalid_transition"
    INVITE_INVALID = "invite_invalid"
    INVITE_FOR_OTHER_ADDRESS = "invite_for_other_address"
    NOT_ALLOWED = "not_allowed"
    RATE_LIMITED = "rate_limited"
    INVALID_INPUT = "invalid_input"


class ShareError(Exception):
    code: ShareErrorCode = ShareErrorCode.INVALID_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransition(ShareError):
    code = ShareErrorCode.INVALID_TRANSITION


class InviteInvalid(ShareError):
    """Deliberately says nothing about *why*: unknown, expired and used look alike (SEC-6)."""

    code = ShareErrorCode.INVITE_INVALID

    def __init__(self, message: str = "This link is not valid: it may have expired, been used or been withdrawn.") -> None:
        super().__init__(message)


class InviteForOtherAddress(ShareError):
    code = ShareErrorCode.INVITE_FOR_OTHER_ADDRESS

    def __init__(self, message: str = "This invitation is for another email address.") -> None:
        super().__init__(message)


class NotAllowed(ShareError):
    code = ShareErrorCode.NOT_ALLOWED


class RateLimited(ShareError):
    code = ShareErrorCode.RATE_LIMITED


class InvalidInput(ShareError):
    code = ShareErrorCode.INVALID_INPUT
