"""Asynchronous operations (KMIP 2.1 §6.1.5 Cancel, §6.1.38 Poll, §6.1.41 Query Asynchronous Requests; 1.4 §7
Asynchronous Indicator): long operations answered Operation Pending, then polled or canceled."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from kms_backend.engine.asynchronous import AsynchronousOperations, OperationPending, is_long, wanted
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import translate
from kms_backend.kmip._registry_data import (
    AsynchronousIndicator,
    CancellationResult,
    CryptographicAlgorithm,
    ObjectType,
    Operation,
    ProcessingStage,
    QueryFunction,
    ResultReason,
    ResultStatus,
    Tag,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes

from .conftest import OTHER, Kms, create_request


def rsa_pair(bits: int) -> S.CreateKeyPairRequest:
    return S.CreateKeyPairRequest(
        common_attributes=Attributes(
            [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, bits)]
        )
    )


def poll_until_done(kms: Kms, value: bytes, version: tuple[int, int] = (2, 1), user: str = "alice") -> Any:
    """Poll until the item is no longer Operation Pending (at most 60 s); returns that batch item."""
    deadline = time.monotonic() + 60
    while True:
        item = kms.batch(
            (Operation.POLL, S.PollRequest(asynchronous_correlation_value=value)), version=version, user=user
        ).batch_item[0]
        if item.result_status != ResultStatus.OPERATION_PENDING or time.monotonic() > deadline:
            return item
        assert item.asynchronous_correlation_value == value
        time.sleep(0.05)


def test_long_operations_are_rsa_4096_and_more_and_certificates() -> None:
    assert is_long(Operation.CREATE_KEY_PAIR, rsa_pair(4096))
    assert is_long(Operation.CREATE_KEY_PAIR, rsa_pair(8192))
    assert not is_long(Operation.CREATE_KEY_PAIR, rsa_pair(2048))
    assert is_long(Operation.CERTIFY, S.CertifyRequest())
    assert not is_long(Operation.CREATE, create_request())


def test_rsa_4096_key_pair_is_answered_pending_then_polled(kms: Kms) -> None:
    response = kms.batch((Operation.CREATE_KEY_PAIR, rsa_pair(4096)), asynchronous=AsynchronousIndicator.OPTIONAL)
    item = response.batch_item[0]
    assert item.result_status == ResultStatus.OPERATION_PENDING
    value = item.asynchronous_correlation_value
    assert isinstance(value, bytes) and len(value) == 16
    done = poll_until_done(kms, value)
    assert (done.result_status, done.operation) == (ResultStatus.SUCCESS, Operation.CREATE_KEY_PAIR)
    private = done.response_payload.private_key_unique_identifier
    assert kms.attribute(private, Tag.CRYPTOGRAPHIC_LENGTH) == 4096
    # A result is given once.
    again = kms.batch((Operation.POLL, S.PollRequest(asynchronous_correlation_value=value))).batch_item[0]
    assert again.result_reason == ResultReason.INVALID_ASYNCHRONOUS_CORRELATION_VALUE


def test_short_operations_stay_synchronous_unless_mandatory(kms: Kms) -> None:
    optional = kms.batch((Operation.CREATE, create_request()), asynchronous=AsynchronousIndicator.OPTIONAL)
    assert optional.batch_item[0].result_status == ResultStatus.SUCCESS
    assert not wanted(AsynchronousIndicator.PROHIBITED, Operation.CREATE_KEY_PAIR, rsa_pair(4096))
    assert not wanted(None, Operation.CREATE_KEY_PAIR, rsa_pair(4096))
    assert wanted(True, Operation.CREATE_KEY_PAIR, rsa_pair(4096))  # 1.x Boolean
    assert not wanted(True, Operation.CREATE, create_request())  # 1.x True is "may", never Mandatory
    mandatory = kms.batch((Operation.CREATE, create_request()), asynchronous=AsynchronousIndicator.MANDATORY)
    assert mandatory.batch_item[0].result_status == ResultStatus.OPERATION_PENDING
    done = poll_until_done(kms, mandatory.batch_item[0].asynchronous_correlation_value)
    assert kms.attribute(done.response_payload.unique_identifier, Tag.OBJECT_TYPE) == ObjectType.SYMMETRIC_KEY


def test_a_failure_is_reported_by_the_poll(kms: Kms) -> None:
    bad = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=Attributes([]))
    pending = kms.batch((Operation.CREATE, bad), asynchronous=AsynchronousIndicator.MANDATORY).batch_item[0]
    done = poll_until_done(kms, pending.asynchronous_correlation_value)
    assert (done.result_status, done.result_reason) == (ResultStatus.OPERATION_FAILED, ResultReason.INVALID_FIELD)


def test_another_users_operation_cannot_be_polled_or_canceled(kms: Kms) -> None:
    pending = kms.batch((Operation.CREATE, create_request()), asynchronous=AsynchronousIndicator.MANDATORY)
    value = pending.batch_item[0].asynchronous_correlation_value
    for operation, payload in (
        (Operation.POLL, S.PollRequest(asynchronous_correlation_value=value)),
        (Operation.CANCEL, S.CancelRequest(asynchronous_correlation_value=value)),
    ):
        item = kms.batch((operation, payload), user=OTHER).batch_item[0]
        assert item.result_reason == ResultReason.INVALID_ASYNCHRONOUS_CORRELATION_VALUE
    assert poll_until_done(kms, value).result_status == ResultStatus.SUCCESS


def test_1x_asynchronous_indicator_and_poll(kms: Kms) -> None:
    request = translate.to_v1(rsa_pair(4096), (1, 2))
    pending = kms.batch((Operation.CREATE_KEY_PAIR, request), version=(1, 2), asynchronous=True).batch_item[0]
    assert pending.result_status == ResultStatus.OPERATION_PENDING
    done = poll_until_done(kms, pending.asynchronous_correlation_value, version=(1, 2))
    assert done.result_status == ResultStatus.SUCCESS
    assert isinstance(done.response_payload, S.CreateKeyPairResponseV1)
    # A 1.x client that does not allow it gets the answer synchronously.
    request = translate.to_v1(create_request(), (1, 2))
    item = kms.batch((Operation.CREATE, request), version=(1, 2), asynchronous=False).batch_item[0]
    assert item.result_status == ResultStatus.SUCCESS


def test_cancel_before_start_while_running_and_after() -> None:
    operations = AsynchronousOperations(workers=1)
    release = threading.Event()
    started = threading.Event()

    def slow() -> Any:
        started.set()
        release.wait(10)
        return S.CreateResponse(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier="slow")

    running = operations.submit("alice", Operation.CREATE, slow)
    queued = operations.submit(
        "alice", Operation.CREATE, lambda: S.CreateResponse(object_type=1, unique_identifier="q")
    )
    assert running is not None and queued is not None
    assert started.wait(10)
    stages = {r.asynchronous_correlation_value: r.processing_stage for r in operations.requests("alice")}
    assert stages == {running: ProcessingStage.IN_PROCESS, queued: ProcessingStage.SUBMITTED}
    assert operations.requests("bob") == []
    assert operations.cancel(queued, "alice") == CancellationResult.CANCELED
    assert operations.cancel(running, "alice") == CancellationResult.UNABLE_TO_CANCEL
    with pytest.raises(OperationPending):
        operations.poll(running, "alice")
    release.set()
    deadline = time.monotonic() + 10
    while operations.cancel(running, "alice") != CancellationResult.COMPLETED and time.monotonic() < deadline:
        time.sleep(0.01)
    assert operations.poll(running, "alice") == (
        Operation.CREATE,
        S.CreateResponse(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier="slow"),
    )
    with pytest.raises(KmipError) as canceled:
        operations.poll(queued, "alice")
    assert canceled.value.reason == ResultReason.OPERATION_CANCELED_BY_REQUESTER
    operations.close()


def test_query_lists_poll_and_cancel_and_the_capability(kms: Kms) -> None:
    functions = [QueryFunction.QUERY_OPERATIONS, QueryFunction.QUERY_CAPABILITIES]
    response = kms.run(Operation.QUERY, S.QueryRequest(query_function=functions))
    assert {Operation.POLL, Operation.CANCEL, Operation.QUERY_ASYNCHRONOUS_REQUESTS} <= set(response.operation)
    assert response.capability_information[0].asynchronous_capability is True


def test_query_lists_only_the_operations_of_the_request_version(kms: Kms) -> None:
    """Query Asynchronous Requests appeared in 2.1: a 2.0 client (PyKMIP) must not get a number it cannot read."""
    query = S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])
    listed = kms.batch((Operation.QUERY, query), version=(2, 0)).batch_item[0].response_payload.operation
    assert Operation.POLL in listed and Operation.QUERY_ASYNCHRONOUS_REQUESTS not in listed
