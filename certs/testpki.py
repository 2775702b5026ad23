"""A test PKI that mirrors Peppol G3, for local networks, tests and `peppol-node init`.

Shape (as OpenPeppol's, but with our own keys):

    PEPPOL Root TEST CA - LOCAL
    ├── PEPPOL ACCESS POINT TEST CA - LOCAL           -> AP leaves, CN = seat id, OU = PEPPOL TEST AP
    └── PEPPOL SERVICE METADATA PUBLISHER TEST CA - LOCAL -> SMP leaves, OU = PEPPOL TEST SMP
    peppol-node local TLS CA (separate, as TLS is not Peppol PKI) -> TLS server certificates

Leaves carry the same key usage, extended key usage, OCSP (AIA) and CRL (CDP)
extensions as real G3 certificates, pointing at a responder on 127.0.0.1 that
`certs.RevocationServer` runs; so revocation is tested over real HTTP, not assumed.

The PKI lives in a directory (keys unencrypted: test only) so separate processes
(a node, its `check`, the responder) all see the same revocations.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import CertError
from certs.keys import certificate_pem, load_certificate, load_private_key, private_key_pem
from certs.seat import SeatId
from certs.trust import TrustStore

__all__ = ["Issued", "TestPki"]

LEAF_KEY_BITS = 2048  # Peppol G3 leaves are RSA-2048.
CA_KEY_BITS = 2048  # G3 CAs use RSA-4096; 2048 keeps test set-up fast and changes no code path.
CRL_VALIDITY = timedelta(days=1)
OCSP_VALIDITY = timedelta(hours=1)

_CA_FILES = {"root": "root", "ap": "ap-ca", "smp": "smp-ca", "tls": "tls-ca"}


@dataclass(frozen=True, slots=True)
class Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = directory / f"{name}.key.pem", directory / f"{name}.cert.pem"
        key_path.write_bytes(private_key_pem(self.key))
        key_path.chmod(0o600)
        cert_path.write_bytes(certificate_pem(self.cert))
        return key_path, cert_path


def _name(cn: str, ou: str | None = None, o: str = "peppol-node test PKI", c: str = "BE") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, c), x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _new_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestPki:
    """Generate or load a test PKI; issue, revoke, and answer OCSP/CRL for its certificates."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, cas: dict[str, Issued], revocation_url: str) -> None:
        self.directory = directory
        self._cas = cas
        self.revocation_url = revocation_url.rstrip("/")

    # -- construction -----------------------------------------------------------------
    @classmethod
    def generate(
        cls, directory: str | Path, *, revocation_port: int | None = None, now: datetime | None = None
    ) -> TestPki:
        """Create root, AP CA, SMP CA and TLS CA in `directory` (which must not hold a PKI yet)."""
        directory = Path(directory)
        if (directory / "pki.json").exists():
            raise CertError(f"{directory} already holds a test PKI")
        now = now or datetime.now(UTC)
        port = revocation_port or _free_port()
        url = f"http://127.0.0.1:{port}"
        start, end = now - timedelta(days=1), now + timedelta(days=3650)
        root_key = _new_key(CA_KEY_BITS)
        root_name = _name("PEPPOL Root TEST CA - LOCAL", "FOR TEST ONLY")
        root = Issued(root_key, cls._ca_cert(root_name, root_key, root_name, root_key, start, end, None))
        cas = {"root": root}
        for which, cn in (
            ("ap", "PEPPOL ACCESS POINT TEST CA - LOCAL"),
            ("smp", "PEPPOL SERVICE METADATA PUBLISHER TEST CA - LOCAL"),
        ):
            key = _new_key(CA_KEY_BITS)
            name = _name(cn, "FOR TEST ONLY")
            cas[which] = Issued(key, cls._ca_cert(name, key, root_name, root_key, start, end, 0, url, "root"))
        tls_key = _new_key(CA_KEY_BITS)
        tls_name = _name("peppol-node local TLS CA", "FOR TEST ONLY")
        cas["tls"] = Issued(tls_key, cls._ca_cert(tls_name, tls_key, tls_name, tls_key, start, end, None))
        for which, issued in cas.items():
            issued.write(directory, _CA_FILES[which])
        (directory / "pki.json").write_text(json.dumps({"revocation_url": url, "revoked": {}}, indent=2))
        return cls(directory, cas, url)

    @classmethod
    def load(cls, directory: str | Path) -> TestPki:
        directory = Path(directory)
        try:
            meta = json.loads((directory / "pki.json").read_text())
        except (OSError, ValueError) as exc:
            raise CertError(f"{directory} does not hold a test PKI: {exc}") from exc
        cas = {
            which: Issued(
                load_private_key(directory / f"{stem}.key.pem"), load_certificate(directory / f"{stem}.cert.pem")
            )
            for which, stem in _CA_FILES.items()
        }
        return cls(directory, cas, meta["revocation_url"])

    @staticmethod
    def _ca_cert(
        subject: x509.Name,
        key: rsa.RSAPrivateKey,
        issuer: x509.Name,
        issuer_key: rsa.RSAPrivateKey,
        start: datetime,
        end: datetime,
        path_length: int | None,
        revocation_url: str | None = None,
        issuer_crl: str | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
        if revocation_url and issuer_crl:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint([x509.UniformResourceIdentifier(f"{revocation_url}/crl/{issuer_crl}.crl")], None, None, None)]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    # -- accessors --------------------------------------------------------------------
    @property
    def root(self) -> Issued:
        return self._cas["root"]

    @property
    def ap_ca(self) -> Issued:
        return self._cas["ap"]

    @property
    def smp_ca(self) -> Issued:
        return self._cas["smp"]

    @property
    def tls_ca(self) -> Issued:
        return self._cas["tls"]

    def trust_store(self) -> TrustStore:
        """The Peppol trust set of this PKI (root + AP CA + SMP CA; not the TLS CA)."""
        return TrustStore.from_certificates([self.root.cert, self.ap_ca.cert, self.smp_ca.cert], name="local")

    def trust_pem(self) -> bytes:
        return b"".join(certificate_pem(c.cert) for c in (self.root, self.ap_ca, self.smp_ca))

    # -- issuing ----------------------------------------------------------------------
    def issue_ap(self, seat_id: str, **kwargs: object) -> Issued:
        """An access point certificate: CN = seat id, OU = PEPPOL TEST AP, as G3 issues them."""
        return self._issue_leaf("ap", seat_id, "PEPPOL TEST AP", **kwargs)  # type: ignore[arg-type]

    def issue_smp(self, seat_id: str, **kwargs: object) -> Issued:
        """An SMP certificate: CN = seat id, OU = PEPPOL TEST SMP."""
        return self._issue_leaf("smp", seat_id, "PEPPOL TEST SMP", **kwargs)  # type: ignore[arg-type]

    def _issue_leaf(
        self,
        which: str,
        seat_id: str,
        ou: str,
        *,
        organisation: str = "peppol-node test",
        country: str = "BE",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        check_seat: bool = True,
        issuer: Issued | None = None,
    ) -> Issued:
        if check_seat:
            SeatId(seat_id)  # raises ValueError on a malformed seat id
        ca = issuer or self._cas[which]
        now = datetime.now(UTC)
        start = not_before or now - timedelta(hours=1)
        end = not_after or start + timedelta(days=730)
        key = _new_key(LEAF_KEY_BITS)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(seat_id, ou, organisation, country))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, True, True, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityInformationAccess(
                    [x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                            x509.UniformResourceIdentifier(f"{self.revocation_url}/ocsp"))]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{self.revocation_url}/crl/{_CA_FILES[which]}.crl")],
                        None, None, None)]
                ),
                critical=False,
            )
            .sign(ca.key, hashes.SHA256())
        )
        return Issued(key, cert)

    def issue_tls(self, *hostnames: str) -> Issued:
        """A TLS server (and client) certificate for `hostnames` (default localhost + 127.0.0.1)."""
        names = hostnames or ("localhost", "127.0.0.1")
        sans: list[x509.GeneralName] = []
        for host in names:
            try:
                sans.append(x509.IPAddress(ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        now = datetime.now(UTC)
        key = _new_key(LEAF_KEY_BITS)
        ca = self.tls_ca
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0], None, "peppol-node test"))
            .issuer_name(ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=397))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256())
        )
        return Issued(key, cert)

    # -- revocation -------------------------------------------------------------------
    def _meta(self) -> dict:
        return json.loads((self.directory / "pki.json").read_text())

    def revoke(self, cert: x509.Certificate, *, at: datetime | None = None) -> None:
        """Record `cert` as revoked (from `at`, default now); OCSP and CRL answer it from then on."""
        if not any(self._issued(cert, ca) for ca in self._cas.values()):
            raise CertError(f"{cert.subject.rfc4514_string()} was not issued by this PKI")
        meta = self._meta()
        meta["revoked"][str(cert.serial_number)] = (at or datetime.now(UTC)).isoformat()
        tmp = self.directory / "pki.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2))
        tmp.replace(self.directory / "pki.json")

    @staticmethod
    def _issued(cert: x509.Certificate, ca: Issued) -> bool:
        try:
            cert.verify_directly_issued_by(ca.cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True

    def revoked(self) -> dict[int, datetime]:
        return {int(k): datetime.fromisoformat(v) for k, v in self._meta()["revoked"].items()}

    def ca_named(self, stem: str) -> Issued | None:
        """The CA whose file stem (root, ap-ca, smp-ca) is `stem`; used by the CRL endpoint."""
        for which, s in _CA_FILES.items():
            if s == stem:
                return self._cas[which]
        return None

    def crl(self, ca: Issued, *, now: datetime | None = None) -> bytes:
        """A fresh DER CRL of `ca` listing every certificate it issued that has been revoked."""
        now = now or datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.cert.subject)
            .last_update(now - timedelta(minutes=1))
            .next_update(now + CRL_VALIDITY)
        )
        for serial, when in self.revoked().items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, request_der: bytes, *, now: datetime | None = None) -> bytes:
        """Answer an OCSP request for a certificate issued by one of our CAs (signed by that CA)."""
        now = now or datetime.now(UTC)
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER
            )
        ca = None
        for candidate in (self.ap_ca, self.smp_ca, self.root):
            digest = hashes.Hash(request.hash_algorithm)
            digest.update(candidate.cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
            if digest.finalize() == request.issuer_key_hash:
                ca = candidate
                break
        if ca is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
                serialization.Encoding.DER
            )
        revoked = self.revoked()
        serial = request.serial_number
        status, rev_time = ocsp.OCSPCertStatus.GOOD, None
        if serial in revoked and revoked[serial] <= now:
            status, rev_time = ocsp.OCSPCertStatus.REVOKED, revoked[serial]
        # The builder wants the certificate itself; we only know the serial, so rebuild a
        # minimal stand-in is not possible - use add_response_by_hash (cryptography >= 43).
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=serial,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now - timedelta(minutes=1),
            next_update=now + OCSP_VALIDITY,
            revocation_time=rev_time,
            revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, ca.cert)
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
