"""Which key-encryption key seals new writes: the store says, so that every server sharing a database follows one
choice. The store's ``settings`` row ``ACTIVE_KEK_SETTING`` holds the key's id; the first server on a store writes
its own active key there, ``keystead store rekey`` moves it, and each server reads it every ``POLL_SECONDS``
(``ActiveKeyWatch``, which also re-reads a key ring whose file changed). A server's key ring only supplies keys: a
new key added to every node's ring seals nothing until ``store rekey`` names it, so nodes never write what another
node cannot read, whatever order the rings are updated in.

Each server also records which keys its ring holds (``NODE_SETTING_PREFIX`` + its name: the time and the key ids,
never a key), when it starts, when its ring changes and every ``HEARTBEAT_SECONDS``, and removes the row when it
stops; ``store rekey`` refuses to name a key that a server seen within ``NODE_FRESH_SECONDS`` lacks.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

from ..store.base import ObjectStore, SettingsStore, StoreError
from .software import SoftwareSealer

log = logging.getLogger("keystead.sealing")

#: The ``settings`` row naming (hex id) the key-encryption key that seals new writes.
ACTIVE_KEK_SETTING = "sealing.active_kek"
#: How often a server reads the store's choice (and the key ring file's stamp).
POLL_SECONDS = 1.0
#: Rows ``sealing.node.<host>/<pid>`` = ``<unix time> <key id>,<key id>…``: the keys each running server holds.
NODE_SETTING_PREFIX = "sealing.node."
#: How often a server renews its row; a row older than ``NODE_FRESH_SECONDS`` is a server that stopped.
HEARTBEAT_SECONDS = 30.0
NODE_FRESH_SECONDS = 3 * HEARTBEAT_SECONDS
#: Rows of servers that died without removing theirs are dropped by ``store rekey`` after a day.
NODE_FORGET_SECONDS = 86400.0
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


@dataclass(frozen=True)
class NodeRing:
    """What a running server said of its key ring: its name, when, and the ids of the keys it holds."""

    name: str
    seen: float
    key_ids: frozenset[bytes]


_servers_here = itertools.count(1)


def node_name() -> str:
    """A new server's name in the store: host and process id (and a count, for a second server in one process)."""
    count = next(_servers_here)
    return f"{socket.gethostname()}/{os.getpid()}" + (f"/{count}" if count > 1 else "")


def announce(store: ObjectStore, sealer: SoftwareSealer, name: str) -> None:
    """Record (or renew) which keys this server's ring holds."""
    if isinstance(store, SettingsStore):
        ids = ",".join(sorted(kid.hex() for kid in sealer.keyring.known))
        store.set_setting(NODE_SETTING_PREFIX + name, f"{int(time.time())} {ids}")


def forget(store: ObjectStore, name: str) -> None:
    """Remove this server's row (it stops)."""
    if isinstance(store, SettingsStore):
        store.delete_setting(NODE_SETTING_PREFIX + name)


def node_rings(store: ObjectStore) -> list[NodeRing]:
    """What every server that recorded its ring said (stale rows included; see ``NODE_FRESH_SECONDS``)."""
    if not isinstance(store, SettingsStore):
        return []
    rings = []
    for name, value in sorted(store.settings(NODE_SETTING_PREFIX).items()):
        seen, _, ids = value.partition(" ")
        try:
            key_ids = frozenset(bytes.fromhex(kid) for kid in ids.split(",") if kid)
            rings.append(NodeRing(name[len(NODE_SETTING_PREFIX) :], float(seen), key_ids))
        except ValueError:
            log.warning("ignoring the unreadable setting %s", name)
    return rings


def servers_lacking(store: ObjectStore, kid: bytes, now: float | None = None) -> list[NodeRing]:
    """The servers seen within ``NODE_FRESH_SECONDS`` whose ring lacks ``kid``; rows older than
    ``NODE_FORGET_SECONDS`` (servers killed without a word) are removed on the way."""
    now = time.time() if now is None else now
    lacking = []
    for ring in node_rings(store):
        if now - ring.seen > NODE_FORGET_SECONDS:
            forget(store, ring.name)
        elif now - ring.seen <= NODE_FRESH_SECONDS and kid not in ring.key_ids:
            lacking.append(ring)
    return lacking


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

    def __init__(
        self,
        store: ObjectStore,
        sealer: SoftwareSealer,
        interval: float = POLL_SECONDS,
        name: str | None = None,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.interval = interval
        self.name = name or node_name()
        self._announced_keys: frozenset[bytes] = frozenset()
        self._announced_at = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reload = False
        self._thread = threading.Thread(target=self._run, name="keystead-kek-watch", daemon=True)

    def start(self) -> ActiveKeyWatch:
        """Record this server's ring in the store, then watch."""
        self._announce()
        self._thread.start()
        return self

    def _announce(self) -> None:
        keys = frozenset(self.sealer.keyring.known)
        if keys != self._announced_keys or time.monotonic() - self._announced_at >= HEARTBEAT_SECONDS:
            announce(self.store, self.sealer, self.name)
            self._announced_keys, self._announced_at = keys, time.monotonic()

    def request_reload(self) -> None:
        """Read the key ring again at once (SIGHUP; safe in a signal handler: it only wakes the thread)."""
        self._reload = True
        self._wake.set()

    def stop(self) -> None:
        """Stop watching and remove this server's row (best effort: a stale row expires anyway)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        try:
            forget(self.store, self.name)
        except (StoreError, OSError) as exc:
            log.warning("cannot remove this server's key ring record: %s", exc)

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
        self._announce()

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
    "HEARTBEAT_SECONDS",
    "NODE_FORGET_SECONDS",
    "NODE_FRESH_SECONDS",
    "NODE_SETTING_PREFIX",
    "POLL_SECONDS",
    "SWITCH_GRACE_SECONDS",
    "ActiveKeyWatch",
    "NodeRing",
    "adopt_store_key",
    "announce",
    "forget",
    "node_name",
    "node_rings",
    "servers_lacking",
    "set_store_key",
    "store_key",
]
