"""Helpers shared by the store implementations (private: the engine only sees ``base``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from ..kmip._registry_data import State
from .base import StoredObject

#: KMIP 2.1 §11.58 State values that free an object's Names for reuse: Destroyed and Destroyed Compromised.
DESTROYED_STATES = frozenset({int(State.DESTROYED), int(State.DESTROYED_COMPROMISED)})

#: Longest uid, name, group, tag, owner or user the SQL schema stores (VARCHAR lengths; MySQL needs them).
MAX_UID_LENGTH = 128
MAX_TEXT_LENGTH = 255

_T = TypeVar("_T")


def is_live(state: int) -> bool:
    """Whether an object in ``state`` holds its Names (everything but Destroyed / Destroyed Compromised)."""
    return state not in DESTROYED_STATES


def unique(values: Iterable[_T]) -> list[_T]:
    """``values`` without repeats, first occurrence kept (index lists are sets that remember their order)."""
    return list(dict.fromkeys(values))


def normalised_copy(obj: StoredObject) -> StoredObject:
    """A copy the caller cannot alias: index lists de-duplicated, containers copied.

    Every backend stores index lists as sets (one row or set member per value), so all of them hand back the
    de-duplicated form; the memory store applies the same rule to behave identically.
    """
    # Spelled out rather than dataclasses.replace: this runs on every read and write, and replace costs 5x more.
    return StoredObject(
        uid=obj.uid,
        object_type=obj.object_type,
        owner=obj.owner,
        state=obj.state,
        object_bytes=obj.object_bytes,
        attributes_bytes=obj.attributes_bytes,
        cryptographic_algorithm=obj.cryptographic_algorithm,
        cryptographic_length=obj.cryptographic_length,
        cryptographic_usage_mask=obj.cryptographic_usage_mask,
        names=list(dict.fromkeys(obj.names)),
        object_groups=list(dict.fromkeys(obj.object_groups)),
        tags=list(dict.fromkeys(obj.tags)),
        links=list(dict.fromkeys([(int(t), u) for t, u in obj.links])),
        dates=dict(obj.dates),
        storage_status=obj.storage_status,
        revision=obj.revision,
    )


def check_lengths(obj: StoredObject) -> None:
    """Reject values longer than the SQL columns hold, identically on every backend (ValueError: a caller bug)."""
    if len(obj.uid) > MAX_UID_LENGTH:
        raise ValueError(f"uid longer than {MAX_UID_LENGTH} characters")
    for what, values in (
        ("owner", [obj.owner]),
        ("name", obj.names),
        ("object group", obj.object_groups),
        ("tag", obj.tags),
    ):
        for value in values:
            if len(value) > MAX_TEXT_LENGTH:
                raise ValueError(f"{what} longer than {MAX_TEXT_LENGTH} characters")
    for _, linked in obj.links:
        if len(linked) > MAX_UID_LENGTH:
            raise ValueError(f"linked uid longer than {MAX_UID_LENGTH} characters")
