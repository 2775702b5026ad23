"""`peppol-node check`: is this node fit to run, and if not, what exactly is wrong?

Each check yields a `Finding` in plain words. Checks go on after a failure so the
operator sees every problem at once, not one per run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import certs
from accesspoint import db
from accesspoint.config import ConfigError, Settings

__all__ = ["Finding", "run_checks", "identity"]


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    topic: str
    message: str


@contextlib.contextmanager
def _local_responder(settings: Settings) -> Iterator[None]:
    """With the node's own test PKI, make sure its OCSP/CRL responder answers during the check.

    A running node serves it already (then its port is taken and we use that);
    otherwise we serve it for the duration of the check, so revocation is
    checked over real OCSP rather than skipped.
    """
    if settings.pki.trust != "local":
        yield
        return
    with certs.serve_revocation(certs.TestPki.load(settings.path(settings.pki.local_pki_dir))):
        yield


def identity(settings: Settings) -> dict[str, str]:
    """Who this node is: seat, certificate subject, validity, fingerprint, endpoints."""
    out = {
        "name": settings.node.name,
        "seat_id": settings.node.seat_id,
        "mode": settings.node.mode,
        "as4_endpoint": settings.node.public_url.rstrip("/") + "/as4",
        "smp_url": settings.smp_public_url,
        "database": _redact(settings.database_url),
        "trust": settings.pki.trust,
    }
    try:
        cert = certs.load_certificate(settings.path(settings.pki.ap_cert))
    except certs.CertError:
        return out
    out.update(
        ap_certificate=cert.subject.rfc4514_string(),
        ap_issuer=cert.issuer.rfc4514_string(),
        ap_valid=f"{cert.not_valid_before_utc:%Y-%m-%d} .. {cert.not_valid_after_utc:%Y-%m-%d}",
        ap_sha256=cert.fingerprint(hashes.SHA256()).hex(":"),
    )
    return out


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def run_checks(settings: Settings, *, now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    add = findings.append
    if not certs.SeatId.is_valid(settings.node.seat_id):
        add(Finding(False, "config", f"node.seat_id {settings.node.seat_id!r} is not a Peppol seat id (e.g. PBE000123)"))
    else:
        add(Finding(True, "config", f"configuration read from {settings.directory}"))

    try:
        trust = _trust(settings)
        add(Finding(True, "trust", f"trust set {trust.name!r}: {len(trust.roots)} root(s), "
                                   f"{len(trust.all_issuing_cas())} issuing CA(s)"))
    except (certs.CertError, ConfigError) as exc:
        add(Finding(False, "trust", f"trust anchors unusable: {exc}"))
        trust = None

    revocation = (
        certs.RevocationChecker(soft_fail=settings.revocation_soft_fail) if settings.revocation.enabled else None
    )
    if revocation is None:
        add(Finding(False if settings.production else True, "revocation",
                    "revocation checking is disabled" + (" (not allowed in production)" if settings.production else "")))
    p = settings.pki
    with _local_responder(settings):
        for label, key, cert, password, role in (
            ("AP", p.ap_key, p.ap_cert, p.ap_key_password, certs.Role.ACCESS_POINT),
            ("SMP", p.smp_key, p.smp_cert, p.smp_key_password, certs.Role.SMP),
        ):
            pair = _pair(settings, label, key, cert, password, add)
            if pair is None or trust is None:
                continue
            _chain(pair.cert, role, label, trust, now, revocation, settings, add)
    if revocation is not None:
        revocation.close()

    tls = _pair(settings, "TLS", p.tls_key, p.tls_cert, "", add)
    if tls is not None:
        _tls(tls.cert, now, add)

    _database(settings, add)
    return findings


def _trust(settings: Settings) -> certs.TrustStore:
    p = settings.pki
    if p.trust == "local":
        return certs.TestPki.load(settings.path(p.local_pki_dir)).trust_store()
    if p.trust == "files":
        if not p.trust_files:
            raise ConfigError("pki.trust = 'files' but pki.trust_files is empty")
        return certs.TrustStore.from_pem_files([settings.path(f) for f in p.trust_files])
    return certs.TrustStore.builtin(p.trust)


def _pair(settings: Settings, label: str, key: str, cert: str, password: str, add) -> certs.KeyPair | None:  # noqa: ANN001
    try:
        pair = certs.load_key_pair(settings.path(key), settings.path(cert), password or None)
    except certs.CertError as exc:
        add(Finding(False, f"{label} key", str(exc)))
        return None
    add(Finding(True, f"{label} key", f"{label} key matches its certificate {pair.cert.subject.rfc4514_string()}"))
    return pair


def _chain(cert: x509.Certificate, role: certs.Role, label: str, trust: certs.TrustStore, now: datetime,
           revocation: certs.RevocationChecker | None, settings: Settings, add) -> None:  # noqa: ANN001
    try:
        verified = certs.verify_certificate_details(cert, role, trust=trust, at=now, revocation=revocation)
    except certs.CertificateRejected as exc:
        add(Finding(False, f"{label} certificate", f"{label} certificate rejected ({exc.reason.value}): {exc}"))
        return
    seat = verified.seat_id
    add(Finding(True, f"{label} certificate", f"{label} certificate chains to a trusted Peppol {label} CA, "
                                              f"valid until {cert.not_valid_after_utc:%Y-%m-%d}"))
    result = verified.revocation
    if result is not None and result.status is certs.RevocationStatus.GOOD:
        add(Finding(True, f"{label} revocation", f"{label} certificate is not revoked (checked by {result.source.upper()})"))
    elif result is not None:
        # Only reachable in soft-fail mode: hard fail raised above.
        add(Finding(True, f"{label} revocation",
                    f"WARNING: {label} certificate revocation status unknown, accepted in soft-fail mode ({result.detail})"))
    if seat.value != settings.node.seat_id:
        add(Finding(False, f"{label} certificate",
                    f"{label} certificate CN {seat.value} differs from node.seat_id {settings.node.seat_id}"))


def _tls(cert: x509.Certificate, now: datetime, add) -> None:  # noqa: ANN001
    if now > cert.not_valid_after_utc:
        add(Finding(False, "TLS certificate", f"TLS certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}"))
    elif now < cert.not_valid_before_utc:
        add(Finding(False, "TLS certificate", f"TLS certificate not valid before {cert.not_valid_before_utc:%Y-%m-%d}"))
    else:
        add(Finding(True, "TLS certificate", f"TLS certificate valid until {cert.not_valid_after_utc:%Y-%m-%d}"))


def _database(settings: Settings, add) -> None:  # noqa: ANN001
    engine = db.create_engine(settings.database_url)
    try:
        pending = db.pending_migrations(engine)
    except sa.exc.SQLAlchemyError as exc:
        add(Finding(False, "database", f"cannot use database {_redact(settings.database_url)}: "
                                        f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
        return
    finally:
        engine.dispose()
    if pending:
        add(Finding(False, "database", f"{len(pending)} migration(s) not applied: run `peppol-node migrate` or start the node"))
    else:
        add(Finding(True, "database", "database reachable and migrated"))
