"""Peppol seat ids: the subject CN of every AP and SMP certificate."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["SeatId", "common_name"]

# Peppol PKI: CN = seat id, e.g. POP000306 (P + 2-letter country/authority code + 6 digits).
_SEAT_RE = re.compile(r"P[A-Z]{2}[0-9]{6}")


@dataclass(frozen=True, slots=True)
class SeatId:
    value: str

    def __post_init__(self) -> None:
        if not _SEAT_RE.fullmatch(self.value):
            raise ValueError(f"{self.value!r} is not a Peppol seat id (P + two letters + six digits)")

    @classmethod
    def is_valid(cls, value: str) -> bool:
        return bool(_SEAT_RE.fullmatch(value))

    def __str__(self) -> str:
        return self.value


def common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode()
