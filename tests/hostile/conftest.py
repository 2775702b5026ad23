"""Shared material for the hostile-input suite: one test PKI, two APs and one SMP, real sealed messages.

Every fuzz target starts from a *valid* input made by our own builders (a
sealed AS4 message, a signed SMP answer, an SBD), because mutating something
valid reaches the deep parser paths that random bytes never get past.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import strategies as st

import certs
from tests.as4.conftest import make_sbd  # noqa: F401  (one SBD sample for both suites)


@dataclass
class Pki:
    pki: certs.TestPki
    sender: certs.Issued
    receiver: certs.Issued
    smp: certs.Issued

    @property
    def trust(self) -> certs.TrustStore:
        return self.pki.trust_store()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    p = certs.TestPki.generate(tmp_path_factory.mktemp("hostile") / "pki")
    return Pki(p, p.issue_ap("POP000001"), p.issue_ap("POP000002"), p.issue_smp("POP000002"))


def _apply(seed: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for pos, kind, junk in ops:
        pos = pos % (len(data) + 1)
        if kind == 0:  # overwrite
            data[pos:pos + len(junk)] = junk
        elif kind == 1:  # insert
            data[pos:pos] = junk
        elif kind == 2:  # delete
            del data[pos:pos + len(junk)]
        else:  # flip one bit
            if pos < len(data):
                data[pos] ^= 1 << (junk[0] % 8)
    return bytes(data)


#: Bytes that matter to the parsers under test: XML and MIME syntax, base64, line ends.
_INTERESTING = st.sampled_from([b"<", b">", b"/>", b"&", b"&amp;", b'"', b"'", b"=", b"\r\n", b"\n", b"--", b":",
                                b"\x00", b"\xff", b"]]>", b"<!--", b"<![CDATA[", b"<!DOCTYPE x>", b"xmlns=\"\"",
                                b"Content-Type: text/plain\r\n", b"=?utf-8?b?", b"AAAA"])


def mutations(seed: bytes, max_ops: int = 4) -> st.SearchStrategy[bytes]:
    """`seed` with a few overwrites, insertions, deletions and bit flips at arbitrary places."""
    junk = st.one_of(_INTERESTING, st.binary(min_size=1, max_size=12))
    op = st.tuples(st.integers(0, len(seed)), st.integers(0, 3), junk)
    return st.lists(op, min_size=1, max_size=max_ops).map(lambda ops: _apply(seed, ops))
