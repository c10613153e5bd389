"""``hsm::<slot>::<label>`` keys in the handlers: keys that live in an HSM instead of the store (the Cosmian KMS
convention).

The handlers of Create, Create Key Pair and Destroy hand a request that names such a key to the function of the
same name here, those of Encrypt, Decrypt and Sign (``_paths``) and Get to :func:`use`. Access is checked through the
request context like for any object (``RequestContext.authorize_key``): the HSM administrators play the owner's
part, everybody else needs a grant (the store's grants, managed through ``/access`` as for stored objects).
The key source does the work (``Engine.hsm``, a ``keysource.KeySource``: ``hsm.resident.ResidentKeys``). Every
other operation on such an identifier is Operation Not Supported (``RequestContext.load``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..keysource import KeySource


def source(ctx: RequestContext, uid: object) -> KeySource | None:
    """The key source holding ``uid``, or None when it is an ordinary (stored) object."""
    hsm: KeySource | None = ctx.engine.hsm
    return hsm if hsm is not None and hsm.names(uid) else None


def created(ctx: RequestContext, *attributes: Attributes | None) -> tuple[KeySource, str] | None:
    """The key source a Create / Create Key Pair asks to make its key in, and the identifier it names there (the
    first Unique Identifier attribute of ``attributes`` that names a key of a source), or None."""
    for attrs in attributes:
        uid = attrs.get(Tag.UNIQUE_IDENTIFIER) if isinstance(attrs, Attributes) else None
        keys = source(ctx, uid)
        if keys is not None:
            return keys, str(uid)
    return None


def _require_admin(ctx: RequestContext, keys: KeySource, uid: str, operation: Operation) -> None:
    if ctx.user not in keys.admins:
        raise KmipError(
            ResultReason.PERMISSION_DENIED, f"only HSM administrators may {operation.name} HSM keys ({uid})"
        )


def _single_shot(request: Any, what: str) -> str:
    if request.correlation_value is not None or request.init_indicator or request.final_indicator:
        raise KmipError(ResultReason.FEATURE_NOT_SUPPORTED, f"streaming {what} is not supported on HSM keys")
    return str(request.unique_identifier)


def create(ctx: RequestContext, keys: KeySource, uid: str, request: S.CreateRequest) -> S.CreateResponse:
    _require_admin(ctx, keys, uid, Operation.CREATE)
    response = keys.create(uid, request)
    ctx.returned(uid)
    return response


def create_key_pair(
    ctx: RequestContext, keys: KeySource, uid: str, request: S.CreateKeyPairRequest
) -> S.CreateKeyPairResponse:
    _require_admin(ctx, keys, uid, Operation.CREATE_KEY_PAIR)
    response = keys.create_key_pair(uid, request)
    ctx.returned(str(response.private_key_unique_identifier), placeholder=False)
    ctx.returned(str(response.public_key_unique_identifier), placeholder=False)
    return response


#: What the key source does for each operation that uses one of its keys (``KeySource``).
_USES: dict[Operation, Callable[[KeySource, str, Any], Any]] = {
    Operation.ENCRYPT: lambda keys, uid, request: keys.encrypt(uid, request),
    Operation.DECRYPT: lambda keys, uid, request: keys.decrypt(uid, request),
    Operation.SIGN: lambda keys, uid, request: keys.sign(uid, request),
    Operation.GET: lambda keys, uid, request: keys.get(uid, request),
}


def use(ctx: RequestContext, keys: KeySource, operation: Operation, request: Any) -> Any:
    """Encrypt, Decrypt, Sign (single-shot: the HSM keeps no stream across requests) or Get with the key the
    request names, access checked like for a stored object."""
    uid = str(request.unique_identifier)
    if operation != Operation.GET and (
        request.correlation_value is not None or request.init_indicator or request.final_indicator
    ):
        name = operation.name.replace("_", " ").title()
        raise KmipError(ResultReason.FEATURE_NOT_SUPPORTED, f"streaming {name} is not supported on HSM keys")
    ctx.authorize_key(uid, operation, owners=keys.admins)
    response = _USES[operation](keys, uid, request)
    ctx.returned(uid)
    return response


def destroy(ctx: RequestContext, keys: KeySource, request: S.DestroyRequest) -> S.DestroyResponse:
    """Destroy the key in its source and withdraw every grant on its identifier."""
    uid = str(request.unique_identifier)
    ctx.authorize_key(uid, Operation.DESTROY, owners=keys.admins)
    keys.destroy(uid)
    for user, operations in ctx.tx.grants(uid).items():
        ctx.tx.revoke(uid, user, sorted(operations))
    ctx.forget(uid)
    return S.DestroyResponse(unique_identifier=ctx.returned(uid))


__all__ = ["create", "create_key_pair", "created", "destroy", "source", "use"]
