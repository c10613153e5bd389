"""Get Attributes (KMIP 2.1 §6.1.20): the requested attributes of an object (all of them if none named)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import ObjectType, Operation, ProtectionStorageMask, Tag
from ...kmip.schema import Attributes
from ...kmip.ttlv import Item, ItemType
from ..context import RequestContext
from ..objects import COSMIAN_VENDOR, TAG_ATTRIBUTE_NAME, ManagedObject


def handle(ctx: RequestContext, request: S.GetAttributesRequest) -> S.GetAttributesResponse:
    mo = ctx.load(request.unique_identifier, Operation.GET_ATTRIBUTES, with_object=False)
    attrs = visible_attributes(mo)
    if request.attribute_reference:
        attrs = Attributes(
            [(t, v) for t, v in attrs if any(_matches(ref, t, v) for ref in request.attribute_reference)]
        )
    return S.GetAttributesResponse(unique_identifier=ctx.returned(mo.uid), attributes=attrs)


def visible_attributes(mo: ManagedObject) -> Attributes:
    """The object's attributes as clients see them: user tags included as Cosmian's vendor attribute, and the
    attributes the server derives rather than stores (``derived_attributes``). 1.x responses drop the ones their
    version does not define at the edge."""
    attrs = Attributes(list(mo.attributes.entries))
    for tag, value in derived_attributes(mo):
        if tag not in attrs:
            attrs.add(tag, value)
    user_tags = [t for t in mo.tags if not t.startswith("_")]
    if user_tags:
        attrs.add(Tag.ATTRIBUTE, tag_vendor_attribute(user_tags))
    return attrs


#: Lease Time (KMIP 1.4 §3.15, 2.1 §4.34): how long a client may use a cryptographic object's material before it
#: asks the server again; one hour, the value the OASIS cases expect.
LEASE_TIME_SECONDS = 3600
#: The objects Lease Time applies to ("all cryptographic objects").
_LEASED = frozenset(
    {
        ObjectType.SYMMETRIC_KEY,
        ObjectType.PUBLIC_KEY,
        ObjectType.PRIVATE_KEY,
        ObjectType.SPLIT_KEY,
        ObjectType.SECRET_DATA,
    }
)


def derived_attributes(mo: ManagedObject) -> list[tuple[int, Any]]:
    """Attributes computed from what is stored (KMIP 2.1 §4.56 Short Unique Identifier: the SHA-256 of the Unique
    Identifier, 32 bytes, for every object; §4.44 Protection Storage Mask: where the object is protected, which
    for objects this server keeps is Software, the store and its KEK being software; §4.34 Lease Time of
    cryptographic objects, which 1.x clients ask for)."""
    derived: list[tuple[int, Any]] = [
        (Tag.SHORT_UNIQUE_IDENTIFIER, hashlib.sha256(mo.uid.encode()).digest()),
        (Tag.PROTECTION_STORAGE_MASK, int(ProtectionStorageMask.SOFTWARE)),
    ]
    if mo.object_type in _LEASED:
        derived.append((Tag.LEASE_TIME, LEASE_TIME_SECONDS))
    return derived


def tag_vendor_attribute(tags: list[str]) -> S.VendorAttribute:
    return S.VendorAttribute(
        vendor_identification=COSMIAN_VENDOR,
        attribute_name=TAG_ATTRIBUTE_NAME,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps(tags)),
    )


def _matches(reference: Any, tag: int, value: Any) -> bool:
    if isinstance(reference, S.AttributeReference):
        return (
            isinstance(value, S.VendorAttribute)
            and value.vendor_identification == reference.vendor_identification
            and value.attribute_name == reference.attribute_name
        )
    return int(reference) == tag


__all__ = ["derived_attributes", "handle", "tag_vendor_attribute", "visible_attributes"]
