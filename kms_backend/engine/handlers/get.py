"""Get (KMIP 2.1 §6.1.19): return a managed object, in the requested Key Format Type, optionally wrapped."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import KeyCompressionType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import BatchState, RequestContext
from ..keyformats import convert_key_format, wrap_for_export
from ..lifecycle import key_block, require_material
from ..plans import Plan, answer, decided
from . import _hsm_keys
from ._pkcs12 import export_pki_object


def handle(ctx: RequestContext, request: S.GetRequest) -> S.GetResponse:
    hsm = _hsm_keys.source(ctx, request.unique_identifier)
    if hsm is not None:  # a key that lives in the HSM
        response: S.GetResponse = _hsm_keys.use(ctx, hsm, Operation.GET, request)
        return response
    response = answer(ctx, request, decide, execute)
    return response


def decide(ctx: RequestContext, request: S.GetRequest) -> Plan:
    """Access and the object as exported (format converted, wrapped if asked, sensitivity enforced). A client that
    gets one key over and over meets the kept decision (``plans``) until anything in the store changes."""
    mo = ctx.load(request.unique_identifier, Operation.GET)
    managed_object = export_object(ctx, mo, request)
    if mo.attributes.get(Tag.FRESH):  # §4.24: no longer fresh once it has been served to a client
        mo.attributes.set(Tag.FRESH, False)
        ctx.save(mo, touch=False)  # a write: this decision is not kept
    return decided(ctx, Operation.GET, request, mo, (mo.object_type, managed_object))


def execute(plan: Plan, request: S.GetRequest, batch: BatchState) -> S.GetResponse:
    """The Get response of ``plan``'s exported object; the one place a Get response is built."""
    object_type, managed_object = plan.run
    return S.GetResponse(
        object_type=object_type,
        unique_identifier=batch.returned(plan.uid),
        managed_object=managed_object,
    )


def export_object(ctx: RequestContext, mo: object, request: S.GetRequest | S.ExportRequest) -> object:
    """The object's content as Get/Export return it: format converted, wrapped if asked, sensitivity enforced."""
    from ..objects import ManagedObject

    assert isinstance(mo, ManagedObject)
    obj = require_material(mo)
    pki = export_pki_object(ctx, mo, request)  # PKCS#12, PKCS#7 and certificate formats (handlers/_pki)
    if pki is not None:
        return pki
    if request.key_compression_type not in (None, KeyCompressionType.EC_PUBLIC_KEY_TYPE_UNCOMPRESSED):
        raise KmipError(ResultReason.KEY_COMPRESSION_TYPE_NOT_SUPPORTED, "key compression is not supported")
    has_key = key_block(obj) is not None
    if has_key and not mo.attributes.get(Tag.EXTRACTABLE, True):
        raise KmipError(ResultReason.NOT_EXTRACTABLE, f"object {mo.uid} is not extractable")
    if request.key_format_type is not None:
        obj = convert_key_format(obj, request.key_format_type)
    spec = request.key_wrapping_specification
    if spec is not None:
        return wrap_for_export(ctx, mo, obj, spec)
    if has_key and mo.attributes.get(Tag.SENSITIVE, False):
        raise KmipError(ResultReason.SENSITIVE, f"object {mo.uid} is sensitive: it can only be exported wrapped")
    return obj


__all__ = ["decide", "execute", "export_object", "handle"]
