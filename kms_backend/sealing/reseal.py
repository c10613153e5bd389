"""Re-sealing every stored object under a new key-encryption key, one object per transaction: the loop the
software key's rotation (``sealing.rekey``) and the HSM key's rotation (``hsm.rotation``) share. Each object is
read for update, unsealed and sealed again under the new key; an object a server changes meanwhile is read again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError
from ..store.base import ObjectStore, StoreConflict
from .blob import is_sealed, sealed_kek_id

_MAX_SWEEPS = 5
_CONFLICT_RETRIES = 5

#: Called after each re-sealed object with its uid and the count so far.
Progress = Callable[[str, int], None]


class Resealer(Protocol):
    """What re-sealing needs of a sealer (``SoftwareSealer``, ``hsm.KekSealer``)."""

    def unseal(self, uid: str, blob: bytes) -> bytes: ...

    def seal_with(self, kek_id: bytes, uid: str, plain: bytes, /) -> bytes: ...


@dataclass
class ResealCounts:
    """How many objects a run re-sealed, found done already, or found without a stored blob."""

    resealed: int = 0
    already_done: int = 0
    empty: int = 0


def reseal_all(
    store: ObjectStore,
    sealer: Resealer,
    new_id: bytes,
    counts: ResealCounts,
    *,
    only_plaintext: bool = False,
    throttle: float = 0.0,
    progress: Progress | None = None,
) -> None:
    """One pass over every object: seal it under ``new_id`` unless it already is (``only_plaintext``: seal only
    objects stored in plaintext). ``throttle`` pauses that many seconds after each re-sealed object."""
    for uid in list(store.all_uids()):
        for _attempt in range(_CONFLICT_RETRIES):
            try:
                outcome = _reseal_one(store, sealer, uid, new_id, only_plaintext)
                break
            except StoreConflict:
                continue  # a server changed the object meanwhile: read it again
        else:
            raise KmipError(ResultReason.GENERAL_FAILURE, f"object {uid} keeps changing; run again")
        if outcome == "resealed":
            counts.resealed += 1
            if progress is not None:
                progress(uid, counts.resealed)
            if throttle:
                time.sleep(throttle)
        elif outcome == "empty":
            counts.empty += 1
        else:
            counts.already_done += 1


def sweep(
    store: ObjectStore,
    sealer: Resealer,
    new_id: bytes,
    counts: ResealCounts,
    *,
    throttle: float = 0.0,
    progress: Progress | None = None,
) -> None:
    """Passes until one re-seals nothing: objects servers wrote under the old key while the first pass ran."""
    for _ in range(_MAX_SWEEPS):
        before = counts.resealed
        reseal_all(store, sealer, new_id, counts, throttle=throttle, progress=progress)
        if counts.resealed == before:
            return
    raise KmipError(
        ResultReason.GENERAL_FAILURE,
        "objects keep appearing under the old key-encryption key; stop the servers and run again",
    )


def _reseal_one(store: ObjectStore, sealer: Resealer, uid: str, new_id: bytes, only_plaintext: bool) -> str:
    with store.transaction() as tx:
        record = tx.get(uid, for_update=True)
        if record is None or not record.object_bytes:
            return "empty"
        if (only_plaintext and is_sealed(record.object_bytes)) or sealed_kek_id(record.object_bytes) == new_id:
            return "done"
        plain = sealer.unseal(uid, record.object_bytes)
        record.object_bytes = sealer.seal_with(new_id, uid, plain)
        tx.update(record)
    return "resealed"


__all__ = ["Progress", "ResealCounts", "Resealer", "reseal_all", "sweep"]
