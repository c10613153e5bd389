"""The router: one dict from KMIP Operation to the handler that implements it (STYLE rule 3)."""

from __future__ import annotations

from ..kmip._registry_data import Operation
from .context import Handler
from .handlers import (
    activate,
    add_attribute,
    adjust_attribute,
    archive,
    check,
    create,
    delete_attribute,
    destroy,
    discover_versions,
    get,
    get_attribute_list,
    get_attributes,
    locate,
    modify_attribute,
    query,
    recover,
    register,
    revoke,
    set_attribute,
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
    Operation.ADD_ATTRIBUTE: add_attribute.handle,
    Operation.SET_ATTRIBUTE: set_attribute.handle,
    Operation.MODIFY_ATTRIBUTE: modify_attribute.handle,
    Operation.DELETE_ATTRIBUTE: delete_attribute.handle,
    Operation.ADJUST_ATTRIBUTE: adjust_attribute.handle,
    Operation.ARCHIVE: archive.handle,
    Operation.RECOVER: recover.handle,
    Operation.CHECK: check.handle,
}

__all__ = ["ROUTES"]
