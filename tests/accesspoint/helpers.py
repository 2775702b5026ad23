"""Documents, organisations, a clock and an SMTP server for the delivery tests (all real parts)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from accesspoint import db
from accesspoint.db.tables.organisations import Environment, Organisation, OrganisationIdentifier

SELLER = "0088:5790000435951"
BUYER_HERE = "0088:5790000436057"
BUYER_REMOTE = "0208:0123456749"
BUYER_NOWHERE = "0088:4000000000008"

INVOICE = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
 <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
 <cbc:ID>{number}</cbc:ID>
 <cbc:IssueDate>2026-11-20</cbc:IssueDate>
 <cbc:DueDate>2026-12-20</cbc:DueDate>
 <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
 <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
 <cbc:BuyerReference>PO-1</cbc:BuyerReference>
 <cac:AccountingSupplierParty><cac:Party>
  <cbc:EndpointID schemeID="{seller_scheme}">{seller_value}</cbc:EndpointID>
  <cac:PartyName><cbc:Name>Seller BV</cbc:Name></cac:PartyName>
  <cac:PostalAddress><cbc:StreetName>Oudegracht 1</cbc:StreetName><cbc:CityName>Utrecht</cbc:CityName><cbc:PostalZone>3511</cbc:PostalZone>
   <cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
  <cac:PartyTaxScheme><cbc:CompanyID>NL123456789B01</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  <cac:PartyLegalEntity><cbc:RegistrationName>Seller BV</cbc:RegistrationName></cac:PartyLegalEntity>
 </cac:Party></cac:AccountingSupplierParty>
 <cac:AccountingCustomerParty><cac:Party>
  <cbc:EndpointID schemeID="{buyer_scheme}">{buyer_value}</cbc:EndpointID>
  <cac:PartyName><cbc:Name>Buyer NV</cbc:Name></cac:PartyName>
  <cac:PostalAddress><cbc:StreetName>Veldstraat 1</cbc:StreetName><cbc:CityName>Gent</cbc:CityName><cbc:PostalZone>9000</cbc:PostalZone>
   <cac:Country><cbc:IdentificationCode>BE</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
  <cac:PartyLegalEntity><cbc:RegistrationName>Buyer NV</cbc:RegistrationName></cac:PartyLegalEntity>
  <cac:Contact><cbc:ElectronicMail>{buyer_email}</cbc:ElectronicMail></cac:Contact>
 </cac:Party></cac:AccountingCustomerParty>
 <cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>
  <cac:PayeeFinancialAccount><cbc:ID>NL91ABNA0417164300</cbc:ID></cac:PayeeFinancialAccount></cac:PaymentMeans>
 <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount>
  <cac:TaxSubtotal><cbc:TaxableAmount currencyID="EUR">100.00</cbc:TaxableAmount><cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount>
   <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
  </cac:TaxSubtotal></cac:TaxTotal>
 <cac:LegalMonetaryTotal>
  <cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount>
  <cbc:TaxExclusiveAmount currencyID="EUR">100.00</cbc:TaxExclusiveAmount>
  <cbc:TaxInclusiveAmount currencyID="EUR">121.00</cbc:TaxInclusiveAmount>
  <cbc:PayableAmount currencyID="EUR">121.00</cbc:PayableAmount>
 </cac:LegalMonetaryTotal>
 <cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity>
  <cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount>
  <cac:Item><cbc:Name>Consulting</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>
   <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item>
  <cac:Price><cbc:PriceAmount currencyID="EUR">100.00</cbc:PriceAmount></cac:Price>
 </cac:InvoiceLine>
</Invoice>
"""


def invoice(number: str = "INV-1", *, buyer: str = BUYER_HERE, seller: str = SELLER,
            buyer_email: str = "ap@buyer.example") -> bytes:
    bs, bv = buyer.split(":", 1)
    ss, sv = seller.split(":", 1)
    return INVOICE.format(number=number, buyer_scheme=bs, buyer_value=bv, seller_scheme=ss, seller_value=sv,
                          buyer_email=buyer_email).encode()


class Clock:
    """Time as an argument: tests move it forward instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def make_sessions(url: str) -> tuple[sa.Engine, sessionmaker[Session]]:
    engine = db.create_engine(url)
    db.migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def add_organisation(sessions: sessionmaker[Session], name: str, *ids: str, receive: bool = True,
                     send: bool = True) -> int:
    with sessions.begin() as session:
        env = session.scalars(sa.select(Environment)).first()
        if env is None:
            env = Environment(name="env", created_at=datetime.now(UTC))
            session.add(env)
            session.flush()
        org = Organisation(environment_id=env.id, name=name, status="active", peppol_send=send,
                           peppol_receive=receive, payer="own", created_at=datetime.now(UTC))
        session.add(org)
        session.flush()
        for pid in ids:
            session.add(OrganisationIdentifier(organisation_id=org.id, scheme="iso6523-actorid-upis",
                                               value=pid.lower()))
        return org.id


@dataclass
class SmtpSink:
    """A real SMTP server on 127.0.0.1; `reply` set to e.g. "550 ..." refuses the next messages."""

    messages: list[Message] = field(default_factory=list)
    reply: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802 - aiosmtpd hook
        if self.reply:
            return self.reply
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def start_smtp() -> tuple[Controller, SmtpSink]:
    # aiosmtpd's Controller checks readiness by connecting to its configured port, so
    # port 0 cannot be passed through; take a free ephemeral port from the OS first.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink


class AsgiServer:
    """An ASGI app served by uvicorn in a thread on a fixed 127.0.0.1 port, startable and stoppable
    again (for "remote down, then up again")."""

    def __init__(self, app, *, tls_cert=None, tls_key=None) -> None:  # noqa: ANN001
        import socket

        self.app = app
        self.tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"{'https://localhost' if tls_cert else 'http://127.0.0.1'}:{self.port}"
        self._server = None
        self._thread = None

    def start(self) -> None:
        import time

        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=2, **self.tls))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None


class ThreadedDns:
    """The SML's DNS server for the node's zone, with nobody registered: every lookup is a definite
    NXDOMAIN, so a buyer not on this node is "not on Peppol" (and not "DNS trouble")."""

    def __init__(self, zone: str) -> None:
        import asyncio
        import threading

        import sml

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = sml.DnsServer(sml.Zone.named(zone), sml.MemorySmlStore())
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def stop(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
