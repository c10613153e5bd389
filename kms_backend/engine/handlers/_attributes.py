"""Helpers shared by the attribute-editing handlers (KMIP 2.1 §6.1.2 Add, §6.1.3 Adjust, §6.1.13 Delete,
§6.1.34 Modify, §6.1.51 Set Attribute): which attribute a request names, which instances an object has of it,
and the §4 rules on who may change it when.

An attribute is identified by its tag, except vendor attributes (§4.60), which are identified by (Vendor
Identification, Attribute Name): two vendor attributes with different names are different attributes.
"""

from __future__ import annotations

from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ...kmip.ttlv import Item
from ..context import RequestContext
from ..lifecycle import CLIENT_DELETABLE, CLIENT_MODIFIABLE, CLIENT_MODIFIABLE_STATES
from ..objects import COSMIAN_VENDOR, TAG_ATTRIBUTE_NAME, ManagedObject, tags_from_attributes

#: (tag,) for standard attributes, (Tag.ATTRIBUTE, vendor, name) for vendor attributes.
AttributeKey = tuple[Any, ...]

#: The Cosmian tag list, kept in ``ManagedObject.tags`` rather than among the attributes.
TAGS_KEY: AttributeKey = (Tag.ATTRIBUTE, COSMIAN_VENDOR, TAG_ATTRIBUTE_NAME)


def attribute_name(key: AttributeKey) -> str:
    """A readable name for error messages."""
    if len(key) == 3:
        return f"{key[1]}:{key[2]}"
    try:
        return Tag(key[0]).name
    except ValueError:
        return f"0x{key[0]:06X}"


def key_of(tag: int, value: Any) -> AttributeKey:
    """The identity of the attribute ``(tag, value)`` is an instance of."""
    if tag == Tag.ATTRIBUTE and isinstance(value, S.VendorAttribute):
        return (Tag.ATTRIBUTE, value.vendor_identification.lower(), value.attribute_name)
    return (tag,)


def key_of_reference(reference: Any) -> AttributeKey:
    """The identity an Attribute Reference (§5.5: Tag enumeration or vendor structure) designates."""
    if isinstance(reference, S.AttributeReference):
        return (Tag.ATTRIBUTE, reference.vendor_identification.lower(), reference.attribute_name)
    return (int(reference),)


def single_attribute(attrs: Attributes | None, field: str) -> tuple[int, Any]:
    """The one attribute of a New Attribute / Current Attribute structure (§5.6, §5.7: exactly one)."""
    if attrs is None or len(attrs) != 1:
        raise KmipError(ResultReason.INVALID_FIELD, f"{field} must hold exactly one attribute")
    tag, value = attrs.entries[0]
    if isinstance(value, Item):
        # The mapper keeps tags that are no §4 attribute (or 1.x-only ones) as raw items.
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, f"{attribute_name((tag,))} is not a KMIP 2.1 attribute")
    if tag == Tag.ATTRIBUTE and not isinstance(value, S.VendorAttribute):
        raise KmipError(ResultReason.INVALID_ATTRIBUTE, "invalid vendor attribute")
    return tag, value


def new_attribute(request: Any) -> tuple[int, Any, AttributeKey]:
    """The New Attribute of an Add, Set or Modify Attribute request, and the identity of its attribute."""
    tag, value = single_attribute(request.new_attribute, "New Attribute")
    return tag, value, key_of(tag, value)


def tags_in(tag: int, value: Any) -> list[str]:
    """The user tags a Cosmian tag vendor attribute carries."""
    return tags_from_attributes(Attributes([(tag, value)])) or []


def positions(attrs: Attributes, key: AttributeKey) -> list[int]:
    """Indexes in ``attrs.entries`` of every instance of the attribute ``key``, in order."""
    return [i for i, (tag, value) in enumerate(attrs.entries) if key_of(tag, value) == key]


def check_modifiable(ctx: RequestContext, mo: ManagedObject, key: AttributeKey, reason: ResultReason) -> None:
    """Raise ``reason`` (Read Only Attribute / Attribute Read Only, as each operation's error table names it)
    unless a client may change the attribute (§4 rules: "Modifiable by client"), and Wrong Key Lifecycle State
    if it may only be changed in other states (Activation Date only while Pre-Active, §4.1...)."""
    tag = key[0]
    if tag == Tag.ATTRIBUTE:
        return
    if tag not in CLIENT_MODIFIABLE:
        raise KmipError(reason, f"attribute {attribute_name(key)} cannot be changed by a client (server-managed)")
    states = CLIENT_MODIFIABLE_STATES.get(tag)
    if states is not None and mo.state not in states:
        raise KmipError(
            ResultReason.WRONG_KEY_LIFECYCLE_STATE,
            f"{attribute_name(key)} cannot be changed in state {mo.state.name}",
        )
    if tag in (Tag.PROCESS_START_DATE, Tag.PROTECT_STOP_DATE):
        # §4.40, §4.41: modifiable only "as long as the date has not been reached".
        current = mo.attributes.get(tag)
        if isinstance(current, int) and current <= ctx.now:
            raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"{attribute_name(key)} has been reached already")


def check_deletable(key: AttributeKey) -> None:
    """Attribute Read Only unless the §4 rules say "Deletable by client: Yes" (vendor attributes always are)."""
    if key[0] != Tag.ATTRIBUTE and key[0] not in CLIENT_DELETABLE:
        raise KmipError(ResultReason.ATTRIBUTE_READ_ONLY, f"attribute {attribute_name(key)} cannot be deleted")


def check_name_unique(mo: ManagedObject, tag: int, value: Any, skip: int | None = None) -> None:
    """A Name may appear once per object; other objects' names are the store's job (NameConflict, §4.32)."""
    if tag != Tag.NAME:
        return
    for index, (other_tag, other) in enumerate(mo.attributes.entries):
        if index != skip and other_tag == Tag.NAME and other == value:
            raise KmipError(ResultReason.NON_UNIQUE_NAME_ATTRIBUTE, "the object already has this Name")


def user_tags(mo: ManagedObject) -> list[str]:
    """The Cosmian user tags of an object (system tags start with ``_`` and are not the client's)."""
    return [t for t in mo.tags if not t.startswith("_")]


def set_user_tags(mo: ManagedObject, tags: list[str]) -> None:
    """Replace the user tags, keeping the system tags."""
    system = [t for t in mo.tags if t.startswith("_")]
    mo.tags = system + [t for t in dict.fromkeys(tags) if not t.startswith("_")]


def v1_attribute_index(ctx: RequestContext) -> int | None:
    """The Attribute Index of a 1.x Modify/Delete Attribute request (1.4 §4.15, §4.16), if this is one."""
    v1 = ctx.batch.v1
    return v1.attribute_index if v1 is not None else None


__all__ = [
    "new_attribute",
    "tags_in",
    "TAGS_KEY",
    "AttributeKey",
    "attribute_name",
    "check_deletable",
    "check_modifiable",
    "check_name_unique",
    "key_of",
    "key_of_reference",
    "positions",
    "set_user_tags",
    "single_attribute",
    "user_tags",
    "v1_attribute_index",
]
