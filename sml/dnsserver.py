"""The authoritative DNS server of a local SML zone (UDP and TCP, dnspython).

It answers, for `<hash>.<scheme>.<zone>`, the U-NAPTR record pointing at the
participant's SMP (`100 10 "U" "Meta:SMP" "!^.*$!<smp url>!" .`), NXDOMAIN for
names it does not know (with the SOA, for negative caching, RFC 2308), NODATA
for other types of known names, SOA / NS / the name server's A record at the
apex, and REFUSED outside its zone. Records are read from the `SmlStore` on
every query, so a registration is visible at once (TTL `ttl`).

`answer_query` is the pure part (wire bytes -> wire bytes, given a resolve
function); `DnsServer` is the asyncio edge:

    async with DnsServer(zone, store) as server:
        server.port          # UDP and TCP, same port, on 127.0.0.1
"""

from __future__ import annotations

import asyncio
import functools
import struct
import time
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.IN.NAPTR import NAPTR

from .names import Zone
from .naptr import smp_naptr
from .store import SmlStore

__all__ = ["DnsServer", "ZoneAnswerer"]

# RFC 1035 §4.2.1: 512 octets over UDP without EDNS.
_UDP_DEFAULT = 512
_SCHEME_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@functools.lru_cache(maxsize=4096)
def _naptr_rdata(url: str) -> NAPTR:
    """The NAPTR rdata for an SMP URL, built once per URL (parsing text per query is the slow part)."""
    rec = smp_naptr(url)
    return NAPTR(
        dns.rdataclass.IN,
        dns.rdatatype.NAPTR,
        rec.order,
        rec.preference,
        rec.flags.encode(),
        rec.service.encode(),
        rec.regexp.encode(),
        dns.name.root,
    )


class ZoneAnswerer:
    """Builds authoritative answers for one zone; `resolve(label)` gives a participant's SMP URL."""

    def __init__(self, zone: Zone | str, *, ttl: int = 60, ns_address: str = "127.0.0.1", serial: int | None = None):
        self.zone = zone if isinstance(zone, Zone) else Zone(zone)
        self.origin = dns.name.from_text(self.zone.domain)
        self.ttl = ttl
        self.ns_name = dns.name.from_text("ns1", self.origin)
        self.ns_address = ns_address
        self.serial = serial if serial is not None else int(time.time()) & 0xFFFFFFFF
        self._soa = dns.rdata.from_text(
            dns.rdataclass.IN,
            dns.rdatatype.SOA,
            f"{self.ns_name} hostmaster.{self.origin} {self.serial} 3600 600 86400 {ttl}",
        )

    def _soa_rrset(self) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(self.origin, dns.rdataclass.IN, dns.rdatatype.SOA)
        rrset.add(self._soa, self.ttl)
        return rrset

    def _rrset(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, text: str) -> dns.rrset.RRset:
        return dns.rrset.from_text(name, self.ttl, dns.rdataclass.IN, rdtype, text)

    def respond(self, query: dns.message.Message, resolve: Callable[[str], str | None]) -> dns.message.Message:
        """The answer to a parsed query; `resolve` maps a zone-relative label to an SMP URL or None."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        if question.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY) or not qname.is_subdomain(self.origin):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response

        any_type = qtype == dns.rdatatype.ANY
        if qname == self.origin:
            if qtype in (dns.rdatatype.SOA,) or any_type:
                response.answer.append(self._soa_rrset())
            if qtype == dns.rdatatype.NS or any_type:
                response.answer.append(self._rrset(qname, dns.rdatatype.NS, self.ns_name.to_text()))
            if not response.answer:
                response.authority.append(self._soa_rrset())
            return response
        if qname == self.ns_name:
            if qtype == dns.rdatatype.A or any_type:
                response.answer.append(self._rrset(qname, dns.rdatatype.A, self.ns_address))
            else:
                response.authority.append(self._soa_rrset())
            return response

        relative = qname.relativize(self.origin).to_text().lower()
        labels = relative.split(".")
        url = resolve(relative) if len(labels) == 2 else None
        if url is not None:
            if qtype == dns.rdatatype.NAPTR or any_type:
                rrset = dns.rrset.RRset(qname, dns.rdataclass.IN, dns.rdatatype.NAPTR)
                rrset.add(_naptr_rdata(url), self.ttl)
                response.answer.append(rrset)
            else:
                response.authority.append(self._soa_rrset())  # NODATA
            return response
        if len(labels) == 1 and set(labels[0]) <= _SCHEME_LABEL_CHARS and labels[0].count("-") == 2:
            # The scheme label is an empty non-terminal: NODATA, not NXDOMAIN, or
            # resolvers may infer that nothing below it exists (RFC 8020).
            response.authority.append(self._soa_rrset())
            return response
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(self._soa_rrset())
        return response

    def answer_query(self, wire: bytes, resolve: Callable[[str], str | None], *, tcp: bool) -> bytes | None:
        """Wire query -> wire answer; None for garbage that deserves no answer."""
        try:
            query = dns.message.from_wire(wire)
        except dns.message.ShortHeader:
            return None
        except dns.exception.DNSException:
            if len(wire) < 12:
                return None
            (qid, flags) = struct.unpack("!HH", wire[:4])
            if flags & 0x8000:  # a response, not a query: never answer it
                return None
            return struct.pack("!HHHHHH", qid, 0x8000 | (flags & 0x7900) | dns.rcode.FORMERR, 0, 0, 0, 0)
        if query.flags & dns.flags.QR:
            return None
        response = self.respond(query, resolve)
        limit = 65535 if tcp else max(_UDP_DEFAULT, query.payload if query.edns >= 0 else _UDP_DEFAULT)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Under a flood, drop (UDP clients retry) rather than queue without bound.
        if len(self.server._tasks) >= self.server.max_pending:
            self.server.dropped += 1
            return
        self.server._spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server._answer(data, tcp=False)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class DnsServer:
    """An authoritative server for `zone`, answering from `store` on UDP + TCP `host:port`.

    `port=0` picks a free port (the same for UDP and TCP), readable as `.port`
    once started. Use as `async with`, or `await start()` / `await close()`.
    At most `max_pending` UDP queries are answered at once (more are dropped)
    and `max_tcp_connections` TCP clients served, each idle for `tcp_idle_timeout`.
    """

    def __init__(
        self,
        zone: Zone | str,
        store: SmlStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ttl: int = 60,
        tcp_idle_timeout: float = 10.0,
        max_pending: int = 256,
        max_tcp_connections: int = 64,
    ) -> None:
        self.answerer = ZoneAnswerer(zone, ttl=ttl, ns_address=host)
        self.store = store
        self.host = host
        self.port = port
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_pending = max_pending
        self.max_tcp_connections = max_tcp_connections
        #: UDP queries dropped because `max_pending` were being answered.
        self.dropped = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        """`host:port`, as `lookup_smp_url(resolver=...)` and the CLI take it."""
        return f"{self.host}:{self.port}"

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _resolve(self, label: str) -> str | None:
        return self.store.resolve(label)

    async def _answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        # The store may be a database: keep its blocking call off the event loop.
        return await asyncio.to_thread(self.answerer.answer_query, data, self._resolve, tcp=tcp)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= self.max_tcp_connections:
            writer.close()
            return
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                    (length,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(length), self.tcp_idle_timeout)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    return
                reply = await self._answer(data, tcp=True)
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def start(self) -> DnsServer:
        loop = asyncio.get_running_loop()
        # Bind UDP first (port 0 picks one), then TCP on the same number; if that
        # number is taken for TCP, try again with a fresh one.
        last: OSError | None = None
        for _ in range(20):
            transport, _proto = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError as exc:
                transport.close()
                last = exc
                if self.port:
                    raise
                continue
            self._udp = transport  # type: ignore[assignment]
            self.port = port
            return self
        raise OSError(f"no port free for both UDP and TCP on {self.host}") from last

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._writers):
                writer.close()
            await self._tcp.wait_closed()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> DnsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
