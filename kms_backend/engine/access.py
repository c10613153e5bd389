"""Access-rights administration (the engine side of HTTP ``/access/*``): owners grant and revoke per-operation
rights on their objects to users or to everyone (``*``); administrators manage privileged (creating) users.

Operation names follow Cosmian KMS's access API: lower-case KMIP operation names without separators
(``get``, ``encrypt``, ``getattributes``, ``destroy``...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..kmip._registry_data import Operation, ResultReason, State, Tag
from ..kmip.errors import KmipError
from ..store.base import StoreTransaction
from .engine import Engine

OPERATION_NAMES: dict[str, Operation] = {op.name.replace("_", "").lower(): op for op in Operation}


def operation_from_name(name: str) -> Operation:
    """``"getattributes"`` / ``"Get Attributes"`` / ``"GET_ATTRIBUTES"`` -> Operation.GET_ATTRIBUTES."""
    key = "".join(ch for ch in name if ch.isalnum()).lower()
    try:
        return OPERATION_NAMES[key]
    except KeyError:
        raise KmipError(ResultReason.INVALID_FIELD, f"unknown operation {name!r}") from None


def operation_name(operation: int) -> str:
    return Operation(operation).name.replace("_", "").lower()


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """One line of ``/access/owned`` or ``/access/obtained``."""

    uid: str
    owner: str
    object_type: str
    state: str
    operations: tuple[str, ...] = ()


def _owned_or_admin(engine: Engine, user: str, owner: str, uid: str) -> None:
    if user != owner and user not in engine.config.admin_users:
        raise KmipError(ResultReason.PERMISSION_DENIED, f"only the owner of {uid} may change its access rights")


#: Keys that live in the HSM (``hsm::<slot>::<label>``, as Cosmian KMS names them) have no stored object: the
#: HSM administrators play the owner's part for their access rights.
HSM_PREFIX = "hsm::"


def _hsm_key_admin(engine: Engine, user: str, uid: str) -> bool:
    """True if ``uid`` is an HSM-resident key and ``user`` may manage its rights; Item Not Found without an HSM,
    Permission Denied for other users."""
    if not uid.startswith(HSM_PREFIX):
        return False
    resident = engine.hsm
    if resident is None:
        raise KmipError(ResultReason.ITEM_NOT_FOUND, f"object {uid} not found: no HSM is configured")
    if user not in resident.admins and user not in engine.config.admin_users:
        raise KmipError(ResultReason.PERMISSION_DENIED, f"only HSM administrators manage the rights on {uid}")
    return True


def grant(engine: Engine, user: str, uid: str, target: str, operations: Iterable[str | int]) -> None:
    """``user`` (the owner) allows ``target`` (a user name or ``*``) the listed operations on ``uid``."""
    ops = [operation_from_name(o) if isinstance(o, str) else Operation(o) for o in operations]
    if not ops:
        raise KmipError(ResultReason.INVALID_FIELD, "no operation to grant")
    if not target:
        raise KmipError(ResultReason.INVALID_FIELD, "no user to grant to")
    with engine.store.transaction() as tx:
        if target == _managed_by(engine, tx, user, uid):
            raise KmipError(ResultReason.INVALID_FIELD, "the owner already holds every right")
        tx.grant(uid, target, [int(o) for o in ops])


def revoke(engine: Engine, user: str, uid: str, target: str, operations: Iterable[str | int]) -> None:
    """``user`` (the owner) withdraws the listed operations from ``target`` on ``uid``."""
    ops = [operation_from_name(o) if isinstance(o, str) else Operation(o) for o in operations]
    with engine.store.transaction() as tx:
        _managed_by(engine, tx, user, uid)
        tx.revoke(uid, target, [int(o) for o in ops])


def list_access(engine: Engine, user: str, uid: str) -> dict[str, list[str]]:
    """Who holds which rights on ``uid`` (owner or administrators only)."""
    with engine.store.transaction() as tx:
        _managed_by(engine, tx, user, uid)
        return {u: sorted(operation_name(o) for o in ops) for u, ops in tx.grants(uid).items()}


def _managed_by(engine: Engine, tx: StoreTransaction, user: str, uid: str) -> str | None:
    """The owner of ``uid`` (None for an HSM key) once ``user`` is found to manage its rights: the owner or an
    administrator (for an HSM key, an HSM administrator)."""
    if _hsm_key_admin(engine, user, uid):
        return None
    record = tx.get(uid)
    if record is None:
        raise KmipError(ResultReason.ITEM_NOT_FOUND, f"object {uid} not found")
    _owned_or_admin(engine, user, record.owner, uid)
    return record.owner


def _summary(engine: Engine, record: object, operations: Iterable[int] = ()) -> ObjectSummary:
    mo = engine.records.from_record(record, with_object=False)  # type: ignore[arg-type]
    return ObjectSummary(
        uid=mo.uid,
        owner=mo.owner,
        object_type=mo.object_type.name,
        state=State(mo.attributes.get(Tag.STATE, State.PRE_ACTIVE)).name,
        operations=tuple(sorted(operation_name(o) for o in operations)),
    )


def owned(engine: Engine, user: str) -> list[ObjectSummary]:
    """Objects ``user`` owns."""
    with engine.store.transaction() as tx:
        return [_summary(engine, r) for r in tx.owned(user)]


def obtained(engine: Engine, user: str) -> list[ObjectSummary]:
    """Objects others own on which ``user`` holds rights (directly, not through ``*``)."""
    with engine.store.transaction() as tx:
        return [_summary(engine, r, ops) for r, ops in tx.obtained(user)]


def may_create(engine: Engine, user: str) -> bool:
    """Whether ``user`` may create objects (``/access/create``)."""
    config = engine.config
    if not config.privileged_users or user in config.admin_users or user in config.privileged_users:
        return True
    with engine.store.transaction() as tx:
        return user in tx.privileged_users()


def set_privileged(engine: Engine, user: str, target: str, allowed: bool) -> None:
    """Administrators add or remove privileged (creating) users (``/access/privileged``)."""
    if user not in engine.config.admin_users:
        raise KmipError(ResultReason.PERMISSION_DENIED, "only administrators manage privileged users")
    with engine.store.transaction() as tx:
        tx.set_privileged(target, allowed)


def privileged_users(engine: Engine) -> list[str]:
    with engine.store.transaction() as tx:
        return sorted(set(engine.config.privileged_users) | tx.privileged_users())


__all__ = [
    "ObjectSummary",
    "grant",
    "list_access",
    "may_create",
    "obtained",
    "operation_from_name",
    "operation_name",
    "owned",
    "privileged_users",
    "revoke",
    "set_privileged",
]
