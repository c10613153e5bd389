"""Batch processing (KMIP 2.1 §6.1 / §8, 1.4 §7): items in order, ID Placeholder, Batch Error Continuation Option,
Unique Batch Item ID, Maximum Response Size, protocol versions, unknown operations, 2.x Integer uid references."""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BatchErrorContinuationOption,
    ItemType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    State,
    Tag,
)
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.messages import decode_response
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item

from .conftest import OWNER, Kms, create_request, name

QUERY = S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])
Continue = BatchErrorContinuationOption.CONTINUE
Stop = BatchErrorContinuationOption.STOP
Undo = BatchErrorContinuationOption.UNDO


def statuses(response: S.ResponseMessage) -> list[ResultStatus]:
    return [item.result_status for item in response.batch_item]


def count_objects(kms: Kms) -> int:
    return len(list(kms.store.all_uids()))


def test_items_run_in_order_and_chain_through_the_id_placeholder(kms: Kms) -> None:
    response = kms.batch(
        (Operation.CREATE, create_request()),
        (Operation.ACTIVATE, S.ActivateRequest()),
        (Operation.GET_ATTRIBUTES, S.GetAttributesRequest(attribute_reference=[Tag.STATE])),
    )
    assert statuses(response) == [ResultStatus.SUCCESS] * 3
    assert [item.operation for item in response.batch_item] == [
        Operation.CREATE,
        Operation.ACTIVATE,
        Operation.GET_ATTRIBUTES,
    ]
    uid = response.batch_item[0].response_payload.unique_identifier
    assert response.batch_item[1].response_payload.unique_identifier == uid
    assert response.batch_item[2].response_payload.attributes.get(Tag.STATE) == State.ACTIVE
    assert response.response_header.batch_count == 3


def test_id_placeholder_also_works_with_the_explicit_enumeration(kms: Kms) -> None:
    from kms_backend.kmip._registry_data import UniqueIdentifier

    response = kms.batch(
        (Operation.CREATE, create_request()),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier=UniqueIdentifier.ID_PLACEHOLDER)),
    )
    assert statuses(response) == [ResultStatus.SUCCESS] * 2


def test_locate_sets_the_id_placeholder_for_the_following_items(kms: Kms) -> None:
    """Locate then Get in one batch (OASIS TL-M-3): the Get without a Unique Identifier reads the located key."""
    kms.run(Operation.CREATE, create_request((Tag.NAME, name("decoy"))))
    uid = kms.run(Operation.CREATE, create_request((Tag.NAME, name("wanted")))).unique_identifier
    located = Attributes([(Tag.NAME, name("wanted"))])
    response = kms.batch(
        (Operation.LOCATE, S.LocateRequest(attributes=located)),
        (Operation.GET, S.GetRequest()),
    )
    assert statuses(response) == [ResultStatus.SUCCESS] * 2
    assert response.batch_item[0].response_payload.unique_identifier == [uid]
    assert response.batch_item[1].response_payload.unique_identifier == uid
    # A Locate that finds nothing leaves no placeholder behind.
    nothing = Attributes([(Tag.NAME, name("absent"))])
    response = kms.batch((Operation.LOCATE, S.LocateRequest(attributes=nothing)), (Operation.GET, S.GetRequest()))
    assert statuses(response) == [ResultStatus.SUCCESS, ResultStatus.OPERATION_FAILED]
    assert response.batch_item[1].result_reason == ResultReason.INVALID_FIELD


def test_no_uid_and_no_placeholder_is_invalid_field(kms: Kms) -> None:
    response = kms.batch((Operation.ACTIVATE, S.ActivateRequest()))
    assert response.batch_item[0].result_status == ResultStatus.OPERATION_FAILED
    assert response.batch_item[0].result_reason == ResultReason.INVALID_FIELD


def test_stop_is_the_default_and_skips_the_rest(kms: Kms) -> None:
    items = (
        (Operation.CREATE, create_request()),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier="missing")),
        (Operation.CREATE, create_request()),
    )
    for option in (None, Stop):
        before = count_objects(kms)
        response = kms.batch(*items, option=option)
        assert statuses(response) == [ResultStatus.SUCCESS, ResultStatus.OPERATION_FAILED]
        assert response.batch_item[1].result_reason == ResultReason.OBJECT_NOT_FOUND
        assert count_objects(kms) == before + 1  # the first item's object stays


def test_continue_runs_every_item(kms: Kms) -> None:
    response = kms.batch(
        (Operation.CREATE, create_request()),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier="missing")),
        (Operation.CREATE, create_request()),
        option=Continue,
    )
    assert statuses(response) == [ResultStatus.SUCCESS, ResultStatus.OPERATION_FAILED, ResultStatus.SUCCESS]
    assert count_objects(kms) == 2


def test_undo_rolls_back_every_item(kms: Kms) -> None:
    existing = kms.create_key((Tag.COMMENT, "before"))
    response = kms.batch(
        (Operation.CREATE, create_request()),
        (
            Operation.SET_ATTRIBUTE,
            S.SetAttributeRequest(unique_identifier=existing, new_attribute=Attributes([(Tag.COMMENT, "after")])),
        ),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier="missing")),
        (Operation.CREATE, create_request()),
        option=Undo,
    )
    assert statuses(response) == [
        ResultStatus.OPERATION_UNDONE,
        ResultStatus.OPERATION_UNDONE,
        ResultStatus.OPERATION_FAILED,
    ]
    assert response.batch_item[2].result_reason == ResultReason.OBJECT_NOT_FOUND
    assert list(kms.store.all_uids()) == [existing]  # nothing persisted
    assert kms.attribute(existing, Tag.COMMENT) == "before"


def test_undo_batch_that_succeeds_persists_everything(kms: Kms) -> None:
    response = kms.batch((Operation.CREATE, create_request()), (Operation.ACTIVATE, S.ActivateRequest()), option=Undo)
    assert statuses(response) == [ResultStatus.SUCCESS] * 2
    uid = response.batch_item[0].response_payload.unique_identifier
    assert kms.attribute(uid, Tag.STATE) == State.ACTIVE


def test_a_failed_item_leaves_nothing_behind(kms: Kms) -> None:
    kms.create_key((Tag.NAME, name("taken")))
    response = kms.batch((Operation.CREATE, create_request((Tag.NAME, name("taken")))))
    assert response.batch_item[0].result_reason == ResultReason.NON_UNIQUE_NAME_ATTRIBUTE
    assert count_objects(kms) == 1


def test_unique_batch_item_ids_are_echoed(kms: Kms) -> None:
    response = kms.batch(
        (Operation.CREATE, create_request(), b"\x01"),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier="missing"), b"\x02"),
        (Operation.QUERY, QUERY, b"\x03"),
        option=Continue,
    )
    assert [item.unique_batch_item_id for item in response.batch_item] == [b"\x01", b"\x02", b"\x03"]


def test_maximum_response_size(kms: Kms) -> None:
    uid = kms.create_key()
    request = S.GetAttributesRequest(unique_identifier=uid)
    response = kms.batch((Operation.GET_ATTRIBUTES, request), max_size=64)
    assert response.batch_item[0].result_status == ResultStatus.OPERATION_FAILED
    assert response.batch_item[0].result_reason == ResultReason.RESPONSE_TOO_LARGE
    assert kms.batch((Operation.GET_ATTRIBUTES, request), max_size=100_000).batch_item[0].result_status == 0


def test_kmip_3_0_messages_run_as_2_1_and_are_answered_in_3_0(kms: Kms) -> None:
    """Cosmian KMS accepts KMIP 3.0 (CSD 01) headers for what 3.0 shares with 2.1; so does Keystead."""
    request = S.RequestMessage(
        request_header=S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=3, protocol_version_minor=0), batch_count=1
        ),
        batch_item=[S.RequestBatchItem(operation=Operation.QUERY, request_payload=QUERY)],
    )
    response = decode_response(kms.engine.process_tree(to_tree(request), OWNER))
    header = response.response_header.protocol_version
    assert (header.protocol_version_major, header.protocol_version_minor) == (3, 0)
    assert response.batch_item[0].result_status == ResultStatus.SUCCESS


def test_unsupported_protocol_version(kms: Kms) -> None:
    request = S.RequestMessage(
        request_header=S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=4, protocol_version_minor=0), batch_count=1
        ),
        batch_item=[S.RequestBatchItem(operation=Operation.QUERY, request_payload=QUERY)],
    )
    response = decode_response(kms.engine.process_tree(to_tree(request), OWNER))
    header = response.response_header.protocol_version
    assert (header.protocol_version_major, header.protocol_version_minor) == (2, 1)
    assert response.batch_item[0].result_status == ResultStatus.OPERATION_FAILED
    # 2.1 defines Unsupported Protocol Version for this; the engine answers Invalid Message (1.x's only choice).
    assert response.batch_item[0].result_reason in (
        ResultReason.INVALID_MESSAGE,
        ResultReason.UNSUPPORTED_PROTOCOL_VERSION,
    )


def test_unreadable_request_gets_an_error_response(kms: Kms) -> None:
    tree = Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, [Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1)])
    response = decode_response(kms.engine.process_tree(tree, OWNER))
    assert response.batch_item[0].result_status == ResultStatus.OPERATION_FAILED
    assert response.batch_item[0].result_reason == ResultReason.INVALID_MESSAGE


def test_unknown_operation_is_operation_not_supported(kms: Kms) -> None:
    # Process: a 2.1 operation no handler implements; 0xFFFF: no operation at all, whose payload stays a raw item.
    assert Operation.PROCESS not in kms.engine.routes
    raw = Item(Tag.REQUEST_PAYLOAD, ItemType.STRUCTURE, [])
    request = S.RequestMessage(
        request_header=S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1),
            batch_count=3,
            batch_error_continuation_option=Continue,
        ),
        batch_item=[
            S.RequestBatchItem(
                operation=Operation.PROCESS, request_payload=S.ProcessRequest(asynchronous_correlation_value=b"x")
            ),
            S.RequestBatchItem(operation=0xFFFF, request_payload=raw),  # type: ignore[arg-type]
            S.RequestBatchItem(operation=Operation.QUERY, request_payload=QUERY),
        ],
    )
    response = decode_response(kms.engine.process_tree(to_tree(request), OWNER))
    assert [item.result_reason for item in response.batch_item[:2]] == [ResultReason.OPERATION_NOT_SUPPORTED] * 2
    assert response.batch_item[2].result_status == ResultStatus.SUCCESS


def test_integer_uids_reference_earlier_items(kms: Kms) -> None:
    # 2.x: an Integer Unique Identifier is the n-th uid returned so far in this batch (2.1 §11.56 note).
    response = kms.batch(
        (Operation.CREATE, create_request()),
        (Operation.CREATE, create_request()),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier=0)),
        (Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=1, attribute_reference=[Tag.STATE])),
        (Operation.ACTIVATE, S.ActivateRequest(unique_identifier=42)),
        option=Continue,
    )
    first = response.batch_item[0].response_payload.unique_identifier
    second = response.batch_item[1].response_payload.unique_identifier
    assert response.batch_item[2].response_payload.unique_identifier == first
    assert response.batch_item[3].response_payload.unique_identifier == second
    assert response.batch_item[3].response_payload.attributes.get(Tag.STATE) == State.PRE_ACTIVE
    assert response.batch_item[4].result_reason == ResultReason.INVALID_FIELD


def test_internal_errors_become_general_failure_without_their_text(kms: Kms) -> None:
    def broken(ctx: object, request: object) -> object:
        raise RuntimeError("secret detail")

    kms.engine.routes = {**kms.engine.routes, Operation.QUERY: broken}
    response = kms.batch((Operation.QUERY, QUERY))
    item = response.batch_item[0]
    assert item.result_reason == ResultReason.GENERAL_FAILURE
    assert "secret" not in (item.result_message or "")
