from __future__ import annotations

from tests.conftest import run_cli

LABEL = "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq"


def test_sml_name_both_forms_and_legacy():
    long = run_cli("sml", "name", "iso6523-actorid-upis::0088:123ABC", "--zone", "production", "--legacy")
    assert long.returncode == 0, long.stderr
    assert long.stdout.splitlines() == [
        f"{LABEL}.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
        "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.participant.sml.prod.tech.peppol.org",
    ]
    short = run_cli("sml", "name", "0088:123abc", "--zone", "sml.example.net")
    assert short.returncode == 0, short.stderr
    assert short.stdout.strip() == f"{LABEL}.iso6523-actorid-upis.sml.example.net"
    default = run_cli("sml", "name", "9915:test")
    assert default.stdout.strip() == (
        "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a.iso6523-actorid-upis.participant.sml.test.tech.peppol.org"
    )


def test_sml_name_rejects_bad_input():
    bad = run_cli("sml", "name", "not an id")
    assert bad.returncode == 2 and "invalid participant id" in bad.stderr
    bad_zone = run_cli("sml", "name", "0088:123abc", "--zone", "bad..zone")
    assert bad_zone.returncode == 2 and "invalid zone" in bad_zone.stderr
