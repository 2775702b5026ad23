"""Endpoint selection on real answers: vefa's activation/expiration table, unknown profiles, wildcards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import smp
from smp import NoEndpoint, NoEndpointReason, SmpParseError
from ubl import BIS_BILLING_PROCESS, DocumentTypeId, ParticipantId, ProcessId

# vefa-peppol README: upstream expectations hold for any date in 2025-02-17 ... 2027-02-07.
NOW = datetime(2026, 1, 15, tzinfo=UTC)
VEFA = "vefa-peppol/smp/"

DATE_CASES = {
    "busdox-servicemetadata-0192-923829644-1.xml": NoEndpointReason.EXPIRED,
    "busdox-servicemetadata-0192-923829644-2.xml": None,
    "busdox-servicemetadata-0192-923829644-3.xml": NoEndpointReason.NOT_YET_ACTIVE,
    "busdox-servicemetadata-0192-12345678-1.xml": None,
    "busdox-servicemetadata-0192-12345678-2.xml": None,
    "busdox-servicemetadata-0192-12345678-3.xml": None,
    "busdox-servicemetadata-0192-98765432-1.xml": NoEndpointReason.EXPIRED,
    "busdox-servicemetadata-0192-98765432-2.xml": NoEndpointReason.NOT_YET_ACTIVE,
    "busdox-servicemetadata-0192-98765432-3.xml": NoEndpointReason.INVALID_DATES,
}


def info(testdata: Path, name: str) -> smp.ServiceInformation:
    metadata = smp.parse_service_metadata((testdata / name).read_bytes())
    assert metadata.information is not None
    return metadata.information


@pytest.mark.parametrize("name", sorted(DATE_CASES))
def test_activation_and_expiration(testdata: Path, name: str) -> None:
    si = info(testdata, VEFA + name)
    expected = DATE_CASES[name]
    if expected is None:
        endpoint = smp.select_endpoint(si, process_id=BIS_BILLING_PROCESS, at=NOW)
        assert endpoint.transport_profile == smp.TRANSPORT_AS4_V2
        assert endpoint.address.startswith("https://")
    else:
        with pytest.raises(NoEndpoint) as exc:
            smp.select_endpoint(si, process_id=BIS_BILLING_PROCESS, at=NOW)
        assert exc.value.reason is expected


def test_active_endpoint_is_basware_pop000010(testdata: Path) -> None:
    endpoint = smp.select_endpoint(info(testdata, VEFA + "busdox-servicemetadata-0192-923829644-2.xml"),
                                   process_id=BIS_BILLING_PROCESS, at=NOW)
    assert "CN=POP000010" in endpoint.certificate().subject.rfc4514_string()


def test_not_found_for_another_transport_profile(testdata: Path) -> None:
    with pytest.raises(NoEndpoint) as exc:
        smp.select_endpoint(info(testdata, VEFA + "busdox-servicemetadata-0192-923829644-2.xml"),
                            process_id=BIS_BILLING_PROCESS, at=NOW, transport_profile="bdxr-transport-ebms3-as4-v1p0")
    assert exc.value.reason is NoEndpointReason.NO_TRANSPORT


# The README summarises these as "AS4 v2 rejected"; the files say: 12345678's AS4 endpoint has
# no dates (always active), 923829644's expired 2024-01-01, 98765432's expires before it starts.
MULTI = {
    "busdox-servicemetadata-9908-12345678.xml": None,
    "busdox-servicemetadata-9908-923829644.xml": NoEndpointReason.EXPIRED,
    "busdox-servicemetadata-9908-98765432.xml": NoEndpointReason.INVALID_DATES,
}


@pytest.mark.parametrize("name", sorted(MULTI))
def test_multi_transport_answers(testdata: Path, name: str) -> None:
    si = info(testdata, VEFA + name)
    assert {e.transport_profile for p in si.processes for e in p.endpoints} >= {smp.TRANSPORT_AS4_V2}
    if MULTI[name] is None:
        assert smp.select_endpoint(si, process_id=si.processes[0].process_id, at=NOW).transport_profile == \
            smp.TRANSPORT_AS4_V2
        return
    with pytest.raises(NoEndpoint) as exc:
        smp.select_endpoint(si, process_id=si.processes[0].process_id, at=NOW)
    assert exc.value.reason is MULTI[name]


def test_wrong_process(testdata: Path) -> None:
    with pytest.raises(NoEndpoint) as exc:
        smp.select_endpoint(info(testdata, VEFA + "busdox-servicemetadata-0192-923829644-2.xml"),
                            process_id=ProcessId.parse("urn:fdc:peppol.eu:2017:poacc:ordering:01:1.0"), at=NOW)
    assert exc.value.reason is NoEndpointReason.NO_PROCESS


def test_unknown_transport_profiles_are_skipped(testdata: Path) -> None:
    si = info(testdata, "oxalis/smp/smp-response-with-unknown-protocol.xml")
    profiles = [e.transport_profile for p in si.processes for e in p.endpoints]
    assert "busdox-unknown-protocol" in profiles and "busdox-transport-start" in profiles
    start = smp.select_endpoint(si, process_id=si.processes[0].process_id, transport_profile="busdox-transport-start",
                                at=datetime(2013, 6, 1, tzinfo=UTC))
    assert start.transport_profile == "busdox-transport-start"
    with pytest.raises(NoEndpoint) as exc:
        smp.select_endpoint(si, process_id=si.processes[0].process_id, at=datetime(2013, 6, 1, tzinfo=UTC))
    assert exc.value.reason is NoEndpointReason.NO_TRANSPORT


def test_identifiers_are_read_and_normalised(testdata: Path) -> None:
    si = info(testdata, VEFA + "busdox-servicemetadata-0192-12345678-1.xml")
    assert si.participant_id == ParticipantId.parse("0192:12345678")
    # the value is padded with newlines in the file
    assert si.document_type_id.value.startswith("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##")


def test_wildcard_candidates_reach_the_registered_pint_id(testdata: Path) -> None:
    si = info(testdata, VEFA + "peppol-doctype-wildcard-servicemetadata-9901-pint_c4_jp_sb.xml")
    registered = si.document_type_id
    assert registered.scheme == "peppol-doctype-wildcard"
    wanted = DocumentTypeId(
        "peppol-doctype-wildcard",
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:peppol:pint:billing-3.0@jp:peppol-1@xyz-1::2.1",
    )
    candidates = smp.wildcard_candidates(wanted)
    assert candidates[0] == wanted
    assert registered in candidates
    assert candidates.index(registered) == 2  # exact, "@xyz-1*", then "@jp:peppol-1*"
    assert candidates[-1].value.endswith("##urn:peppol:pint:billing-3.0*::2.1")


def test_busdox_ids_have_no_wildcard_candidates() -> None:
    from ubl import BIS_BILLING_INVOICE

    assert smp.wildcard_candidates(BIS_BILLING_INVOICE) == [BIS_BILLING_INVOICE]


@pytest.mark.parametrize("name", ["invalid.xml", "no_partid.xml", "no_docid.xml", "no_ep_tprofile.xml"])
def test_holodeck_rejected_answers(testdata: Path, name: str) -> None:
    with pytest.raises(SmpParseError):
        smp.parse_service_metadata((testdata / "holodeck-bdxr-smp-client/peppol-smp" / name).read_bytes())


@pytest.mark.parametrize("name", ["busdox-servicegroup-0192-991825827.xml", "busdox-servicegroup-9915-setcce-test.xml",
                                  "busdox-servicegroup-docslogistics.xml"])
def test_service_groups(testdata: Path, name: str) -> None:
    group = smp.parse_service_group((testdata / VEFA / name).read_bytes())
    assert group.references
    if name == "busdox-servicegroup-0192-991825827.xml":
        assert len(group.references) == 9  # vefa BusdoxReaderTest
        assert group.participant_id == ParticipantId.parse("0192:991825827")
        assert all(r.document_type_id is not None for r in group.references)


def test_phoss_rest_body_with_placeholder_certificate_is_refused(testdata: Path) -> None:
    # phoss-smp's test body carries <Certificate>blacert</Certificate>; our SMP refuses to publish that.
    with pytest.raises(SmpParseError, match="Certificate"):
        smp.parse_service_metadata((testdata / "phoss-smp/rest-files/peppol-service-metadata.xml").read_bytes())


def test_phoss_rest_service_group_parses(testdata: Path) -> None:
    group = smp.parse_service_group((testdata / "phoss-smp/rest-files/peppol-service-group.xml").read_bytes())
    assert group.participant_id.scheme == "iso6523-actorid-upis"


def test_render_parse_round_trip(testdata: Path) -> None:
    si = info(testdata, VEFA + "busdox-servicemetadata-0192-923829644-2.xml")
    again = smp.parse_service_metadata(smp.render_service_metadata(si)).information
    assert again is not None
    assert again.participant_id == si.participant_id and again.document_type_id == si.document_type_id
    assert [e.address for p in again.processes for e in p.endpoints] == [e.address for p in si.processes for e in p.endpoints]
    assert [e.certificate_der for p in again.processes for e in p.endpoints] == \
        [e.certificate_der for p in si.processes for e in p.endpoints]
    assert [(e.activation, e.expiration) for p in again.processes for e in p.endpoints] == \
        [(e.activation, e.expiration) for p in si.processes for e in p.endpoints]
