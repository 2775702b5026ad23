"""Every signed SMP answer in ../shared/testdata classified as its README says, time pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import certs
import smp
from smp import SignatureProblem, SmpParseError, SmpSignatureError
from tests.smp.conftest import g2_store


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


# file -> (README expectation, trust set, a time inside the signer's validity, signer seat id)
# Signer validity windows (POP000010 has two certificates) are from the files' own X509Certificate.
POP10_A, POP10_B = at("2022-06-01"), at("2025-03-01")
SIGNED = {
    "peppol-commons/smp/signed-service-metadata1.xml": ("invalid", "prod", at("2021-01-01"), None),
    "peppol-commons/smp/signed-service-metadata2.xml": ("valid", "prod", at("2021-01-01"), "PNO000070"),
    "peppol-commons/smp/signed-service-metadata3-c14n-inclusive.xml": ("valid", "prod", at("2020-08-01"), "PNL000052"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-12345678-1.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-12345678-2.xml": ("valid", "test", POP10_B, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-12345678-3.xml": ("valid", "test", POP10_B, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-923829644-1.xml": ("valid", "test", POP10_B, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-923829644-2.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-923829644-3.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-98765432-1.xml": ("valid", "test", POP10_B, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-98765432-2.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-98765432-3.xml": ("valid", "test", POP10_B, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-9908-12345678.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-9908-923829644.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-9908-98765432.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/peppol-doctype-wildcard-servicemetadata-9901-pint_c4_jp_sb.xml": ("valid", "test", POP10_A, "POP000010"),
    "vefa-peppol/smp/busdox-servicemetadata-0192-991825827.xml": ("valid", "prod", at("2021-06-01"), "PNO000179"),
    "vefa-peppol/smp/busdox-servicemetadata-redirect-0192-991825827.xml": ("valid", "test", at("2021-06-01"), "PNO000179"),
    "vefa-peppol/smp/busdox-servicemetadata-redirected-0192-991825827.xml": ("valid", "test", at("2021-06-01"), "PNO000179"),
    # G1 (pre-2018) signers: the signature verifies, but no trust set of ours holds their CA
    # and their CN is not a seat id.
    "vefa-peppol/smp/busdox-servicemetadata-9933-061828591.xml": ("valid", None, at("2015-06-01"), None),
    "vefa-peppol/smp/bdxr201407-servicemetadata-9908-810418052.xml": ("valid", None, at("2015-06-01"), None),
    "oxalis/smp/smp-response-for-971033533.xml": ("valid", None, at("2016-01-01"), None),
    "oxalis/smp/difi-smp-result.xml": ("invalid", None, at("2015-06-01"), None),
    "oxalis/smp/smp-response-with-as2.xml": ("invalid", None, at("2014-06-01"), None),
    "oxalis/smp/smp-response-with-unknown-protocol.xml": ("invalid", None, at("2014-06-01"), None),
    "oxalis/smp/sr-smp-result.xml": ("invalid", None, at("2016-01-01"), None),
    "oxalis/smp/sr-utf8.xml": ("invalid", None, at("2016-01-01"), None),
    # OASIS SMP 2.0 (not Peppol, but the signature check is the same XMLDSig)
    "holodeck-bdxr-smp-client/generic-client/smpresultreadertest/signed_result.xml": ("valid", None, at("2020-01-01"), None),
    "holodeck-bdxr-smp-client/generic-client/smpresultreadertest/inv_signed_result.xml": ("invalid", None, at("2020-01-01"), None),
    # placeholder signatures without a real certificate
    "holodeck-bdxr-smp-client/peppol-smp/signedsmd.xml": ("invalid", None, at("2022-01-01"), None),
    "holodeck-bdxr-smp-client/oasis-smp/signedsmd.xml": ("invalid", None, at("2022-01-01"), None),
}
UNSIGNED = [
    "vefa-peppol/smp/busdox-servicegroup-0192-991825827.xml",
    "vefa-peppol/smp/busdox-servicegroup-9915-setcce-test.xml",
    "vefa-peppol/smp/busdox-servicegroup-docslogistics.xml",
    "holodeck-bdxr-smp-client/generic-client/smpresultreadertest/unsigned_result.xml",
    "holodeck-bdxr-smp-client/peppol-smp/unsignedsmd.xml",
]


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_signature_verdict_matches_readme(testdata: Path, name: str) -> None:
    expected, _trust, when, _seat = SIGNED[name]
    data = (testdata / name).read_bytes()
    if expected == "valid":
        check = smp.check_signature(data, at=when, allow_sha1=True)
        assert check.certificate.not_valid_before_utc <= when <= check.certificate.not_valid_after_utc
    else:
        with pytest.raises(SmpSignatureError) as exc:
            smp.check_signature(data, at=when, allow_sha1=True)
        assert exc.value.reason in (SignatureProblem.INVALID, SignatureProblem.MALFORMED)


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_verdict_agrees_with_the_collectors_xmlsec_oracle(testdata: Path, name: str) -> None:
    oracle = json.loads((testdata / "reference-results" / "signature-results.json").read_text())["xmldsig_enveloped"]
    verdict = oracle[name].split()[0]
    assert verdict == {"valid": "SIGNATURE-VALID", "invalid": "SIGNATURE-INVALID"}[SIGNED[name][0]]


@pytest.mark.parametrize("name", UNSIGNED)
def test_unsigned_answers_are_refused(testdata: Path, name: str) -> None:
    with pytest.raises(SmpSignatureError) as exc:
        smp.check_signature((testdata / name).read_bytes(), at=at("2022-01-01"), allow_sha1=True)
    assert exc.value.reason is SignatureProblem.MISSING


PEPPOL_TRUSTED = sorted(n for n, v in SIGNED.items() if v[0] == "valid" and v[1] is not None)


@pytest.mark.parametrize("name", PEPPOL_TRUSTED)
def test_signer_chains_to_the_g2_smp_ca_at_the_pinned_time(testdata: Path, name: str) -> None:
    _, which, when, seat = SIGNED[name]
    trust = g2_store(testdata, which)
    verified = smp.verify_service_metadata((testdata / name).read_bytes(), trust=trust, at=when, allow_sha1=True)
    assert verified.signer.seat_id == seat


@pytest.mark.parametrize("name", PEPPOL_TRUSTED[:3])
def test_same_answer_is_untrusted_later_or_under_g3(testdata: Path, name: str) -> None:
    _, which, when, _ = SIGNED[name]
    data = (testdata / name).read_bytes()
    with pytest.raises(SmpSignatureError) as exc:
        smp.verify_service_metadata(data, trust=g2_store(testdata, which), at=at("2026-11-22"), allow_sha1=True)
    assert exc.value.reason is SignatureProblem.UNTRUSTED
    with pytest.raises(SmpSignatureError) as exc:
        smp.verify_service_metadata(data, trust=certs.TrustStore.builtin("production"), at=when, allow_sha1=True)
    assert exc.value.reason is SignatureProblem.UNTRUSTED


def test_sha1_refused_unless_allowed(testdata: Path) -> None:
    data = (testdata / "peppol-commons/smp/signed-service-metadata2.xml").read_bytes()
    with pytest.raises(SmpSignatureError) as exc:
        smp.check_signature(data, at=at("2021-01-01"))
    assert exc.value.reason is SignatureProblem.ALGORITHM


@pytest.mark.parametrize("name", ["oxalis/smp/smp-response-for-971033533.xml",
                                  "vefa-peppol/smp/busdox-servicemetadata-9933-061828591.xml"])
def test_g1_signers_are_not_trusted(testdata: Path, g2_prod: certs.TrustStore, name: str) -> None:
    with pytest.raises(SmpSignatureError) as exc:
        smp.verify_service_metadata((testdata / name).read_bytes(), trust=g2_prod, at=SIGNED[name][2], allow_sha1=True)
    assert exc.value.reason is SignatureProblem.UNTRUSTED


def test_tampered_content_is_caught_after_a_valid_signature(testdata: Path, g2_prod: certs.TrustStore) -> None:
    data = (testdata / "peppol-commons/smp/signed-service-metadata2.xml").read_bytes()
    tampered = data.replace(b"</ids:ParticipantIdentifier>", b"0</ids:ParticipantIdentifier>", 1)
    assert tampered != data
    with pytest.raises(SmpSignatureError) as exc:
        smp.verify_service_metadata(tampered, trust=g2_prod, at=at("2021-01-01"), allow_sha1=True)
    assert exc.value.reason is SignatureProblem.INVALID


def test_a_second_signature_is_refused(testdata: Path) -> None:
    data = (testdata / "peppol-commons/smp/signed-service-metadata2.xml").read_bytes()
    start = data.index(b"<Signature")
    end = data.index(b"</Signature>") + len(b"</Signature>")
    doubled = data[:end] + data[start:end] + data[end:]
    with pytest.raises(SmpSignatureError) as exc:
        smp.check_signature(doubled, at=at("2021-01-01"), allow_sha1=True)
    assert exc.value.reason is SignatureProblem.MALFORMED


@pytest.mark.parametrize("data", [b"", b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', b"<a><b></a>"])
def test_garbage_gives_typed_errors(data: bytes) -> None:
    with pytest.raises(SmpParseError):
        smp.verify_service_metadata(data, trust=certs.TrustStore.builtin("test"), at=at("2026-01-01"))
