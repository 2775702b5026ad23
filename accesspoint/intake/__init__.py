"""Mail intake (issue 13, product.md W7): suppliers who cannot speak AS4 email their UBL invoices to
a generated receiver address; mail from whitelisted senders becomes a draft sales invoice (or a
purchase invoice), which a user then sends through the network-first delivery.

- `rules`: receiver addresses, whitelist matching, the sender's states (no I/O).
- `message`: what a mail carries (From, Message-ID, hash, XML and PDF parts; no I/O).
- `dmarc`: the DMARC verdict for the From domain, on DKIM (dkimpy, DNS).
- `senders`: create, invite, (de)activate and list trusted senders (org admins, the operator).
- `receive`: `Intake`, storing each mail with its verdict before the SMTP reply; rejections.
- `drafts`: the drafts an accepted mail made; save and send.
- `listener`: the aiosmtpd server `serve` runs with `[intake] enabled`.
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
