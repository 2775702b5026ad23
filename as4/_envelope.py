"""Signed SOAP 1.2 envelopes written as text, with the signed parts in exclusive-c14n form by construction.

Why: building an lxml tree, serialising and reparsing it (so digests are computed on the tree a receiver
will see) and canonicalising it cost more than half the Python time of an exchange. The envelopes we send
have a fixed shape (protocol.md §1): only ids, timestamps, identifiers, digests and certificates vary. So
the eb:Messaging header, the Body and ds:SignedInfo are written here directly in their canonical form
(exclusive c14n, W3C xml-exc-c14n and C14N 1.0 §2.3: sorted namespace declarations and attributes,
start/end tag pairs, the c14n escapes), and the same bytes (with a plain start tag) go on the wire, so
what we digest is what the receiver canonicalises. `tests/as4/test_envelope.py` holds these forms equal
to lxml's c14n of the tree-built header (`as4.ebms.build_messaging`) and of the parsed envelope.

Private to `as4`. Values are checked to be XML characters (ValueError otherwise, as lxml raised).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from as4 import _wss, _xenc
from as4._xml import DS, EB, EBBP, EC, S12, WSSE, WSSE11, WSU, XENC, XENC11, parse_xml
from as4.ebms import Party, Property, SignalMessage, UserMessage, format_timestamp

XML_DECL = "<?xml version='1.0' encoding='UTF-8'?>\n"
_ENVELOPE_OPEN = f'<S12:Envelope xmlns:S12="{S12}"><S12:Header>'
_SECURITY_OPEN = f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}" S12:mustUnderstand="true">'
_X509V3 = _wss.X509V3

#: Characters XML 1.0 allows (§2.2); anything else cannot be written (lxml refused it too).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


_TEXT_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#xD;"))
_ATTR_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), ('"', "&quot;"), ("\t", "&#x9;"), ("\n", "&#xA;"), ("\r", "&#xD;"))


#: Printable ASCII but the characters either escape set names (and `"` `>`): such a value is written as it
#: is, in one C-level match (ids, timestamps, URIs, participant ids: nearly every value we write).
_PLAIN = re.compile("[ !#-%'-;=?-~]*")


def _escaped(value: str, escapes: tuple[tuple[str, str], ...]) -> str:
    """`value` checked to be XML characters, with `escapes` applied in order (`&` first)."""
    if _PLAIN.fullmatch(value):
        return value
    if _NOT_XML_CHAR.search(value):
        raise ValueError(f"not an XML character in {value[:60]!r}")
    for char, entity in escapes:
        if char in value:  # most values need none: a scan is cheaper than a replace
            value = value.replace(char, entity)
    return value


#: Most values written are the same in every message (algorithm URIs, party ids, roles, service, action,
#: property names): remembering their escaped form skips the check and the scans (about 50 values per
#: exchange, ~1 us each). Unique values (ids, timestamps) pass through and age out; a ValueError is
#: never remembered. Keyed on the exact str, so the answer is the one `_escaped` gives.
_ESCAPE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=_ESCAPE_CACHE_SIZE)
def text(value: str) -> str:
    """Character data as exclusive c14n writes it (& < > and CR escaped)."""
    return _escaped(value, _TEXT_ESCAPES)


@functools.lru_cache(maxsize=_ESCAPE_CACHE_SIZE)
def attr(value: str) -> str:
    """An attribute value as exclusive c14n writes it (& < " TAB LF CR escaped)."""
    return _escaped(value, _ATTR_ESCAPES)


def _el(tag: str, content: str | None, **attrs: str | None) -> str:
    """`<eb:tag a="..">content</eb:tag>`; attributes given in c14n order (unqualified: by name), None left out."""
    a = "".join(f' {k}="{attr(v)}"' for k, v in attrs.items() if v is not None)
    return f"<eb:{tag}{a}>{text(content) if content is not None else ''}</eb:{tag}>"


def _message_info(timestamp: str, message_id: str, ref: str | None) -> str:
    return ("<eb:MessageInfo>" + _el("Timestamp", timestamp) + _el("MessageId", message_id)
            + (_el("RefToMessageId", ref) if ref else "") + "</eb:MessageInfo>")


def _user_message(msg: UserMessage) -> str:
    """The eb:UserMessage element. What only the parties, the service and the action decide (PartyInfo and
    CollaborationInfo up to the ConversationId), the MessageProperties and each part's PartProperties are
    the same in message after message to one receiver: they are written once (`_parties_and_service`,
    `_properties`) and only the ids, the timestamp and the hrefs are escaped per message."""
    parts = ["<eb:UserMessage" + (f' mpc="{attr(msg.mpc)}"' if msg.mpc is not None else "") + ">",
             _message_info(format_timestamp(msg.timestamp), msg.message_id, msg.ref_to_message_id),
             _parties_and_service(msg.from_party, msg.to_party, msg.agreement_ref, msg.agreement_pmode,
                                  msg.agreement_ref_type, msg.service, msg.service_type, msg.action),
             _el("ConversationId", msg.conversation_id), "</eb:CollaborationInfo>"]
    if msg.properties:
        parts.append("<eb:MessageProperties>" + _properties(msg.properties, True) + "</eb:MessageProperties>")
    if msg.parts:
        parts.append("<eb:PayloadInfo>")
        for part in msg.parts:
            parts.append(f'<eb:PartInfo href="{attr("cid:" + part.href)}">')
            if part.properties:
                parts.append("<eb:PartProperties>" + _properties(part.properties, False) + "</eb:PartProperties>")
            parts.append("</eb:PartInfo>")
        parts.append("</eb:PayloadInfo>")
    parts.append("</eb:UserMessage>")
    return "".join(parts)


#: Distinct (parties, service, action) and property sets a sender writes: a node has a few hundred
#: partners and document types at most; the values are the sender's own (its outbox), and an
#: entry is the text `_escaped` would give again (a ValueError is never remembered).
_FRAGMENT_CACHE_SIZE = 1024


@functools.lru_cache(maxsize=_FRAGMENT_CACHE_SIZE)
def _parties_and_service(from_party: Party, to_party: Party, agreement_ref: str | None, agreement_pmode: str | None,
                         agreement_ref_type: str | None, service: str, service_type: str | None, action: str) -> str:
    """`<eb:PartyInfo>...</eb:PartyInfo><eb:CollaborationInfo>` up to the eb:Action, canonical form."""
    out = ["<eb:PartyInfo>"]
    for tag, party in (("From", from_party), ("To", to_party)):
        out.append(f"<eb:{tag}>" + _el("PartyId", party.party_id, type=party.party_id_type)
                   + _el("Role", party.role) + f"</eb:{tag}>")
    out.append("</eb:PartyInfo><eb:CollaborationInfo>")
    if agreement_ref is not None:
        out.append(_el("AgreementRef", agreement_ref, pmode=agreement_pmode, type=agreement_ref_type))
    out.append(_el("Service", service, type=service_type) + _el("Action", action))
    return "".join(out)


@functools.lru_cache(maxsize=_FRAGMENT_CACHE_SIZE)
def _properties(properties: tuple[Property, ...], typed: bool) -> str:
    """The eb:Property elements of a MessageProperties (`typed`: with their type) or PartProperties."""
    if typed:
        return "".join(_el("Property", p.value, name=p.name, type=p.type) for p in properties)
    return "".join(_el("Property", p.value, name=p.name) for p in properties)


def _signal_message(msg: SignalMessage, nri: tuple[str, ...]) -> str:
    parts = ["<eb:SignalMessage>",
             _message_info(format_timestamp(msg.timestamp), msg.message_id, msg.ref_to_message_id)]
    if msg.receipt is not None:
        if msg.receipt.references:
            raise ValueError("receipt references are given as canonical ds:Reference copies (`nri`)")
        parts.append(f'<eb:Receipt><ebbp:NonRepudiationInformation xmlns:ebbp="{EBBP}">'
                     + "".join(f"<ebbp:MessagePartNRInformation>{ref}</ebbp:MessagePartNRInformation>"
                               for ref in nri)
                     + "</ebbp:NonRepudiationInformation></eb:Receipt>")
    if msg.error is not None:
        for item in msg.error.errors:
            parts.append(
                "<eb:Error" + "".join(f' {k}="{attr(v)}"' for k, v in (
                    ("category", item.category), ("errorCode", item.code), ("origin", item.origin),
                    ("refToMessageInError", item.ref_to_message_in_error), ("severity", item.severity),
                    ("shortDescription", item.short_description)) if v is not None) + ">"
                + (f'<eb:Description xml:lang="en">{text(item.description)}</eb:Description>'
                   if item.description else "")
                + (_el("ErrorDetail", item.detail) if item.detail else "") + "</eb:Error>")
    parts.append("</eb:SignalMessage>")
    return "".join(parts)


def messaging(msg: UserMessage | SignalMessage, messaging_id: str, nri: tuple[str, ...] = ()) -> tuple[str, str]:
    """eb:Messaging as (wire form, exclusive c14n form with InclusiveNamespaces S12).

    The two differ only in the start tag (the wire leaves S12 to the Envelope). `nri`: canonical
    ds:Reference copies for a receipt's NonRepudiationInformation (see `canonical_reference`).
    """
    inner = _user_message(msg) if isinstance(msg, UserMessage) else _signal_message(msg, nri)
    mid = attr(messaging_id)
    wire = f'<eb:Messaging xmlns:eb="{EB}" xmlns:wsu="{WSU}" S12:mustUnderstand="true" wsu:Id="{mid}">'
    canonical = (f'<eb:Messaging xmlns:S12="{S12}" xmlns:eb="{EB}" xmlns:wsu="{WSU}" wsu:Id="{mid}"'
                 f' S12:mustUnderstand="true">')
    return wire + inner + "</eb:Messaging>", canonical + inner + "</eb:Messaging>"


#: prefixes an eb:Messaging ancestor (or the inclusive S12) renders: a copied reference using one of
#: them canonicalises differently inside the receipt than alone (exc-c14n omits what an ancestor rendered)
_CONTEXT_PREFIXES = re.compile(r'xmlns:(?:S12|eb|wsu|ebbp)="|xmlns="')


def reference_fits(canonical_ref: str) -> bool:
    """Whether a ds:Reference's own exclusive c14n is also its c14n inside our receipt's eb:Messaging."""
    return _CONTEXT_PREFIXES.search(canonical_ref) is None


def body(body_id: str) -> tuple[str, str]:
    """The empty SOAP Body as (wire form, exclusive c14n form)."""
    bid = attr(body_id)
    return (f'<S12:Body xmlns:wsu="{WSU}" wsu:Id="{bid}"/>',
            f'<S12:Body xmlns:S12="{S12}" xmlns:wsu="{WSU}" wsu:Id="{bid}"></S12:Body>')


def bst(cert: x509.Certificate, bst_id: str) -> str:
    """A wsse:BinarySecurityToken holding `cert` (X509v3)."""
    return (f'<wsse:BinarySecurityToken EncodingType="{_wss.BASE64_BINARY}" ValueType="{_X509V3}"'
            f' wsu:Id="{attr(bst_id)}">{_wss._der_base64(cert)}</wsse:BinarySecurityToken>')


def _str_reference(bst_id: str) -> str:
    return (f'<wsse:SecurityTokenReference><wsse:Reference URI="#{attr(bst_id)}" ValueType="{_X509V3}"/>'
            "</wsse:SecurityTokenReference>")


def encrypted_key(encrypted: bytes, bst_id: str, ek_id: str, data_ids: list[str]) -> str:
    """xenc:EncryptedKey (RSA-OAEP, SHA-256, MGF1-SHA256) for the key `encrypted` under the BST's key."""
    return (f'<xenc:EncryptedKey xmlns:xenc="{XENC}" Id="{attr(ek_id)}">'
            f'<xenc:EncryptionMethod Algorithm="{_xenc.RSA_OAEP_11}">'
            f'<ds:DigestMethod xmlns:ds="{DS}" Algorithm="{_xenc.SHA256}"/>'
            f'<xenc11:MGF xmlns:xenc11="{XENC11}" Algorithm="{_xenc.MGF1_SHA256}"/></xenc:EncryptionMethod>'
            f'<ds:KeyInfo xmlns:ds="{DS}">{_str_reference(bst_id)}</ds:KeyInfo>'
            f"<xenc:CipherData><xenc:CipherValue>{base64.b64encode(encrypted).decode()}</xenc:CipherValue>"
            "</xenc:CipherData><xenc:ReferenceList>"
            + "".join(f'<xenc:DataReference URI="#{attr(i)}"/>' for i in data_ids)
            + "</xenc:ReferenceList></xenc:EncryptedKey>")


def encrypted_data(data_id: str, ek_id: str, content_id: str, mime_type: str = "application/gzip") -> str:
    """xenc:EncryptedData for an attachment (SwA Content-Only, AES-128-GCM, key in the EncryptedKey)."""
    return (f'<xenc:EncryptedData xmlns:xenc="{XENC}" Id="{attr(data_id)}" MimeType="{attr(mime_type)}"'
            f' Type="{_xenc.SWA_CONTENT_ONLY}"><xenc:EncryptionMethod Algorithm="{_xenc.AES128_GCM}"/>'
            f'<ds:KeyInfo xmlns:ds="{DS}"><wsse:SecurityTokenReference xmlns:wsse11="{WSSE11}"'
            f' wsse11:TokenType="{_xenc.TOKEN_TYPE_EK}"><wsse:Reference URI="#{attr(ek_id)}"/>'
            "</wsse:SecurityTokenReference></ds:KeyInfo><xenc:CipherData>"
            f'<xenc:CipherReference URI="{attr("cid:" + content_id)}"><xenc:Transforms>'
            f'<ds:Transform xmlns:ds="{DS}" Algorithm="{_xenc.SWA_CIPHERTEXT}"/></xenc:Transforms>'
            "</xenc:CipherReference></xenc:CipherData></xenc:EncryptedData>")


def _inclusive(prefixes: tuple[str, ...] | None) -> str:
    if not prefixes:
        return ""
    return f'<ec:InclusiveNamespaces xmlns:ec="{EC}" PrefixList="{attr(" ".join(prefixes))}"></ec:InclusiveNamespaces>'


_SIGNED_INFO_HEAD = (f'<ds:CanonicalizationMethod Algorithm="{_wss.C14N_EXC}">{_inclusive(("S12",))}'
                     f'</ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="{_wss.RSA_SHA256}">'
                     "</ds:SignatureMethod>")


@functools.lru_cache(maxsize=64)
def _transforms(transforms: tuple[str, ...], inclusive_prefixes: tuple[str, ...] | None) -> str:
    """A reference's `</ds:Transforms>`-less transform list: the same few algorithm/prefix sets in every message."""
    return "".join(f'<ds:Transform Algorithm="{attr(alg)}">'
                   + (_inclusive(inclusive_prefixes) if alg == _wss.C14N_EXC else "") + "</ds:Transform>"
                   for alg in transforms)


def signed_info(refs: list[_wss.ReferenceSpec]) -> str:
    """The content of ds:SignedInfo (exc-c14n with S12 inclusive, RSA-SHA256), canonical form."""
    out = [_SIGNED_INFO_HEAD]
    for ref in refs:
        out.append(f'<ds:Reference URI="{attr(ref.uri)}"><ds:Transforms>'
                   f"{_transforms(ref.transforms, ref.inclusive_prefixes)}"
                   f'</ds:Transforms><ds:DigestMethod Algorithm="{_wss.SHA256}"></ds:DigestMethod>'
                   f"<ds:DigestValue>{base64.b64encode(ref.digest).decode()}</ds:DigestValue></ds:Reference>")
    return "".join(out)


def signature(refs: list[_wss.ReferenceSpec], key: rsa.RSAPrivateKey, bst_id: str,
              ids: list[str] | None = None) -> str:
    """A ds:Signature over `refs`, its key referenced through the BST `bst_id`; `ids`: its own three
    wsu:Ids (Signature, KeyInfo, SecurityTokenReference), new ones if not given."""
    sig_id, ki_id, str_id = ids or _wss.new_ids("SIG", "KI", "STR")
    inner = signed_info(refs)
    canonical = f'<ds:SignedInfo xmlns:S12="{S12}" xmlns:ds="{DS}">{inner}</ds:SignedInfo>'
    value = key.sign(canonical.encode(), _wss.PKCS1V15, _wss.SHA256_HASH)
    return (f'<ds:Signature xmlns:ds="{DS}" Id="{sig_id}"><ds:SignedInfo>{inner}</ds:SignedInfo>'
            f"<ds:SignatureValue>{base64.b64encode(value).decode()}</ds:SignatureValue>"
            f'<ds:KeyInfo Id="{ki_id}"><wsse:SecurityTokenReference wsu:Id="{str_id}">'
            f'<wsse:Reference URI="#{attr(bst_id)}" ValueType="{_X509V3}"/></wsse:SecurityTokenReference>'
            "</ds:KeyInfo></ds:Signature>")


def digest(canonical: str) -> bytes:
    return hashlib.sha256(canonical.encode()).digest()


def envelope(*, tokens: str, messaging_wire: str, messaging_c14n: str | None, messaging_id: str,
             key: rsa.RSAPrivateKey, signer_bst_id: str,
             attachments: tuple[_wss.ReferenceSpec, ...] = ()) -> tuple[bytes, list[_wss.ReferenceSpec]]:
    """The signed envelope (UTF-8, with declaration) and the references signed.

    `tokens`: the wsse:Security children before the signature (BSTs, encryption). The signature covers
    eb:Messaging (`messaging_c14n`; None: take it from the parsed envelope, for content whose canonical
    form depends on its context), the Body and the `attachments`.
    """
    body_id, *signature_ids = _wss.new_ids("body", "SIG", "KI", "STR")
    body_wire, body_c14n = body(body_id)
    head = XML_DECL + _ENVELOPE_OPEN + _SECURITY_OPEN + tokens
    tail = "</wsse:Security>" + messaging_wire + "</S12:Header>" + body_wire + "</S12:Envelope>"
    if messaging_c14n is None:
        parsed = parse_xml((head + tail).encode())  # the hardened parser: the copies came from a peer
        messaging_bytes = _wss.c14n(parsed[0][1], ("S12",))
    else:
        messaging_bytes = messaging_c14n.encode()
    refs = [
        _wss.ReferenceSpec("#" + messaging_id, hashlib.sha256(messaging_bytes).digest(), (_wss.C14N_EXC,), ("S12",)),
        _wss.ReferenceSpec("#" + body_id, digest(body_c14n), (_wss.C14N_EXC,)),
        *attachments,
    ]
    return (head + signature(refs, key, signer_bst_id, signature_ids) + tail).encode(), refs
