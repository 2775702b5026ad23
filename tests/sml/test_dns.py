"""Lookups through dnspython against our own authoritative server, on real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

import dns.asyncquery
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from sml import DnsFailure, NoMatchingSmpService, ParticipantNotRegistered, Zone, naptr_name
from sml.dns import lookup_smp_url, parse_resolver_address, query_naptr
from sml.dnsserver import DnsServer
from sml.local import dns_label
from sml.store import MemorySmlStore, ParticipantRecord, SmpRecord
from tests.sml.test_names import _V
from ubl import ParticipantId

ZONE = Zone("sml.local.test")


def _store(*pids: str, url: str = "https://smp.example/") -> MemorySmlStore:
    store = MemorySmlStore()
    store.save_smp(SmpRecord("SMP1", url, "127.0.0.1", "owner"), create=True)
    for text in pids:
        pid = ParticipantId.parse(text)
        store.save_participant(ParticipantRecord(str(pid), "SMP1", dns_label(pid)), create=True)
    return store


def test_lookup_registered_unregistered_and_case():
    async def main():
        async with DnsServer(ZONE, _store("0088:123abc", "9915:test")) as server:
            assert server.port > 0
            url = await lookup_smp_url("iso6523-actorid-upis::0088:123ABC", ZONE, resolver=server.address)
            assert url == "https://smp.example/"
            assert await lookup_smp_url(ParticipantId.parse("9915:test"), ZONE, resolver=server.address) == url
            assert await lookup_smp_url("iso6523-actorid-upis::9915:test", ZONE, resolver=server.address,
                                        require_https=True) == url
            with pytest.raises(ParticipantNotRegistered) as info:
                await lookup_smp_url("iso6523-actorid-upis::0088:unknown", ZONE, resolver=server.address)
            assert not info.value.retryable and "NXDOMAIN" in str(info.value)
            # Same participant, wrong zone: the server is not authoritative -> REFUSED -> retryable failure.
            with pytest.raises(DnsFailure) as failure:
                await lookup_smp_url("iso6523-actorid-upis::0088:123abc", Zone.TEST, resolver=server.address, timeout=2)
            assert failure.value.retryable

    asyncio.run(main())


def test_server_answers_udp_tcp_soa_ns_nodata():
    async def main():
        async with DnsServer(ZONE, _store("0088:123abc")) as server:
            name = naptr_name("iso6523-actorid-upis::0088:123abc", ZONE) + "."
            q = dns.message.make_query(name, "NAPTR")
            udp = await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=2)
            tcp = await dns.asyncquery.tcp(q, "127.0.0.1", port=server.port, timeout=2)
            for answer in (udp, tcp):
                assert answer.rcode() == dns.rcode.NOERROR
                assert answer.flags & dns.flags.AA
                (rrset,) = answer.answer
                (rdata,) = rrset
                assert rdata.order == 100 and rdata.preference == 10
                assert rdata.flags == b"U" and rdata.service == b"Meta:SMP"
                assert rdata.regexp == b"!^.*$!https://smp.example/!" and rdata.replacement.to_text() == "."
            a = await dns.asyncquery.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=server.port, timeout=2)
            assert a.rcode() == dns.rcode.NOERROR and not a.answer and a.authority[0].rdtype == dns.rdatatype.SOA
            soa = await dns.asyncquery.udp(dns.message.make_query("sml.local.test.", "SOA"), "127.0.0.1", port=server.port, timeout=2)
            assert soa.answer[0].rdtype == dns.rdatatype.SOA
            ns = await dns.asyncquery.tcp(dns.message.make_query("sml.local.test.", "NS"), "127.0.0.1", port=server.port, timeout=2)
            assert ns.answer[0][0].target.to_text() == "ns1.sml.local.test."
            nsa = await dns.asyncquery.udp(dns.message.make_query("ns1.sml.local.test.", "A"), "127.0.0.1", port=server.port, timeout=2)
            assert nsa.answer[0][0].address == "127.0.0.1"
            ent = await dns.asyncquery.udp(
                dns.message.make_query("iso6523-actorid-upis.sml.local.test.", "NAPTR"), "127.0.0.1", port=server.port, timeout=2
            )
            assert ent.rcode() == dns.rcode.NOERROR and not ent.answer
            nx = await dns.asyncquery.udp(dns.message.make_query("x.y.sml.local.test.", "NAPTR"), "127.0.0.1", port=server.port, timeout=2)
            assert nx.rcode() == dns.rcode.NXDOMAIN and nx.authority[0].rdtype == dns.rdatatype.SOA
            out = await dns.asyncquery.udp(dns.message.make_query("example.com.", "A"), "127.0.0.1", port=server.port, timeout=2)
            assert out.rcode() == dns.rcode.REFUSED

    asyncio.run(main())


def test_require_https():
    async def main():
        async with DnsServer(ZONE, _store("0088:123abc", url="http://plain.example")) as server:
            pid = "iso6523-actorid-upis::0088:123abc"
            assert await lookup_smp_url(pid, ZONE, resolver=server.address) == "http://plain.example"
            with pytest.raises(NoMatchingSmpService):
                await lookup_smp_url(pid, ZONE, resolver=server.address, require_https=True)

    asyncio.run(main())


def test_registration_visible_immediately_and_removal():
    async def main():
        store = _store()
        async with DnsServer(ZONE, store) as server:
            pid = ParticipantId.parse("0088:5798000000001")
            with pytest.raises(ParticipantNotRegistered):
                await lookup_smp_url(pid, ZONE, resolver=server.address)
            store.save_participant(ParticipantRecord(str(pid), "SMP1", dns_label(pid)), create=True)
            assert await lookup_smp_url(pid, ZONE, resolver=server.address) == "https://smp.example/"
            store.delete_participant(str(pid))
            with pytest.raises(ParticipantNotRegistered):
                await lookup_smp_url(pid, ZONE, resolver=server.address)

    asyncio.run(main())


def test_garbage_gets_formerr_or_silence():
    async def main():
        async with DnsServer(ZONE, _store()) as server:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(("127.0.0.1", server.port))
            try:
                await loop.sock_sendall(sock, struct.pack("!HHHHHH", 0x1234, 0x0100, 5, 0, 0, 0) + b"\x03abc")
                reply = await asyncio.wait_for(loop.sock_recv(sock, 512), 2)
                qid, flags = struct.unpack("!HH", reply[:4])
                assert qid == 0x1234 and flags & 0x8000 and flags & 0xF == dns.rcode.FORMERR
            finally:
                sock.close()
            # The server keeps serving after garbage.
            q = dns.message.make_query("sml.local.test.", "SOA")
            assert (await dns.asyncquery.udp(q, "127.0.0.1", port=server.port, timeout=2)).answer

    asyncio.run(main())


class _FixedServer(asyncio.DatagramProtocol):
    """A UDP server that answers every query with `rcode`, or with `records` NAPTR."""

    def __init__(self, rcode=dns.rcode.NOERROR, records=()):
        self.rcode, self.records = rcode, records

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.set_rcode(self.rcode)
        if self.records:
            response.answer.append(
                dns.rrset.from_text_list(query.question[0].name, 60, "IN", "NAPTR", list(self.records))
            )
        self.transport.sendto(response.to_wire(), addr)


async def _fixed(protocol):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
    return transport, f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"


def test_servfail_timeout_and_no_matching_service():
    async def main():
        pid = "iso6523-actorid-upis::0088:123abc"
        transport, addr = await _fixed(_FixedServer(dns.rcode.SERVFAIL))
        try:
            with pytest.raises(DnsFailure) as info:
                await lookup_smp_url(pid, ZONE, resolver=addr, timeout=2)
            assert info.value.retryable
        finally:
            transport.close()
        # A socket nobody reads: the query times out.
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        try:
            with pytest.raises(DnsFailure) as info:
                await lookup_smp_url(pid, ZONE, resolver=f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
            assert "timeout" in str(info.value).lower()
        finally:
            silent.close()
        transport, addr = await _fixed(_FixedServer(records=['100 10 "U" "Meta:Other" "!^.*$!https://x!" .']))
        try:
            with pytest.raises(NoMatchingSmpService):
                await lookup_smp_url(pid, ZONE, resolver=addr, timeout=2)
            records = await query_naptr(naptr_name(pid, ZONE), resolver=addr, timeout=2)
            assert records[0].service == "Meta:Other"
        finally:
            transport.close()
        # Several records: lowest order, then preference, as received from the wire.
        transport, addr = await _fixed(
            _FixedServer(
                records=[
                    '200 1 "U" "Meta:SMP" "!^.*$!https://order200!" .',
                    '100 20 "U" "Meta:SMP" "!^.*$!https://pref20!" .',
                    '100 10 "U" "meta:smp" "!.*!https://best!" .',
                ]
            )
        )
        try:
            assert await lookup_smp_url(pid, ZONE, resolver=addr, timeout=2) == "https://best"
        finally:
            transport.close()

    asyncio.run(main())


_PEPPOL_FORM = [
    v for v in _V["naptr_bdxl"]
    if v["participant_scheme"] and v["lowercase_value_before_hash"] and v["scheme_label_included"]
]


@pytest.mark.parametrize("v", _PEPPOL_FORM, ids=lambda v: f"{v['participant_value']}@{v['dns_zone']}")
def test_vectors_served_from_local_server(v):
    """Serve each Peppol-form testdata name from our DNS server and resolve it through dnspython."""

    async def main():
        zone = Zone(v["dns_zone"])
        pid = ParticipantId.parse(f"{v['participant_scheme']}::{v['participant_value']}")
        async with DnsServer(zone, _store(str(pid), url="https://smp.vector.example")) as server:
            name = naptr_name(pid, zone)
            assert name == v["expected_name"].lower()
            assert await lookup_smp_url(pid, zone, resolver=server.address) == "https://smp.vector.example"

    asyncio.run(main())


def test_parse_resolver_address():
    assert parse_resolver_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver_address("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver_address("[::1]:54") == ("::1", 54)
    assert parse_resolver_address("::1") == ("::1", 53)
    for bad in ("localhost:53", "1.2.3.4:0", "1.2.3.4:x"):
        with pytest.raises(ValueError):
            parse_resolver_address(bad)


def test_limits_under_load():
    async def main():
        async with DnsServer(ZONE, _store("0088:123abc"), max_pending=1, max_tcp_connections=1,
                             tcp_idle_timeout=0.5) as server:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(("127.0.0.1", server.port))
            q = dns.message.make_query("sml.local.test.", "SOA").to_wire()
            try:
                for _ in range(50):
                    await loop.sock_sendall(sock, q)
                await asyncio.sleep(0.5)
            finally:
                sock.close()
            assert server.dropped > 0
            # One TCP client at a time: a second one is closed at once, the first still served.
            r1, w1 = await asyncio.open_connection("127.0.0.1", server.port)
            await asyncio.sleep(0.05)
            r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(r2.read(), 2) == b""
            w1.write(struct.pack("!H", len(q)) + q)
            (length,) = struct.unpack("!H", await asyncio.wait_for(r1.readexactly(2), 2))
            assert dns.message.from_wire(await r1.readexactly(length)).answer
            # The idle timeout closes the first connection too.
            assert await asyncio.wait_for(r1.read(), 3) == b""
            for w in (w1, w2):
                w.close()
            # After the flood, UDP answers again.
            answer = await dns.asyncquery.udp(dns.message.make_query("sml.local.test.", "SOA"), "127.0.0.1",
                                              port=server.port, timeout=2)
            assert answer.answer

    asyncio.run(main())
