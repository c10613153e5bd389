"""Symmetric Encrypt/Decrypt: round trips of every mode, streams (chunked == one-shot), exact failure reasons."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kms_backend import crypto
from kms_backend.crypto import CipherParams
from kms_backend.kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, PaddingMethod, ResultReason
from kms_backend.kmip.errors import KmipError

AES = CryptographicAlgorithm.AES
M = BlockCipherMode


def aes(mode: BlockCipherMode | None = None, **kw) -> CipherParams:
    return CipherParams(cryptographic_algorithm=AES, block_cipher_mode=mode, **kw)


def reason(excinfo: pytest.ExceptionInfo[KmipError]) -> ResultReason:
    return excinfo.value.reason


# (params, key length, data) for a round trip of every supported mode.
ROUND_TRIPS = [
    ("AES-GCM default", aes(), 32, b"x" * 64),
    ("AES-GCM 128", aes(M.GCM), 16, b"hello world!"),
    ("AES-GCM empty", aes(M.GCM), 24, b""),
    ("AES-CBC PKCS5", aes(M.CBC, padding_method=PaddingMethod.PKCS5), 16, b"x" * 33),
    ("AES-CBC default pad", aes(M.CBC), 32, b"abc"),
    ("AES-CBC none", aes(M.CBC, padding_method=PaddingMethod.NONE), 32, b"y" * 32),
    ("AES-CBC X9.23", aes(M.CBC, padding_method=PaddingMethod.ANSI_X9_23), 16, b"z" * 17),
    ("AES-ECB none", aes(M.ECB), 16, b"a" * 16),
    ("AES-ECB PKCS5", aes(M.ECB, padding_method=PaddingMethod.PKCS5), 16, b"a" * 5),
    ("AES-CTR", aes(M.CTR), 32, b"b" * 37),
    ("AES-CFB", aes(M.CFB), 16, b"c" * 21),
    ("AES-OFB", aes(M.OFB), 16, b"d" * 21),
    ("AES-XTS 128", aes(M.XTS), 32, b"e" * 40),
    ("AES-XTS 256", aes(M.XTS), 64, b"e" * 16),
    ("AES-GCM-SIV", aes(M.GCM_SIV), 32, b"f" * 10),
    ("AES-CCM", aes(M.CCM, tag_length=8), 16, b"g" * 10),
    ("AES-KW", aes(M.NISTKEYWRAP), 32, b"h" * 24),
    ("AES-KWP", aes(M.AESKEYWRAPPADDING), 32, b"i" * 7),
    ("ChaCha20-Poly1305", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305), 32, b"j" * 16),
    ("ChaCha20", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20), 32, b"k" * 100),
    ("3DES-CBC", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.DES3), 24, b"l" * 9),
    (
        "3DES-ECB",
        CipherParams(cryptographic_algorithm=CryptographicAlgorithm.DES3, block_cipher_mode=M.ECB),
        24,
        b"m" * 8,
    ),
]


@pytest.mark.parametrize(("params", "key_len", "data"), [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(params: CipherParams, key_len: int, data: bytes):
    key = os.urandom(key_len)
    if params.block_cipher_mode == M.XTS:
        key = os.urandom(key_len // 2) + os.urandom(key_len // 2)
    aad = (
        b"header"
        if params.block_cipher_mode in (None, M.GCM, M.CCM, M.GCM_SIV)
        and (
            params.cryptographic_algorithm != CryptographicAlgorithm.CHACHA20
            and params.cryptographic_algorithm != CryptographicAlgorithm.DES3
        )
        else None
    )
    result = crypto.encrypt(key, params, data, aad=aad)
    assert result.data != data or len(data) < 8  # a short block may collide by chance
    assert crypto.decrypt(key, params, result.data, iv=result.iv_counter_nonce, aad=aad, tag=result.tag) == data


def test_generated_iv_lengths_and_tag():
    key = os.urandom(32)
    gcm = crypto.encrypt(key, aes(M.GCM), b"data")
    assert len(gcm.iv_counter_nonce or b"") == 12 and len(gcm.tag or b"") == 16
    cbc = crypto.encrypt(key, aes(M.CBC, random_iv=True), b"data")
    assert len(cbc.iv_counter_nonce or b"") == 16 and cbc.tag is None
    custom = crypto.encrypt(key, aes(M.GCM, iv_length=128), b"data")
    assert len(custom.iv_counter_nonce or b"") == 16
    # SP 800-38D §8.2.2: the client's fixed field, the server's random invocation field.
    built = crypto.encrypt(
        key, aes(M.GCM, fixed_field_length=32, invocation_field_length=64), b"d", iv=b"\x01\x02\x03\x04"
    )
    assert built.iv_counter_nonce is not None and built.iv_counter_nonce[:4] == b"\x01\x02\x03\x04"
    assert len(built.iv_counter_nonce) == 12
    assert crypto.encrypt(key, aes(M.ECB, padding_method=PaddingMethod.PKCS5), b"x").iv_counter_nonce is None


def test_gcm_caches_cipher_objects_and_clear_forgets_them():
    key = os.urandom(16)
    first = crypto.encrypt(key, aes(), b"a")
    crypto.clear_key_caches()
    assert crypto.decrypt(key, aes(), first.data, iv=first.iv_counter_nonce, tag=first.tag) == b"a"


# ---------------------------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------------------------

STREAM_MODES = [
    ("GCM", aes(M.GCM), 32),
    ("CBC", aes(M.CBC), 16),
    ("ECB-PKCS5", aes(M.ECB, padding_method=PaddingMethod.PKCS5), 16),
    ("CTR", aes(M.CTR), 32),
    ("ChaCha20", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20), 32),
    ("GCM-SIV (buffered)", aes(M.GCM_SIV), 32),
    ("ChaCha20-Poly1305 (buffered)", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305), 32),
]


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, start = [], 0
    for p in points:
        out.append(data[start:p])
        start = p
    out.append(data[start:])
    return out


@pytest.mark.parametrize(("params", "key_len"), [m[1:] for m in STREAM_MODES], ids=[m[0] for m in STREAM_MODES])
@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=200), cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_stream_chunked_equals_one_shot(params: CipherParams, key_len: int, data: bytes, cuts: list[int]):
    key = bytes(range(key_len))
    aad = b"aad" if params.block_cipher_mode in (M.GCM, M.GCM_SIV) else None
    stream = crypto.encrypt_stream(key, params, aad=aad)
    iv = stream.iv_counter_nonce
    assert (iv is None) == (params.block_cipher_mode == M.ECB)
    out = b"".join(stream.update(c) for c in chunks(data, cuts))
    final = stream.finalize()
    one_shot = crypto.encrypt(key, params, data, iv=iv, aad=aad)
    assert out + final.data == one_shot.data
    assert final.tag == one_shot.tag
    dec = crypto.decrypt_stream(key, params, iv=iv, aad=aad)
    plain = b"".join(dec.update(c) for c in chunks(out + final.data, cuts))
    plain += dec.finalize(tag=final.tag).data
    assert plain == data


def test_stream_finalize_twice_is_refused():
    stream = crypto.encrypt_stream(os.urandom(16), aes(M.CTR))
    stream.finalize(b"abc")
    with pytest.raises(KmipError) as e:
        stream.update(b"more")
    assert reason(e) == ResultReason.INVALID_MESSAGE


def test_stream_is_for_symmetric_ciphers():
    with pytest.raises(KmipError) as e:
        crypto.encrypt_stream(b"", CipherParams(cryptographic_algorithm=CryptographicAlgorithm.RSA))
    assert reason(e) == ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS


def test_stream_gcm_bad_tag():
    key = os.urandom(16)
    result = crypto.encrypt(key, aes(M.GCM), b"secret data")
    dec = crypto.decrypt_stream(key, aes(M.GCM), iv=result.iv_counter_nonce)
    dec.update(result.data)
    with pytest.raises(KmipError) as e:
        dec.finalize(tag=bytes(16))
    assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


# ---------------------------------------------------------------------------------------------------------------
# Failures and their exact Result Reasons
# ---------------------------------------------------------------------------------------------------------------


def test_bad_gcm_tag_ciphertext_nonce_aad_all_fail_alike():
    key = os.urandom(32)
    r = crypto.encrypt(key, aes(M.GCM), b"attack at dawn", aad=b"hdr")
    assert r.tag is not None and r.iv_counter_nonce is not None
    cases = [
        {"data": r.data, "iv": r.iv_counter_nonce, "aad": b"hdr", "tag": bytes(16)},
        {"data": b"X" + r.data[1:], "iv": r.iv_counter_nonce, "aad": b"hdr", "tag": r.tag},
        {"data": r.data, "iv": bytes(12), "aad": b"hdr", "tag": r.tag},
        {"data": r.data, "iv": r.iv_counter_nonce, "aad": b"HDR", "tag": r.tag},
        {"data": r.data, "iv": r.iv_counter_nonce, "aad": b"hdr", "tag": r.tag[:12]},  # shorter than agreed
    ]
    for case in cases:
        with pytest.raises(KmipError) as e:
            crypto.decrypt(key, aes(M.GCM), case["data"], iv=case["iv"], aad=case["aad"], tag=case["tag"])
        assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


def test_bad_chacha20_poly1305_truncated_tag():
    params = CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305, tag_length=12)
    key = os.urandom(32)
    r = crypto.encrypt(key, params, b"msg")
    assert r.tag is not None and len(r.tag) == 12
    assert crypto.decrypt(key, params, r.data, iv=r.iv_counter_nonce, tag=r.tag) == b"msg"
    with pytest.raises(KmipError) as e:
        crypto.decrypt(key, params, r.data, iv=r.iv_counter_nonce, tag=b"\x00" + r.tag[1:])
    assert reason(e) == ResultReason.CRYPTOGRAPHIC_FAILURE


def test_bad_padding_reads_like_a_bad_tag():
    key = os.urandom(16)
    params = aes(M.CBC, padding_method=PaddingMethod.PKCS5)
    r = crypto.encrypt(key, params, b"sixteen byte msg")
    tampered = r.data[:-1] + bytes([r.data[-1] ^ 1])
    with pytest.raises(KmipError) as e:
        crypto.decrypt(key, params, tampered, iv=r.iv_counter_nonce)
    assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


def test_bad_unwrap_is_cryptographic_failure():
    kek = os.urandom(16)
    wrapped = crypto.wrap_key(kek, aes(M.NISTKEYWRAP), os.urandom(16))
    with pytest.raises(KmipError) as e:
        crypto.unwrap_key(os.urandom(16), aes(M.NISTKEYWRAP), wrapped)
    assert (reason(e), e.value.message) == (ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")


@pytest.mark.parametrize(
    ("params", "key_len"),
    [
        (aes(M.GCM), 17),
        (aes(M.CBC), 8),
        (aes(M.XTS), 16),
        (aes(M.GCM_SIV), 24),
        (CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305), 16),
        (CipherParams(cryptographic_algorithm=CryptographicAlgorithm.DES3), 8),
    ],
)
def test_wrong_key_length_is_invalid_field(params: CipherParams, key_len: int):
    with pytest.raises(KmipError) as e:
        crypto.encrypt(os.urandom(key_len), params, b"data" * 4)
    assert reason(e) == ResultReason.INVALID_FIELD


def test_missing_iv_on_decrypt_is_invalid_message():
    # OASIS CS-BC-M-13-21 step 2.
    with pytest.raises(KmipError) as e:
        crypto.decrypt(os.urandom(16), aes(M.CBC), bytes(32))
    assert (reason(e), e.value.message) == (ResultReason.INVALID_MESSAGE, "missing IV/Counter/Nonce")


def test_missing_tag_is_invalid_message():
    with pytest.raises(KmipError) as e:
        crypto.decrypt(os.urandom(16), aes(M.GCM), b"x", iv=bytes(12))
    assert reason(e) == ResultReason.INVALID_MESSAGE


def test_iv_problems():
    key = os.urandom(16)
    with pytest.raises(KmipError) as e:
        crypto.encrypt(key, aes(M.CBC), b"x", iv=bytes(8))
    assert reason(e) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as e:
        crypto.encrypt(key, aes(M.CBC, random_iv=False), b"x")
    assert reason(e) == ResultReason.INVALID_MESSAGE
    with pytest.raises(KmipError) as e:
        crypto.encrypt(key, aes(M.CBC, random_iv=True), b"x", iv=bytes(16))
    assert reason(e) == ResultReason.INVALID_MESSAGE
    with pytest.raises(KmipError) as e:
        crypto.encrypt(key, aes(M.GCM, iv_length=96), b"x", iv=bytes(16))
    assert reason(e) == ResultReason.INVALID_FIELD


@pytest.mark.parametrize("tag_length", [1, 11, 17, 32])
def test_gcm_tag_length_out_of_range_is_general_failure(tag_length: int):
    # OASIS CS-BC-M-GCM-1-21 steps 7-8 expect General Failure for Tag Length 1 and 32.
    with pytest.raises(KmipError) as e:
        crypto.encrypt(os.urandom(16), aes(M.GCM, tag_length=tag_length), b"x", iv=bytes(12))
    assert reason(e) == ResultReason.GENERAL_FAILURE


def test_unpadded_data_not_a_block_multiple():
    with pytest.raises(KmipError) as e:
        crypto.encrypt(os.urandom(16), aes(M.ECB), b"short")
    assert reason(e) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as e:
        crypto.decrypt(os.urandom(16), aes(M.CBC, padding_method=PaddingMethod.NONE), b"x" * 17, iv=bytes(16))
    assert reason(e) == ResultReason.INVALID_FIELD


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (aes(M.PCBC), ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (aes(M.X9_102_AESKW), ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (aes(M.CBC, padding_method=PaddingMethod.ISO_10126), ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS),
        (aes(M.GCM, padding_method=PaddingMethod.PKCS5), ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS),
        (aes(M.CCM, tag_length=5), ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS),
        (
            CipherParams(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20, block_cipher_mode=M.CBC),
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (
            CipherParams(cryptographic_algorithm=CryptographicAlgorithm.BLOWFISH),
            ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
        ),
        (CipherParams(block_cipher_mode=M.GCM), ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS),  # no algorithm
    ],
)
def test_bad_or_unsupported_parameters(params: CipherParams, expected: ResultReason):
    with pytest.raises(KmipError) as e:
        crypto.encrypt(os.urandom(32), params, b"x" * 16)
    assert reason(e) == expected


def test_aad_with_a_mode_without_aad():
    with pytest.raises(KmipError) as e:
        crypto.encrypt(os.urandom(16), aes(M.CBC), b"x", aad=b"a")
    assert reason(e) == ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS


def test_xts_with_equal_halves_is_invalid_field():
    with pytest.raises(KmipError) as e:
        crypto.encrypt(bytes(32), aes(M.XTS), b"x" * 16, iv=bytes(16))
    assert reason(e) == ResultReason.INVALID_FIELD


def test_gcm_wrap_layout_is_nonce_ciphertext_tag():
    kek, key = os.urandom(32), os.urandom(32)
    wrapped = crypto.wrap_key(kek, aes(M.GCM), key, aad=b"uid-1")
    assert len(wrapped) == 12 + 32 + 16
    assert crypto.unwrap_key(kek, aes(M.GCM), wrapped, aad=b"uid-1") == key
    nonce, body, tag = wrapped[:12], wrapped[12:-16], wrapped[-16:]
    assert crypto.decrypt(kek, aes(M.GCM), body, iv=nonce, tag=tag, aad=b"uid-1") == key
    with pytest.raises(KmipError) as e:
        crypto.unwrap_key(kek, aes(M.GCM), wrapped, aad=b"uid-2")
    assert reason(e) == ResultReason.CRYPTOGRAPHIC_FAILURE


def test_merged_parameters_fill_only_missing_fields():
    attribute = CipherParams(cryptographic_algorithm=AES, block_cipher_mode=M.CBC, padding_method=PaddingMethod.PKCS5)
    request = CipherParams(block_cipher_mode=M.ECB)
    merged = request.merged(attribute)
    assert (merged.cryptographic_algorithm, merged.block_cipher_mode, merged.padding_method) == (
        AES,
        M.ECB,
        PaddingMethod.PKCS5,
    )
    assert request.merged(None) is request


@pytest.mark.parametrize("padding", [PaddingMethod.PKCS5, PaddingMethod.NONE])
def test_a_prepared_cbc_encryption_is_plain_cbc_call_after_call(padding):
    """The prepared AES-CBC keeps one cipher context across calls: each message, whatever the messages before it,
    under whatever IV, must be exactly what a fresh CBC encryption under its IV gives (and decrypt)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = os.urandom(32)
    params = aes(BlockCipherMode.CBC, padding_method=padding)
    prepared = crypto.prepare_encrypt(key, params)
    for length in (16, 64, 48, 0, 160, 16, 32):
        data, iv = os.urandom(length), os.urandom(16)
        result = prepared(data, iv, None)
        padded = data + bytes((16 - length % 16,)) * (16 - length % 16) if padding == PaddingMethod.PKCS5 else data
        fresh = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        assert result.data == fresh.update(padded) + fresh.finalize()
        assert crypto.decrypt(key, params, result.data, iv=iv) == data


def test_a_prepared_cbc_encryption_shared_by_threads_is_plain_cbc():
    """Threads sharing one prepared AES-CBC (a Plan run by every session of an application) each take a kept
    context of their own: every message is what a fresh CBC encryption gives, the same IV object again included
    (its number is kept), while the interpreter switches threads as often as it can."""
    import sys
    import threading

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = os.urandom(32)
    prepared = crypto.prepare_encrypt(key, aes(BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5))
    wrong: list[bytes] = []

    def work() -> None:
        iv = os.urandom(16)
        for n in range(400):
            if n % 3 == 0:
                iv = os.urandom(16)
            data = os.urandom(n % 70)
            result = prepared(bytearray(data) if n % 5 == 0 else data, iv, None)
            fresh = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            pad = 16 - len(data) % 16
            if result != (fresh.update(data + bytes((pad,)) * pad) + fresh.finalize(), None, None):
                wrong.append(data)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
