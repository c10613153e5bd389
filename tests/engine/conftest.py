"""Engine test fixtures: an ``Engine`` over ``MemoryStore`` with a pinned clock, and request helpers.

Users: ``alice`` owns what the tests create, ``bob`` is a second user, ``root`` is a server administrator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from kms_backend.engine import Engine, EngineConfig, access
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import messages
from kms_backend.kmip._registry_data import (
    BatchErrorContinuationOption,
    CryptographicAlgorithm,
    NameType,
    ObjectType,
    Operation,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.registry import ProtocolVersion
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.store.memory import MemoryStore

OWNER = "alice"
OTHER = "bob"
ADMIN = "root"
#: 2023-11-14T22:13:20Z: the engine's clock reads this until a test moves it.
NOW = 1_700_000_000


class Clock:
    """A clock that only moves when told to."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds


def name(value: str) -> S.Name:
    return S.Name(name_value=value, name_type=NameType.UNINTERPRETED_TEXT_STRING)


def aes_attributes(*extra: tuple[int, Any]) -> Attributes:
    """Attributes of a 256-bit AES key plus ``extra``."""
    return Attributes(
        [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256), *extra]
    )


def create_request(*extra: tuple[int, Any]) -> S.CreateRequest:
    return S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=aes_attributes(*extra))


@dataclass
class Kms:
    """The engine under test and shortcuts to drive it."""

    engine: Engine
    clock: Clock
    store: MemoryStore

    def run(self, operation: Operation, payload: Struct, user: str = OWNER) -> Any:
        """Run one 2.1 operation; raises KmipError on failure."""
        return self.engine.run_operation(operation, payload, user)

    def fail(self, operation: Operation, payload: Struct, user: str = OWNER) -> KmipError:
        """Run one operation that must fail; returns the error."""
        with pytest.raises(KmipError) as info:
            self.engine.run_operation(operation, payload, user)
        return info.value

    def create_key(self, *extra: tuple[int, Any], user: str = OWNER) -> str:
        """A new AES key owned by ``user`` with the extra attributes given; returns its uid."""
        response = self.run(Operation.CREATE, create_request(*extra), user)
        return str(response.unique_identifier)

    def attributes(self, uid: str, user: str = OWNER) -> Attributes:
        """Every attribute of ``uid`` as Get Attributes returns them."""
        response = self.run(Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=uid), user)
        attrs = response.attributes
        assert isinstance(attrs, Attributes)
        return attrs

    def attribute(self, uid: str, tag: int, user: str = OWNER) -> Any:
        return self.attributes(uid, user).get(tag)

    def grant(self, uid: str, target: str, operations: Iterable[int], owner: str = OWNER) -> None:
        access.grant(self.engine, owner, uid, target, list(operations))

    def tags(self, uid: str) -> list[str]:
        with self.store.transaction() as tx:
            record = tx.get(uid)
        assert record is not None
        return list(record.tags)

    def storage_status(self, uid: str) -> int:
        with self.store.transaction() as tx:
            record = tx.get(uid)
        assert record is not None
        return record.storage_status

    def batch(
        self,
        *items: tuple[Operation, Struct] | tuple[Operation, Struct, bytes],
        user: str = OWNER,
        option: BatchErrorContinuationOption | None = None,
        version: ProtocolVersion = (2, 1),
        max_size: int | None = None,
        asynchronous: Any = None,
    ) -> Any:
        """Send one Request Message (2.x or 1.x form by ``version``) through the tree interface, as transports do,
        and decode the response tree (so the response is checked to encode)."""
        v1 = version[0] < 2
        header_cls = S.RequestHeaderV1 if v1 else S.RequestHeader
        item_cls = S.RequestBatchItemV1 if v1 else S.RequestBatchItem
        message_cls = S.RequestMessageV1 if v1 else S.RequestMessage
        batch_items = [
            item_cls(
                operation=item[0],
                request_payload=item[1],
                unique_batch_item_id=item[2] if len(item) > 2 else None,
            )
            for item in items
        ]
        header = header_cls(
            protocol_version=S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1]),
            batch_count=len(batch_items),
            batch_error_continuation_option=option,
            maximum_response_size=max_size,
            asynchronous_indicator=asynchronous,
        )
        request = message_cls(request_header=header, batch_item=batch_items)  # type: ignore[arg-type]
        return messages.decode_response(self.engine.process_tree(to_tree(request), user))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def config() -> EngineConfig:
    return EngineConfig(admin_users=frozenset({ADMIN}))


@pytest.fixture
def kms(store: MemoryStore, clock: Clock, config: EngineConfig) -> Kms:
    return Kms(engine=Engine(store, config, clock=clock), clock=clock, store=store)
