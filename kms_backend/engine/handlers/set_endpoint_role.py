"""Set Endpoint Role (KMIP 2.1 §6.1.54): a peer asks this endpoint to act as Client or Server on the connection.

This endpoint answers requests and sends none of its own (no Notify or Put), so it is a Server: a request for
that role is confirmed, a request to act as a Client is refused with Permission Denied, the reason its error
table names for a role the endpoint will not take.
"""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import EndpointRole, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext


def handle(ctx: RequestContext, request: S.SetEndpointRoleRequest) -> S.SetEndpointRoleResponse:
    if request.endpoint_role != EndpointRole.SERVER:
        raise KmipError(ResultReason.PERMISSION_DENIED, "this endpoint only acts as a KMIP server")
    return S.SetEndpointRoleResponse(endpoint_role=EndpointRole.SERVER)


__all__ = ["handle"]
