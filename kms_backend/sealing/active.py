"""Which key-encryption key seals new writes: the store says, so that every server sharing a database follows one
choice. The store's ``settings`` row ``ACTIVE_KEK_SETTING`` holds the key's id; the first server on a store writes
its own active key there, ``keystead store rekey`` moves it, and each server reads it every ``POLL_SECONDS``
(``ActiveKeyWatch``, which also re-reads a key ring whose file changed). A server's key ring only supplies keys: a
new key added to every node's ring seals nothing until ``store rekey`` names it, so nodes never write what another
node cannot read, whatever order the rings are updated in.
"""

from __future__ import annotations

import logging
import threading

from ..store.base import ObjectStore, SettingsStore, StoreError
from .software import SoftwareSealer

log = logging.getLogger("keystead.sealing")

#: The ``settings`` row naming (hex id) the key-encryption key that seals new writes.
ACTIVE_KEK_SETTING = "sealing.active_kek"
#: How often a server reads the store's choice (and the key ring file's stamp).
POLL_SECONDS = 1.0
#: How long ``store rekey`` waits after moving the store's key before its last sweep: every server has read the
#: new choice by then, so nothing is sealed under the old key afterwards.
SWITCH_GRACE_SECONDS = 3 * POLL_SECONDS


def store_key(store: ObjectStore) -> bytes | None:
    """The id of the key the store seals new writes under (None: a store without settings, or none chosen yet)."""
    if not isinstance(store, SettingsStore):
        return None
    value = store.setting(ACTIVE_KEK_SETTING)
    return bytes.fromhex(value) if value else None


def set_store_key(store: ObjectStore, kid: bytes) -> None:
    """Make ``kid`` the key every server seals new writes under (within ``POLL_SECONDS``)."""
    if isinstance(store, SettingsStore):
        store.set_setting(ACTIVE_KEK_SETTING, kid.hex())


def adopt_store_key(store: ObjectStore, sealer: SoftwareSealer) -> None:
    """Seal under the store's key (the first server on a store names its own active key). ValueError if this
    server's key ring lacks it: it could neither read what others write nor write what they read."""
    if not isinstance(store, SettingsStore):
        return
    kid = bytes.fromhex(store.set_setting(ACTIVE_KEK_SETTING, sealer.keyring.active_id.hex(), only_if_unset=True))
    if kid not in sealer.keyring.known:
        sealer.reload()
    if kid not in sealer.keyring.known:
        raise ValueError(
            f"the store seals under the key-encryption key {kid.hex()}, which is not in this server's key ring "
            f"({sealer.keyring.describe()}): add it to the ring"
        )
    sealer.store_key_id = kid


class ActiveKeyWatch:
    """A daemon thread keeping ``sealer`` on the store's key and its key ring current (every ``interval``)."""

    def __init__(self, store: ObjectStore, sealer: SoftwareSealer, interval: float = POLL_SECONDS) -> None:
        self.store = store
        self.sealer = sealer
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload = False
        self._thread = threading.Thread(target=self._run, name="keystead-kek-watch", daemon=True)

    def start(self) -> ActiveKeyWatch:
        self._thread.start()
        return self

    def request_reload(self) -> None:
        """Read the key ring again at once (SIGHUP; safe in a signal handler: it only wakes the thread)."""
        self._reload = True
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def check(self) -> None:
        """One look: the key ring's file, then the store's choice."""
        sealer = self.sealer
        if self._reload or sealer.keyring.changed():
            self._reload = False
            sealer.reload()
        kid = store_key(self.store)
        if kid is not None and kid != sealer.store_key_id:
            if kid not in sealer.keyring.known:
                sealer.reload()
            if kid not in sealer.keyring.known:
                log.error(
                    "the store now seals under the key-encryption key %s, which this server's key ring lacks (%s): "
                    "writes fail until it is added",
                    kid.hex(),
                    sealer.keyring.describe(),
                )
            else:
                log.warning("sealing new writes under the key-encryption key %s (the store's choice)", kid.hex())
            sealer.store_key_id = kid

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except (StoreError, OSError, ValueError) as exc:  # the database or the key file, for a moment
                log.warning("cannot check the key-encryption key: %s", exc)


__all__ = [
    "ACTIVE_KEK_SETTING",
    "POLL_SECONDS",
    "SWITCH_GRACE_SECONDS",
    "ActiveKeyWatch",
    "adopt_store_key",
    "set_store_key",
    "store_key",
]
