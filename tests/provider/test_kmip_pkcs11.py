"""The KMIP PKCS#11 operation (KMIP 2.1 §6.1.37) run through this provider over the server's own engine."""

from __future__ import annotations

import struct

import pytest

from kms_backend import __version__
from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation, PKCS11Function, PKCS11ReturnCode, QueryFunction, ResultReason
from kms_backend.kmip.errors import KmipError
from kms_backend.store.memory import MemoryStore
from provider.kmip_pkcs11 import ProviderFunctions


@pytest.fixture
def engine() -> Engine:
    engine = Engine(MemoryStore(), EngineConfig())
    engine.pkcs11 = ProviderFunctions(engine)
    return engine


def call(
    engine: Engine,
    function: PKCS11Function,
    correlation: bytes | None = None,
    data: bytes | None = None,
    user: str = "alice",
) -> S.PKCS11Response:
    request = S.PKCS11Request(pkcs_11_function=function, correlation_value=correlation, pkcs_11_input_parameters=data)
    response = engine.run_operation(Operation.PKCS_11, request, user)
    assert isinstance(response, S.PKCS11Response)
    return response


def test_initialize_get_info_slot_list_finalize(engine: Engine) -> None:
    opened = call(engine, PKCS11Function.C_INITIALIZE, data=b"\x01")
    assert opened.pkcs_11_return_code == PKCS11ReturnCode.OK
    context = opened.correlation_value
    assert isinstance(context, bytes) and len(context) == 16
    info = call(engine, PKCS11Function.C_GETINFO, context)
    assert info.pkcs_11_return_code == PKCS11ReturnCode.OK and info.correlation_value is None
    major, minor, manufacturer, flags, description, lib_major, lib_minor = struct.unpack(
        "<BB32sQ32sBB", info.pkcs_11_output_parameters
    )
    assert (major, minor, flags) == (3, 0, 0)
    assert manufacturer == b"Keystead".ljust(32)
    assert description.rstrip() == b"Keystead PKCS#11 (KMIP KMS)"
    assert (lib_major, lib_minor) == tuple(int(x) for x in __version__.split(".")[:2])
    slots = call(engine, PKCS11Function.C_GETSLOTLIST, context, b"\x01").pkcs_11_output_parameters
    count = struct.unpack_from("<Q", slots)[0]
    assert count >= 1 and len(slots) == 8 * (1 + count)
    unsupported = call(engine, PKCS11Function.C_DIGESTINIT, context)
    assert unsupported.pkcs_11_return_code == PKCS11ReturnCode.FUNCTION_NOT_SUPPORTED
    assert call(engine, PKCS11Function.C_FINALIZE, context).pkcs_11_return_code == PKCS11ReturnCode.OK
    with pytest.raises(KmipError) as closed:
        call(engine, PKCS11Function.C_GETINFO, context)
    assert closed.value.reason == ResultReason.INVALID_CORRELATION_VALUE


def test_contexts_belong_to_their_user_and_bad_input_is_a_kmip_error(engine: Engine) -> None:
    context = call(engine, PKCS11Function.C_INITIALIZE).correlation_value
    with pytest.raises(KmipError) as other:
        call(engine, PKCS11Function.C_GETINFO, context, user="bob")
    assert other.value.reason == ResultReason.INVALID_CORRELATION_VALUE
    with pytest.raises(KmipError) as codec:
        call(engine, PKCS11Function.C_GETSLOTLIST, context, b"")
    assert codec.value.reason == ResultReason.PKCS_11_CODEC_ERROR
    before = call(engine, PKCS11Function.C_GETINFO)
    assert before.pkcs_11_return_code == PKCS11ReturnCode.CRYPTOKI_NOT_INITIALIZED


def test_unwired_engine_refuses_and_does_not_list_it() -> None:
    bare = Engine(MemoryStore(), EngineConfig())
    with pytest.raises(KmipError) as refused:
        call(bare, PKCS11Function.C_INITIALIZE)
    assert refused.value.reason == ResultReason.OPERATION_NOT_SUPPORTED
    query = S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])
    assert Operation.PKCS_11 not in bare.run_operation(Operation.QUERY, query, "alice").operation
    wired = Engine(MemoryStore(), EngineConfig())
    wired.pkcs11 = ProviderFunctions(wired)
    assert Operation.PKCS_11 in wired.run_operation(Operation.QUERY, query, "alice").operation
