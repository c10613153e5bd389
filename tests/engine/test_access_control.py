"""Access control, for every routed operation (the engine's ``context.authorize`` / ``check_create``).

Every operation the router knows must appear in ``REQUESTS`` below (a test fails otherwise), so a new handler is
covered as soon as it is routed: on another user's object it is Permission Denied without a grant and allowed
with one; a grant to everyone (``*``) allows it too, except Destroy and Revoke, which need a grant naming the user;
owners and administrators are always allowed. Operations that create objects are limited to privileged users when
the server restricts creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kms_backend.engine import Engine, EngineConfig, access
from kms_backend.engine.router import ROUTES
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    AdjustmentType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ItemType,
    KeyFormatType,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    RevocationReasonCode,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.kmip.ttlv import Item
from kms_backend.store.base import EVERYONE
from kms_backend.store.memory import MemoryStore

from .conftest import ADMIN, NOW, OTHER, OWNER, Clock, Kms, create_request

# -- one minimal valid request per operation -------------------------------------------------------------------

#: What every object-level request acts on: a fresh Pre-Active AES key with a few client attributes.
TARGET_ATTRIBUTES = (
    (Tag.COMMENT, "comment"),
    (Tag.OBJECT_GROUP, "group"),
    (Tag.DEACTIVATION_DATE, NOW + 10**6),
)


def _symmetric_key() -> S.SymmetricKey:
    return S.SymmetricKey(
        key_block=S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValue(key_material=bytes(range(32))),
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            cryptographic_length=256,
        )
    )


def _key_pair_request() -> S.CreateKeyPairRequest:
    return S.CreateKeyPairRequest(
        common_attributes=Attributes(
            [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048)]
        )
    )


def _new_key(kms: Kms) -> str:
    return kms.create_key(*TARGET_ATTRIBUTES)


def _new_private_key(kms: Kms) -> str:
    return str(kms.run(Operation.CREATE_KEY_PAIR, _key_pair_request()).private_key_unique_identifier)


@dataclass(frozen=True)
class Case:
    """How to exercise one operation: ``object`` acts on an existing object, ``create`` makes new objects,
    ``server`` concerns no object."""

    kind: str
    request: Callable[[str], Struct]
    setup: Callable[[Kms], str] = _new_key


REQUESTS: dict[Operation, Case] = {
    Operation.DISCOVER_VERSIONS: Case("server", lambda _: S.DiscoverVersionsRequest()),
    Operation.QUERY: Case("server", lambda _: S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])),
    Operation.LOCATE: Case("server", lambda _: S.LocateRequest()),
    Operation.CREATE: Case("create", lambda _: create_request()),
    Operation.REGISTER: Case(
        "create",
        lambda _: S.RegisterRequest(
            object_type=ObjectType.SYMMETRIC_KEY, attributes=Attributes(), managed_object=_symmetric_key()
        ),
    ),
    Operation.CREATE_KEY_PAIR: Case("create", lambda _: _key_pair_request()),
    Operation.IMPORT: Case(
        "create",
        lambda hint: S.ImportRequest(
            unique_identifier=f"imported-{hint}",
            object_type=ObjectType.SYMMETRIC_KEY,
            attributes=Attributes(),
            managed_object=_symmetric_key(),
        ),
    ),
    Operation.GET: Case("object", lambda uid: S.GetRequest(unique_identifier=uid)),
    Operation.EXPORT: Case("object", lambda uid: S.ExportRequest(unique_identifier=uid)),
    Operation.GET_ATTRIBUTES: Case("object", lambda uid: S.GetAttributesRequest(unique_identifier=uid)),
    Operation.GET_ATTRIBUTE_LIST: Case("object", lambda uid: S.GetAttributeListRequest(unique_identifier=uid)),
    Operation.ACTIVATE: Case("object", lambda uid: S.ActivateRequest(unique_identifier=uid)),
    Operation.REVOKE: Case(
        "object",
        lambda uid: S.RevokeRequest(
            unique_identifier=uid,
            revocation_reason=S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION),
        ),
    ),
    Operation.DESTROY: Case("object", lambda uid: S.DestroyRequest(unique_identifier=uid)),
    Operation.ADD_ATTRIBUTE: Case(
        "object",
        lambda uid: S.AddAttributeRequest(
            unique_identifier=uid, new_attribute=Attributes([(Tag.OBJECT_GROUP, "another")])
        ),
    ),
    Operation.SET_ATTRIBUTE: Case(
        "object",
        lambda uid: S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "new")])),
    ),
    Operation.MODIFY_ATTRIBUTE: Case(
        "object",
        lambda uid: S.ModifyAttributeRequest(
            unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "modified")])
        ),
    ),
    Operation.DELETE_ATTRIBUTE: Case(
        "object", lambda uid: S.DeleteAttributeRequest(unique_identifier=uid, attribute_reference=Tag.COMMENT)
    ),
    Operation.ADJUST_ATTRIBUTE: Case(
        "object",
        lambda uid: S.AdjustAttributeRequest(
            unique_identifier=uid,
            attribute_reference=Tag.DEACTIVATION_DATE,
            adjustment_type=AdjustmentType.INCREMENT,
            adjustment_value=Item(Tag.ADJUSTMENT_VALUE, ItemType.INTERVAL, 60),
        ),
    ),
    Operation.ARCHIVE: Case("object", lambda uid: S.ArchiveRequest(unique_identifier=uid)),
    Operation.RECOVER: Case("object", lambda uid: S.RecoverRequest(unique_identifier=uid)),
    Operation.CHECK: Case(
        "object",
        lambda uid: S.CheckRequest(unique_identifier=uid, cryptographic_usage_mask=CryptographicUsageMask.ENCRYPT),
    ),
    Operation.RE_KEY: Case("object", lambda uid: S.ReKeyRequest(unique_identifier=uid)),
    Operation.RE_KEY_KEY_PAIR: Case(
        "object", lambda uid: S.ReKeyKeyPairRequest(private_key_unique_identifier=uid), _new_private_key
    ),
}

ROUTED = sorted(ROUTES)
OBJECT_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "object"]
CREATE_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "create"]
SERVER_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "server"]
EXPLICIT_ONLY = {Operation.DESTROY, Operation.REVOKE}


def test_every_routed_operation_has_a_request_here(kms: Kms) -> None:
    missing = [op.name for op in kms.engine.routes if op not in REQUESTS]
    assert not missing, f"add a minimal request for {missing} to REQUESTS so access control covers it"


def _attempt(kms: Kms, operation: Operation, payload: Struct, user: str) -> KmipError | None:
    try:
        kms.run(operation, payload, user)
    except KmipError as exc:
        return exc
    return None


def _allowed(kms: Kms, operation: Operation, uid: str, user: str) -> None:
    error = _attempt(kms, operation, REQUESTS[operation].request(uid), user)
    assert error is None, f"{user} should be allowed {operation.name}: {error!r}"


def _denied(kms: Kms, operation: Operation, uid: str, user: str) -> None:
    error = _attempt(kms, operation, REQUESTS[operation].request(uid), user)
    assert error is not None, f"{user} should not be allowed {operation.name}"
    assert error.reason == ResultReason.PERMISSION_DENIED


# -- operations on objects -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_another_user_needs_a_grant(kms: Kms, operation: Operation) -> None:
    case = REQUESTS[operation]
    uid = case.setup(kms)
    _denied(kms, operation, uid, OTHER)
    kms.grant(uid, OTHER, [Operation.GET_ATTRIBUTES, Operation.GET])  # other rights do not help
    if operation not in (Operation.GET_ATTRIBUTES, Operation.GET):
        _denied(kms, operation, uid, OTHER)
    kms.grant(uid, OTHER, [operation])
    _allowed(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_a_grant_to_everyone(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    kms.grant(uid, EVERYONE, [operation])
    if operation in EXPLICIT_ONLY:
        _denied(kms, operation, uid, OTHER)
    else:
        _allowed(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_owner_and_administrators_are_always_allowed(kms: Kms, operation: Operation) -> None:
    _allowed(kms, operation, REQUESTS[operation].setup(kms), OWNER)
    _allowed(kms, operation, REQUESTS[operation].setup(kms), ADMIN)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_a_revoked_grant_no_longer_allows(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    kms.grant(uid, OTHER, [operation])
    access.revoke(kms.engine, OWNER, uid, OTHER, [operation])
    _denied(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_refused_requests_change_nothing(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    before = kms.attributes(uid)
    _denied(kms, operation, uid, OTHER)
    assert kms.attributes(uid) == before


def test_denial_through_an_id_placeholder_batch(kms: Kms) -> None:
    uid = _new_key(kms)
    response = kms.batch(
        (Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=uid)),
        (Operation.ACTIVATE, S.ActivateRequest()),
        user=OTHER,
    )
    assert response.batch_item[0].result_reason == ResultReason.PERMISSION_DENIED
    assert len(response.batch_item) == 1


def test_only_owners_and_administrators_grant(kms: Kms) -> None:
    uid = _new_key(kms)
    with pytest.raises(KmipError) as info:
        access.grant(kms.engine, OTHER, uid, OTHER, [Operation.GET])
    assert info.value.reason == ResultReason.PERMISSION_DENIED
    access.grant(kms.engine, ADMIN, uid, OTHER, [Operation.GET])
    _allowed(kms, Operation.GET, uid, OTHER)


# -- operations that create objects ----------------------------------------------------------------------------


@pytest.fixture
def restricted(clock: Clock) -> Kms:
    """A server where only ``alice`` (and administrators) may create objects."""
    store = MemoryStore()
    config = EngineConfig(admin_users=frozenset({ADMIN}), privileged_users=frozenset({OWNER}))
    return Kms(engine=Engine(store, config, clock=clock), clock=clock, store=store)


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_creation_is_limited_to_privileged_users(restricted: Kms, operation: Operation) -> None:
    request: Callable[[str], Any] = REQUESTS[operation].request  # the argument keeps imported uids apart
    error = _attempt(restricted, operation, request("1"), OTHER)
    assert error is not None
    assert error.reason == ResultReason.PERMISSION_DENIED
    assert list(restricted.store.all_uids()) == []
    assert _attempt(restricted, operation, request("2"), OWNER) is None
    access.set_privileged(restricted.engine, ADMIN, OTHER, True)
    assert _attempt(restricted, operation, request("3"), OTHER) is None


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_administrators_always_create(restricted: Kms, operation: Operation) -> None:
    assert _attempt(restricted, operation, REQUESTS[operation].request(""), ADMIN) is None


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_anyone_creates_when_creation_is_not_restricted(kms: Kms, operation: Operation) -> None:
    assert _attempt(kms, operation, REQUESTS[operation].request(""), OTHER) is None


def test_only_administrators_manage_privileged_users(restricted: Kms) -> None:
    with pytest.raises(KmipError) as info:
        access.set_privileged(restricted.engine, OWNER, OTHER, True)
    assert info.value.reason == ResultReason.PERMISSION_DENIED


# -- operations that concern no object -------------------------------------------------------------------------


@pytest.mark.parametrize("operation", SERVER_OPERATIONS, ids=lambda op: op.name)
def test_server_operations_are_open_to_every_user(kms: Kms, operation: Operation) -> None:
    assert _attempt(kms, operation, REQUESTS[operation].request(""), OTHER) is None
