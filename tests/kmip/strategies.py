"""Hypothesis strategies for random TTLV trees, shared by the codec tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kms_backend.kmip import registry
from kms_backend.kmip.ttlv import Item, ItemType

# Tags that are defined with a fixed single item type, grouped by that type, so that generated trees are also
# meaningful to codecs that look tags up (JSON and XML write names, enumeration tokens, mask tokens).
_BY_TYPE: dict[ItemType, list[int]] = {}
for _t in registry.tags():
    if len(_t.types) == 1 and not _t.extension:
        _BY_TYPE.setdefault(_t.types[0], []).append(_t.value)

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
UINT32 = st.integers(min_value=0, max_value=2**32 - 1)
# DateTime values that every codec can render (years 1-9999 fit RFC 3339 / ISO 8601).
DATETIME = st.integers(min_value=-62135596800, max_value=253402300799)

_VALUES = {
    ItemType.INTEGER: INT32,
    ItemType.LONG_INTEGER: INT64,
    ItemType.BIG_INTEGER: st.integers(min_value=-(2**520), max_value=2**520),
    ItemType.ENUMERATION: UINT32,
    ItemType.BOOLEAN: st.booleans(),
    ItemType.TEXT_STRING: st.text(max_size=40),
    ItemType.BYTE_STRING: st.binary(max_size=40),
    ItemType.DATE_TIME: DATETIME,
    ItemType.INTERVAL: UINT32,
    ItemType.DATE_TIME_EXTENDED: st.integers(min_value=-62135596800 * 10**6, max_value=253402300799 * 10**6),
}


def _enum_value(tag: int) -> st.SearchStrategy[int]:
    info = registry.enum_for_tag(tag)
    if info is None or not info.values:
        return UINT32
    # Mostly named values (what real messages carry), sometimes any 32-bit value (extensions, unknown numbers).
    return st.one_of(st.sampled_from([v.value for v in info.values]), UINT32)


@st.composite
def primitive_items(draw: st.DrawFn) -> Item:
    """A random non-Structure item with a tag of the matching type."""
    item_type = draw(st.sampled_from([t for t in _VALUES if t in _BY_TYPE]))
    tag = draw(st.sampled_from(_BY_TYPE[item_type]))
    value: Any
    if item_type == ItemType.ENUMERATION:
        value = draw(_enum_value(tag))
    elif item_type == ItemType.INTEGER and registry.mask_for_tag(tag) is not None:
        value = draw(st.integers(min_value=0, max_value=2**31 - 1))
    else:
        value = draw(_VALUES[item_type])
    return Item(tag, item_type, value)


def trees(max_leaves: int = 30) -> st.SearchStrategy[Item]:
    """Random TTLV trees: nested Structures of random items, rooted in a Structure."""
    structure_tags = st.sampled_from(_BY_TYPE[ItemType.STRUCTURE])
    children = st.recursive(
        primitive_items(),
        lambda inner: st.builds(
            lambda tag, kids: Item(tag, ItemType.STRUCTURE, kids), structure_tags, st.lists(inner, max_size=6)
        ),
        max_leaves=max_leaves,
    )
    return st.builds(
        lambda tag, kids: Item(tag, ItemType.STRUCTURE, kids), structure_tags, st.lists(children, max_size=8)
    )
