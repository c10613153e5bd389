"""Human-readable rendering of a TTLV tree, for operators debugging KMIP traffic (``keystead ttlv --to text``)."""

from __future__ import annotations

import datetime as dt

from . import registry
from ._registry_data import ItemType
from .ttlv import Item, Placeholder

_TYPE_NAMES = {t.value: t.name.title().replace("_", "") for t in ItemType}


def format_tree(item: Item, indent: str = "  ") -> str:
    """One line per item: ``Name (0x42XXXX) Type: value``, children indented; enumerations and masks named."""
    lines: list[str] = []
    _format(item, 0, indent, lines)
    return "\n".join(lines)


def _format(item: Item, depth: int, indent: str, lines: list[str]) -> None:
    info = registry.tag_info(item.tag)
    name = info.xml_name if info else "Unknown"
    type_name = _TYPE_NAMES.get(item.type, f"Type0x{item.type:02X}")
    head = f"{indent * depth}{name} (0x{item.tag:06X}) {type_name}"
    if isinstance(item.value, list):
        lines.append(f"{head} [{len(item.value)}]")
        for child in item.value:
            _format(child, depth + 1, indent, lines)
        return
    lines.append(f"{head}: {_value_text(item)}")


def _value_text(item: Item) -> str:
    value = item.value
    if isinstance(value, Placeholder):
        return value.name
    if item.type == ItemType.ENUMERATION and isinstance(value, int):
        enum = registry.enum_for_tag(item.tag)
        label = enum.xml_name_of(value) if enum else None
        return f"{label} (0x{value:08X})" if label else f"0x{value:08X}"
    if item.type == ItemType.INTEGER and isinstance(value, int):
        mask = registry.mask_for_tag(item.tag)
        tokens = mask.tokens_of(value) if mask else None
        return f"{value} ({' | '.join(tokens)})" if tokens else str(value)
    if item.type in (ItemType.DATE_TIME, ItemType.DATE_TIME_EXTENDED) and isinstance(value, int):
        seconds = value if item.type == ItemType.DATE_TIME else value / 1_000_000
        try:
            when = dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            when = "out of range"
        return f"{when} ({value})"
    if item.type == ItemType.INTERVAL and isinstance(value, int):
        return f"{value} s"
    if isinstance(value, bytes):
        return value.hex().upper() + f" ({len(value)} bytes)"
    return repr(value)


__all__ = ["format_tree"]
