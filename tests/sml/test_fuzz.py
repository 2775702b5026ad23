"""Untrusted input meets only typed errors: DNS wire, SOAP, NAPTR regexps, names."""

from __future__ import annotations

import re

import dns.message
import dns.rcode
import dns.rdatatype
from hypothesis import given, settings
from hypothesis import strategies as st

from sml import BadRequestFault, InvalidParticipant, SmlFault, SmlTransportError, Zone, naptr_name
from sml.dnsserver import ZoneAnswerer
from sml.local import dns_label
from sml.naptr import apply_regexp
from sml.soap import Operation, parse_request, parse_response
from ubl import ParticipantId

ANSWERER = ZoneAnswerer(Zone("fuzz.test"), serial=1)
PID = ParticipantId.parse("0088:123abc")


def _resolve(label: str) -> str | None:
    return "https://smp.example/" if label == dns_label(PID) else None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_dns_answerer_never_raises(wire):
    out = ANSWERER.answer_query(wire, _resolve, tcp=False)
    assert out is None or (isinstance(out, bytes) and len(out) <= 512)


_LABEL = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LABEL, max_size=4), st.sampled_from(["NAPTR", "A", "AAAA", "SOA", "NS", "ANY", "TXT", "CNAME"]),
       st.booleans())
def test_dns_answerer_structured_queries(labels, qtype, use_edns):
    name = ".".join([*labels, "fuzz.test."])
    query = dns.message.make_query(name, qtype, use_edns=0 if use_edns else None)
    response = dns.message.from_wire(ANSWERER.answer_query(query.to_wire(), _resolve, tcp=True))
    assert response.id == query.id
    assert response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)
    if response.rcode() == dns.rcode.NXDOMAIN or not response.answer:
        assert response.authority and response.authority[0].rdtype == dns.rdatatype.SOA


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=52, max_size=52))
def test_dns_0x20_case_randomisation_is_answered_and_echoed(upper):
    name = naptr_name(PID, "fuzz.test")
    label = "".join(c.upper() if u else c for c, u in zip(name[:52], upper))
    query = dns.message.make_query(label + name[52:] + ".", "NAPTR")
    response = dns.message.from_wire(ANSWERER.answer_query(query.to_wire(), _resolve, tcp=False))
    assert response.rcode() == dns.rcode.NOERROR and response.answer
    assert response.question[0].name.to_text() == label + name[52:] + "."


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_soap_parsers_raise_only_typed_errors(data):
    for service in ("manageservicemetadata", "manageparticipantidentifier"):
        try:
            parse_request(service, data)
        except BadRequestFault:
            pass
    for op in Operation:
        try:
            parse_response(op, data)
        except (SmlTransportError, SmlFault):  # SmlFault: a fault the bytes carry
            pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_apply_regexp_raises_only_value_error(regexp, subject):
    try:
        assert isinstance(apply_regexp(regexp, subject), str)
    except ValueError:
        pass


_ID = st.from_regex(r"[0-9]{4}:[A-Za-z0-9\-._~]{1,130}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(_ID)
def test_names_of_valid_ids_are_valid_dns_names(value):
    name = naptr_name(f"iso6523-actorid-upis::{value}", Zone.PRODUCTION)
    labels = name.split(".")
    assert re.fullmatch(r"[a-z2-7]{52}", labels[0])
    assert labels[1] == "iso6523-actorid-upis" and all(0 < len(x) <= 63 for x in labels)
    assert name == naptr_name(f"iso6523-actorid-upis::{value.upper()}", Zone.PRODUCTION)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_naptr_name_of_anything_is_a_name_or_invalid_participant(text):
    try:
        naptr_name(text, Zone.TEST)
    except InvalidParticipant:
        pass
