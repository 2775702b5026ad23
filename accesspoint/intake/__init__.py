"""Mail intake (issue 13, product.md W7): suppliers who cannot speak AS4 email their UBL invoices to
a generated receiver address; mail from whitelisted senders becomes a draft sales document.

Only the rules exist so far (`accesspoint.intake.rules`: receiver addresses, whitelist matching,
the trusted sender's states, the DMARC rule). The SMTP listener, tables, drafts, rejections, CLI
and pages are still to be built; issue 13's closing note says what is left.
"""

from .rules import (
    DmarcVerdict,
    SenderEvent,
    SenderState,
    TransitionRefused,
    Whitelist,
    WhitelistKind,
    new_receiver_address,
    normalise_address,
    transition,
)

__all__ = [
    "DmarcVerdict", "SenderEvent", "SenderState", "TransitionRefused", "Whitelist", "WhitelistKind",
    "new_receiver_address", "normalise_address", "transition",
]
