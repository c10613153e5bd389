"""Re-sealing stored objects under a software key-encryption key: ``seal_unsealed`` (a database written before
sealing existed is sealed in place at start-up) and ``rekey`` (``keystead store rekey``: rotate the key).

Both are safe to interrupt at any point (kill -9 included) and to run again: each object is re-sealed in its own
store transaction (unseal with whichever key its header names, seal under the target key, optimistic update), so it
is under the old key or the new one, never lost in between. For a key file the rotation's state is in the files:

1. ``<file>.next`` exists (or is created, mode 0600): re-seal every object not yet under it (plaintext blobs
   included);
2. switch: the old key is kept as ``<file>.retired.<id>``, then ``<file>.next`` replaces ``<file>`` (one rename;
   running servers see the file change before their next seal and follow it);
3. sweep: re-seal what servers sealed under the old key until they noticed, until a pass finds nothing;
4. ``retire="destroy"`` deletes the retired key file (default: keep it, it still reads backups taken before).

Re-running after step 2 starts a fresh rotation, which finishes the earlier one on the way.

A cluster rotates through key rings instead (``active``): the operator adds the new key as the last line of every
node's key file (or sets it as ``KEYSTEAD_KEK``, the old one moving to ``KEYSTEAD_KEK_PREVIOUS``); ``rekey`` finds
the ring's newest key is not the store's yet, names it in the store (every server seals under it within a second),
re-seals every object under it, waits for the servers to have switched and sweeps; the operator then removes the
old key from the rings. Interrupted, it is run again: the store already names the new key, so it sweeps.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..store.base import ObjectStore, SettingsStore
from .active import SWITCH_GRACE_SECONDS, servers_lacking, set_store_key, store_key
from .reseal import Progress, ResealCounts, reseal_all, sweep
from .software import KeyFileKeyring, Keyring, SoftwareSealer, key_id, write_new_key

log = logging.getLogger("keystead.sealing")

RETIRE_CHOICES = ("keep", "destroy")


@dataclass
class RekeyReport(ResealCounts):
    """What one run of ``rekey`` or ``seal_unsealed`` did."""

    old_key: bytes | None = None
    new_key: bytes | None = None
    retired: str = ""
    phases: list[str] = field(default_factory=list)
    #: What the operator does next (a key ring rotation: remove the old key from every ring).
    advice: str = ""


def seal_unsealed(store: ObjectStore, sealer: SoftwareSealer, *, progress: Progress | None = None) -> RekeyReport:
    """Seal, under the active key, every object still stored in plaintext (a database from before sealing)."""
    report = RekeyReport(new_key=sealer.active_id)
    migrating = SoftwareSealer(sealer.keyring, accept_plaintext=True)
    reseal_all(store, migrating, sealer.active_id, report, only_plaintext=True, progress=progress)
    return report


def seal_once(store: ObjectStore, sealer: SoftwareSealer, record: Path, database_url: str) -> RekeyReport:
    """``seal_unsealed`` once per database: the file ``record`` lists (``store_marker``) the databases already
    sealed, so that later openings neither scan every object nor accept a plaintext blob written behind their back.
    An SQLite file is rewritten afterwards so that no free page keeps a plaintext blob sealing replaced."""
    marker = store_marker(database_url)
    if record.exists() and marker in record.read_text().split():
        return RekeyReport(new_key=sealer.active_id)
    report = seal_unsealed(store, sealer)
    if report.resealed:
        log.warning("sealed %d objects stored before sealing at rest existed", report.resealed)
        sqlite_file = sqlite_path(database_url)
        if sqlite_file is not None:
            scrub_sqlite(sqlite_file)
        else:
            log.warning(
                "the plaintext row versions they replaced may stay on the database server's disk until it reuses "
                "the space: run VACUUM FULL (PostgreSQL) or OPTIMIZE TABLE (MySQL) on the objects table"
            )
    with record.open("a") as out:
        out.write(marker + "\n")
    return report


def sqlite_path(url: str) -> Path | None:
    """The database file of an ``sqlite:///path`` URL; None for other stores and for an in-memory SQLite."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        return None
    # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy reads them; a query string is not the path.
    path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    return Path(path) if path and path != ":memory:" else None


def scrub_sqlite(path: Path) -> None:
    """Rewrite an SQLite database so that no page keeps the plaintext blobs sealing replaced: freed pages are
    zeroed (secure_delete), the file rebuilt (VACUUM) and the write-ahead log emptied."""
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def rekey(
    store: ObjectStore,
    keyring: Keyring,
    *,
    retire: str = "keep",
    throttle: float = 0.0,
    progress: Progress | None = None,
    grace: float = SWITCH_GRACE_SECONDS,
    force: bool = False,
) -> RekeyReport:
    """Rotate the key-encryption key of ``keyring`` (see the module docstring); resumes an interrupted rotation.

    ``throttle`` pauses that many seconds after each re-sealed object (tests use it to interrupt a rotation
    mid-way); ``progress(uid, count)`` is called after each re-sealed object; ``grace``: how long to wait after
    moving the store's key before the last sweep (every server reads it within ``active.POLL_SECONDS``);
    ``force``: name the new key even though a server seen lately lacks it (ValueError otherwise)."""
    if retire not in RETIRE_CHOICES:
        raise ValueError(f"retire must be one of {RETIRE_CHOICES}")
    report = RekeyReport()
    sealer = SoftwareSealer(keyring, accept_plaintext=True)
    current = store_key(store) or keyring.active_id
    key_file = keyring if isinstance(keyring, KeyFileKeyring) else None
    if key_file is not None and key_file.next_path.exists():
        return _rotate_key_file(
            store, key_file, sealer, report, retire=retire, throttle=throttle, progress=progress, grace=grace
        )
    if keyring.newest_id != current:
        # The ring's newest key (the last line of the key file, or KEYSTEAD_KEK) is not the store's yet: every
        # server has it in its ring (the operator added it first), so the store can name it at once.
        if retire == "destroy":
            raise ValueError(
                "--retire destroy applies to a key file rotated on its own; with a key ring, remove the old key "
                "from every server's ring once this has finished"
            )
        new_id = report.new_key = keyring.newest_id
        report.old_key = current
        lacking = servers_lacking(store, new_id)
        if lacking and not force:
            now = time.time()
            names = ", ".join(f"{ring.name} (seen {now - ring.seen:.0f} s ago)" for ring in lacking)
            raise ValueError(
                f"the new key {new_id.hex()} is not in the key ring of every running server: {names} lack it. Add "
                "it to their rings and wait a second (or send them SIGHUP), then run this again (--force switches "
                "anyway: those servers' writes would fail)"
            )
        set_store_key(store, new_id)
        report.phases.append("switched")
        reseal_all(store, sealer, new_id, report, throttle=throttle, progress=progress)
        time.sleep(grace)
        sweep(store, sealer, new_id, report, throttle=throttle, progress=progress)
        report.phases.append("swept")
        report.advice = (
            f"the key {current.hex()} seals nothing now: remove it from every server's key ring (keep a copy "
            "apart if backups taken before must stay readable)"
        )
        return report
    if key_file is None or len(key_file.ring) > 1:
        # Nothing newer to move to: re-seal whatever is left under another key (an earlier run interrupted).
        report.new_key = current
        set_store_key(store, current)
        sweep(store, sealer, current, report, throttle=throttle, progress=progress)
        report.phases.append("swept")
        return report
    return _rotate_key_file(
        store, key_file, sealer, report, retire=retire, throttle=throttle, progress=progress, grace=grace
    )


def _rotate_key_file(
    store: ObjectStore,
    keyring: KeyFileKeyring,
    sealer: SoftwareSealer,
    report: RekeyReport,
    *,
    retire: str,
    throttle: float,
    progress: Progress | None,
    grace: float,
) -> RekeyReport:
    """A key file holding one key rotated on its own: ``<file>.next``, re-seal, switch files, sweep."""
    old_id = keyring.active_id
    if keyring.next_path.exists():
        new_key = keyring.read(keyring.next_path)
        report.phases.append("resumed re-sealing")
    else:
        new_key = write_new_key(keyring.next_path)
        report.phases.append("started")
        log.info("created the new key-encryption key file %s", keyring.next_path)
    keyring.refresh()
    new_id = key_id(new_key)
    report.old_key, report.new_key = old_id, new_id
    reseal_all(store, sealer, new_id, report, throttle=throttle, progress=progress)
    retired = keyring.retired_path(old_id)
    if not retired.exists():
        os.link(keyring.path, retired)
    os.replace(keyring.next_path, keyring.path)
    _fsync_dir(keyring.path.parent)
    keyring.refresh()
    set_store_key(store, new_id)
    report.phases.append("switched")
    if isinstance(store, SettingsStore):
        time.sleep(grace)
    sweep(store, sealer, new_id, report, throttle=throttle, progress=progress)
    report.phases.append("swept")
    if retire == "destroy":
        retired.unlink()
        keyring.refresh()
        report.retired = "destroyed"
    else:
        report.retired = str(retired)
    return report


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store_marker(database_url: str) -> str:
    """A line naming a database without its password (for the record of stores already sealed)."""
    return hashlib.sha256(database_url.encode()).hexdigest()


__all__ = [
    "RETIRE_CHOICES",
    "RekeyReport",
    "rekey",
    "scrub_sqlite",
    "seal_once",
    "seal_unsealed",
    "sqlite_path",
    "store_marker",
]
