"""XML Encryption 1.1 for SwA attachments: AES-128-GCM data, RSA-OAEP (MGF1-SHA256) key transport.

GCM octets are IV(12) || ciphertext || tag(16) (XML Enc 1.1 §5.2.4). Both
directions stream through `cryptography`'s Cipher update/finalize so a 100 MB
attachment never sits in memory. Decryption writes plaintext only to a spool
that is discarded if the tag fails, so nothing unauthenticated escapes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from as4._wss import IdIndex, token_certificates
from as4._xml import DS, WSSE, XENC, XENC11, ChildMap, along, along_in, by_tag, first, first_of, text_of
from as4.blob import CHUNK, SPOOL_BYTES, Blob, BlobWriter
from as4.errors import As4Error, FailedDecryption, PolicyNoncompliance
from as4.mime import normalize_cid

AES128_GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
RSA_OAEP_11 = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
RSA_OAEP_MGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
MGF1_SHA256 = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
MGF1_SHA1 = "http://www.w3.org/2009/xmlenc11#mgf1sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SWA_CONTENT_ONLY = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Only"
SWA_CIPHERTEXT = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Ciphertext-Transform"
TOKEN_TYPE_EK = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"

_STR = f"{{{WSSE}}}SecurityTokenReference"

IV_BYTES = 12
TAG_BYTES = 16

_HASHES = {SHA256: hashes.SHA256, SHA1: hashes.SHA1,
           "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
           "http://www.w3.org/2001/04/xmldsig-more#sha384": hashes.SHA384}
_MGFS = {MGF1_SHA256: hashes.SHA256, MGF1_SHA1: hashes.SHA1,
         "http://www.w3.org/2009/xmlenc11#mgf1sha384": hashes.SHA384,
         "http://www.w3.org/2009/xmlenc11#mgf1sha512": hashes.SHA512}


def _one_shot(blob: Blob) -> bool:
    """Whether `blob` is an in-memory part (every ordinary invoice): `AESGCM` then encrypts or decrypts
    it in one call, the same octets as the streaming `Cipher` without its per-call object checks
    (some 5 us of the 7 an invoice's attachment cost each way)."""
    return blob.in_memory and blob.size <= SPOOL_BYTES


def encrypt_blob(plain: Blob, key: bytes) -> Blob:
    iv = os.urandom(IV_BYTES)
    if _one_shot(plain):
        return Blob(data=iv + AESGCM(key).encrypt(iv, plain.read(), None))
    enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    out = BlobWriter()
    out.write(iv)
    for chunk in plain.chunks():
        out.write(enc.update(chunk))
    out.write(enc.finalize())
    out.write(enc.tag)
    return out.finish()


def decrypt_blob(cipher: Blob, key: bytes, *, limit: int | None = None) -> Blob:
    if cipher.size < IV_BYTES + TAG_BYTES:
        raise FailedDecryption("encrypted attachment is shorter than IV + tag")
    if _one_shot(cipher):
        # the streaming path's checks in its order: the key, the size (found before the tag), the tag
        try:
            aes = AESGCM(key)
        except ValueError as exc:
            raise FailedDecryption(f"unusable content key: {exc}") from None
        if limit is not None and cipher.size - IV_BYTES - TAG_BYTES > limit:
            raise FailedDecryption("decrypted attachment exceeds the size limit")
        data = cipher.read()
        try:
            return Blob(data=aes.decrypt(data[:IV_BYTES], data[IV_BYTES:], None))
        except InvalidTag:
            raise FailedDecryption("attachment authentication tag does not match") from None
    iv = cipher.head(IV_BYTES)
    tag = b"".join(cipher.chunks(start=cipher.size - TAG_BYTES))
    try:
        dec = Cipher(algorithms.AES(key), modes.GCM(iv, tag)).decryptor()
    except ValueError as exc:
        raise FailedDecryption(f"unusable content key: {exc}") from None
    out = BlobWriter(limit=limit)
    try:
        for chunk in cipher.chunks(CHUNK, start=IV_BYTES, end=cipher.size - TAG_BYTES):
            out.write(dec.update(chunk))
        out.write(dec.finalize())
    except InvalidTag:
        out.finish().close()
        raise FailedDecryption("attachment authentication tag does not match") from None
    except OverflowError:
        out.finish().close()
        raise FailedDecryption("decrypted attachment exceeds the size limit") from None
    return out.finish()


def oaep_encrypt(cert: x509.Certificate, key: bytes) -> bytes:
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError("the receiver certificate has no RSA key")
    return public.encrypt(key, _oaep(hashes.SHA256, hashes.SHA256))


@functools.cache
def _oaep(mgf: type[hashes.HashAlgorithm], digest: type[hashes.HashAlgorithm]) -> padding.OAEP:
    """One OAEP padding object per (MGF1 hash, digest) pair, of the few `_HASHES` x `_MGFS` allows
    (stateless, so shared; building one costs three objects and their checks)."""
    return padding.OAEP(mgf=padding.MGF1(mgf()), algorithm=digest(), label=None)


@dataclass(frozen=True, slots=True)
class EncryptedPart:
    data_id: str
    content_id: str
    algorithm: str
    mime_type: str | None


@dataclass(frozen=True, slots=True)
class EncryptedKeyInfo:
    element: etree._Element
    key_reference: str          # "bst", "issuer-serial", "ski", "other"
    certificate: x509.Certificate | None
    data_ids: tuple[str, ...]


def describe_encrypted_key(ek: etree._Element, index: IdIndex | None = None,
                           kids: ChildMap | None = None) -> EncryptedKeyInfo:
    """How the EncryptedKey names its key (Peppol requires a BST direct reference).

    `kids`: `by_tag(ek)` when the caller reads the EncryptedKey's children for `decrypt_key` too.
    """
    security = ek.getparent()
    if kids is None:
        kids = by_tag(ek)
    # child paths walked with `along_in` (find's answers without its path parsing)
    ref = next(along_in(kids, f"{{{DS}}}KeyInfo", _STR, f"{{{WSSE}}}Reference"), None)
    cert: x509.Certificate | None = None
    kind = "other"
    if ref is not None and security is not None:
        kind = "bst"
        try:
            cert = token_certificates(security, ref.get("URI"), index)[0]
        except As4Error:  # a broken token: reported as "no usable certificate" by the caller
            cert = None
    elif next(along_in(kids, f"{{{DS}}}KeyInfo", _STR, f"{{{DS}}}X509Data", f"{{{DS}}}X509IssuerSerial"),
              None) is not None:
        kind = "issuer-serial"
    elif next(along_in(kids, f"{{{DS}}}KeyInfo", _STR, f"{{{WSSE}}}KeyIdentifier"), None) is not None:
        kind = "ski"
    ids = tuple((d.get("URI") or "").lstrip("#")
                for d in along_in(kids, f"{{{XENC}}}ReferenceList", f"{{{XENC}}}DataReference"))
    return EncryptedKeyInfo(ek, kind, cert, ids)


def decrypt_key(ek: etree._Element, private_key: rsa.RSAPrivateKey, kids: ChildMap | None = None) -> bytes:
    """The content key from an xenc:EncryptedKey (RSA-OAEP, xmlenc11 or legacy mgf1p); `kids`: `by_tag(ek)`."""
    if kids is None:
        kids = by_tag(ek)
    em = first_of(kids, f"{{{XENC}}}EncryptionMethod")
    alg = em.get("Algorithm") if em is not None else None
    if alg not in (RSA_OAEP_11, RSA_OAEP_MGF1P):
        raise PolicyNoncompliance(f"key transport algorithm {alg!r} is not RSA-OAEP")
    dm = first(em, f"{{{DS}}}DigestMethod")
    digest = _HASHES.get(dm.get("Algorithm") if dm is not None else SHA1)
    if digest is None:
        raise PolicyNoncompliance("unsupported OAEP digest")
    if alg == RSA_OAEP_11:
        mgf_el = first(em, f"{{{XENC11}}}MGF")
        mgf = _MGFS.get(mgf_el.get("Algorithm") if mgf_el is not None else MGF1_SHA1)
        if mgf is None:
            raise PolicyNoncompliance("unsupported OAEP mask generation function")
    else:
        mgf = hashes.SHA1
    try:
        cipher_value = next(along_in(kids, f"{{{XENC}}}CipherData", f"{{{XENC}}}CipherValue"), None)
        value = base64.b64decode("".join((text_of(cipher_value) or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise FailedDecryption("EncryptedKey CipherValue is not base64") from None
    try:
        return private_key.decrypt(value, _oaep(mgf, digest))
    except ValueError:
        raise FailedDecryption("the content key cannot be decrypted with our key") from None


_ENCRYPTED_DATA = f"{{{XENC}}}EncryptedData"


def encrypted_parts(security: etree._Element, kids: ChildMap | None = None) -> list[EncryptedPart]:
    """The security header's xenc:EncryptedData children (`kids`: `by_tag(security)`, when the caller has it)."""
    out = []
    for ed in security.iterchildren(_ENCRYPTED_DATA) if kids is None else kids.get(_ENCRYPTED_DATA, ()):
        em = first(ed, f"{{{XENC}}}EncryptionMethod")
        cr = next(along(ed, f"{{{XENC}}}CipherData", f"{{{XENC}}}CipherReference"), None)
        if cr is None or not (cr.get("URI") or "").startswith("cid:"):
            raise PolicyNoncompliance("EncryptedData does not reference an attachment")
        out.append(EncryptedPart(ed.get("Id") or "", normalize_cid(cr.get("URI") or ""),
                                 em.get("Algorithm") if em is not None else "", ed.get("MimeType")))
    return out
