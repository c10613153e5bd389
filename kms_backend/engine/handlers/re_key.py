"""Re-key (KMIP 2.1 §6.1.46): a new symmetric key replacing an existing one, with its attributes and Names."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import DESTROYED_STATES, check_client_attributes
from ._common import new_object, server_generated, symmetric_key_object, symmetric_parameters
from ._rekey import replaced_link, retire, successor_attributes


def handle(ctx: RequestContext, request: S.ReKeyRequest) -> S.ReKeyResponse:
    old = ctx.load(request.unique_identifier, Operation.RE_KEY, with_object=False, for_update=True)
    if old.object_type != ObjectType.SYMMETRIC_KEY:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "Re-key replaces symmetric keys; use Re-key Key Pair")
    if old.state in DESTROYED_STATES:
        raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"object {old.uid} is destroyed")
    if request.attributes is not None:
        check_client_attributes(request.attributes)
    attrs = successor_attributes(old, request.attributes, ctx.now, request.offset)
    algorithm, length = symmetric_parameters(attrs)
    material = crypto.generate_symmetric_key(
        CryptographicAlgorithm(algorithm), length, approved_only=ctx.engine.config.approved_only
    )
    uid = ctx.new_uid()
    # The old key gives up its Names first: names are unique per object type among live objects.
    retire(old, uid)
    ctx.save(old)
    ctx.forget(old.uid)
    attrs.add(Tag.LINK, replaced_link(old.uid))
    server_generated(attrs)
    mo = new_object(
        ctx,
        ObjectType.SYMMETRIC_KEY,
        symmetric_key_object(algorithm, length, material),
        attrs,
        uid=uid,
        key_material=material,
        key_format_type=KeyFormatType.RAW,
    )
    return S.ReKeyResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
