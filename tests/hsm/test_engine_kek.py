"""The engine with a KEK: every object blob is sealed before it reaches the store, unsealed when read; Revoke and
Destroy drop cached plaintext; an HSM failure fails the request and leaves the store as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pkcs11
import pytest

from kms_backend.engine import Engine
from kms_backend.hsm import HsmRuntime, HsmSettings, is_sealed, open_hsm
from kms_backend.hsm.softhsm import SoftHsm
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    ResultReason,
    RevocationReasonCode,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore

from .conftest import token, unique


@pytest.fixture
def runtime(softhsm) -> Iterator[HsmRuntime]:
    tok = token(softhsm, "engine")
    hsm = open_hsm(HsmSettings(tok.module, tok.label, tok.pin, unique("kek"), create_kek=True, cache_size=100))
    yield hsm
    hsm.close()


@pytest.fixture
def engine(runtime: HsmRuntime) -> Engine:
    return Engine(MemoryStore(), **runtime.engine_options())


def create_aes(engine: Engine) -> str:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)])
    response = engine.run_operation(
        Operation.CREATE, S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs), "alice"
    )
    return str(response.unique_identifier)


def material(engine: Engine, uid: str) -> bytes:
    response = engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), "alice")
    return bytes(response.managed_object.key_block.key_value.key_material)


def stored_blob(engine: Engine, uid: str) -> bytes:
    with engine.store.transaction() as tx:
        record = tx.get(uid)
        assert record is not None
        return record.object_bytes


def test_objects_are_sealed_in_the_store(engine: Engine, runtime: HsmRuntime) -> None:
    uid = create_aes(engine)
    key = material(engine, uid)
    blob = stored_blob(engine, uid)
    assert is_sealed(blob) and key not in blob
    runtime.sealer.cache.clear()
    assert material(engine, uid) == key  # cold: unsealed by the HSM


def test_revoke_and_destroy_drop_the_cached_plaintext(engine: Engine, runtime: HsmRuntime) -> None:
    uid = create_aes(engine)
    material(engine, uid)
    assert uid in runtime.sealer.cache._entries
    engine.run_operation(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid), "alice")
    reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
    engine.run_operation(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason), "alice")
    assert uid not in runtime.sealer.cache._entries
    material(engine, uid)  # still readable after Revoke (Deactivated), cached again
    engine.run_operation(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid), "alice")
    assert uid not in runtime.sealer.cache._entries
    assert stored_blob(engine, uid) == b""


def test_an_hsm_failure_fails_the_request_and_changes_nothing(
    engine: Engine, runtime: HsmRuntime, softhsm: SoftHsm, tmp_path, monkeypatch
) -> None:
    uid = create_aes(engine)
    key = material(engine, uid)
    before = stored_blob(engine, uid)
    count = len(list(engine.store.all_uids()))
    runtime.sealer.cache.clear()
    empty = SoftHsm.create(tmp_path / "empty", softhsm.module)
    lib = pkcs11.lib(softhsm.module)
    monkeypatch.setenv("SOFTHSM2_CONF", str(empty.conf))
    lib.reinitialize()  # token removed
    try:
        with pytest.raises(KmipError) as exc:
            create_aes(engine)
        assert exc.value.reason == ResultReason.PROTECTION_STORAGE_UNAVAILABLE
        with pytest.raises(KmipError) as exc:
            material(engine, uid)
        assert exc.value.reason == ResultReason.PROTECTION_STORAGE_UNAVAILABLE
    finally:
        monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm.conf))
        lib.reinitialize()  # token back
    assert len(list(engine.store.all_uids())) == count
    assert stored_blob(engine, uid) == before
    assert material(engine, uid) == key


def test_batch_item_failure_reports_the_hsm_reason(engine: Engine) -> None:
    request = S.GetRequest(unique_identifier="no-such-object")
    with pytest.raises(KmipError) as exc:
        engine.run_operation(Operation.GET, request, "alice")
    assert exc.value.reason == ResultReason.OBJECT_NOT_FOUND
