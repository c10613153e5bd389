"""KEK rotation (``keystead hsm rotate-kek``): re-seal every stored object under a new KEK, then retire the old one.

Resumable and safe to interrupt at any point (kill -9 included) because all of its state is durable where it
already lives, and every step is atomic:

* on the HSM, by label: the new KEK is created as ``<label>.next`` and keeps that label until every object has
  been re-sealed; the old KEK keeps ``<label>`` (and CKA_ENCRYPT) meanwhile, so a running server goes on sealing
  with it, and both KEKs stay on the token;
* in each object's sealed blob, whose header names the KEK that sealed it: an object is re-sealed in its own store
  transaction (unseal with whichever KEK its header names, seal under the new one, optimistic update), so it is
  under the old KEK or the new one, never lost in between.

Phases, each found again from the token's labels when the command is re-run:

1. ``<label>.next`` exists (or is created): re-seal every object not yet under it (plaintext blobs written
   before a KEK was configured are sealed too);
2. switch: the old KEK loses CKA_ENCRYPT (servers that still hold it follow the label to the new one on their next
   write), then the new KEK takes ``<label>``;
3. sweep: re-seal what servers sealed under the old KEK until the switch, until a pass finds nothing;
4. retire the old KEK: relabel it ``<label>.retired.<id>`` (default: it can still unseal a backup taken before the
   rotation) or destroy it (``retire="destroy"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError
from ..sealing.reseal import Progress, ResealCounts, reseal_all, sweep
from ..store.base import ObjectStore
from .kek import KekInfo, KekSealer

log = logging.getLogger("keystead.hsm.rotation")

NEXT_SUFFIX = ".next"
RETIRED_SUFFIX = ".retired."
RETIRE_CHOICES = ("relabel", "destroy")


@dataclass
class RotationReport(ResealCounts):
    """What one run of ``rotate_kek`` did."""

    old_kek: bytes | None = None
    new_kek: bytes | None = None
    retired: str = ""
    phases: list[str] = field(default_factory=list)


def rotate_kek(
    store: ObjectStore,
    sealer: KekSealer,
    *,
    retire: str = "relabel",
    throttle: float = 0.0,
    progress: Progress | None = None,
) -> RotationReport:
    """Rotate the KEK labelled ``sealer.label`` (see the module docstring); resumes an interrupted rotation.

    ``throttle`` pauses that many seconds after each re-sealed object (limits the load on a shared HSM; tests use
    it to interrupt a rotation mid-way). ``progress(uid, count)`` is called after each re-sealed object.
    """
    if retire not in RETIRE_CHOICES:
        raise ValueError(f"retire must be one of {RETIRE_CHOICES}")
    label = sealer.label
    next_label = label + NEXT_SUFFIX
    report = RotationReport()
    sealer.accept_plaintext = True  # objects stored before the KEK existed get sealed now
    sealer.cache.max_entries = 0  # no plaintext kept around: every object is read once

    current = sealer.find(label)
    pending = sealer.find(next_label)
    if len(pending) > 1:
        raise _error(f"{len(pending)} keys are labelled {next_label!r}; keep one")
    if pending:
        new = pending[0]
        old = _single(current, label, "old")
        report.phases.append("resumed re-sealing")
    elif len(current) == 2 and sum(k.can_encrypt for k in current) == 1:
        new = next(k for k in current if k.can_encrypt)
        old = next(k for k in current if not k.can_encrypt)
        report.phases.append("resumed after the switch")
    else:
        old = _single(current, label, "current")
        if not old.can_encrypt:
            raise _error(f"the key-encryption key {label!r} may not encrypt; it is not the active KEK")
        new = sealer.create(next_label)
        report.phases.append("started")
        log.info("created the new key-encryption key %r (id %s)", next_label, new.kek_id.hex())
    report.old_kek, report.new_kek = old.kek_id, new.kek_id

    if new.label == next_label:
        reseal_all(store, sealer, new.kek_id, report, throttle=throttle, progress=progress)
        sealer.update(old.kek_id, can_encrypt=False)
        sealer.update(new.kek_id, label=label)
        report.phases.append("switched")
    sweep(store, sealer, new.kek_id, report, throttle=throttle, progress=progress)
    report.phases.append("swept")
    if retire == "destroy":
        sealer.destroy(old.kek_id)
        report.retired = "destroyed"
    else:
        retired_label = f"{label}{RETIRED_SUFFIX}{old.kek_id.hex()}"
        sealer.update(old.kek_id, label=retired_label)
        report.retired = retired_label
    sealer.active_id = new.kek_id
    return report


def _single(keks: list[KekInfo], label: str, what: str) -> KekInfo:
    if len(keks) != 1:
        raise _error(f"expected one {what} key-encryption key labelled {label!r}, found {len(keks)}")
    return keks[0]


def _error(message: str) -> KmipError:
    return KmipError(ResultReason.GENERAL_FAILURE, message)


__all__ = ["NEXT_SUFFIX", "RETIRED_SUFFIX", "RETIRE_CHOICES", "RotationReport", "rotate_kek"]
