"""The Peppol AS4 profile 2.0.3: fixed P-Mode values and the compatibility check.

`as4.ebms` knows ebMS 3 structure; this module knows what Peppol allows in it
(protocol.md §1.1, OpenPEPPOL/edec-as4 5-pmodes.adoc, phase4
PeppolCompatibilityValidator). A violation is EBMS:0003 ValueInconsistent
(the header does not match the P-Mode), except structural problems that
ebMS itself calls InvalidHeader.
"""

from __future__ import annotations

from as4.ebms import PartInfo, UserMessage
from as4.errors import InvalidHeader, ValueInconsistent

__all__ = [
    "MEP_ONE_WAY",
    "MEP_BINDING_PUSH",
    "AGREEMENT_REF",
    "PARTY_ID_TYPE",
    "ROLE_INITIATOR",
    "ROLE_RESPONDER",
    "DEFAULT_MPC",
    "PARTICIPANT_SCHEME",
    "DEFAULT_PROCESS_SCHEME",
    "MIME_TYPE_XML",
    "COMPRESSION_GZIP",
    "TRANSPORT_PROFILE",
    "ORIGINAL_SENDER",
    "FINAL_RECIPIENT",
    "check_user_message",
    "check_payload_parts",
]

_EBMS = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
MEP_ONE_WAY = _EBMS + "oneWay"
MEP_BINDING_PUSH = _EBMS + "push"
#: Peppol AS4 2.0.3 §5: no @type, no @pmode.
AGREEMENT_REF = "urn:fdc:peppol.eu:2017:agreements:tia:ap_provider"
PARTY_ID_TYPE = "urn:fdc:peppol.eu:2017:identifiers:ap"
ROLE_INITIATOR = _EBMS + "initiator"
ROLE_RESPONDER = _EBMS + "responder"
DEFAULT_MPC = _EBMS + "defaultMPC"
PARTICIPANT_SCHEME = "iso6523-actorid-upis"
DEFAULT_PROCESS_SCHEME = "cenbii-procid-ubl"
MIME_TYPE_XML = "application/xml"
COMPRESSION_GZIP = "application/gzip"
TRANSPORT_PROFILE = "peppol-transport-as4-v2_0"
ORIGINAL_SENDER = "originalSender"
FINAL_RECIPIENT = "finalRecipient"


def check_payload_parts(um: UserMessage) -> None:
    """Compression and payload placement: runs before security, as phase4 does.

    Only gzip is defined by AS4 (§3.1); anything else is EBMS:0003 (phase4's
    WrongCompression fixture). A SOAP-body payload is not allowed in Peppol
    because compression only applies to attachments.
    """
    for part in um.parts:
        compression = part.property("CompressionType")
        if compression is not None and compression != COMPRESSION_GZIP:
            raise ValueInconsistent(f"CompressionType {compression!r} is not application/gzip", um.message_id)


def _first_part(um: UserMessage) -> PartInfo:
    return um.parts[0]


def check_user_message(um: UserMessage) -> None:
    """Raise `ValueInconsistent` / `InvalidHeader` where `um` breaks the Peppol P-Mode."""
    mid = um.message_id
    if um.from_party_count != 1 or um.to_party_count != 1:
        raise ValueInconsistent("Peppol requires exactly one PartyId in From and in To", mid)
    for what, party, role in (("From", um.from_party, ROLE_INITIATOR), ("To", um.to_party, ROLE_RESPONDER)):
        if party.party_id_type != PARTY_ID_TYPE:
            raise ValueInconsistent(f"{what}/PartyId type {party.party_id_type!r} is not {PARTY_ID_TYPE}", mid)
        if party.role != role:
            raise ValueInconsistent(f"{what}/Role {party.role!r} is not {role}", mid)
    if um.agreement_ref != AGREEMENT_REF or um.agreement_ref_type is not None or um.agreement_pmode is not None:
        raise ValueInconsistent(f"AgreementRef must be exactly {AGREEMENT_REF} without type or pmode", mid)
    if um.mpc not in (None, DEFAULT_MPC):
        raise ValueInconsistent(f"MPC {um.mpc!r} is not the default MPC", mid)
    if not um.service.strip() or not um.action.strip():
        raise InvalidHeader("Service and Action must not be empty", mid)
    if "::" not in um.action:
        raise ValueInconsistent("Action must be the document type as scheme::value", mid)
    for name in (ORIGINAL_SENDER, FINAL_RECIPIENT):
        found = [p for p in um.properties if p.name == name]
        if len(found) != 1:
            raise ValueInconsistent(f"MessageProperty {name} must occur exactly once", mid)
        if not found[0].type:
            raise ValueInconsistent(f"MessageProperty {name} lacks its type attribute", mid)
        if not found[0].value:
            raise ValueInconsistent(f"MessageProperty {name} is empty", mid)
    if any(p.name == "trackingIdentifier" for p in um.properties):
        raise ValueInconsistent("trackingIdentifier must not be used", mid)
    if not um.parts:
        raise ValueInconsistent("the UserMessage carries no payload", mid)
    if any(not part.href for part in um.parts):
        raise ValueInconsistent("payload in the SOAP Body; Peppol requires attachments", mid)
    check_payload_parts(um)
    first = _first_part(um)
    if first.property("CompressionType") != COMPRESSION_GZIP:
        raise ValueInconsistent("the SBD attachment must be gzip-compressed", mid)
