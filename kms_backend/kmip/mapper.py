"""The one generic mapper between typed KMIP structures (``_schema_data``) and TTLV trees.

``from_tree(item, cls)`` decodes a Structure item into ``cls`` using its ``__kmip__`` spec; ``to_tree(obj)``
encodes back in spec field order. Decoding is lenient where real clients are (fields in any order; an Integer
where an Enumeration is expected) and strict where it matters (unknown fields, duplicates of single fields,
missing required fields, wrong item types raise ``DecodeError`` with reason Invalid Field / Invalid Message).

Both directions run for every structure of every request and response, so each class gets its own decoder and
encoder, written from its ``StructSpec`` the first time the class is met (``_decoder``, ``_encoder``: Python source
compiled with ``exec``, as ``dataclasses`` writes ``__init__``): the fields become local variables and the common
cases (a primitive of its one item type, an Enumeration member, a nested structure) are straight-line code with
the spec's tags and types as constants; anything else goes through the same generic ``_decode_value`` and
``_encode_value`` every class shares, so the rules are written once. A compiled function does what one generic
loop over the spec's fields would do, field for field, error for error (tests/kmip/test_mapper.py: the OASIS
round trips, malformed structures, catch-all fields, placeholders and unnamed enumeration values).
"""

from __future__ import annotations

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
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = _decoder(cls)
    return decoder(item)  # type: ignore[no-any-return]


#: Per structure class: its compiled decoder (``_decoder``).
_DECODERS: dict[type, Callable[[Item], Any]] = {}
#: A field not (yet) seen in the structure being decoded.
_MISSING: Any = object()


def _decoder(cls: type[Struct]) -> Callable[[Item], Any]:
    """The decoder of ``cls``: a function ``item -> instance`` that reads each child into its field's local variable.

    Children are matched by tag as ``_index`` says (a managed-object field takes every object's tag); a primitive of
    an item type its field allows (an Enumeration that names a member of the field's enum) is taken inline, any other
    child goes through ``_decode_value``. Unknown tags go to the catch-all field or raise, a second value of a single
    field raises after it is decoded, required fields missing at the end raise in spec order, and the instance is
    built with every field given (absent ones as their dataclass default: None, or a new empty list)."""
    spec = cls.__kmip__
    index = _index(spec)
    names: dict[str, Any] = {
        "cls": cls,
        "SPEC": spec,
        "MISSING": _MISSING,
        "Placeholder": Placeholder,
        "decode_value": _decode_value,
        "from_tree": from_tree,
        "not_structure": _not_structure,
        "unexpected": _unexpected,
        "duplicate": _duplicate,
        "missing": _missing,
    }
    local = {f.name: f"v{i}" for i, f in enumerate(spec.fields)}
    tags_of: dict[str, list[int]] = {}
    for tag, f in index.items():
        tags_of.setdefault(f.name, []).append(tag)
    lines = [
        "def decode(item):",
        "    children = item.value",
        "    if item.type != 1 or not isinstance(children, list):",
        "        raise not_structure(item, SPEC)",
    ]
    lines += [f"    {local[f.name]} = MISSING" for f in spec.fields]
    lines.append("    for child in children:")
    lines.append("        tag = child.tag")
    branch = "if"
    for i, f in enumerate(spec.fields):
        tags = tags_of.get(f.name)
        if not tags or f.kind == "x":
            continue
        names[f"F{i}"] = f
        v = local[f.name]
        if len(tags) == 1:
            lines.append(f"        {branch} tag == {tags[0]}:")
        else:
            names[f"TAGS{i}"] = frozenset(tags)
            lines.append(f"        {branch} tag in TAGS{i}:")
        branch = "elif"
        body = _decode_field_lines(i, f, v, names, local)
        lines += ["            " + line for line in body]
    extra = spec.extra
    if extra is not None:
        v = local[extra.name]
        else_lines = [f"if {v} is MISSING:", f"    {v} = []", f"{v}.append(child)"]
    else:
        else_lines = ["raise unexpected(child, item)"]
    if branch == "if":  # no field has a tag
        lines += ["        " + line for line in else_lines]
    else:
        lines.append("        else:")
        lines += ["            " + line for line in else_lines]
    for i, f in enumerate(spec.fields):
        if f.required:
            names[f"F{i}"] = f
            lines.append(f"    if {local[f.name]} is MISSING:")
            lines.append(f"        raise missing(F{i}, item)")
    arguments = []
    for f in spec.fields:
        v = local[f.name]
        if f.required:
            arguments.append(f"{f.name}={v}")
        elif f.multi:
            arguments.append(f"{f.name}=[] if {v} is MISSING else {v}")
        else:
            arguments.append(f"{f.name}=None if {v} is MISSING else {v}")
    lines.append(f"    return cls({', '.join(arguments)})")
    return _compiled("\n".join(lines), names, "decode", f"<decoder of {spec.name}>")


def _decode_field_lines(i: int, f: FieldSpec, v: str, names: dict[str, Any], local: dict[str, str]) -> list[str]:
    """The statements that read ``child`` into field ``f``'s local ``v`` (see ``_decoder``)."""
    if f.multi:
        value = f"decode_value(child, F{i}, None, SPEC)"
        return [f"if {v} is MISSING:", f"    {v} = [{value}]", "else:", f"    {v}.append({value})"]
    once = [f"if {v} is not MISSING:", "    raise duplicate(child, item)", f"{v} = value"]
    if f.kind == "p":
        inline = [t for t in f.types if t != _ENUMERATION]
        lines: list[str] = []
        if inline:
            test = f"child.type == {inline[0]}" if len(inline) == 1 else f"child.type in {tuple(inline)!r}"
            lines += [
                f"if {test}:",
                "    value = child.value",
                "    if isinstance(value, Placeholder):",
                "        value = child",
            ]
        if f.types == (_ENUMERATION,) and f.enum is not None:
            # A member of the field's enum (a Placeholder or an unnamed value is not in the map: the generic path).
            names[f"MEMBERS{i}"] = f.enum._value2member_map_
            lines += [
                f"{'elif' if lines else 'if'} child.type == {int(_ENUMERATION)} and "
                f"(value := MEMBERS{i}.get(child.value)) is not None:",
                "    pass",
            ]
        if lines:
            lines += ["else:", f"    value = decode_value(child, F{i}, None, SPEC)"]
        else:
            lines = [f"value = decode_value(child, F{i}, None, SPEC)"]
        return lines + once
    if f.kind == "s" and len(f.classes) == 1:
        names[f"C{i}"] = f.classes[0]
        return [
            "if child.type == 1:",
            f"    value = from_tree(child, C{i})",
            "else:",
            f"    value = decode_value(child, F{i}, None, SPEC)",
            *once,
        ]
    if f.kind == "y":
        operation = local.get("operation")
        siblings = f"{{}} if {operation} is MISSING else {{'operation': {operation}}}" if operation else "{}"
        return [f"value = decode_value(child, F{i}, {siblings}, SPEC)", *once]
    return [f"value = decode_value(child, F{i}, None, SPEC)", *once]


def _compiled(source: str, names: dict[str, Any], function: str, filename: str) -> Callable[..., Any]:
    """The function ``function`` defined by ``source``, whose free names are ``names``."""
    exec(compile(source, filename, "exec"), names)  # noqa: S102 - source written above from the schema, no input
    return names[function]  # type: ignore[no-any-return]


def _not_structure(item: Item, spec: StructSpec) -> DecodeError:
    return DecodeError(f"{tag_label(item.tag)}: expected a Structure for {spec.name}", ResultReason.INVALID_FIELD)


def _unexpected(child: Item, item: Item) -> DecodeError:
    return DecodeError(f"unexpected field {tag_label(child.tag)} in {tag_label(item.tag)}", ResultReason.INVALID_FIELD)


def _duplicate(child: Item, item: Item) -> DecodeError:
    return DecodeError(
        f"{tag_label(child.tag)} appears more than once in {tag_label(item.tag)}", ResultReason.INVALID_FIELD
    )


def _missing(f: FieldSpec, item: Item) -> DecodeError:
    return DecodeError(
        f"missing required field {tag_label(f.tag) if f.tag else f.name} in {tag_label(item.tag)}",
        ResultReason.INVALID_FIELD,
    )


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
    encoder = _ENCODERS.get(obj.__class__)
    if encoder is None:
        encoder = _ENCODERS[obj.__class__] = _encoder(obj.__kmip__)
    return encoder(obj, tag)


#: Per structure class: its compiled encoder (``_encoder``).
_ENCODERS: dict[type, Callable[[Any, int | None], Item]] = {}


def _encoder(spec: StructSpec) -> Callable[[Any, int | None], Item]:
    """The encoder of a structure: a function ``(obj, tag) -> Item`` that appends each field that is not None, in
    spec order. A primitive of exactly its item type's Python type (an IntEnum member of an Enumeration field, a str
    or bytes where Text or Byte String is allowed) and a nested structure are written inline; anything else goes
    through ``_encode_value``, item by item for fields that repeat."""
    names: dict[str, Any] = {
        "Item": Item,
        "new": _new_item,
        "IntEnum": IntEnum,
        "encode_value": _encode_value,
        "to_tree": to_tree,
        # the item types the generic code wrote (IntEnum members), so that trees are the same, repr included
        "STRUCTURE": _STRUCTURE,
        "ENUMERATION": _ENUMERATION,
    }
    lines = ["def encode(obj, tag):", "    items = []", "    append = items.append"]
    for i, f in enumerate(spec.fields):
        names[f"F{i}"] = f
        lines.append(f"    value = obj.{f.name}")
        lines.append("    if value is not None:")
        lines += ["        " + line for line in _encode_field_lines(i, f, names)]
    lines.append(f"    return new(Item, ({spec.tag} if tag is None else tag, STRUCTURE, items))")
    return _compiled("\n".join(lines), names, "encode", f"<encoder of {spec.name}>")


def _encode_field_lines(i: int, f: FieldSpec, names: dict[str, Any]) -> list[str]:
    """The statements that append field ``f``'s ``value`` (not None) to ``items`` (see ``_encoder``)."""
    generic = f"append(encode_value(value, F{i}))"
    if f.multi:
        if f.kind == "p" and len(f.types) == 1:
            # A lone value of exactly the item type's Python type is written as one item, as the generic loop did.
            names[f"T{i}"] = _EXACT.get(f.types[0])
            return [
                f"if value.__class__ is T{i}:",
                f"    append(new(Item, ({f.tag}, {f.types[0]}, value)))",
                "else:",
                "    for one in value:",
                f"        append(encode_value(one, F{i}))",
            ]
        if f.kind == "s" and len(f.classes) == 1:
            names[f"C{i}"] = f.classes[0]
            return [
                "for one in value:",
                f"    append(to_tree(one, {f.tag}) if one.__class__ is C{i} else encode_value(one, F{i}))",
            ]
        return ["for one in value:", f"    append(encode_value(one, F{i}))"]
    if f.kind == "p":
        lines: list[str] = []
        if len(f.types) == 1:
            item_type = f.types[0]
            names[f"T{i}"] = _EXACT.get(item_type)
            lines += [f"if value.__class__ is T{i}:", f"    append(new(Item, ({f.tag}, {item_type}, value)))"]
            if item_type == _ENUMERATION:
                lines += [
                    "elif isinstance(value, IntEnum):",
                    f"    append(new(Item, ({f.tag}, ENUMERATION, value._value_)))",
                ]
        else:
            # Several allowed types: a str can only be Text String and bytes only Byte String (_primitive_type).
            for python_type, item_type in (("str", ItemType.TEXT_STRING), ("bytes", ItemType.BYTE_STRING)):
                if item_type in f.types:
                    lines += [
                        f"{'elif' if lines else 'if'} value.__class__ is {python_type}:",
                        f"    append(new(Item, ({f.tag}, {int(item_type)}, value)))",
                    ]
        return [*lines, "else:", f"    {generic}"] if lines else [generic]
    if f.kind in ("s", "y", "o"):
        # Any structure is written under the field's tag (a managed object under its own): the Item check of
        # _encode_value comes first there, and an Item is no Struct.
        tag = "None" if f.kind == "o" else str(f.tag)
        names["Struct"] = Struct
        return ["if isinstance(value, Struct):", f"    append(to_tree(value, {tag}))", "else:", f"    {generic}"]
    return [generic]


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
