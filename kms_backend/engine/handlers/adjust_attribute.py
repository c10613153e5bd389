"""Adjust Attribute (KMIP 2.1 §6.1.3): increment, decrement or negate a numeric or Boolean attribute in place.

The attribute must be one a client may change (Read Only Attribute, §4 rules tables), single-valued (Multi Valued
Attribute), present (Item Not Found) and of a type the adjustment applies to (Invalid Data Type): Integer, Long
Integer, Date-Time and Interval attributes are incremented/decremented (by the Adjustment Value, default 1) or
negated; Boolean attributes are negated. Dates and intervals cannot go below zero (Numeric Range). Archived
objects are Object Archived.
"""

from __future__ import annotations

from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import AdjustmentType, ItemType, Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import MULTI_VALUED, refresh_state
from ..objects import STORAGE_ARCHIVED
from ._attributes import attribute_name, check_modifiable, key_of_reference, positions

_NUMERIC = frozenset({ItemType.INTEGER, ItemType.LONG_INTEGER, ItemType.DATE_TIME, ItemType.INTERVAL})
_UNSIGNED = frozenset({ItemType.DATE_TIME, ItemType.INTERVAL})
#: Largest value per item type (Integer is 32-bit signed, Interval 32-bit unsigned, the others 64-bit signed).
_MAXIMUM: dict[int, int] = {ItemType.INTEGER: 2**31 - 1, ItemType.INTERVAL: 2**32 - 1}


def handle(ctx: RequestContext, request: S.AdjustAttributeRequest) -> S.AdjustAttributeResponse:
    key = key_of_reference(request.attribute_reference)
    mo = ctx.load(request.unique_identifier, Operation.ADJUST_ATTRIBUTE, with_object=False, for_update=True)
    if mo.storage_status == STORAGE_ARCHIVED:
        raise KmipError(ResultReason.OBJECT_ARCHIVED, f"object {mo.uid} is archived")
    check_modifiable(ctx, mo, key, ResultReason.READ_ONLY_ATTRIBUTE)
    tag = key[0]
    if tag in MULTI_VALUED:
        raise KmipError(ResultReason.MULTI_VALUED_ATTRIBUTE, f"{attribute_name(key)} is multi-valued")
    found = positions(mo.attributes, key)
    if not found:
        raise KmipError(ResultReason.ITEM_NOT_FOUND, f"object {mo.uid} has no {attribute_name(key)}")
    field = S.ATTRIBUTE_FIELDS.get(tag)
    item_type = field.types[0] if field is not None and len(field.types) == 1 else None
    current = mo.attributes.entries[found[0]][1]
    new = _adjusted(key, item_type, current, request.adjustment_type, request.adjustment_value)
    mo.attributes.entries[found[0]] = (tag, new)
    refresh_state(mo, ctx.now)  # an adjusted Activation/Deactivation Date may have been reached
    ctx.save(mo)
    return S.AdjustAttributeResponse(unique_identifier=ctx.returned(mo.uid))


def _adjusted(key: tuple[Any, ...], item_type: int | None, current: Any, adjustment: int, amount_item: Any) -> Any:
    if item_type == ItemType.BOOLEAN and isinstance(current, bool):
        if adjustment != AdjustmentType.NEGATE:
            raise KmipError(ResultReason.INVALID_DATA_TYPE, f"{attribute_name(key)} is Boolean: only Negate applies")
        return not current
    if item_type not in _NUMERIC or not isinstance(current, int):
        raise KmipError(ResultReason.INVALID_DATA_TYPE, f"{attribute_name(key)} cannot be adjusted")
    amount: Any = 1 if amount_item is None else getattr(amount_item, "value", amount_item)
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise KmipError(ResultReason.INVALID_DATA_TYPE, "Adjustment Value must be a number")
    if adjustment == AdjustmentType.INCREMENT:
        new = current + amount
    elif adjustment == AdjustmentType.DECREMENT:
        new = current - amount
    elif adjustment == AdjustmentType.NEGATE:
        new = -current
    else:
        raise KmipError(ResultReason.INVALID_FIELD, f"unknown Adjustment Type {adjustment}")
    low = 0 if item_type in _UNSIGNED else -_MAXIMUM.get(item_type, 2**63 - 1) - 1
    if not low <= new <= _MAXIMUM.get(item_type, 2**63 - 1):
        raise KmipError(ResultReason.NUMERIC_RANGE, f"{attribute_name(key)} would be out of range")
    return new


__all__ = ["handle"]
