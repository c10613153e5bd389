"""The router: one dict from KMIP Operation to the handler that implements it (STYLE rule 3), and one from the
operations whose decisions the engine may keep (``plans``) to the ``execute`` their handler runs on a decision.

Everything that answers an operation is its handler module: a kept Plan is run by that module's ``execute``, the
same function its ``handle`` calls (Get's, and those of Encrypt, Decrypt and Sign, whose paths are listed in
``handlers/_paths``), and a request naming an ``hsm::`` key is handed by the handler to ``handlers/_hsm_keys``
(access checked like for any object, the key used in the HSM), so no response is built anywhere else.
"""

from __future__ import annotations

from ..kmip._registry_data import Operation
from .context import Handler
from .handlers import (
    activate,
    add_attribute,
    adjust_attribute,
    archive,
    cancel,
    certify,
    check,
    create,
    create_key_pair,
    create_split_key,
    decrypt,
    delete_attribute,
    derive_key,
    destroy,
    discover_versions,
    encrypt,
    export,
    get,
    get_attribute_list,
    get_attributes,
    get_usage_allocation,
    hash,
    import_,
    interop,
    join_split_key,
    locate,
    log,
    mac,
    mac_verify,
    modify_attribute,
    obtain_lease,
    pkcs_11,
    poll,
    query,
    query_asynchronous_requests,
    re_certify,
    re_key,
    re_key_key_pair,
    recover,
    register,
    revoke,
    rng_retrieve,
    rng_seed,
    set_attribute,
    set_endpoint_role,
    sign,
    signature_verify,
    validate,
)
from .handlers._paths import Paths
from .plans import Executor

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
    Operation.ENCRYPT: encrypt.handle,
    Operation.DECRYPT: decrypt.handle,
    Operation.SIGN: sign.handle,
    Operation.SIGNATURE_VERIFY: signature_verify.handle,
    Operation.MAC: mac.handle,
    Operation.MAC_VERIFY: mac_verify.handle,
    Operation.HASH: hash.handle,
    Operation.RNG_RETRIEVE: rng_retrieve.handle,
    Operation.RNG_SEED: rng_seed.handle,
    Operation.DERIVE_KEY: derive_key.handle,
    Operation.CREATE_SPLIT_KEY: create_split_key.handle,
    Operation.JOIN_SPLIT_KEY: join_split_key.handle,
    Operation.CREATE_KEY_PAIR: create_key_pair.handle,
    Operation.RE_KEY: re_key.handle,
    Operation.RE_KEY_KEY_PAIR: re_key_key_pair.handle,
    Operation.IMPORT: import_.handle,
    Operation.INTEROP: interop.handle,
    Operation.LOG: log.handle,
    Operation.EXPORT: export.handle,
    Operation.CERTIFY: certify.handle,
    Operation.RE_CERTIFY: re_certify.handle,
    Operation.VALIDATE: validate.handle,
    Operation.POLL: poll.handle,
    Operation.CANCEL: cancel.handle,
    Operation.QUERY_ASYNCHRONOUS_REQUESTS: query_asynchronous_requests.handle,
    Operation.OBTAIN_LEASE: obtain_lease.handle,
    Operation.GET_USAGE_ALLOCATION: get_usage_allocation.handle,
    Operation.SET_ENDPOINT_ROLE: set_endpoint_role.handle,
    Operation.PKCS_11: pkcs_11.handle,
}

#: Operations answered from a kept Plan (``plans``): the handler's own ``execute``.
EXECUTORS: dict[Operation, Executor] = {
    Operation.GET: get.execute,
    Operation.ENCRYPT: encrypt.execute,
    Operation.DECRYPT: decrypt.execute,
    Operation.SIGN: sign.execute,
}

#: The same operations' paths, for deciding a request without running it (``Engine.plan``).
PLANNED: dict[Operation, Paths] = {
    Operation.ENCRYPT: encrypt.PATHS,
    Operation.DECRYPT: decrypt.PATHS,
    Operation.SIGN: sign.PATHS,
}

__all__ = ["EXECUTORS", "PLANNED", "ROUTES"]
