"""crypto.check_symmetric_key: what Register accepts as symmetric key material (issue 17: a 17-byte "AES" key is
refused)."""

from __future__ import annotations

import pytest

from kms_backend import crypto
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ResultReason
from kms_backend.kmip.errors import KmipError

AES, DES3 = CryptographicAlgorithm.AES, CryptographicAlgorithm.DES3


@pytest.mark.parametrize(
    ("algorithm", "bits", "size"),
    [
        (AES, 128, 16),
        (AES, 256, 32),
        (AES, None, 24),
        (AES, 512, 64),
        (DES3, 112, 16),
        (DES3, 192, 24),
        (DES3, 168, 21),
        (None, 8, 1),
    ],
)
def test_keys_that_fit(algorithm: CryptographicAlgorithm | None, bits: int | None, size: int) -> None:
    crypto.check_symmetric_key(algorithm, bits, bytes(size))


@pytest.mark.parametrize(
    ("algorithm", "bits", "size"),
    [
        (AES, None, 17),
        (AES, 136, 17),
        (AES, 128, 32),
        (DES3, 168, 16),
        (DES3, None, 8),
        (CryptographicAlgorithm.CHACHA20, 256, 16),
    ],
)
def test_keys_that_do_not(algorithm: CryptographicAlgorithm, bits: int | None, size: int) -> None:
    with pytest.raises(KmipError) as refused:
        crypto.check_symmetric_key(algorithm, bits, bytes(size))
    assert refused.value.reason == ResultReason.INVALID_FIELD
