from kms_backend.kmip._registry_data import ResultReason
from provider.constants import ReturnValue
from provider.errors import REASON_TO_CKR, ckr_for_reason


def test_every_result_reason_has_a_return_value():
    missing = [reason.name for reason in ResultReason if reason not in REASON_TO_CKR]
    assert missing == []
    assert all(isinstance(rv, ReturnValue) for rv in REASON_TO_CKR.values())


def test_selected_mappings():
    assert ckr_for_reason(ResultReason.ITEM_NOT_FOUND) == ReturnValue.OBJECT_HANDLE_INVALID
    assert ckr_for_reason(ResultReason.SENSITIVE) == ReturnValue.ATTRIBUTE_SENSITIVE
    assert ckr_for_reason(ResultReason.OPERATION_NOT_SUPPORTED) == ReturnValue.FUNCTION_NOT_SUPPORTED
    assert ckr_for_reason(0x7FFF_FFFF) == ReturnValue.FUNCTION_FAILED
