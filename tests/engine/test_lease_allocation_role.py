"""Obtain Lease (KMIP 2.1 §6.1.35), Get Usage Allocation (§6.1.23) and Set Endpoint Role (§6.1.54)."""

from __future__ import annotations

from kms_backend.engine.handlers.obtain_lease import DEFAULT_LEASE_TIME
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import EndpointRole, Operation, ResultReason, Tag, UsageLimitsUnit

from .conftest import NOW, OTHER, Kms, create_request


def test_obtain_lease_gives_the_lease_and_last_change_date(kms: Kms) -> None:
    uid = kms.run(Operation.CREATE, create_request()).unique_identifier
    kms.clock.advance(10)
    response = kms.run(Operation.OBTAIN_LEASE, S.ObtainLeaseRequest(unique_identifier=uid))
    assert (response.unique_identifier, response.lease_time, response.last_change_date) == (
        uid,
        DEFAULT_LEASE_TIME,
        NOW,
    )
    assert kms.fail(Operation.OBTAIN_LEASE, S.ObtainLeaseRequest(unique_identifier=uid), OTHER).reason == (
        ResultReason.PERMISSION_DENIED
    )


def test_get_usage_allocation_takes_from_the_remaining_count(kms: Kms) -> None:
    limits = S.UsageLimits(usage_limits_total=10, usage_limits_unit=UsageLimitsUnit.OBJECT)
    uid = kms.run(Operation.CREATE, create_request((Tag.USAGE_LIMITS, limits))).unique_identifier
    allocate = S.GetUsageAllocationRequest(unique_identifier=uid, usage_limits_count=7)
    assert kms.run(Operation.GET_USAGE_ALLOCATION, allocate).unique_identifier == uid
    assert kms.attribute(uid, Tag.USAGE_LIMITS).usage_limits_count == 3
    assert kms.fail(Operation.GET_USAGE_ALLOCATION, allocate).reason == ResultReason.USAGE_LIMIT_EXCEEDED
    assert kms.attribute(uid, Tag.USAGE_LIMITS).usage_limits_count == 3  # a refused allocation takes nothing
    unlimited = kms.run(Operation.CREATE, create_request()).unique_identifier
    request = S.GetUsageAllocationRequest(unique_identifier=unlimited, usage_limits_count=1)
    assert kms.fail(Operation.GET_USAGE_ALLOCATION, request).reason == ResultReason.ATTRIBUTE_NOT_FOUND
    negative = S.GetUsageAllocationRequest(unique_identifier=uid, usage_limits_count=0)
    assert kms.fail(Operation.GET_USAGE_ALLOCATION, negative).reason == ResultReason.INVALID_FIELD


def test_set_endpoint_role_confirms_server_only(kms: Kms) -> None:
    response = kms.run(Operation.SET_ENDPOINT_ROLE, S.SetEndpointRoleRequest(endpoint_role=EndpointRole.SERVER))
    assert response.endpoint_role == EndpointRole.SERVER
    client = S.SetEndpointRoleRequest(endpoint_role=EndpointRole.CLIENT)
    assert kms.fail(Operation.SET_ENDPOINT_ROLE, client).reason == ResultReason.PERMISSION_DENIED
