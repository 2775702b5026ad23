"""smp's public surface and its error contract on arbitrary input."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

import certs
import smp


def test_public_names() -> None:
    assert sorted(smp.__all__) == sorted(set(smp.__all__))
    for name in smp.__all__:
        assert hasattr(smp, name), name
    assert issubclass(smp.ParticipantNotFound, smp.SmpLookupError)
    assert issubclass(smp.SmpLookupError, smp.SmpError)
    assert issubclass(smp.NoEndpoint, smp.SmpError) and issubclass(smp.SmpSignatureError, smp.SmpError)


def test_smp_never_imports_accesspoint() -> None:
    import pathlib

    for path in pathlib.Path(smp.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import accesspoint" not in text and "from accesspoint" not in text, path
        assert "import shares" not in text and "from shares" not in text, path


TRUST = certs.TrustStore.builtin("test")
AT = datetime(2026, 1, 1, tzinfo=UTC)

XMLISH = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet="<>/=\"' abcdSsmp:xn", max_size=200).map(str.encode),
    st.sampled_from([
        b'<smp:SignedServiceMetadata xmlns:smp="http://busdox.org/serviceMetadata/publishing/1.0/"/>',
        b'<ServiceGroup xmlns="http://busdox.org/serviceMetadata/publishing/1.0/"><x/></ServiceGroup>',
        b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd"><a/>',
    ]),
)


@settings(max_examples=150, deadline=None)
@given(XMLISH)
def test_parsers_raise_only_smp_errors(data: bytes) -> None:
    for fn in (smp.parse_service_group, smp.parse_service_metadata):
        try:
            fn(data)
        except smp.SmpError:
            pass
    try:
        smp.verify_service_metadata(data, trust=TRUST, at=AT)
    except smp.SmpError:
        pass
