"""Where the provider's KMIP operations run: the ``Backend`` protocol (``base``) and ``open_backend``, which picks
the implementation the configuration's ``backend.type`` names.

============  ================  ===================================================================================
type          module            backend
============  ================  ===================================================================================
``embedded``  ``embedded``      the KMIP engine in-process over a local store (``backend.database``, SQLite by
                                default), its keys sealed at rest by the software key-encryption key
                                (``backend.kek_file``) or by an HSM (``backend.hsm``); no server needed
``remote``    ``remote``        a Keystead or Cosmian KMS through ``kms_backend.client``: JSON TTLV on
                                ``/kmip/2_1`` or binary TTLV on the mutual-TLS KMIP port
``memory``    ``memory``        the engine over a ``MemoryStore``: the test double, and the per-application engine
                                that holds session objects (``Library.memory_backend``)
============  ================  ===================================================================================

The implementation modules import the engine or the client only when a configuration asks for them.
"""

from __future__ import annotations

from ..config import ProviderConfig
from .base import Backend, Identity


def open_backend(config: ProviderConfig) -> Backend:
    """The backend the configuration names."""
    kind = config.backend.type
    if kind == "remote":
        from .remote import RemoteBackend

        return RemoteBackend(config.backend)
    if kind == "memory":
        from .memory import MemoryBackend

        return MemoryBackend()
    from .embedded import EmbeddedBackend

    return EmbeddedBackend.open(config.backend)


__all__ = ["Backend", "Identity", "open_backend"]
