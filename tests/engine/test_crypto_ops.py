"""The cryptographic operations through the engine: Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify, Hash,
RNG Retrieve/Seed, Derive Key, Create/Join Split Key — defaults, streaming, bulk data, lifecycle and usage rules,
and one precise Result Reason per negative case."""

from __future__ import annotations

from typing import Any

import pytest

from kms_backend import crypto
from kms_backend.engine import Engine, EngineConfig
from kms_backend.engine import engine as engine_module
from kms_backend.engine.handlers import _data, _streams, _usage
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import bulk_data
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DerivationMethod,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    PaddingMethod,
    RecommendedCurve,
    ResultReason,
    RevocationReasonCode,
    SecretDataType,
    SplitKeyMethod,
    State,
    Tag,
    UsageLimitsUnit,
    ValidityIndicator,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore

from .conftest import ADMIN, NOW, OTHER, OWNER, Clock, Kms

U = CryptographicUsageMask
AES = CryptographicAlgorithm.AES
ACTIVE = (Tag.ACTIVATION_DATE, NOW)


# -- helpers ---------------------------------------------------------------------------------------------------


def cp(**fields: Any) -> S.CryptographicParameters:
    return S.CryptographicParameters(**fields)


def register(kms: Kms, object_type: ObjectType, obj: Any, *attrs: tuple[int, Any], user: str = OWNER) -> str:
    request = S.RegisterRequest(object_type=object_type, attributes=Attributes(list(attrs)), managed_object=obj)
    return str(kms.run(Operation.REGISTER, request, user).unique_identifier)


def block(material: Any, key_format: KeyFormatType, algorithm: int | None, length: int | None) -> S.KeyBlock:
    return S.KeyBlock(
        key_format_type=key_format,
        key_value=S.KeyValue(key_material=material),
        cryptographic_algorithm=algorithm,  # type: ignore[arg-type]
        cryptographic_length=length,
    )


def symmetric(
    kms: Kms, key: bytes = bytes(range(32)), *attrs: tuple[int, Any], algorithm: int = AES, active: bool = True
) -> str:
    extra = (ACTIVE, *attrs) if active else attrs
    obj = S.SymmetricKey(key_block=block(key, KeyFormatType.RAW, algorithm, len(key) * 8))
    return register(kms, ObjectType.SYMMETRIC_KEY, obj, *extra)


def key_pair(
    kms: Kms, algorithm: CryptographicAlgorithm, *, curve: RecommendedCurve | None = None, length: int | None = None
) -> tuple[str, str]:
    """Register a fresh key pair (PKCS#8 + SPKI), both Active; returns (private uid, public uid)."""
    private, public = crypto.generate_key_pair(algorithm, curve=curve, length=length)
    info = crypto.describe_key(private)
    private_uid = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=block(private, KeyFormatType.PKCS_8, info.algorithm, info.length_bits)),
        ACTIVE,
    )
    public_uid = register(
        kms,
        ObjectType.PUBLIC_KEY,
        S.PublicKey(key_block=block(public, KeyFormatType.X_509, info.algorithm, info.length_bits)),
        ACTIVE,
    )
    return private_uid, public_uid


def encrypt(kms: Kms, uid: str, data: bytes, user: str = OWNER, **fields: Any) -> Any:
    return kms.run(Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, data=data, **fields), user)


def decrypt(kms: Kms, uid: str, data: bytes, user: str = OWNER, **fields: Any) -> Any:
    return kms.run(Operation.DECRYPT, S.DecryptRequest(unique_identifier=uid, data=data, **fields), user)


def fails(kms: Kms, operation: Operation, request: Any, reason: ResultReason, user: str = OWNER) -> KmipError:
    error = kms.fail(operation, request, user)
    assert error.reason == reason, error
    return error


def revoke(kms: Kms, uid: str, code: RevocationReasonCode) -> None:
    reason = S.RevocationReason(revocation_reason_code=code)
    kms.run(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason))


# -- Encrypt / Decrypt defaults ------------------------------------------------------------------------------------


def test_a_2x_client_without_parameters_gets_aes_gcm(kms: Kms) -> None:
    uid = symmetric(kms)
    sealed = encrypt(kms, uid, b"secret message")
    assert len(sealed.iv_counter_nonce) == 12
    assert len(sealed.authenticated_encryption_tag) == 16
    assert len(sealed.data) == len(b"secret message")
    tag = sealed.authenticated_encryption_tag
    opened = decrypt(kms, uid, sealed.data, iv_counter_nonce=sealed.iv_counter_nonce, authenticated_encryption_tag=tag)
    assert opened.data == b"secret message"
    assert opened.unique_identifier == uid


def test_a_1x_client_without_parameters_gets_aes_cbc_pkcs5_with_a_random_iv(kms: Kms) -> None:
    uid = symmetric(kms)
    request = S.EncryptRequest(unique_identifier=uid, data=b"audit log line")
    sealed = kms.engine.run_operation(Operation.ENCRYPT, request, OWNER, (1, 4))
    assert len(sealed.iv_counter_nonce) == 16
    assert len(sealed.data) == 16 and sealed.authenticated_encryption_tag is None
    expected = crypto.decrypt(
        bytes(range(32)),
        crypto.CipherParams(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.CBC),
        sealed.data,
        iv=sealed.iv_counter_nonce,
    )
    assert expected == b"audit log line"
    back = S.DecryptRequest(unique_identifier=uid, data=sealed.data, iv_counter_nonce=sealed.iv_counter_nonce)
    assert kms.engine.run_operation(Operation.DECRYPT, back, OWNER, (1, 4)).data == b"audit log line"


def test_the_whole_1x_message_path_uses_cbc_too(kms: Kms) -> None:
    uid = symmetric(kms)
    response = kms.batch((Operation.ENCRYPT, S.EncryptRequestV1(unique_identifier=uid, data=b"x" * 20)), version=(1, 2))
    item = response.batch_item[0]
    assert item.result_status == 0, item.result_message
    assert len(item.response_payload.iv_counter_nonce) == 16
    assert len(item.response_payload.data) == 32


def test_explicit_parameters_and_a_client_iv(kms: Kms) -> None:
    uid = symmetric(kms)
    params = cp(block_cipher_mode=BlockCipherMode.CTR, cryptographic_algorithm=AES)
    iv = bytes(16)
    sealed = encrypt(kms, uid, b"counter mode", cryptographic_parameters=params, iv_counter_nonce=iv)
    assert sealed.iv_counter_nonce is None  # the client chose it
    assert decrypt(kms, uid, sealed.data, cryptographic_parameters=params, iv_counter_nonce=iv).data == b"counter mode"


def test_the_objects_cryptographic_parameters_are_the_defaults(kms: Kms) -> None:
    stored = cp(block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5)
    uid = symmetric(kms, bytes(range(32)), (Tag.CRYPTOGRAPHIC_PARAMETERS, stored))
    sealed = encrypt(kms, uid, b"abc")
    assert len(sealed.data) == 16 and len(sealed.iv_counter_nonce) == 16
    assert sealed.authenticated_encryption_tag is None
    # The request's fields win over the stored ones.
    gcm = encrypt(kms, uid, b"abc", cryptographic_parameters=cp(block_cipher_mode=BlockCipherMode.GCM))
    assert len(gcm.authenticated_encryption_tag) == 16


def test_aad_and_tag(kms: Kms) -> None:
    uid = symmetric(kms)
    sealed = encrypt(kms, uid, b"data", authenticated_encryption_additional_data=b"header")
    opened = decrypt(
        kms,
        uid,
        sealed.data,
        iv_counter_nonce=sealed.iv_counter_nonce,
        authenticated_encryption_tag=sealed.authenticated_encryption_tag,
        authenticated_encryption_additional_data=b"header",
    )
    assert opened.data == b"data"
    error = fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=uid,
            data=sealed.data,
            iv_counter_nonce=sealed.iv_counter_nonce,
            authenticated_encryption_tag=sealed.authenticated_encryption_tag,
            authenticated_encryption_additional_data=b"other",
        ),
        ResultReason.CRYPTOGRAPHIC_FAILURE,
    )
    assert error.message == "decryption failed"


def test_a_bad_tag_reveals_nothing(kms: Kms) -> None:
    uid = symmetric(kms)
    sealed = encrypt(kms, uid, b"top secret")
    bad = bytes(b ^ 1 for b in sealed.authenticated_encryption_tag)
    request = S.DecryptRequest(
        unique_identifier=uid,
        data=sealed.data,
        iv_counter_nonce=sealed.iv_counter_nonce,
        authenticated_encryption_tag=bad,
    )
    error = fails(kms, Operation.DECRYPT, request, ResultReason.CRYPTOGRAPHIC_FAILURE)
    assert error.message == "decryption failed" and "top" not in repr(error)
    missing = S.DecryptRequest(unique_identifier=uid, data=sealed.data, iv_counter_nonce=sealed.iv_counter_nonce)
    fails(kms, Operation.DECRYPT, missing, ResultReason.INVALID_MESSAGE)


def test_bad_padding_reads_like_a_bad_tag(kms: Kms) -> None:
    uid = symmetric(kms)
    params = cp(block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5)
    sealed = encrypt(kms, uid, b"0123456789", cryptographic_parameters=params)
    # Flip the last byte of the IV-adjacent block so the padding of the only block is wrong.
    iv = bytearray(sealed.iv_counter_nonce)
    iv[-1] ^= 0x7F
    request = S.DecryptRequest(
        unique_identifier=uid, data=sealed.data, cryptographic_parameters=params, iv_counter_nonce=bytes(iv)
    )
    error = fails(kms, Operation.DECRYPT, request, ResultReason.CRYPTOGRAPHIC_FAILURE)
    assert error.message == "decryption failed"


def test_oversize_data(kms: Kms, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = symmetric(kms)
    monkeypatch.setattr(_data, "MAX_DATA_BYTES", 1024)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=bytes(1025)),
        ResultReason.SERVER_LIMIT_EXCEEDED,
    )
    _private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    params = cp(padding_method=PaddingMethod.OAEP, hashing_algorithm=HashingAlgorithm.SHA_256)
    request = S.EncryptRequest(unique_identifier=public, data=bytes(191), cryptographic_parameters=params)
    error = fails(kms, Operation.ENCRYPT, request, ResultReason.INVALID_FIELD)
    assert "190" in error.message


def test_missing_data_is_an_invalid_message(kms: Kms) -> None:
    fails(kms, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=symmetric(kms)), ResultReason.INVALID_MESSAGE)


# -- which key, which state, which usage -----------------------------------------------------------------------------


def test_the_key_must_fit_the_algorithm(kms: Kms) -> None:
    _private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    aes_params = cp(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.GCM)
    request = S.EncryptRequest(unique_identifier=public, data=b"x", cryptographic_parameters=aes_params)
    fails(kms, Operation.ENCRYPT, request, ResultReason.INVALID_OBJECT_TYPE)
    aes = symmetric(kms)
    rsa_params = cp(cryptographic_algorithm=CryptographicAlgorithm.RSA)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=aes, data=b"x", cryptographic_parameters=rsa_params),
        ResultReason.INVALID_OBJECT_TYPE,
    )
    chacha = cp(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=aes, data=b"x", cryptographic_parameters=chacha),
        ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
    )
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=public, data=bytes(256)),
        ResultReason.INVALID_OBJECT_TYPE,
    )
    fails(kms, Operation.SIGN, S.SignRequest(unique_identifier=public, data=b"x"), ResultReason.INVALID_OBJECT_TYPE)
    fails(kms, Operation.SIGN, S.SignRequest(unique_identifier=aes, data=b"x"), ResultReason.INVALID_OBJECT_TYPE)
    ec_private, _ = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    pss = cp(digital_signature_algorithm=DigitalSignatureAlgorithm.RSASSA_PSS)
    fails(
        kms,
        Operation.SIGN,
        S.SignRequest(unique_identifier=ec_private, data=b"x", cryptographic_parameters=pss),
        ResultReason.INVALID_OBJECT_TYPE,
    )


def test_the_usage_mask_must_allow_the_operation(kms: Kms) -> None:
    uid = symmetric(kms, bytes(range(32)), (Tag.CRYPTOGRAPHIC_USAGE_MASK, U.DECRYPT))
    error = fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK,
    )
    assert "ENCRYPT" in error.message
    fails(
        kms,
        Operation.MAC,
        S.MACRequest(unique_identifier=uid, data=b"x"),
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK,
    )


def test_a_pre_active_key_does_nothing(kms: Kms) -> None:
    uid = symmetric(kms, active=False)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    )
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    )


@pytest.mark.parametrize(
    "code",
    [RevocationReasonCode.CESSATION_OF_OPERATION, RevocationReasonCode.KEY_COMPROMISE],
    ids=["deactivated", "compromised"],
)
def test_revoked_keys_only_process(kms: Kms, code: RevocationReasonCode) -> None:
    uid = symmetric(kms)
    sealed = encrypt(kms, uid, b"before")
    mac = kms.run(Operation.MAC, S.MACRequest(unique_identifier=uid, data=b"m")).mac_data
    private, public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    signature = kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private, data=b"s")).signature_data
    for target in (uid, private, public):
        revoke(kms, target, code)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    )
    fails(kms, Operation.MAC, S.MACRequest(unique_identifier=uid, data=b"x"), ResultReason.WRONG_KEY_LIFECYCLE_STATE)
    fails(
        kms, Operation.SIGN, S.SignRequest(unique_identifier=private, data=b"x"), ResultReason.WRONG_KEY_LIFECYCLE_STATE
    )
    opened = decrypt(
        kms,
        uid,
        sealed.data,
        iv_counter_nonce=sealed.iv_counter_nonce,
        authenticated_encryption_tag=sealed.authenticated_encryption_tag,
    )
    assert opened.data == b"before"
    verify = S.MACVerifyRequest(unique_identifier=uid, data=b"m", mac_data=mac)
    assert kms.run(Operation.MAC_VERIFY, verify).validity_indicator == ValidityIndicator.VALID
    check = S.SignatureVerifyRequest(unique_identifier=public, data=b"s", signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == ValidityIndicator.VALID


def test_protect_stop_and_process_start_dates(kms: Kms, clock: Clock) -> None:
    uid = symmetric(kms, bytes(range(32)), (Tag.PROTECT_STOP_DATE, NOW + 10), (Tag.PROCESS_START_DATE, NOW + 5))
    sealed = encrypt(kms, uid, b"x")
    tag = sealed.authenticated_encryption_tag
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=uid,
            data=sealed.data,
            iv_counter_nonce=sealed.iv_counter_nonce,
            authenticated_encryption_tag=tag,
        ),
        ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    )
    clock.advance(10)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.WRONG_KEY_LIFECYCLE_STATE,
    )
    assert (
        decrypt(kms, uid, sealed.data, iv_counter_nonce=sealed.iv_counter_nonce, authenticated_encryption_tag=tag).data
        == b"x"
    )


def test_sensitive_non_extractable_keys_still_work_inside(kms: Kms) -> None:
    uid = symmetric(kms, bytes(range(32)), (Tag.SENSITIVE, True), (Tag.EXTRACTABLE, False))
    fails(kms, Operation.GET, S.GetRequest(unique_identifier=uid), ResultReason.NOT_EXTRACTABLE)
    sealed = encrypt(kms, uid, b"inside")
    assert (
        decrypt(
            kms,
            uid,
            sealed.data,
            iv_counter_nonce=sealed.iv_counter_nonce,
            authenticated_encryption_tag=sealed.authenticated_encryption_tag,
        ).data
        == b"inside"
    )


def test_access_is_checked(kms: Kms) -> None:
    uid = symmetric(kms)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.PERMISSION_DENIED,
        user=OTHER,
    )
    kms.grant(uid, OTHER, [Operation.ENCRYPT])
    encrypt(kms, uid, b"x", user=OTHER)
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=uid, data=b"x"),
        ResultReason.PERMISSION_DENIED,
        user=OTHER,
    )


# -- key formats ------------------------------------------------------------------------------------------------


def test_transparent_symmetric_keys(kms: Kms) -> None:
    obj = S.SymmetricKey(
        key_block=block(
            S.TransparentSymmetricKey(key=bytes(range(16))), KeyFormatType.TRANSPARENT_SYMMETRIC_KEY, AES, 128
        )
    )
    uid = register(kms, ObjectType.SYMMETRIC_KEY, obj, ACTIVE)
    sealed = encrypt(
        kms,
        uid,
        b"abc",
        cryptographic_parameters=cp(block_cipher_mode=BlockCipherMode.ECB, padding_method=PaddingMethod.PKCS5),
    )
    ecb = crypto.encrypt(
        bytes(range(16)),
        crypto.CipherParams(
            cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.ECB, padding_method=PaddingMethod.PKCS5
        ),
        b"abc",
    )
    assert sealed.data == ecb.data


@pytest.mark.parametrize(
    "private_format", [KeyFormatType.PKCS_1, KeyFormatType.TRANSPARENT_RSA_PRIVATE_KEY], ids=lambda f: f.name
)
def test_rsa_keys_in_other_formats(kms: Kms, private_format: KeyFormatType) -> None:
    private_der, public_der = crypto.generate_key_pair(CryptographicAlgorithm.RSA, length=2048)
    exported = crypto.export_private_key(private_der, private_format)
    material: Any = exported
    if isinstance(exported, dict):
        material = S.TransparentRSAPrivateKey(**exported)
    private_uid = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=block(material, private_format, CryptographicAlgorithm.RSA, 2048)),
        ACTIVE,
    )
    public = crypto.export_public_key(public_der, KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY)
    assert isinstance(public, dict)
    public_uid = register(
        kms,
        ObjectType.PUBLIC_KEY,
        S.PublicKey(
            key_block=block(
                S.TransparentRSAPublicKey(**public),
                KeyFormatType.TRANSPARENT_RSA_PUBLIC_KEY,
                CryptographicAlgorithm.RSA,
                2048,
            )
        ),
        ACTIVE,
    )
    params = cp(padding_method=PaddingMethod.OAEP, hashing_algorithm=HashingAlgorithm.SHA_256)
    sealed = encrypt(kms, public_uid, b"rsa", cryptographic_parameters=params)
    assert decrypt(kms, private_uid, sealed.data, cryptographic_parameters=params).data == b"rsa"


def test_ec_keys_as_transparent_and_ecprivatekey(kms: Kms) -> None:
    private_der, public_der = crypto.generate_key_pair(CryptographicAlgorithm.EC, curve=RecommendedCurve.P_384)
    sec1 = crypto.export_private_key(private_der, KeyFormatType.ECPRIVATEKEY)
    private_uid = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=block(sec1, KeyFormatType.ECPRIVATEKEY, CryptographicAlgorithm.EC, 384)),
        ACTIVE,
    )
    public = crypto.export_public_key(public_der, KeyFormatType.TRANSPARENT_EC_PUBLIC_KEY)
    assert isinstance(public, dict)
    public_uid = register(
        kms,
        ObjectType.PUBLIC_KEY,
        S.PublicKey(
            key_block=block(
                S.TransparentECPublicKey(**public),
                KeyFormatType.TRANSPARENT_EC_PUBLIC_KEY,
                CryptographicAlgorithm.EC,
                384,
            )
        ),
        ACTIVE,
    )
    signature = kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private_uid, data=b"m")).signature_data
    assert crypto.verify(public_der, crypto.CipherParams(), b"m", signature)
    verify = S.SignatureVerifyRequest(unique_identifier=public_uid, data=b"m", signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, verify).validity_indicator == ValidityIndicator.VALID


# -- asymmetric encryption and signatures ------------------------------------------------------------------------


def test_rsa_oaep_round_trip_with_create_key_pair(kms: Kms) -> None:
    attrs = Attributes(
        [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048), ACTIVE]
    )
    pair = kms.run(Operation.CREATE_KEY_PAIR, S.CreateKeyPairRequest(common_attributes=attrs))
    params = cp(padding_method=PaddingMethod.OAEP, hashing_algorithm=HashingAlgorithm.SHA_256)
    sealed = encrypt(kms, pair.public_key_unique_identifier, b"key transport", cryptographic_parameters=params)
    assert len(sealed.data) == 256
    opened = decrypt(kms, pair.private_key_unique_identifier, sealed.data, cryptographic_parameters=params)
    assert opened.data == b"key transport"
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=pair.private_key_unique_identifier, data=bytes(256), cryptographic_parameters=params
        ),
        ResultReason.CRYPTOGRAPHIC_FAILURE,
    )


def test_ecies_with_an_ec_key(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    sealed = encrypt(kms, public, b"hybrid")
    assert decrypt(kms, private, sealed.data).data == b"hybrid"


SIGNERS = [
    (CryptographicAlgorithm.EC, RecommendedCurve.P_256, None, None),
    (CryptographicAlgorithm.EC, RecommendedCurve.SECP256K1, None, None),
    (
        CryptographicAlgorithm.RSA,
        None,
        2048,
        cp(digital_signature_algorithm=DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION),
    ),
    (
        CryptographicAlgorithm.RSA,
        None,
        2048,
        cp(padding_method=PaddingMethod.PSS, hashing_algorithm=HashingAlgorithm.SHA_384),
    ),
    (CryptographicAlgorithm.ED25519, None, None, None),
    (CryptographicAlgorithm.ED448, None, None, None),
]


@pytest.mark.parametrize(
    "algorithm,curve,length,params", SIGNERS, ids=["P-256", "secp256k1", "RSA-PKCS1", "RSA-PSS", "Ed25519", "Ed448"]
)
def test_sign_and_verify(kms: Kms, algorithm: Any, curve: Any, length: Any, params: Any) -> None:
    private, public = key_pair(kms, algorithm, curve=curve, length=length)
    sign = S.SignRequest(unique_identifier=private, data=b"message", cryptographic_parameters=params)
    signature = kms.run(Operation.SIGN, sign).signature_data
    good = S.SignatureVerifyRequest(
        unique_identifier=public, data=b"message", signature_data=signature, cryptographic_parameters=params
    )
    assert kms.run(Operation.SIGNATURE_VERIFY, good).validity_indicator == ValidityIndicator.VALID
    bad = S.SignatureVerifyRequest(
        unique_identifier=public, data=b"messagE", signature_data=signature, cryptographic_parameters=params
    )
    assert kms.run(Operation.SIGNATURE_VERIFY, bad).validity_indicator == ValidityIndicator.INVALID
    garbage = S.SignatureVerifyRequest(
        unique_identifier=public, data=b"message", signature_data=b"\x00", cryptographic_parameters=params
    )
    assert kms.run(Operation.SIGNATURE_VERIFY, garbage).validity_indicator == ValidityIndicator.INVALID


def test_digested_data(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    digest = crypto.digest(HashingAlgorithm.SHA_256, b"big document")
    params = cp(hashing_algorithm=HashingAlgorithm.SHA_256)
    signature = kms.run(
        Operation.SIGN, S.SignRequest(unique_identifier=private, digested_data=digest, cryptographic_parameters=params)
    ).signature_data
    verify = S.SignatureVerifyRequest(unique_identifier=public, data=b"big document", signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, verify).validity_indicator == ValidityIndicator.VALID
    fails(
        kms,
        Operation.SIGN,
        S.SignRequest(unique_identifier=private, digested_data=b"short", cryptographic_parameters=params),
        ResultReason.INVALID_FIELD,
    )


RAW_PKCS1 = cp(padding_method=PaddingMethod.PKCS1_V1_5)


def public_key_of(kms: Kms, uid: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    key = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object.key_block.key_value.key_material
    return serialization.load_der_public_key(key)


def test_raw_pkcs1v15_signs_what_it_is_given(kms: Kms) -> None:
    """Padding PKCS1_V1_5 and no hash: the TLS 1.0/1.1 MD5‖SHA-1 input is signed as it is (no DigestInfo)."""
    from cryptography.hazmat.primitives.asymmetric import padding, utils

    private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    tls = crypto.digest(HashingAlgorithm.MD5, b"hello") + crypto.digest(HashingAlgorithm.SHA_1, b"hello")
    for fields in ({"data": tls}, {"digested_data": tls}):
        request = S.SignRequest(unique_identifier=private, cryptographic_parameters=RAW_PKCS1, **fields)
        signature = kms.run(Operation.SIGN, request).signature_data
        public_key_of(kms, public).verify(signature, tls, padding.PKCS1v15(), utils.NoDigestInfo())
        check = S.SignatureVerifyRequest(
            unique_identifier=public, cryptographic_parameters=RAW_PKCS1, signature_data=signature, **fields
        )
        assert kms.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == ValidityIndicator.VALID
    # streamed: the parts are collected and signed raw at the end
    first = kms.run(
        Operation.SIGN,
        S.SignRequest(
            unique_identifier=private, cryptographic_parameters=RAW_PKCS1, data=tls[:20], init_indicator=True
        ),
    )
    last = kms.run(
        Operation.SIGN,
        S.SignRequest(correlation_value=first.correlation_value, data=tls[20:], final_indicator=True),
    )
    assert last.signature_data == signature


def test_raw_pkcs1v15_refuses_more_than_k_minus_11_bytes(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    kms.run(
        Operation.SIGN, S.SignRequest(unique_identifier=private, cryptographic_parameters=RAW_PKCS1, data=bytes(245))
    )
    error = fails(
        kms,
        Operation.SIGN,
        S.SignRequest(unique_identifier=private, cryptographic_parameters=RAW_PKCS1, digested_data=bytes(246)),
        ResultReason.INVALID_FIELD,
    )
    assert "at most 245 bytes" in error.message
    fails(
        kms,
        Operation.SIGNATURE_VERIFY,
        S.SignatureVerifyRequest(
            unique_identifier=public, cryptographic_parameters=RAW_PKCS1, data=bytes(246), signature_data=bytes(256)
        ),
        ResultReason.INVALID_FIELD,
    )
    start = S.SignRequest(
        unique_identifier=private, cryptographic_parameters=RAW_PKCS1, data=bytes(200), init_indicator=True
    )
    correlation = kms.run(Operation.SIGN, start).correlation_value
    fails(
        kms,
        Operation.SIGN,
        S.SignRequest(correlation_value=correlation, data=bytes(46)),
        ResultReason.INVALID_FIELD,
    )


def test_a_hash_in_the_keys_parameters_means_no_raw_signature(kms: Kms) -> None:
    """Raw needs no hash anywhere: the object's Cryptographic Parameters fill the request's (KMIP 2.1 §6.1.55)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    kms.run(
        Operation.ADD_ATTRIBUTE,
        S.AddAttributeRequest(
            unique_identifier=private,
            new_attribute=Attributes([(Tag.CRYPTOGRAPHIC_PARAMETERS, cp(hashing_algorithm=HashingAlgorithm.SHA_384))]),
        ),
    )
    request = S.SignRequest(unique_identifier=private, cryptographic_parameters=RAW_PKCS1, data=b"document")
    signature = kms.run(Operation.SIGN, request).signature_data
    public_key_of(kms, public).verify(signature, b"document", padding.PKCS1v15(), hashes.SHA384())


@pytest.mark.skipif(
    CryptographicAlgorithm.ML_DSA_65 not in crypto.supported_algorithms(), reason="cryptography without ML-DSA"
)
def test_ml_dsa(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.ML_DSA_65)
    signature = kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private, data=b"pq")).signature_data
    verify = S.SignatureVerifyRequest(unique_identifier=public, data=b"pq", signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, verify).validity_indicator == ValidityIndicator.VALID


@pytest.mark.skipif(
    CryptographicAlgorithm.ML_KEM_768 not in crypto.supported_algorithms(), reason="cryptography without ML-KEM"
)
def test_ml_kem_hybrid_encryption(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.ML_KEM_768)
    sealed = encrypt(kms, public, b"post-quantum")
    assert decrypt(kms, private, sealed.data).data == b"post-quantum"


# -- streaming ------------------------------------------------------------------------------------------------------


def test_streamed_gcm_equals_one_shot(kms: Kms) -> None:
    uid = symmetric(kms)
    first = encrypt(kms, uid, b"part one, ", init_indicator=True)
    correlation = first.correlation_value
    assert correlation and len(first.iv_counter_nonce) == 12
    middle = kms.run(Operation.ENCRYPT, S.EncryptRequest(data=b"part two, ", correlation_value=correlation))
    last = kms.run(
        Operation.ENCRYPT, S.EncryptRequest(data=b"part three", correlation_value=correlation, final_indicator=True)
    )
    ciphertext = first.data + middle.data + last.data
    tag = last.authenticated_encryption_tag
    whole = decrypt(kms, uid, ciphertext, iv_counter_nonce=first.iv_counter_nonce, authenticated_encryption_tag=tag)
    assert whole.data == b"part one, part two, part three"
    # Streamed decryption holds AEAD output back until the tag has been checked.
    start = decrypt(kms, uid, ciphertext[:10], iv_counter_nonce=first.iv_counter_nonce, init_indicator=True)
    assert start.data == b""
    end = kms.run(
        Operation.DECRYPT,
        S.DecryptRequest(
            data=ciphertext[10:],
            correlation_value=start.correlation_value,
            final_indicator=True,
            authenticated_encryption_tag=tag,
        ),
    )
    assert end.data == b"part one, part two, part three"
    assert not kms.engine.streams


def test_a_streamed_decrypt_with_a_bad_tag_releases_nothing(kms: Kms) -> None:
    uid = symmetric(kms)
    sealed = encrypt(kms, uid, b"secret" * 10)
    start = decrypt(kms, uid, sealed.data[:30], iv_counter_nonce=sealed.iv_counter_nonce, init_indicator=True)
    assert start.data == b""
    request = S.DecryptRequest(
        data=sealed.data[30:],
        correlation_value=start.correlation_value,
        final_indicator=True,
        authenticated_encryption_tag=bytes(16),
    )
    error = fails(kms, Operation.DECRYPT, request, ResultReason.CRYPTOGRAPHIC_FAILURE)
    assert error.message == "decryption failed"
    assert not kms.engine.streams


def test_streamed_cbc_releases_blocks_as_they_complete(kms: Kms) -> None:
    uid = symmetric(kms)
    params = cp(block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5)
    first = encrypt(kms, uid, b"a" * 20, cryptographic_parameters=params, init_indicator=True)
    assert len(first.data) == 16
    last = kms.run(
        Operation.ENCRYPT,
        S.EncryptRequest(data=b"b" * 5, correlation_value=first.correlation_value, final_indicator=True),
    )
    sealed = first.data + last.data
    opened = decrypt(kms, uid, sealed, cryptographic_parameters=params, iv_counter_nonce=first.iv_counter_nonce)
    assert opened.data == b"a" * 20 + b"b" * 5


def test_correlation_values_belong_to_their_user_and_expire(kms: Kms, clock: Clock) -> None:
    uid = symmetric(kms)
    kms.grant(uid, OTHER, [Operation.ENCRYPT])
    first = encrypt(kms, uid, b"x", init_indicator=True)
    step = S.EncryptRequest(data=b"y", correlation_value=first.correlation_value)
    fails(kms, Operation.ENCRYPT, step, ResultReason.INVALID_CORRELATION_VALUE, user=OTHER)
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(data=b"y", correlation_value=first.correlation_value),
        ResultReason.INVALID_CORRELATION_VALUE,
    )
    kms.run(Operation.ENCRYPT, step)  # still the owner's
    clock.advance(_streams.SESSION_TTL + 1)
    fails(kms, Operation.ENCRYPT, step, ResultReason.INVALID_CORRELATION_VALUE)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(data=b"y", correlation_value=b"nope"),
        ResultReason.INVALID_CORRELATION_VALUE,
    )


def test_open_streams_are_bounded(kms: Kms, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_streams, "MAX_SESSIONS", 3)
    uid = symmetric(kms)
    for _ in range(3):
        encrypt(kms, uid, b"x", init_indicator=True)
    fails(
        kms,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x", init_indicator=True),
        ResultReason.SERVER_LIMIT_EXCEEDED,
    )


def test_streamed_sign_mac_and_hash(kms: Kms) -> None:
    private, public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    first = kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private, data=b"hello ", init_indicator=True))
    last = kms.run(
        Operation.SIGN, S.SignRequest(data=b"world", correlation_value=first.correlation_value, final_indicator=True)
    )
    verify = S.SignatureVerifyRequest(unique_identifier=public, data=b"hello world", signature_data=last.signature_data)
    assert kms.run(Operation.SIGNATURE_VERIFY, verify).validity_indicator == ValidityIndicator.VALID
    v1 = kms.run(
        Operation.SIGNATURE_VERIFY,
        S.SignatureVerifyRequest(unique_identifier=public, data=b"hello ", init_indicator=True),
    )
    v2 = kms.run(
        Operation.SIGNATURE_VERIFY,
        S.SignatureVerifyRequest(
            data=b"world",
            signature_data=last.signature_data,
            correlation_value=v1.correlation_value,
            final_indicator=True,
        ),
    )
    assert v2.validity_indicator == ValidityIndicator.VALID

    key = symmetric(kms, b"k" * 32, algorithm=CryptographicAlgorithm.HMAC_SHA256)
    m1 = kms.run(Operation.MAC, S.MACRequest(unique_identifier=key, data=b"ab", init_indicator=True))
    m2 = kms.run(Operation.MAC, S.MACRequest(data=b"cd", correlation_value=m1.correlation_value, final_indicator=True))
    assert m2.mac_data == crypto.mac(b"k" * 32, CryptographicAlgorithm.HMAC_SHA256, b"abcd")

    sha = cp(hashing_algorithm=HashingAlgorithm.SHA_256)
    h1 = kms.run(Operation.HASH, S.HashRequest(cryptographic_parameters=sha, data=b"ab", init_indicator=True))
    h2 = kms.run(
        Operation.HASH,
        S.HashRequest(
            cryptographic_parameters=sha, data=b"cd", correlation_value=h1.correlation_value, final_indicator=True
        ),
    )
    assert h2.data == crypto.digest(HashingAlgorithm.SHA_256, b"abcd")
    assert not kms.engine.streams


# -- bulk data ------------------------------------------------------------------------------------------------------


def test_bulk_framing_matches_cosmian() -> None:
    # crate/kmip/src/kmip_2_1/extra/bulk_data.rs test_bulk_data
    items = [b"\x01\x02\x03", b"\x04\x05\x06", b"\x07" * 10]
    encoded = bytes([0x87, 0x87, 3, 3, 1, 2, 3, 3, 4, 5, 6, 10]) + b"\x07" * 10
    assert bulk_data.encode(items) == encoded
    assert bulk_data.parse(encoded) == items
    assert bulk_data.parse(encoded + b"x") is None  # not exactly one BulkData: ordinary data
    assert bulk_data.parse(b"\x87\x87\xff") is None
    assert bulk_data.parse(bulk_data.encode([b"y" * 300])) == [b"y" * 300]


def test_bulk_encrypt_and_decrypt(kms: Kms) -> None:
    uid = symmetric(kms)
    items = [b"first", b"", b"third" * 30]
    sealed = encrypt(kms, uid, bulk_data.encode(items))
    parts = bulk_data.parse(sealed.data)
    assert parts is not None and [len(p) for p in parts] == [12 + len(i) + 16 for i in items]
    assert sealed.iv_counter_nonce is None and sealed.authenticated_encryption_tag is None
    assert decrypt(kms, uid, sealed.data).data == bulk_data.encode(items)
    private, public = key_pair(kms, CryptographicAlgorithm.RSA, length=2048)
    params = cp(padding_method=PaddingMethod.OAEP, hashing_algorithm=HashingAlgorithm.SHA_256)
    sealed = encrypt(kms, public, bulk_data.encode(items), cryptographic_parameters=params)
    assert decrypt(kms, private, sealed.data, cryptographic_parameters=params).data == bulk_data.encode(items)
    tampered = bulk_data.encode([b"\x00" * 40])
    fails(
        kms,
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=uid, data=tampered),
        ResultReason.CRYPTOGRAPHIC_FAILURE,
    )


# -- MAC, Hash, RNG ---------------------------------------------------------------------------------------------


def test_hmac_and_cmac(kms: Kms) -> None:
    hmac_key = symmetric(kms, b"k" * 32, algorithm=CryptographicAlgorithm.HMAC_SHA512)
    tag = kms.run(Operation.MAC, S.MACRequest(unique_identifier=hmac_key, data=b"data")).mac_data
    assert tag == crypto.mac(b"k" * 32, CryptographicAlgorithm.HMAC_SHA512, b"data")
    good = S.MACVerifyRequest(unique_identifier=hmac_key, data=b"data", mac_data=tag)
    assert kms.run(Operation.MAC_VERIFY, good).validity_indicator == ValidityIndicator.VALID
    bad = S.MACVerifyRequest(unique_identifier=hmac_key, data=b"data", mac_data=tag[:-1] + b"\x00")
    assert kms.run(Operation.MAC_VERIFY, bad).validity_indicator == ValidityIndicator.INVALID
    aes = symmetric(kms)
    cmac = kms.run(Operation.MAC, S.MACRequest(unique_identifier=aes, data=b"data")).mac_data
    assert cmac == crypto.mac(bytes(range(32)), AES, b"data")
    # An HMAC algorithm named in the parameters works with any symmetric key.
    named = S.MACRequest(
        unique_identifier=aes,
        data=b"data",
        cryptographic_parameters=cp(cryptographic_algorithm=CryptographicAlgorithm.HMAC_SHA256),
    )
    assert kms.run(Operation.MAC, named).mac_data == crypto.mac(
        bytes(range(32)), CryptographicAlgorithm.HMAC_SHA256, b"data"
    )
    private, _ = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    fails(kms, Operation.MAC, S.MACRequest(unique_identifier=private, data=b"x"), ResultReason.INVALID_OBJECT_TYPE)


@pytest.mark.parametrize("size", [0, 5, 16, 40])
def test_aes_cbc_mac(kms: Kms, size: int) -> None:
    """AES with Block Cipher Mode CBC is CBC-MAC: the last block of AES-CBC (zero IV) over zero-padded data."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    aes = symmetric(kms)
    data = bytes(range(size))
    padded = data.ljust(max(16, -(-size // 16) * 16), b"\x00")
    encryptor = Cipher(algorithms.AES(bytes(range(32))), modes.CBC(bytes(16))).encryptor()
    expected = (encryptor.update(padded) + encryptor.finalize())[-16:]
    cbc = cp(cryptographic_algorithm=AES, block_cipher_mode=BlockCipherMode.CBC)
    request = S.MACRequest(unique_identifier=aes, data=data, cryptographic_parameters=cbc)
    assert kms.run(Operation.MAC, request).mac_data == expected
    assert expected != kms.run(Operation.MAC, S.MACRequest(unique_identifier=aes, data=data)).mac_data  # not CMAC
    streamed = S.MACRequest(unique_identifier=aes, data=data[:3], cryptographic_parameters=cbc, init_indicator=True)
    correlation = kms.run(Operation.MAC, streamed).correlation_value
    last = S.MACRequest(correlation_value=correlation, data=data[3:], final_indicator=True)
    assert kms.run(Operation.MAC, last).mac_data == expected
    verify = S.MACVerifyRequest(unique_identifier=aes, data=data, mac_data=expected, cryptographic_parameters=cbc)
    assert kms.run(Operation.MAC_VERIFY, verify).validity_indicator == ValidityIndicator.VALID
    wrong = S.MACVerifyRequest(unique_identifier=aes, data=data + b"x", mac_data=expected, cryptographic_parameters=cbc)
    assert kms.run(Operation.MAC_VERIFY, wrong).validity_indicator == ValidityIndicator.INVALID


@pytest.mark.parametrize("bits", [128, 192])
def test_triple_des_keys_of_two_and_three_parts(kms: Kms, bits: int) -> None:
    """Create makes two-key (128 bits, PKCS#11 CKK_DES2) and three-key Triple-DES; both encrypt in CBC."""
    attrs = Attributes(
        [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.DES3), (Tag.CRYPTOGRAPHIC_LENGTH, bits), ACTIVE]
    )
    request = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
    uid = kms.run(Operation.CREATE, request).unique_identifier
    params = cp(cryptographic_algorithm=CryptographicAlgorithm.DES3, block_cipher_mode=BlockCipherMode.CBC)
    iv = bytes(range(8))
    sealed = kms.run(
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, data=b"x" * 11, cryptographic_parameters=params, iv_counter_nonce=iv),
    ).data
    assert len(sealed) == 16
    opened = kms.run(
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=uid, data=sealed, cryptographic_parameters=params, iv_counter_nonce=iv),
    ).data
    assert opened == b"x" * 11
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.DES3), (Tag.CRYPTOGRAPHIC_LENGTH, 64)])
    fails(
        kms,
        Operation.CREATE,
        S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs),
        ResultReason.INVALID_ATTRIBUTE_VALUE,
    )


def test_hash_and_rng(kms: Kms) -> None:
    request = S.HashRequest(cryptographic_parameters=cp(hashing_algorithm=HashingAlgorithm.SHA3_256), data=b"abc")
    assert kms.run(Operation.HASH, request, OTHER).data == crypto.digest(HashingAlgorithm.SHA3_256, b"abc")
    fails(kms, Operation.HASH, S.HashRequest(cryptographic_parameters=cp(), data=b"abc"), ResultReason.INVALID_MESSAGE)
    # a value the registry does not define, kept as a number by the mapper (found by the HTTP fuzz target)
    undefined = S.HashRequest(cryptographic_parameters=cp(hashing_algorithm=0x200006), data=b"abc")
    fails(kms, Operation.HASH, undefined, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS)
    random = kms.run(Operation.RNG_RETRIEVE, S.RNGRetrieveRequest(data_length=33)).data
    assert len(random) == 33 and random != kms.run(Operation.RNG_RETRIEVE, S.RNGRetrieveRequest(data_length=33)).data
    fails(kms, Operation.RNG_RETRIEVE, S.RNGRetrieveRequest(data_length=10**9), ResultReason.INVALID_FIELD)
    assert kms.run(Operation.RNG_SEED, S.RNGSeedRequest(data=b"1234")).data_length == 4


# -- Derive Key ---------------------------------------------------------------------------------------------------


def derive(
    kms: Kms,
    uids: list[str],
    method: DerivationMethod,
    params: S.DerivationParameters,
    bits: int = 256,
    algorithm: int = AES,
) -> str:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm), (Tag.CRYPTOGRAPHIC_LENGTH, bits), ACTIVE])
    request = S.DeriveKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=uids,
        derivation_method=method,
        derivation_parameters=params,
        attributes=attrs,
    )
    return str(kms.run(Operation.DERIVE_KEY, request).unique_identifier)


def key_bytes(kms: Kms, uid: str) -> bytes:
    material = kms.run(
        Operation.GET, S.GetRequest(unique_identifier=uid)
    ).managed_object.key_block.key_value.key_material
    assert isinstance(material, bytes)
    return material


def test_derive_key_hkdf_links_both_ways(kms: Kms) -> None:
    base = symmetric(kms)
    params = S.DerivationParameters(
        cryptographic_parameters=cp(hashing_algorithm=HashingAlgorithm.SHA_256),
        derivation_data=[b"context"],
        salt=b"salt",
    )
    derived = derive(kms, [base], DerivationMethod.HKDF, params)
    expected = crypto.derive_key(
        DerivationMethod.HKDF,
        bytes(range(32)),
        crypto.DerivationParams(
            cryptographic_parameters=crypto.CipherParams(hashing_algorithm=HashingAlgorithm.SHA_256),
            derivation_data=b"context",
            salt=b"salt",
        ),
        256,
    )
    assert key_bytes(kms, derived) == expected
    links = {(link.link_type, link.linked_object_identifier) for link in kms.attributes(derived).get_all(Tag.LINK)}
    assert (0x104, base) in links
    assert any(link.linked_object_identifier == derived for link in kms.attributes(base).get_all(Tag.LINK))
    # The derived key is usable at once (Activation Date now).
    encrypt(kms, derived, b"x")


def test_derive_key_pbkdf2_from_secret_data(kms: Kms) -> None:
    secret = S.SecretData(
        secret_data_type=SecretDataType.PASSWORD, key_block=block(b"password", KeyFormatType.OPAQUE, None, None)
    )
    uid = register(kms, ObjectType.SECRET_DATA, secret, ACTIVE)
    params = S.DerivationParameters(
        cryptographic_parameters=cp(hashing_algorithm=HashingAlgorithm.SHA_1), salt=b"salt", iteration_count=2
    )
    derived = derive(kms, [uid], DerivationMethod.PBKDF2, params, 160, CryptographicAlgorithm.HMAC_SHA1)
    assert key_bytes(kms, derived).hex() == "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"  # RFC 6070


def test_derive_key_by_ecdh_agrees_on_both_sides(kms: Kms) -> None:
    alice_private, alice_public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.CURVE25519)
    bob_private, bob_public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.CURVE25519)
    params = S.DerivationParameters(cryptographic_parameters=cp(hashing_algorithm=HashingAlgorithm.SHA_256))
    one = derive(kms, [alice_private, bob_public], DerivationMethod.ASYMMETRIC_KEY, params)
    two = derive(kms, [bob_private, alice_public], DerivationMethod.ASYMMETRIC_KEY, params)
    assert key_bytes(kms, one) == key_bytes(kms, two)


@pytest.mark.parametrize(
    "algorithm",
    [CryptographicAlgorithm.ML_KEM_512, CryptographicAlgorithm.ML_KEM_768, CryptographicAlgorithm.ML_KEM_1024],
)
def test_derive_key_decapsulates_with_an_ml_kem_private_key(kms: Kms, algorithm: CryptographicAlgorithm) -> None:
    """Asymmetric Key derivation from an ML-KEM private key: the Derivation Data is the encapsulation, the derived
    key the decapsulated secret (what PKCS#11 3.2 C_DecapsulateKey asks of the KMS). ML-KEM-512 comes from pqcrypto."""
    request = S.CreateKeyPairRequest(
        common_attributes=Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)]),
        private_key_attributes=Attributes([ACTIVE]),
        public_key_attributes=Attributes([ACTIVE]),
    )
    created = kms.run(Operation.CREATE_KEY_PAIR, request)
    private, public = created.private_key_unique_identifier, created.public_key_unique_identifier
    assert kms.attributes(private).get(Tag.CRYPTOGRAPHIC_ALGORITHM) == algorithm
    public_der = kms.run(
        Operation.GET, S.GetRequest(unique_identifier=public, key_format_type=KeyFormatType.X_509)
    ).managed_object.key_block.key_value.key_material
    shared, ciphertext = crypto.encapsulate(bytes(public_der))
    params = S.DerivationParameters(derivation_data=[ciphertext])
    derived = derive(kms, [private], DerivationMethod.ASYMMETRIC_KEY, params)
    assert key_bytes(kms, derived) == shared
    short = derive(kms, [private], DerivationMethod.ASYMMETRIC_KEY, params, 128)
    assert key_bytes(kms, short) == shared[:16]
    bad = S.DerivationParameters(derivation_data=[ciphertext[:-1]])
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256), ACTIVE])
    request = S.DeriveKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=[private],
        derivation_method=DerivationMethod.ASYMMETRIC_KEY,
        derivation_parameters=bad,
        attributes=attrs,
    )
    fails(kms, Operation.DERIVE_KEY, request, ResultReason.INVALID_FIELD)


def test_derive_key_needs_the_derive_usage(kms: Kms) -> None:
    base = symmetric(kms, bytes(range(32)), (Tag.CRYPTOGRAPHIC_USAGE_MASK, U.ENCRYPT))
    request = S.DeriveKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=[base],
        derivation_method=DerivationMethod.HKDF,
        derivation_parameters=S.DerivationParameters(),
        attributes=Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, AES)]),
    )
    fails(kms, Operation.DERIVE_KEY, request, ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK)


# -- split keys -------------------------------------------------------------------------------------------------


def split(
    kms: Kms, uid: str | None, parts: int, threshold: int, method: SplitKeyMethod, *attrs: tuple[int, Any]
) -> list[str]:
    request = S.CreateSplitKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=uid,
        split_key_parts=parts,
        split_key_threshold=threshold,
        split_key_method=method,
        attributes=Attributes(list(attrs)),
    )
    return [str(u) for u in kms.run(Operation.CREATE_SPLIT_KEY, request).unique_identifier]


def join(kms: Kms, uids: list[str]) -> str:
    request = S.JoinSplitKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=uids, attributes=Attributes([ACTIVE])
    )
    return str(kms.run(Operation.JOIN_SPLIT_KEY, request).unique_identifier)


@pytest.mark.parametrize(
    "method,parts,threshold", [(SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8, 5, 3), (SplitKeyMethod.XOR, 3, 3)]
)
def test_split_and_join(kms: Kms, method: SplitKeyMethod, parts: int, threshold: int) -> None:
    base = symmetric(kms)
    uids = split(kms, base, parts, threshold, method)
    assert len(uids) == parts
    part = kms.run(Operation.GET, S.GetRequest(unique_identifier=uids[0])).managed_object
    assert (part.split_key_parts, part.split_key_threshold, part.key_part_identifier) == (parts, threshold, 1)
    joined = join(kms, uids[-threshold:])
    assert key_bytes(kms, joined) == bytes(range(32))
    assert kms.attribute(joined, Tag.CRYPTOGRAPHIC_ALGORITHM) == AES
    if threshold > 1:
        fails(
            kms,
            Operation.JOIN_SPLIT_KEY,
            S.JoinSplitKeyRequest(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=uids[: threshold - 1]),
            ResultReason.INVALID_FIELD,
        )


def test_split_a_fresh_key_and_parts_of_a_sensitive_key_stay_sensitive(kms: Kms) -> None:
    uids = split(kms, None, 3, 2, SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8, (Tag.CRYPTOGRAPHIC_LENGTH, 128))
    joined = join(kms, uids[:2])
    assert len(key_bytes(kms, joined)) == 16
    secret = symmetric(kms, bytes(range(32)), (Tag.SENSITIVE, True))
    parts = split(kms, secret, 2, 2, SplitKeyMethod.XOR)
    fails(kms, Operation.GET, S.GetRequest(unique_identifier=parts[0]), ResultReason.SENSITIVE)
    fails(
        kms,
        Operation.JOIN_SPLIT_KEY,
        S.JoinSplitKeyRequest(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=[secret]),
        ResultReason.INVALID_OBJECT_TYPE,
    )


# -- approved-only mode and self tests -------------------------------------------------------------------------------


@pytest.fixture
def approved(clock: Clock) -> Kms:
    config = EngineConfig(admin_users=frozenset({ADMIN}), approved_only=True)
    store = MemoryStore()
    return Kms(engine=Engine(store, config, clock=clock), clock=clock, store=store)


def test_approved_only_refuses_with_a_clear_reason(approved: Kms) -> None:
    chacha = symmetric(approved, b"c" * 32, algorithm=CryptographicAlgorithm.CHACHA20POLY1305)
    error = fails(
        approved,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=chacha, data=b"x"),
        ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
    )
    assert "approved-only" in error.message
    private, public = key_pair(approved, CryptographicAlgorithm.RSA, length=2048)
    pkcs1 = cp(padding_method=PaddingMethod.PKCS1_V1_5)
    fails(
        approved,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=public, data=b"x", cryptographic_parameters=pkcs1),
        ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
    )
    sha1 = cp(digital_signature_algorithm=DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION)
    fails(
        approved,
        Operation.SIGN,
        S.SignRequest(unique_identifier=private, data=b"x", cryptographic_parameters=sha1),
        ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
    )
    # raw PKCS#1 v1.5 (no hash): not made in approved-only mode, still verified (legacy use)
    error = fails(
        approved,
        Operation.SIGN,
        S.SignRequest(unique_identifier=private, data=b"x", cryptographic_parameters=pkcs1),
        ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS,
    )
    assert "raw RSA PKCS#1 v1.5" in error.message
    raw_signature = crypto.sign(
        approved.run(
            Operation.GET, S.GetRequest(unique_identifier=private)
        ).managed_object.key_block.key_value.key_material,
        crypto.CipherParams(
            cryptographic_algorithm=CryptographicAlgorithm.RSA, padding_method=PaddingMethod.PKCS1_V1_5
        ),
        b"x",
    )
    check = S.SignatureVerifyRequest(
        unique_identifier=public, data=b"x", signature_data=raw_signature, cryptographic_parameters=pkcs1
    )
    assert approved.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == ValidityIndicator.VALID
    md5 = S.HashRequest(cryptographic_parameters=cp(hashing_algorithm=HashingAlgorithm.MD5), data=b"x")
    fails(approved, Operation.HASH, md5, ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS)
    # Approved algorithms still work.
    aes = symmetric(approved)
    encrypt(approved, aes, b"fine")


def test_the_engine_refuses_to_start_when_a_self_test_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> float:
        raise KmipError(ResultReason.CRYPTOGRAPHIC_FAILURE, "power-on self test failed: AES-GCM")

    monkeypatch.setattr(engine_module, "_SELF_TESTED", False)
    monkeypatch.setattr(crypto, "run_self_tests", broken)
    with pytest.raises(KmipError, match="self test"):
        Engine(MemoryStore(), EngineConfig())
    Engine(MemoryStore(), EngineConfig(self_test=False))  # the switch turns them off


def test_state_helpers_cover_every_state() -> None:
    assert State.ACTIVE in _usage.PROTECT_STATES and State.DEACTIVATED not in _usage.PROTECT_STATES
    assert {State.DEACTIVATED, State.COMPROMISED} <= _usage.PROCESS_STATES


def test_register_describes_keys_the_client_did_not_describe(kms: Kms) -> None:
    """A key registered without algorithm/length attributes (e.g. one unwrapped on Register) gets them from its
    material, as PKCS#11 C_UnwrapKey relies on."""
    from kms_backend import crypto
    from kms_backend.kmip._registry_data import RecommendedCurve

    private_der, _ = crypto.generate_key_pair(CryptographicAlgorithm.EC, curve=RecommendedCurve.P_384)
    block = S.KeyBlock(key_format_type=KeyFormatType.PKCS_8, key_value=S.KeyValue(key_material=private_der))
    request = S.RegisterRequest(
        object_type=ObjectType.PRIVATE_KEY, attributes=Attributes(), managed_object=S.PrivateKey(key_block=block)
    )
    uid = kms.run(Operation.REGISTER, request).unique_identifier
    attrs = kms.attributes(uid)
    assert attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM) == CryptographicAlgorithm.EC
    assert attrs.get(Tag.CRYPTOGRAPHIC_LENGTH) == 384
    assert attrs.get(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS).recommended_curve == RecommendedCurve.P_384
    raw = S.SymmetricKey(
        key_block=S.KeyBlock(key_format_type=KeyFormatType.RAW, key_value=S.KeyValue(key_material=bytes(16)))
    )
    request = S.RegisterRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=Attributes(), managed_object=raw)
    assert kms.attributes(kms.run(Operation.REGISTER, request).unique_identifier).get(Tag.CRYPTOGRAPHIC_LENGTH) == 128


def test_usage_limits_are_charged_and_enforced(kms: Kms) -> None:
    """Usage Limits (KMIP 2.1 §4.59): Byte units charge the data length; a use past the limit is refused and
    charges nothing; the remaining count is kept with the object."""
    attrs = Attributes(
        [
            (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
            (Tag.CRYPTOGRAPHIC_LENGTH, 128),
            (Tag.ACTIVATION_DATE, NOW - 10),
            (
                Tag.USAGE_LIMITS,
                S.UsageLimits(usage_limits_total=32, usage_limits_unit=UsageLimitsUnit.BYTE),
            ),
        ]
    )
    uid = kms.run(
        Operation.CREATE, S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
    ).unique_identifier

    def encrypt(size: int) -> None:
        kms.run(Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, data=bytes(size)))

    encrypt(20)
    with pytest.raises(KmipError) as refused:
        encrypt(16)
    assert refused.value.reason == ResultReason.PERMISSION_DENIED
    encrypt(12)
    assert kms.attributes(uid).get(Tag.USAGE_LIMITS).usage_limits_count == 0
