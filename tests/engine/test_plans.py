"""Objects kept between requests (``engine.caches.hot``) and kept Encrypt/Decrypt/Sign Plans (``engine.caches.plans``)
never answer from stale decisions: a commit anywhere — this engine, another engine on the same store, another SQLite
connection — and the passing of an object's dates end them; what they answer is what the handler answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kms_backend.crypto import _keys, _symmetric
from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    KeyFormatType,
    Operation,
    PaddingMethod,
    ResultReason,
    RevocationReasonCode,
    State,
    Tag,
    UsageLimitsUnit,
    WrappingMethod,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.schema import Attributes
from kms_backend.store._sql_connections import SqliteConnection
from kms_backend.store.memory import MemoryStore
from kms_backend.store.sql import SqlStore

from .conftest import NOW, OTHER, OWNER, Clock, Kms

CBC = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.AES,
    block_cipher_mode=BlockCipherMode.CBC,
    padding_method=PaddingMethod.PKCS5,
)
GCM = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.AES, block_cipher_mode=BlockCipherMode.GCM
)
DATA = bytes(range(48))


def _encrypt(engine: Engine, uid: str, user: str = OWNER, params: S.CryptographicParameters = CBC) -> S.EncryptResponse:
    response = engine.run_operation(
        Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=params, data=DATA), user
    )
    assert isinstance(response, S.EncryptResponse)
    return response


def _decrypt(engine: Engine, uid: str, sealed: S.EncryptResponse, params: S.CryptographicParameters = CBC) -> bytes:
    request = S.DecryptRequest(
        unique_identifier=uid,
        cryptographic_parameters=params,
        data=sealed.data,
        iv_counter_nonce=sealed.iv_counter_nonce,
        authenticated_encryption_tag=sealed.authenticated_encryption_tag,
    )
    response = engine.run_operation(Operation.DECRYPT, request, OWNER)
    assert isinstance(response, S.DecryptResponse)
    return bytes(response.data or b"")


def _active_key(kms: Kms, *extra: tuple[int, object]) -> str:
    uid = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x0C), *extra)
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    return uid


def _revoke(engine: Engine, uid: str) -> None:
    reason = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
    engine.run_operation(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=reason), OWNER)


def _count_handler_runs(engine: Engine, operation: Operation) -> list[int]:
    """Replace ``engine``'s handler of ``operation`` by one that counts its runs (in a list of one)."""
    runs = [0]
    handler = engine.routes[operation]

    def counting(ctx: Any, request: Any) -> Any:
        runs[0] += 1
        return handler(ctx, request)

    engine.routes = {**engine.routes, operation: counting}
    return runs


def test_a_repeated_encrypt_opens_a_plan_whose_answers_match_the_handler(kms: Kms) -> None:
    uid = _active_key(kms)
    plans = kms.engine.caches.plans
    assert plans is not None
    encrypts = _count_handler_runs(kms.engine, Operation.ENCRYPT)
    decrypts = _count_handler_runs(kms.engine, Operation.DECRYPT)
    first = _encrypt(kms.engine, uid)  # the handler decides and opens the plan
    assert len(plans) == 1
    second = _encrypt(kms.engine, uid)  # answered by the plan
    assert encrypts == [1]
    assert second.unique_identifier == uid
    assert second.iv_counter_nonce != first.iv_counter_nonce  # a fresh random IV each time
    assert _decrypt(kms.engine, uid, first) == DATA
    assert _decrypt(kms.engine, uid, second) == DATA
    assert _decrypt(kms.engine, uid, second) == DATA  # the decrypt plan too
    assert decrypts == [1]
    gcm = _encrypt(kms.engine, uid, params=GCM)  # another parameter set: its own variant
    assert _decrypt(kms.engine, uid, _encrypt(kms.engine, uid, params=GCM), GCM) == DATA
    assert _decrypt(kms.engine, uid, gcm, GCM) == DATA


def test_a_plan_gives_the_handlers_errors(kms: Kms) -> None:
    uid = _active_key(kms)
    _encrypt(kms.engine, uid, params=GCM)
    sealed = _encrypt(kms.engine, uid, params=GCM)
    _decrypt(kms.engine, uid, sealed, GCM)  # opens the decrypt lane
    bad_tag = S.DecryptRequest(
        unique_identifier=uid,
        cryptographic_parameters=GCM,
        data=sealed.data,
        iv_counter_nonce=sealed.iv_counter_nonce,
        authenticated_encryption_tag=bytes(16),
    )
    error = kms.fail(Operation.DECRYPT, bad_tag)
    assert error.reason == ResultReason.CRYPTOGRAPHIC_FAILURE
    short_iv = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=CBC, data=DATA, iv_counter_nonce=b"1")
    _encrypt(kms.engine, uid)
    assert kms.fail(Operation.ENCRYPT, short_iv).reason == ResultReason.INVALID_FIELD


def test_revoke_in_this_engine_ends_the_plan(kms: Kms) -> None:
    uid = _active_key(kms)
    _encrypt(kms.engine, uid)
    _encrypt(kms.engine, uid)
    _revoke(kms.engine, uid)
    with pytest.raises(KmipError) as info:
        _encrypt(kms.engine, uid)
    assert info.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


def test_a_grant_withdrawn_ends_the_grantees_plan(kms: Kms) -> None:
    uid = _active_key(kms)
    kms.grant(uid, OTHER, [Operation.ENCRYPT])
    _encrypt(kms.engine, uid, OTHER)
    _encrypt(kms.engine, uid, OTHER)
    from kms_backend.engine import access

    access.revoke(kms.engine, OWNER, uid, OTHER, [Operation.ENCRYPT])
    with pytest.raises(KmipError) as info:
        _encrypt(kms.engine, uid, OTHER)
    assert info.value.reason == ResultReason.PERMISSION_DENIED


def test_a_plan_is_per_user(kms: Kms) -> None:
    uid = _active_key(kms)
    _encrypt(kms.engine, uid)
    _encrypt(kms.engine, uid)
    with pytest.raises(KmipError) as info:
        _encrypt(kms.engine, uid, OTHER)  # the owner's plan is not the other user's decision
    assert info.value.reason == ResultReason.PERMISSION_DENIED


def test_a_date_reached_ends_the_plan(kms: Kms, clock: Clock) -> None:
    uid = _active_key(kms, (Tag.PROTECT_STOP_DATE, NOW + 10))
    _encrypt(kms.engine, uid)
    _encrypt(kms.engine, uid)
    clock.advance(9)
    _encrypt(kms.engine, uid)
    clock.advance(1)
    with pytest.raises(KmipError) as info:
        _encrypt(kms.engine, uid)
    assert info.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


def test_a_deactivation_date_reached_ends_the_plan(kms: Kms, clock: Clock) -> None:
    uid = _active_key(kms, (Tag.DEACTIVATION_DATE, NOW + 5))
    _encrypt(kms.engine, uid)
    _encrypt(kms.engine, uid)
    clock.advance(5)
    with pytest.raises(KmipError):
        _encrypt(kms.engine, uid)
    assert kms.attribute(uid, Tag.STATE) == State.DEACTIVATED


def test_usage_limits_are_charged_on_every_use(kms: Kms) -> None:
    limits = S.UsageLimits(usage_limits_total=3, usage_limits_unit=UsageLimitsUnit.OBJECT)
    uid = _active_key(kms, (Tag.USAGE_LIMITS, limits))
    for _ in range(3):
        _encrypt(kms.engine, uid)
    assert kms.engine.caches.plans is not None and len(kms.engine.caches.plans) == 0
    with pytest.raises(KmipError) as info:
        _encrypt(kms.engine, uid)
    assert info.value.reason == ResultReason.PERMISSION_DENIED


def test_another_engine_on_the_same_store_ends_plans_and_kept_records(store: MemoryStore, clock: Clock) -> None:
    first, second = Engine(store, clock=clock), Engine(store, clock=clock)
    kms = Kms(first, clock, store)
    uid = _active_key(kms)
    _encrypt(first, uid)
    _encrypt(first, uid)
    set_comment = S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "x")]))
    second.run_operation(Operation.SET_ATTRIBUTE, set_comment, OWNER)
    assert kms.attribute(uid, Tag.COMMENT) == "x"  # the kept record was not served
    _revoke(second, uid)
    with pytest.raises(KmipError) as info:
        _encrypt(first, uid)
    assert info.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


def test_sqlite_commits_of_another_connection_end_plans(tmp_path: Path) -> None:
    """Two stores on one SQLite file stand for two processes: PRAGMA data_version sees the other's commits."""
    url = f"sqlite:///{tmp_path / 'kms.db'}"
    clock = Clock()
    first_store, second_store = SqlStore(url), SqlStore(url)
    try:
        first = Engine(first_store, clock=clock)
        second = Engine(second_store, clock=clock)
        kms = Kms(first, clock, first_store)  # type: ignore[arg-type]
        uid = _active_key(kms)
        _encrypt(first, uid)
        _encrypt(first, uid)
        assert first.caches.plans is not None and len(first.caches.plans) == 1
        stamp = first_store.change_stamp()
        _revoke(second, uid)
        assert first_store.change_stamp() != stamp
        with pytest.raises(KmipError) as info:
            _encrypt(first, uid)
        assert info.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
        destroy = S.DestroyRequest(unique_identifier=uid)
        second.run_operation(Operation.DESTROY, destroy, OWNER)
        with pytest.raises(KmipError):
            first.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid), OWNER)
    finally:
        first_store.close()
        second_store.close()


def test_sqlite_stamps(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'kms.db'}")
    try:
        before = store.change_stamp()
        assert before is not None
        with store.transaction() as tx:
            assert tx.change_stamp() == before
            tx.grant("some-uid", "bob", [int(Operation.GET)])
            assert tx.change_stamp() is None  # reads after a write may show uncommitted data
        assert store.change_stamp() != before
        stamp = store.change_stamp()
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.grant("other-uid", "bob", [int(Operation.GET)])
            raise RuntimeError("roll back")
        assert store.change_stamp() == stamp  # nothing was committed
    finally:
        store.close()


def test_memory_stamps() -> None:
    store = MemoryStore()
    before = store.change_stamp()
    with store.transaction() as tx:
        assert tx.change_stamp() == before
        tx.grant("uid", "bob", [int(Operation.GET)])
        assert tx.change_stamp() is None
    assert store.change_stamp() != before


def test_a_wrapped_or_tagged_reference_takes_the_handler(kms: Kms) -> None:
    uid = _active_key(kms)
    kms.run(
        Operation.ADD_ATTRIBUTE,
        S.AddAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "c")])),
    )
    placeholder = S.EncryptRequest(cryptographic_parameters=CBC, data=DATA)  # no uid: the ID Placeholder
    with pytest.raises(KmipError):
        kms.engine.run_operation(Operation.ENCRYPT, placeholder, OWNER)
    assert kms.engine.caches.plans is not None and len(kms.engine.caches.plans) == 0


def test_plans_and_kept_objects_can_be_turned_off(store: MemoryStore, clock: Clock) -> None:
    engine = Engine(store, EngineConfig(hot_objects=0), clock=clock)
    assert engine.caches.hot is None and engine.caches.plans is None
    kms = Kms(engine, clock, store)
    uid = _active_key(kms)
    assert _decrypt(engine, uid, _encrypt(engine, uid)) == DATA


def test_bulk_data_takes_the_handler(kms: Kms) -> None:
    uid = _active_key(kms)
    _encrypt(kms.engine, uid, params=GCM)
    bulk = b"\x87\x87\x02\x03abc\x02de"
    response = kms.run(
        Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=GCM, data=bulk)
    )
    assert response.data.startswith(b"\x87\x87\x02")
    assert response.iv_counter_nonce is None


def test_sqlite_stamp_reads_the_wal_index_and_sees_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "kms.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        # the WAL-index header is mapped: no lock, no pragma per check
        assert isinstance(store.connections, SqliteConnection) and store.connections.wal is not None
        before = store.change_stamp()
        assert before == store.change_stamp()
        writer = (
            "import sqlite3, sys; sqlite3.connect(sys.argv[1], isolation_level=None).execute('PRAGMA user_version=7')"
        )
        subprocess.run([sys.executable, "-c", writer, str(path)], check=True)
        after = store.change_stamp()
        assert after is not None and after != before
        with store.transaction() as tx:
            assert tx.change_stamp() == after  # the same kind of stamp inside and outside transactions
    finally:
        store.close()
    assert store.change_stamp() is None


def test_a_parameters_object_changed_by_the_caller_is_decided_again(kms: Kms) -> None:
    uid = _active_key(kms)
    params = S.CryptographicParameters(
        cryptographic_algorithm=CryptographicAlgorithm.AES,
        block_cipher_mode=BlockCipherMode.CBC,
        padding_method=PaddingMethod.PKCS5,
    )
    _encrypt(kms.engine, uid, params=params)
    _encrypt(kms.engine, uid, params=params)  # the plan
    params.padding_method = PaddingMethod.NONE  # same object, other decision: 48 bytes need no padding
    assert len(_encrypt(kms.engine, uid, params=params).data) == len(DATA)
    params.block_cipher_mode = BlockCipherMode.GCM
    params.padding_method = None
    sealed = _encrypt(kms.engine, uid, params=params)
    assert sealed.authenticated_encryption_tag is not None


def test_a_repeated_sign_takes_a_plan_and_revoke_ends_it(kms: Kms) -> None:
    from kms_backend.kmip._registry_data import HashingAlgorithm, RecommendedCurve, ValidityIndicator

    from .test_crypto_ops import key_pair

    private, public = key_pair(kms, CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
    signs = _count_handler_runs(kms.engine, Operation.SIGN)
    params = S.CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256)
    digest = bytes(32)
    signatures = [
        kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private, cryptographic_parameters=params, data=DATA))
        for _ in range(3)
    ]
    prehashed = [
        kms.run(
            Operation.SIGN,
            S.SignRequest(unique_identifier=private, cryptographic_parameters=params, digested_data=digest),
        )
        for _ in range(2)
    ]
    assert signs == [1]  # one decision; data and digested data both answered by the plan
    for response, digested in [*((s, False) for s in signatures), *((p, True) for p in prehashed)]:
        verify = S.SignatureVerifyRequest(
            unique_identifier=public,
            cryptographic_parameters=params,
            signature_data=response.signature_data,
            **({"digested_data": digest} if digested else {"data": DATA}),
        )
        assert kms.run(Operation.SIGNATURE_VERIFY, verify).validity_indicator == ValidityIndicator.VALID
    both = S.SignRequest(unique_identifier=private, cryptographic_parameters=params, data=DATA, digested_data=digest)
    assert kms.fail(Operation.SIGN, both).reason == ResultReason.INVALID_MESSAGE
    _revoke(kms.engine, private)
    again = S.SignRequest(unique_identifier=private, cryptographic_parameters=params, data=DATA)
    assert kms.fail(Operation.SIGN, again).reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


@pytest.mark.parametrize("ending", ["revoke", "destroy", "re-key"])
def test_ending_a_key_forgets_every_kept_copy_of_it(kms: Kms, ending: str) -> None:
    """Revoke, Destroy and Re-key end a key: the engine's one ``forget`` drops its plans, kept record, decoded
    record and the key-byte caches of the crypto layer."""
    uid = _active_key(kms)
    _encrypt(kms.engine, uid, params=GCM)
    caches = kms.engine.caches
    plans, hot = caches.plans, caches.hot
    assert plans is not None and hot is not None and len(plans) == 1
    assert uid in hot._entries and uid in caches.records._cache
    assert _symmetric._aesgcm.cache_info().currsize > 0  # the key's expanded AES-GCM schedule
    if ending == "re-key":
        kms.run(Operation.RE_KEY, S.ReKeyRequest(unique_identifier=uid))
    else:
        _revoke(kms.engine, uid)
        if ending == "destroy":
            kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    assert len(plans) == 0
    assert uid not in hot._entries
    assert uid not in caches.records._cache
    assert _symmetric._aesgcm.cache_info().currsize == 0
    assert _keys._parse_private.cache_info().currsize == 0


def test_a_plan_decided_under_an_old_stamp_is_dropped_when_met(kms: Kms) -> None:
    uid = _active_key(kms)
    _encrypt(kms.engine, uid)
    plans = kms.engine.caches.plans
    assert plans is not None and len(plans) == 1
    other = kms.create_key()  # a commit: every plan is stale
    assert other != uid
    runs = _count_handler_runs(kms.engine, Operation.ENCRYPT)
    _encrypt(kms.engine, uid)  # the stale plan is dropped, the handler decides again and opens a new one
    assert runs == [1] and len(plans) == 1


# -- Engine.plan: the decision handed to an in-process caller (the PKCS#11 provider) -------------------------------
def _plan_of(engine: Engine, uid: str, params: S.CryptographicParameters = CBC, user: str = OWNER) -> Any:
    request = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=params, data=b"")
    return engine.plan(Operation.ENCRYPT, request, user)


def test_engine_plan_decides_without_executing_and_keeps_the_plan(kms: Kms) -> None:
    uid = _active_key(kms)
    runs = _count_handler_runs(kms.engine, Operation.ENCRYPT)
    plan = _plan_of(kms.engine, uid)
    assert plan is not None and plan.uid == uid and runs == [0]  # decided, not run through the handler
    plans = kms.engine.caches.plans
    assert plans is not None and len(plans) == 1 and plans.current(plan)
    assert _plan_of(kms.engine, uid) is plan  # the kept one
    sealed = plan.run(DATA, bytes(16), None)
    decrypted = _decrypt(
        kms.engine, uid, S.EncryptResponse(unique_identifier=uid, data=sealed.data, iv_counter_nonce=bytes(16))
    )
    assert decrypted == DATA
    _encrypt(kms.engine, uid)  # a request meets the same kept decision
    assert runs == [0]


def test_engine_plan_refuses_as_the_request_would(kms: Kms) -> None:
    uid = _active_key(kms)
    plan = _plan_of(kms.engine, uid)
    _revoke(kms.engine, uid)
    plans = kms.engine.caches.plans
    assert plans is not None and not plans.current(plan)
    with pytest.raises(KmipError) as info:
        _plan_of(kms.engine, uid)
    assert info.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    no_encrypt = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x08))  # Decrypt only
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=no_encrypt))
    with pytest.raises(KmipError) as info:
        _plan_of(kms.engine, no_encrypt)
    assert info.value.reason == ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK
    with pytest.raises(KmipError):
        _plan_of(kms.engine, uid, user=OTHER)  # no grant: the other user gets no decision


def test_engine_plan_charges_no_usage_and_gives_none_when_a_plan_may_not_be_kept(kms: Kms) -> None:
    limits = S.UsageLimits(usage_limits_total=2, usage_limits_unit=UsageLimitsUnit.OBJECT)
    uid = _active_key(kms, (Tag.USAGE_LIMITS, limits))
    for _ in range(3):
        assert _plan_of(kms.engine, uid) is None  # each use must be charged: the caller sends requests
    _encrypt(kms.engine, uid)
    _encrypt(kms.engine, uid)  # both uses were left: deciding charged nothing
    third = S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=CBC, data=DATA)
    assert kms.fail(Operation.ENCRYPT, third).reason == ResultReason.PERMISSION_DENIED
    stream = S.EncryptRequest(unique_identifier=_active_key(kms), cryptographic_parameters=CBC, init_indicator=True)
    assert kms.engine.plan(Operation.ENCRYPT, stream, OWNER) is None
    get = S.GetRequest(unique_identifier=uid)
    assert kms.engine.plan(Operation.GET, get, OWNER) is None  # only one-shot Encrypt, Decrypt and Sign


def test_engine_plan_without_change_stamps_gives_none(store: MemoryStore, clock: Clock) -> None:
    engine = Engine(store, EngineConfig(hot_objects=0), clock=clock)
    uid = _active_key(Kms(engine, clock, store))
    assert _plan_of(engine, uid) is None


# -- Get: the exported object is the kept decision ---------------------------------------------------------------------


def _get(engine: Engine, uid: str, user: str = OWNER, **fields: Any) -> S.GetResponse:
    response = engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uid, **fields), user)
    assert isinstance(response, S.GetResponse)
    return response


def test_a_repeated_get_takes_a_plan_whose_answers_match_the_handler(kms: Kms) -> None:
    uid = _active_key(kms)
    gets = _count_handler_runs(kms.engine, Operation.GET)
    first = _get(kms.engine, uid)  # the first Get clears Fresh: a write, so nothing is kept
    second = _get(kms.engine, uid)  # decided and kept
    third = _get(kms.engine, uid)  # answered by the plan
    assert gets == [2]
    assert to_tree(first) == to_tree(second) == to_tree(third)
    assert third.unique_identifier == uid
    raw = _get(kms.engine, uid, key_format_type=KeyFormatType.TRANSPARENT_SYMMETRIC_KEY)  # another variant
    assert gets == [3]
    assert isinstance(raw.managed_object, S.SymmetricKey)
    assert raw.managed_object.key_block.key_format_type == KeyFormatType.TRANSPARENT_SYMMETRIC_KEY
    assert to_tree(_get(kms.engine, uid)) == to_tree(first)  # the first variant is still kept
    assert gets == [3]


def test_a_change_made_by_another_engine_ends_the_get_plan(store: MemoryStore, clock: Clock) -> None:
    first, second = Engine(store, clock=clock), Engine(store, clock=clock)
    kms = Kms(first, clock, store)
    uid = _active_key(kms)
    _get(first, uid)
    _get(first, uid)
    _get(first, uid)
    sensitive = S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.SENSITIVE, True)]))
    second.run_operation(Operation.SET_ATTRIBUTE, sensitive, OWNER)
    with pytest.raises(KmipError) as info:
        _get(first, uid)
    assert info.value.reason == ResultReason.SENSITIVE
    _revoke(second, uid)
    second.run_operation(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid), OWNER)
    with pytest.raises(KmipError):
        _get(first, uid)


def test_a_grant_withdrawn_ends_the_grantees_get_plan(kms: Kms) -> None:
    uid = _active_key(kms)
    kms.grant(uid, OTHER, [Operation.GET])
    for _ in range(3):
        _get(kms.engine, uid, OTHER)
    from kms_backend.engine import access

    access.revoke(kms.engine, OWNER, uid, OTHER, [Operation.GET])
    with pytest.raises(KmipError) as info:
        _get(kms.engine, uid, OTHER)
    assert info.value.reason == ResultReason.PERMISSION_DENIED
    assert _get(kms.engine, uid).unique_identifier == uid  # the owner's own decision


def test_a_wrapped_get_takes_the_handler_every_time(kms: Kms) -> None:
    uid = _active_key(kms)
    wrapping = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x0C | 0x10 | 0x20))
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=wrapping))
    _get(kms.engine, uid)
    gets = _count_handler_runs(kms.engine, Operation.GET)
    spec = S.KeyWrappingSpecification(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(unique_identifier=wrapping),
    )
    for _ in range(3):
        wrapped = _get(kms.engine, uid, key_wrapping_specification=spec)
        assert isinstance(wrapped.managed_object, S.SymmetricKey)
        assert wrapped.managed_object.key_block.key_wrapping_data is not None
    assert gets == [3]
