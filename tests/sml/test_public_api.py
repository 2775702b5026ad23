"""The public surface of sml: what other packages may import."""

import sml

EXPECTED = {
    # errors
    "SmlError", "InvalidParticipant", "LookupFailed", "ParticipantNotRegistered", "NoMatchingSmpService",
    "DnsFailure", "SmlFault", "BadRequestFault", "NotFoundFault", "UnauthorizedFault", "InternalErrorFault",
    "SmlTransportError", "DnsUpdateFailed",
    # names
    "Zone", "naptr_name", "naptr_label", "bdxl_name", "cname_name", "legacy_cname_name",
    # lookup
    "NaptrRecord", "select_smp_url", "lookup_smp_url", "query_naptr",
    # management client
    "SmlClient", "mtls_context", "SmpInfo",
    # local SML
    "LocalSml", "ParticipantPage", "ZonePublisher", "certificate_owner", "dns_label", "new_migration_key",
    "SmlStore", "MemorySmlStore", "SmpRecord", "ParticipantRecord", "create_sml_app", "peer_certificate",
    "HttpsServer", "TlsScopeH11Protocol", "DnsServer", "Rfc2136Publisher",
}


def test_all_is_pinned():
    assert set(sml.__all__) == EXPECTED
    assert len(sml.__all__) == len(EXPECTED)
    for name in sml.__all__:
        assert getattr(sml, name) is not None


def test_errors_form_one_tree():
    for name in sml.__all__:
        obj = getattr(sml, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, sml.SmlError), name
    assert sml.DnsFailure.retryable and not sml.ParticipantNotRegistered.retryable


def test_sml_never_imports_accesspoint():
    import pathlib
    import re

    for path in pathlib.Path(sml.__file__).parent.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+(accesspoint|shares)\b", path.read_text(), re.M), path
