"""Publishing participants to an existing DNS server with RFC 2136 dynamic updates.

The production option of a local SML: instead of (or besides) our embedded
`DnsServer`, the zone lives on a real primary (Knot DNS, BIND 9, PowerDNS...)
and the SML sends it signed updates (TSIG, RFC 8945):

    publisher = Rfc2136Publisher(zone, "10.0.0.53:53", key_name="sml-key", secret=b64)
    LocalSml(store, zone, publisher=publisher)

Each participant is one NAPTR RRset at `<hash>.<scheme>.<zone>`, replaced as a
whole on publish and deleted on withdraw. A refused or unanswered update raises
`DnsUpdateFailed`; the caller (the SOAP app) answers the SMP with a fault so it
can retry, and the record stays in the store.
"""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.name
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

from .dns import parse_resolver_address
from .errors import DnsUpdateFailed
from .names import Zone
from .naptr import smp_naptr

__all__ = ["Rfc2136Publisher"]

_ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class Rfc2136Publisher:
    """A `ZonePublisher` sending TSIG-signed dynamic updates to `server` (`host:port`), over TCP."""

    def __init__(
        self,
        zone: Zone | str,
        server: str,
        *,
        key_name: str,
        secret: str,
        algorithm: str = "hmac-sha256",
        ttl: int = 60,
        timeout: float = 5.0,
    ) -> None:
        self.zone = zone if isinstance(zone, Zone) else Zone(zone)
        self.host, self.port = parse_resolver_address(server)
        if algorithm not in _ALGORITHMS:
            raise ValueError(f"unsupported TSIG algorithm {algorithm!r} (use one of {', '.join(_ALGORITHMS)})")
        self.key_name = dns.name.from_text(key_name)
        self.algorithm = _ALGORITHMS[algorithm]
        self.keyring = dns.tsigkeyring.from_text({key_name: secret})
        self.ttl = ttl
        self.timeout = timeout

    def __repr__(self) -> str:  # never the secret
        return f"Rfc2136Publisher({self.zone.domain!r}, '{self.host}:{self.port}', key={self.key_name})"

    def _update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            self.zone.domain + ".", keyring=self.keyring, keyname=self.key_name, keyalgorithm=self.algorithm
        )

    async def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        try:
            response = await dns.asyncquery.tcp(update, self.host, port=self.port, timeout=self.timeout)
        except dns.exception.Timeout:
            raise DnsUpdateFailed(f"{what}: no answer from {self.host}:{self.port} in {self.timeout:g}s") from None
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsUpdateFailed(f"{what}: {type(exc).__name__}: {exc}") from None
        if response.rcode() != dns.rcode.NOERROR:
            raise DnsUpdateFailed(f"{what}: refused with {dns.rcode.to_text(response.rcode())}")

    async def publish(self, dns_label: str, smp_url: str) -> None:
        """Make `<dns_label>.<zone>` point at `smp_url` (replacing what was there)."""
        rec = smp_naptr(smp_url)
        update = self._update()
        update.replace(
            dns_label,
            self.ttl,
            "NAPTR",
            f'{rec.order} {rec.preference} "{rec.flags}" "{rec.service}" "{rec.regexp}" {rec.replacement}',
        )
        await self._send(update, f"publish {dns_label}")

    async def withdraw(self, dns_label: str) -> None:
        """Remove the participant's NAPTR records (no error if there were none)."""
        update = self._update()
        update.delete(dns_label, "NAPTR")
        await self._send(update, f"withdraw {dns_label}")
