"""Every multi-part mechanism, fed in random part sizes, gives the one-shot result (PKCS#11 3.0 §5.8-5.12).

Each part goes through the §5.2 two-step call that python-pkcs11 and most applications make (a length query
with a NULL buffer, then the call with a buffer), so the output kept between the two steps is exercised too,
including equal consecutive parts (python-pkcs11's ``test_encrypt_whacky_sizes`` has two).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider import ciphers, digests, keys, signatures
from provider.constants import Attribute, Mechanism
from provider.library import Library
from provider.mechanisms import CtrParams, GcmParams, MechanismParameter

from .test_crypto import aes_key, ec_pair, rsa_pair
from .test_library import boolean, ulong

A = Attribute
M = Mechanism
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=True
)
DATA = st.binary(min_size=0, max_size=300)
CUTS = st.lists(st.integers(min_value=0, max_value=300), max_size=8)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (empty parts included, as callers send them)."""
    points = sorted({min(c, len(data)) for c in cuts})
    parts, start = [], 0
    for point in points:
        parts.append(data[start:point])
        start = point
    parts.append(data[start:])
    return parts


def two_step(call: Callable[..., bytes], *args: object) -> bytes:
    """§5.2: ask for the length (NULL buffer), then call again with a buffer of that size."""
    size = len(call(*args, None))
    return call(*args, size)


CIPHERS: dict[str, tuple[Mechanism, Callable[[], MechanismParameter], int]] = {
    "ecb": (M.AES_ECB, lambda: None, 16),
    "cbc": (M.AES_CBC, lambda: os.urandom(16), 16),
    "cbc_pad": (M.AES_CBC_PAD, lambda: os.urandom(16), 1),
    "ctr": (M.AES_CTR, lambda: CtrParams(128, os.urandom(16)), 1),
    "gcm": (M.AES_GCM, lambda: GcmParams(os.urandom(12), b"aad", 128), 1),
}


@pytest.mark.parametrize("name", sorted(CIPHERS))
def test_ciphers_multi_part_equals_one_shot(lib: Library, user_session: int, name: str):
    mechanism, make_parameter, unit = CIPHERS[name]
    key = aes_key(lib, user_session)
    s = user_session

    @SETTINGS
    @given(data=DATA, cuts=CUTS, decrypt_cuts=CUTS)
    def check(data: bytes, cuts: list[int], decrypt_cuts: list[int]) -> None:
        data = data[: len(data) - len(data) % unit]
        parameter = make_parameter()
        ciphers.encrypt_init(lib, s, mechanism, parameter, key)
        one_shot = two_step(ciphers.encrypt, lib, s, data)
        ciphers.encrypt_init(lib, s, mechanism, parameter, key)
        parts = [two_step(ciphers.encrypt_update, lib, s, p) for p in split(data, [c - c % unit for c in cuts])]
        assert b"".join(parts) + two_step(ciphers.encrypt_final, lib, s) == one_shot
        ciphers.decrypt_init(lib, s, mechanism, parameter, key)
        unit_out = 16 if name in ("ecb", "cbc", "cbc_pad") else 1
        pieces = split(one_shot, [c - c % unit_out for c in decrypt_cuts])
        plain = [two_step(ciphers.decrypt_update, lib, s, p) for p in pieces]
        assert b"".join(plain) + two_step(ciphers.decrypt_final, lib, s) == data

    check()


def test_equal_consecutive_parts(lib: Library, user_session: int):
    """Two identical parts in a row are two parts, not one repeated length query (the 76 'L's of "HELLO")."""
    key = aes_key(lib, user_session)
    iv = b"0" * 16
    data = [(c * ord(c)).encode() for c in "HELLO WORLD"]
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
    parts = [two_step(ciphers.encrypt_update, lib, user_session, p) for p in data]
    sealed = b"".join(parts) + two_step(ciphers.encrypt_final, lib, user_session)
    ciphers.decrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
    assert two_step(ciphers.decrypt, lib, user_session, sealed) == b"".join(data)


def _signers(lib: Library, s: int) -> dict[str, tuple[Mechanism, int, int]]:
    hmac = keys.generate_key(
        lib,
        s,
        M.GENERIC_SECRET_KEY_GEN,
        [(A.VALUE_LEN, ulong(32)), (A.TOKEN, boolean(False)), (A.SIGN, boolean(True)), (A.VERIFY, boolean(True))],
    )
    rsa_public, rsa_private = rsa_pair(lib, s)
    ec_public, ec_private = ec_pair(lib, s)
    return {
        "hmac": (M.SHA256_HMAC, hmac, hmac),
        "rsa": (M.SHA256_RSA_PKCS, rsa_private, rsa_public),
        "ecdsa": (M.ECDSA_SHA384, ec_private, ec_public),
    }


def test_signatures_and_digests_multi_part_equal_one_shot(lib: Library, user_session: int):
    s = user_session
    signers = _signers(lib, s)

    @SETTINGS
    @given(data=DATA, cuts=CUTS)
    def check(data: bytes, cuts: list[int]) -> None:
        parts = split(data, cuts)
        digests.digest_init(lib, s, M.SHA256, None)
        one_shot = two_step(digests.digest, lib, s, data)
        digests.digest_init(lib, s, M.SHA256, None)
        for part in parts:
            digests.digest_update(lib, s, part)
        assert two_step(digests.digest_final, lib, s) == one_shot
        for mechanism, signing, verifying in signers.values():
            signatures.sign_init(lib, s, mechanism, None, signing)
            whole = two_step(signatures.sign, lib, s, data)
            signatures.sign_init(lib, s, mechanism, None, signing)
            for part in parts:
                signatures.sign_update(lib, s, part)
            multi = two_step(signatures.sign_final, lib, s)
            if mechanism is not M.ECDSA_SHA384:  # ECDSA signatures are randomised: each must verify instead
                assert multi == whole
            for signature in (whole, multi):
                signatures.verify_init(lib, s, mechanism, None, verifying)
                for part in parts:
                    signatures.verify_update(lib, s, part)
                signatures.verify_final(lib, s, signature)

    check()
