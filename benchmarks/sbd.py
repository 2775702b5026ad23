"""SBDH envelope speed: microseconds per `ubl.build_sbd` and per `ubl.parse_sbd`.

    python benchmarks/sbd.py [--seconds S] [--big]

Payloads: the BIS Billing 3 base example from ../shared/testdata
(peppol-bis-invoice-3/examples/base-example.xml, ~9 KB; skipped if the folder is
absent) and the minimal invoice the interop tests exchange (~2.5 KB SBD, the
`invoice` payload of benchmarks/as4_exchange.py); with `--big` also its ~780 KB `big` one. Each figure is the best of five
runs of about `seconds / 5` each, in wall-clock and in process CPU microseconds;
on a shared machine the best-of CPU figure is the one to compare (issue 14).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import ubl  # noqa: E402

TESTDATA = REPO.parent / "shared" / "testdata"
AT = dt.datetime(2026, 11, 22, 10, 30, tzinfo=dt.timezone.utc)


def per_call_us(fn, seconds: float) -> tuple[float, float]:
    """(wall µs, CPU µs) per call of `fn`: the best of five runs of about `seconds / 5` each."""
    fn()
    best_wall = best_cpu = float("inf")
    for _ in range(5):
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        while True:
            for _ in range(50):
                fn()
            n += 50
            wall = time.perf_counter() - start
            if wall >= seconds / 5:
                break
        best_wall = min(best_wall, wall * 1e6 / n)
        best_cpu = min(best_cpu, (time.process_time() - cpu) * 1e6 / n)
    return best_wall, best_cpu


def payloads(big: bool) -> dict[str, bytes]:
    """Business documents (no XML declaration needed) by name."""
    from tests.interop_peers.fixtures import invoice

    found = {"minimal-invoice": invoice()}
    example = TESTDATA / "peppol-bis-invoice-3" / "examples" / "base-example.xml"
    if example.exists():
        found["bis-base-example"] = example.read_bytes()
    else:
        print(f"(BIS example not found at {example}: skipped)", file=sys.stderr)
    if big:
        from benchmarks.as4_exchange import big_payload

        # ~780 KB, > 2047 '<': build_sbd's nesting check takes its XPath path here
        found["big-invoice"] = ubl.parse_sbd(big_payload()).payload
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    parser.add_argument("--big", action="store_true", help="also the ~780 KB invoice of as4_exchange.py --payload big")
    args = parser.parse_args(argv)
    sender, receiver = ubl.ParticipantId.parse("0088:5798000000001"), ubl.ParticipantId.parse("9925:be0848934496")
    for name, payload in payloads(args.big).items():
        def build() -> bytes:
            return ubl.build_sbd(
                sender=sender, receiver=receiver, document_type_id=ubl.BIS_BILLING_INVOICE, process_id=ubl.BIS_BILLING_PROCESS,
                country_c1="BE", payload=payload, creation_time=AT,
                instance_identifier="3f0a4f5e-1111-4222-8333-444455556666")

        sbd = build()
        build_wall, build_cpu = per_call_us(build, args.seconds)
        parse_wall, parse_cpu = per_call_us(lambda: ubl.parse_sbd(sbd), args.seconds)
        print(f"{name} ({len(payload)} B payload, {len(sbd)} B SBD): "
              f"build_sbd {build_cpu:.1f} µs CPU ({build_wall:.1f} wall), "
              f"parse_sbd {parse_cpu:.1f} µs CPU ({parse_wall:.1f} wall)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
