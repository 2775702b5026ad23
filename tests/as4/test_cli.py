"""`peppol-node as4 send|receive|inspect` as real processes, over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

import as4
import certs
from tests.conftest import REPO, run_cli
from tests.as4.conftest import make_sbd


@pytest.fixture(scope="module")
def files(aps, tmp_path_factory):
    d = tmp_path_factory.mktemp("as4cli")
    sender_key, sender_cert = aps.sender.write(d, "sender")
    _, receiver_cert = aps.receiver.write(d, "receiver")
    p12 = d / "receiver.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"receiver", aps.receiver.key, aps.receiver.cert, None,
        serialization.BestAvailableEncryption(b"secret")))
    trust = d / "trust.pem"
    trust.write_bytes(aps.pki.trust_pem())
    tls = aps.pki.issue_tls("127.0.0.1", "localhost")
    tls_key, tls_cert = tls.write(d, "tls")
    tls_ca = d / "tls-ca.pem"
    tls_ca.write_bytes(certs.certificate_pem(aps.pki.tls_ca.cert))
    sbd = d / "sbd.xml"
    sbd.write_bytes(make_sbd("cli-1"))
    return {"dir": d, "sender_key": sender_key, "sender_cert": sender_cert, "receiver_cert": receiver_cert,
            "p12": p12, "trust": trust, "tls_key": tls_key, "tls_cert": tls_cert, "tls_ca": tls_ca, "sbd": sbd}


@pytest.fixture(scope="module")
def server(files):
    store = files["dir"] / "store"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "accesspoint.cli", "as4", "receive", "--listen", "127.0.0.1:0",
         "--key", str(files["p12"]), "--key-password", "secret", "--trust", str(files["trust"]),
         "--store", str(store), "--tls-cert", str(files["tls_cert"]), "--tls-key", str(files["tls_key"]),
         "--accept", "0088:2222222222222", "0088:9482348239847239874"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        info = json.loads(line)
        assert info["url"].startswith("https://127.0.0.1:")
        yield {"url": info["url"], "store": store, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def send(files, url, doc, *extra):
    result = run_cli("as4", "send", url, str(doc), "--key", str(files["sender_key"]),
                     "--cert", str(files["sender_cert"]), "--receiver-cert", str(files["receiver_cert"]),
                     "--trust", str(files["trust"]), "--tls-ca", str(files["tls_ca"]), *extra)
    return result, json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None


def stored_folders(store: Path):
    return sorted(p for p in store.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_send_an_sbd_over_https_and_get_a_verified_receipt(files, server):
    result, out = send(files, server["url"], files["sbd"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert out["outcome"] == "delivered" and out["receipt"] == "verified" and out["http_status"] == 200
    folders = stored_folders(server["store"])
    assert len(folders) == 1
    assert (folders[0] / "sbd.xml").read_bytes() == files["sbd"].read_bytes()
    # the same SBD again (same InstanceIdentifier, new MessageId): receipt, but nothing written
    result, out = send(files, server["url"], files["sbd"])
    assert result.returncode == 0 and out["receipt"] == "verified"
    assert len(stored_folders(server["store"])) == 1


def test_send_a_ubl_invoice_wrapped_from_its_own_ids(files, server, testdata):
    invoice = testdata / "peppol-bis-invoice-3/examples/base-example.xml"
    result, out = send(files, server["url"], invoice, "--to", "0088:9482348239847239874",
                       "--from", "0002:FR23342")
    assert result.returncode == 0, result.stdout + result.stderr
    assert out["outcome"] == "delivered"


def test_unserved_recipient_is_rejected_with_not_serviced(files, server):
    doc = files["dir"] / "other.xml"
    doc.write_bytes(make_sbd("cli-2", receiver="0088:9999999999999"))
    result, out = send(files, server["url"], doc)
    assert result.returncode == 1
    assert out["outcome"] == "rejected" and out["error"]["code"] == "EBMS:0004"


def test_untrusted_tls_fails_without_a_receipt(files, server):
    result = run_cli("as4", "send", server["url"], str(files["sbd"]), "--key", str(files["sender_key"]),
                     "--cert", str(files["sender_cert"]), "--receiver-cert", str(files["receiver_cert"]),
                     "--attempts", "1")
    assert result.returncode == 1
    assert json.loads(result.stdout)["outcome"] == "failed"


def test_plain_http_only_to_loopback(files):
    result = run_cli("as4", "send", "http://192.0.2.10/as4", str(files["sbd"]), "--key", str(files["sender_key"]),
                     "--cert", str(files["sender_cert"]), "--receiver-cert", str(files["receiver_cert"]))
    assert result.returncode == 2 and "loopback" in json.loads(result.stdout)["error"]


def test_inspect_our_message_with_and_without_the_key(files, aps, now):
    out = as4.build_user_message(make_sbd("cli-3"), key=aps.sender.key, cert=aps.sender.cert,
                                 receiver_cert=aps.receiver.cert, at=now)
    body, headers = files["dir"] / "msg.bin", files["dir"] / "msg.headers"
    body.write_bytes(out.body)
    headers.write_text(f"Content-Type: {out.content_type}\r\n")
    plain = run_cli("as4", "inspect", str(body), "--headers", str(headers), "--trust", str(files["trust"]))
    assert plain.returncode == 0, plain.stdout
    assert json.loads(plain.stdout)["decrypted"] is False
    full = run_cli("as4", "inspect", str(body), "--headers", str(headers), "--trust", str(files["trust"]),
                   "--key", str(files["p12"]), "--key-password", "secret")
    report = json.loads(full.stdout)
    assert full.returncode == 0, full.stdout
    assert report["decrypted"] is True and report["sbdh"]["instance_identifier"] == "cli-3"


def test_inspect_real_receipts(testdata):
    pilot = sorted((testdata / "peppol-commons/derived-pem/pilot-truststore").glob("*.pem"))
    trust = [a for p in pilot for a in ("--trust", str(p))]
    good = run_cli("as4", "inspect", str(testdata / "phase4/peppol-client/verify/helger.as4in"), *trust)
    assert good.returncode == 0, good.stdout
    assert json.loads(good.stdout)["seat_id"] == "POP000306"
    bad = run_cli("as4", "inspect", str(testdata / "phase4/peppol-client/verify/dataport1.as4in"), *trust)
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "EBMS:0101"
    dump = run_cli("as4", "inspect", str(testdata / "phase4/peppol-client/dump-raw.as4out"),
                   "--key", str(testdata / "phase4/derived-pem/peppol-expired-ap-cert/cert.p12"),
                   "--key-password", "peppol")
    assert dump.returncode == 1 and json.loads(dump.stdout)["error"]["code"] == "EBMS:0102"
