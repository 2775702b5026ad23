"""How the documents pages say things to people: parties by name and number, amounts, states and
history in plain words (issue 12).

The outbox speaks in codes (`delivered`, `needs_email`, an event `attempt-failed` with a detail
naming `iso6523-actorid-upis::0208:…`); the pages and their JSON twins show these words beside the
codes, which stay in `data-*` attributes and JSON fields for scripts and tests. Pure functions.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import ubl

__all__ = [
    "party", "participant", "amount", "state_words", "event_words", "clean_detail", "OUT_FILTERS", "IN_FILTERS",
    "filters_for", "route_words",
]

_SCHEME_PREFIX = f"{ubl.PARTICIPANT_SCHEME}::"
#: A failure reason in a list cell is cut here; the document page shows all of it.
SHORT_REASON = 160

#: `?state=` of the sales connection (the outbox): the outbox states, in the order a document goes.
OUT_FILTERS: tuple[tuple[str, str], ...] = (
    ("created", "Waiting to be sent"),
    ("needs_email", "Waiting for an email address"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("failed", "Failed"),
)
#: `?state=` of the purchase connection (the inbox): received, then what the recipient set (W8.3).
IN_FILTERS: tuple[tuple[str, str], ...] = (
    ("received", "Received"),
    ("under_review", "Under review"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
    ("paid", "Paid"),
)


def filters_for(connection_kind: str) -> tuple[tuple[str, str], ...]:
    return OUT_FILTERS if connection_kind == "peppol_sales" else IN_FILTERS


def participant(participant_id: str | None) -> str:
    """`iso6523-actorid-upis::0208:0123456749` as people write it: `0208:0123456749`."""
    value = participant_id or ""
    return value[len(_SCHEME_PREFIX):] if value.lower().startswith(_SCHEME_PREFIX) else value


def party(name: str | None, participant_id: str | None) -> str:
    """`Bakkerij Peeters NV · 0208:0123456749`; the number alone when the name is not known."""
    number = participant(participant_id)
    if name and number:
        return f"{name} · {number}"
    return name or number


def amount(value: str | None, currency: str | None) -> str:
    """`EUR 1,656.25`: the digits as the document wrote them, grouped in thousands; "" if none."""
    if not value:
        return ""
    try:
        shown = format(Decimal(value), ",")
    except (InvalidOperation, ValueError):
        shown = value
    return f"{currency} {shown}" if currency else shown


def clean_detail(detail: str | None) -> str:
    """An event's detail with participant ids written as people write them."""
    return (detail or "").replace(_SCHEME_PREFIX, "")


def state_words(direction: str, state: str, *, channel: str | None = None, reason: str | None = None,
                short: bool = False) -> str:
    """The state as the lists and the document page say it.

    `state` is the outbox state for a sent document (`accesspoint.delivery.State` values), or
    `received` / the recipient's business status for a received one.
    """
    if direction != "out":
        return "Received" if state == "received" else f"Received · {state.replace('_', ' ')}"
    if state == "failed":
        why = clean_detail(reason).strip() or "no reason was recorded"
        if short and len(why) > SHORT_REASON:
            why = why[:SHORT_REASON - 1].rstrip() + "…"
        return f"Failed: {why}"
    if state == "sent":
        return {"email": "Sent by email", "peppol": "Sent over Peppol, waiting for the receipt"}.get(channel or "",
                                                                                                   "Sent")
    if state == "delivered":
        # Internal delivery is still delivery to the buyer's Peppol registration, on this access point.
        return "Delivered over Peppol"
    return {"created": "Waiting to be sent", "needs_email": "Waiting for an email address",
            "opened": "Opened"}.get(state, state)


def event_words(action: str, to_state: str, detail: str = "") -> str:
    """One line of a document's history (outbox_events.action) in words."""
    if action == "sent":
        return "Sent by email" if detail.startswith("email") else "Sent over Peppol"
    if action == "delivered":
        return "Delivered over Peppol" if not detail.startswith("internal") else \
            "Delivered over Peppol (the buyer is on this access point)"
    words = {
        "submitted": "Created",
        "no-route": "Not on Peppol: waiting for an email address",
        "email-given": "Email address given",
        "attempt-failed": "Attempt failed; it will be tried again",
        "failed": "Failed",
        "retries-exhausted": "Failed after the last attempt",
        "needs-email-timeout": "Failed: no email address was given in time",
        "resend": "Sent again (resend)",
        "opened": "Opened",
        "mls": "Delivery status from the buyer's access point",
    }
    return words.get(action, action.replace("-", " ").capitalize())


def route_words(state: str, *, buyer: str, endpoint: str | None = None, seat_id: str = "",
                unavailable: str | None = None) -> str:
    """What the preflight says before *Send* (W8.2): where the invoice will go, or what it needs.

    `state` is `Preflight.state`: internal | peppol | email | needs_email | unknown.
    """
    if state == "internal":
        # On this node: delivered to the buyer's Peppol registration here, without a network hop.
        return f"This invoice will go to {buyer} over Peppol (access point {seat_id}: this node)."
    if state == "peppol":
        return f"This invoice will go to {buyer} over Peppol (access point {endpoint})."
    if state == "email":
        return f"{buyer} is not on Peppol: this invoice will go by email to {endpoint}."
    if state == "unknown":
        return (f"Whether {buyer} is on Peppol could not be checked now ({unavailable}). If you send it, "
                "the node keeps trying; the email address is used only if the buyer is not on Peppol.")
    return f"{buyer} is not on Peppol: give an email address."
