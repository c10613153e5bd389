"""Lanes: one-shot Encrypt, Decrypt and Sign with a hot key repeated by the same user, answered without a
transaction.

A client that encrypts with one key over and over (the PKCS#11 provider's C_Encrypt, a database's TDE master key,
MongoDB's delegated data keys) sends the same decision many times: may this user use this key, now, with these
parameters, and which cipher results. The handler makes that decision in full (access control, lifecycle state,
usage mask, parameter merging and validation) and then opens a lane: the resolved cipher, remembered with

* the store's change stamp it was decided under (``StoreTransaction.change_stamp``): any commit anywhere — a
  Revoke, a Destroy, a grant withdrawn, an attribute changed, by this process or another one sharing the
  database — ends every lane at once;
* the first date of the object still in the future (Activation, Deactivation, Process Start, Protect Stop...):
  a lane never outlives a state change that time alone would bring.

A lane is only opened when nothing else can differ between two such requests: the request names the object by
its Unique Identifier (no placeholder or tag list), is not part of a stream or Cosmian bulk data, the key has no
Usage Limits (each use is then a write) and is not stored wrapped (its use needs the wrapping key), no HSM hook is
installed, and the transaction that decided it wrote nothing. Everything else runs the handler. A lane answers
exactly what the handler would: the crypto layer does the same work on the same resolved plan, and its errors
(a bad IV, a wrong tag) are the same KmipErrors.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .. import crypto
from ..kmip import _schema_data as S
from ..kmip._registry_data import Operation
from ..kmip.schema import Attributes
from .context import BatchState
from .handlers._crypto import BULK_MAGIC, MAX_DATA_BYTES, one_shot
from .objects import DATE_TAGS

#: Lanes kept at most (oldest dropped first) and parameter variants per (operation, key, user).
MAX_LANES = 4096
_VARIANTS = 4
_NEVER = 1 << 62

StampSource = Callable[[], Hashable | None]


@dataclass(frozen=True, slots=True)
class Lane:
    """A decided Encrypt, Decrypt or Sign: valid while the store's stamp is ``stamp`` and the time before ``until``."""

    stamp: Hashable
    until: int
    #: the request's Cryptographic Parameters the decision was made for (compared by value)
    requested: S.CryptographicParameters | None
    #: ``crypto.prepare_encrypt`` / ``prepare_decrypt`` result
    run: Any


class Lanes:
    """The open lanes of one engine; thread-safe (entries are replaced whole)."""

    def __init__(self, stamp: StampSource, clock: Callable[[], float]) -> None:
        self._stamp = stamp
        self._clock = clock
        self._lanes: dict[tuple[int, str, str, bool], tuple[Lane, ...]] = {}
        self._lock = threading.Lock()

    # -- answering ----------------------------------------------------------------------------------------------
    def run(
        self, operation: Operation, request: Any, user: str, version: tuple[int, int], batch: BatchState | None
    ) -> Any:
        """The response the handler would give, or None when no lane fits (then the handler must run)."""
        uid = request.unique_identifier
        if type(uid) is not str:
            return None
        index = (operation, uid, user, version[0] >= 2)
        variants = self._lanes.get(index)
        if variants is None:
            return None
        if not one_shot(request):
            return None
        digested = False
        if operation == Operation.SIGN:
            data = request.data
            if request.digested_data is not None:
                if data is not None:
                    return None  # both: the handler refuses it
                data, digested = request.digested_data, True
            if type(data) is not bytes or len(data) > MAX_DATA_BYTES:
                return None
        else:
            data = request.data
            if type(data) is not bytes or len(data) > MAX_DATA_BYTES or data.startswith(BULK_MAGIC):
                return None
        requested = request.cryptographic_parameters
        for lane in variants:
            if lane.requested == requested:  # by value: a caller may change its parameters object between calls
                break
        else:
            return None
        if self._clock() >= lane.until:
            return None
        if self._stamp() != lane.stamp:
            self._lanes.pop(index, None)  # decided under a state that is gone: never valid again
            return None
        if operation == Operation.SIGN:
            response: Any = S.SignResponse(unique_identifier=uid, signature_data=lane.run(data, digested))
        elif operation == Operation.ENCRYPT:
            result = lane.run(data, request.iv_counter_nonce, request.authenticated_encryption_additional_data)
            response = S.EncryptResponse(
                unique_identifier=uid,
                data=result.data,
                iv_counter_nonce=result.iv_counter_nonce,
                authenticated_encryption_tag=result.tag,
            )
        else:
            plaintext = lane.run(
                data,
                request.iv_counter_nonce,
                request.authenticated_encryption_additional_data,
                request.authenticated_encryption_tag,
            )
            response = S.DecryptResponse(unique_identifier=uid, data=plaintext)
        if batch is not None:
            batch.id_placeholder = uid
            batch.returned_uids.append(uid)
        return response

    # -- opening --------------------------------------------------------------------------------------------------
    def open(
        self,
        operation: Operation,
        uid: str,
        user: str,
        version: tuple[int, int],
        *,
        stamp: Hashable,
        attributes: Attributes,
        now: int,
        requested: S.CryptographicParameters | None,
        key: bytes,
        params: crypto.CipherParams,
        approved_only: bool,
    ) -> None:
        """Remember a decision the handler made under ``stamp`` (see the module doc for when it may)."""
        if operation == Operation.SIGN:
            run: Any = crypto.prepare_sign(key, params, approved_only=approved_only)
        elif operation == Operation.ENCRYPT:
            run = crypto.prepare_encrypt(key, params, approved_only=approved_only)
        else:
            run = crypto.prepare_decrypt(key, params, approved_only=approved_only)
        # A snapshot of the parameters: the caller's object may change.
        lane = Lane(stamp, _first_future_date(attributes, now), copy.copy(requested), run)
        index = (int(operation), uid, user, version[0] >= 2)
        with self._lock:
            kept = tuple(v for v in self._lanes.get(index, ()) if v.stamp == stamp and v.requested != requested)
            if index not in self._lanes and len(self._lanes) >= MAX_LANES:
                del self._lanes[next(iter(self._lanes))]
            self._lanes[index] = (lane, *kept[: _VARIANTS - 1])

    def forget(self, uid: str) -> None:
        """Drop every lane of ``uid`` (its object was destroyed)."""
        with self._lock:
            for index in [i for i in self._lanes if i[1] == uid]:
                del self._lanes[index]

    def clear(self) -> None:
        with self._lock:
            self._lanes.clear()

    def __len__(self) -> int:
        return len(self._lanes)


def _first_future_date(attributes: Attributes, now: int) -> int:
    """The earliest date attribute of the object after ``now`` (a lane's end), or practically never."""
    dates = (v for tag in DATE_TAGS if isinstance(v := attributes.get(tag), int) and v > now)
    return min(dates, default=_NEVER)


__all__ = ["MAX_LANES", "Lane", "Lanes"]
