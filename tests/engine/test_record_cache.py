"""The decoded-record cache never serves stale data, even when another server writes to the same store."""

from __future__ import annotations

import pytest

from kms_backend.engine import Engine
from kms_backend.engine.objects import RecordCodec
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, State, Tag
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore


def _create(engine: Engine) -> str:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)])
    request = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
    response = engine.run_operation(Operation.CREATE, request, "alice")
    return str(response.unique_identifier)  # type: ignore[attr-defined]


def _attribute(engine: Engine, uid: str, tag: Tag) -> object:
    request = S.GetAttributesRequest(unique_identifier=uid, attribute_reference=[tag])
    response = engine.run_operation(Operation.GET_ATTRIBUTES, request, "alice")
    return response.attributes.get(tag)  # type: ignore[attr-defined]


def test_a_write_by_another_server_is_seen_by_the_next_read() -> None:
    store = MemoryStore()
    first, second = Engine(store), Engine(store)  # two servers sharing one store, each with its own cache
    uid = _create(first)
    assert _attribute(first, uid, Tag.COMMENT) is None
    set_comment = S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "changed")]))
    second.run_operation(Operation.SET_ATTRIBUTE, set_comment, "alice")
    assert _attribute(first, uid, Tag.COMMENT) == "changed"


def test_a_refused_change_leaves_the_cached_record_as_it_was() -> None:
    engine = Engine(MemoryStore())
    uid = _create(engine)
    assert _attribute(engine, uid, Tag.STATE) == State.PRE_ACTIVE
    bad = S.AddAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.STATE, State.ACTIVE)]))
    with pytest.raises(KmipError):
        engine.run_operation(Operation.ADD_ATTRIBUTE, bad, "alice")
    assert _attribute(engine, uid, Tag.STATE) == State.PRE_ACTIVE


def test_cache_can_be_disabled_and_invalidated() -> None:
    engine = Engine(MemoryStore(), records=RecordCodec(cache_size=0))
    uid = _create(engine)
    assert _attribute(engine, uid, Tag.COMMENT) is None
    cached = RecordCodec(cache_size=1)
    engine = Engine(MemoryStore(), records=cached)
    uid = _create(engine)
    _attribute(engine, uid, Tag.COMMENT)
    assert uid in cached._cache
    cached.invalidate(uid)
    assert uid not in cached._cache
