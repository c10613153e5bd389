"""The router: one dict from KMIP Operation to the handler that implements it (STYLE rule 3)."""

from __future__ import annotations

from ..kmip._registry_data import Operation
from .context import Handler
from .handlers import (
    activate,
    create,
    destroy,
    discover_versions,
    get,
    get_attribute_list,
    get_attributes,
    locate,
    query,
    register,
    revoke,
)

ROUTES: dict[Operation, Handler] = {
    Operation.DISCOVER_VERSIONS: discover_versions.handle,
    Operation.QUERY: query.handle,
    Operation.CREATE: create.handle,
    Operation.REGISTER: register.handle,
    Operation.GET: get.handle,
    Operation.GET_ATTRIBUTES: get_attributes.handle,
    Operation.GET_ATTRIBUTE_LIST: get_attribute_list.handle,
    Operation.LOCATE: locate.handle,
    Operation.ACTIVATE: activate.handle,
    Operation.REVOKE: revoke.handle,
    Operation.DESTROY: destroy.handle,
}

__all__ = ["ROUTES"]
