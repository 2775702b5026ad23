"""The public surface of `ubl` is what `__all__` says, and every name in it exists."""

from __future__ import annotations

import ubl


def test_all_names_exist_and_are_unique() -> None:
    assert len(ubl.__all__) == len(set(ubl.__all__))
    for name in ubl.__all__:
        assert hasattr(ubl, name), name


def test_shared_contract_names() -> None:
    """Names other packages code against (helper brief, "Shared contracts")."""
    for name in ("ParticipantId", "DocumentTypeId", "ProcessId", "UblError", "IdentifierError",
                 "parse_sbd", "build_sbd", "SbdhError", "StandardBusinessDocument", "MlsType"):
        assert name in ubl.__all__
    assert issubclass(ubl.IdentifierError, ValueError) and issubclass(ubl.IdentifierError, ubl.UblError)
    assert issubclass(ubl.SbdhError, ubl.UblError) and issubclass(ubl.DocumentError, ubl.UblError)
    fields = set(ubl.StandardBusinessDocument.__dataclass_fields__)
    assert {"sender", "receiver", "document_type_id", "process_id", "instance_identifier", "creation_time",
            "country_c1", "mls_to", "mls_type", "standard", "type_version", "type", "payload"} <= fields
