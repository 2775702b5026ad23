"""`peppol-node lookup` and `peppol-node smp inspect`, run as real processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.smp.network import ZONE, local_network
from ubl import BIS_BILLING_CREDIT_NOTE, ParticipantId

PC = "peppol-commons/smp/"


def g2_trust_args(testdata: Path, which: str) -> list[str]:
    folder = testdata / "peppol-commons/derived-pem" / {"prod": "prod-truststore", "test": "pilot-truststore"}[which]
    args: list[str] = []
    for pem in sorted(folder.glob("peppol_*.pem")):
        args += ["--trust", str(pem)]
    return args


def inspect(testdata: Path, name: str, *extra: str) -> tuple[int, dict]:
    result = run_cli("smp", "inspect", str(testdata / name), *extra)
    return result.returncode, json.loads(result.stdout)


def test_inspect_valid_answer(testdata: Path) -> None:
    code, out = inspect(testdata, PC + "signed-service-metadata2.xml", "--at", "2021-01-01T00:00:00Z",
                        *g2_trust_args(testdata, "prod"))
    assert code == 0 and out["valid"] is True
    assert out["signer_trusted"]["seat_id"] == "PNO000070"
    assert out["signature"]["legacy_algorithm"] is True
    assert out["content"]["participant"].startswith("iso6523-actorid-upis::")


def test_inspect_tampered_answer(testdata: Path) -> None:
    code, out = inspect(testdata, PC + "signed-service-metadata1.xml", "--at", "2021-01-01T00:00:00Z",
                        *g2_trust_args(testdata, "prod"))
    assert code == 1 and out["valid"] is False and out["signature"]["reason"] == "invalid"


def test_inspect_expired_signer_is_not_valid(testdata: Path) -> None:
    code, out = inspect(testdata, PC + "signed-service-metadata2.xml", *g2_trust_args(testdata, "prod"))
    assert code == 1 and out["valid"] is False


def test_inspect_g2_answer_is_untrusted_under_the_builtin_g3_set(testdata: Path) -> None:
    code, out = inspect(testdata, PC + "signed-service-metadata2.xml", "--at", "2021-01-01T00:00:00Z")
    assert code == 1 and out["signature"]["valid"] is True and out["signer_trusted"]["trusted"] is False


def test_inspect_reports_endpoint_dates(testdata: Path) -> None:
    code, out = inspect(testdata, "vefa-peppol/smp/busdox-servicemetadata-0192-923829644-3.xml",
                        "--at", "2022-06-01T00:00:00Z", *g2_trust_args(testdata, "test"))
    assert code == 0
    endpoint = out["content"]["processes"][0]["endpoints"][0]
    assert endpoint["active"] is False and endpoint["inactive_reason"] == "not-yet-active"


def test_inspect_service_group_and_garbage(testdata: Path, tmp_path: Path) -> None:
    code, out = inspect(testdata, "vefa-peppol/smp/busdox-servicegroup-0192-991825827.xml")
    assert code == 0 and out["kind"] == "ServiceGroup" and len(out["document_types"]) == 9
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<oops")
    result = run_cli("smp", "inspect", str(bad))
    assert result.returncode == 1 and json.loads(result.stdout)["valid"] is False


def test_lookup_through_our_sml_and_smp(tmp_path: Path) -> None:
    pid = ParticipantId.parse("0088:5798000000001")

    async def scenario() -> tuple[dict, int, dict, int, dict, int]:
        async with local_network(tmp_path) as net:
            await net.publish(pid, address="https://ap.example.test/as4")
            common = ["--zone", ZONE.label, "--dns", net.dns_address, "--trust-smp", str(net.trust_file),
                      "--tls-ca", str(net.tls_ca_file)]
            ok = await asyncio.to_thread(run_cli, "lookup", "0088:5798000000001", *common)
            other_doc = await asyncio.to_thread(run_cli, "lookup", str(pid), "--doctype", str(BIS_BILLING_CREDIT_NOTE),
                                                *common)
            missing = await asyncio.to_thread(run_cli, "lookup", "0088:9999999999999", *common)
            return (json.loads(ok.stdout), ok.returncode, json.loads(other_doc.stdout), other_doc.returncode,
                    json.loads(missing.stdout), missing.returncode)

    ok, ok_code, other, other_code, missing, missing_code = asyncio.run(scenario())
    assert ok_code == 0 and ok["found"] is True
    assert ok["endpoint_url"] == "https://ap.example.test/as4"
    assert ok["transport_profile"] == "peppol-transport-as4-v2_0"
    assert ok["certificate"]["seat_id"] == "PXX000002"
    assert ok["smp_url"].startswith("https://127.0.0.1:")
    assert other_code == 1 and other["error"]["stage"] == "smp" and other["error"]["type"] == "ParticipantNotFound"
    assert missing_code == 1 and missing["error"]["stage"] == "dns"
    assert missing["error"]["type"] == "ParticipantNotRegistered" and missing["error"]["retryable"] is False


def test_lookup_rejects_a_bad_participant_id() -> None:
    result = run_cli("lookup", "not-a-pid")
    assert result.returncode == 2 and json.loads(result.stdout)["error"]["stage"] == "input"
