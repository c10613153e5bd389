"""The one generic mapper between typed KMIP structures (``_schema_data``) and TTLV trees.

``from_tree(item, cls)`` decodes a Structure item into ``cls`` using its ``__kmip__`` spec; ``to_tree(obj)``
encodes back in spec field order. Decoding is lenient where real clients are (fields in any order; an Integer
where an Enumeration is expected) and strict where it matters (unknown fields, duplicates of single fields,
missing required fields, wrong item types raise ``DecodeError`` with reason Invalid Field / Invalid Message).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

from . import _schema_data as S
from ._registry_data import ItemType, ResultReason
from .errors import DecodeError, EncodeError
from .schema import Attributes, FieldSpec, Struct, StructSpec
from .ttlv import Item, Placeholder, tag_label

T = TypeVar("T", bound=Struct)

_STRUCTURE = ItemType.STRUCTURE
_ENUMERATION = ItemType.ENUMERATION
_INTEGER = ItemType.INTEGER
_new_item = tuple.__new__  # Item(...) without the NamedTuple's Python-level __new__


def _index(spec: StructSpec) -> dict[int, FieldSpec]:
    if not spec.index:
        for f in spec.fields:
            if f.kind == "o":
                for cls in f.classes:
                    spec.index[cls.__kmip__.tag] = f
            elif f.kind == "x":
                spec.extra = f
            else:
                spec.index[f.tag] = f
    return spec.index


# --------------------------------------------------------------------------------------------------------------
# decode


def from_tree(item: Item, cls: type[T]) -> T:
    """Decode the Structure ``item`` into an instance of ``cls`` (a generated KMIP structure)."""
    spec = cls.__kmip__
    if item.type != _STRUCTURE or not isinstance(item.value, list):
        raise DecodeError(f"{tag_label(item.tag)}: expected a Structure for {spec.name}", ResultReason.INVALID_FIELD)
    index = spec.index or _index(spec)
    values: dict[str, Any] = {}
    for child in item.value:
        f = index.get(child.tag)
        if f is None:
            if spec.extra is not None:
                values.setdefault("extra", []).append(child)
                continue
            raise DecodeError(
                f"unexpected field {tag_label(child.tag)} in {tag_label(item.tag)}", ResultReason.INVALID_FIELD
            )
        if f.kind == "p" and child.type in f.types and child.type != _ENUMERATION and not f.multi:
            # The usual primitive: its value as decoded (a Placeholder is kept as the item, as below).
            value = child.value
            if isinstance(value, Placeholder):
                value = child
            if f.name in values:
                raise DecodeError(
                    f"{tag_label(child.tag)} appears more than once in {tag_label(item.tag)}",
                    ResultReason.INVALID_FIELD,
                )
            values[f.name] = value
            continue
        value = _decode_value(child, f, values, spec)
        if f.multi:
            values.setdefault(f.name, []).append(value)
        elif f.name in values:
            raise DecodeError(
                f"{tag_label(child.tag)} appears more than once in {tag_label(item.tag)}", ResultReason.INVALID_FIELD
            )
        else:
            values[f.name] = value
    required = _REQUIRED.get(cls)
    if required is None:
        required = _REQUIRED[cls] = tuple(f for f in spec.fields if f.required)
    for f in required:
        if f.name not in values:
            raise DecodeError(
                f"missing required field {tag_label(f.tag) if f.tag else f.name} in {tag_label(item.tag)}",
                ResultReason.INVALID_FIELD,
            )
    return cls(**values)


#: Per structure class: its required fields.
_REQUIRED: dict[type, tuple[FieldSpec, ...]] = {}


def _decode_value(child: Item, f: FieldSpec, siblings: dict[str, Any], spec: StructSpec) -> Any:
    kind = f.kind
    if kind == "p":
        return _decode_primitive(child, f)
    if kind == "s":
        if child.type != _STRUCTURE:
            if child.type in f.types:
                return child.value if not isinstance(child.value, Placeholder) else child
            raise _wrong_type(child, f)
        if len(f.classes) == 1:
            return from_tree(child, f.classes[0])
        return _decode_choice(child, f.classes)
    if kind == "o":
        for cls in f.classes:
            if cls.__kmip__.tag == child.tag:
                return from_tree(child, cls)
        raise DecodeError(f"{tag_label(child.tag)} is not a managed object", ResultReason.INVALID_FIELD)
    if kind == "a":
        return attributes_from_tree(child)
    if kind == "y":
        operation = siblings.get("operation")
        role = "request" if f.tag == 0x420079 else "response"
        payload_cls = S.PAYLOADS.get((spec.family, operation, role)) if operation is not None else None
        if payload_cls is None or child.type != _STRUCTURE:
            return child
        return from_tree(child, payload_cls)
    return child  # "r": kept as the raw item


def _decode_choice(child: Item, classes: tuple[type[Struct], ...]) -> Any:
    """A structure whose layout depends on context (Key Material per Key Format Type, Credential Value per
    Credential Type): the first candidate whose fields accept every child."""
    children = child.value
    assert isinstance(children, list)
    tags = {c.tag for c in children}
    for cls in classes:
        index = _index(cls.__kmip__)
        if tags <= index.keys():
            try:
                return from_tree(child, cls)
            except DecodeError:
                continue
    return child


def _decode_primitive(child: Item, f: FieldSpec) -> Any:
    value = child.value
    item_type = child.type
    if isinstance(value, Placeholder):
        return child
    if item_type not in f.types:
        # Sloppy clients send an Integer where an Enumeration is expected; accept it as the enumeration.
        if item_type == _INTEGER and f.types == (_ENUMERATION,) and isinstance(value, int):
            item_type = _ENUMERATION
        else:
            raise _wrong_type(child, f)
    if item_type == _ENUMERATION:
        assert isinstance(value, int)
        if f.enum is not None:
            member = f.enum._value2member_map_.get(value)
            if member is not None:
                return member
        # An unnamed value in a field that also allows Integer must keep its type: keep the raw item.
        return child if len(f.types) > 1 else value
    return value


def _wrong_type(child: Item, f: FieldSpec) -> DecodeError:
    allowed = "/".join(_type_name(t) for t in f.types) or "Structure"
    got = _type_name(child.type)
    return DecodeError(f"{tag_label(child.tag)} must be {allowed}, not {got}", ResultReason.INVALID_FIELD)


def _type_name(item_type: int) -> str:
    try:
        return ItemType(item_type).name.title().replace("_", "")
    except ValueError:
        return f"type 0x{item_type:02X}"


def attributes_from_tree(item: Item) -> Attributes:
    """Decode an Attributes-like structure (2.1 §5): each child typed by its attribute tag."""
    if item.type != _STRUCTURE or not isinstance(item.value, list):
        raise DecodeError(f"{tag_label(item.tag)} must be a Structure", ResultReason.INVALID_FIELD)
    return Attributes([(child.tag, attribute_value(child)) for child in item.value])


def attribute_value(item: Item) -> Any:
    """The typed value of one attribute item (its tag says which attribute); unknown tags stay raw items."""
    f = S.ATTRIBUTE_FIELDS.get(item.tag)
    if f is None:
        return item
    return _decode_value(item, f, {}, _ATTRIBUTES_SPEC)


def attribute_item(tag: int, value: Any) -> Item:
    """One attribute as a TTLV item (the inverse of ``attribute_value``)."""
    if isinstance(value, Item):
        return value
    f = S.ATTRIBUTE_FIELDS.get(tag)
    if f is None:
        raise EncodeError(f"{tag_label(tag)} is not a KMIP attribute; store it as a TTLV Item")
    return _encode_value(value, f)


_ATTRIBUTES_SPEC = StructSpec("Attributes", 0x420125, "2.1", ())

# --------------------------------------------------------------------------------------------------------------
# encode


def to_tree(obj: Struct, tag: int | None = None) -> Item:
    """Encode a typed structure as a Structure item (with ``tag``, default the structure's own tag)."""
    items: list[Item] = []
    append = items.append
    cls = obj.__class__
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _layout(obj.__kmip__)
    read, fields = layout
    for (f, exact, item_type, enumeration), value in zip(fields, read(obj), strict=True):
        if value is None:
            continue
        if value.__class__ is exact:  # the usual primitive: exactly its Python type, nothing to check
            append(_new_item(Item, (f.tag, item_type, value)))
        elif enumeration and isinstance(value, IntEnum):
            append(_new_item(Item, (f.tag, _ENUMERATION, value._value_)))
        elif f.multi:
            for one in value:
                append(_encode_value(one, f))
        else:
            append(_encode_value(value, f))
    return _new_item(Item, (obj.__kmip__.tag if tag is None else tag, _STRUCTURE, items))


#: Per structure class: one call that reads every field's value in spec order, and for each field the Python type
#: a value of its single primitive item type has (None for other fields), that item type, and whether it is
#: Enumeration (an IntEnum member is then written as its int).
_Layout = tuple[Callable[[Any], tuple[Any, ...]], tuple[tuple[FieldSpec, type | None, int, bool], ...]]
_LAYOUTS: dict[type, _Layout] = {}


def _layout(spec: StructSpec) -> _Layout:
    names = [f.name for f in spec.fields]
    read: Callable[[Any], tuple[Any, ...]]
    if not names:
        read = lambda _obj: ()  # noqa: E731
    elif len(names) == 1:
        one = operator.attrgetter(names[0])
        read = lambda obj: (one(obj),)  # noqa: E731
    else:
        read = operator.attrgetter(*names)
    fields = []
    for f in spec.fields:
        single = f.kind == "p" and len(f.types) == 1
        item_type = f.types[0] if single else 0
        fields.append((f, _EXACT.get(item_type), item_type, item_type == _ENUMERATION and not f.multi))
    return read, tuple(fields)


def _encode_value(value: Any, f: FieldSpec) -> Item:
    kind = f.kind
    if kind == "p":
        # The usual case first: one allowed item type and a value of exactly its Python type (or an IntEnum member
        # of an Enumeration), which needs no further check.
        types = f.types
        if len(types) == 1:
            item_type = types[0]
            cls = value.__class__
            if cls is _EXACT.get(item_type):
                return _new_item(Item, (f.tag, item_type, value))
            if item_type == _ENUMERATION and isinstance(value, IntEnum):
                return _new_item(Item, (f.tag, item_type, value._value_))
        if isinstance(value, Item):
            return value
        return _new_item(Item, (f.tag, _primitive_type(value, f), _primitive_value(value)))
    if isinstance(value, Item):
        return value
    if kind == "s":
        if isinstance(value, Struct):
            return to_tree(value, f.tag)
        return Item(f.tag, _primitive_type(value, f), value)
    if kind == "o":
        if not isinstance(value, Struct):
            raise EncodeError(f"{f.name}: expected a managed object, got {type(value).__name__}")
        return to_tree(value)
    if kind == "a":
        if not isinstance(value, Attributes):
            raise EncodeError(f"{f.name}: expected Attributes, got {type(value).__name__}")
        return attributes_to_tree(value, f.tag)
    if kind == "y":
        if not isinstance(value, Struct):
            raise EncodeError(f"{f.name}: expected a payload structure, got {type(value).__name__}")
        return to_tree(value, f.tag)
    raise EncodeError(f"{f.name}: expected a TTLV Item, got {type(value).__name__}")


def _primitive_value(value: Any) -> Any:
    if isinstance(value, IntEnum):
        return int(value)
    return value


def _primitive_type(value: Any, f: FieldSpec) -> int:
    types = f.types
    if len(types) == 1:
        item_type = types[0]
        if not _PY_CHECK[item_type](value):
            raise EncodeError(f"{f.name}: {type(value).__name__} cannot be encoded as {ItemType(item_type).name}")
        return item_type
    for candidate in types:  # several allowed types: the Python type decides (str Text, IntEnum Enumeration...)
        if candidate == _ENUMERATION and not isinstance(value, IntEnum) and _INTEGER in types:
            continue
        if _PY_CHECK[candidate](value):
            return candidate
    raise EncodeError(f"{f.name}: {type(value).__name__} fits none of the allowed item types")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The Python type each primitive item type takes as it is (bool is not an int here; IntEnum members are
#: converted to plain ints).
_EXACT: dict[int, type] = {
    ItemType.INTEGER: int,
    ItemType.LONG_INTEGER: int,
    ItemType.BIG_INTEGER: int,
    ItemType.ENUMERATION: int,
    ItemType.BOOLEAN: bool,
    ItemType.TEXT_STRING: str,
    ItemType.BYTE_STRING: bytes,
    ItemType.DATE_TIME: int,
    ItemType.INTERVAL: int,
    ItemType.DATE_TIME_EXTENDED: int,
}

_PY_CHECK: dict[int, Callable[[Any], bool]] = {
    ItemType.STRUCTURE: lambda v: False,
    ItemType.INTEGER: _is_int,
    ItemType.LONG_INTEGER: _is_int,
    ItemType.BIG_INTEGER: _is_int,
    ItemType.ENUMERATION: _is_int,
    ItemType.BOOLEAN: lambda v: isinstance(v, bool),
    ItemType.TEXT_STRING: lambda v: isinstance(v, str),
    ItemType.BYTE_STRING: lambda v: isinstance(v, bytes),
    ItemType.DATE_TIME: _is_int,
    ItemType.INTERVAL: _is_int,
    ItemType.DATE_TIME_EXTENDED: _is_int,
}


def attributes_to_tree(attrs: Attributes, tag: int = 0x420125) -> Item:
    """Encode an Attributes container under ``tag`` (Attributes, Common Attributes, New Attribute...)."""
    return Item(tag, _STRUCTURE, [attribute_item(attr_tag, value) for attr_tag, value in attrs.entries])


__all__ = ["attribute_item", "attribute_value", "attributes_from_tree", "attributes_to_tree", "from_tree", "to_tree"]
