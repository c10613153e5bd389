"""``EmbeddedBackend``: the KMIP engine in-process over a local store (no server; ``keystead pkcs11 init``)."""

from __future__ import annotations

from typing import Any

from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.schema import Struct
from kms_backend.store import open_store
from kms_backend.store.base import ObjectStore

from ..config import HsmConfig
from .base import Identity


class EmbeddedBackend:
    """Runs operations on an ``Engine`` in this process, as the identity's user."""

    def __init__(self, store: ObjectStore, config: EngineConfig | None = None, hsm: HsmConfig | None = None) -> None:
        self.store = store
        self._hsm: Any = None
        options: dict[str, Any] = {}
        if hsm is not None:
            # Stored key material sealed under the HSM's key-encryption key, exactly as `keystead serve --hsm-*`.
            from kms_backend.hsm import HsmSettings, open_hsm

            settings = HsmSettings(hsm.module, hsm.token_label, hsm.pin, hsm.kek_label, create_kek=hsm.create_kek)
            self._hsm = open_hsm(settings)
            options = self._hsm.engine_options()
        self.engine = Engine(store, config or EngineConfig(server_name="Keystead PKCS#11"), **options)

    @classmethod
    def open(cls, database: str, hsm: HsmConfig | None = None) -> EmbeddedBackend:
        """An engine over the database at ``database`` (created and migrated if needed), sealed by ``hsm``."""
        return cls(open_store(database), hsm=hsm)

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """One operation through ``Engine.run_operation`` (its own store transaction)."""
        return self.engine.run_operation(operation, payload, identity.user)

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
        if self._hsm is not None:
            self._hsm.close()
            self._hsm = None


__all__ = ["EmbeddedBackend"]
