"""Set Attribute (KMIP 2.1 §6.1.51): create the attribute if the object has no instance of it, replace it if it
has exactly one; more than one instance is Multi Valued Attribute. Attributes a client may not change are Read
Only Attribute (§4 rules tables). The Cosmian tag vendor attribute replaces the object's user tags.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from .. import keysets
from ..context import RequestContext
from ..lifecycle import refresh_state
from . import _attributes as A


def handle(ctx: RequestContext, request: S.SetAttributeRequest) -> S.SetAttributeResponse:
    tag, value, key = A.new_attribute(request)
    mo = ctx.load(request.unique_identifier, Operation.SET_ATTRIBUTE, with_object=False, for_update=True)
    if key == A.TAGS_KEY:
        A.set_user_tags(mo, A.tags_in(tag, value))
    else:
        A.check_modifiable(ctx, mo, key, ResultReason.READ_ONLY_ATTRIBUTE)
        found = A.positions(mo.attributes, key)
        if len(found) > 1:
            raise KmipError(
                ResultReason.MULTI_VALUED_ATTRIBUTE,
                f"the object has {len(found)} instances of {A.attribute_name(key)}: use Modify Attribute",
            )
        if tag == Tag.ROTATE_NAME and isinstance(value, S.RotateName):
            keysets.check_name(value.rotate_name_value)
        if found:
            A.check_name_unique(mo, tag, value, skip=found[0])
            mo.attributes.entries[found[0]] = (tag, value)
        else:
            mo.attributes.add(tag, value)
        if tag == Tag.ROTATE_NAME and isinstance(value, S.RotateName):
            keysets.join(mo, value.rotate_name_value)  # the key now answers for its set (engine/keysets.py)
        refresh_state(mo, ctx.now)  # an Activation/Deactivation Date already reached takes effect now
    ctx.save(mo)
    return S.SetAttributeResponse(unique_identifier=ctx.returned(mo.uid))


__all__ = ["handle"]
