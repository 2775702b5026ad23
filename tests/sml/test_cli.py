from __future__ import annotations

import pytest

from accesspoint.cli import main
from tests.conftest import run_cli

LABEL = "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"


def test_sml_name_as_a_real_process():
    long = run_cli("sml", "name", "iso6523-actorid-upis::0088:123ABC", "--zone", "production", "--legacy")
    assert long.returncode == 0, long.stderr
    assert long.stdout.splitlines() == [
        f"{LABEL}.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
        "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["0088:123abc", "--zone", "sml.example.net"], f"{LABEL}.iso6523-actorid-upis.sml.example.net"),
        (["9915:test"], "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a.iso6523-actorid-upis."
                        "participant.sml.test.tech.peppol.org"),
        (["0088:123abc", "--zone", "test-ec"], f"{LABEL}.iso6523-actorid-upis.acc.edelivery.tech.ec.europa.eu"),
    ],
)
def test_sml_name(args, expected, capsys):
    assert main(["sml", "name", *args]) == 0
    assert capsys.readouterr().out.strip() == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [(["not an id"], "invalid participant id"), (["0088:123abc", "--zone", "bad..zone"], "invalid zone")],
)
def test_sml_name_rejects_bad_input(args, message, capsys):
    assert main(["sml", "name", *args]) == 2
    assert message in capsys.readouterr().err
