"""Re-key (KMIP 2.1 §6.1.46): a new symmetric key replacing an existing one, with its attributes and Names."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Struct
from .. import keysets
from ..context import RequestContext
from ..keyformats import stored_wrapping_key, wrap_with_key
from ..lifecycle import check_client_attributes
from ._common import new_object, server_generated, symmetric_key_object, symmetric_parameters
from ._rekey import check_not_destroyed, replaced_link, retire, successor_attributes


def handle(ctx: RequestContext, request: S.ReKeyRequest) -> S.ReKeyResponse:
    old = ctx.load(request.unique_identifier, Operation.RE_KEY, for_update=True)
    if old.object_type != ObjectType.SYMMETRIC_KEY:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "Re-key replaces symmetric keys; use Re-key Key Pair")
    check_not_destroyed(old, "symmetric key")
    keysets.check_latest(ctx, old, Operation.RE_KEY)
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
    if keysets.rotate_name(old) is not None:  # the next generation of the key set
        attrs.set(Tag.ROTATE_GENERATION, keysets.generation(old) + 1)
    server_generated(attrs)
    obj: Struct = symmetric_key_object(algorithm, length, material)
    wrapping_uid = stored_wrapping_key(old.object)
    if wrapping_uid is not None:  # the replacement is stored wrapped with the same key, as its predecessor was
        obj = wrap_with_key(ctx, uid, obj, wrapping_uid)
    mo = new_object(
        ctx,
        ObjectType.SYMMETRIC_KEY,
        obj,
        attrs,
        uid=uid,
        key_material=material,
        key_format_type=KeyFormatType.RAW,
    )
    return S.ReKeyResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
