"""Node configuration: one TOML file per node, overridden by PEPPOL_* environment variables.

A node directory holds `node.toml`; relative paths in it are relative to that
directory, so a node can be moved or mounted anywhere. Every key can be
overridden from the environment as `PEPPOL_<SECTION>_<KEY>` (upper case), e.g.
`PEPPOL_DATABASE_URL=postgresql://...` or `PEPPOL_SMTP_PASSWORD=...` - which is
how containers get their settings and secrets without editing files.

Configuration fails loudly at start-up, naming the key (`ConfigError`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "Settings",
    "NodeSettings",
    "DatabaseSettings",
    "PkiSettings",
    "RevocationSettings",
    "HttpSettings",
    "SmlSettings",
    "SmpSettings",
    "SmtpSettings",
    "WebSettings",
    "DeliverySettings",
    "ValidationSettings",
    "IntakeSettings",
    "CONFIG_FILE",
    "DEFAULT_SEAT",
    "load_settings",
]

CONFIG_FILE = "node.toml"
#: The seat id a node gets when none is given (a placeholder: real seats come from OpenPeppol).
DEFAULT_SEAT = "PXX000001"


class ConfigError(Exception):
    """The configuration is missing, unreadable or has a bad value; the message names the key."""


@dataclass(frozen=True)
class NodeSettings:
    name: str = "peppol-node"
    seat_id: str = DEFAULT_SEAT
    #: "test" or "production". Production means: built-in production trust, HTTPS-only
    #: SMP lookups and hard-fail revocation unless explicitly overridden.
    mode: str = "test"
    #: How others reach this node (AS4 endpoint = public_url + "/as4").
    public_url: str = "https://127.0.0.1:8443"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///node.db"
    #: PostgreSQL connections each process keeps open (SQLite ignores both). Enough for the
    #: concurrency one busy peer brings (it sends up to 16 messages at once, `MAX_IN_FLIGHT`):
    #: a connection opened beyond `pool_size` is closed when returned, and a new PostgreSQL
    #: connection costs a backend process start. Measured: at 5 (SQLAlchemy's default) two busy
    #: nodes opened 1,401 connections for 3,000 documents, and PostgreSQL spent 9.8 ms CPU per document.
    pool_size: int = 16
    #: Extra connections for a burst beyond `pool_size`; a thread past both waits for one.
    max_overflow: int = 8


@dataclass(frozen=True)
class PkiSettings:
    #: "local" (the node's own test PKI in `local_pki_dir`), "test" or "production"
    #: (the built-in Peppol G3 sets), or "files" (the PEM files in `trust_files`).
    trust: str = "local"
    trust_files: tuple[str, ...] = ()
    local_pki_dir: str = "pki"
    ap_key: str = "keys/ap.key.pem"
    ap_cert: str = "keys/ap.cert.pem"
    ap_key_password: str = field(default="", repr=False)
    smp_key: str = "keys/smp.key.pem"
    smp_cert: str = "keys/smp.cert.pem"
    smp_key_password: str = field(default="", repr=False)
    tls_key: str = "keys/tls.key.pem"
    tls_cert: str = "keys/tls.cert.pem"
    #: An extra CA (PEM) trusted for outbound HTTPS besides the system's, e.g. the local
    #: test PKI's TLS CA. Empty = system CAs only (production: public CAs, per Peppol).
    tls_ca: str = "keys/tls-ca.cert.pem"


@dataclass(frozen=True)
class RevocationSettings:
    enabled: bool = True
    #: None = the mode's default: soft fail in test mode, hard fail in production.
    soft_fail: bool | None = None


@dataclass(frozen=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8443
    #: Processes serving HTTP (one primary that also runs the background services, plus
    #: HTTP-only workers sharing its socket); 0 = one per core. See accesspoint.processes.
    workers: int = 0


@dataclass(frozen=True)
class SmlSettings:
    #: "production", "test", "test-ec" (legacy EC acceptance), or a custom DNS zone.
    zone: str = "local.peppol.test"
    #: Resolver to ask, "host:port"; empty = the system resolver.
    dns: str = ""
    #: Run a local SML (SOAP API + authoritative DNS) inside this node.
    local: bool = True
    #: Where the local SML answers DNS (UDP and TCP) and its SOAP API (HTTPS, mutual TLS).
    dns_host: str = "127.0.0.1"
    dns_port: int = 8053
    soap_port: int = 8444
    #: SML management endpoint this node's SMP registers participants at
    #: (empty with `local = true`: this node's own local SML).
    management_url: str = ""
    #: This SMP's id at the SML (empty = the node's seat id).
    smp_id: str = ""


@dataclass(frozen=True)
class SmpSettings:
    #: Base URL under which this node publishes its SMP (empty = [node] public_url + "/smp",
    #: where `serve` mounts it).
    url: str = ""
    write_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = "peppol-node@localhost"
    timeout: float = 30.0


@dataclass(frozen=True)
class WebSettings:
    secret_key: str = field(default="", repr=False)
    invite_ttl_days: int = 14
    #: Used in links in emails (invites, documents); empty = public_url.
    base_url: str = ""
    api_token: str = field(default="", repr=False)
    #: The node's operators (support, product.md §1): accounts with these email addresses review
    #: organisation activations in the web app (W1.3). Empty = only `peppol-node org approve|reject`.
    operators: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliverySettings:
    #: Delivery workers per `serve` process (several processes may share one PostgreSQL).
    workers: int = 2
    poll_interval: float = 1.0
    max_attempts: int = 8
    first_retry_seconds: float = 10.0
    #: MLS_TYPE we ask receivers for: "" (envelope default, failure only) or "ALWAYS_SEND".
    mls_type: str = ""
    #: How long a document whose buyer is on no network waits (`needs_email`) for someone to give
    #: an email address before it fails (W8.2(c), W8.3): long enough for a weekend, short enough
    #: that an unsent invoice is noticed.
    needs_email_timeout_hours: float = 72.0


@dataclass(frozen=True)
class ValidationSettings:
    #: Compiled official rules (layout of phive-rules' xslt folder) and the UBL 2.1 XSD
    #: folder (maindoc/ + common/). Empty = what `peppol-node rules install` installed,
    #: else validation is reported as skipped (documents are still sent).
    rules_dir: str = ""
    xsd_dir: str = ""


@dataclass(frozen=True)
class IntakeSettings:
    """The node's own SMTP listener for trusted senders (issue 13, W7; `accesspoint.intake`).

    Off by default: a node that takes mail must be reachable on port 25 (directly, or as the
    next hop of the operator's MX for `domain`; README "Mail intake").
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    #: The domain of the generated receiver addresses; its MX (or the operator's MX's
    #: transport map) must point here.
    domain: str = "intake.localhost"
    #: Larger mail is refused at DATA (552) before any of it is stored.
    max_message_bytes: int = 25 * 1024 * 1024
    #: Resolver for the DKIM keys and DMARC policies of senders, "host:port"; empty = the
    #: system resolver.
    dns: str = ""


_SECTIONS: dict[str, type] = {
    "node": NodeSettings,
    "database": DatabaseSettings,
    "pki": PkiSettings,
    "revocation": RevocationSettings,
    "http": HttpSettings,
    "sml": SmlSettings,
    "smp": SmpSettings,
    "smtp": SmtpSettings,
    "web": WebSettings,
    "delivery": DeliverySettings,
    "validation": ValidationSettings,
    "intake": IntakeSettings,
}


@dataclass(frozen=True)
class Settings:
    directory: Path
    node: NodeSettings = NodeSettings()
    database: DatabaseSettings = DatabaseSettings()
    pki: PkiSettings = PkiSettings()
    revocation: RevocationSettings = RevocationSettings()
    http: HttpSettings = HttpSettings()
    sml: SmlSettings = SmlSettings()
    smp: SmpSettings = SmpSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    delivery: DeliverySettings = DeliverySettings()
    validation: ValidationSettings = ValidationSettings()
    intake: IntakeSettings = IntakeSettings()

    def path(self, relative: str) -> Path:
        """A path from the config, resolved against the node directory."""
        p = Path(relative)
        return p if p.is_absolute() else self.directory / p

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the node directory."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
            return prefix + str(self.path(url[len(prefix):]))
        return url

    @property
    def smp_public_url(self) -> str:
        """Our SMP's base URL as the SML publishes it (NAPTR) and ServiceGroup hrefs carry it."""
        return (self.smp.url or self.node.public_url.rstrip("/") + "/smp").rstrip("/")

    @property
    def production(self) -> bool:
        return self.node.mode == "production"

    @property
    def revocation_soft_fail(self) -> bool:
        if self.revocation.soft_fail is not None:
            return self.revocation.soft_fail
        return not self.production


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say which key is wrong."""
    try:
        if annotation == "bool" or annotation == "bool | None":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
                return True
            if isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
                return False
            if annotation == "bool | None" and value in ("", None):
                return None
            raise ValueError(value)
        if annotation == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if annotation == "float":
            return float(value)
        if annotation.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except ValueError:
        raise ConfigError(f"config key {key}: {value!r} is not a valid {annotation}") from None


#: A year: past that an invoice waiting for an address is forgotten, not pending.
MAX_NEEDS_EMAIL_TIMEOUT_HOURS = 24 * 366

_CHOICES = {
    "node.mode": {"test", "production"},
    "delivery.mls_type": {"", "ALWAYS_SEND", "FAILURE_ONLY"},
    "pki.trust": {"local", "test", "production", "files"},
}


def load_settings(directory: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `directory/node.toml` and apply PEPPOL_* overrides from `environ` (default os.environ)."""
    directory = Path(directory).resolve()
    environ = os.environ if environ is None else environ
    config_path = directory / CONFIG_FILE
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path} does not exist: run `peppol-node init {directory}` first") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config_path} is not readable TOML: {exc}") from None
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"{config_path}: unknown section(s) {', '.join(sorted(unknown))}")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{config_path}: [{name}] must be a table")
        known = {f.name: f for f in fields(cls)}
        extra = set(table) - set(known)
        if extra:
            raise ConfigError(f"{config_path}: unknown key(s) in [{name}]: {', '.join(sorted(extra))}")
        values: dict[str, Any] = {}
        for key, f in known.items():
            dotted = f"{name}.{key}"
            env_key = f"PEPPOL_{name.upper()}_{key.upper()}"
            if env_key in environ:
                values[key] = _coerce(env_key, environ[env_key], str(f.type))
            elif key in table:
                values[key] = _coerce(dotted, table[key], str(f.type))
            if dotted in _CHOICES and key in values and values[key] not in _CHOICES[dotted]:
                raise ConfigError(
                    f"config key {dotted}: {values[key]!r} is not one of {', '.join(sorted(_CHOICES[dotted]))}"
                )
        sections[name] = cls(**values)
    if sections["database"].pool_size < 1 or sections["database"].max_overflow < 0:
        raise ConfigError("config keys database.pool_size / database.max_overflow must be >= 1 / >= 0")
    if sections["delivery"].workers < 0 or sections["delivery"].poll_interval <= 0:
        raise ConfigError("config keys delivery.workers / delivery.poll_interval must be >= 0 / > 0")
    if sections["http"].workers < 0:
        raise ConfigError("config key http.workers must be >= 0 (0 = one process per core)")
    wait = sections["delivery"].needs_email_timeout_hours
    if not 0 < wait <= MAX_NEEDS_EMAIL_TIMEOUT_HOURS:
        raise ConfigError(f"config key delivery.needs_email_timeout_hours: {wait:g} is outside "
                          f"(0, {MAX_NEEDS_EMAIL_TIMEOUT_HOURS}] hours")
    intake = sections["intake"]
    if not 0 < intake.port < 65536 or intake.max_message_bytes < 1024:
        raise ConfigError("config keys intake.port / intake.max_message_bytes must be a port / >= 1024 bytes")
    if intake.enabled and ("@" in intake.domain or "." not in intake.domain.strip(".")):
        raise ConfigError(f"config key intake.domain: {intake.domain!r} is not a mail domain")
    ttl = sections["web"].invite_ttl_days
    if not 1 <= ttl <= 30:  # product.md SEC-3: configurable 1-30 days
        raise ConfigError(f"config key web.invite_ttl_days: {ttl} is outside 1..30 days")
    return Settings(directory=directory, **sections)
