"""The provider's cryptographic functions (§5.8-5.12, §5.18) against the engine over a MemoryStore (no C)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from provider import ciphers, digests, keys, objects, signatures
from provider.attributes import CURVE_PARAMS, Kind, pack
from provider.constants import Attribute, KeyType, Mechanism, ObjectClass, ReturnValue
from provider.errors import CkError
from provider.library import Library
from provider.mechanisms import CtrParams, Ecdh1Params, GcmParams, OaepParams, PssParams
from provider.objects import public_values

from .test_library import attribute, boolean, rv_of, ulong

A = Attribute
M = Mechanism
PLAIN = [(A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True)), (A.TOKEN, boolean(False))]


def aes_key(lib: Library, session: int, *extra: tuple[int, bytes]) -> int:
    return keys.generate_key(lib, session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(32)), *PLAIN, *extra])


def key_value(lib: Library, session: int, handle: int) -> bytes:
    value = attribute(lib, session, handle, A.VALUE)
    assert value is not None
    return value


def rsa_pair(lib: Library, session: int) -> tuple[int, int]:
    public = [(A.MODULUS_BITS, ulong(2048)), (A.TOKEN, boolean(False))]
    return keys.generate_key_pair(lib, session, M.RSA_PKCS_KEY_PAIR_GEN, public, [(A.TOKEN, boolean(False))])


def ec_pair(lib: Library, session: int) -> tuple[int, int]:
    from kms_backend.kmip._registry_data import RecommendedCurve

    public = [(A.EC_PARAMS, CURVE_PARAMS[RecommendedCurve.P_256]), (A.TOKEN, boolean(False))]
    private = [(A.TOKEN, boolean(False)), (A.DERIVE, boolean(True))]
    return keys.generate_key_pair(lib, session, M.EC_KEY_PAIR_GEN, public, private)


def test_aes_gcm_matches_a_reference_implementation(lib: Library, user_session: int):
    key = aes_key(lib, user_session)
    raw = key_value(lib, user_session, key)
    nonce, aad = os.urandom(12), b"header"
    ciphers.encrypt_init(lib, user_session, M.AES_GCM, GcmParams(nonce, aad, 128), key)
    sealed = ciphers.encrypt(lib, user_session, b"plaintext", 1024)
    assert sealed == AESGCM(raw).encrypt(nonce, b"plaintext", aad)  # the tag follows the ciphertext
    ciphers.decrypt_init(lib, user_session, M.AES_GCM, GcmParams(nonce, aad, 128), key)
    for part in (sealed[:5], sealed[5:20], sealed[20:]):  # the tag split across parts is held back
        assert ciphers.decrypt_update(lib, user_session, part, 1024) == b""
    assert ciphers.decrypt_final(lib, user_session, 1024) == b"plaintext"
    ciphers.decrypt_init(lib, user_session, M.AES_GCM, GcmParams(nonce, aad, 128), key)
    forged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert rv_of(ciphers.decrypt, lib, user_session, forged, 1024) == ReturnValue.ENCRYPTED_DATA_INVALID


def test_length_queries_keep_the_operation_and_the_output(lib: Library, user_session: int):
    key = aes_key(lib, user_session)
    iv = os.urandom(16)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
    asked = ciphers.encrypt(lib, user_session, b"x" * 20, None)
    small = ciphers.encrypt(lib, user_session, b"x" * 20, 4)
    done = ciphers.encrypt(lib, user_session, b"x" * 20, 64)
    assert asked == small == done and len(done) == 32
    assert rv_of(ciphers.encrypt, lib, user_session, b"x", 64) == ReturnValue.OPERATION_NOT_INITIALIZED


def test_multi_part_cbc_ctr_and_ecb(lib: Library, user_session: int):
    key = aes_key(lib, user_session)
    iv = os.urandom(16)
    data = os.urandom(100)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
    whole = ciphers.encrypt(lib, user_session, data, 1024)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
    parts = b"".join(ciphers.encrypt_update(lib, user_session, data[i : i + 7], 1024) for i in range(0, 100, 7))
    assert parts + ciphers.encrypt_final(lib, user_session, 1024) == whole
    ctr = CtrParams(128, os.urandom(16))
    ciphers.encrypt_init(lib, user_session, M.AES_CTR, ctr, key)
    sealed = ciphers.encrypt(lib, user_session, data, 1024)
    ciphers.decrypt_init(lib, user_session, M.AES_CTR, ctr, key)
    assert ciphers.decrypt(lib, user_session, sealed, 1024) == data
    ciphers.encrypt_init(lib, user_session, M.AES_ECB, None, key)
    assert rv_of(ciphers.encrypt, lib, user_session, b"not a block", 64) == ReturnValue.DATA_LEN_RANGE


def test_key_checks_at_init(lib: Library, user_session: int):
    no_encrypt = aes_key(lib, user_session, (A.ENCRYPT, boolean(False)))
    iv = os.urandom(16)
    assert (
        rv_of(ciphers.encrypt_init, lib, user_session, M.AES_CBC, iv, no_encrypt)
        == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    )
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.AES_CBC, iv, 9999) == ReturnValue.KEY_HANDLE_INVALID
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.AES_CBC, b"short", no_encrypt) == (
        ReturnValue.MECHANISM_PARAM_INVALID
    )
    assert (
        rv_of(signatures.sign_init, lib, user_session, M.ECDSA, None, no_encrypt) == ReturnValue.KEY_TYPE_INCONSISTENT
    )
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.SHA256, None, no_encrypt) == ReturnValue.MECHANISM_INVALID


def test_rsa_oaep_pss_and_pkcs1(lib: Library, user_session: int):
    public, private = rsa_pair(lib, user_session)
    view = objects.object_view(lib, public)
    values = public_values(lib, view)
    assert len(values[A.MODULUS]) == 256 and values[A.PUBLIC_EXPONENT] == b"\x01\x00\x01"
    oaep = OaepParams(M.SHA256, 2, 1, b"")
    ciphers.encrypt_init(lib, user_session, M.RSA_PKCS_OAEP, oaep, public)
    sealed = ciphers.encrypt(lib, user_session, b"secret", 512)
    ciphers.decrypt_init(lib, user_session, M.RSA_PKCS_OAEP, oaep, private)
    assert ciphers.decrypt(lib, user_session, sealed, 512) == b"secret"
    n = int.from_bytes(values[A.MODULUS], "big")
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    reference = RSAPublicNumbers(65537, n).public_key()
    pss = PssParams(M.SHA256, 2, 32)
    signatures.sign_init(lib, user_session, M.SHA256_RSA_PKCS_PSS, pss, private)
    signature = signatures.sign(lib, user_session, b"message", 512)
    reference.verify(
        signature, b"message", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()
    )  # raises if invalid
    digest = hashlib.sha256(b"message").digest()
    info = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    signatures.sign_init(lib, user_session, M.RSA_PKCS, None, private)
    raw = signatures.sign(lib, user_session, info, 512)
    reference.verify(raw, b"message", padding.PKCS1v15(), hashes.SHA256())
    signatures.verify_init(lib, user_session, M.SHA256_RSA_PKCS, None, public)
    signatures.verify(lib, user_session, b"message", raw)
    signatures.verify_init(lib, user_session, M.SHA256_RSA_PKCS, None, public)
    assert rv_of(signatures.verify, lib, user_session, b"massage", raw) == ReturnValue.SIGNATURE_INVALID


def test_rsa_pkcs_signs_any_input_raw(lib: Library, user_session: int):
    """CKM_RSA_PKCS (§2.1.6) over bytes that are not a DigestInfo: the KMS's raw PKCS#1 v1.5 signature."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    from kms_backend.kmip import _schema_data as S
    from kms_backend.kmip._registry_data import CryptographicAlgorithm, PaddingMethod
    from kms_backend.kmip._registry_data import Operation as KmipOperation

    public, private = rsa_pair(lib, user_session)
    values = public_values(lib, objects.object_view(lib, public))
    reference = RSAPublicNumbers(65537, int.from_bytes(values[A.MODULUS], "big")).public_key()
    tls = hashlib.md5(b"handshake").digest() + hashlib.sha1(b"handshake").digest()  # TLS 1.0/1.1
    signatures.sign_init(lib, user_session, M.RSA_PKCS, None, private)
    signature = signatures.sign(lib, user_session, tls, 512)
    reference.verify(signature, tls, padding.PKCS1v15(), utils.NoDigestInfo())  # raises if invalid
    signatures.verify_init(lib, user_session, M.RSA_PKCS, None, public)
    signatures.verify(lib, user_session, tls, signature)
    signatures.verify_init(lib, user_session, M.RSA_PKCS, None, public)
    assert rv_of(signatures.verify, lib, user_session, tls[::-1], signature) == ReturnValue.SIGNATURE_INVALID
    # a DigestInfo goes the hashed way; signed raw by the KMS or by `cryptography`, it is the same signature
    info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"message").digest()
    signatures.sign_init(lib, user_session, M.RSA_PKCS, None, private)
    hashed = signatures.sign(lib, user_session, info, 512)
    raw = lib.run(
        KmipOperation.SIGN,
        S.SignRequest(
            unique_identifier=objects.object_view(lib, private).uid,
            cryptographic_parameters=S.CryptographicParameters(
                cryptographic_algorithm=CryptographicAlgorithm.RSA, padding_method=PaddingMethod.PKCS1_V1_5
            ),
            digested_data=info,
        ),
    ).signature_data
    assert raw == hashed
    reference.verify(hashed, info, padding.PKCS1v15(), utils.NoDigestInfo())
    reference.verify(hashed, b"message", padding.PKCS1v15(), hashes.SHA256())
    # k - 11 = 245 bytes at most, and the failed operation is over
    signatures.sign_init(lib, user_session, M.RSA_PKCS, None, private)
    assert len(signatures.sign(lib, user_session, b"\x07" * 245, 512)) == 256
    signatures.sign_init(lib, user_session, M.RSA_PKCS, None, private)
    assert rv_of(signatures.sign, lib, user_session, b"\x07" * 246, 512) == ReturnValue.DATA_LEN_RANGE
    assert rv_of(signatures.sign, lib, user_session, b"x", 512) == ReturnValue.OPERATION_NOT_INITIALIZED
    signatures.verify_init(lib, user_session, M.RSA_PKCS, None, public)
    assert rv_of(signatures.verify, lib, user_session, b"\x07" * 246, signature) == ReturnValue.DATA_LEN_RANGE


def test_ecdsa_raw_signatures_and_ecdh(lib: Library, user_session: int):
    public, private = ec_pair(lib, user_session)
    point = public_values(lib, objects.object_view(lib, public))[A.EC_POINT]
    assert point[:2] == b"\x04\x41" and point[2] == 4
    reference = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
    signatures.sign_init(lib, user_session, M.ECDSA_SHA256, None, private)
    signatures.sign_update(lib, user_session, b"mess")
    signatures.sign_update(lib, user_session, b"age")
    signature = signatures.sign_final(lib, user_session, 128)
    assert len(signature) == 64
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    reference.verify(der, b"message", ec.ECDSA(hashes.SHA256()))
    signatures.verify_init(lib, user_session, M.ECDSA, None, public)
    signatures.verify(lib, user_session, hashlib.sha256(b"message").digest(), signature)
    signatures.verify_init(lib, user_session, M.ECDSA, None, public)
    assert rv_of(signatures.verify, lib, user_session, b"x" * 32, signature[:-1]) == ReturnValue.SIGNATURE_LEN_RANGE
    other_public, other_private = ec_pair(lib, user_session)
    other_point = public_values(lib, objects.object_view(lib, other_public))[A.EC_POINT]
    template = [(A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET)), *PLAIN]
    ours = keys.derive_key(
        lib, user_session, M.ECDH1_DERIVE, Ecdh1Params(1, b"", other_point), base_handle=private, raw_template=template
    )
    theirs = keys.derive_key(
        lib,
        user_session,
        M.ECDH1_DERIVE,
        Ecdh1Params(1, b"", point[2:]),
        base_handle=other_private,
        raw_template=template,
    )
    assert key_value(lib, user_session, ours) == key_value(lib, user_session, theirs)


def test_wrap_unwrap_and_copy(lib: Library, user_session: int):
    target = aes_key(lib, user_session)
    kek = aes_key(lib, user_session)
    for mechanism in (M.AES_KEY_WRAP, M.AES_KEY_WRAP_KWP):
        wrapped = keys.wrap_key(lib, user_session, mechanism, None, wrapping_handle=kek, key_handle=target)
        template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES)), *PLAIN]
        copy = keys.unwrap_key(
            lib, user_session, mechanism, None, unwrapping_handle=kek, wrapped=wrapped, raw_template=template
        )
        assert key_value(lib, user_session, copy) == key_value(lib, user_session, target)
    sensitive = keys.generate_key(
        lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.EXTRACTABLE, boolean(True))]
    )
    twin = objects.copy_object(lib, user_session, sensitive, [(A.LABEL, b"twin")])
    assert attribute(lib, user_session, twin, A.LABEL) == b"twin"
    assert attribute(lib, user_session, twin, A.SENSITIVE) == pack(Kind.BOOL, True)
    iv = os.urandom(16)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, sensitive)
    sealed = ciphers.encrypt(lib, user_session, b"same key", 64)
    ciphers.decrypt_init(lib, user_session, M.AES_CBC_PAD, iv, twin)
    assert ciphers.decrypt(lib, user_session, sealed, 64) == b"same key"
    locked = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])
    assert rv_of(objects.copy_object, lib, user_session, locked, []) == ReturnValue.KEY_UNEXTRACTABLE
    with pytest.raises(CkError):
        keys.wrap_key(lib, user_session, M.AES_KEY_WRAP, None, wrapping_handle=kek, key_handle=locked)
    assert objects.get_object_size(lib, user_session, twin) > 16


def test_digests_and_hmac(lib: Library, user_session: int):
    digests.digest_init(lib, user_session, M.SHA384, None)
    digests.digest_update(lib, user_session, b"a")
    digests.digest_update(lib, user_session, b"bc")
    assert digests.digest_final(lib, user_session, 64) == hashlib.sha384(b"abc").digest()
    hmac_key = keys.generate_key(lib, user_session, M.GENERIC_SECRET_KEY_GEN, [(A.VALUE_LEN, ulong(32)), *PLAIN])
    signatures.sign_init(lib, user_session, M.SHA256_HMAC, None, hmac_key)
    mac = signatures.sign(lib, user_session, b"data", 64)
    import hmac

    assert mac == hmac.new(key_value(lib, user_session, hmac_key), b"data", "sha256").digest()
    signatures.verify_init(lib, user_session, M.SHA256_HMAC, None, hmac_key)
    signatures.verify(lib, user_session, b"data", mac)


def test_public_key_export_matches(lib: Library, user_session: int):
    public, _private = ec_pair(lib, user_session)
    view = objects.object_view(lib, public)
    from kms_backend.kmip import _schema_data as S
    from kms_backend.kmip._registry_data import KeyFormatType, Operation

    got = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid, key_format_type=KeyFormatType.X_509))
    key = serialization.load_der_public_key(bytes(got.managed_object.key_block.key_value.key_material))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert attribute(lib, user_session, public, A.KEY_TYPE) == ulong(KeyType.EC)


def _mac(lib: Library, session: int, mechanism: int, parameter, key: int, parts: list[bytes]) -> bytes:
    signatures.sign_init(lib, session, mechanism, parameter, key)
    if len(parts) == 1:
        return signatures.sign(lib, session, parts[0], 64)
    for part in parts:
        signatures.sign_update(lib, session, part)
    return signatures.sign_final(lib, session, 64)


@pytest.mark.parametrize("size", [0, 7, 16, 33])
def test_aes_macs_and_general_lengths(lib: Library, user_session: int, size: int):
    import hmac

    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from provider.mechanisms import MacGeneralParams

    key = aes_key(lib, user_session, (A.SIGN, boolean(True)), (A.VERIFY, boolean(True)))
    raw = key_value(lib, user_session, key)
    data = os.urandom(size)
    reference = cmac.CMAC(algorithms.AES(raw))
    reference.update(data)
    full_cmac = reference.finalize()
    encryptor = Cipher(algorithms.AES(raw), modes.CBC(bytes(16))).encryptor()
    cbc_mac = encryptor.update(data.ljust(max(16, -(-size // 16) * 16), b"\x00"))[-16:]
    halves = [data[: size // 2], data[size // 2 :]]
    for parts in ([data], halves):
        assert _mac(lib, user_session, M.AES_CMAC, None, key, parts) == full_cmac
        assert _mac(lib, user_session, M.AES_CMAC_GENERAL, MacGeneralParams(10), key, parts) == full_cmac[:10]
        assert _mac(lib, user_session, M.AES_MAC, None, key, parts) == cbc_mac[:8]
        assert _mac(lib, user_session, M.AES_MAC_GENERAL, MacGeneralParams(16), key, parts) == cbc_mac
    signatures.verify_init(lib, user_session, M.AES_MAC_GENERAL, MacGeneralParams(12), key)
    signatures.verify(lib, user_session, data, cbc_mac[:12])
    signatures.verify_init(lib, user_session, M.AES_CMAC, None, key)
    signatures.verify(lib, user_session, data, full_cmac)
    signatures.verify_init(lib, user_session, M.AES_MAC, None, key)
    assert rv_of(signatures.verify, lib, user_session, data, cbc_mac[:7]) == ReturnValue.SIGNATURE_LEN_RANGE
    signatures.verify_init(lib, user_session, M.AES_CMAC_GENERAL, MacGeneralParams(4), key)
    wrong = bytes([full_cmac[0] ^ 1]) + full_cmac[1:4]
    assert rv_of(signatures.verify, lib, user_session, data, wrong) == ReturnValue.SIGNATURE_INVALID
    for bad in (None, MacGeneralParams(0), MacGeneralParams(17)):
        rv = rv_of(signatures.sign_init, lib, user_session, M.AES_CMAC_GENERAL, bad, key)
        assert rv == ReturnValue.MECHANISM_PARAM_INVALID
    hmac_key = keys.generate_key(lib, user_session, M.GENERIC_SECRET_KEY_GEN, [(A.VALUE_LEN, ulong(32)), *PLAIN])
    full_hmac = hmac.new(key_value(lib, user_session, hmac_key), data, "sha384").digest()
    general = MacGeneralParams(20)
    assert _mac(lib, user_session, M.SHA384_HMAC_GENERAL, general, hmac_key, halves) == full_hmac[:20]
    signatures.verify_init(lib, user_session, M.SHA384_HMAC_GENERAL, general, hmac_key)
    signatures.verify(lib, user_session, data, full_hmac[:20])
    rv = rv_of(signatures.sign_init, lib, user_session, M.SHA_1_HMAC_GENERAL, MacGeneralParams(21), hmac_key)
    assert rv == ReturnValue.MECHANISM_PARAM_INVALID


@pytest.mark.parametrize(
    ("mechanism", "key_type", "size"), [(M.DES2_KEY_GEN, KeyType.DES2, 16), (M.DES3_KEY_GEN, KeyType.DES3, 24)]
)
def test_triple_des(lib: Library, user_session: int, mechanism: Mechanism, key_type: KeyType, size: int):
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives import padding as sym_padding
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    key = keys.generate_key(lib, user_session, mechanism, PLAIN)
    assert attribute(lib, user_session, key, A.KEY_TYPE) == ulong(key_type)
    raw = key_value(lib, user_session, key)
    assert len(raw) == size
    assert all(bin(b).count("1") % 2 for b in raw)  # odd parity, as DES keys on a token carry
    iv, data = os.urandom(8), b"PLAIN TEXT_"
    raw = raw + raw[:8] if size == 16 else raw  # K1 K2 K1: what two-key Triple-DES is
    padder = sym_padding.PKCS7(64).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(TripleDES(raw), modes.CBC(iv)).encryptor()
    expected = encryptor.update(padded) + encryptor.finalize()
    ciphers.encrypt_init(lib, user_session, M.DES3_CBC_PAD, iv, key)
    assert ciphers.encrypt(lib, user_session, data, 64) == expected
    ciphers.decrypt_init(lib, user_session, M.DES3_CBC_PAD, iv, key)
    assert (
        ciphers.decrypt_update(lib, user_session, expected[:5], 64)
        + ciphers.decrypt_update(lib, user_session, expected[5:], 64)
        + ciphers.decrypt_final(lib, user_session, 64)
        == data
    )
    ciphers.encrypt_init(lib, user_session, M.DES3_CBC, iv, key)
    assert ciphers.encrypt(lib, user_session, padded, 64) == expected
    ciphers.encrypt_init(lib, user_session, M.DES3_ECB, None, key)
    ecb = Cipher(TripleDES(raw), modes.ECB()).encryptor()
    assert ciphers.encrypt(lib, user_session, padded, 64) == ecb.update(padded) + ecb.finalize()
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.DES3_CBC, os.urandom(16), key) == (
        ReturnValue.MECHANISM_PARAM_INVALID
    )
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.AES_CBC, os.urandom(16), key) == (
        ReturnValue.KEY_TYPE_INCONSISTENT
    )
    wrong = [(A.VALUE_LEN, ulong(8)), *PLAIN]
    assert rv_of(keys.generate_key, lib, user_session, mechanism, wrong) == ReturnValue.ATTRIBUTE_VALUE_INVALID


def test_aes_encrypt_data_derivation(lib: Library, user_session: int):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from provider.mechanisms.aes import CbcEncryptDataParams, KeyDerivationStringData

    base = aes_key(lib, user_session, (A.DERIVE, boolean(True)))
    raw = key_value(lib, user_session, base)
    data, iv = os.urandom(32), os.urandom(16)
    ecb = Cipher(algorithms.AES(raw), modes.ECB()).encryptor()
    cbc = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
    expected = {M.AES_ECB_ENCRYPT_DATA: ecb.update(data), M.AES_CBC_ENCRYPT_DATA: cbc.update(data)}
    parameters = {
        M.AES_ECB_ENCRYPT_DATA: KeyDerivationStringData(data),
        M.AES_CBC_ENCRYPT_DATA: CbcEncryptDataParams(iv, data),
    }
    for mechanism, parameter in parameters.items():
        for length in (16, 32):
            template = [
                (A.CLASS, ulong(ObjectClass.SECRET_KEY)),
                (A.KEY_TYPE, ulong(KeyType.AES)),
                (A.VALUE_LEN, ulong(length)),
                *PLAIN,
            ]
            derived = keys.derive_key(lib, user_session, mechanism, parameter, base_handle=base, raw_template=template)
            assert key_value(lib, user_session, derived) == expected[mechanism][:length]
        generic = keys.derive_key(lib, user_session, mechanism, parameter, base_handle=base, raw_template=PLAIN)
        assert key_value(lib, user_session, generic) == expected[mechanism]
    short = KeyDerivationStringData(data[:16])
    too_long = [(A.KEY_TYPE, ulong(KeyType.AES)), (A.VALUE_LEN, ulong(32)), *PLAIN]
    for parameter, template in (
        (KeyDerivationStringData(data[:15]), PLAIN),
        (short, too_long),
        (CbcEncryptDataParams(iv, b""), PLAIN),
        (None, PLAIN),
    ):
        mechanism = M.AES_CBC_ENCRYPT_DATA if isinstance(parameter, CbcEncryptDataParams) else M.AES_ECB_ENCRYPT_DATA
        rv = rv_of(_derive, lib, user_session, mechanism, parameter, base, template)
        assert rv == ReturnValue.MECHANISM_PARAM_INVALID
    no_derive = aes_key(lib, user_session)
    rv = rv_of(_derive, lib, user_session, M.AES_ECB_ENCRYPT_DATA, short, no_derive, PLAIN)
    assert rv == ReturnValue.KEY_FUNCTION_NOT_PERMITTED


def _derive(lib: Library, session: int, mechanism: int, parameter, base: int, template) -> int:
    return keys.derive_key(lib, session, mechanism, parameter, base_handle=base, raw_template=template)


def _pq_pair(lib: Library, session: int, mechanism: int, parameter_set: int, *extra_private) -> tuple[int, int]:
    public = [(A.PARAMETER_SET, ulong(parameter_set)), (A.TOKEN, boolean(False))]
    private = [(A.TOKEN, boolean(False)), *extra_private]
    if mechanism == M.ML_KEM_KEY_PAIR_GEN:
        public.append((A.ENCAPSULATE, boolean(True)))
        private.append((A.DECAPSULATE, boolean(True)))
    return keys.generate_key_pair(lib, session, mechanism, public, private)


def test_ml_dsa_signs_and_verifies(lib: Library, user_session: int):
    from provider.mechanisms.pqc import SignAdditionalContext

    public, private = _pq_pair(lib, user_session, M.ML_DSA_KEY_PAIR_GEN, 2)
    assert attribute(lib, user_session, public, A.PARAMETER_SET) == ulong(2)
    assert attribute(lib, user_session, private, A.KEY_TYPE) == ulong(KeyType.ML_DSA)
    signatures.sign_init(lib, user_session, M.ML_DSA, None, private)
    signatures.sign_update(lib, user_session, b"post-")
    signatures.sign_update(lib, user_session, b"quantum")
    signature = signatures.sign_final(lib, user_session, 8192)
    assert len(signature) == 3309  # ML-DSA-65 (FIPS 204 Table 2)
    signatures.verify_init(lib, user_session, M.ML_DSA, SignAdditionalContext(0, b""), public)
    signatures.verify(lib, user_session, b"post-quantum", signature)
    signatures.verify_init(lib, user_session, M.ML_DSA, None, public)
    assert rv_of(signatures.verify, lib, user_session, b"post-quantun", signature) == ReturnValue.SIGNATURE_INVALID
    context = SignAdditionalContext(0, b"ctx")
    assert rv_of(signatures.sign_init, lib, user_session, M.ML_DSA, context, private) == (
        ReturnValue.MECHANISM_PARAM_INVALID
    )
    assert rv_of(keys.generate_key_pair, lib, user_session, M.ML_DSA_KEY_PAIR_GEN, [], []) == (
        ReturnValue.TEMPLATE_INCOMPLETE
    )
    assert rv_of(_pq_pair, lib, user_session, M.ML_DSA_KEY_PAIR_GEN, 7) == ReturnValue.PARAMETER_SET_NOT_SUPPORTED


@pytest.mark.parametrize(("parameter_set", "size"), [(1, 768), (2, 1088), (3, 1568)])
def test_ml_kem_encapsulates_and_decapsulates(lib: Library, user_session: int, parameter_set: int, size: int):
    public, private = _pq_pair(lib, user_session, M.ML_KEM_KEY_PAIR_GEN, parameter_set)
    assert attribute(lib, user_session, private, A.PARAMETER_SET) == ulong(parameter_set)
    assert keys.encapsulated_length(lib, user_session, M.ML_KEM, None, public) == size
    aes = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES)), (A.VALUE_LEN, ulong(16)), *PLAIN]
    ciphertext, sent = keys.encapsulate_key(lib, user_session, M.ML_KEM, None, public_handle=public, raw_template=aes)
    assert len(ciphertext) == size
    received = keys.decapsulate_key(
        lib, user_session, M.ML_KEM, None, private_handle=private, ciphertext=ciphertext, raw_template=aes
    )
    assert key_value(lib, user_session, sent) == key_value(lib, user_session, received)
    assert len(key_value(lib, user_session, sent)) == 16
    generic = keys.decapsulate_key(
        lib, user_session, M.ML_KEM, None, private_handle=private, ciphertext=ciphertext, raw_template=PLAIN
    )
    assert key_value(lib, user_session, generic)[:16] == key_value(lib, user_session, sent)
    rv = rv_of(
        lambda: keys.decapsulate_key(
            lib, user_session, M.ML_KEM, None, private_handle=private, ciphertext=ciphertext[:-1], raw_template=aes
        )
    )
    assert rv == ReturnValue.ENCRYPTED_DATA_LEN_RANGE
    # the private key does not encapsulate; a key without CKA_ENCAPSULATE may not
    assert rv_of(keys.encapsulated_length, lib, user_session, M.ML_KEM, None, private) == (
        ReturnValue.KEY_TYPE_INCONSISTENT
    )
    plain_public, _ = keys.generate_key_pair(
        lib, user_session, M.ML_KEM_KEY_PAIR_GEN, [(A.PARAMETER_SET, ulong(3)), (A.TOKEN, boolean(False))], PLAIN[2:]
    )
    assert rv_of(keys.encapsulated_length, lib, user_session, M.ML_KEM, None, plain_public) == (
        ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    )
    assert rv_of(_pq_pair, lib, user_session, M.ML_KEM_KEY_PAIR_GEN, 4) == ReturnValue.PARAMETER_SET_NOT_SUPPORTED


def test_an_operation_started_from_a_kept_decision_is_the_constructors(lib: Library, user_session: int):
    session = user_session
    """C_EncryptInit builds its operation field by field (``ciphers._started``): every field as the dataclass's own
    constructor sets it, so a field added to the operation cannot be left out."""
    key = aes_key(lib, session)
    ciphers.encrypt_init(lib, session, M.AES_CBC_PAD, bytes(16), key)
    decision = lib.session(session).inits[ciphers.ENCRYPT]
    built = ciphers.CipherOperation(decision.view.uid, decision.view, plan=decision.plan, direct=decision.direct)
    assert ciphers._started(decision) == built
    assert lib.session(session).operations[ciphers.ENCRYPT] == built
