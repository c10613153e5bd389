"""HSM-resident keys (``hsm::<slot>::<label>``) through the engine: Create (AES, RSA), Encrypt/Decrypt (AES-GCM,
RSA-OAEP), Sign, Get of public keys, Destroy; access for HSM administrators, others only when granted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from kms_backend.engine import Engine, access
from kms_backend.hsm import HsmRuntime, HsmSettings, open_hsm
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    PaddingMethod,
    ResultReason,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore

from .conftest import token, unique

ADMIN = "hsm-admin"
USER = "bob"
OAEP_SHA1 = S.CryptographicParameters(padding_method=PaddingMethod.OAEP, hashing_algorithm=HashingAlgorithm.SHA_1)


@pytest.fixture(scope="module")
def runtime(softhsm) -> Iterator[HsmRuntime]:
    tok = token(softhsm, "resident")
    hsm = open_hsm(HsmSettings(tok.module, tok.label, tok.pin, "kek", create_kek=True, admins=(ADMIN,)))
    yield hsm
    hsm.close()


@pytest.fixture
def engine(runtime: HsmRuntime) -> Engine:
    return Engine(MemoryStore(), **runtime.engine_options())


def hsm_uid(runtime: HsmRuntime, label: str) -> str:
    return f"hsm::{runtime.sessions.slot_id}::{label}"


def run(engine: Engine, operation: Operation, payload, user: str = ADMIN):
    return engine.run_operation(operation, payload, user)


def fail(engine: Engine, operation: Operation, payload, user: str = ADMIN) -> KmipError:
    with pytest.raises(KmipError) as exc:
        engine.run_operation(operation, payload, user)
    return exc.value


def create_aes(engine: Engine, uid: str, user: str = ADMIN):
    attrs = Attributes(
        [
            (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
            (Tag.CRYPTOGRAPHIC_LENGTH, 256),
            (Tag.UNIQUE_IDENTIFIER, uid),
        ]
    )
    return engine.run_operation(
        Operation.CREATE, S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs), user
    )


def create_rsa(engine: Engine, uid: str) -> S.CreateKeyPairResponse:
    common = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048)])
    private = Attributes([(Tag.UNIQUE_IDENTIFIER, uid)])
    request = S.CreateKeyPairRequest(common_attributes=common, private_key_attributes=private)
    return run(engine, Operation.CREATE_KEY_PAIR, request)


def test_aes_key_create_encrypt_decrypt(engine: Engine, runtime: HsmRuntime) -> None:
    uid = hsm_uid(runtime, unique("aes"))
    response = create_aes(engine, uid)
    assert response.unique_identifier == uid
    enc = run(engine, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, data=b"attack at dawn"))
    assert len(enc.iv_counter_nonce) == 12 and len(enc.authenticated_encryption_tag) == 16
    assert enc.data != b"attack at dawn"
    dec = run(
        engine,
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=uid,
            data=enc.data,
            iv_counter_nonce=enc.iv_counter_nonce,
            authenticated_encryption_tag=enc.authenticated_encryption_tag,
        ),
    )
    assert dec.data == b"attack at dawn"
    bad_tag = bytes(16)
    error = fail(
        engine,
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=uid,
            data=enc.data,
            iv_counter_nonce=enc.iv_counter_nonce,
            authenticated_encryption_tag=bad_tag,
        ),
    )
    assert error.reason == ResultReason.CRYPTOGRAPHIC_FAILURE
    cbc = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.CBC)
    error = fail(
        engine, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, data=b"x", cryptographic_parameters=cbc)
    )
    assert error.reason == ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS
    assert fail(engine, Operation.GET, S.GetRequest(unique_identifier=uid)).reason == ResultReason.NOT_EXTRACTABLE
    assert not list(engine.store.all_uids())  # nothing of it is in the store


def test_rsa_pair_oaep_sign_and_public_get(engine: Engine, runtime: HsmRuntime) -> None:
    uid = hsm_uid(runtime, unique("rsa"))
    pair = create_rsa(engine, uid)
    assert pair.private_key_unique_identifier == uid
    assert pair.public_key_unique_identifier == uid + "_pk"
    got = run(engine, Operation.GET, S.GetRequest(unique_identifier=uid + "_pk"))
    assert got.object_type == ObjectType.PUBLIC_KEY
    assert got.managed_object.key_block.key_format_type == KeyFormatType.PKCS_1
    public = serialization.load_der_public_key(
        run(
            engine, Operation.GET, S.GetRequest(unique_identifier=uid + "_pk", key_format_type=KeyFormatType.X_509)
        ).managed_object.key_block.key_value.key_material
    )
    assert public.key_size == 2048
    enc = run(
        engine,
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid + "_pk", data=b"secret", cryptographic_parameters=OAEP_SHA1),
    )
    dec = run(
        engine,
        Operation.DECRYPT,
        S.DecryptRequest(unique_identifier=uid, data=enc.data, cryptographic_parameters=OAEP_SHA1),
    )
    assert dec.data == b"secret"
    # a ciphertext made outside the HSM with the public key decrypts inside
    outside = public.encrypt(
        b"from outside", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    )
    assert (
        run(
            engine,
            Operation.DECRYPT,
            S.DecryptRequest(unique_identifier=uid, data=outside, cryptographic_parameters=OAEP_SHA1),
        ).data
        == b"from outside"
    )
    # SoftHSM 2.6.1 refuses OAEP with SHA-256: a clear error, not a crash
    error = fail(engine, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid + "_pk", data=b"x"))
    assert error.reason == ResultReason.CRYPTOGRAPHIC_FAILURE and "SHA-1" in error.message
    for params, pad in (
        (None, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)),
        (
            S.CryptographicParameters(
                padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=HashingAlgorithm.SHA_256
            ),
            padding.PKCS1v15(),
        ),
    ):
        signature = run(
            engine,
            Operation.SIGN,
            S.SignRequest(unique_identifier=uid, data=b"document", cryptographic_parameters=params),
        ).signature_data
        public.verify(signature, b"document", pad, hashes.SHA256())
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"document")
    signature = run(
        engine, Operation.SIGN, S.SignRequest(unique_identifier=uid, digested_data=digest.finalize())
    ).signature_data
    public.verify(
        signature, b"document", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )
    assert fail(engine, Operation.GET, S.GetRequest(unique_identifier=uid)).reason == ResultReason.NOT_EXTRACTABLE
    run(engine, Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    run(engine, Operation.DESTROY, S.DestroyRequest(unique_identifier=uid + "_pk"))
    assert (
        fail(engine, Operation.GET, S.GetRequest(unique_identifier=uid + "_pk")).reason == ResultReason.OBJECT_NOT_FOUND
    )


def test_raw_pkcs1v15_signature_in_the_hsm(engine: Engine, runtime: HsmRuntime) -> None:
    """Padding PKCS1_V1_5 and no hash: CKM_RSA_PKCS over the bytes as given, as the KMS does for stored keys."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric import utils

    uid = hsm_uid(runtime, unique("raw"))
    create_rsa(engine, uid)
    public = serialization.load_der_public_key(
        run(
            engine, Operation.GET, S.GetRequest(unique_identifier=uid + "_pk", key_format_type=KeyFormatType.X_509)
        ).managed_object.key_block.key_value.key_material
    )
    raw = S.CryptographicParameters(padding_method=PaddingMethod.PKCS1_V1_5)
    tls = hashlib.md5(b"hello").digest() + hashlib.sha1(b"hello").digest()
    for fields in ({"data": tls}, {"digested_data": tls}):
        request = S.SignRequest(unique_identifier=uid, cryptographic_parameters=raw, **fields)
        signature = run(engine, Operation.SIGN, request).signature_data
        public.verify(signature, tls, padding.PKCS1v15(), utils.NoDigestInfo())  # raises if invalid
    info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"document").digest()
    signature = run(
        engine, Operation.SIGN, S.SignRequest(unique_identifier=uid, cryptographic_parameters=raw, data=info)
    ).signature_data
    public.verify(signature, b"document", padding.PKCS1v15(), hashes.SHA256())
    error = fail(
        engine, Operation.SIGN, S.SignRequest(unique_identifier=uid, cryptographic_parameters=raw, data=bytes(246))
    )
    assert error.reason == ResultReason.INVALID_FIELD and "245" in error.message
    run(engine, Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    run(engine, Operation.DESTROY, S.DestroyRequest(unique_identifier=uid + "_pk"))


def test_access_is_for_hsm_admins_unless_granted(engine: Engine, runtime: HsmRuntime) -> None:
    uid = hsm_uid(runtime, unique("aes"))
    with pytest.raises(KmipError) as exc:
        create_aes(engine, uid, user=USER)
    assert exc.value.reason == ResultReason.PERMISSION_DENIED
    create_aes(engine, uid)
    encrypt = S.EncryptRequest(unique_identifier=uid, data=b"x")
    assert fail(engine, Operation.ENCRYPT, encrypt, USER).reason == ResultReason.PERMISSION_DENIED
    # Rights on HSM keys go through the same access API as /access/grant; HSM administrators manage them.
    with pytest.raises(KmipError) as refused:
        access.grant(engine, USER, uid, USER, ["encrypt"])
    assert refused.value.reason == ResultReason.PERMISSION_DENIED
    access.grant(engine, ADMIN, uid, USER, ["encrypt"])
    access.grant(engine, ADMIN, uid, "*", ["destroy"])
    assert access.list_access(engine, ADMIN, uid) == {USER: ["encrypt"], "*": ["destroy"]}
    assert run(engine, Operation.ENCRYPT, encrypt, USER).data
    destroy = S.DestroyRequest(unique_identifier=uid)
    assert (
        fail(engine, Operation.DESTROY, destroy, USER).reason == ResultReason.PERMISSION_DENIED
    )  # needs a named grant
    run(engine, Operation.DESTROY, destroy)
    with engine.store.transaction() as tx:
        assert tx.grants(uid) == {}


def test_identifier_errors(engine: Engine, runtime: HsmRuntime) -> None:
    label = unique("aes")
    uid = hsm_uid(runtime, label)
    create_aes(engine, uid)
    with pytest.raises(KmipError) as exc:
        create_aes(engine, uid)
    assert exc.value.reason == ResultReason.OBJECT_ALREADY_EXISTS
    other_slot = f"hsm::{runtime.sessions.slot_id + 1}::{label}"
    assert fail(engine, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=other_slot, data=b"x")).reason == (
        ResultReason.OBJECT_NOT_FOUND
    )
    missing = hsm_uid(runtime, "no-such-key")
    assert fail(engine, Operation.ENCRYPT, S.EncryptRequest(unique_identifier=missing, data=b"x")).reason == (
        ResultReason.OBJECT_NOT_FOUND
    )
    error = fail(engine, Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    assert error.reason == ResultReason.OPERATION_NOT_SUPPORTED
