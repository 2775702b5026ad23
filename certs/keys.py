"""Reading keys and certificates from PEM, DER and PKCS#12.

Operators hand us whatever their CA gave them: a PEM pair, or a PKCS#12 with a
password (what DigiCert ONE issues Peppol certificates as). Every failure is one
`CertificateLoadError` naming the file, so `peppol-node check` can say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certs.errors import CertificateLoadError

__all__ = [
    "KeyPair",
    "load_certificate",
    "load_certificates",
    "load_private_key",
    "load_pkcs12",
    "load_key_pair",
    "certificate_pem",
    "certificate_der",
    "same_certificate",
    "private_key_pem",
    "materialise",
    "PARSE_ERRORS",
]

PrivateKey = rsa.RSAPrivateKey

#: What cryptography raises for bytes that are no usable certificate or key. Mostly ValueError and
#: TypeError, but a version other than v1/v3 is its own InvalidVersion, an extension present twice its
#: own DuplicateExtension (raised lazily, on first access), an unknown key algorithm UnsupportedAlgorithm:
#: none of them a ValueError, so catching ValueError alone lets a hostile certificate crash the caller.
PARSE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, UnsupportedAlgorithm,
                                             x509.DuplicateExtension, x509.InvalidVersion)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key, its certificate, and whatever chain came with it."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()


def _read(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, "<bytes>"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except OSError as exc:
        raise CertificateLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc


def materialise(cert: x509.Certificate) -> None:
    """Parse every part of `cert` we later read, now.

    cryptography parses names, extensions and the key lazily, on first use, so a
    malformed certificate from outside (a BinarySecurityToken, an SMP answer)
    would otherwise raise deep inside a check. Raises ValueError for every
    parse failure (callers turn it into their own error).
    """
    try:
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
        for _ in cert.extensions:
            pass
        cert.public_key()
        cert.not_valid_before_utc, cert.not_valid_after_utc  # noqa: B018 - parsed on access
    except ValueError:
        raise
    except PARSE_ERRORS as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


def load_certificates(source: str | Path | bytes) -> list[x509.Certificate]:
    """All certificates in a PEM bundle, or the one in a DER file."""
    data, name = _read(source)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
        for cert in certs:
            materialise(cert)
    except PARSE_ERRORS as exc:
        raise CertificateLoadError(f"{name} holds no readable certificate: {exc}") from exc
    return certs


def load_certificate(source: str | Path | bytes) -> x509.Certificate:
    """The first certificate of a PEM or DER file (the leaf, by convention)."""
    return load_certificates(source)[0]


def load_private_key(source: str | Path | bytes, password: str | bytes | None = None) -> PrivateKey:
    """An RSA private key from PEM or DER, optionally encrypted.

    Peppol's PKI issues RSA keys only (G3 leaves are RSA-2048), so anything else
    is refused here rather than failing later inside a signature.
    """
    data, name = _read(source)
    pw = password.encode() if isinstance(password, str) else password
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, pw)
        else:
            key = serialization.load_der_private_key(data, pw)
    except PARSE_ERRORS as exc:
        raise CertificateLoadError(f"{name} holds no readable private key (wrong password?): {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateLoadError(f"{name}: Peppol needs an RSA key, found {type(key).__name__}")
    return key


def load_pkcs12(source: str | Path | bytes, password: str | bytes | None) -> KeyPair:
    """Key, certificate and chain from a PKCS#12 (.p12/.pfx) file."""
    data, name = _read(source)
    pw = password.encode() if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
        for c in (cert, *(extra or ())):
            if c is not None:
                materialise(c)
    except PARSE_ERRORS as exc:
        raise CertificateLoadError(f"{name} is not a readable PKCS#12 file (wrong password?): {exc}") from exc
    if key is None or cert is None:
        raise CertificateLoadError(f"{name} does not hold both a private key and its certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateLoadError(f"{name}: Peppol needs an RSA key, found {type(key).__name__}")
    return KeyPair(key, cert, tuple(extra or ()))


def _is_pkcs12(path: str | Path) -> bool:
    return str(path).lower().endswith((".p12", ".pfx"))


def load_key_pair(
    key: str | Path,
    cert: str | Path | None = None,
    password: str | bytes | None = None,
) -> KeyPair:
    """A key and its certificate from either a PKCS#12 file or a PEM key + PEM cert.

    Checks that the two belong together: a mismatched pair would sign messages
    nobody can verify, which is much harder to diagnose on the wire.
    """
    if _is_pkcs12(key):
        pair = load_pkcs12(key, password)
    else:
        if cert is None:
            raise CertificateLoadError(f"{key} is a PEM key: a certificate file is needed too")
        if _is_pkcs12(cert):
            pair = load_pkcs12(cert, password)
        else:
            certs = load_certificates(cert)
            pair = KeyPair(load_private_key(key, password), certs[0], tuple(certs[1:]))
    if pair.key.public_key().public_numbers() != pair.cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise CertificateLoadError(f"the private key in {key} does not belong to the certificate in {cert or key}")
    return pair


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


#: certificate objects whose DER is remembered; cleared when full (a node meets a few peers)
_DER_CACHE_SIZE = 256
_der_by_id: dict[int, tuple[x509.Certificate, bytes]] = {}


def certificate_der(cert: x509.Certificate) -> bytes:
    """The DER of `cert`, remembered per certificate object.

    Why: cryptography's `hash(cert)` and `==` between two objects of one certificate cost some
    3 us each (they go back to the DER every time), and a message exchange hashes or compares its
    few certificates half a dozen times (caches keyed on them, "is the signer the receiver").
    Keyed on `id(cert)`, with the object itself held in the entry so that id cannot be reused by
    another certificate while the entry lives; the entry is only used when it holds this very
    object. The bytes returned are the same object on every hit, so their own hash is computed once.
    """
    entry = _der_by_id.get(id(cert))
    if entry is not None and entry[0] is cert:
        return entry[1]
    der = cert.public_bytes(serialization.Encoding.DER)
    if len(_der_by_id) >= _DER_CACHE_SIZE:
        _der_by_id.clear()
    _der_by_id[id(cert)] = (cert, der)
    return der


def same_certificate(a: x509.Certificate, b: x509.Certificate) -> bool:
    """`a == b` (cryptography compares certificates by their DER) through `certificate_der`."""
    return a is b or certificate_der(a) == certificate_der(b)


def private_key_pem(key: PrivateKey, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
