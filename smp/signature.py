"""Enveloped XMLDSig of SignedServiceMetadata: verify what others sign, sign what we serve.

Peppol SMP 1.x (§3.3; phoss-smp SMPKeyManager): one ds:Signature, child of
smp:SignedServiceMetadata, one Reference URI="" with the enveloped transform,
RSA-SHA256 / SHA-256, inclusive C14N 1.0, KeyInfo with X509SubjectName and
X509Certificate. Older answers (all of vefa-peppol's, peppol-commons') use
RSA-SHA1 and exclusive C14N for SignedInfo; `allow_sha1=True` accepts those for
inspection of historic samples only.

signxml does the XMLDSig work. One defect is worked around here: lxml
(6.1.3 / libxml2 2.14.6) emits a spurious `xmlns=""` on grandchildren when it
canonicalises a *sub*-element with inclusive C14N, and signxml canonicalises
SignedInfo as a sub-element of Signature. Every real inclusive-C14N answer in
../shared/testdata then fails. `_C14nFix` serialises such a node and parses it
back as a document root before canonicalising, which keeps the in-scope
namespaces (what inclusive C14N wants) and avoids the bug. The same fix is
applied when we sign, so our signatures are right for other implementations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLSigner, XMLVerifier, methods
from signxml.algorithms import CanonicalizationMethod
from signxml.exceptions import InvalidCertificate, InvalidInput, SignXMLException

import certs
from smp._xml import NS_DS, NS_SMP, parse_xml
from smp.errors import SignatureProblem, SmpError, SmpParseError, SmpSignatureError
from smp.model import SignerInfo, VerifiedServiceMetadata, decode_base64
from smp.parse import service_metadata_from_element

__all__ = ["verify_service_metadata", "check_signature", "sign_service_metadata", "SignatureCheck"]

_DS = f"{{{NS_DS}}}"
_S = f"{{{NS_SMP}}}"
_C14N_INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"

_STRONG_SIGNATURES = frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512})
_STRONG_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
_SAFE_PARSER = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class _C14nFix:
    def _c14n(self, nodes: Any, algorithm: CanonicalizationMethod, inclusive_ns_prefixes: Any = None) -> bytes:
        if not isinstance(nodes, list):
            nodes = [nodes]
        fixed = []
        for node in nodes:
            if isinstance(node, etree._Element) and node.getparent() is not None:
                node = etree.fromstring(etree.tostring(node), etree.XMLParser(**_SAFE_PARSER))
            fixed.append(node)
        return super()._c14n(fixed, algorithm, inclusive_ns_prefixes)  # type: ignore[misc]


class _Verifier(_C14nFix, XMLVerifier):
    pass


class _Signer(_C14nFix, XMLSigner):
    pass


class SignatureCheck:
    """The outcome of `check_signature`: the signed element and the certificate that signed it."""

    __slots__ = ("signed_root", "certificate", "signature_method", "digest_method")

    def __init__(self, signed_root: etree._Element, certificate: x509.Certificate, signature_method: str,
                 digest_method: str) -> None:
        self.signed_root = signed_root
        self.certificate = certificate
        self.signature_method = signature_method
        self.digest_method = digest_method


def _structure(root: etree._Element) -> tuple[etree._Element, x509.Certificate]:
    signatures = list(root.iter(_DS + "Signature"))
    if not signatures:
        raise SmpSignatureError(SignatureProblem.MISSING, "the SMP answer is not signed")
    if len(signatures) > 1 or signatures[0].getparent() is not root:
        # Anything else is the shape of a signature-wrapping attack.
        raise SmpSignatureError(SignatureProblem.MALFORMED,
                                "exactly one ds:Signature, a child of the document element, is allowed")
    sig = signatures[0]
    refs = sig.findall(f"{_DS}SignedInfo/{_DS}Reference")
    if len(refs) != 1 or refs[0].get("URI") != "":
        raise SmpSignatureError(SignatureProblem.MALFORMED, 'the signature must have one Reference with URI=""')
    certs_el = sig.findall(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if not certs_el:
        raise SmpSignatureError(SignatureProblem.MALFORMED, "the signature carries no X509Certificate")
    try:
        der = decode_base64(certs_el[0].text, "X509Certificate")
        cert = x509.load_der_x509_certificate(der)
    except (SmpParseError, *certs.PARSE_ERRORS) as exc:
        raise SmpSignatureError(SignatureProblem.MALFORMED, f"unreadable signing certificate: {exc}") from None
    return sig, cert


def check_signature(data: bytes | etree._Element, *, at: datetime, allow_sha1: bool = False) -> SignatureCheck:
    """Check the enveloped XMLDSig of an SMP answer with the certificate it carries (no chain check).

    Any document element is accepted (so `smp inspect` can also check OASIS
    SMP 2.0 answers); `verify_service_metadata` insists on SignedServiceMetadata.

    Returns the signed content (the document without its Signature, as signxml
    re-read it) so callers read only what was signed. Raises SmpParseError,
    SmpSignatureError.
    """
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware")
    root = parse_xml(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    sig, cert = _structure(root)
    sig_methods = set(_STRONG_SIGNATURES)
    digests = set(_STRONG_DIGESTS)
    if allow_sha1:
        sig_methods.add(SignatureMethod.RSA_SHA1)
        digests.add(DigestAlgorithm.SHA1)
    config = SignatureConfiguration(
        require_x509=True,
        expect_references=1,
        signature_methods=frozenset(sig_methods),
        digest_algorithms=frozenset(digests),
        verification_time=at,
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    sm = sig.find(f"{_DS}SignedInfo/{_DS}SignatureMethod")
    dm = sig.find(f"{_DS}SignedInfo/{_DS}Reference/{_DS}DigestMethod")
    sm_alg = sm.get("Algorithm", "") if sm is not None else ""
    dm_alg = dm.get("Algorithm", "") if dm is not None else ""
    try:
        result = _Verifier().verify(root, x509_cert=cert, expect_config=config)
    except InvalidCertificate as exc:
        raise SmpSignatureError(SignatureProblem.UNTRUSTED, f"SMP signing certificate not valid at {at:%Y-%m-%d %H:%M}Z: {exc}") from None
    except InvalidInput as exc:
        text = str(exc)
        problem = SignatureProblem.ALGORITHM if "algorithm" in text.lower() or "method" in text.lower() \
            else SignatureProblem.MALFORMED
        raise SmpSignatureError(problem, f"SMP signature rejected: {text}") from None
    except SignXMLException as exc:
        raise SmpSignatureError(SignatureProblem.INVALID, f"SMP signature does not verify: {exc or type(exc).__name__}") from None
    except (ValueError, TypeError, etree.LxmlError) as exc:
        # lxml's C14NError (e.g. a relative namespace URI) and DocumentInvalid (signxml's
        # schema check of ds:Signature) are a malformed answer too, not our crash.
        raise SmpSignatureError(SignatureProblem.MALFORMED, f"SMP signature is malformed: {exc}") from None
    signed = result.signed_xml
    if signed is None or signed.tag != root.tag:
        raise SmpSignatureError(SignatureProblem.MALFORMED, "the signature does not cover the whole answer")
    return SignatureCheck(signed, cert, sm_alg, dm_alg)


def verify_service_metadata(
    data: bytes,
    *,
    trust: certs.TrustStore,
    at: datetime,
    revocation: certs.RevocationChecker | None = None,
    allow_sha1: bool = False,
) -> VerifiedServiceMetadata:
    """Parse a SignedServiceMetadata whose signature verifies and whose signer is a trusted SMP at `at`.

    Raises SmpParseError (not an SMP answer), SmpSignatureError (reason:
    MISSING / MALFORMED / ALGORITHM / INVALID / UNTRUSTED).
    """
    root = parse_xml(data)
    if root.tag != _S + "SignedServiceMetadata":
        raise SmpParseError(f"expected smp:SignedServiceMetadata, found {root.tag}")
    check = check_signature(root, at=at, allow_sha1=allow_sha1)
    try:
        seat = certs.verify_smp_certificate(check.certificate, trust=trust, at=at, revocation=revocation)
    except certs.CertError as exc:
        raise SmpSignatureError(SignatureProblem.UNTRUSTED, f"SMP signer not trusted: {exc}") from None
    metadata_el = check.signed_root.find(_S + "ServiceMetadata")
    if metadata_el is None:
        raise SmpParseError("SignedServiceMetadata/ServiceMetadata is missing")
    metadata = service_metadata_from_element(metadata_el)
    signer = SignerInfo(check.certificate, str(seat), check.certificate.subject.rfc4514_string())
    return VerifiedServiceMetadata(metadata, signer)


def sign_service_metadata(service_metadata_xml: bytes, *, key: rsa.RSAPrivateKey,
                          certificate: x509.Certificate) -> bytes:
    """Wrap a ServiceMetadata document in SignedServiceMetadata and sign it as Peppol SMP 1.x says."""
    inner = parse_xml(service_metadata_xml)
    if inner.tag != _S + "ServiceMetadata":
        raise SmpParseError(f"expected smp:ServiceMetadata, found {inner.tag}")
    root = etree.Element(_S + "SignedServiceMetadata", nsmap={"smp": NS_SMP})
    root.append(inner)
    key_info = etree.Element(_DS + "KeyInfo", nsmap={None: NS_DS})
    x509_data = etree.SubElement(key_info, _DS + "X509Data")
    etree.SubElement(x509_data, _DS + "X509SubjectName").text = certificate.subject.rfc4514_string()
    import base64

    etree.SubElement(x509_data, _DS + "X509Certificate").text = base64.b64encode(
        certificate.public_bytes(Encoding.DER)).decode("ascii")
    signer = _Signer(
        method=methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=_C14N_INCLUSIVE,
    )
    signer.namespaces = {None: NS_DS}  # ds as the default namespace, as phoss-smp writes it
    try:
        signed = signer.sign(root, key=key, key_info=key_info)
    except (SignXMLException, ValueError, TypeError) as exc:  # our own key/cert: a configuration error
        raise SmpError(f"cannot sign service metadata: {exc}") from exc
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
