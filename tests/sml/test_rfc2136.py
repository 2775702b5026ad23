"""RFC 2136 + TSIG updates against a real Knot DNS from Debian (installed if absent)."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from sml import DnsUpdateFailed, InternalErrorFault, LocalSml, MemorySmlStore, ParticipantNotRegistered, Zone, lookup_smp_url
from sml.local import dns_label
from sml.rfc2136 import Rfc2136Publisher
from ubl import ParticipantId

pytestmark = [pytest.mark.interop, pytest.mark.slow]

ZONE = Zone("sml.knot.test")


def _knotd() -> str:
    path = shutil.which("knotd") or ("/usr/sbin/knotd" if os.path.exists("/usr/sbin/knotd") else None)
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Knot DNS (knotd) is not installed and cannot be installed here (needs root and apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = subprocess.run(["apt-get", "install", "-y", "-q", "knot"], capture_output=True, text=True, env=env)
    if install.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        install = subprocess.run(["apt-get", "install", "-y", "-q", "knot"], capture_output=True, text=True, env=env)
    if install.returncode != 0:
        pytest.fail(f"apt-get install knot failed: {install.stderr[-2000:]}")
    return shutil.which("knotd") or "/usr/sbin/knotd"


def _free_port() -> int:
    # A port free for both UDP and TCP.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no free port")


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    """A Knot DNS primary for ZONE on 127.0.0.1, accepting updates signed with a fresh TSIG key."""
    knotd = _knotd()
    directory: Path = tmp_path_factory.mktemp("knot")
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    port = _free_port()
    (directory / f"{ZONE.domain}.zone").write_text(
        f"$ORIGIN {ZONE.domain}.\n$TTL 60\n"
        f"@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n"
    )
    (directory / "knot.conf").write_text(
        f"""server:
    rundir: "{directory}"
    listen: 127.0.0.1@{port}
database:
    storage: "{directory}"
log:
  - target: stderr
    any: warning
key:
  - id: sml-key
    algorithm: hmac-sha256
    secret: {secret}
acl:
  - id: sml-update
    key: sml-key
    action: update
template:
  - id: default
    storage: "{directory}"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: {ZONE.domain}
    file: "{ZONE.domain}.zone"
    acl: sml-update
"""
    )
    proc = subprocess.Popen(
        [knotd, "-c", str(directory / "knot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"knotd exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                answer = dns.query.udp(dns.message.make_query(ZONE.domain + ".", "SOA"), "127.0.0.1", port=port, timeout=0.5)
                if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                    break
            except (dns.exception.Timeout, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("knotd did not start answering within 20 s")
            time.sleep(0.1)
        yield {"address": f"127.0.0.1:{port}", "secret": secret}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_publish_and_withdraw_on_knot(knot):
    async def main():
        publisher = Rfc2136Publisher(ZONE, knot["address"], key_name="sml-key", secret=knot["secret"])
        assert knot["secret"] not in repr(publisher)
        pid = ParticipantId.parse("0088:123abc")
        label = dns_label(pid)
        await publisher.publish(label, "https://smp.one.example/")
        assert await lookup_smp_url(pid, ZONE, resolver=knot["address"]) == "https://smp.one.example/"
        await publisher.publish(label, "https://smp.two.example/")  # replaces, not adds
        answer = await dns.asyncquery.tcp(
            dns.message.make_query(f"{label}.{ZONE.domain}.", "NAPTR"), "127.0.0.1", port=int(knot["address"].split(":")[1])
        )
        assert len(answer.answer) == 1 and len(answer.answer[0]) == 1
        assert await lookup_smp_url(pid, ZONE, resolver=knot["address"]) == "https://smp.two.example/"
        await publisher.withdraw(label)
        with pytest.raises(ParticipantNotRegistered):
            await lookup_smp_url(pid, ZONE, resolver=knot["address"])
        await publisher.withdraw(label)  # idempotent

    asyncio.run(main())


def test_wrong_key_is_refused(knot):
    async def main():
        wrong = Rfc2136Publisher(
            ZONE, knot["address"], key_name="sml-key", secret=base64.b64encode(b"x" * 32).decode()
        )
        with pytest.raises(DnsUpdateFailed, match="BadSignature"):
            await wrong.publish("abc.iso6523-actorid-upis", "https://evil.example/")
        unknown = Rfc2136Publisher(ZONE, knot["address"], key_name="other-key", secret=knot["secret"])
        with pytest.raises(DnsUpdateFailed, match="BadKey"):
            await unknown.publish("abc.iso6523-actorid-upis", "https://evil.example/")
        other_zone = Rfc2136Publisher("not.served.test", knot["address"], key_name="sml-key", secret=knot["secret"])
        with pytest.raises(DnsUpdateFailed):
            await other_zone.publish("abc.iso6523-actorid-upis", "https://evil.example/")
        pid = ParticipantId.parse("0088:abc")
        with pytest.raises(ParticipantNotRegistered):
            await lookup_smp_url(pid, ZONE, resolver=knot["address"])

    asyncio.run(main())


def test_local_sml_publishes_through_knot(knot):
    async def main():
        publisher = Rfc2136Publisher(ZONE, knot["address"], key_name="sml-key", secret=knot["secret"])
        local = LocalSml(MemorySmlStore(), ZONE, publisher=publisher)
        a, b = ParticipantId.parse("9915:test"), ParticipantId.parse("0088:5798000000001")
        await local.create_smp("o1", "SMP1", "https://smp1.example/", "192.0.2.1")
        await local.create_smp("o2", "SMP2", "https://smp2.example/", "192.0.2.2")
        await local.create_participant("o1", "SMP1", a)
        await local.create_participant("o1", "SMP1", b)
        assert await lookup_smp_url(a, ZONE, resolver=knot["address"]) == "https://smp1.example/"
        await local.update_smp("o1", "SMP1", "https://smp1-moved.example/", "192.0.2.1")
        assert await lookup_smp_url(b, ZONE, resolver=knot["address"]) == "https://smp1-moved.example/"
        key = "Mig1!Mig2#"
        await local.prepare_to_migrate("o1", "SMP1", a, key)
        await local.migrate("o2", "SMP2", a, key)
        assert await lookup_smp_url(a, ZONE, resolver=knot["address"]) == "https://smp2.example/"
        await local.delete_participant("o2", "SMP2", a)
        await local.delete_smp("o1", "SMP1")
        for pid in (a, b):
            with pytest.raises(ParticipantNotRegistered):
                await lookup_smp_url(pid, ZONE, resolver=knot["address"])

    asyncio.run(main())


def test_unreachable_server_fails_cleanly():
    async def main():
        port = _free_port()
        publisher = Rfc2136Publisher(ZONE, f"127.0.0.1:{port}", key_name="k", secret=base64.b64encode(b"k" * 32).decode(), timeout=1)
        with pytest.raises(DnsUpdateFailed):
            await publisher.publish("x.iso6523-actorid-upis", "https://smp.example/")
        # The local SML answers a retryable fault and keeps store and DNS in step.
        store = MemorySmlStore()
        local = LocalSml(store, ZONE, publisher=publisher)
        await local.create_smp("o", "SMP", "https://smp.example/", "192.0.2.1")
        pid = ParticipantId.parse("0088:1")
        with pytest.raises(InternalErrorFault) as info:
            await local.create_participant("o", "SMP", pid)
        assert info.value.code == "ERR-105"
        assert store.get_participant(str(pid)) is None
        # Registered while DNS worked (no publisher), then DNS breaks: the change is undone.
        await LocalSml(store, ZONE).create_participant("o", "SMP", pid)
        with pytest.raises(InternalErrorFault):
            await local.update_smp("o", "SMP", "https://moved.example/", "192.0.2.1")
        assert store.get_smp("SMP").logical_address == "https://smp.example/"
        with pytest.raises(InternalErrorFault):
            await local.delete_participant("o", "SMP", pid)
        assert store.get_participant(str(pid)) is not None
        with pytest.raises(InternalErrorFault):
            await local.delete_smp("o", "SMP")
        assert store.get_smp("SMP") is not None

    asyncio.run(main())
