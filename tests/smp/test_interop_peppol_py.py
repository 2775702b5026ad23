"""peppol-py's own SML/SMP client finds our node's AS4 endpoint through our DNS server and our SMP.

Only peppol-py's resolver address is pointed at our DnsServer (the driver's one
change); its NAPTR handling, its SMP HTTP requests (unencoded path, then our
ServiceGroup's hrefs) and its XML reading are its own. requests is told to trust
our local TLS CA (REQUESTS_CA_BUNDLE), as it would trust a public CA for a real SMP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.interop_peers.fixtures import INVOICE_DOCTYPE, peer_venv  # noqa: F401  (pytest fixture)
from tests.smp.network import local_network
from ubl import BIS_BILLING_INVOICE, ParticipantId

pytestmark = pytest.mark.interop


def test_peppol_py_finds_our_endpoint(peer_venv, tmp_path: Path) -> None:  # noqa: F811
    pid = ParticipantId.parse("0088:123abc")
    assert str(BIS_BILLING_INVOICE) == INVOICE_DOCTYPE

    async def main() -> tuple[dict, dict, str, str]:
        async with local_network(tmp_path) as net:
            await net.publish(pid, address="https://our-node.example.test/as4")

            def lookup(participant: str, doctype: str) -> dict:
                return peer_venv.run_json(
                    "peppol_py_driver.py", "lookup", "--participant", participant, "--doctype", doctype,
                    "--dns", net.dns_address, "--timeout", "5",
                    env={"REQUESTS_CA_BUNDLE": str(net.tls_ca_file)},
                )

            found = await asyncio.to_thread(lookup, "0088:123ABC", INVOICE_DOCTYPE)
            other = await asyncio.to_thread(lookup, "0088:123abc", INVOICE_DOCTYPE.replace("Invoice", "CreditNote"))
            from certs import certificate_pem

            return found, other, net.smp_url, certificate_pem(net.ap.cert).decode()

    found, other, smp_url, ap_pem = asyncio.run(main())
    assert found["_exit_code"] == 0, found
    assert found["smp_url"] == f"{smp_url}/iso6523-actorid-upis::0088:123ABC"
    assert found["found"] is True
    assert found["transport_profile"] == "peppol-transport-as4-v2_0"
    assert found["endpoint_url"] == "https://our-node.example.test/as4"
    # peppol-py hands back the endpoint certificate as PEM: it must be our AP's
    def body(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)

    assert body(found["certificate"]) == body(ap_pem)
    assert other["found"] is False and other["error"]["code"] == "not-found-in-smp"
