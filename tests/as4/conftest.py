"""Fixtures for the as4 tests: one test PKI per session, two access points, a sample SBD."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

import certs

SBD_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader">
  <StandardBusinessDocumentHeader>
    <HeaderVersion>1.0</HeaderVersion>
    <Sender><Identifier Authority="iso6523-actorid-upis">{sender}</Identifier></Sender>
    <Receiver><Identifier Authority="iso6523-actorid-upis">{receiver}</Identifier></Receiver>
    <DocumentIdentification>
      <Standard>urn:oasis:names:specification:ubl:schema:xsd:Invoice-2</Standard>
      <TypeVersion>2.1</TypeVersion>
      <InstanceIdentifier>{instance}</InstanceIdentifier>
      <Type>Invoice</Type>
      <CreationDateAndTime>2026-11-01T10:00:00Z</CreationDateAndTime>
    </DocumentIdentification>
    <BusinessScope>
      <Scope><Type>DOCUMENTID</Type><InstanceIdentifier>urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1</InstanceIdentifier><Identifier>busdox-docid-qns</Identifier></Scope>
      <Scope><Type>PROCESSID</Type><InstanceIdentifier>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</InstanceIdentifier><Identifier>cenbii-procid-ubl</Identifier></Scope>
      <Scope><Type>COUNTRY_C1</Type><InstanceIdentifier>BE</InstanceIdentifier></Scope>
    </BusinessScope>
  </StandardBusinessDocumentHeader>
  <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>{instance}</ID>{filler}</Invoice>
</StandardBusinessDocument>
"""


def make_sbd(instance: str = "inv-1", *, sender: str = "0088:1111111111111", receiver: str = "0088:2222222222222",
             filler: str = "") -> bytes:
    return SBD_TEMPLATE.format(instance=instance, sender=sender, receiver=receiver, filler=filler).encode()


@dataclass
class Aps:
    pki: certs.TestPki
    sender: certs.Issued
    receiver: certs.Issued
    other: certs.Issued
    directory: Path

    @property
    def trust(self) -> certs.TrustStore:
        return self.pki.trust_store()


@pytest.fixture(scope="session")
def aps(tmp_path_factory: pytest.TempPathFactory) -> Aps:
    d = tmp_path_factory.mktemp("as4pki")
    pki = certs.TestPki.generate(d / "pki")
    return Aps(pki, pki.issue_ap("POP000001"), pki.issue_ap("POP000002"), pki.issue_ap("POP000003"), d)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)
