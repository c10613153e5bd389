"""The request context handed to every operation handler, and access control (enforced here, in one place).

Handlers never fetch objects from the store directly: ``ctx.load(uid, operation)`` resolves the identifier (ID
Placeholder, response-relative Integer, Cosmian tag list), fetches the object and checks that ``ctx.user`` may
perform ``operation`` on it. ``ctx.check_create()`` guards every operation that creates objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from ..kmip._registry_data import Operation, ResultReason, Tag
from ..kmip._registry_data import UniqueIdentifier as UidEnum
from ..kmip.errors import KmipError
from ..kmip.registry import ProtocolVersion
from ..kmip.translate import V1Item
from ..kmip.ttlv import Item
from ..store.base import EVERYONE, LocateQuery, NameConflict, StoreConflict, StoredObject, StoreTransaction
from . import keysets
from .keysource import not_supported
from .lifecycle import refresh_state
from .objects import ManagedObject, parse_tag_list

if TYPE_CHECKING:
    from .engine import Engine

#: Operations a grant to EVERYONE never confers: they need a grant naming the user (and owners keep them).
EXPLICIT_ONLY = frozenset({Operation.DESTROY, Operation.REVOKE})
#: The operations whose KMIP 2.1 error tables name Item Not Found for a missing object (§6.1.3 Adjust Attribute,
#: §6.1.6 Certify, §6.1.10 Create Split Key); every other table names Object Not Found, which 2.0 added (1.x
#: clients get Item Not Found through ``reason_for_version``).
_ITEM_NOT_FOUND_OPERATIONS = frozenset({Operation.ADJUST_ATTRIBUTE, Operation.CERTIFY, Operation.CREATE_SPLIT_KEY})
#: The reasons a missing object is reported with: callers that tolerate a missing object test membership.
NOT_FOUND = frozenset({ResultReason.ITEM_NOT_FOUND, ResultReason.OBJECT_NOT_FOUND})


def object_not_found(message: str, operation: int | None) -> KmipError:
    """The error for a missing object in ``operation``, with the reason its 2.1 error table names."""
    reason = ResultReason.ITEM_NOT_FOUND if operation in _ITEM_NOT_FOUND_OPERATIONS else ResultReason.OBJECT_NOT_FOUND
    return KmipError(reason, message)


@dataclass
class BatchState:
    """What batch items of one request message share (KMIP 2.1 §6.1: ID Placeholder; 2.x Integer uids)."""

    id_placeholder: str | None = None
    #: Unique Identifiers returned so far in this response, for 2.x "Integer" references (§11.56 note).
    returned_uids: list[str] = field(default_factory=list)
    #: The 1.x side of the current item (None for a 2.x request).
    v1: V1Item | None = None
    #: The operation whose response the current item carries when it is not the item's own (Poll, KMIP 2.1 §6.1.38).
    answered_operation: Operation | None = None
    #: The request header's Asynchronous Indicator (1.x Boolean, 2.x enumeration), None if absent.
    asynchronous: object = None

    def returned(self, uid: str, *, placeholder: bool = True) -> str:
        """Record a Unique Identifier returned by a batch item (2.x Integer references) and, unless
        ``placeholder`` is False, make it the ID Placeholder for the next items."""
        if placeholder:
            self.id_placeholder = uid
        self.returned_uids.append(uid)
        return uid


@dataclass
class RequestContext:
    """Everything a handler needs: who asks, in which protocol version, at what time, in which transaction."""

    engine: Engine
    tx: StoreTransaction
    user: str
    version: ProtocolVersion
    now: int
    batch: BatchState = field(default_factory=BatchState)
    #: Objects loaded in this batch item (uid -> object), so a handler and its helpers share one copy.
    cache: dict[str, ManagedObject] = field(default_factory=dict)
    #: Objects whose kept copies and decisions the engine drops once this item committed (``forget``).
    forgotten: list[str] = field(default_factory=list)

    # -- identifiers -------------------------------------------------------------------------------------------
    def new_uid(self) -> str:
        """A fresh Unique Identifier (random UUID: no information about creation order or owner)."""
        return str(uuid.uuid4())

    def resolve_uid(self, value: Any, operation: int | None = None) -> str:
        """The object a request's Unique Identifier designates (None/ID Placeholder: the batch's placeholder)."""
        if value is None or (isinstance(value, IntEnum) and value == UidEnum.ID_PLACEHOLDER):
            if self.batch.id_placeholder is None:
                raise KmipError(ResultReason.INVALID_FIELD, "no Unique Identifier given and no ID Placeholder is set")
            return self.batch.id_placeholder
        if isinstance(value, Item):
            value = value.value
        if isinstance(value, IntEnum):
            raise KmipError(ResultReason.FEATURE_NOT_SUPPORTED, f"Unique Identifier {value.name} is not supported")
        if isinstance(value, int):
            return self._uid_by_position(value)
        if not isinstance(value, str) or not value:
            raise KmipError(ResultReason.INVALID_FIELD, "invalid Unique Identifier")
        if value.startswith("["):
            return self._uid_by_tags(parse_tag_list(value), operation)
        return value

    def _uid_by_position(self, index: int) -> str:
        uids = self.batch.returned_uids
        try:
            return uids[index]
        except IndexError:
            raise KmipError(ResultReason.INVALID_FIELD, f"no Unique Identifier number {index} in this batch") from None

    def _uid_by_tags(self, tags: list[str], operation: int | None) -> str:
        if not tags:
            raise KmipError(ResultReason.INVALID_FIELD, "an empty tag list designates no object")
        found = self.tx.locate(LocateQuery(tags=tags, user=self.visibility_user(), operation=operation, limit=2))
        if not found:
            raise object_not_found(f"no object has the tags {tags}", operation)
        if len(found) > 1:
            raise KmipError(
                ResultReason.INVALID_FIELD,
                f"the tags {tags} designate more than one object (the identifier resolves to several)",
            )
        return found[0]

    def visibility_user(self) -> str | None:
        """The user Locate results are limited to (None for administrators, who see everything)."""
        return None if self.user in self.engine.config.admin_users else self.user

    # -- loading and saving, with access control -----------------------------------------------------------------
    def load(
        self,
        value: Any,
        operation: int,
        *,
        with_object: bool = True,
        for_update: bool = False,
        consequence_of: ManagedObject | None = None,
    ) -> ManagedObject:
        """Fetch the object designated by ``value`` for ``operation``, checking the user's right to it.

        ``consequence_of``: the server changes this object because of an operation already authorised on that
        one (the public half of a key pair being re-keyed); the right is checked on that object instead.
        """
        uid = self.resolve_uid(value, operation)
        hsm = self.engine.hsm
        if hsm is not None and hsm.names(uid):
            # A key that lives in the HSM: its handlers ask the key source (handlers/_hsm_keys); no other does.
            raise not_supported(operation)
        mo = self.cache.get(uid)
        if mo is None:
            record = self._read(uid, for_update)
            if record is None:
                member = keysets.select(self, uid, operation) if not uid.startswith("[") else None
                if member is not None and member != uid:  # a key set's name (name, name@latest, name@N…)
                    return self.load(
                        member, operation, with_object=with_object, for_update=for_update, consequence_of=consequence_of
                    )
                raise object_not_found(f"object {uid} not found", operation)
            mo = self.engine.records.from_record(record, with_object=with_object)
            self.cache[uid] = mo
            if refresh_state(mo, self.now):  # an Activation/Deactivation Date passed since the last write
                self.save(mo, touch=False)
        elif with_object:
            self.engine.records.load_object(mo)
        self.authorize(consequence_of or mo, operation)
        return mo

    def _read(self, uid: str, for_update: bool) -> StoredObject | None:
        """The stored record of ``uid``: kept from an earlier request while the store's change stamp holds
        (``caches.hot``), else read (and kept when this transaction has written nothing)."""
        hot = self.engine.caches.hot
        if hot is None or for_update:
            return self.tx.get(uid, for_update=for_update)
        stamp = self.tx.change_stamp()
        if stamp is None:
            return self.tx.get(uid)
        record = hot.record(uid, stamp)
        if record is None:
            record = self.tx.get(uid)
            if record is not None:
                hot.keep_record(uid, stamp, record)
        return record

    def _grants(self, uid: str) -> dict[str, set[int]]:
        hot = self.engine.caches.hot
        stamp = self.tx.change_stamp() if hot is not None else None
        if hot is None or stamp is None:
            return self.tx.grants(uid)
        granted = hot.grants(uid, stamp)
        if granted is None:
            granted = self.tx.grants(uid)
            hot.keep_grants(uid, stamp, granted)
        return granted

    def authorize(self, mo: ManagedObject, operation: int) -> None:
        """Raise Permission Denied unless ``self.user`` may perform ``operation`` on ``mo``: its owner and the
        administrators may do everything, others what they were granted."""
        user = self.user
        if user == mo.owner or user in self.engine.config.admin_users:
            return
        self._granted(mo.uid, operation, "object")

    def authorize_key(self, uid: str, operation: int, *, owners: frozenset[str]) -> None:
        """``authorize`` for a key the store does not hold (an HSM key, ``handlers/_hsm_keys``): ``owners`` play the
        owner's part, others need a grant on ``uid`` as for stored objects."""
        if self.user in owners:
            return
        self._granted(uid, operation, "the HSM key")

    def _granted(self, uid: str, operation: int, what: str) -> None:
        user = self.user
        granted = self._grants(uid)
        if operation in granted.get(user, ()):
            return
        if operation not in EXPLICIT_ONLY and operation in granted.get(EVERYONE, ()):
            return
        name = Operation(operation).name if operation in Operation._value2member_map_ else str(operation)
        raise KmipError(ResultReason.PERMISSION_DENIED, f"user {user!r} may not {name} {what} {uid}")

    def check_create(self) -> None:
        """Raise Permission Denied if creation is restricted to privileged users and the user is not one."""
        config = self.engine.config
        if not config.privileged_users or self.user in config.admin_users:
            return
        if self.user in config.privileged_users or self.user in self.tx.privileged_users():
            return
        raise KmipError(ResultReason.PERMISSION_DENIED, f"user {self.user!r} may not create objects")

    def insert(self, mo: ManagedObject) -> None:
        """Store a new object owned by the requesting user."""
        try:
            self.tx.insert(self.engine.records.to_record(mo))
        except ValueError as exc:  # a value the store cannot hold (over-long name, tag, uid)
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, str(exc)) from None
        except NameConflict as exc:
            raise KmipError(ResultReason.NON_UNIQUE_NAME_ATTRIBUTE, str(exc)) from None
        except StoreConflict:
            raise KmipError(ResultReason.OBJECT_ALREADY_EXISTS, f"object {mo.uid} already exists") from None
        self.cache[mo.uid] = mo

    def save(self, mo: ManagedObject, *, touch: bool = True) -> None:
        """Write back a changed object; updates Last Change Date unless ``touch`` is False."""
        if touch:
            mo.attributes.set(Tag.LAST_CHANGE_DATE, self.now)
        record = self.engine.records.to_record(mo)
        try:
            self.tx.update(record)
        except ValueError as exc:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, str(exc)) from None
        except NameConflict as exc:
            raise KmipError(ResultReason.NON_UNIQUE_NAME_ATTRIBUTE, str(exc)) from None
        except StoreConflict:
            raise KmipError(
                ResultReason.GENERAL_FAILURE, f"object {mo.uid} was changed concurrently; retry the request"
            ) from None
        mo.revision = record.revision

    def returned(self, uid: str, *, placeholder: bool = True) -> str:
        """Record a Unique Identifier returned by this batch item (``BatchState.returned``)."""
        return self.batch.returned(uid, placeholder=placeholder)

    def forget(self, uid: str) -> None:
        """Have the engine drop every kept copy of ``uid`` and every decision about it once this item committed
        (``caches.EngineCaches.forget``): the object was destroyed, revoked or replaced."""
        self.forgotten.append(uid)


Handler = Callable[[RequestContext, Any], Any]

__all__ = ["EXPLICIT_ONLY", "NOT_FOUND", "BatchState", "Handler", "RequestContext", "object_not_found"]
