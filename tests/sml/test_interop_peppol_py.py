"""peppol-py (an independent SML/SMP client) finds participants through our DNS server.

An SMP registers a participant at our local SML through SmlClient over mutual
TLS; peppol-py 1.2.x, with only its resolver pointed at our DnsServer, resolves
the participant's U-NAPTR record in its own (OpenPeppol test) zone and arrives at
the SMP URL we registered. The SMP step itself belongs to the smp/ tests.
"""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from sml import DnsServer, LocalSml, MemorySmlStore, Zone
from sml.client import SmlClient, mtls_context
from sml.https import HttpsServer
from tests.interop_peers.fixtures import INVOICE_DOCTYPE, peer_venv  # noqa: F401  (pytest fixture)
from tests.sml.test_client_server import _app, pki  # noqa: F401  (pytest fixture)

pytestmark = pytest.mark.interop


def test_peppol_py_resolves_a_participant_registered_at_our_sml(peer_venv, pki):  # noqa: F811
    smp_url = "http://127.0.0.1:9/smp"  # nothing listens: the SMP step is not this test's subject

    async def main():
        store = MemorySmlStore()
        local = LocalSml(store, Zone.TEST)
        async with HttpsServer(_app(local), certfile=pki["server_cert"], keyfile=pki["server_key"],
                               client_ca=pki["client_ca"]) as sml_server, DnsServer(Zone.TEST, store) as dns_server:
            ctx = mtls_context(cert=pki["smp1_cert"], key=pki["smp1_key"], ca=pki["tls_ca"])
            async with httpx2.AsyncClient(verify=ctx, timeout=10) as http:
                client = SmlClient(sml_server.url + "/edelivery-sml", "SMP-ONE", http=http)
                await client.create_smp(smp_url, "127.0.0.1")
                await client.create_participant("iso6523-actorid-upis::0088:123ABC")

            def lookup(participant: str) -> dict:
                return peer_venv.run_json(
                    "peppol_py_driver.py", "lookup", "--participant", participant, "--doctype", INVOICE_DOCTYPE,
                    "--dns", dns_server.address, "--timeout", "2",
                )

            # peppol-py blocks; our DNS server runs on this event loop.
            found = await asyncio.to_thread(lookup, "iso6523-actorid-upis::0088:123abc")
            missing = await asyncio.to_thread(lookup, "0088:nobody")
            return found, missing

    found, missing = asyncio.run(main())
    assert found["smp_url"] == f"{smp_url}/iso6523-actorid-upis::0088:123abc", found
    assert missing["found"] is False and "smp_url" not in missing
    assert missing["error"]["code"] == "dns-error" and missing["error"]["temporary"] is False
