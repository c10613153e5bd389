"""Import (KMIP 2.1 §6.1.25): store an object under the Unique Identifier the client gives (an exported object
coming back, or a migration), optionally replacing an existing one; wrapped keys are unwrapped unless the Key
Wrap Type is As Registered."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import KeyWrapType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..keyformats import unwrap_object
from ..lifecycle import SERVER_ONLY, check_client_attributes, key_block, raw_key_material
from ..objects import OBJECT_TYPES
from ._common import new_object
from ._pkcs12 import store_pki_object

#: Imported attributes the server recomputes rather than trusting (identity, lifecycle and derived values).
_RECOMPUTED = {
    Tag.UNIQUE_IDENTIFIER,
    Tag.OBJECT_TYPE,
    Tag.STATE,
    Tag.INITIAL_DATE,
    Tag.LAST_CHANGE_DATE,
    Tag.DIGEST,
    Tag.FRESH,
    Tag.ALWAYS_SENSITIVE,
    Tag.NEVER_EXTRACTABLE,
    Tag.KEY_FORMAT_TYPE,
}


def handle(ctx: RequestContext, request: S.ImportRequest) -> S.ImportResponse:
    ctx.check_create()
    uid = ctx.resolve_uid(request.unique_identifier, Operation.IMPORT)
    obj = request.managed_object
    object_type = request.object_type
    if OBJECT_TYPES.get(type(obj)) != object_type:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"the object is not a {ObjectType(object_type).name}")
    existing = ctx.tx.get(uid)
    if existing is not None:
        if not request.replace_existing:
            raise KmipError(ResultReason.OBJECT_ALREADY_EXISTS, f"object {uid} exists; set Replace Existing")
        ctx.load(uid, Operation.IMPORT, with_object=False)  # only someone allowed to Import over it may replace it
        ctx.tx.delete(uid)
        ctx.cache.pop(uid, None)
    attrs = Attributes([(t, v) for t, v in request.attributes if t not in _RECOMPUTED])
    check_client_attributes(attrs, allowed_server=frozenset(SERVER_ONLY))
    if request.key_wrap_type != KeyWrapType.AS_REGISTERED:
        obj = unwrap_object(ctx, obj)  # type: ignore[assignment]
    pki = store_pki_object(ctx, obj, attrs, uid=uid)  # certificates, CSRs, PKCS#7 and PKCS#12 (handlers/_pki)
    if pki is not None:
        return S.ImportResponse(unique_identifier=ctx.returned(pki.uid))
    block = key_block(obj)
    mo = new_object(
        ctx,
        ObjectType(object_type),
        obj,
        attrs,
        uid=uid,
        key_material=raw_key_material(obj),
        key_format_type=block.key_format_type if block is not None else None,
    )
    return S.ImportResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
