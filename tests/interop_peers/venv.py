"""The peers' own virtual environment: created once per requirements file, cached, driven by subprocess.

Why a separate venv: the PyPI package `as4` is imported as `as4`, exactly like our own package, so
the two can never share one interpreter; and peppol-py pins its own dependency ranges. Both peers
are installed (pinned, with every dependency, from `requirements.txt`) into
`~/.cache/peppol-node/interop-venv-<key>`, where the key hashes the requirements and the Python
version: a fresh machine or CI (which reach PyPI) builds it once, later runs reuse it.

The driver scripts beside this file run under that venv's python with a clean environment (no
PYTHONPATH, so our `as4` can never shadow theirs) and with a stand-in `xmlsec1` first on PATH
(see xmlsec1.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
STAMP = ".peppol-node-complete"
INSTALL_TIMEOUT = 900  # seconds; a cold install from PyPI takes ~20 s here


class PeerVenvError(RuntimeError):
    """The peer venv could not be built (no PyPI, a pin that no longer exists, ...)."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("PEPPOL_NODE_CACHE", Path(base) / "peppol-node"))


def venv_key(python: str = sys.executable) -> str:
    """Requirements + interpreter version: a change to either gets a fresh venv, never a half-upgraded one."""
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + version.encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class PeerVenv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def shim_dir(self) -> Path:
        # One per checkout: the shim names this checkout's xmlsec1.py, and CI's clone may share the cache.
        return self.root / f"shim-{hashlib.sha256(str(HERE).encode()).hexdigest()[:12]}"

    def _write_shim(self) -> None:
        self.shim_dir.mkdir(exist_ok=True)
        shim = self.shim_dir / "xmlsec1"
        text = f'#!/bin/sh\nexec "{self.python}" "{HERE / "xmlsec1.py"}" "$@"\n'
        if not shim.exists() or shim.read_text() != text:
            tmp = shim.with_suffix(f".{os.getpid()}")
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(shim)

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a peer process: stand-in xmlsec1 first on PATH, nothing of ours importable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = os.pathsep.join([str(self.shim_dir), str(self.root / "bin"), env.get("PATH", "")])
        env["PYTHONNOUSERSITE"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            env.pop(proxy, None)  # peers talk to 127.0.0.1 only; a proxy would only get in the way
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        if extra:
            env.update(extra)
        return env

    def command(self, driver: str, *args: str) -> list[str]:
        return [str(self.python), str(HERE / driver), *map(str, args)]

    def run(
        self, driver: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(driver, *args), capture_output=True, text=True, timeout=timeout,
            env=self.env(env), cwd=cwd or self.root,
        )

    def run_binary(self, argv: list[str], input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run any program (e.g. the `xmlsec1` stand-in) as a peer process would, bytes in and out."""
        env = self.env()
        return subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env, cwd=self.root)

    def run_json(self, driver: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> dict:
        """Run a driver that prints one JSON object as its last stdout line; raise with its stderr if not."""
        done = self.run(driver, *args, timeout=timeout, env=env)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        try:
            result = json.loads(lines[-1])
        except (IndexError, ValueError):
            raise PeerVenvError(
                f"{driver} {' '.join(args)} exited {done.returncode} without a JSON result\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            ) from None
        result.setdefault("_exit_code", done.returncode)
        result.setdefault("_stderr", done.stderr[-4000:])
        return result


def ensure_peer_venv(python: str = sys.executable) -> PeerVenv:
    """Return the cached peer venv, building it first if this machine has none for these requirements."""
    root_dir = cache_root()
    root_dir.mkdir(parents=True, exist_ok=True)
    venv = PeerVenv(root_dir / f"interop-venv-{venv_key(python)}")
    with open(root_dir / f"{venv.root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test runs wait for one builder
        if not (venv.root / STAMP).exists():
            _build(venv, python)
        venv._write_shim()
    return venv


def _build(venv: PeerVenv, python: str) -> None:
    shutil.rmtree(venv.root, ignore_errors=True)  # a half-built venv from an interrupted run
    steps = [
        [python, "-m", "venv", str(venv.root)],
        [str(venv.python), "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
         "--only-binary=:all:", "-r", str(REQUIREMENTS)],
        # The import check: an lxml/xmlsec libxml2 mismatch only shows here, not at install time.
        [str(venv.python), "-I", "-c", "import as4, as4.peppol, peppol_py, xmlsec, lxml.etree, dns.resolver"],
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=clean, cwd=venv.root.parent
        )
        if done.returncode != 0:
            raise PeerVenvError(
                f"building the interop peer venv failed at: {' '.join(step)}\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
            )
    (venv.root / STAMP).write_text(REQUIREMENTS.read_text())


if __name__ == "__main__":  # `python -m tests.interop_peers.venv` prebuilds the cache (e.g. in a CI step)
    print(ensure_peer_venv().root)
