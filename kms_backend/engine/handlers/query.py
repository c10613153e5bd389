"""Query (KMIP 2.1 §6.1.40): supported operations, object types, server information and capabilities."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip import registry
from ...kmip._registry_data import ObjectType, Operation, QueryFunction
from ..context import RequestContext
from ..objects import OBJECT_CLASSES

_OBJECT_TYPES = registry.enumeration("Object Type")
_OPERATIONS = registry.enumeration("Operation")


def handle(ctx: RequestContext, request: S.QueryRequest) -> S.QueryResponse:
    functions = set(request.query_function)
    config = ctx.engine.config
    response = S.QueryResponse()
    if QueryFunction.QUERY_OPERATIONS in functions:
        # PKCS#11 only when the server wired a PKCS#11 implementation (engine/pkcs11.py).
        unwired = {Operation.PKCS_11} if ctx.engine.pkcs11 is None else set()
        # ... and only those the request's version defines (clients fail on numbers they do not know).
        response.operation = sorted(
            op for op in ctx.engine.routes if op not in unwired and _OPERATIONS.by_value[op].defined_in(ctx.version)
        )
    if QueryFunction.QUERY_OBJECTS in functions:
        # Only the types the request's version defines (Template: 1.x only).
        response.object_type = sorted(
            ObjectType(t) for t in OBJECT_CLASSES if _OBJECT_TYPES.by_value[t].defined_in(ctx.version)
        )
    if QueryFunction.QUERY_SERVER_INFORMATION in functions:
        response.vendor_identification = config.vendor_identification
        response.server_information = S.ServerInformation(
            server_name=config.server_name,
            server_version=config.server_version,
            product_name="Keystead KMS",
        )
    if QueryFunction.QUERY_CAPABILITIES in functions:
        response.capability_information = [
            S.CapabilityInformation(
                streaming_capability=False,
                asynchronous_capability=True,  # Poll / Cancel of long operations (engine.asynchronous)
                attestation_capability=False,
                batch_undo_capability=True,
                batch_continue_capability=True,
            )
        ]
    return response


__all__ = ["handle"]
