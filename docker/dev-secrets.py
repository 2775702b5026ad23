#!/usr/bin/env python3
"""Make the secrets docker/compose.yaml mounts, for trying the stack out: a test PKI and random passwords.

    python docker/dev-secrets.py [--out docker/secrets] [--host node-a.localhost ...]

Writes (never over an existing folder, so a rerun cannot silently rotate keys):
  pki/                      the test PKI itself, CA keys included: stays on this machine, never mounted
  trust.pem                 root + AP CA + SMP CA: the nodes' trust set (PEPPOL_PKI_TRUST=files)
  tls-ca.cert.pem           the CA that signed the proxy's certificate (for curl --cacert)
  proxy.cert.pem/.key.pem   the proxy's TLS certificate for every --host
  postgres_password
  node-a/, node-b/          ap.*.pem, smp.*.pem (seat PXX000001 / PXX000002), db_password,
                            database_url (postgresql://node_a:<password>@db:5432/node_a), web_secret_key

Docker Compose bind-mounts file secrets with their host owner and mode, and the node runs as
uid 10001, so the files are made world-readable and the folder itself private (0700) instead.
For production, put the real AP certificate (PKCS#12 or PEM) and passwords in these places.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

import certs

NODES = {"node-a": "PXX000001", "node-b": "PXX000002"}


def make_secrets(out: Path, hosts: list[str], *, db_host: str = "db", db_port: int = 5432,
                 role_prefix: str = "") -> Path:
    """Create the secrets folder `out`; returns it. Raises FileExistsError if it exists.

    `role_prefix` goes before each node's database role and database name (tests use it to
    stay apart on a shared server; compose uses none).
    """
    out.mkdir(parents=True, exist_ok=False)
    out.chmod(0o700)
    pki = certs.TestPki.generate(out / "pki")
    (out / "trust.pem").write_bytes(pki.trust_pem())
    (out / "tls-ca.cert.pem").write_bytes(certs.certificate_pem(pki.tls_ca.cert))
    pki.issue_tls(*hosts).write(out, "proxy")
    (out / "postgres_password").write_text(secrets.token_urlsafe(24) + "\n")
    for name, seat in NODES.items():
        node = out / name
        node.mkdir()
        pki.issue_ap(seat).write(node, "ap")
        pki.issue_smp(seat).write(node, "smp")
        role = role_prefix + name.replace("-", "_")
        password = secrets.token_urlsafe(24)
        (node / "db_password").write_text(password + "\n")
        (node / "database_url").write_text(f"postgresql://{role}:{password}@{db_host}:{db_port}/{role}\n")
        (node / "web_secret_key").write_text(secrets.token_urlsafe(32) + "\n")
    for path in out.rglob("*"):
        if path.is_file() and "pki" not in path.relative_to(out).parts:
            path.chmod(0o644)
        elif path.is_dir() and path.name != "pki":
            path.chmod(0o755)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "secrets")
    parser.add_argument("--host", action="append", dest="hosts",
                        help="a host name the proxy serves (default: node-a.localhost, node-b.localhost)")
    args = parser.parse_args(argv)
    try:
        out = make_secrets(args.out, args.hosts or ["node-a.localhost", "node-b.localhost"])
    except FileExistsError:
        print(f"{args.out} exists already: remove it first to make new keys", file=sys.stderr)
        return 1
    print(f"secrets written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
