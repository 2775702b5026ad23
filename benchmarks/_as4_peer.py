"""The PyPI `as4` package's full in-process exchange rate, the yardstick in benchmarks/as4_exchange.py.

One exchange, as for our core: build+sign+encrypt -> parse+verify+decrypt -> receipt -> receipt
verified, all with the `as4` package's own public API (tests/interop_peers/as4_driver.py `bench`),
on RSA-2048 keys from our test PKI. It runs in the peers' cached venv (PyPI's `as4` and ours share
an import name), as a subprocess, so its figure excludes interpreter start-up but not its warm-up.

Same payload: `as4` always wraps a business document in an SBDH of its own, so given a whole SBD it
is handed the document inside; the SBD it then seals is the same size within a few hundred bytes.

    python benchmarks/_as4_peer.py [PAYLOAD.xml] [--seconds 5]      # prints the figure alone
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.interop_peers.fixtures import (  # noqa: E402  (needs REPO on sys.path)
    BILLING_PROCESS,
    INVOICE_DOCTYPE,
    RECEIVER_PID,
    SENDER_PID,
    invoice,
)
from tests.interop_peers.venv import ensure_peer_venv  # noqa: E402

__all__ = ["as4_package_exchange_rate", "as4_package_benchmark", "as4_package_cpu_ms"]


def as4_package_benchmark(payload: bytes, seconds: float = 5.0) -> dict:
    """Run the `as4` package's exchange loop for about `seconds`; the driver's JSON result.

    Keys: exchanges, seconds, exchanges_per_second, payload_bytes (of the document it sealed).
    """
    import certs

    venv = ensure_peer_venv()
    with tempfile.TemporaryDirectory(prefix="as4-peer-bench-") as tmp:
        directory = Path(tmp)
        pki = certs.TestPki.generate(directory / "pki")
        sender_key, sender_cert = pki.issue_ap("POP000001").write(directory, "sender")
        receiver_key, receiver_cert = pki.issue_ap("POP000002").write(directory, "receiver")
        payload_file = directory / "payload.xml"
        payload_file.write_bytes(payload)
        result = venv.run_json(
            "as4_driver.py", "bench",
            "--key", str(sender_key), "--cert", str(sender_cert),
            "--receiver-key", str(receiver_key), "--receiver-cert", str(receiver_cert),
            "--trust", str(directory / "pki" / "root.cert.pem"),
            "--intermediate", str(directory / "pki" / "ap-ca.cert.pem"),
            "--payload", str(payload_file),
            "--sender", SENDER_PID, "--recipient", RECEIVER_PID,
            "--doctype", INVOICE_DOCTYPE, "--process", BILLING_PROCESS,
            "--seconds", str(seconds),
            timeout=seconds * 10 + 120,
        )
    if result.get("_exit_code") != 0 or "exchanges_per_second" not in result:
        raise RuntimeError(f"as4 package benchmark failed: {result}")
    return result


def as4_package_exchange_rate(payload: bytes, seconds: float = 5.0) -> float:
    """Full exchanges per second of the PyPI `as4` package on `payload` (a UBL document or an SBD)."""
    return float(as4_package_benchmark(payload, seconds)["exchanges_per_second"])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def as4_package_cpu_ms(payload: bytes, seconds: float = 5.0) -> tuple[float, dict]:
    """CPU milliseconds per exchange of the `as4` package, and the long run's driver result.

    Wall-clock rates on a shared machine measure the CPU share a process got as much as its speed.
    The driver runs as a child process, so its CPU time is the children's rusage; a second, minimal
    run (warm-up plus three exchanges) is subtracted, which removes interpreter start-up, imports and
    key loading and leaves the CPU time of the extra exchanges alone. The peers' venv is built first,
    outside both readings: on a new machine its pip install is a child too, and counted inside the
    short run it made the figure negative.
    """
    ensure_peer_venv()
    before = _children_cpu()
    short = as4_package_benchmark(payload, 0)
    middle = _children_cpu()
    long = as4_package_benchmark(payload, seconds)
    after = _children_cpu()
    extra = long["exchanges"] - short["exchanges"]
    if extra <= 0:
        raise RuntimeError("the as4 package did not run longer in the long run; raise --seconds")
    return ((after - middle) - (middle - before)) * 1000 / extra, long


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("payload", nargs="?", type=Path, help="UBL document or SBD (default: a small invoice)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    payload = args.payload.read_bytes() if args.payload else invoice()
    result = as4_package_benchmark(payload, args.seconds)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
    print(f"as4 package (PyPI as4 0.2.0), in process: {result['exchanges_per_second']:.1f} exchanges/s "
          f"({result['exchanges']} in {result['seconds']:.1f} s, {result['payload_bytes']} byte document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
