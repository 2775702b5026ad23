"""docker/entrypoint.py: env + secrets -> node directory -> `peppol-node serve`, run as a plain process.

The container is simulated by what the entrypoint actually reads: an environment
(taken from compose.yaml) and a secrets folder laid out as compose mounts it.
The node then really serves /healthz, on PostgreSQL when one is configured,
behind the real nginx with the proxy template of docker/nginx when nginx is
installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
import yaml

from tests.conftest import REPO
from tests.docker.conftest import DOCKER, free_port, mounted


def compose_environment(node: str) -> dict[str, str]:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return {k: str(v) for k, v in compose["services"][node]["environment"].items()}


def container_env(tmp_path: Path, secrets_tree: Path, node: str = "node-a", **overrides: str) -> dict[str, str]:
    run_secrets = mounted(secrets_tree, node, tmp_path / "run-secrets")
    env = compose_environment(node)
    env["PEPPOL_CONTAINER_NODE_DIR"] = str(tmp_path / "var-lib-peppol-node")
    env["PEPPOL_CONTAINER_SECRETS_DIR"] = str(run_secrets)
    # compose's PEPPOL_DATABASE_URL_FILE names /run/secrets/...; here that folder is elsewhere.
    env["PEPPOL_DATABASE_URL_FILE"] = str(run_secrets / Path(env["PEPPOL_DATABASE_URL_FILE"]).name)
    env["PEPPOL_PKI_TRUST_FILES"] = str(run_secrets / Path(env["PEPPOL_PKI_TRUST_FILES"]).name)
    env.update(overrides)
    return env


# --- rendering, in-process -------------------------------------------------------------------

def test_compose_environment_renders_a_config_the_node_loads(entrypoint, secrets_tree: Path,
                                                              tmp_path: Path) -> None:
    from accesspoint.config import load_settings

    env = container_env(tmp_path, secrets_tree, "node-b")
    prepared = entrypoint.prepare(env)
    settings = load_settings(prepared.directory, prepared.environ)
    assert settings.node.seat_id == "PXX000002" and settings.node.public_url == "https://node-b.localhost"
    assert settings.database.url == (secrets_tree / "node-b/database_url").read_text().strip()
    assert settings.web.secret_key == (secrets_tree / "node-b/web_secret_key").read_text().strip()
    assert settings.pki.trust == "files" and settings.revocation.enabled is False
    assert settings.http.host == "0.0.0.0" and settings.http.port == 8443
    assert prepared.tls is False
    # node.toml holds no secret and is private anyway; the URL's password never touches disk.
    text = (prepared.directory / "node.toml").read_text()
    assert settings.web.secret_key not in text and settings.database.url not in text
    assert (prepared.directory / "node.toml").stat().st_mode & 0o077 == 0
    # The AP key pair the node will sign with is the mounted one, and it is trusted for seat PXX000002.
    import certs
    from accesspoint.node import Node

    node = Node(settings)
    seat = certs.verify_ap_certificate(node.ap_keys.cert, trust=node.trust, at=node.now())
    assert str(getattr(seat, "value", seat)) == "PXX000002"


def test_file_variables_and_secret_files_resolve_and_conflicts_fail(entrypoint, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "s"
    secrets_dir.mkdir()
    (secrets_dir / "smtp_pw").write_text("hunter2\n")
    (secrets_dir / "peppol_web_api_token").write_text("tok\n")
    (secrets_dir / "unrelated").write_text("x")
    env = entrypoint.resolve_environment({"PEPPOL_SMTP_PASSWORD_FILE": str(secrets_dir / "smtp_pw")}, secrets_dir)
    assert env["PEPPOL_SMTP_PASSWORD"] == "hunter2" and "PEPPOL_SMTP_PASSWORD_FILE" not in env
    assert env["PEPPOL_WEB_API_TOKEN"] == "tok"
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_WEB_API_TOKEN"):
        entrypoint.resolve_environment({"PEPPOL_WEB_API_TOKEN": "other"}, secrets_dir)
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_SMTP_PASSWORD_FILE"):
        entrypoint.resolve_environment({"PEPPOL_SMTP_PASSWORD_FILE": str(secrets_dir / "missing")}, secrets_dir)
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_SMTP_PASWORD_FILE"):
        entrypoint.resolve_environment({"PEPPOL_SMTP_PASWORD_FILE": str(secrets_dir / "smtp_pw")}, secrets_dir)


@pytest.mark.parametrize(("remove", "variable"), [
    ("peppol_web_secret_key", "PEPPOL_WEB_SECRET_KEY"),
    ("ap.key.pem", "PEPPOL_PKI_AP_KEY"),
    ("trust.pem", "PEPPOL_PKI_TRUST_FILES"),
    ("database_url", "PEPPOL_DATABASE_URL_FILE"),
])
def test_a_missing_secret_stops_the_start_naming_the_variable(entrypoint, secrets_tree: Path, tmp_path: Path,
                                                               remove: str, variable: str) -> None:
    env = container_env(tmp_path, secrets_tree)
    (Path(env["PEPPOL_CONTAINER_SECRETS_DIR"]) / remove).unlink()
    with pytest.raises(entrypoint.EntrypointError, match=variable):
        entrypoint.prepare(env)


def test_a_pkcs12_ap_key_needs_no_separate_certificate(entrypoint, secrets_tree: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    import certs
    from accesspoint.config import load_settings
    from accesspoint.node import Node

    env = container_env(tmp_path, secrets_tree)
    run_secrets = Path(env["PEPPOL_CONTAINER_SECRETS_DIR"])
    key = certs.load_private_key(run_secrets / "ap.key.pem")
    cert = certs.load_certificate(run_secrets / "ap.cert.pem")
    (run_secrets / "ap.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(b"ap", key, cert, None, BestAvailableEncryption(b"pw")))
    (run_secrets / "ap_p12_password").write_text("pw\n")
    (run_secrets / "ap.key.pem").unlink()
    (run_secrets / "ap.cert.pem").unlink()
    env.update(PEPPOL_PKI_AP_KEY=str(run_secrets / "ap.p12"),
               PEPPOL_PKI_AP_KEY_PASSWORD_FILE=str(run_secrets / "ap_p12_password"))
    prepared = entrypoint.prepare(env)
    node = Node(load_settings(prepared.directory, prepared.environ))
    assert node.ap_keys.cert == cert


def test_tls_mode_needs_the_tls_key_pair(entrypoint, secrets_tree: Path, tmp_path: Path) -> None:
    env = container_env(tmp_path, secrets_tree, PEPPOL_CONTAINER_TLS="on")
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_PKI_TLS_KEY"):
        entrypoint.prepare(env)


def test_bad_values_fail_naming_the_key(entrypoint, secrets_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_HTTP_PORT"):
        entrypoint.prepare(container_env(tmp_path, secrets_tree, PEPPOL_HTTP_PORT="eighty"))
    with pytest.raises(entrypoint.EntrypointError, match="PEPPOL_CONTAINER_TLS"):
        entrypoint.prepare(container_env(tmp_path, secrets_tree, PEPPOL_CONTAINER_TLS="maybe"))


def test_production_mode_defaults_to_production_trust(entrypoint, tmp_path: Path) -> None:
    text = entrypoint.render_config({"PEPPOL_NODE_MODE": "production"}, tmp_path)
    assert 'trust = "production"' in text
    assert 'trust = "test"' in entrypoint.render_config({}, tmp_path)


# --- the real process --------------------------------------------------------------------------

@contextmanager
def running(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.output = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.output = proc.communicate()


def process_env(env: dict[str, str]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), **env}


def wait_for(check, proc: subprocess.Popen, what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (httpx2.TransportError, OSError):
            if proc.poll() is not None:
                raise AssertionError(f"{what} exited with {proc.returncode}: {proc.stderr.read()}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not come up in {timeout}s") from None
            time.sleep(0.2)


def run_entrypoint(*args: str) -> list[str]:
    return [sys.executable, str(DOCKER / "entrypoint.py"), *args]


def test_entrypoint_exits_non_zero_without_secrets(tmp_path: Path) -> None:
    env = process_env({"PEPPOL_CONTAINER_NODE_DIR": str(tmp_path / "n"),
                       "PEPPOL_CONTAINER_SECRETS_DIR": str(tmp_path / "none")})
    result = subprocess.run(run_entrypoint("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "PEPPOL_WEB_SECRET_KEY" in result.stderr


def _database_for_node(secrets_tree: Path, node_databases: list[str] | None, tmp_path: Path, node: str) -> dict:
    if node_databases is None:
        return {"PEPPOL_DATABASE_URL_FILE": "", "PEPPOL_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}"}
    return {}


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str] | None]:
    if request.param == "postgresql":
        return "postgresql", request.getfixturevalue("node_databases")
    return "sqlite", None


def _start_node(secrets_tree: Path, tmp_path: Path, database: tuple[str, list[str] | None],
                **overrides: str) -> tuple[dict[str, str], int]:
    port = free_port()
    env = container_env(tmp_path, secrets_tree, "node-a", PEPPOL_HTTP_PORT=str(port),
                        PEPPOL_HTTP_HOST="127.0.0.1", **overrides)
    if database[0] == "sqlite":
        del env["PEPPOL_DATABASE_URL_FILE"]
        env["PEPPOL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'node.db'}"
    return process_env(env), port


def test_entrypoint_serves_healthz_and_passes_its_own_healthcheck(secrets_tree: Path, tmp_path: Path,
                                                                   database) -> None:
    env, port = _start_node(secrets_tree, tmp_path, database)
    with running(run_entrypoint("serve"), env) as proc:
        r = wait_for(lambda: httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5), proc, "node")
        assert r.status_code == 200 and r.json() == {"status": "ok", "database": "ok", "seat_id": "PXX000001"}
        # What Docker's HEALTHCHECK runs, against the live node...
        check = subprocess.run(run_entrypoint("healthcheck"), env=env, capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr
    # ...and against none.
    check = subprocess.run(run_entrypoint("healthcheck"), env=env, capture_output=True, timeout=30)
    assert check.returncode == 1
    # `docker stop` sends SIGTERM to the entrypoint's PID: the node was exec'd into it, so it is uvicorn
    # that gets it and shuts down in order (it then re-raises the signal, hence -SIGTERM, Docker's 143).
    assert proc.returncode in (0, -signal.SIGTERM), proc.output
    assert "Finished server process" in proc.output[1]
    if database[0] == "postgresql":
        import sqlalchemy as sa

        url = (secrets_tree / "node-a/database_url").read_text().strip()
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:  # migrations ran at start-up, into the node's own database
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() >= 1
        engine.dispose()


def test_entrypoint_in_tls_mode_serves_https(secrets_tree: Path, tmp_path: Path) -> None:
    """Without the proxy (PEPPOL_CONTAINER_TLS=on, the image default) the node serves HTTPS itself."""
    run_secrets = tmp_path / "run-secrets"
    env, port = _start_node(secrets_tree, tmp_path, ("sqlite", None), PEPPOL_CONTAINER_TLS="on")
    shutil.copyfile(secrets_tree / "proxy.cert.pem", run_secrets / "tls.cert.pem")
    shutil.copyfile(secrets_tree / "proxy.key.pem", run_secrets / "tls.key.pem")
    with running(run_entrypoint(), env) as proc:  # no command: serve is the default
        context = ssl.create_default_context(cafile=str(secrets_tree / "tls-ca.cert.pem"))
        with httpx2.Client(verify=context, timeout=5) as client:
            r = wait_for(lambda: client.get(f"https://127.0.0.1:{port}/healthz",
                                            extensions={"sni_hostname": "node-a.localhost"}), proc, "node")
        assert r.status_code == 200
        assert subprocess.run(run_entrypoint("healthcheck"), env=env, timeout=30).returncode == 0


# --- behind the real nginx -------------------------------------------------------------------------

def render_template(template: str, env: dict[str, str]) -> str:
    """What the nginx image's envsubst step does: replace ${VAR} for variables that are set, nothing else."""
    out = template
    for key, value in env.items():
        out = out.replace("${" + key + "}", value)
    return out


@contextmanager
def nginx(tmp_path: Path, upstream_port: int, secrets_tree: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    env = {k: str(v) for k, v in compose["services"]["proxy"]["environment"].items()}
    https_port, http_port = free_port(), free_port()
    env.update(PEPPOL_PROXY_HTTPS_PORT=f"127.0.0.1:{https_port}", PEPPOL_PROXY_HTTP_PORT=f"127.0.0.1:{http_port}",
               PEPPOL_PROXY_TLS_CERT=str(secrets_tree / "proxy.cert.pem"),
               PEPPOL_PROXY_TLS_KEY=str(secrets_tree / "proxy.key.pem"),
               NODE_A_UPSTREAM=f"127.0.0.1:{upstream_port}", NODE_B_UPSTREAM=f"127.0.0.1:{free_port()}")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    rendered = prefix / "peppol.conf"
    rendered.write_text(render_template((DOCKER / "nginx/templates/peppol.conf.template").read_text(), env))
    temp = "".join(f"{kind}_temp_path {prefix / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\ndaemon off;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} warn;\n"
        + "events { worker_connections 256; }\n"
        + f"http {{\n access_log off;\n{temp} include {rendered};\n}}\n")
    test = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(main)], capture_output=True, text=True,
                          timeout=30)
    assert test.returncode == 0, test.stderr
    with running([binary, "-p", str(prefix), "-c", str(main)], {"PATH": os.environ.get("PATH", "")}) as proc:
        def up() -> None:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
        wait_for(up, proc, "nginx", timeout=20)
        yield https_port, proc


def test_node_behind_the_tls_proxy(secrets_tree: Path, tmp_path: Path, database) -> None:
    env, port = _start_node(secrets_tree, tmp_path, database)
    with running(run_entrypoint("serve"), env) as node:
        wait_for(lambda: httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5), node, "node")
        with nginx(tmp_path, port, secrets_tree) as (https_port, _):
            context = ssl.create_default_context(cafile=str(secrets_tree / "tls-ca.cert.pem"))
            url = f"https://127.0.0.1:{https_port}/healthz"
            with httpx2.Client(verify=context, timeout=10) as client:
                r = client.get(url, headers={"Host": "node-a.localhost"},
                               extensions={"sni_hostname": "node-a.localhost"})
                assert r.status_code == 200 and r.json()["seat_id"] == "PXX000001"
                assert "server" not in r.headers or "nginx/" not in r.headers["server"]
                # A host the proxy does not serve is refused, not passed to some node.
                r = client.get(url, headers={"Host": "elsewhere.example"},
                               extensions={"sni_hostname": "node-a.localhost"})
                assert r.status_code == 421
                # The node's /metrics stays on the private network.
                assert httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
                r = client.get(f"https://127.0.0.1:{https_port}/metrics", headers={"Host": "node-a.localhost"},
                               extensions={"sni_hostname": "node-a.localhost"})
                assert r.status_code == 404
            # A body announced larger than any AS4 message is refused before it is read.
            with socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="node-a.localhost") as tls:
                    tls.sendall(b"POST /as4 HTTP/1.1\r\nHost: node-a.localhost\r\n"
                                b"Content-Type: application/octet-stream\r\nContent-Length: 500000000\r\n\r\n")
                    assert tls.recv(64).startswith(b"HTTP/1.1 413")
            # A TLS 1.2-only peer (many Java APs) gets through; older versions are off in the template.
            tls12 = ssl.create_default_context(cafile=str(secrets_tree / "tls-ca.cert.pem"))
            tls12.maximum_version = ssl.TLSVersion.TLSv1_2
            with socket.create_connection(("127.0.0.1", https_port), timeout=10) as raw:
                with tls12.wrap_socket(raw, server_hostname="node-a.localhost") as tls:
                    assert tls.version() == "TLSv1.2"
