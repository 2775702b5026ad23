"""`[intake]` configuration and the `intake` commands' refusals, as an operator meets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from accesspoint.config import ConfigError, load_settings
from tests.conftest import run_cli


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "node.toml").write_text(text)
    return tmp_path


def test_intake_is_off_by_default_and_configurable(tmp_path):
    s = load_settings(_write(tmp_path, ""), environ={})
    assert (s.intake.enabled, s.intake.port, s.intake.max_message_bytes) == (False, 2525, 25 * 1024 * 1024)
    s = load_settings(_write(tmp_path, '[intake]\nenabled = true\ndomain = "intake.example.nl"\n'),
                      environ={"PEPPOL_INTAKE_PORT": "2526"})
    assert (s.intake.enabled, s.intake.domain, s.intake.port) == (True, "intake.example.nl", 2526)


@pytest.mark.parametrize("text, needle", [
    ("[intake]\nport = 70000\n", "intake.port"),
    ("[intake]\nmax_message_bytes = 10\n", "intake.max_message_bytes"),
    ('[intake]\nenabled = true\ndomain = "localhost"\n', "intake.domain"),
    ("[intake]\nmx = 1\n", r"unknown key\(s\) in \[intake\]: mx"),
])
def test_bad_intake_configuration_names_the_key(tmp_path, text, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings(_write(tmp_path, text), environ={})


def test_intake_commands_refuse_clearly(tmp_path):
    node = tmp_path / "n"
    assert run_cli("init", str(node), "--port", "28443").returncode == 0
    unknown = run_cli("intake", "add", str(node), "0208:0123456749", "--address", "a@b.example", "--contact", "c@d.example")
    assert unknown.returncode == 1 and "is not an organisation of this node" in unknown.stderr
    assert run_cli("org", "add", str(node), "Bakkerij Peeters NV", "0208:0123456749").returncode == 0
    bad = run_cli("intake", "add", str(node), "1", "--domain", "nodot", "--contact", "c@d.example")
    assert bad.returncode == 1 and "not a mail domain" in bad.stderr
    added = run_cli("intake", "add", str(node), "1", "--verified-users", "--contact", "c@d.example")
    assert added.returncode == 0 and "[intake] enabled is false" in added.stdout, added.stderr
    sender = added.stdout.split()[2]
    again = run_cli("intake", "deactivate", str(node), sender)
    assert again.returncode == 0 and "is inactive" in again.stdout
    refused = run_cli("intake", "invite", str(node), sender)
    assert refused.returncode == 1 and "inactive cannot send invitation" in refused.stderr
    assert "no drafts" in run_cli("intake", "drafts", str(node), "0208:0123456749").stdout
    assert run_cli("intake", "send", str(node), "nope").returncode == 1
