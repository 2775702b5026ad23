"""The `peppol-node` command line.

Each command group lives in its own module of this package and exposes
``register(subparsers)``; `main` discovers them, so adding a group never means
editing this file. A command handler returns the process exit code.

Start-up time matters (operators and tests run many short commands), so when
the command is one listed in `_COMMAND_MODULES`, only its module is imported;
anything else (``--help``, a typo, a new group not listed yet) imports them all.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]


#: command -> the module that registers it (a shortcut only; discovery stays the truth).
_COMMAND_MODULES = {
    "as4": "as4", "check": "node", "deliver": "send", "demo": "demo", "init": "node", "intake": "intake", "lookup": "lookup",
    "migrate": "node", "org": "org", "pki": "node", "render": "ubl", "report": "report", "rules": "ubl", "send": "send",
    "serve": "serve", "sharing": "sharing", "sml": "sml", "smp": "smp", "validate": "ubl",
}


def _module_names(command: str | None) -> list[str]:
    if command in _COMMAND_MODULES:
        return [_COMMAND_MODULES[command]]
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peppol-node",
        description="A Peppol access point and network node.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in _module_names(command):
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover - `python -m accesspoint.cli`
    sys.exit(main())
