"""The sharing domain: who may see which organisation's Peppol connections and why.

Accountants share a client's two Peppol connections by invite link (product.md
W5), send authorisation requests (W3) that create partnerships, and manage
rights per organisation (W2). This package holds the pure rules (state tables,
tokens, passwords, policies, emails); the node (`accesspoint`) stores rows and
sends mail through what it passes in. It never imports `accesspoint`.
"""

from . import activation
from ._states import (
    TRANSITIONS,
    InvitationState,
    MembershipState,
    PartnershipState,
    RequestState,
    ShareState,
    check_transition,
)
from .errors import (
    InvalidInput,
    InvalidTransition,
    InviteForOtherAddress,
    InviteInvalid,
    NotAllowed,
    RateLimited,
    ShareError,
    ShareErrorCode,
)
from .mandates import AcceptAs, IdentifierHolder, accept_as, check_acceptable, consent_text
from .messages import (
    InviteMail,
    Mailer,
    build_colleague_mail,
    build_invite_mail,
    build_outcome_mail,
    build_request_mail,
    build_verification_mail,
)
from .partnerships import (
    PARTNER_ROLES,
    Party,
    PartnershipFacts,
    build_partnership_outcome_mail,
    build_partnership_request_mail,
    check_may_decide,
    check_may_end,
    check_may_request,
    may_form_partnerships,
)
from .payers import OWN_PAYER, intermediary_payer, may_view_paid_by, payer_environment
from .passwords import MIN_PASSWORD_LENGTH, PasswordHasher, check_password_strength
from .policy import (
    ALL_RIGHTS,
    CONNECTION_KINDS,
    CONNECTION_LABELS,
    DEFAULT_INVITE_TTL_DAYS,
    DEFAULT_RIGHTS,
    HELD_FOR,
    PAYERS,
    RATE_LIMITS,
    REMINDER_DAYS,
    Onboarding,
    OrgRelation,
    RateLimit,
    ShareDisplay,
    check_invited_email,
    invite_ttl,
    normalise_email,
    offers_share_with_client,
    onboarding,
    org_relation,
    parse_rights,
    reminder_due,
    share_display,
)
from .tokens import TOKEN_BYTES, hash_token, mint_token, tokens_equal

__all__ = [
    "ShareError", "ShareErrorCode", "InvalidTransition", "InviteInvalid", "InviteForOtherAddress",
    "NotAllowed", "RateLimited", "InvalidInput",
    "InvitationState", "ShareState", "RequestState", "PartnershipState", "MembershipState",
    "TRANSITIONS", "check_transition",
    "TOKEN_BYTES", "mint_token", "hash_token", "tokens_equal",
    "PasswordHasher", "MIN_PASSWORD_LENGTH", "check_password_strength",
    "normalise_email", "DEFAULT_INVITE_TTL_DAYS", "invite_ttl", "REMINDER_DAYS", "reminder_due",
    "CONNECTION_KINDS", "CONNECTION_LABELS", "ALL_RIGHTS", "DEFAULT_RIGHTS", "parse_rights",
    "Onboarding", "onboarding", "ShareDisplay", "share_display", "check_invited_email",
    "RateLimit", "RATE_LIMITS", "PAYERS",
    "Mailer", "InviteMail", "build_invite_mail", "build_request_mail", "build_verification_mail",
    "build_outcome_mail", "build_colleague_mail",
    "OrgRelation", "HELD_FOR", "org_relation", "offers_share_with_client",
    "AcceptAs", "IdentifierHolder", "accept_as", "check_acceptable", "consent_text",
    "OWN_PAYER", "intermediary_payer", "payer_environment", "may_view_paid_by",
    "Party", "PartnershipFacts", "PARTNER_ROLES", "may_form_partnerships", "check_may_request",
    "check_may_decide", "check_may_end", "build_partnership_request_mail", "build_partnership_outcome_mail",
    "activation",
]
