"""The in-memory (one `AESGCM` call) and streaming (`Cipher`) AES-GCM paths are the same cipher."""

from __future__ import annotations

import os
import tempfile

import pytest

from as4 import _xenc
from as4.blob import Blob
from as4.errors import FailedDecryption


def _on_disk(data: bytes) -> Blob:
    fh = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the Blob
    fh.write(data)
    fh.flush()
    return Blob(file=fh, size=len(data))


def _both(data: bytes) -> list[Blob]:
    return [Blob.from_bytes(data), _on_disk(data)]


@pytest.mark.parametrize("size", [0, 1, 2557, 70_000])
def test_each_path_decrypts_what_the_other_encrypted(size):
    key, plain = os.urandom(16), os.urandom(size)
    assert [_xenc._one_shot(blob) for blob in _both(plain)] == [True, False]
    for source in _both(plain):
        sealed = _xenc.encrypt_blob(source, key).read()
        assert len(sealed) == _xenc.IV_BYTES + size + _xenc.TAG_BYTES
        for cipher in _both(sealed):
            assert _xenc.decrypt_blob(cipher, key).read() == plain


def test_both_paths_refuse_the_same_things():
    key, plain = os.urandom(16), os.urandom(3000)
    sealed = _xenc.encrypt_blob(Blob.from_bytes(plain), key).read()
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    cases = [
        (tampered, key, None, "tag does not match"),
        (sealed, os.urandom(16), None, "tag does not match"),       # another key
        (sealed, key, 2999, "exceeds the size limit"),
        (sealed, b"short", None, "unusable content key"),
        (sealed, b"short", 10, "unusable content key"),            # the key is checked before the size
        (sealed[:20], key, None, "shorter than IV + tag"),
    ]
    for data, k, limit, detail in cases:
        for cipher in _both(data):
            with pytest.raises(FailedDecryption) as info:
                _xenc.decrypt_blob(cipher, k, limit=limit)
            assert detail in info.value.detail, (cipher, detail)
    assert _xenc.decrypt_blob(Blob.from_bytes(sealed), key, limit=3000).read() == plain
