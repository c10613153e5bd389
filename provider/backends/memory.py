"""``MemoryBackend``: the engine over a ``MemoryStore`` (tests, and ``backend: {type: memory}``)."""

from __future__ import annotations

from kms_backend.engine import EngineConfig
from kms_backend.kmip._registry_data import ObjectType, ResultReason
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Struct
from kms_backend.store.memory import MemoryStore

from .embedded import EmbeddedBackend


class MemoryBackend(EmbeddedBackend):
    """An ``EmbeddedBackend`` whose objects live in memory and vanish with the process."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        super().__init__(MemoryStore(), config)

    def material(self, uid: str) -> tuple[ObjectType, Struct]:
        """The object ``uid`` as stored, whatever its Sensitive and Extractable say: the provider moves its own
        session objects into the KMS with it (C_CopyObject to a token object). Nothing else may call this."""
        with self.store.transaction() as tx:
            record = tx.get(uid)
        if record is None:
            raise KmipError(ResultReason.ITEM_NOT_FOUND, f"no object {uid}")
        managed = self.engine.records.from_record(record)
        if managed.object is None:
            raise KmipError(ResultReason.ITEM_NOT_FOUND, f"object {uid} has no material")
        return managed.object_type, managed.object


__all__ = ["MemoryBackend"]
