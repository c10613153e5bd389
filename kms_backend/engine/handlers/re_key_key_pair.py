"""Re-key Key Pair (KMIP 2.1 §6.1.47): a new key pair replacing an existing one (same algorithm and size)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from .. import keysets
from ..context import RequestContext
from ..lifecycle import check_client_attributes
from ..objects import ManagedObject
from ._keypairs import create_pair, key_pair_parameters
from ._links import link_target
from ._rekey import check_not_destroyed, replaced_link, retire, successor_attributes


def handle(ctx: RequestContext, request: S.ReKeyKeyPairRequest) -> S.ReKeyKeyPairResponse:
    old_private = ctx.load(
        request.private_key_unique_identifier, Operation.RE_KEY_KEY_PAIR, with_object=False, for_update=True
    )
    if old_private.object_type != ObjectType.PRIVATE_KEY:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "Re-key Key Pair needs the private key's identifier")
    check_not_destroyed(old_private, "private key")
    # Pre-Active, Deactivated and Compromised pairs may be replaced: §6.1.47's error table has no Wrong Key Lifecycle
    # State, and KMIP clients (PyKMIP) re-key pairs they have just created. Cosmian KMS refuses Pre-Active pairs.
    keysets.check_latest(ctx, old_private, Operation.RE_KEY_KEY_PAIR)
    old_public = _linked_public(ctx, old_private)
    if old_public is None:
        # A pair is re-keyed as a pair: without its Public Key Link the server cannot retire the old public key.
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE, f"private key {old_private.uid} has no PublicKeyLink to its public key"
        )
    for given in (request.common_attributes, request.private_key_attributes, request.public_key_attributes):
        if given is not None:
            check_client_attributes(given)
    private_attrs = successor_attributes(
        old_private, _merge(request.common_attributes, request.private_key_attributes), ctx.now, request.offset
    )
    public_attrs = successor_attributes(
        old_public, _merge(request.common_attributes, request.public_key_attributes), ctx.now, request.offset
    )
    parameters = key_pair_parameters(private_attrs)
    uid = ctx.new_uid()
    retire(old_private, uid)
    ctx.save(old_private)
    ctx.forget(old_private.uid)
    retire(old_public, f"{uid}_pk")
    ctx.save(old_public)
    ctx.forget(old_public.uid)
    public_attrs.add(Tag.LINK, replaced_link(old_public.uid))
    private_attrs.add(Tag.LINK, replaced_link(old_private.uid))
    if keysets.rotate_name(old_private) is not None:  # the next generation of the key set
        private_attrs.set(Tag.ROTATE_GENERATION, keysets.generation(old_private) + 1)
    private, public = create_pair(ctx, private_attrs, public_attrs, parameters, uid=uid)
    ctx.returned(private.uid)
    ctx.returned(public.uid, placeholder=False)
    return S.ReKeyKeyPairResponse(private_key_unique_identifier=private.uid, public_key_unique_identifier=public.uid)


def _linked_public(ctx: RequestContext, private: ManagedObject) -> ManagedObject | None:
    public_uid = link_target(private.attributes, LinkType.PUBLIC_KEY_LINK)
    if public_uid is None:
        return None
    return ctx.load(public_uid, Operation.RE_KEY_KEY_PAIR, with_object=False, consequence_of=private)


def _merge(common: Attributes | None, specific: Attributes | None) -> Attributes | None:
    if common is None and specific is None:
        return None
    return Attributes([*(common or ()), *(specific or ())])


__all__ = ["handle"]
