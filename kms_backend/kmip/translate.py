"""KMIP 1.x <-> 2.1 translation, in one place (DESIGN.md: "internally everything is KMIP 2.1").

A 1.x request decodes to ``...V1`` structures (Template-Attribute, Attribute Name/Index/Value); ``to_v2``
turns any of them into the 2.1 structure of the same name (Attributes, Attribute Reference, New/Current
Attribute). ``to_v1`` goes back for responses, dropping what 1.x does not define. Custom 1.x attributes
(``x-…``/``y-…``) become 2.1 Vendor Attributes with vendor identification ``x``/``y`` and back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import _schema_data as S
from ._registry_data import ResultReason, Tag
from .errors import KmipError
from .mapper import attribute_item, attribute_value
from .registry import V1_4, ProtocolVersion, tag_by_name, tag_info
from .schema import Attributes, FieldSpec, Struct
from .ttlv import Item

# 1.x field name -> 2.1 field name, for fields whose meaning carries over under a new name.
_RENAMES_TO_V2 = {
    "template_attribute": "attributes",
    "common_template_attribute": "common_attributes",
    "private_key_template_attribute": "private_key_attributes",
    "public_key_template_attribute": "public_key_attributes",
    "attribute_name": "attribute_reference",
}
_RENAMES_TO_V1 = {v: k for k, v in _RENAMES_TO_V2.items()}
_CUSTOM_PREFIXES = ("x-", "y-")

_CLASSES: dict[str, type[Struct]] = {
    name: cls
    for name, cls in vars(S).items()
    if isinstance(cls, type) and issubclass(cls, Struct) and cls is not Struct
}


def _not_supported(what: str) -> KmipError:
    return KmipError(ResultReason.FEATURE_NOT_SUPPORTED, what)


# -- single attributes -----------------------------------------------------------------------------------------


def attribute_to_v2(attr: S.AttributeV1) -> tuple[int, Any]:
    """A 1.x Attribute (name, index, value) as a 2.1 (attribute tag, typed value) entry."""
    name = attr.attribute_name
    if name.startswith(_CUSTOM_PREFIXES):
        vendor = S.VendorAttribute(
            vendor_identification=name[0], attribute_name=name[2:], attribute_value=attr.attribute_value
        )
        return Tag.ATTRIBUTE, vendor
    info = tag_by_name(name)
    if info is None or info.extension:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"unknown attribute name {name!r}")
    value = attr.attribute_value
    if value is None:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"attribute {name!r} has no value")
    # 1.x-only attributes (Operation Policy Name, Certificate Identifier...) stay raw items under their tag.
    return info.value, attribute_value(Item(info.value, value.type, value.value))


def attribute_to_v1(tag: int, value: Any, index: int | None = None) -> S.AttributeV1:
    """A 2.1 attribute entry as a 1.x Attribute (Attribute Name = the spec name of the tag)."""
    if tag == Tag.ATTRIBUTE and isinstance(value, S.VendorAttribute):
        prefix = value.vendor_identification if value.vendor_identification in ("x", "y") else "x"
        vendor = value.vendor_identification
        name = value.attribute_name if vendor in ("x", "y") else f"{vendor}-{value.attribute_name}"
        return S.AttributeV1(
            attribute_name=f"{prefix}-{name}", attribute_index=index, attribute_value=value.attribute_value
        )
    info = tag_info(tag)
    if info is None:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"unknown attribute tag 0x{tag:06X}")
    item = attribute_item(tag, value)
    return S.AttributeV1(
        attribute_name=info.name,
        attribute_index=index,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, item.type, item.value),
    )


def attribute_reference(name: str) -> Tag | S.AttributeReference:
    """A 1.x Attribute Name as a 2.1 Attribute Reference (Tag enumeration, or vendor structure)."""
    if name.startswith(_CUSTOM_PREFIXES):
        return S.AttributeReference(vendor_identification=name[0], attribute_name=name[2:])
    info = tag_by_name(name)
    if info is None:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"unknown attribute name {name!r}")
    return Tag(info.value)


def attribute_name(reference: Any) -> str:
    """A 2.1 Attribute Reference as a 1.x Attribute Name."""
    if isinstance(reference, S.AttributeReference):
        return f"{reference.vendor_identification}-{reference.attribute_name}"
    info = tag_info(int(reference))
    if info is None:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"unknown attribute reference {reference!r}")
    return info.name


# -- attribute collections -------------------------------------------------------------------------------------


def template_to_attributes(template: S.TemplateAttributeV1 | None) -> Attributes:
    """A 1.x Template-Attribute as 2.1 Attributes. Its Names (references to Template objects) must have been
    resolved into attributes before (``engine.templates``: that needs the store)."""
    attrs = Attributes()
    if template is None:
        return attrs
    if template.name:
        raise _not_supported("Template names must be resolved before translation")
    for attr in template.attribute:
        attrs.add(*attribute_to_v2(attr))
    return attrs


def attributes_to_v1_list(attrs: Attributes, version: ProtocolVersion = V1_4) -> list[S.AttributeV1]:
    """2.1 Attributes as 1.x Attribute structures, with Attribute Index per repeated name (1.4 §2.1.1).

    Attributes the 1.x ``version`` does not define (e.g. Sensitive before 1.4) are left out.
    """
    seen: dict[object, int] = {}
    out: list[S.AttributeV1] = []
    for tag, value in attrs:
        if not _defined_in(tag, version):
            continue
        key: object = tag
        if isinstance(value, S.VendorAttribute):  # custom attributes are indexed per name, not per tag
            key = (value.vendor_identification, value.attribute_name)
        index = seen.get(key, 0)
        seen[key] = index + 1
        out.append(attribute_to_v1(tag, value, index if index else None))
    return out


def attributes_to_template(attrs: Attributes, version: ProtocolVersion = V1_4) -> S.TemplateAttributeV1:
    return S.TemplateAttributeV1(attribute=attributes_to_v1_list(attrs, version))


def _defined_in(tag: int, version: ProtocolVersion) -> bool:
    if tag == Tag.ATTRIBUTE:  # vendor attributes travel as custom "x-" attributes
        return True
    info = tag_info(tag)
    return info is not None and info.first <= version and info.first[0] == 1


def _reference_defined_in(reference: Any, version: ProtocolVersion) -> bool:
    return isinstance(reference, S.AttributeReference) or _defined_in(int(reference), version)


# -- whole structures ------------------------------------------------------------------------------------------


def to_v2(obj: Struct) -> Struct:
    """Translate a 1.x structure (``...V1``) to its 2.1 counterpart; 2.1 structures are returned unchanged."""
    translator = _TO_V2.get(obj.__class__)
    if translator is None:
        translator = _TO_V2[obj.__class__] = _v2_translator(obj.__class__)
    result: Struct = translator(obj)
    return result


#: Class -> its translator to 2.1 (``_v2_translator``).
_TO_V2: dict[type[Struct], Callable[[Any], Any]] = {}


def _v2_translator(cls: type[Struct]) -> Callable[[Any], Any]:
    """The translator of ``cls`` to 2.1: a function ``obj -> 2.1 instance``, compiled from the class's fields as
    ``mapper`` compiles its codecs. 2.1 classes and Templates (which 2.x lacks: the server stores the 1.x object as it
    came, ``engine.templates``) are returned as they are; a 1.x class without a 2.1 form raises Feature Not
    Supported. Each field that is set (not None, not an empty list) goes under its 2.1 name when the 2.1 class has
    it: a plain value as it is, anything else through ``_value_to_v2``; a 1.x Attribute becomes the 2.1 New Attribute,
    Attributes or Current Attribute the target has; Attribute Index has no 2.1 field."""
    name = cls.__name__
    if not name.endswith("V1") or issubclass(cls, S.TemplateV1):
        return lambda obj: obj
    target = _CLASSES.get(name[:-2])
    if target is None:
        error = f"{name[:-2]} has no KMIP 2.1 form"

        def refuse(_obj: Any) -> Any:
            raise _not_supported(error)

        return refuse
    target_fields = frozenset(f.name for f in target.__kmip__.fields)
    names: dict[str, Any] = {
        "target": target,
        "PLAIN": _PLAIN_VALUES,
        "Attributes": Attributes,
        "attribute_to_v2": attribute_to_v2,
        "value_to_v2": _value_to_v2,
    }
    lines = ["def translate(obj):", "    values = {}"]
    for f in cls.__kmip__.fields:
        new_name = _RENAMES_TO_V2.get(f.name, f.name)
        if f.name == "attribute" and "new_attribute" in target_fields:  # Add/Modify Attribute request
            store = "values['new_attribute'] = Attributes([attribute_to_v2(value)])"
        elif f.name == "attribute" and "attributes" in target_fields:  # Get Attributes response
            store = "values['attributes'] = Attributes([attribute_to_v2(a) for a in value])"
        elif f.name == "attribute" and "current_attribute" in target_fields:
            store = "values['current_attribute'] = Attributes([attribute_to_v2(value)])"
        elif f.name == "attribute_index" or new_name not in target_fields:
            continue
        elif f.name == "attribute_name":  # names become Attribute References
            store = f"values[{new_name!r}] = value_to_v2({f.name!r}, value)"
        else:
            store = f"values[{new_name!r}] = value if isinstance(value, PLAIN) else value_to_v2({f.name!r}, value)"
        lines += [
            f"    value = obj.{f.name}",
            "    if value is not None and (value.__class__ is not list or value):",
            f"        {store}",
        ]
    lines.append("    return target(**values)")
    exec(compile("\n".join(lines), f"<to_v2 of {name}>", "exec"), names)  # noqa: S102 - from the schema
    return names["translate"]  # type: ignore[no-any-return]


def _value_to_v2(field_name: str, value: Any) -> Any:
    if isinstance(value, S.TemplateAttributeV1):
        return template_to_attributes(value)
    if field_name == "attribute_name":
        return [attribute_reference(n) for n in value] if isinstance(value, list) else attribute_reference(value)
    if isinstance(value, list):
        return [_value_to_v2(field_name, v) for v in value]
    if isinstance(value, Struct):
        return to_v2(value)
    return value


def attribute_index(request_v1: object) -> int | None:
    """The Attribute Index a 1.x Modify or Delete Attribute request names (KMIP 1.4 §4.15, §4.16; absent means 0),
    which no 2.1 field carries; None for any other request."""
    if isinstance(request_v1, S.DeleteAttributeRequestV1):
        return request_v1.attribute_index or 0
    if isinstance(request_v1, S.ModifyAttributeRequestV1):
        return request_v1.attribute.attribute_index or 0
    return None


@dataclass(slots=True)
class V1Item:
    """The KMIP 1.x side of one batch item. 1.x requests are translated to 2.1 before the handler runs and the
    response back after it (:func:`response_to_v1`); these are the two facts that cross the translation."""

    #: the Attribute Index of a 1.x Modify/Delete Attribute request (1.4 §4.15, §4.16), which 2.1 has no field for
    attribute_index: int | None = None
    #: (tag, value, index) of the attribute a Delete Attribute removed: the 1.x response echoes it (1.4 §4.16)
    deleted_attribute: tuple[int, Any, int | None] | None = None

    @classmethod
    def of(cls, request_v1: object) -> V1Item:
        """The 1.x side of the 1.x request payload ``request_v1``."""
        return cls(attribute_index=attribute_index(request_v1))


def response_to_v1(response: Struct, version: ProtocolVersion, request_v1: object, item: V1Item | None) -> Struct:
    """The 1.x response of one batch item whose 1.x request payload was ``request_v1``: :func:`to_v1`, with the
    Attribute that 1.x Add/Modify/Delete Attribute responses echo and the 2.1 responses do not carry. Modify and
    Delete answer with the Attribute Index the request gave, 0 included (1.4 §4.17-4.18), and none when the
    request relied on the default (as the OASIS 1.4 cases expect)."""
    extra: dict[str, Any] = {}
    if isinstance(response, S.AddAttributeResponse | S.ModifyAttributeResponse) and hasattr(request_v1, "attribute"):
        extra["attribute"] = request_v1.attribute
    deleted = item.deleted_attribute if item is not None else None
    if isinstance(response, S.DeleteAttributeResponse) and deleted is not None:
        tag, value, _found = deleted
        # The index as the request stated it (V1Item.attribute_index has the default 0 filled in).
        extra["attribute"] = attribute_to_v1(tag, value, getattr(request_v1, "attribute_index", None))
    return to_v1(response, version, **extra)


def to_v1(obj: Struct, version: ProtocolVersion = V1_4, **extra: Any) -> Struct:
    """Translate a 2.1 structure to its 1.x counterpart (``...V1``), dropping fields 1.x does not define.

    ``version`` is the 1.x version answered (attributes it does not define are dropped); ``extra`` supplies 1.x
    fields the 2.1 form lacks (the Attribute echoed by 1.x Add/Modify/Delete Attribute responses).
    """
    translator = _TO_V1.get((obj.__class__, version))
    if translator is None:
        translator = _TO_V1[obj.__class__, version] = _translator(obj.__class__, version)
    result: Struct = translator(obj, extra)
    return result


#: (2.1 class, 1.x version) -> its translator (``_translator``).
_TO_V1: dict[tuple[type[Struct], ProtocolVersion], Callable[[Any, dict[str, Any]], Any]] = {}


def _translator(cls: type[Struct], version: ProtocolVersion) -> Callable[[Any, dict[str, Any]], Any]:
    """The translator of ``cls`` to ``version``: a function ``(obj, extra) -> 1.x instance`` (``obj`` itself when the
    2.1 class serves 1.x too), compiled from the class's fields as ``mapper`` compiles its codecs. A field's plain
    value (int, str, bytes, bool, an enumeration member) passes as it is and a structure is translated, under the
    field's 1.x name (dropped when ``version`` does not define it), and so does a text Unique Identifier; other
    Unique Identifier values, Attribute Reference values, lists and Attributes go through ``_field_to_v1``."""
    target, target_fields = _v1_target(cls, version)
    if target is None:
        return lambda obj, _extra: obj
    names: dict[str, Any] = {
        "target": target,
        "target_fields": target_fields,
        "version": version,
        "PLAIN": _PLAIN_VALUES,
        "Struct": Struct,
        "to_v1": to_v1,
        "field_to_v1": _field_to_v1,
    }
    lines = ["def translate(obj, extra):", "    values = dict(extra) if extra else {}"]
    for i, f in enumerate(cls.__kmip__.fields):
        names[f"F{i}"] = f
        v1_name = _RENAMES_TO_V1.get(f.name, f.name)
        generic = f"field_to_v1(F{i}, value, values, target=target, target_fields=target_fields, version=version)"
        lines += [f"    value = obj.{f.name}", "    if value is not None:"]
        if f.name == "unique_identifier" and v1_name in target_fields:
            # a text identifier is already the 1.x form; an Integer reference or an enumeration is not
            lines += [
                "        if value.__class__ is str:",
                f"            values[{v1_name!r}] = value",
                "        else:",
                f"            {generic}",
            ]
        elif f.name in _TRANSLATED_FIELDS:
            lines.append(f"        {generic}")
        elif v1_name in target_fields:
            lines += [
                "        if isinstance(value, PLAIN):",
                f"            values[{v1_name!r}] = value",
                "        elif isinstance(value, Struct):",
                f"            values[{v1_name!r}] = to_v1(value, version)",
                "        else:",
                f"            {generic}",
            ]
        else:  # a field ``version`` does not define: only Attributes may still go somewhere (1.x Attribute)
            lines += [
                "        if not isinstance(value, PLAIN) and not isinstance(value, Struct):",
                f"            {generic}",
            ]
    lines.append("    return target(**values)")
    namespace = names
    exec(compile("\n".join(lines), f"<to_v1 of {cls.__name__} {version}>", "exec"), namespace)  # noqa: S102 - from the schema
    return namespace["translate"]  # type: ignore[no-any-return]


def _field_to_v1(
    f: FieldSpec,
    value: Any,
    values: dict[str, Any],
    *,
    target: type[Struct],
    target_fields: frozenset[str],
    version: ProtocolVersion,
) -> None:
    """Put the 1.x form of field ``f``'s ``value`` (not None) in ``values``, unless 1.x has no place for it."""
    if value.__class__ is list and not value:
        return
    if isinstance(value, Attributes):
        if "attribute" in target_fields and f.name in ("attributes", "new_attribute", "current_attribute"):
            attrs = attributes_to_v1_list(value, version)
            values["attribute"] = attrs if _is_list(target, "attribute") else (attrs[0] if attrs else None)
            return
        v1_name = _RENAMES_TO_V1.get(f.name, f.name)
        if v1_name in target_fields:
            values[v1_name] = attributes_to_template(value, version)
        return
    v1_name = _RENAMES_TO_V1.get(f.name, f.name)
    if v1_name not in target_fields:
        return
    if f.name == "attribute_reference":
        if isinstance(value, list):  # a Get Attribute List answer names only what ``version`` defines
            values[v1_name] = [attribute_name(r) for r in value if _reference_defined_in(r, version)]
        else:
            values[v1_name] = attribute_name(value)
        return
    if f.name == "unique_identifier" and not isinstance(value, str) and not isinstance(value, list):
        value = str(int(value)) if not isinstance(value, Item) else value
    values[v1_name] = _value_to_v1(value, version)


#: Field values to_v1 passes on as they are (ints include bools and enumeration members).
_PLAIN_VALUES = (int, str, bytes)
#: Fields whose plain values to_v1 still translates.
_TRANSLATED_FIELDS = frozenset({"unique_identifier", "attribute_reference"})

#: (2.1 class, 1.x version) -> its 1.x class and the names of the fields that version defines (computed once each).
_V1_TARGETS: dict[tuple[type[Struct], ProtocolVersion], tuple[type[Struct] | None, frozenset[str]]] = {}


def _v1_target(cls: type[Struct], version: ProtocolVersion) -> tuple[type[Struct] | None, frozenset[str]]:
    """The 1.x counterpart of ``cls`` (None: the 2.1 class serves 1.x too) and its fields ``version`` defines."""
    key = (cls, version)
    found = _V1_TARGETS.get(key)
    if found is None:
        target = _CLASSES.get(cls.__name__ + "V1")
        # The 1.4 form lists fields later minor versions added (Located Items came in 1.3): a strict 1.0 client
        # (pg_tde's libkmip) rejects a tag its version does not know, so such fields are left out.
        names = (
            frozenset(f.name for f in target.__kmip__.fields if _field_defined_in(f.tag, version))
            if target is not None
            else frozenset()
        )
        found = _V1_TARGETS[key] = (target, names)
    return found


def _field_defined_in(tag: int, version: ProtocolVersion) -> bool:
    info = tag_info(tag)
    return info is None or info.defined_in(version)


def _value_to_v1(value: Any, version: ProtocolVersion) -> Any:
    if isinstance(value, list):
        return [_value_to_v1(v, version) for v in value]
    if isinstance(value, Struct):
        return to_v1(value, version)
    return value


def _is_list(cls: type[Struct], field_name: str) -> bool:
    return any(f.name == field_name and f.multi for f in cls.__kmip__.fields)


__all__ = [
    "V1Item",
    "response_to_v1",
    "attribute_index",
    "attribute_name",
    "attribute_reference",
    "attribute_to_v1",
    "attribute_to_v2",
    "attributes_to_template",
    "attributes_to_v1_list",
    "template_to_attributes",
    "to_v1",
    "to_v2",
]
