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
    create_key_pair,
    delete_attribute,
    destroy,
    discover_versions,
    export,
    get,
    get_attribute_list,
    get_attributes,
    import_,
    locate,
    modify_attribute,
    query,
    re_key,
    re_key_key_pair,
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
    Operation.CREATE_KEY_PAIR: create_key_pair.handle,
    Operation.RE_KEY: re_key.handle,
    Operation.RE_KEY_KEY_PAIR: re_key_key_pair.handle,
    Operation.IMPORT: import_.handle,
    Operation.EXPORT: export.handle,
}

__all__ = ["ROUTES"]
