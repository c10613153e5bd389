"""Key sets: the keys that share a Rotate Name (KMIP 3.0 §4.55; Cosmian KMS's key sets), one per generation.

A key joins a set when a client sets its Rotate Name; Re-key of the set's latest key makes the next generation
(Rotate Generation + 1) in the same set. Where a Unique Identifier is expected, ``name`` or ``name@latest`` names
the newest key of the set, ``name@first`` the oldest and ``name@N`` generation N; Decrypt with a bare ``name`` tries
the set's keys newest first until one decrypts (``handlers/decrypt``). Only the latest key may be re-keyed.

Membership is a system tag (``_rotate_name:<name>``), so every store finds a set with the index it already has for
tags; the generation is the object's Rotate Generation attribute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kmip import _schema_data as S
from ..kmip._registry_data import ResultReason, State, Tag
from ..kmip.errors import KmipError
from ..store.base import LocateQuery
from .lifecycle import DESTROYED_STATES
from .objects import ManagedObject

if TYPE_CHECKING:
    from .context import RequestContext

TAG_PREFIX = "_rotate_name:"


def rotate_name(mo: ManagedObject) -> str | None:
    """The Rotate Name of ``mo``, if it belongs to a key set."""
    value = mo.attributes.get(Tag.ROTATE_NAME)
    if isinstance(value, S.RotateName):
        return value.rotate_name_value
    return None


def generation(mo: ManagedObject) -> int:
    value = mo.attributes.get(Tag.ROTATE_GENERATION)
    return value if isinstance(value, int) else 0


def check_name(name: str) -> None:
    """A Rotate Name may not contain ``@``, which selects a generation of the set."""
    if "@" in name or not name:
        raise KmipError(
            ResultReason.INVALID_ATTRIBUTE_VALUE,
            f"invalid Rotate Name {name!r}: a key set name must not contain '@' (reserved for name@latest, "
            "name@first, name@N) and must not be empty",
        )


def join(mo: ManagedObject, name: str, generation_number: int | None = None) -> None:
    """Make ``mo`` a member of the set ``name`` (its membership tag and, if given, its generation)."""
    mo.tags = [tag for tag in mo.tags if not tag.startswith(TAG_PREFIX)] + [TAG_PREFIX + name]
    if generation_number is not None:
        mo.attributes.set(Tag.ROTATE_GENERATION, generation_number)
    elif Tag.ROTATE_GENERATION not in mo.attributes:
        mo.attributes.set(Tag.ROTATE_GENERATION, 0)


def members(ctx: RequestContext, name: str, operation: int, *, besides: str | None = None) -> list[ManagedObject]:
    """The live keys of the set ``name`` the user may see, newest generation first (empty if there is no set);
    ``besides`` leaves one out (the key being re-keyed, already loaded for update)."""
    query = LocateQuery(tags=[TAG_PREFIX + name], user=ctx.visibility_user(), operation=operation, limit=1000)
    found = []
    for uid in ctx.tx.locate(query):
        if uid == besides:
            continue
        mo = ctx.load(uid, operation, with_object=False)
        if mo.state not in DESTROYED_STATES:
            found.append(mo)
    return sorted(found, key=generation, reverse=True)


def parse(value: str) -> tuple[str, str | None]:
    """(set name, selector) of ``name`` / ``name@latest`` / ``name@first`` / ``name@N`` (selector None if bare)."""
    name, at, selector = value.rpartition("@")
    return (name, selector) if at else (value, None)


def select(ctx: RequestContext, value: str, operation: int) -> str | None:
    """The Unique Identifier a key set reference designates, or None if ``value`` names no key set."""
    name, selector = parse(value)
    found = members(ctx, name, operation) if name else []
    if not found:
        return None
    if selector in (None, "latest"):
        # The newest key that may be used now; a set whose newest key is not yet Active falls back to the next.
        usable = [mo for mo in found if mo.state == State.ACTIVE]
        return (usable or found)[0].uid
    if selector == "first":
        return found[-1].uid
    if selector.isdigit():
        for mo in found:
            if generation(mo) == int(selector):
                return mo.uid
        raise KmipError(ResultReason.OBJECT_NOT_FOUND, f"key set {name} has no generation {selector}")
    raise KmipError(ResultReason.INVALID_FIELD, f"unknown key set selector @{selector} (latest, first or a number)")


def check_latest(ctx: RequestContext, mo: ManagedObject, operation: int) -> None:
    """Only the newest key of a set may be re-keyed: re-keying an older one would fork the set."""
    name = rotate_name(mo)
    if name is None:
        return
    newer = [other.uid for other in members(ctx, name, operation, besides=mo.uid) if generation(other) > generation(mo)]
    if newer:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            f"key {mo.uid} is not the latest of key set {name} (generation {generation(mo)}); re-key {newer[0]}",
        )


__all__ = [
    "TAG_PREFIX",
    "check_latest",
    "check_name",
    "generation",
    "join",
    "members",
    "parse",
    "rotate_name",
    "select",
]
