"""The SOAP messages of the SML API: every operation both ways, faults, bad input."""

from __future__ import annotations

import pytest
from lxml import etree

from sml import BadRequestFault, NotFoundFault, SmlFault, SmlTransportError, UnauthorizedFault
from sml.soap import (
    LOCATOR_NS,
    Operation,
    ParticipantList,
    SmlRequest,
    SmpInfo,
    build_fault,
    build_request,
    build_response,
    parse_request,
    parse_response,
)
from ubl import ParticipantId

PID = ParticipantId.parse("0088:123abc")
REQUESTS = [
    SmlRequest(Operation.CREATE_SMP, "SMP-1", "https://smp.example/", "192.0.2.1"),
    SmlRequest(Operation.READ_SMP, "SMP-1"),
    SmlRequest(Operation.UPDATE_SMP, "SMP-1", "https://smp2.example/", "192.0.2.2"),
    SmlRequest(Operation.DELETE_SMP, "SMP-1"),
    SmlRequest(Operation.CREATE_PARTICIPANT, "SMP-1", participant=PID),
    SmlRequest(Operation.DELETE_PARTICIPANT, "SMP-1", participant=PID),
    SmlRequest(Operation.LIST_PARTICIPANTS, "SMP-1"),
    SmlRequest(Operation.LIST_PARTICIPANTS, "SMP-1", next_page="iso6523-actorid-upis::0088:1"),
    SmlRequest(Operation.PREPARE_TO_MIGRATE, "SMP-1", participant=PID, migration_key="Ab1!cD2#"),
    SmlRequest(Operation.MIGRATE, "SMP-2", participant=PID, migration_key="Ab1!cD2#"),
]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.operation.name)
def test_request_round_trip(req):
    wire = build_request(req)
    assert parse_request(req.operation.service, wire) == req
    # The request element is the one the WSDL names, in the locator namespace.
    body = etree.fromstring(wire)[1]
    assert etree.QName(body[0]).localname == req.operation.request_element
    assert etree.QName(body[0]).namespace == LOCATOR_NS


def test_soap_actions_follow_the_wsdl():
    assert Operation.CREATE_SMP.soap_action == "http://busdox.org/serviceMetadata/ManageServiceMetadataService/1.0/:createIn"
    assert Operation.CREATE_PARTICIPANT.soap_action == (
        "http://busdox.org/serviceMetadata/ManageBusinessIdentifierService/1.0/         :createIn"
    )


def test_soap_actions_match_the_published_wsdl(testdata):
    wsdl = testdata / "peppol-commons" / "sml-wsdl"
    actions = set()
    for name in ("ManageServiceMetadataService-1.0.wsdl", "ManageBusinessIdentifierService-1.0.wsdl"):
        tree = etree.parse(str(wsdl / name), etree.XMLParser(resolve_entities=False, no_network=True))
        actions |= {el.get("soapAction") for el in tree.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation")}
    for op in Operation:
        assert op.soap_action in actions, op


def test_responses_round_trip():
    info = SmpInfo("SMP-1", "https://smp.example/", "192.0.2.1")
    assert parse_response(Operation.READ_SMP, build_response(Operation.READ_SMP, info)) == info
    page = ParticipantList((PID, ParticipantId.parse("9915:test")), "SMP-1", "next")
    assert parse_response(Operation.LIST_PARTICIPANTS, build_response(Operation.LIST_PARTICIPANTS, page)) == page
    assert parse_response(Operation.CREATE_PARTICIPANT, build_response(Operation.CREATE_PARTICIPANT)) is None


@pytest.mark.parametrize("fault", [BadRequestFault("[ERR-106] exists"), NotFoundFault("[ERR-100] gone"),
                                   UnauthorizedFault("[ERR-101] not yours")])
def test_fault_round_trip(fault):
    with pytest.raises(SmlFault) as info:
        parse_response(Operation.CREATE_PARTICIPANT, build_fault(fault))
    assert type(info.value) is type(fault)
    assert info.value.message == fault.message and info.value.code == fault.code


def test_foreign_fault_without_detail():
    wire = (
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><S:Fault>'
        b"<faultcode>S:Server</faultcode><faultstring>[ERR-105] boom</faultstring></S:Fault></S:Body></S:Envelope>"
    )
    with pytest.raises(SmlFault) as info:
        parse_response(Operation.DELETE_SMP, wire)
    assert info.value.fault == "InternalErrorFault" and info.value.code == "ERR-105"


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"not xml",
        b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>',
        b"<Envelope/>",
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"/>',
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>',
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><x/></S:Body></S:Envelope>',
    ],
)
def test_malformed_requests_are_bad_requests(wire):
    with pytest.raises(BadRequestFault):
        parse_request("manageparticipantidentifier", wire)


def test_request_field_problems():
    ok = build_request(SmlRequest(Operation.CREATE_PARTICIPANT, "SMP-1", participant=PID))
    with pytest.raises(BadRequestFault):  # operation sent to the other service
        parse_request("manageservicemetadata", ok)
    for bad in (b'scheme="iso6523-actorid-upis">0088:123abc<', b'scheme="">0088:123abc<', b'scheme="iso6523-actorid-upis">bad id<'):
        wire = ok.replace(b'scheme="iso6523-actorid-upis">0088:123abc<', bad.replace(b"0088:123abc", b"0088:123abc"))
        if bad.startswith(b'scheme="iso6523-actorid-upis">0088'):
            assert parse_request("manageparticipantidentifier", wire).participant == PID
        else:
            with pytest.raises(BadRequestFault):
                parse_request("manageparticipantidentifier", wire)
    no_key = build_request(SmlRequest(Operation.MIGRATE, "SMP-2", participant=PID, migration_key="Ab1!cD2#"))
    with pytest.raises(BadRequestFault):
        parse_request("manageparticipantidentifier", no_key.replace(b"Ab1!cD2#", b""))


def test_malformed_responses_are_transport_errors():
    with pytest.raises(SmlTransportError):
        parse_response(Operation.READ_SMP, b"<html>proxy error</html>")
    with pytest.raises(SmlTransportError):
        parse_response(Operation.READ_SMP, build_response(Operation.CREATE_SMP))
