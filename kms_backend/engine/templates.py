"""KMIP 1.x Templates (1.4 §2.2.6 Template object, §2.1.8 Template-Attribute; deprecated in 1.3, removed in 2.0).

A Template is a managed object that holds attributes for other objects. Clients Register, Locate, Get and Destroy
it like any object (its Name is how it is referred to); a Template-Attribute in a 1.x request may name Templates,
whose attributes then apply as if the request had listed them, those the request gives explicitly winning for
single-valued attributes (1.4 §2.1.8).

Everything inside the engine is 2.1, which has no Templates, so the names are resolved at the 1.x edge, before
the request is translated (``resolve``); the Template object itself is stored in its 1.x form (``TemplateV1``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..kmip import _schema_data as S
from ..kmip._registry_data import ObjectType, Operation, ResultReason
from ..kmip.errors import KmipError
from ..kmip.schema import Struct
from ..store.base import LocateQuery
from .context import RequestContext
from .lifecycle import MULTI_VALUED

if TYPE_CHECKING:
    from .engine import Engine

#: Fields of 1.x request payloads that hold a Template-Attribute (Create, Create Key Pair, Register, Re-key...).
_TEMPLATE_FIELDS = (
    "template_attribute",
    "common_template_attribute",
    "private_key_template_attribute",
    "public_key_template_attribute",
)


def _template_fields(cls: type[Struct]) -> tuple[str, ...]:
    """The fields of ``cls`` among ``_TEMPLATE_FIELDS`` (most payloads have none: a Get is never looked into)."""
    found = _FIELDS_OF.get(cls)
    if found is None:
        names = {f.name for f in cls.__kmip__.fields}
        found = _FIELDS_OF[cls] = tuple(name for name in _TEMPLATE_FIELDS if name in names)
    return found


#: Per payload class: its Template-Attribute fields (``_template_fields``).
_FIELDS_OF: dict[type[Struct], tuple[str, ...]] = {}


def resolve(engine: Engine, payload: Struct, user: str, version: tuple[int, int], tx: Any = None) -> Struct:
    """``payload`` with every Template named in its Template-Attributes replaced by that Template's attributes;
    unchanged when it names none. Item Not Found for a name no Template visible to ``user`` has. Reads in ``tx``
    (an Undo batch's), else in a transaction of its own."""
    named = [
        name
        for name in _template_fields(payload.__class__)
        if isinstance(getattr(payload, name), S.TemplateAttributeV1) and getattr(payload, name).name
    ]
    if not named:
        return payload
    if tx is not None:
        return _resolved(RequestContext(engine, tx, user, version, int(engine.clock())), payload, named)
    with engine.store.transaction() as own:
        return _resolved(RequestContext(engine, own, user, version, int(engine.clock())), payload, named)


def _resolved(ctx: RequestContext, payload: Struct, fields: list[str]) -> Struct:
    changed = {name: _merged(ctx, getattr(payload, name)) for name in fields}
    return dataclasses.replace(payload, **changed)  # type: ignore[type-var]


def _merged(ctx: RequestContext, template_attribute: S.TemplateAttributeV1) -> S.TemplateAttributeV1:
    explicit = {a.attribute_name for a in template_attribute.attribute}
    inherited: list[S.AttributeV1] = []
    for name in template_attribute.name:
        for attribute in _template_object(ctx, name.name_value).attribute:
            if attribute.attribute_name in explicit and not _multi_valued(attribute.attribute_name):
                continue
            inherited.append(dataclasses.replace(attribute, attribute_index=None))
    return S.TemplateAttributeV1(attribute=[*inherited, *template_attribute.attribute])


def _template_object(ctx: RequestContext, name: str) -> S.TemplateV1:
    query = LocateQuery(
        object_type=int(ObjectType.TEMPLATE), names=[name], user=ctx.visibility_user(), operation=None, limit=2
    )
    found = ctx.tx.locate(query)
    if not found:
        raise KmipError(ResultReason.ITEM_NOT_FOUND, f"no Template is named {name!r}")
    if len(found) > 1:
        raise KmipError(ResultReason.INVALID_FIELD, f"more than one Template is named {name!r}")
    mo = ctx.load(found[0], Operation.GET)
    if not isinstance(mo.object, S.TemplateV1):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {mo.uid} is not a Template")
    return mo.object


def _multi_valued(attribute_name: str) -> bool:
    from ..kmip.registry import tag_by_name

    info = tag_by_name(attribute_name)
    return attribute_name.startswith(("x-", "y-")) or (info is not None and info.value in MULTI_VALUED)


__all__ = ["resolve"]
