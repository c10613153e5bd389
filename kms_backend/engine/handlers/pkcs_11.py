"""PKCS#11 (KMIP 2.1 §6.1.37): run the carried PKCS#11 function through the server's PKCS#11 implementation
(``engine.pkcs11``, see ``engine/pkcs11.py``) and return its output and return code."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import PKCS11ReturnCode, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.PKCS11Request) -> S.PKCS11Response:
    functions = ctx.engine.pkcs11
    if functions is None:
        raise KmipError(ResultReason.OPERATION_NOT_SUPPORTED, "this server runs no PKCS#11 functions")
    result = functions.call(
        ctx.user, request.pkcs_11_function, request.correlation_value, request.pkcs_11_input_parameters
    )
    try:
        code = PKCS11ReturnCode(result.return_code)
    except ValueError:
        code = PKCS11ReturnCode.GENERAL_ERROR  # a CK_RV KMIP's enumeration does not name (vendor-defined)
    return S.PKCS11Response(
        pkcs_11_interface=request.pkcs_11_interface,
        pkcs_11_function=request.pkcs_11_function,
        correlation_value=result.correlation_value,
        pkcs_11_output_parameters=result.output,
        pkcs_11_return_code=code,
    )


__all__ = ["handle"]
