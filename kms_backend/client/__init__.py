"""The Python client of the KMS (DESIGN.md's top layer): KMIP 2.1 over JSON ``/kmip/2_1``, binary ``/kmip`` or the
mutual-TLS KMIP port, with keep-alive connections, failover across URLs and retries on connection errors.

It sits above ``kmip/`` and imports nothing from ``engine/``, ``store/`` or ``server/``::

    from kms_backend.client import ClientConfig, KmsClient

    with KmsClient(ClientConfig(urls=("http://127.0.0.1:9998",))) as kms:
        uid = kms.create_symmetric_key(tags=["my-key"])
        sealed = kms.encrypt(uid, b"secret")
"""

from .client import KmsClient, key_attributes, object_reference, tag_attribute, tags_of
from .config import DEFAULT_URL, ClientConfig, ConfigError, load_config
from .errors import KmsConnectionError, KmsError, KmsHttpError, KmsOperationError, KmsProtocolError
from .transports import HttpTransport, KmipSocketTransport, Transport

__all__ = [
    "DEFAULT_URL",
    "ClientConfig",
    "ConfigError",
    "HttpTransport",
    "KmipSocketTransport",
    "KmsClient",
    "KmsConnectionError",
    "KmsError",
    "KmsHttpError",
    "KmsOperationError",
    "KmsProtocolError",
    "Transport",
    "key_attributes",
    "load_config",
    "object_reference",
    "tag_attribute",
    "tags_of",
]
