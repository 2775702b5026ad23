"""The Peppol PKI: loading keys, trust sets, chain and revocation checks, and a test PKI.

A safe layer: `verify_ap_certificate` / `verify_smp_certificate` answer "is this
a good Peppol certificate for this role at this time?" with a seat id or a
`CertificateRejected` whose `.reason` says why. Chain building and OCSP/CRL
details stay inside.
"""

from certs.chain import (
    CertificateVerifier,
    VerifiedCertificate,
    verify_ap_certificate,
    verify_certificate,
    verify_certificate_details,
    verify_smp_certificate,
)
from certs.errors import CertError, CertificateLoadError, CertificateRejected, RejectReason
from certs.keys import (
    PARSE_ERRORS,
    KeyPair,
    certificate_der,
    certificate_pem,
    load_certificate,
    load_certificates,
    load_key_pair,
    load_pkcs12,
    load_private_key,
    private_key_pem,
    same_certificate,
)
from certs.responder import RevocationServer, serve_revocation
from certs.revocation import RevocationChecker, RevocationResult, RevocationStatus
from certs.seat import SeatId, common_name
from certs.testpki import Issued, TestPki
from certs.trust import Role, TrustStore

__all__ = [
    "PARSE_ERRORS",
    "CertError",
    "CertificateLoadError",
    "CertificateRejected",
    "CertificateVerifier",
    "Issued",
    "KeyPair",
    "RejectReason",
    "RevocationChecker",
    "RevocationResult",
    "RevocationServer",
    "RevocationStatus",
    "Role",
    "SeatId",
    "TestPki",
    "TrustStore",
    "VerifiedCertificate",
    "certificate_der",
    "certificate_pem",
    "common_name",
    "load_certificate",
    "load_certificates",
    "load_key_pair",
    "load_pkcs12",
    "load_private_key",
    "private_key_pem",
    "same_certificate",
    "serve_revocation",
    "verify_ap_certificate",
    "verify_certificate",
    "verify_certificate_details",
    "verify_smp_certificate",
]
