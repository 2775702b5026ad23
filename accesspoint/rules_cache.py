"""Where `peppol-node rules install` puts the official rules, and finding them again.

The user cache (`$PEPPOL_UBL_CACHE_DIR`, else `$XDG_CACHE_HOME/peppol-node`, else
`~/.cache/peppol-node`) holds one folder per release name: `peppol` (the
compiled BIS/CEN XSLT) and `ubl-xsd` (the OASIS UBL 2.1 package). Both the CLI
and the node use what is installed there when nothing is configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["cache_dir", "installed", "installed_rules", "installed_xsd", "xsd_root"]


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("PEPPOL_UBL_CACHE_DIR"):
        return Path(env["PEPPOL_UBL_CACHE_DIR"])
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "peppol-node"


def installed(name: str, environ: Mapping[str, str] | None = None) -> Path | None:
    root = cache_dir(environ) / name
    return root if root.is_dir() and any(root.iterdir()) else None


def xsd_root(found: Path) -> Path | None:
    """The folder holding maindoc/ inside an unpacked UBL package."""
    for maindoc in sorted(found.rglob("maindoc")):
        if (maindoc / "UBL-Invoice-2.1.xsd").is_file():
            return maindoc.parent
    return None


def installed_rules(environ: Mapping[str, str] | None = None) -> Path | None:
    return installed("peppol", environ)


def installed_xsd(environ: Mapping[str, str] | None = None) -> Path | None:
    found = installed("ubl-xsd", environ)
    return xsd_root(found) if found is not None else None
