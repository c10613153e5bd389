"""Declarative schema primitives: field and structure specs, the ``Struct`` base and the Attributes container.

Every KMIP structure is a dataclass generated into ``_schema_data.py`` with a ``__kmip__`` ``StructSpec`` listing
its fields in spec order. ``mapper.py`` is the one piece of code that turns any of them into a TTLV tree and back;
no structure has its own encode/decode code.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Literal

#: Field kinds: p = primitive item, s = nested structure (or a primitive alternative such as a wrapped Key
#: Value), o = any managed object (chosen by tag), a = Attributes container, r = raw item kept as is,
#: y = request/response payload chosen by the batch item's Operation, x = catch-all list of raw items.
FieldKind = Literal["p", "s", "o", "a", "r", "y", "x"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a KMIP structure, as the spec table gives it."""

    name: str
    tag: int
    kind: FieldKind
    types: tuple[int, ...] = ()
    classes: tuple[type[Struct], ...] = ()
    required: bool = False
    multi: bool = False
    enum: type[IntEnum] | None = None


@dataclass(slots=True)
class StructSpec:
    """A KMIP structure: its own tag, the spec version its table comes from, its fields in order."""

    name: str
    tag: int
    version: str
    fields: tuple[FieldSpec, ...]
    #: tag -> field, including every managed-object tag for an "any object" field (filled lazily by the mapper).
    index: dict[int, FieldSpec] = field(default_factory=dict)
    extra: FieldSpec | None = None

    @property
    def family(self) -> int:
        """1 for KMIP 1.x structures, 2 for 2.x."""
        return 1 if self.version.startswith("1") else 2


class Struct:
    """Base of every generated KMIP structure dataclass."""

    __slots__ = ()
    __kmip__: ClassVar[StructSpec]


class Attributes:
    """The KMIP 2.x Attributes structure (2.1 §5.1) and its kin (Common/Private Key/Public Key Attributes, Current
    and New Attribute): attribute items in the order received, each value typed by its tag (an IntEnum, int, str,
    bool, bytes, a Struct such as ``Name`` or ``Link``, a ``VendorAttribute``, or a raw ``Item`` for tags the
    spec does not list as attributes).
    """

    __slots__ = ("entries",)

    def __init__(self, entries: list[tuple[int, Any]] | None = None) -> None:
        self.entries: list[tuple[int, Any]] = list(entries or [])

    def get(self, tag: int, default: Any = None) -> Any:
        """The first value of attribute ``tag``, or ``default``."""
        for entry_tag, value in self.entries:
            if entry_tag == tag:
                return value
        return default

    def get_all(self, tag: int) -> list[Any]:
        """Every value of attribute ``tag`` (multi-instance attributes such as Name or Link)."""
        return [value for entry_tag, value in self.entries if entry_tag == tag]

    def add(self, tag: int, value: Any) -> None:
        """Append one more instance of ``tag``."""
        self.entries.append((tag, value))

    def set(self, tag: int, value: Any) -> None:
        """Replace every instance of ``tag`` by one ``value`` (in the position of the first one, else at the end)."""
        for index, (entry_tag, _) in enumerate(self.entries):
            if entry_tag == tag:
                self.entries[index] = (tag, value)
                self.entries[index + 1 :] = [e for e in self.entries[index + 1 :] if e[0] != tag]
                return
        self.entries.append((tag, value))

    def remove(self, tag: int) -> int:
        """Drop every instance of ``tag``; returns how many were removed."""
        before = len(self.entries)
        self.entries = [e for e in self.entries if e[0] != tag]
        return before - len(self.entries)

    def tags(self) -> list[int]:
        return [t for t, _ in self.entries]

    def __contains__(self, tag: object) -> bool:
        return any(t == tag for t, _ in self.entries)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Attributes) and self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Attributes({self.entries!r})"


__all__ = ["Attributes", "FieldKind", "FieldSpec", "Struct", "StructSpec"]
