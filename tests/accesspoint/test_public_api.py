"""The delivery package's public surface is what its __all__ says, and all of it imports."""

import accesspoint.delivery as delivery
from accesspoint import mls, reporting


def test_delivery_all_is_pinned_and_importable():
    assert sorted(delivery.__all__) == sorted([
        "DeliveryError", "DocumentRejected", "NotServiced", "UnknownEntry", "OutgoingDocument", "read_outgoing",
        "Accepted", "Inbox", "EntryView", "EventView", "Outbox", "Preflight", "Submission", "Validator",
        "AS4_TRANSPORT_PROFILE", "Channel", "EndpointDirectory", "LookupUnavailable", "PeppolEndpoint", "Route",
        "Router", "FINAL_STATES", "TRANSITIONS", "InvalidTransition", "State", "As4Outcome", "As4Request",
        "As4SendError", "As4Transport", "DeliveryWorker", "RetryPolicy",
    ])
    for module in (delivery, mls, reporting):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
