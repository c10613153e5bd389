"""``MemoryBackend``: the engine over a ``MemoryStore`` (tests, and ``backend: {type: memory}``)."""

from __future__ import annotations

from kms_backend.engine import EngineConfig
from kms_backend.store.memory import MemoryStore

from .embedded_backend import EmbeddedBackend


class MemoryBackend(EmbeddedBackend):
    """An ``EmbeddedBackend`` whose objects live in memory and vanish with the process."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        super().__init__(MemoryStore(), config)


__all__ = ["MemoryBackend"]
