"""Participant lookup in DNS: the I/O edge of discovery (dnspython, async).

    url = await lookup_smp_url(pid, Zone.TEST)                       # system resolver
    url = await lookup_smp_url(pid, zone, resolver="127.0.0.1:5353") # a given server

Outcomes are typed so a sender can decide: `ParticipantNotRegistered`
(NXDOMAIN / NODATA: permanent), `NoMatchingSmpService` (records, but no usable
U / Meta:SMP one: permanent), `DnsFailure` (SERVFAIL, REFUSED, timeout,
unreachable: retryable).
"""

from __future__ import annotations

import ipaddress

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from ubl import ParticipantId

from .errors import DnsFailure, NoMatchingSmpService, ParticipantNotRegistered
from .names import Zone, naptr_name
from .naptr import NaptrRecord, select_smp_url

__all__ = ["lookup_smp_url", "query_naptr", "make_resolver", "parse_resolver_address"]


def parse_resolver_address(text: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address -> (ip, port); port 53 by default."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host, port = text, 53
    ipaddress.ip_address(host)  # ValueError for a name: a resolver is given by address
    if not 0 < port < 65536:
        raise ValueError(f"bad port in resolver address {text!r}")
    return host, port


def make_resolver(resolver: str | None = None, *, timeout: float = 5.0) -> dns.asyncresolver.Resolver:
    """A dnspython resolver for `host:port`, or the system's when None."""
    if resolver is None:
        res = dns.asyncresolver.Resolver(configure=True)
    else:
        host, port = parse_resolver_address(resolver)
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
    res.lifetime = timeout
    res.timeout = timeout
    return res


async def query_naptr(
    name: str, *, resolver: str | dns.asyncresolver.Resolver | None = None, timeout: float = 5.0
) -> list[NaptrRecord]:
    """The NAPTR records at `name`; raises ParticipantNotRegistered or DnsFailure."""
    res = resolver if isinstance(resolver, dns.asyncresolver.Resolver) else make_resolver(resolver, timeout=timeout)
    plain = name.rstrip(".")
    try:
        answer = await res.resolve(plain + ".", dns.rdatatype.NAPTR, search=False, raise_on_no_answer=True)
    except dns.resolver.NXDOMAIN:
        raise ParticipantNotRegistered(f"{plain}: NXDOMAIN (participant not registered)", name=plain) from None
    except dns.resolver.NoAnswer:
        raise ParticipantNotRegistered(f"{plain}: no NAPTR record (participant not registered)", name=plain) from None
    except dns.resolver.NoNameservers as exc:
        raise DnsFailure(f"{plain}: every name server failed ({exc})", name=plain) from None
    except dns.exception.Timeout:
        raise DnsFailure(f"{plain}: DNS timeout after {timeout:g}s", name=plain) from None
    except (dns.exception.DNSException, OSError) as exc:
        raise DnsFailure(f"{plain}: DNS error: {exc}", name=plain) from None
    return [
        NaptrRecord(
            order=r.order,
            preference=r.preference,
            flags=r.flags.decode("ascii", "replace"),
            service=r.service.decode("ascii", "replace"),
            regexp=r.regexp.decode("utf-8", "replace"),
            replacement=r.replacement.to_text(),
        )
        for r in answer
    ]


async def lookup_smp_url(
    participant: ParticipantId | str,
    zone: Zone | str,
    *,
    resolver: str | dns.asyncresolver.Resolver | None = None,
    timeout: float = 5.0,
    require_https: bool = False,
) -> str:
    """The SMP base URL of `participant` in `zone` via U-NAPTR (protocol.md §6).

    `resolver` is `host:port` of the DNS server to ask (None: the system's).
    `require_https` (production: SMPs must be https since the 2024 SML switch)
    turns an http URL into NoMatchingSmpService.
    Raises ParticipantNotRegistered, NoMatchingSmpService, DnsFailure, or
    InvalidParticipant for an id without scheme.
    """
    name = naptr_name(participant, zone)
    records = await query_naptr(name, resolver=resolver, timeout=timeout)
    url = select_smp_url(records, name)
    if require_https and not url.lower().startswith("https://"):
        raise NoMatchingSmpService(f"{name}: SMP URL {url!r} is not https", name=name)
    return url
