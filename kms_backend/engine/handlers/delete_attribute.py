"""Delete Attribute (KMIP 2.1 §6.1.13; 1.4 §4.16): remove attribute instances from an object.

Current Attribute removes the instance equal to it (Attribute Instance Not Found if none is); Attribute Reference
alone removes every instance (2.1), or the one at Attribute Index (default 0) in 1.x requests. Attribute Not Found
if the object has no instance; Attribute Read Only unless the §4 rules say "Deletable by client" (attributes that
must always have a value never are). The Cosmian tag vendor attribute removes tags. The deleted attribute is left
in ``ctx.batch.v1`` for the 1.x response, which echoes it.
"""

from __future__ import annotations

from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..objects import ManagedObject
from . import _attributes as A
from .get_attributes import tag_vendor_attribute


def handle(ctx: RequestContext, request: S.DeleteAttributeRequest) -> S.DeleteAttributeResponse:
    current: tuple[int, Any] | None = None
    if request.current_attribute is not None:
        current = A.single_attribute(request.current_attribute, "Current Attribute")
        key = A.key_of(*current)
    elif request.attribute_reference is not None:
        key = A.key_of_reference(request.attribute_reference)
    else:
        raise KmipError(ResultReason.INVALID_FIELD, "Current Attribute or Attribute Reference is required")
    mo = ctx.load(request.unique_identifier, Operation.DELETE_ATTRIBUTE, with_object=False, for_update=True)
    if key == A.TAGS_KEY:
        _delete_tags(ctx, mo, current)
    else:
        _delete_instances(ctx, mo, key, current)
    ctx.save(mo)
    return S.DeleteAttributeResponse(unique_identifier=ctx.returned(mo.uid))


def _delete_instances(
    ctx: RequestContext, mo: ManagedObject, key: A.AttributeKey, current: tuple[int, Any] | None
) -> None:
    A.check_deletable(key)
    found = A.positions(mo.attributes, key)
    if not found:
        raise KmipError(ResultReason.ATTRIBUTE_NOT_FOUND, f"object {mo.uid} has no {A.attribute_name(key)}")
    index = A.v1_attribute_index(ctx)
    if current is not None:
        doomed = [i for i in found if mo.attributes.entries[i][1] == current[1]][:1]
        if not doomed:
            raise KmipError(
                ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, f"no {A.attribute_name(key)} equal to Current Attribute"
            )
    elif index is not None:
        if index >= len(found):
            raise KmipError(ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, f"no {A.attribute_name(key)} at index {index}")
        doomed = [found[index]]
    else:
        doomed = found
    tag, value = mo.attributes.entries[doomed[0]]
    _echo(ctx, tag, value, found.index(doomed[0]) or None)
    mo.attributes.entries = [e for i, e in enumerate(mo.attributes.entries) if i not in doomed]


def _delete_tags(ctx: RequestContext, mo: ManagedObject, current: tuple[int, Any] | None) -> None:
    existing = A.user_tags(mo)
    if not existing:
        raise KmipError(ResultReason.ATTRIBUTE_NOT_FOUND, f"object {mo.uid} has no tags")
    doomed = existing
    if current is not None:
        doomed = A.tags_in(*current)
        missing = [t for t in doomed if t not in existing]
        if missing:
            raise KmipError(ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, f"object {mo.uid} has no tags {missing}")
    A.set_user_tags(mo, [t for t in existing if t not in doomed])
    _echo(ctx, Tag.ATTRIBUTE, tag_vendor_attribute(doomed), None)


def _echo(ctx: RequestContext, tag: int, value: Any, index: int | None) -> None:
    """Leave the removed attribute for a 1.x response, which echoes it (KMIP 1.4 §4.16)."""
    if ctx.batch.v1 is not None:
        ctx.batch.v1.deleted_attribute = (tag, value, index)


__all__ = ["handle"]
