"""The TTLV tree: the one in-memory form every codec reads and writes (KMIP 2.1 §9.1 "TTLV Encoding").

An ``Item`` is (tag, type, value). Values by item type:

==================  =====================================================================
Structure           ``list[Item]`` (always a list, never a tuple)
Integer             ``int`` (signed 32-bit); Interval ``int`` (unsigned 32-bit)
Long Integer        ``int`` (signed 64-bit)
Big Integer         ``int`` (any size, two's complement on the wire)
Enumeration         ``int`` (unsigned 32-bit); typed layers turn it into an IntEnum
Boolean             ``bool``
Text String         ``str``
Byte String         ``bytes``
Date Time           ``int`` seconds since the Unix epoch (signed 64-bit), UTC
Date Time Extended  ``int`` microseconds since the Unix epoch (signed 64-bit)
==================  =====================================================================

Test-case placeholders (``$NOW``, ``$IV_COUNTER_NONCE``…) in non-text items are ``Placeholder`` values: the XML
and JSON codecs keep them, the binary codec refuses them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Union

from ._registry_data import ItemType, Tag
from .registry import tag_info


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A symbolic value from the OASIS test cases (``$NOW``, ``$NOW-3600``, ``$DATA_0``…), kept verbatim."""

    name: str

    def __str__(self) -> str:
        return self.name


Value = Union[list["Item"], int, bool, str, bytes, Placeholder]  # noqa: UP007 - a runtime alias


class Item(NamedTuple):
    """One TTLV item. ``tag`` and ``type`` are plain ints (IntEnum members compare equal to them)."""

    tag: int
    type: int
    value: Value

    # -- navigation helpers for structures ------------------------------------------------------------------
    def children(self) -> list[Item]:
        """The items of a Structure (TypeError for other types)."""
        if self.type != ItemType.STRUCTURE or not isinstance(self.value, list):
            raise TypeError(f"{tag_label(self.tag)} is not a Structure")
        return self.value

    def find(self, tag: int) -> Item | None:
        """The first child with ``tag``, or None."""
        for child in self.children():
            if child.tag == tag:
                return child
        return None

    def find_all(self, tag: int) -> list[Item]:
        """Every child with ``tag``, in order."""
        return [child for child in self.children() if child.tag == tag]

    def walk(self) -> Iterator[Item]:
        """This item and every item below it, depth first."""
        yield self
        if self.type == ItemType.STRUCTURE and isinstance(self.value, list):
            for child in self.value:
                yield from child.walk()


def structure(tag: int, *items: Item) -> Item:
    """Build a Structure item."""
    return Item(tag, ItemType.STRUCTURE, list(items))


def tag_label(tag: int) -> str:
    """Human-readable tag for messages: ``UniqueIdentifier (0x420094)``."""
    info = tag_info(tag)
    name = info.xml_name if info else "Unknown"
    return f"{name} (0x{tag:06X})"


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Hard limits every decoder enforces before allocating; defaults suit a KMS front end."""

    max_message_size: int = 16 * 1024 * 1024
    max_depth: int = 32
    max_items: int = 100_000
    #: Largest single Text String / Byte String / Big Integer value (bytes).
    max_value_size: int = 16 * 1024 * 1024


DEFAULT_LIMITS = DecodeLimits()

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeLimits",
    "Item",
    "ItemType",
    "Placeholder",
    "Tag",
    "Value",
    "structure",
    "tag_label",
]
