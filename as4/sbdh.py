"""Just enough of the SBDH to route and cross-check a message, read in a streaming pass.

The receiver must compare originalSender / finalRecipient with the SBDH
(protocol.md §1.7) and key duplicates on the InstanceIdentifier, but a 100 MB
SBD should not be parsed into a tree for that. `read_sbdh` stops at the end of
the StandardBusinessDocumentHeader. Documents small enough to hold get the
full envelope check of `ubl.parse_sbd` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree

from as4.blob import Blob
from as4.errors import As4Error, EbmsError

if TYPE_CHECKING:
    import ubl

__all__ = ["SbdhInfo", "read_sbdh"]

SBDH_NS = "http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader"
_H = f"{{{SBDH_NS}}}"
#: up to this size the SBD is fully checked by `ubl.parse_sbd`; above it, streamed up to the end of the header
_SMALL = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SbdhInfo:
    sender: str                 # "scheme::value" as written (Authority::Identifier)
    receiver: str
    instance_identifier: str
    document_type_id: str | None = None   # "scheme::value"
    process_id: str | None = None
    country_c1: str | None = None
    #: with `read_sbdh(keep_envelope=True)`, the whole checked envelope of an SBD small enough to be
    #: read whole (`payload` and `summary` included), so the store need not parse it again; else None
    envelope: ubl.StandardBusinessDocument | None = field(default=None, repr=False, compare=False)


def _err(detail: str) -> As4Error:
    # Peppol AS4 2.0.3 §1.7 / phase4: a payload that is not a valid Peppol SBD is EBMS:0004 Other.
    return As4Error(EbmsError.OTHER, detail)


def read_sbdh(blob: Blob, *, keep_envelope: bool = False) -> SbdhInfo:
    """Parse the SBDH at the start of `blob`; raise `As4Error(EBMS:0004)` if it is not one.

    `keep_envelope`: for a small SBD, also keep the checked envelope with its business message
    (`SbdhInfo.envelope`); a large one is never held, so its `envelope` stays None.
    """
    if blob.size <= _SMALL:
        return _read_with_ubl(blob.read(), keep_envelope)
    head = blob.head(65536)
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise _err("the SBD has a DOCTYPE; DTDs and entities are refused")
    fields: dict[str, str] = {}
    scopes: dict[str, tuple[str, str | None]] = {}
    try:
        events = etree.iterparse(blob.open(), events=("end",), resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=True, remove_blank_text=False)  # huge_tree: ubl/_xml.py says why
        root_seen = False
        for _event, el in events:
            tag = el.tag
            if not isinstance(tag, str):
                continue
            if tag == _H + "Sender":
                ident = el.find(_H + "Identifier")
                if ident is not None:
                    fields["sender"] = f"{ident.get('Authority', '')}::{(ident.text or '').strip()}"
            elif tag == _H + "Receiver":
                ident = el.find(_H + "Identifier")
                if ident is not None:
                    fields["receiver"] = f"{ident.get('Authority', '')}::{(ident.text or '').strip()}"
            elif tag == _H + "DocumentIdentification":
                iid = el.find(_H + "InstanceIdentifier")
                if iid is not None:
                    fields["instance"] = (iid.text or "").strip()
            elif tag == _H + "Scope":
                typ = (el.findtext(_H + "Type") or "").strip()
                val = (el.findtext(_H + "InstanceIdentifier") or "").strip()
                scheme = el.findtext(_H + "Identifier")
                scopes[typ] = (val, scheme.strip() if scheme else None)
            elif tag == _H + "StandardBusinessDocumentHeader":
                root_seen = True
                break
        if not root_seen:
            raise _err("the first payload is not a Standard Business Document (no SBDH)")
    except etree.XMLSyntaxError as exc:
        raise _err(f"the SBD is not well-formed XML: {exc}") from None
    for key in ("sender", "receiver", "instance"):
        if not fields.get(key) or fields[key].endswith("::"):
            raise _err(f"the SBDH lacks its {key}")

    def scoped(name: str, default_scheme: str) -> str | None:
        if name not in scopes:
            return None
        val, scheme = scopes[name]
        return f"{scheme or default_scheme}::{val}"

    country = scopes.get("COUNTRY_C1", (None, None))[0]
    return SbdhInfo(fields["sender"], fields["receiver"], fields["instance"],
                    scoped("DOCUMENTID", "busdox-docid-qns"), scoped("PROCESSID", "cenbii-procid-ubl"), country)


def _read_with_ubl(data: bytes, keep_envelope: bool) -> SbdhInfo:
    """Small SBDs get the full Peppol envelope check of `ubl.parse_sbd` (Business Message Envelope 2.0).

    Unless the envelope is kept, `with_payload=False`: every check still runs, but ubl does not
    serialise the business message, which a store keeping the SBD as received never uses and which
    cost more than parsing for a large invoice. A kept envelope also carries the business message's
    summary, read from the same tree: the store that keeps it lists the document by it, and would
    otherwise parse the invoice a second time for it.
    """
    import ubl

    try:
        sbd = ubl.parse_sbd(data, with_payload=keep_envelope, summarise=keep_envelope)
    except (ubl.UblError, ValueError) as exc:  # ValueError: ubl's identifier checks on odd values
        raise _err(f"the payload is not a valid Peppol SBD: {exc}") from None
    return SbdhInfo(str(sbd.sender), str(sbd.receiver), sbd.instance_identifier, str(sbd.document_type_id),
                    str(sbd.process_id), sbd.country_c1, sbd if keep_envelope else None)
