"""Object lifecycle (KMIP 2.1 §4.57 State, §6.1.1 Activate, §6.1.44 Revoke, §6.1.15 Destroy) and the dates the
server maintains, with a pinned clock for date-driven transitions."""

from __future__ import annotations

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    ResultReason,
    RevocationReasonCode,
    State,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes

from .conftest import NOW, Kms, create_request, name


def revoke(uid: str, code: RevocationReasonCode = RevocationReasonCode.CESSATION_OF_OPERATION) -> S.RevokeRequest:
    return S.RevokeRequest(unique_identifier=uid, revocation_reason=S.RevocationReason(revocation_reason_code=code))


def test_new_objects_are_pre_active_with_their_dates(kms: Kms) -> None:
    uid = kms.create_key()
    attrs = kms.attributes(uid)
    assert attrs.get(Tag.STATE) == State.PRE_ACTIVE
    assert attrs.get(Tag.INITIAL_DATE) == NOW
    assert attrs.get(Tag.LAST_CHANGE_DATE) == NOW
    assert attrs.get(Tag.ACTIVATION_DATE) is None


def test_activate_then_revoke_then_destroy(kms: Kms) -> None:
    uid = kms.create_key()
    kms.clock.advance(10)
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    attrs = kms.attributes(uid)
    assert (attrs.get(Tag.STATE), attrs.get(Tag.ACTIVATION_DATE)) == (State.ACTIVE, NOW + 10)
    assert attrs.get(Tag.LAST_CHANGE_DATE) == NOW + 10
    kms.clock.advance(10)
    kms.run(Operation.REVOKE, revoke(uid))
    attrs = kms.attributes(uid)
    assert (attrs.get(Tag.STATE), attrs.get(Tag.DEACTIVATION_DATE)) == (State.DEACTIVATED, NOW + 20)
    assert attrs.get(Tag.REVOCATION_REASON).revocation_reason_code == RevocationReasonCode.CESSATION_OF_OPERATION
    kms.clock.advance(10)
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    attrs = kms.attributes(uid)
    assert (attrs.get(Tag.STATE), attrs.get(Tag.DESTROY_DATE)) == (State.DESTROYED, NOW + 30)


def test_activate_twice_is_wrong_state(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    error = kms.fail(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    assert error.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE


def test_destroy_of_an_active_object_is_refused(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    error = kms.fail(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    assert error.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    assert kms.attribute(uid, Tag.STATE) == State.ACTIVE


def test_pre_active_objects_can_be_destroyed(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    assert kms.attribute(uid, Tag.STATE) == State.DESTROYED


def test_compromise(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    kms.clock.advance(5)
    kms.run(Operation.REVOKE, revoke(uid, RevocationReasonCode.KEY_COMPROMISE))
    attrs = kms.attributes(uid)
    assert attrs.get(Tag.STATE) == State.COMPROMISED
    assert attrs.get(Tag.COMPROMISE_DATE) == NOW + 5
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    assert kms.attribute(uid, Tag.STATE) == State.DESTROYED_COMPROMISED


def test_revoke_of_a_deactivated_object_needs_a_compromise_reason(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.REVOKE, revoke(uid))
    assert kms.fail(Operation.REVOKE, revoke(uid)).reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    kms.run(Operation.REVOKE, revoke(uid, RevocationReasonCode.KEY_COMPROMISE))
    assert kms.attribute(uid, Tag.STATE) == State.COMPROMISED


def test_destroyed_object_get_is_object_destroyed(kms: Kms) -> None:
    uid = kms.create_key()
    kms.run(Operation.GET, S.GetRequest(unique_identifier=uid))
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    assert kms.fail(Operation.GET, S.GetRequest(unique_identifier=uid)).reason == ResultReason.OBJECT_DESTROYED
    assert kms.fail(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid)).reason == (
        ResultReason.WRONG_KEY_LIFECYCLE_STATE
    )
    assert kms.storage_status(uid) == 4


def test_destroyed_objects_free_their_names(kms: Kms) -> None:
    uid = kms.create_key((Tag.NAME, name("reused")))
    kms.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
    kms.create_key((Tag.NAME, name("reused")))


def test_activation_date_in_the_past_at_creation_makes_the_object_active(kms: Kms) -> None:
    uid = kms.create_key((Tag.ACTIVATION_DATE, NOW - 1))
    assert kms.attribute(uid, Tag.STATE) == State.ACTIVE


@pytest.mark.parametrize("operation", [Operation.GET_ATTRIBUTES, Operation.GET])
def test_date_driven_activation_and_deactivation(kms: Kms, operation: Operation) -> None:
    uid = kms.create_key((Tag.ACTIVATION_DATE, NOW + 100), (Tag.DEACTIVATION_DATE, NOW + 200))
    assert kms.attribute(uid, Tag.STATE) == State.PRE_ACTIVE
    kms.clock.advance(100)
    # Any access applies the dates that have passed (and persists the new state).
    request = S.GetRequest(unique_identifier=uid) if operation == Operation.GET else None
    if request is not None:
        kms.run(operation, request)
    assert kms.attribute(uid, Tag.STATE) == State.ACTIVE
    kms.clock.advance(100)
    assert kms.attribute(uid, Tag.STATE) == State.DEACTIVATED
    located = kms.run(Operation.LOCATE, S.LocateRequest(attributes=Attributes([(Tag.STATE, State.DEACTIVATED)])))
    assert located.unique_identifier == [uid]


def test_date_driven_transition_is_persisted(kms: Kms) -> None:
    uid = kms.create_key((Tag.ACTIVATION_DATE, NOW + 100))
    kms.clock.advance(150)
    kms.attributes(uid)
    with kms.store.transaction() as tx:
        record = tx.get(uid)
    assert record is not None
    assert record.state == State.ACTIVE


def test_an_active_key_with_a_deactivation_date_reached_cannot_be_reactivated(kms: Kms) -> None:
    uid = kms.create_key((Tag.DEACTIVATION_DATE, NOW + 10))
    kms.clock.advance(10)
    error = kms.fail(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    assert error.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    assert kms.attribute(uid, Tag.STATE) == State.DEACTIVATED


def test_quantum_safe_is_refused_for_keys_that_are_not(kms: Kms) -> None:
    """KMIP 2.1 §4.45 Quantum Safe (OASIS QS-M-2-21): AES-128 and RSA are not, AES-256 is; nothing is stored."""
    engine = kms.engine
    safe = create_request((Tag.QUANTUM_SAFE, True))
    assert engine.run_operation(Operation.CREATE, safe, "alice").unique_identifier
    weak = S.CreateRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        attributes=Attributes(
            [
                (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES),
                (Tag.CRYPTOGRAPHIC_LENGTH, 128),
                (Tag.QUANTUM_SAFE, True),
            ]
        ),
    )
    with pytest.raises(KmipError) as refused:
        engine.run_operation(Operation.CREATE, weak, "alice")
    assert refused.value.reason == ResultReason.GENERAL_FAILURE
    rsa = S.CreateKeyPairRequest(
        common_attributes=Attributes(
            [
                (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA),
                (Tag.CRYPTOGRAPHIC_LENGTH, 2048),
                (Tag.QUANTUM_SAFE, True),
            ]
        )
    )
    with pytest.raises(KmipError) as refused:
        engine.run_operation(Operation.CREATE_KEY_PAIR, rsa, "alice")
    assert refused.value.reason == ResultReason.GENERAL_FAILURE
    assert len(list(engine.store.all_uids())) == 1
