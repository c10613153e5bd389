"""Add Attribute (KMIP 2.1 §6.1.2): add an instance of a multi-valued attribute, or a single-valued attribute the
object does not have yet. Existing values are never changed (Attribute Single Valued otherwise); attributes a
client may not change are Read Only Attribute (§4 rules tables). The Cosmian tag vendor attribute adds tags.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..lifecycle import MULTI_VALUED, refresh_state
from . import _attributes as A


def handle(ctx: RequestContext, request: S.AddAttributeRequest) -> S.AddAttributeResponse:
    tag, value, key = A.new_attribute(request)
    mo = ctx.load(request.unique_identifier, Operation.ADD_ATTRIBUTE, with_object=False, for_update=True)
    if key == A.TAGS_KEY:
        A.set_user_tags(mo, A.user_tags(mo) + A.tags_in(tag, value))
    else:
        A.check_modifiable(ctx, mo, key, ResultReason.READ_ONLY_ATTRIBUTE)
        if A.positions(mo.attributes, key) and tag not in MULTI_VALUED:
            raise KmipError(
                ResultReason.ATTRIBUTE_SINGLE_VALUED,
                f"{A.attribute_name(key)} is single-valued and already set: use Set or Modify Attribute",
            )
        A.check_name_unique(mo, tag, value)
        mo.attributes.add(tag, value)
        refresh_state(mo, ctx.now)  # an Activation/Deactivation Date already reached takes effect now
    ctx.save(mo)
    return S.AddAttributeResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
