"""Locate (KMIP 2.1 §6.1.28): find the objects whose attributes match, as one indexed store query.

Indexed filters: Object Type, Cryptographic Algorithm / Length / Usage Mask (bits must be set), State, Name,
Object Group, Link, dates (one instance: that exact date; two instances: an inclusive range), Cosmian tags.
Any other attribute given is compared on the objects the indexed query returns (bounded by it).
"""

from __future__ import annotations

from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import ObjectGroupMember, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ...store.base import LocateQuery
from ..context import RequestContext
from ..objects import DATE_TAGS, remove_tag_attribute, tags_from_attributes
from ._links import links_of

_INDEXED = frozenset(
    {
        Tag.OBJECT_TYPE,
        Tag.CRYPTOGRAPHIC_ALGORITHM,
        Tag.CRYPTOGRAPHIC_LENGTH,
        Tag.CRYPTOGRAPHIC_USAGE_MASK,
        Tag.STATE,
        Tag.NAME,
        Tag.OBJECT_GROUP,
        Tag.LINK,
        *DATE_TAGS,
    }
)


def handle(ctx: RequestContext, request: S.LocateRequest) -> S.LocateResponse:
    attrs = Attributes(list(request.attributes.entries) if request.attributes is not None else [])
    query = build_query(attrs)
    query.user = ctx.visibility_user()
    query.operation = None
    if request.storage_status_mask is not None:
        query.storage_status_mask = request.storage_status_mask
    residual = [(t, v) for t, v in attrs if t not in _INDEXED]
    if request.object_group_member == ObjectGroupMember.GROUP_MEMBER_FRESH:
        residual.append((Tag.FRESH, True))
    offset = request.offset_items or 0
    limit = request.maximum_items
    if offset < 0 or (limit is not None and limit < 0):
        raise KmipError(ResultReason.INVALID_FIELD, "Offset Items and Maximum Items must not be negative")
    if not residual:
        query.offset, query.limit = offset, limit
        uids = ctx.tx.locate(query)
        total = ctx.tx.count(query) if limit is not None or offset else len(uids) + offset
    else:
        candidates = ctx.tx.locate(query)
        records = ctx.tx.get_many(candidates)
        matching = [
            r.uid
            for r in records
            if _residual_match(ctx.engine.records.from_record(r, with_object=False).attributes, residual)
        ]
        total = len(matching)
        uids = matching[offset : offset + limit if limit is not None else None]
    if uids:
        # The following batch items may name the object found without a Unique Identifier (OASIS TL-M-3: Locate
        # then Get in one batch); the first one is the one a Maximum Items of 1 selects.
        ctx.batch.id_placeholder = uids[0]
    return S.LocateResponse(located_items=total, unique_identifier=list(uids))


def build_query(attrs: Attributes) -> LocateQuery:
    """The indexed part of a Locate request's attributes (the Cosmian tag attribute is removed from ``attrs``)."""
    query = LocateQuery()
    tags = tags_from_attributes(attrs)
    if tags:
        query.tags = tags
    remove_tag_attribute(attrs)
    query.object_type = _single(attrs, Tag.OBJECT_TYPE)
    query.cryptographic_algorithm = _single(attrs, Tag.CRYPTOGRAPHIC_ALGORITHM)
    query.cryptographic_length = _single(attrs, Tag.CRYPTOGRAPHIC_LENGTH)
    query.cryptographic_usage_mask = _single(attrs, Tag.CRYPTOGRAPHIC_USAGE_MASK)
    query.state = _single(attrs, Tag.STATE)
    query.names = [n.name_value for n in attrs.get_all(Tag.NAME) if isinstance(n, S.Name)]
    query.object_groups = [g for g in attrs.get_all(Tag.OBJECT_GROUP) if isinstance(g, str)]
    query.links = links_of(attrs)
    for tag in DATE_TAGS:
        values = [v for v in attrs.get_all(tag) if isinstance(v, int)]
        if len(values) == 1:
            query.date_ranges[int(tag)] = (values[0], values[0])
        elif len(values) >= 2:
            query.date_ranges[int(tag)] = (min(values), max(values))
    return query


def _single(attrs: Attributes, tag: int) -> Any:
    values = attrs.get_all(tag)
    if len(values) > 1:
        raise KmipError(ResultReason.INVALID_FIELD, f"{Tag(tag).name} given more than once in Locate")
    value = values[0] if values else None
    return int(value) if isinstance(value, int) else value


def _residual_match(object_attrs: Attributes, wanted: list[tuple[int, Any]]) -> bool:
    return all(value in object_attrs.get_all(tag) for tag, value in wanted)


__all__ = ["build_query", "handle"]
