"""Participant id -> DNS name, and the SML zones.

Peppol Policy for use of Identifiers 4.4, POLICY 7 (protocol.md §6): the U-NAPTR
name of a participant is

    lower(base32(sha256(lower(value)))) without "=" + "." + lower(scheme) + "." + zone

e.g. `0088:123abc` -> `y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq.iso6523-actorid-upis.<zone>`.
The legacy (pre-2024, SML 1.x) name was a CNAME `B-` + hex(md5(lower(value))); it is
computed here only for display and migration, never used for lookups.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar

from ubl import IdentifierError, ParticipantId

from .errors import InvalidParticipant

__all__ = [
    "Zone",
    "naptr_name",
    "naptr_label",
    "bdxl_name",
    "cname_name",
    "legacy_cname_name",
    "participant_key",
]

# RFC 1035 §2.3.4: labels of at most 63 octets, names of at most 255 (253 in text form).
_LABEL_RE = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_MAX_NAME = 253


@dataclass(frozen=True, slots=True)
class Zone:
    """A DNS zone participants are published in, and the SML that manages it.

    `domain` is kept lower-case without the trailing dot. `management_url` is the
    base of the SML SOAP services (`{base}/manageparticipantidentifier`, ...).
    """

    domain: str
    management_url: str | None = None
    label: str = "custom"

    PRODUCTION: ClassVar[Zone]
    TEST: ClassVar[Zone]
    EC_PRODUCTION: ClassVar[Zone]
    EC_TEST: ClassVar[Zone]

    def __post_init__(self) -> None:
        if not isinstance(self.domain, str):
            raise TypeError(f"zone domain must be a str, not {type(self.domain).__name__}")
        domain = self.domain.strip().lower().rstrip(".")
        if not domain or len(domain) > _MAX_NAME:
            raise ValueError(f"invalid DNS zone {self.domain!r}")
        for part in domain.split("."):
            if not _LABEL_RE.fullmatch(part):
                raise ValueError(f"invalid DNS zone {self.domain!r}: bad label {part!r}")
        object.__setattr__(self, "domain", domain)

    @classmethod
    def named(cls, text: str) -> Zone:
        """`production` (`prod`, `sml`), `test` (`smk`), `ec-production` (`production-ec`),
        `ec-test` (`test-ec`), or any domain (a custom zone)."""
        key = text.strip().lower()
        known = _KNOWN.get(key)
        if known is not None:
            return known
        for zone in _KNOWN.values():
            if zone.domain == key.rstrip("."):
                return zone
        return cls(key)

    def __str__(self) -> str:
        return self.domain


# protocol.md §6, from peppol-commons ESML: OpenPeppol's SML (since 2024) and the
# deprecated EC-hosted SML/SMK, still seen in older configurations.
Zone.PRODUCTION = Zone(
    "participant.sml.prod.tech.peppol.org", "https://api.sml.prod.tech.peppol.org/edelivery-sml", "production"
)
Zone.TEST = Zone("participant.sml.test.tech.peppol.org", "https://api.sml.test.tech.peppol.org/edelivery-sml", "test")
Zone.EC_PRODUCTION = Zone(
    "edelivery.tech.ec.europa.eu", "https://edelivery.tech.ec.europa.eu/edelivery-sml", "ec-production"
)
Zone.EC_TEST = Zone("acc.edelivery.tech.ec.europa.eu", "https://acc.edelivery.tech.ec.europa.eu/edelivery-sml", "ec-test")
_KNOWN = {z.label: z for z in (Zone.PRODUCTION, Zone.TEST, Zone.EC_PRODUCTION, Zone.EC_TEST)}
_KNOWN.update({"prod": Zone.PRODUCTION, "test-ec": Zone.EC_TEST, "production-ec": Zone.EC_PRODUCTION,
               "prod-ec": Zone.EC_PRODUCTION, "ec-prod": Zone.EC_PRODUCTION, "smk": Zone.TEST, "sml": Zone.PRODUCTION})


def _zone_domain(zone: Zone | str | None) -> str:
    if zone is None:
        return ""
    if isinstance(zone, Zone):
        return zone.domain
    if not zone.strip():
        return ""
    return Zone(zone).domain


def naptr_label(value: str, *, lowercase: bool = True) -> str:
    """The hash label: lower(base32(sha256(value))) without padding (52 characters)."""
    data = (value.lower() if lowercase else value).encode("utf-8")
    return base64.b32encode(hashlib.sha256(data).digest()).decode("ascii").rstrip("=").lower()


def bdxl_name(
    value: str,
    zone: Zone | str,
    *,
    scheme: str | None = None,
    lowercase_value: bool = True,
    include_scheme: bool = True,
) -> str:
    """The generic BDXL name, with the options peppol-commons' BDXLURLProvider has.

    `include_scheme=False` hashes `scheme::value` and adds no scheme label (eDelivery
    BDXL); Peppol always uses the defaults, so prefer `naptr_name`.
    """
    domain = _zone_domain(zone)
    if not domain:
        raise ValueError("a DNS zone is required")
    if scheme and not include_scheme:
        return f"{naptr_label(f'{scheme}::{value}', lowercase=lowercase_value)}.{domain}"
    parts = [naptr_label(value, lowercase=lowercase_value)]
    if scheme:
        parts.append(scheme.lower())
    parts.append(domain)
    return ".".join(parts)


def participant_key(participant: ParticipantId | str) -> ParticipantId:
    """A fully qualified participant id, or InvalidParticipant.

    A string must carry its scheme (`iso6523-actorid-upis::0088:123abc`): without
    one there is no scheme label to build the name from (as Holodeck's Peppol
    host name generator insists). Front ends that accept the short `0088:123abc`
    form parse it with `ubl.ParticipantId.parse` first.
    """
    if isinstance(participant, ParticipantId):
        return participant
    if not isinstance(participant, str):
        raise TypeError(f"participant must be a ParticipantId or str, not {type(participant).__name__}")
    if "::" not in participant:
        raise InvalidParticipant(f"participant id {participant!r} has no scheme (expected scheme::value)")
    try:
        return ParticipantId.parse(participant)
    except IdentifierError as exc:
        raise InvalidParticipant(str(exc)) from exc


def naptr_name(participant: ParticipantId | str, zone: Zone | str) -> str:
    """The U-NAPTR name to query for a participant (PFUOI 4.4 POLICY 7), no trailing dot."""
    pid = participant_key(participant)
    return bdxl_name(pid.value, zone, scheme=pid.scheme)


def legacy_cname_name(value: str | None, zone: Zone | str | None, *, scheme: str | None = None) -> str:
    """`B-` + hex(md5(lower(value))) [+ "." + scheme] [+ "." + zone]: the SML 1.x CNAME name.

    Missing parts are left out, as peppol-commons' PeppolURLProvider does.
    """
    parts = ["B-" + hashlib.md5((value or "").lower().encode("utf-8"), usedforsecurity=False).hexdigest()]
    if scheme:
        parts.append(scheme.lower())
    domain = _zone_domain(zone)
    if domain:
        parts.append(domain)
    return ".".join(parts)


def cname_name(participant: ParticipantId | str, zone: Zone | str | None) -> str:
    """The legacy CNAME name of a participant: for display and migration only."""
    pid = participant_key(participant)
    return legacy_cname_name(pid.value, zone, scheme=pid.scheme)
