"""Modify Attribute (KMIP 2.1 §6.1.34; 1.4 §4.15): change the value of an existing attribute instance.

The instance is the one equal to Current Attribute when given (Attribute Instance Not Found if none is), the one
at the 1.x Attribute Index for 1.x requests, else the first. Attribute Not Found if the object has no instance;
Attribute Read Only for attributes a client may not change (§4 rules tables); Names stay unique (Non Unique Name
Attribute). The Cosmian tag vendor attribute replaces the object's user tags.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import refresh_state
from . import _attributes as A


def handle(ctx: RequestContext, request: S.ModifyAttributeRequest) -> S.ModifyAttributeResponse:
    tag, value, key = A.new_attribute(request)
    current = None
    if request.current_attribute is not None:
        current = A.single_attribute(request.current_attribute, "Current Attribute")
        if A.key_of(*current) != key:
            raise KmipError(ResultReason.INVALID_FIELD, "Current Attribute and New Attribute differ in attribute")
    mo = ctx.load(request.unique_identifier, Operation.MODIFY_ATTRIBUTE, with_object=False, for_update=True)
    if key == A.TAGS_KEY:
        if not A.user_tags(mo):
            raise KmipError(ResultReason.ATTRIBUTE_NOT_FOUND, f"object {mo.uid} has no tags")
        if current is not None and set(A.tags_in(*current)) != set(A.user_tags(mo)):
            raise KmipError(ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, "the object's tags differ from Current")
        A.set_user_tags(mo, A.tags_in(tag, value))
        ctx.save(mo)
        return S.ModifyAttributeResponse(unique_identifier=ctx.returned(mo.uid))
    A.check_modifiable(ctx, mo, key, ResultReason.ATTRIBUTE_READ_ONLY)
    found = A.positions(mo.attributes, key)
    if not found:
        raise KmipError(ResultReason.ATTRIBUTE_NOT_FOUND, f"object {mo.uid} has no {A.attribute_name(key)}")
    index = A.v1_attribute_index(ctx)
    if current is not None:
        matching = [i for i in found if mo.attributes.entries[i][1] == current[1]]
        if not matching:
            raise KmipError(
                ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, f"no {A.attribute_name(key)} equal to Current Attribute"
            )
        position = matching[0]
    elif index is not None:
        if index >= len(found):
            raise KmipError(ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND, f"no {A.attribute_name(key)} at index {index}")
        position = found[index]
    else:
        position = found[0]
    A.check_name_unique(mo, tag, value, skip=position)
    mo.attributes.entries[position] = (tag, value)
    refresh_state(mo, ctx.now)  # an Activation/Deactivation Date already reached takes effect now
    ctx.save(mo)
    return S.ModifyAttributeResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
