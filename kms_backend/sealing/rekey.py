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

Re-running after step 2 starts a fresh rotation, which finishes the earlier one on the way. With a key from the
environment there are no files: the operator sets the new key as ``KEYSTEAD_KEK`` and the old one in
``KEYSTEAD_KEK_PREVIOUS``, then ``rekey`` re-seals every object under the new key.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..store.base import ObjectStore
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
) -> RekeyReport:
    """Rotate the key-encryption key of ``keyring`` (see the module docstring); resumes an interrupted rotation.

    ``throttle`` pauses that many seconds after each re-sealed object (tests use it to interrupt a rotation
    mid-way); ``progress(uid, count)`` is called after each re-sealed object."""
    if retire not in RETIRE_CHOICES:
        raise ValueError(f"retire must be one of {RETIRE_CHOICES}")
    report = RekeyReport()
    sealer = SoftwareSealer(keyring, accept_plaintext=True)
    if not isinstance(keyring, KeyFileKeyring):
        # Keys from the environment: the new key is already the active one; re-seal everything under it.
        report.new_key = keyring.active_id
        sweep(store, sealer, keyring.active_id, report, throttle=throttle, progress=progress)
        report.phases.append("swept")
        return report
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
    report.phases.append("switched")
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
