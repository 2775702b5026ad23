"""Trust anchor sets: which roots we accept, and which CAs issue AP and SMP certificates.

Peppol has two issuing CAs per root, and a certificate is only good for the
role of the CA that issued it: an SMP certificate must never be accepted as an
access point's signing certificate. So a `TrustStore` keeps the issuing CAs in
two lists rather than one bag of certificates.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from certs import _anchors
from certs.errors import CertError
from certs.keys import load_certificates
from certs.seat import common_name

__all__ = ["Role", "TrustStore"]


class Role(enum.Enum):
    ACCESS_POINT = "ap"
    SMP = "smp"


def _role_of_ca(cert: x509.Certificate) -> Role | None:
    """Classify an issuing CA by its CN, the way Peppol names them (G2, G3 and our test PKI)."""
    cn = (common_name(cert) or "").upper()
    if "ACCESS POINT" in cn:
        return Role.ACCESS_POINT
    if "SERVICE METADATA PUBLISHER" in cn or " SMP " in f" {cn} ":
        return Role.SMP
    return None


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class TrustStore:
    """Roots plus the issuing CAs for each role. Immutable; build once per process."""

    name: str
    roots: tuple[x509.Certificate, ...]
    issuers: dict[Role, tuple[x509.Certificate, ...]] = field(default_factory=dict)

    @classmethod
    def builtin(cls, name: str) -> TrustStore:
        """`production` or `test`: the public Peppol G3 CAs shipped with the node."""
        try:
            pems = {"production": _anchors.PRODUCTION, "test": _anchors.TEST}[name]
        except KeyError:
            raise CertError(f"unknown built-in trust set {name!r}: use 'production' or 'test'") from None
        certs = [load_certificates(pem.encode())[0] for pem in pems]
        return cls.from_certificates(certs, name=name)

    @classmethod
    def from_certificates(cls, certs: Iterable[x509.Certificate], *, name: str = "custom") -> TrustStore:
        """Sort certificates into roots (self-signed) and role CAs (by CN).

        A CA whose CN names no role is refused: silently trusting it for both
        roles is exactly the mistake this type exists to prevent.
        """
        roots: list[x509.Certificate] = []
        issuers: dict[Role, list[x509.Certificate]] = {Role.ACCESS_POINT: [], Role.SMP: []}
        for cert in certs:
            if _is_self_signed(cert):
                roots.append(cert)
                continue
            role = _role_of_ca(cert)
            if role is None:
                raise CertError(
                    f"cannot tell whether CA {cert.subject.rfc4514_string()} issues access point or "
                    "SMP certificates; its CN should name the role as Peppol's do"
                )
            issuers[role].append(cert)
        if not roots:
            raise CertError(f"trust set {name!r} has no root (self-signed) certificate")
        return cls(name, tuple(roots), {k: tuple(v) for k, v in issuers.items()})

    @classmethod
    def from_pem_files(cls, paths: Iterable[str | Path], *, name: str = "custom") -> TrustStore:
        certs: list[x509.Certificate] = []
        for path in paths:
            certs.extend(load_certificates(path))
        return cls.from_certificates(certs, name=name)

    def issuing_cas(self, role: Role) -> tuple[x509.Certificate, ...]:
        return self.issuers.get(role, ())

    def all_issuing_cas(self) -> tuple[x509.Certificate, ...]:
        return tuple(c for cas in self.issuers.values() for c in cas)
