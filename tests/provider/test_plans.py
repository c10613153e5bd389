"""C_EncryptInit, C_DecryptInit and C_Sign take the KMS's decision (``Library.plan``: the engine's kept Plan) and
run it in-process: a key revoked, destroyed or changed by another process sharing the store is refused at the next
C_*Init, and the §5.2 output rules hold for calls answered by a Plan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation, RevocationReasonCode
from provider import ciphers, general, keys, objects, sessions, signatures
from provider.backends.base import Identity
from provider.backends.embedded import EmbeddedBackend
from provider.config import BackendConfig
from provider.constants import Attribute, Mechanism, ReturnValue, UserType
from provider.library import Library
from provider.slots import SLOT_ID

from .conftest import RW, USER_PIN, make_config
from .test_library import aes_template, attribute, rv_of

A = Attribute
M = Mechanism


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kms.db'}"


@pytest.fixture
def lib(tmp_path: Path, database: str) -> Iterator[Library]:
    """A library over the embedded backend on a SQLite file, sealed as by default (``other`` opens the same file)."""
    config = make_config(tmp_path / "pkcs11.yaml")
    library = Library(
        environ={},
        config_loader=lambda _env: config,
        backend_factory=lambda _c: EmbeddedBackend.open(BackendConfig(database=database)),
    )
    general.initialize(library, None)
    yield library
    if library.initialized:
        general.finalize(library, False)


@pytest.fixture
def other(database: str) -> Iterator[EmbeddedBackend]:
    """Another KMS client on the same store (another engine, another SQLite connection: as another process)."""
    backend = EmbeddedBackend.open(BackendConfig(database=database))
    yield backend
    backend.close()


@pytest.fixture
def session(lib: Library) -> int:
    handle = sessions.open_session(lib, SLOT_ID, RW)
    sessions.login(lib, handle, UserType.USER, USER_PIN)
    return handle


def _token_key(lib: Library, session: int, **extra: bool) -> int:
    template = aes_template("k", sensitive=False, extractable=True, **extra)
    return keys.generate_key(lib, session, M.AES_KEY_GEN, template)


def _uid(lib: Library, handle: int) -> str:
    uid = lib.handles.uid(handle)
    assert uid is not None
    return uid


def _encrypt_once(lib: Library, session: int, key: int, iv: bytes, data: bytes) -> bytes:
    ciphers.encrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    return ciphers.encrypt(lib, session, data, 1024)


def _revoke(backend: EmbeddedBackend, uid: str, user: str) -> None:
    reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
    backend.run(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason), Identity(user))


def test_encrypt_and_decrypt_run_the_kept_plan(lib: Library, session: int) -> None:
    key = _token_key(lib, session)
    iv, data = os.urandom(16), os.urandom(40)
    sealed = _encrypt_once(lib, session, key, iv, data)
    ciphers.encrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    op = lib.session(session).operations[ciphers.ENCRYPT]
    assert isinstance(op, ciphers.CipherOperation) and op.direct is not None  # the KMS's decision, run here
    assert ciphers.encrypt(lib, session, data, 1024) == sealed
    raw = attribute(lib, session, key, A.VALUE)
    assert raw is not None
    padder = PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
    assert sealed == encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    ciphers.decrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    assert lib.session(session).operations[ciphers.DECRYPT].direct is not None
    assert ciphers.decrypt(lib, session, sealed, 1024) == data


def test_length_query_and_short_buffer_keep_a_planned_operation(lib: Library, session: int) -> None:
    key = _token_key(lib, session)
    iv = os.urandom(16)
    ciphers.encrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    assert lib.session(session).operations[ciphers.ENCRYPT].direct is not None
    asked = ciphers.encrypt(lib, session, b"x" * 20, None)  # pEncryptedData NULL: the length, operation alive
    assert len(asked) == 32
    short = ciphers.encrypt(lib, session, b"x" * 20, 16)  # CKR_BUFFER_TOO_SMALL (the shim), operation alive
    done = ciphers.encrypt(lib, session, b"x" * 20, 32)
    assert asked == short == done  # one encryption, handed out when the buffer fits
    assert rv_of(ciphers.encrypt, lib, session, b"x", 64) == ReturnValue.OPERATION_NOT_INITIALIZED
    ciphers.decrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    assert len(ciphers.decrypt(lib, session, done, None)) == 20
    assert ciphers.decrypt(lib, session, done, 20) == b"x" * 20
    ciphers.encrypt_init(lib, session, M.AES_CBC, iv, key)  # no padding: a partial block is refused, op ended
    assert rv_of(ciphers.encrypt, lib, session, b"x" * 20, 64) == ReturnValue.DATA_LEN_RANGE
    assert rv_of(ciphers.encrypt, lib, session, b"x" * 16, 64) == ReturnValue.OPERATION_NOT_INITIALIZED


def test_a_key_revoked_by_another_process_is_refused_at_the_next_init(
    lib: Library, session: int, other: EmbeddedBackend
) -> None:
    key = _token_key(lib, session)
    iv = os.urandom(16)
    _encrypt_once(lib, session, key, iv, b"data")
    _encrypt_once(lib, session, key, iv, b"data")  # the kept Plan
    _revoke(other, _uid(lib, key), lib.identity.user)
    # The cached view (TTL 60 s here) still shows the key usable: the store's change stamp ends the Plan.
    assert rv_of(ciphers.encrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    assert ciphers.ENCRYPT not in lib.session(session).operations


def test_a_key_destroyed_by_another_process_is_refused_at_the_next_init(
    lib: Library, session: int, other: EmbeddedBackend
) -> None:
    key = _token_key(lib, session)
    iv = os.urandom(16)
    _encrypt_once(lib, session, key, iv, b"data")
    uid, user = _uid(lib, key), lib.identity.user
    _revoke(other, uid, user)
    other.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid), Identity(user))
    # The KMS keeps a destroyed key's metadata (state Destroyed): a key in a state that allows no use.
    assert rv_of(ciphers.encrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    assert rv_of(ciphers.decrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED


def test_a_key_changed_by_another_process_is_refused_at_the_next_init(
    lib: Library, session: int, other: EmbeddedBackend
) -> None:
    import time

    from kms_backend.kmip._registry_data import Tag
    from kms_backend.kmip.schema import Attributes

    key = _token_key(lib, session)
    iv = os.urandom(16)
    sealed = _encrypt_once(lib, session, key, iv, b"data")
    # Protect Stop Date reached (KMIP 2.1 §4.41): the key may no longer encrypt, only decrypt.
    stop = Attributes([(Tag.PROTECT_STOP_DATE, int(time.time()) - 1)])
    request = S.SetAttributeRequest(unique_identifier=_uid(lib, key), new_attribute=stop)
    other.run(Operation.SET_ATTRIBUTE, request, Identity(lib.identity.user))
    assert rv_of(ciphers.encrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    ciphers.decrypt_init(lib, session, M.AES_CBC_PAD, iv, key)
    assert ciphers.decrypt(lib, session, sealed, 64) == b"data"


def test_cka_encrypt_false_is_refused_before_the_kms_is_asked(lib: Library, session: int) -> None:
    key = _token_key(lib, session, encrypt=False)
    iv = os.urandom(16)
    assert rv_of(ciphers.encrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    ciphers.decrypt_init(lib, session, M.AES_CBC_PAD, iv, key)


def test_sign_runs_the_plan_and_a_revoked_key_is_refused(lib: Library, session: int, other: EmbeddedBackend) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from kms_backend.kmip._registry_data import RecommendedCurve
    from provider.attributes import CURVE_PARAMS
    from provider.objects import object_view, public_values

    from .test_library import boolean

    public_template = [(A.EC_PARAMS, CURVE_PARAMS[RecommendedCurve.P_256]), (A.TOKEN, boolean(True))]
    public, private = keys.generate_key_pair(
        lib, session, M.EC_KEY_PAIR_GEN, public_template, [(A.TOKEN, boolean(True))]
    )
    point = public_values(lib, object_view(lib, public))[A.EC_POINT]
    verifier = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])  # DER OCTET STRING
    digest = os.urandom(32)
    for _ in range(3):  # decided once, then the kept Plan
        signatures.sign_init(lib, session, M.ECDSA, None, private)
        raw = signatures.sign(lib, session, digest, 64)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        verifier.verify(utils.encode_dss_signature(r, s), digest, ec.ECDSA(utils.Prehashed(utils.hashes.SHA256())))
    _revoke(other, _uid(lib, private), lib.identity.user)
    signatures.sign_init(lib, session, M.ECDSA, None, private)
    assert rv_of(signatures.sign, lib, session, digest, 64) == ReturnValue.KEY_FUNCTION_NOT_PERMITTED
    assert signatures.SIGN not in lib.session(session).operations


def test_repeated_init_keeps_its_decision_while_the_store_and_the_view_are_unchanged(
    lib: Library, session: int, other: EmbeddedBackend
) -> None:
    """The same C_EncryptInit again on a KMS key is checked against the kept decision (its cached view, and the
    KMS's Plan still current) instead of decided again; a commit anywhere in the store (another process) or a
    change made here (the view dropped) makes the next one decide anew, with the same results."""
    key = _token_key(lib, session)
    iv = os.urandom(16)
    sealed = _encrypt_once(lib, session, key, iv, b"data")
    kept = lib.session(session).inits[ciphers.ENCRYPT]
    assert _encrypt_once(lib, session, key, iv, b"data") == sealed
    assert lib.session(session).inits[ciphers.ENCRYPT] is kept
    # Another process commits something unrelated: the store's change stamp moves, the KMS decides again.
    other.run(Operation.CREATE, S.CreateRequest(**_create_aes()), Identity(lib.identity.user))
    assert _encrypt_once(lib, session, key, iv, b"data") == sealed
    assert lib.session(session).inits[ciphers.ENCRYPT] is not kept
    kept = lib.session(session).inits[ciphers.ENCRYPT]
    objects.set_attribute_value(lib, session, key, [(A.LABEL, b"renamed")])
    assert _encrypt_once(lib, session, key, iv, b"data") == sealed
    assert lib.session(session).inits[ciphers.ENCRYPT] is not kept
    objects.destroy_object(lib, session, key)
    assert ciphers.ENCRYPT not in lib.session(session).inits
    assert rv_of(ciphers.encrypt_init, lib, session, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_HANDLE_INVALID


def _create_aes() -> dict[str, object]:
    from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Tag
    from kms_backend.kmip.schema import Attributes

    attributes = Attributes(
        [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)]
    )
    return {"object_type": ObjectType.SYMMETRIC_KEY, "attributes": attributes}
