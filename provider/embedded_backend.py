"""``EmbeddedBackend``: the KMIP engine in-process over a local store (no server; ``keystead pkcs11 init``)."""

from __future__ import annotations

import importlib
from typing import Any

from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.schema import Struct
from kms_backend.store.base import ObjectStore

from .backend import Identity


def open_store(url: str) -> ObjectStore:
    """The store for a database URL (``sqlite:///path``...), through ``kms_backend.store.sql.open_store``."""
    sql: Any = importlib.import_module("kms_backend.store.sql")
    opener = getattr(sql, "open_store", None)
    if opener is not None:
        return opener(url)  # type: ignore[no-any-return]
    # Until open_store lands: plain sqlite URLs name SQLAlchemy's pysqlite driver.
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        url = "sqlite+pysqlite://" + url.removeprefix("sqlite://")
    return sql.SqlStore(url)  # type: ignore[no-any-return]


class EmbeddedBackend:
    """Runs operations on an ``Engine`` in this process, as the identity's user."""

    def __init__(self, store: ObjectStore, config: EngineConfig | None = None) -> None:
        self.store = store
        self.engine = Engine(store, config or EngineConfig(server_name="Keystead PKCS#11"))

    @classmethod
    def open(cls, database: str) -> EmbeddedBackend:
        """An engine over the database at ``database`` (created and migrated if needed)."""
        return cls(open_store(database))

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """One operation through ``Engine.run_operation`` (its own store transaction)."""
        return self.engine.run_operation(operation, payload, identity.user)

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


__all__ = ["EmbeddedBackend", "open_store"]
