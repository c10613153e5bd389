"""``EmbeddedBackend``: the KMIP engine in-process over a local store (no server; ``keystead pkcs11 init``).

The store's key material is sealed at rest as by ``keystead serve``: under the HSM's key-encryption key when
``backend.hsm`` is set, else under the software one (``backend.kek_file``, by default ``keystead.kek`` beside an
SQLite store, created mode 0600; or ``KEYSTEAD_KEK``), unless ``backend.seal_keys`` is false.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kms_backend.engine import Engine, EngineConfig
from kms_backend.engine.plans import MAX_PLANS, Plan
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.schema import Struct
from kms_backend.sealing.rekey import sqlite_path
from kms_backend.store import open_store
from kms_backend.store.base import ObjectStore

from ..config import BackendConfig, HsmConfig
from .base import Identity

if TYPE_CHECKING:
    from kms_backend.sealing import Keyring, SoftwareSealer

#: Beside the key file: the databases already sealed (``kms_backend.sealing.seal_once``).
SEALED_STORES_FILE = "sealed-stores"

#: The request a Plan of each operation decides, with no Data: what ``Engine.plan`` is asked about.
_PLANNED: dict[Operation, Callable[[str, S.CryptographicParameters], Struct]] = {
    Operation.ENCRYPT: lambda uid, cp: S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=cp, data=b""),
    Operation.DECRYPT: lambda uid, cp: S.DecryptRequest(unique_identifier=uid, cryptographic_parameters=cp, data=b""),
    Operation.SIGN: lambda uid, cp: S.SignRequest(
        unique_identifier=uid, cryptographic_parameters=cp, digested_data=b""
    ),
}


class EmbeddedBackend:
    """Runs operations on an ``Engine`` in this process, as the identity's user."""

    def __init__(
        self,
        store: ObjectStore,
        config: EngineConfig | None = None,
        hsm: HsmConfig | None = None,
        sealer: SoftwareSealer | None = None,
    ) -> None:
        self.store = store
        self._hsm: Any = None
        options: dict[str, Any] = {}
        if sealer is not None:
            from kms_backend.engine.objects import RecordCodec

            options = {"records": RecordCodec(sealer.seal, sealer.unseal)}
        elif hsm is not None:
            # Stored key material sealed under the HSM's key-encryption key, exactly as `keystead serve --hsm-*`.
            from kms_backend.hsm import HsmSettings, open_hsm

            settings = HsmSettings(hsm.module, hsm.token_label, hsm.pin, hsm.kek_label, create_kek=hsm.create_kek)
            self._hsm = open_hsm(settings)
            options = self._hsm.engine_options()
        self.engine = Engine(store, config or EngineConfig(server_name="Keystead PKCS#11"), **options)
        #: (operation, uid, user) -> (the parameters object, its Plan): what ``plan`` handed out last.
        self._plans: dict[tuple[Operation, str, str], tuple[S.CryptographicParameters, Plan]] = {}
        plans = self.engine.caches.plans
        self._current: Callable[[Plan], bool] = plans.current if plans is not None else lambda _plan: False
        self.engine.caches.also_forget(self._forget)

    @classmethod
    def open(cls, backend: BackendConfig) -> EmbeddedBackend:
        """An engine over ``backend.database`` (created and migrated if needed), its keys sealed by the HSM or the
        software key-encryption key (a database written before sealing is sealed on its first opening)."""
        database = backend.database or "sqlite://"
        scheme = database.split(":", 1)[0].lower()
        in_memory = scheme == "memory" or (scheme == "sqlite" and sqlite_path(database) is None)
        sealed = backend.seal_keys and backend.hsm is None and not in_memory
        keyring = software_keyring(backend) if sealed else None  # before the store: no key, no database touched
        store = open_store(database)
        if keyring is None:
            return cls(store, hsm=backend.hsm)
        from kms_backend.sealing import SoftwareSealer, seal_once
        from kms_backend.sealing.active import adopt_store_key

        sealer = SoftwareSealer(keyring)
        try:
            # A store shared with servers seals under the key they use (read once: the provider runs no thread).
            adopt_store_key(store, sealer)
            seal_once(store, sealer, _kek_path(backend).parent / SEALED_STORES_FILE, database)
            return cls(store, sealer=sealer)
        except BaseException:
            store.close()
            raise

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """One operation through ``Engine.run_operation`` (its own store transaction)."""
        return self.engine.run_operation(operation, payload, identity.user)

    def plan(
        self, operation: Operation, uid: str, parameters: S.CryptographicParameters, identity: Identity
    ) -> Plan | None:
        """The reusable Plan of a one-shot Encrypt, Decrypt or Sign with ``uid`` and ``parameters`` (a value the
        caller does not change), for the provider to run itself: the one it last got for the same arguments
        while still current (``PlanCache.current``: the store's change stamp and the key's dates), else
        ``Engine.plan``. None when each request must be run (a refusal raises KmipError)."""
        key = (operation, uid, identity.user)
        kept = self._plans.get(key)
        if kept is not None and kept[0] is parameters and self._current(kept[1]):
            return kept[1]
        plan = self.engine.plan(operation, _PLANNED[operation](uid, parameters), identity.user)
        if plan is None:
            self._plans.pop(key, None)
            return None
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        self._plans[key] = (parameters, plan)
        return plan

    def _forget(self, uid: str) -> None:
        """Drop the Plans on ``uid`` (with the engine's: a destroyed key's material is not kept)."""
        for key in [key for key in list(self._plans) if key[1] == uid]:
            self._plans.pop(key, None)

    def close(self) -> None:
        self._plans.clear()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()
        if self._hsm is not None:
            self._hsm.close()
            self._hsm = None


def software_keyring(backend: BackendConfig) -> Keyring:
    """The ``kms_backend.sealing.Keyring`` of ``backend``: ``KEYSTEAD_KEK`` (and its previous keys) when set, else
    the key file (created mode 0600 if missing). ValueError says what is missing or wrong."""
    from kms_backend.sealing import KeyFileKeyring, Keyring, parse_key

    if backend.kek:
        previous = [parse_key(k, "KEYSTEAD_KEK_PREVIOUS") for k in backend.kek_previous]
        return Keyring(parse_key(backend.kek, "KEYSTEAD_KEK"), previous)
    return KeyFileKeyring(_kek_path(backend))


def _kek_path(backend: BackendConfig) -> Path:
    path = backend.kek_path
    if path is None:
        raise ValueError(
            "the database is not an SQLite file and there is no configuration file to keep the key beside: set "
            "backend.kek_file for the key that seals the store's keys, or backend.seal_keys: false"
        )
    return path


__all__ = ["SEALED_STORES_FILE", "EmbeddedBackend", "software_keyring"]
