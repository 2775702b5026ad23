"""The CLI's command->module shortcut must agree with what the modules register."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from accesspoint import cli


def registered(module_name: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    module = importlib.import_module(f"accesspoint.cli.{module_name}")
    if hasattr(module, "register"):
        module.register(sub)
    return set(sub.choices)


def test_every_listed_command_is_registered_by_its_module() -> None:
    for command, module in cli._COMMAND_MODULES.items():
        assert command in registered(module), f"{command} is not registered by accesspoint.cli.{module}"


def test_every_registered_command_is_listed() -> None:
    for info in pkgutil.iter_modules(cli.__path__):
        if info.name.startswith("_"):
            continue
        for command in registered(info.name):
            assert cli._COMMAND_MODULES.get(command) == info.name, f"add {command!r}: {info.name!r} to _COMMAND_MODULES"
