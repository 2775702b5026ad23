"""Creating a node directory on the embedded defaults.

`init_node` writes everything a node needs to run on one machine with nothing
else installed: node.toml, a test PKI mirroring Peppol G3 with the node's AP,
SMP and TLS certificates issued from it, and a migrated SQLite database.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import certs
from accesspoint import db
from accesspoint.config import CONFIG_FILE, DEFAULT_SEAT, load_settings

__all__ = ["InitError", "init_node", "DEFAULT_SEAT"]



class InitError(Exception):
    pass


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    *, seat_id: str, name: str, port: int, zone: str, sml_local: bool, dns: str, dns_port: int, soap_port: int,
    management_url: str, smtp_port: int,
) -> str:
    return f"""# peppol-node configuration. Relative paths are relative to this directory.
# Every key can be overridden by an environment variable PEPPOL_<SECTION>_<KEY>,
# e.g. PEPPOL_DATABASE_URL=postgresql://user@host/db

[node]
name = {_toml_str(name)}
seat_id = {_toml_str(seat_id)}
mode = "test"                       # "test" or "production"
public_url = "https://127.0.0.1:{port}"

[database]
url = "sqlite:///node.db"           # or postgresql://user:password@host:5432/db

[pki]
trust = "local"                     # local | test | production | files
local_pki_dir = "pki"
ap_key = "keys/ap.key.pem"
ap_cert = "keys/ap.cert.pem"
smp_key = "keys/smp.key.pem"
smp_cert = "keys/smp.cert.pem"
tls_key = "keys/tls.key.pem"
tls_cert = "keys/tls.cert.pem"

[revocation]
enabled = true
# soft_fail = true                  # default: soft in test mode, hard in production

[http]
host = "127.0.0.1"
port = {port}

[sml]
zone = {_toml_str(zone)}              # production | test | test-ec | a custom zone
local = {str(sml_local).lower()}                        # run a local SML (SOAP API + DNS) in this node
dns_port = {dns_port}                      # local SML: DNS (UDP+TCP) on 127.0.0.1
soap_port = {soap_port}                     # local SML: SOAP API (HTTPS, mutual TLS with SMP certs)
dns = {_toml_str(dns)}                            # resolver for lookups, host:port; empty = the local SML's DNS
                                    # above when local = true, else the system resolver
management_url = {_toml_str(management_url)}                 # the SML our SMP registers at; empty = our local SML

[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
sender = "peppol-node@localhost"

[web]
secret_key = {_toml_str(secrets.token_urlsafe(32))}
api_token = {_toml_str(secrets.token_urlsafe(32))}
invite_ttl_days = 14
"""


def init_node(
    directory: str | Path,
    *,
    seat_id: str = DEFAULT_SEAT,
    name: str | None = None,
    port: int = 8443,
    zone: str = "local.peppol.test",
    pki_dir: str | Path | None = None,
    sml_local: bool = True,
    dns: str | None = None,
    dns_port: int | None = None,
    soap_port: int | None = None,
    management_url: str = "",
    smtp_port: int = 25,
) -> Path:
    """Create a working node in `directory`; returns its resolved path.

    `pki_dir` lets several nodes of one local network share one test PKI (each
    node gets its own certificates from it); by default each node has its own.
    """
    try:
        seat = certs.SeatId(seat_id)
    except ValueError as exc:
        raise InitError(str(exc)) from None
    directory = Path(directory).resolve()
    if (directory / CONFIG_FILE).exists():
        raise InitError(f"{directory} already holds a node ({CONFIG_FILE} exists)")
    directory.mkdir(parents=True, exist_ok=True)
    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    keys.chmod(0o700)

    pki_path = Path(pki_dir).resolve() if pki_dir else directory / "pki"
    pki = certs.TestPki.load(pki_path) if (pki_path / "pki.json").exists() else certs.TestPki.generate(pki_path)
    pki.issue_ap(seat.value).write(keys, "ap")
    pki.issue_smp(seat.value).write(keys, "smp")
    pki.issue_tls("localhost", "127.0.0.1").write(keys, "tls")
    (keys / "tls-ca.cert.pem").write_bytes(certs.certificate_pem(pki.tls_ca.cert))

    dns_port = dns_port if dns_port is not None else port + 2
    soap_port = soap_port if soap_port is not None else port + 1
    dns = dns or ""  # empty: the local SML's own DNS (dns_port) when local = true, else the system's
    text = render_config(
        seat_id=seat.value, name=name or directory.name, port=port, zone=zone, sml_local=sml_local, dns=dns,
        dns_port=dns_port, soap_port=soap_port, management_url=management_url, smtp_port=smtp_port,
    )
    if pki_dir:
        text = text.replace('local_pki_dir = "pki"', f"local_pki_dir = {_toml_str(str(pki_path))}")
    (directory / CONFIG_FILE).write_text(text, encoding="utf-8")
    (directory / CONFIG_FILE).chmod(0o600)  # it holds the web secret key and API token

    settings = load_settings(directory)
    db.migrate(settings.database_url)
    return directory
