"""The provider's view of the KMS: a ``Backend`` runs one KMIP 2.1 operation (STYLE rule 6).

Implementations: ``EmbeddedBackend`` (the engine in-process over a local store, no server needed),
``RemoteBackend`` (a Keystead or Cosmian KMS over HTTPS, JSON TTLV on ``/kmip/2_1``) and ``MemoryBackend`` (the
engine over a ``MemoryStore``: the test double). Failures are ``KmipError``; the provider maps their reason to
a CK_RV through ``errors.REASON_TO_CKR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.schema import Struct

from .config import ProviderConfig


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request runs as: the KMS user name (embedded) and, for a remote KMS, an optional bearer token."""

    user: str
    bearer_token: str | None = None


class Backend(Protocol):
    """Runs KMIP operations for the provider."""

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """Run one operation with a 2.1 request payload; return its response payload or raise ``KmipError``."""
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...


def open_backend(config: ProviderConfig) -> Backend:
    """The backend the configuration names (imports only the implementation used)."""
    kind = config.backend.type
    if kind == "remote":
        from .remote_backend import RemoteBackend

        return RemoteBackend(config.backend)
    if kind == "memory":
        from .memory_backend import MemoryBackend

        return MemoryBackend()
    from .embedded_backend import EmbeddedBackend

    return EmbeddedBackend.open(config.backend.database or "sqlite://", hsm=config.backend.hsm)


__all__ = ["Backend", "Identity", "open_backend"]
