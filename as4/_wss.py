"""WS-Security 1.1.1 signatures for AS4 (detached, exc-c14n, RSA-SHA256, BST key reference).

Hand-written on lxml c14n + `cryptography` rather than libxmlsec: the Peppol
algorithm set is small and fixed (protocol.md §1.3), and the SwA attachment
transform is not in xmlsec anyway. Private to `as4`.

Signature-wrapping defence: references are resolved by an Id that must be
unique in the whole document, and `verify` returns the *elements* it digested
so the caller can check they are the very Messaging header and Body it goes on
to process, not look-alikes elsewhere in the tree.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from as4._ids import random_octets
from as4._xml import (DS, EC, WSSE, WSU, WSU_ID, ChildMap, along_in, by_tag, children, first, first_of, qname,
                      reference_parts, text_of)
from certs.keys import PARSE_ERRORS, certificate_der
from as4.blob import Blob
from as4.errors import FailedAuthentication, PolicyNoncompliance
from as4.mime import normalize_cid

C14N_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SWA_CONTENT_SIG = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
SWA_COMPLETE_SIG = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Complete-Signature-Transform"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
X509PKIPATH = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509PKIPathv1"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"

#: The profile's one signature padding and hash (stateless objects, built once rather than per call).
PKCS1V15 = padding.PKCS1v15()
SHA256_HASH = hashes.SHA256()


@dataclass(frozen=True, slots=True)
class ReferenceSpec:
    """What to sign: an element by wsu:Id, or an attachment by Content-ID with its digest."""

    uri: str
    digest: bytes
    transforms: tuple[str, ...]
    inclusive_prefixes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class VerifiedReference:
    uri: str
    element: etree._Element | None      # the element digested (same-document refs)
    content_id: str | None              # the attachment digested (cid: refs)
    copy: etree._Element                # the ds:Reference as received, for NRI
    digest: bytes = b""


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    references: tuple[VerifiedReference, ...]
    attachments_checked: bool


def new_id(prefix: str) -> str:
    # NCName: must not start with a digit, so always a letter prefix; 128 random bits, like a UUID4,
    # without uuid.UUID's Python-level construction (a message needs a dozen of these), from the id pool
    return f"{prefix}-{random_octets(16).hex()}"


def new_ids(*prefixes: str) -> list[str]:
    """`[new_id(p) for p in prefixes]` from one cut of the id pool (one lock, one hex conversion): an
    envelope needs four to nine wsu:Ids at once."""
    octets = random_octets(16 * len(prefixes)).hex()
    return [f"{p}-{octets[32 * i:32 * i + 32]}" for i, p in enumerate(prefixes)]


def c14n(el: etree._Element, inclusive_prefixes: tuple[str, ...] | None = None) -> bytes:
    """Exclusive c14n; a tree libxml2 cannot canonicalise (e.g. a relative namespace URI) cannot have been
    signed by anyone, so it is EBMS:0101, never an lxml exception escaping the receiver."""
    try:
        return etree.tostring(el, method="c14n", exclusive=True, with_comments=False,
                              inclusive_ns_prefixes=list(inclusive_prefixes) if inclusive_prefixes else None)
    except etree.C14NError as exc:
        raise FailedAuthentication(f"signed XML cannot be canonicalised (exclusive c14n): {exc}") from None


def digest_element(el: etree._Element, inclusive_prefixes: tuple[str, ...] | None = None) -> bytes:
    return hashlib.sha256(c14n(el, inclusive_prefixes)).digest()


# Signing is `as4._envelope.signature`: our envelopes are written as text, their signed parts canonical.


def digest_blob(blob: Blob) -> bytes:
    h = hashlib.sha256()
    for chunk in blob.chunks():
        h.update(chunk)
    return h.digest()


def _der_base64(cert: x509.Certificate) -> str:
    """Our own and our peers' few certificates, serialised once (public_bytes costs ~9 us a time).

    Cached on the DER bytes `certificate_der` remembers per certificate object, not on the
    certificate: hashing a certificate goes back to its DER every time (~3 us)."""
    return _base64(certificate_der(cert))


@functools.lru_cache(maxsize=64)
def _base64(der: bytes) -> str:
    return base64.b64encode(der).decode()


# -- verification -----------------------------------------------------------------------------
def _prefixes(parent: etree._Element) -> tuple[str, ...] | None:
    inc = first(parent, f"{{{EC}}}InclusiveNamespaces")
    if inc is None:
        return None
    return tuple(p for p in (inc.get("PrefixList") or "").split() if p)


IdIndex = dict[str, list[etree._Element]]

_SIGNATURE, _SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO = (f"{{{DS}}}{n}" for n in (
    "Signature", "SignedInfo", "SignatureValue", "KeyInfo"))
_C14N_METHOD, _SIGNATURE_METHOD, _REFERENCE = (f"{{{DS}}}{n}" for n in (
    "CanonicalizationMethod", "SignatureMethod", "Reference"))
_STR, _STR_REFERENCE = f"{{{WSSE}}}SecurityTokenReference", f"{{{WSSE}}}Reference"


def find_by_id(root: etree._Element, ident: str, index: IdIndex | None = None) -> etree._Element:
    """The one element whose wsu:Id (or Id) is `ident`; refuses duplicates (signature wrapping).

    `index` is `id_index(root)` when the caller looks up several Ids in one (unchanged) tree.
    """
    found = (id_index(root) if index is None else index).get(ident, ())
    if not found:
        raise FailedAuthentication(f"signed element #{ident[:80]} not found")
    if len(found) > 1:
        raise FailedAuthentication(f"{len(found)} elements carry the Id {ident[:80]!r} (signature wrapping?)")
    return found[0]


_ID_ATTRIBUTES = etree.XPath("//@wsu:Id | //@Id", namespaces={"wsu": WSU})


def id_index(root: etree._Element) -> IdIndex:
    """Every wsu:Id / Id in the document, in one pass.

    The XPath selects the attributes themselves (their values, each knowing its element): about three
    times faster than selecting the elements and reading both attributes of each in Python. An element
    carrying both attributes is listed under each value, as before.
    """
    index: IdIndex = {}
    for value in _ID_ATTRIBUTES(root):
        index.setdefault(str(value), []).append(value.getparent())
    return index


def token_certificates(security: etree._Element, uri: str | None,
                       index: IdIndex | None = None) -> tuple[x509.Certificate, ...]:
    """Certificates of the BinarySecurityToken referenced as `#id` (X509v3 or PKIPath, leaf first)."""
    if not uri or not uri.startswith("#"):
        raise PolicyNoncompliance("key reference is not a direct reference to a BinarySecurityToken")
    root = security.getroottree().getroot()
    bst = find_by_id(root, uri[1:], index)
    if bst.tag != qname(WSSE, "BinarySecurityToken"):
        raise PolicyNoncompliance("key reference does not point to a BinarySecurityToken")
    try:
        der = _token_der(bst.text or "")
    except (binascii.Error, ValueError):
        raise FailedAuthentication("BinarySecurityToken is not base64") from None
    try:
        return _certificates(der, bst.get("ValueType", X509V3) == X509PKIPATH)
    except PARSE_ERRORS as exc:  # not only ValueError: cryptography has its own for a bad version or extension
        raise FailedAuthentication(f"BinarySecurityToken holds no readable certificate: {exc}") from None


@functools.lru_cache(maxsize=256)
def _token_der(text: str) -> bytes:
    """A token's DER from its base64 text, cached on the exact text (peers send the same few tokens)."""
    return base64.b64decode("".join(text.split()), validate=True)


@functools.lru_cache(maxsize=256)
def _certificates(der: bytes, pkipath: bool) -> tuple[x509.Certificate, ...]:
    """Parsed certificates of one token, cached on its exact DER bytes (peers send the same few again and
    again; x509.Certificate is immutable and a parse failure is never cached)."""
    certs = list(reversed(_pkipath(der))) if pkipath else [x509.load_der_x509_certificate(der)]
    for cert in certs:
        # cryptography parses some fields lazily: touch them now, so a mangled token fails here
        cert.subject, cert.issuer, cert.public_key(), cert.extensions  # noqa: B018
    return tuple(certs)


def _pkipath(der: bytes) -> list[x509.Certificate]:
    """X509PKIPathv1 = DER SEQUENCE OF Certificate; split it without an ASN.1 library."""

    def read_len(data: bytes, pos: int) -> tuple[int, int]:
        first = data[pos]
        if first < 0x80:
            return first, pos + 1
        n = first & 0x7F
        if n == 0 or n > 4 or pos + 1 + n > len(data):
            raise ValueError("bad DER length")
        return int.from_bytes(data[pos + 1:pos + 1 + n], "big"), pos + 1 + n

    if not der or der[0] != 0x30:
        raise ValueError("PKIPath is not a DER SEQUENCE")
    length, pos = read_len(der, 1)
    end = pos + length
    certs = []
    while pos < end:
        start = pos
        if der[pos] != 0x30:
            raise ValueError("PKIPath element is not a certificate")
        clen, body = read_len(der, pos + 1)
        pos = body + clen
        certs.append(x509.load_der_x509_certificate(der[start:pos]))
    return certs


def verify(
    security: etree._Element,
    attachments: Mapping[str, Blob] | None,
    index: IdIndex | None = None,
    kids: ChildMap | None = None,
) -> VerifiedSignature:
    """Check the one ds:Signature in `security`; `attachments` maps Content-ID to decrypted content.

    With `attachments=None` the cid: references are not checked (the caller
    could not decrypt, e.g. `inspect` without a key); the result says so.
    `index` is `id_index` of the (unchanged) document when the caller needs it too, `kids` `by_tag(security)`.
    Raises `PolicyNoncompliance` when unsigned and `FailedAuthentication` for
    anything that does not verify, including algorithms outside the profile.
    """
    # child look-ups by Clark name (`as4._xml`: findall/find's answers without the path parsing; `by_tag`
    # walks an element's children once where several are looked up)
    sigs = children(security, _SIGNATURE) if kids is None else kids.get(_SIGNATURE, [])
    if not sigs:
        raise PolicyNoncompliance("message is not signed")
    if len(sigs) > 1:
        raise FailedAuthentication("more than one ds:Signature in the security header")
    in_sig = by_tag(sigs[0])
    si = first_of(in_sig, _SIGNED_INFO)
    if si is None:
        raise FailedAuthentication("ds:SignedInfo is missing")
    in_si = by_tag(si)
    cm = first_of(in_si, _C14N_METHOD)
    if cm is None or cm.get("Algorithm") != C14N_EXC:
        raise FailedAuthentication("SignedInfo canonicalization is not exclusive c14n")
    sm = first_of(in_si, _SIGNATURE_METHOD)
    if sm is None or sm.get("Algorithm") != RSA_SHA256:
        raise FailedAuthentication(f"signature method {sm.get('Algorithm') if sm is not None else None!r} "
                                   "is not RSA-SHA256")
    str_ref = next(along_in(in_sig, _KEY_INFO, _STR, _STR_REFERENCE), None)
    if str_ref is None:
        raise PolicyNoncompliance("signature key is not referenced through a BinarySecurityToken")
    root = security.getroottree().getroot()
    if index is None:
        index = id_index(root)
    chain = token_certificates(security, str_ref.get("URI"), index)
    cert = chain[0]
    verified: list[VerifiedReference] = []
    refs = in_si.get(_REFERENCE)
    if not refs:
        raise FailedAuthentication("SignedInfo has no reference")
    for ref in refs:
        uri = ref.get("URI") or ""
        dm, dv, transforms = reference_parts(ref)
        if dm is None or dm.get("Algorithm") != SHA256:
            raise FailedAuthentication(f"digest method of {uri!r} is not SHA-256")
        try:
            expected = base64.b64decode("".join((text_of(dv) or "").split()), validate=True)
        except (binascii.Error, ValueError):
            raise FailedAuthentication(f"digest value of {uri!r} is not base64") from None
        algs = [t.get("Algorithm") for t in transforms]
        if uri.startswith("#"):
            if algs not in ([C14N_EXC], []):
                raise FailedAuthentication(f"unsupported transforms {algs} on {uri!r}")
            el = find_by_id(root, uri[1:], index)
            prefixes = _prefixes(transforms[0]) if transforms else None
            actual = digest_element(el, prefixes)
            if not hmac.compare_digest(actual, expected):
                raise FailedAuthentication(f"digest of {uri} does not match (content changed after signing)")
            verified.append(VerifiedReference(uri, el, None, ref, expected))
        elif uri.startswith("cid:"):
            cid = normalize_cid(uri)
            if algs != [SWA_CONTENT_SIG]:
                raise FailedAuthentication(f"attachment {uri!r} is not signed with the SwA content transform")
            if attachments is not None:
                blob = attachments.get(cid)
                if blob is None:
                    raise FailedAuthentication(f"signed attachment {uri!r} is not in the message")
                if not hmac.compare_digest(digest_blob(blob), expected):
                    raise FailedAuthentication(f"digest of attachment {uri} does not match")
            verified.append(VerifiedReference(uri, None, cid, ref, expected))
        else:
            raise FailedAuthentication(f"unsupported reference URI {uri[:80]!r}")
    try:
        value = base64.b64decode("".join((text_of(first_of(in_sig, _SIGNATURE_VALUE)) or "").split()),
                                 validate=True)
    except (binascii.Error, ValueError):
        raise FailedAuthentication("SignatureValue is not base64") from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise FailedAuthentication("signing certificate does not hold an RSA key")
    try:
        key.verify(value, c14n(si, _prefixes(cm)), PKCS1V15, SHA256_HASH)
    except InvalidSignature:
        raise FailedAuthentication("SignatureValue does not verify") from None
    return VerifiedSignature(cert, chain, tuple(verified), attachments is not None)


def check_attachments(signature: VerifiedSignature, attachments: Mapping[str, Blob]) -> None:
    """Compare the cid: digests of an already verified SignedInfo with the decrypted attachments."""
    for ref in signature.references:
        if ref.content_id is None:
            continue
        blob = attachments.get(ref.content_id)
        if blob is None:
            raise FailedAuthentication(f"signed attachment {ref.uri!r} is not in the message")
        if not hmac.compare_digest(digest_blob(blob), ref.digest):
            raise FailedAuthentication(f"digest of attachment {ref.uri} does not match")
