#!/usr/bin/env python3
"""Container entrypoint: environment variables + mounted secrets -> a node directory -> `peppol-node serve`.

A container is configured only through its environment and the files Docker
mounts under /run/secrets; nothing in the image is edited. On every start this
script renders `node.toml` afresh into the node directory (so the environment is
the one source of truth), checks that the secrets it names are there, and then
*replaces itself* (exec) with `peppol-node serve`, so the node is PID 1's direct
successor and receives SIGTERM from `docker stop` itself.

Where a value comes from, in order:

1. `PEPPOL_<SECTION>_<KEY>`: the value itself (any key of node.toml; see README).
2. `PEPPOL_<SECTION>_<KEY>_FILE=/run/secrets/x`: the value is the content of that
   file (trailing newline stripped), the convention of the official database
   images, so passwords and URLs with passwords never appear in `docker inspect`.
3. A secret file named `peppol_<section>_<key>` in the secrets folder: the same,
   without having to name it twice in compose.yaml.
Setting one key in two of these ways is an error: a silent precedence between two
sources of one secret is how a rotated password stays unrotated.

Key material is read from files, never from the environment: by default the AP,
SMP and TLS key pairs are `ap.key.pem`/`ap.cert.pem`, `smp.*`, `tls.*` in the
secrets folder (override with PEPPOL_PKI_AP_KEY=/path etc., PKCS#12 works too).

Settings for this script itself use the prefix PEPPOL_CONTAINER_, which names no
section of node.toml, so they can never be mistaken for node settings:

- PEPPOL_CONTAINER_NODE_DIR (default /var/lib/peppol-node): where node.toml goes;
  mount a volume there if the node uses SQLite or keeps files.
- PEPPOL_CONTAINER_SECRETS_DIR (default /run/secrets).
- PEPPOL_CONTAINER_TLS (default "on"): "off" serves plain HTTP, only for use
  behind the TLS-terminating reverse proxy of docker/compose.yaml.

Commands: `serve` (default), `check`, `migrate` (render, then run that
peppol-node command on the node directory), `render` (print node.toml, which
holds no secret), `healthcheck` (GET /healthz on the local port; exit 0 if ok).
Anything else is executed as given, so `docker run IMAGE sh` still works.

This file is plain standard-library Python plus `accesspoint.config` (to
validate the rendered file exactly as the node will read it), so the test suite
runs it as an ordinary process with no Docker engine.
"""

from __future__ import annotations

import os
import ssl
import sys
import typing
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_NODE_DIR = "/var/lib/peppol-node"
DEFAULT_SECRETS_DIR = "/run/secrets"
CONTAINER_PREFIX = "PEPPOL_CONTAINER_"
#: The port the node listens on inside the container (the proxy or `-p` maps it).
DEFAULT_PORT = 8443


class EntrypointError(Exception):
    """The container's environment or secrets are incomplete or contradictory; the message names the variable."""


@dataclass(frozen=True)
class Prepared:
    directory: Path
    environ: dict[str, str]
    tls: bool
    config_text: str


def _node_keys() -> dict[str, set[str]]:
    """Every `section -> keys` node.toml knows, read from the config module so the two never drift apart."""
    from accesspoint.config import Settings

    hints = typing.get_type_hints(Settings)
    return {f.name: {g.name for g in fields(hints[f.name])} for f in fields(Settings) if f.name != "directory"}


def _env_name(section: str, key: str) -> str:
    return f"PEPPOL_{section.upper()}_{key.upper()}"


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EntrypointError(f"{what}: secret file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EntrypointError(f"{what}: secret file {path} is not readable: {exc}") from None
    return text.rstrip("\r\n")


def resolve_environment(environ: Mapping[str, str], secrets_dir: Path) -> dict[str, str]:
    """Return `environ` with every `*_FILE` variable and `peppol_*` secret file turned into its value.

    Raises EntrypointError naming the variable when a file is missing or a key
    is given twice.
    """
    known = {_env_name(s, k) for s, keys in _node_keys().items() for k in keys}
    out = dict(environ)
    sources: dict[str, str] = {name: "the environment" for name in environ if name in known}
    for name, value in environ.items():
        if not (name.startswith("PEPPOL_") and name.endswith("_FILE")) or name.startswith(CONTAINER_PREFIX):
            continue
        target = name[: -len("_FILE")]
        if target not in known:
            raise EntrypointError(f"{name}: {target} is not a node setting")
        if target in sources:
            raise EntrypointError(f"{target} is set both directly and by {name}: set one")
        out[target] = _read_secret(Path(value), name)
        sources[target] = name
        del out[name]
    if secrets_dir.is_dir():
        for path in sorted(secrets_dir.iterdir()):
            target = path.name.upper()
            if not path.name.startswith("peppol_") or target not in known:
                continue
            if target in sources:
                raise EntrypointError(f"{target} is set both by {sources[target]} and by the secret file {path}")
            out[target] = _read_secret(path, str(path))
            sources[target] = str(path)
    return out


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(environ: Mapping[str, str], secrets_dir: Path) -> str:
    """node.toml for a container: the container's defaults; the environment overrides every key at load time.

    Only defaults that differ from a laptop node are written here (listen on all
    interfaces, key material from the secrets folder, no local SML, Peppol's
    test trust set rather than a local test PKI). Secrets are never written into
    the file: the node reads them from the environment this script passes on.
    """
    mode = environ.get("PEPPOL_NODE_MODE", "test")
    trust = "production" if mode == "production" else "test"
    s = secrets_dir
    return f"""# Rendered by docker/entrypoint.py at container start: do not edit, set PEPPOL_* variables instead.
[node]
mode = {_toml_str(mode)}

[database]
url = "sqlite:///node.db"

[pki]
trust = {_toml_str(trust)}
ap_key = {_toml_str(str(s / "ap.key.pem"))}
ap_cert = {_toml_str(str(s / "ap.cert.pem"))}
smp_key = {_toml_str(str(s / "smp.key.pem"))}
smp_cert = {_toml_str(str(s / "smp.cert.pem"))}
tls_key = {_toml_str(str(s / "tls.key.pem"))}
tls_cert = {_toml_str(str(s / "tls.cert.pem"))}

[http]
host = "0.0.0.0"
port = {DEFAULT_PORT}

[sml]
local = false
"""


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise EntrypointError(f"{name}: {value!r} is not on/off")


def prepare(environ: Mapping[str, str]) -> Prepared:
    """Resolve secrets, write node.toml, and check the result loads and its key files exist.

    Everything that can be found wrong without the network is found here, at
    start-up, with the variable named, instead of as a failed AS4 exchange later.
    """
    from accesspoint.config import ConfigError, load_settings

    directory = Path(environ.get(CONTAINER_PREFIX + "NODE_DIR") or DEFAULT_NODE_DIR)
    secrets_dir = Path(environ.get(CONTAINER_PREFIX + "SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    tls = _flag(environ, CONTAINER_PREFIX + "TLS", True)
    env = resolve_environment(environ, secrets_dir)
    text = render_config(env, secrets_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config_path = directory / "node.toml"
        config_path.write_text(text, encoding="utf-8")
        config_path.chmod(0o600)
    except OSError as exc:
        raise EntrypointError(f"{CONTAINER_PREFIX}NODE_DIR: cannot write {directory}: {exc}") from None
    try:
        settings = load_settings(directory, env)
    except ConfigError as exc:
        raise EntrypointError(str(exc)) from None
    if not settings.web.secret_key:
        raise EntrypointError("PEPPOL_WEB_SECRET_KEY is not set (use PEPPOL_WEB_SECRET_KEY_FILE or the secret "
                              "file peppol_web_secret_key): sessions cannot be signed without it")
    required = [("PEPPOL_PKI_AP_KEY", settings.pki.ap_key)]
    if not settings.pki.ap_key.lower().endswith((".p12", ".pfx")):  # a PKCS#12 file holds the certificate too
        required.append(("PEPPOL_PKI_AP_CERT", settings.pki.ap_cert))
    if tls:
        required += [("PEPPOL_PKI_TLS_KEY", settings.pki.tls_key), ("PEPPOL_PKI_TLS_CERT", settings.pki.tls_cert)]
    if settings.pki.trust == "files":
        if not settings.pki.trust_files:
            raise EntrypointError("PEPPOL_PKI_TRUST_FILES must name the trusted CA files when PEPPOL_PKI_TRUST=files")
        required += [("PEPPOL_PKI_TRUST_FILES", p) for p in settings.pki.trust_files]
    for name, value in required:
        if not settings.path(value).is_file():
            raise EntrypointError(f"{name}: {settings.path(value)} does not exist (mount it as a secret)")
    return Prepared(directory=directory, environ=env, tls=tls, config_text=text)


def healthcheck(environ: Mapping[str, str], timeout: float = 5.0) -> int:
    """GET /healthz on this container's own port: what Docker's HEALTHCHECK runs."""
    tls = _flag(environ, CONTAINER_PREFIX + "TLS", True)
    port = environ.get("PEPPOL_HTTP_PORT") or str(DEFAULT_PORT)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    # Only liveness is asked here, over loopback, so the node's own certificate is not verified.
    context = ssl._create_unverified_context() if tls else None  # noqa: S323
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


def command_line(command: str, prepared: Prepared, extra: Sequence[str]) -> list[str]:
    argv = ["peppol-node", command, str(prepared.directory), *extra]
    if command == "serve" and not prepared.tls:
        argv.append("--no-tls")
    return argv


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ if environ is None else environ)
    command = args[0] if args else "serve"
    if command == "healthcheck":
        return healthcheck(environ)
    if command not in {"serve", "check", "migrate", "render"}:
        os.execvp(args[0], args)  # e.g. `sh` for debugging
    try:
        prepared = prepare(environ)
    except EntrypointError as exc:
        print(f"peppol-node entrypoint: {exc}", file=sys.stderr)
        return 2
    if command == "render":
        sys.stdout.write(prepared.config_text)  # holds no secret: see render_config
        return 0
    full = command_line(command, prepared, args[1:])
    # `python -m accesspoint.cli` is `peppol-node` without depending on where pip put the script.
    os.execvpe(sys.executable, [sys.executable, "-m", "accesspoint.cli", *full[1:]], prepared.environ)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
