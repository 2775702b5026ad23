"""DMARC for the intake (RFC 7489), on DKIM: is the From domain's owner behind this mail?

A whitelisted *domain* lets in anyone who writes that domain in From, so the listener asks
the domain itself: a domain that publishes a DMARC record says "mail from me carries my
signature"; a mail without a valid DKIM signature aligned with the From domain then fails.

- DKIM is verified by dkimpy (a maintained RFC 6376 implementation: canonicalisation, key
  records, l= and the rest are exactly what we should not write again), with its key lookup
  going through dnspython to the configured resolver (`[intake] dns`).
- Alignment is relaxed (adkim=r, the default) or strict as the record says. The organisational
  domain is the last two labels: right for .nl, .be, .com and every other single-label public
  suffix, too broad for suffixes like .co.uk (relaxed alignment would then accept a sibling
  domain; a strict record is unaffected). The public suffix list would fix that.
- SPF is not evaluated: behind the operator's MX, the node sees the MX as the peer, not the
  sender's server, so an SPF check here would test the wrong host. DMARC passes on an aligned
  DKIM signature alone (RFC 7489 section 4.2), so a domain that signs its mail passes; a
  domain that publishes DMARC but does not sign fails, and should be whitelisted by address.
- No DMARC record at the domain or its organisational domain: verdict `none` (the domain
  makes no promise, nothing can fail).
"""

from __future__ import annotations

import email
import email.policy
import logging

import dkim
import dns.exception
import dns.resolver

from .rules import DmarcVerdict

__all__ = ["DmarcChecker", "organisational_domain"]

log = logging.getLogger(__name__)


def organisational_domain(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    return ".".join(labels[-2:])


def _tags(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


class DmarcChecker:
    """Callable as `Intake`'s DmarcCheck: (raw mail, From domain) -> (verdict, how)."""

    def __init__(self, resolver: str = "", *, timeout: float = 5.0) -> None:
        self._resolver = dns.resolver.Resolver(configure=not resolver)
        if resolver:
            host, _, port = resolver.rpartition(":")
            self._resolver.nameservers = [host.strip("[]") or "127.0.0.1"]
            self._resolver.port = int(port)
        self._resolver.lifetime = timeout

    def _txt(self, name: str) -> list[bytes]:
        try:
            answer = self._resolver.resolve(name.rstrip("."), "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        return [b"".join(r.strings) for r in answer]

    def _dkim_key(self, name: bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's dnsfunc: the first TXT record at `name`, or None."""
        try:
            records = self._txt(name.decode("ascii"))
        except (dns.exception.DNSException, UnicodeDecodeError):
            return None
        return records[0] if records else None

    def policy(self, domain: str) -> dict[str, str] | None:
        """The DMARC record's tags for `domain` (looked up at the domain, then its organisational
        domain), or None when neither publishes one."""
        for name in dict.fromkeys((domain, organisational_domain(domain))):
            for record in self._txt(f"_dmarc.{name}"):
                text = record.decode("ascii", "replace")
                if text.lower().startswith("v=dmarc1"):
                    return _tags(text)
        return None

    def __call__(self, raw: bytes, domain: str) -> tuple[DmarcVerdict, str]:
        domain = domain.lower().rstrip(".")
        policy = self.policy(domain)
        signed = self._aligned_dkim(raw, domain, strict=(policy or {}).get("adkim", "r") == "s")
        if policy is None:
            return DmarcVerdict.NONE, f"no DMARC record for {domain}; DKIM {signed}"
        if signed.startswith("pass"):
            return DmarcVerdict.PASS, f"DMARC {domain}: DKIM {signed}"
        return DmarcVerdict.FAIL, f"DMARC {domain} (p={policy.get('p', '?')}): DKIM {signed}"

    def _aligned_dkim(self, raw: bytes, domain: str, *, strict: bool) -> str:
        """'pass (d=...)' for the first valid aligned signature, else why there is none."""
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        headers = msg.get_all("DKIM-Signature") or []
        if not headers:
            return "none (the mail is not signed)"
        seen = []
        for idx, header in enumerate(headers):
            d = _tags(str(header).replace("\r", "").replace("\n", "")).get("d", "").lower().rstrip(".")
            aligned = d == domain if strict else organisational_domain(d) == organisational_domain(domain)
            if not aligned:
                seen.append(f"d={d} not aligned")
                continue
            try:
                ok = dkim.DKIM(raw, logger=log).verify(idx=idx, dnsfunc=self._dkim_key)
            except dkim.DKIMException as exc:
                ok = False
                seen.append(f"d={d} {exc}")
            if ok:
                return f"pass (d={d})"
            seen.append(f"d={d} signature does not verify")
        return "fail (" + "; ".join(seen) + ")"
