"""``ObjectStore`` on Redis: encrypted records, plain index sets, Locate as set algebra inside Redis.

Layout (every key starts with the store prefix, ``keystead:`` by default):

* ``obj:{uid}`` hash: ``rev`` and ``seq`` in clear; ``idx`` (the Locate fields, JSON) and ``data`` (object and
  attribute bytes) each sealed with AES-256-GCM under the store key, associated data binding the field name and
  the uid, so a ciphertext copied to another object or field fails to open. Key material never reaches Redis in
  clear.
* Index sets of uids: ``idx:type:{n}``, ``idx:alg:{n}``, ``idx:len:{n}``, ``idx:state:{n}``,
  ``idx:status:{n}``, ``idx:owner:{user}``, ``idx:name:{name}``, ``idx:group:{g}``, ``idx:tag:{t}``,
  ``idx:link:{type}:{uid}``, ``idx:linktype:{type}`` (any target), ``idx:usage:{bit}`` (one set per usage-mask
  bit, so "every bit set" is an intersection); sorted sets ``date:{tag}`` (uid scored by the date) and
  ``order`` (uid scored by the creation counter ``seq``). Names, groups, tags and owners appear in key names in
  clear: the design treats them as metadata, not secrets. Variable text always ends a key name, after a fixed
  family prefix, so two families cannot collide.
* ``live:{type}:{name}`` → uid of the live object holding that Name (uniqueness, checked under WATCH).
* ``grants:{uid}`` hash user → JSON list of operations; reverse indexes ``ugrants:{user}`` (uids with any grant)
  and ``ugrants-op:{op}:{user}``; ``privileged`` set; ``statuses`` (storage status values in use).

Locate turns the query into an AND of ORs of those keys and runs one MULTI/EXEC: SUNIONSTORE per OR,
ZRANGESTORE … BYSCORE per date range, ZINTERSTORE with ``order`` (weights 1, 0, …) so the result is scored by
creation order, then ZRANGE for offset/limit and ZCARD for the count. Every filter, bit masks and date ranges
included, is evaluated in Redis; nothing is decrypted to locate.

Transactions: each write runs as one MULTI/EXEC under WATCH of the keys it read (object record, Name keys, grant
hash), retried when a concurrent client touched them, so each write is atomic and revision checks are
compare-and-set. Each MULTI/EXEC that writes also increments ``changes``: its value is the change stamp
(``StoreTransaction.change_stamp``), one GET that moves atomically with every write of every server sharing the
database (or a value polled at most ``stamp_lag`` seconds ago, ``_stamps``). Writes apply immediately (later
reads in the block see them; other clients may too) and are journaled; if the block raises, the journal is undone
in reverse, each undo again under WATCH and only if the object is still at the revision this transaction left it.
``get(for_update=True)`` takes no lock: the revision check of ``update`` detects the lost race (optimistic
concurrency). Durability is Redis's own (AOF/fsync configuration of the server).
"""

from __future__ import annotations

import functools
import json
import os
import struct
import uuid
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar, cast

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.client import Pipeline

from ._common import check_lengths, is_live, normalised_copy
from ._stamps import PolledStamp
from .base import EVERYONE, LocateQuery, NameConflict, StoreConflict, StoredObject, StoreError

_P = ParamSpec("_P")
_R = TypeVar("_R")

DEFAULT_PREFIX = "keystead:"
#: Attempts of one watched write before giving up on a hot key.
_MAX_RETRIES = 50
_NONCE = 12
_ALL_UIDS_BATCH = 1000


def _text(value: bytes | str) -> str:
    """A reply as text (the client returns bytes; its type hints also allow str)."""
    return value.decode() if isinstance(value, bytes) else value


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


_Hash = dict[bytes, bytes] | dict[bytes | str, bytes | str]


def _redis_error(exc: redis.RedisError) -> StoreError:
    # Connection errors name host and port only; others may echo a command, so only their class is kept.
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return StoreError(f"redis error: {type(exc).__name__}: {exc}")
    return StoreError(f"redis error: {type(exc).__name__}")


_TxMethod = Callable[Concatenate["RedisTransaction", _P], _R]


def _wrap_errors(method: _TxMethod[_P, _R]) -> _TxMethod[_P, _R]:
    @functools.wraps(method)
    def wrapper(self: RedisTransaction, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self.finished:
            raise StoreError("the transaction is finished")
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            raise _redis_error(exc) from None

    return wrapper


@dataclass(slots=True)
class _Record:
    """One stored object as kept in ``obj:{uid}``: the decoded object plus its clear bookkeeping fields."""

    obj: StoredObject
    seq: int
    idx_ct: bytes = b""
    data_ct: bytes = b""


@dataclass(slots=True)
class _IndexKeys:
    sets: set[str] = field(default_factory=set)
    dates: dict[int, int] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)


class RedisStore:
    """``ObjectStore`` on one Redis database. ``key``: 32 bytes (AES-256-GCM) sealing every record."""

    def __init__(self, url: str, key: bytes, *, prefix: str = DEFAULT_PREFIX, stamp_lag: float = 0.0) -> None:
        """``stamp_lag``: how old (seconds) a polled change stamp may be (``_stamps``); 0 reads it per request."""
        if len(key) != 32:
            raise ValueError("the Redis store key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)
        self.prefix = prefix
        self._closed = False
        self.stamps = PolledStamp(self._read_stamp, stamp_lag)
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url, socket_timeout=10, socket_connect_timeout=10, health_check_interval=30
            )
            self._client.ping()
        except redis.RedisError as exc:
            raise _redis_error(exc) from None

    # --- keys and sealing ---------------------------------------------------------------------------------------
    def key(self, *parts: object) -> str:
        """The Redis key made of the prefix and ``parts`` joined by ``:``."""
        return self.prefix + ":".join(str(p) for p in parts)

    def seal(self, field_name: str, uid: str, plaintext: bytes) -> bytes:
        """nonce ‖ AES-256-GCM(plaintext), the field name and uid as associated data."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, f"keystead:{field_name}:{uid}".encode())

    def open(self, field_name: str, uid: str, sealed: bytes) -> bytes:
        """The plaintext of ``seal`` (StoreError if the record was tampered with or sealed under another key)."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], f"keystead:{field_name}:{uid}".encode())
        except InvalidTag:
            raise StoreError(f"the record of {uid!r} does not authenticate (wrong key or tampering)") from None

    @property
    def client(self) -> redis.Redis:
        """The Redis client (shared, thread-safe connection pool)."""
        return self._client

    # --- ObjectStore --------------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[RedisTransaction]:
        """A journaled transaction: each write atomic at once; all undone if the block raises."""
        self._check_open()
        tx = RedisTransaction(self)
        try:
            yield tx
        except BaseException:
            tx.finished = True
            tx.rollback()
            raise
        finally:
            tx.finished = True

    def health(self) -> None:
        """Raise StoreError unless Redis answers PING."""
        self._check_open()
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise _redis_error(exc) from None

    def change_stamp(self) -> Hashable | None:
        """The change stamp a transaction would give now (``changes``); None if Redis fails."""
        if self._closed:
            return None
        try:
            return self.stamps.stamp(self._read_stamp)
        except redis.RedisError:
            return None

    def _read_stamp(self) -> int:
        return int(self._client.get(self.key("changes")) or 0)

    def close(self) -> None:
        """Close the connection pool."""
        self._closed = True
        self.stamps.close()
        self._client.close()

    def all_uids(self) -> Iterator[str]:
        """Every uid in creation order, read in batches by creation counter."""
        self._check_open()
        after = "-inf"
        while True:
            try:
                batch = self._client.zrange(
                    self.key("order"), after, "+inf", byscore=True, offset=0, num=_ALL_UIDS_BATCH, withscores=True
                )
            except redis.RedisError as exc:
                raise _redis_error(exc) from None
            pairs = cast("list[tuple[bytes, float]]", batch)  # withscores=True: (member, score) pairs
            if not pairs:
                return
            for uid, _ in pairs:
                yield _text(uid)
            after = f"({int(pairs[-1][1])}"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    # --- records ------------------------------------------------------------------------------------------------
    def encode(self, obj: StoredObject, seq: int) -> _Record:
        """Seal ``obj`` (normalised) into a record."""
        idx = {
            "type": obj.object_type,
            "owner": obj.owner,
            "state": obj.state,
            "alg": obj.cryptographic_algorithm,
            "len": obj.cryptographic_length,
            "mask": obj.cryptographic_usage_mask,
            "status": obj.storage_status,
            "names": obj.names,
            "groups": obj.object_groups,
            "tags": obj.tags,
            "links": obj.links,
            "dates": sorted(obj.dates.items()),
        }
        data = struct.pack(">I", len(obj.object_bytes)) + obj.object_bytes + obj.attributes_bytes
        return _Record(
            obj,
            seq,
            self.seal("idx", obj.uid, json.dumps(idx, separators=(",", ":")).encode()),
            self.seal("data", obj.uid, data),
        )

    def decode(self, uid: str, reply: _Hash) -> _Record | None:
        """The record of a ``HGETALL obj:{uid}`` answer (None if empty)."""
        if not reply:
            return None
        raw = {_raw(k): _raw(v) for k, v in reply.items()}
        idx = json.loads(self.open("idx", uid, raw[b"idx"]))
        data = self.open("data", uid, raw[b"data"])
        (length,) = struct.unpack_from(">I", data)
        obj = StoredObject(
            uid=uid,
            object_type=idx["type"],
            owner=idx["owner"],
            state=idx["state"],
            object_bytes=data[4 : 4 + length],
            attributes_bytes=data[4 + length :],
            cryptographic_algorithm=idx["alg"],
            cryptographic_length=idx["len"],
            cryptographic_usage_mask=idx["mask"],
            names=idx["names"],
            object_groups=idx["groups"],
            tags=idx["tags"],
            links=[(int(t), u) for t, u in idx["links"]],
            dates={int(t): int(v) for t, v in idx["dates"]},
            storage_status=idx["status"],
            revision=int(raw[b"rev"]),
        )
        return _Record(obj, int(raw[b"seq"]), raw[b"idx"], raw[b"data"])

    def index_keys(self, obj: StoredObject) -> _IndexKeys:
        """Every index entry ``obj`` belongs to."""
        k = self.key
        keys = _IndexKeys()
        sets = keys.sets
        sets.update((k("idx", "type", obj.object_type), k("idx", "state", obj.state)))
        sets.update((k("idx", "status", obj.storage_status), k("idx", "owner", obj.owner)))
        if obj.cryptographic_algorithm is not None:
            sets.add(k("idx", "alg", obj.cryptographic_algorithm))
        if obj.cryptographic_length is not None:
            sets.add(k("idx", "len", obj.cryptographic_length))
        mask = obj.cryptographic_usage_mask or 0
        sets.update(k("idx", "usage", 1 << bit) for bit in range(mask.bit_length()) if mask >> bit & 1)
        sets.update(k("idx", "name", n) for n in obj.names)
        sets.update(k("idx", "group", g) for g in obj.object_groups)
        sets.update(k("idx", "tag", t) for t in obj.tags)
        for link_type, linked in obj.links:
            sets.update((k("idx", "link", link_type, linked), k("idx", "linktype", link_type)))
        keys.dates = dict(obj.dates)
        if is_live(obj.state):
            keys.live = {k("live", obj.object_type, n) for n in obj.names}
        return keys

    def queue_write(self, pipe: Pipeline, uid: str, old: _Record | None, new: _Record | None) -> None:
        """Queue (inside MULTI) the commands that turn ``old`` into ``new`` (None: absent)."""
        empty = _IndexKeys()
        before = self.index_keys(old.obj) if old else empty
        after = self.index_keys(new.obj) if new else empty
        for key in before.sets - after.sets:
            pipe.srem(key, uid)
        for key in after.sets - before.sets:
            pipe.sadd(key, uid)
        for tag in before.dates.keys() - after.dates.keys():
            pipe.zrem(self.key("date", tag), uid)
        for tag, value in after.dates.items():
            if before.dates.get(tag) != value:
                pipe.zadd(self.key("date", tag), {uid: value})
        for key in before.live - after.live:
            pipe.delete(key)
        for key in after.live - before.live:
            pipe.set(key, uid)
        obj_key = self.key("obj", uid)
        if new is None:
            pipe.delete(obj_key)
            pipe.zrem(self.key("order"), uid)
            return
        pipe.hset(
            obj_key,
            mapping={"rev": new.obj.revision, "seq": new.seq, "idx": new.idx_ct, "data": new.data_ct},
        )
        pipe.zadd(self.key("order"), {uid: new.seq})
        pipe.sadd(self.key("statuses"), new.obj.storage_status)

    def watched(self, watch: Sequence[str], body: Callable[[Pipeline], _R]) -> _R:
        """Run ``body`` (reads, then ``pipe.multi()``, then queued writes) under WATCH, retrying lost races."""
        with self._client.pipeline() as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    pipe.watch(*watch)  # type: ignore[no-untyped-call]  # untyped in redis-py
                    result = body(pipe)
                    if pipe.explicit_transaction:
                        pipe.incr(self.key("changes"))
                        pipe.execute()
                        self.stamps.note_commit()
                    else:
                        pipe.unwatch()
                    return result
                except redis.WatchError:
                    continue
        raise StoreConflict("too much contention on the same Redis keys; retry")


class RedisTransaction:
    """``StoreTransaction`` on a ``RedisStore`` (see the module doc for the isolation it gives)."""

    def __init__(self, store: RedisStore) -> None:
        self._s = store
        self._undo: list[Callable[[], None]] = []
        self.finished = False
        #: whether this transaction wrote (its change stamp is then withheld: later reads show its own writes)
        self.wrote = False
        self._stamp: Hashable | None = None

    def rollback(self) -> None:
        """Undo every write of this transaction, newest first."""
        failures = 0
        for undo in reversed(self._undo):
            try:
                undo()
            except (redis.RedisError, StoreError):
                failures += 1
        self._undo.clear()
        if failures:
            raise StoreError(f"rollback incomplete: {failures} write(s) could not be undone")

    # --- reading ------------------------------------------------------------------------------------------------
    def _read(self, pipe: Pipeline | redis.Redis, uid: str) -> _Record | None:
        return self._s.decode(uid, pipe.hgetall(self._s.key("obj", uid)))

    def _read_many(self, uids: Sequence[str]) -> list[_Record]:
        pipe = self._s.client.pipeline(transaction=False)
        for uid in uids:
            pipe.hgetall(self._s.key("obj", uid))
        raws = pipe.execute()
        return [r for uid, raw in zip(uids, raws, strict=True) if (r := self._s.decode(uid, raw)) is not None]

    @_wrap_errors
    def get(self, uid: str, for_update: bool = False) -> StoredObject | None:
        """The object, or None (``for_update``: optimistic; ``update`` checks the revision)."""
        record = self._read(self._s.client, uid)
        return None if record is None else record.obj

    @_wrap_errors
    def get_many(self, uids: Sequence[str]) -> list[StoredObject]:
        """The objects that exist among ``uids``, in the order asked (one round trip)."""
        return [r.obj for r in self._read_many(list(uids))]

    # --- writing ------------------------------------------------------------------------------------------------
    def _check_names(self, pipe: Pipeline, obj: StoredObject) -> None:
        for live_key, name in zip(self._live_keys(obj), obj.names if is_live(obj.state) else [], strict=True):
            holder = pipe.get(live_key)
            if holder is not None and _text(holder) != obj.uid:
                raise NameConflict(name)

    def _live_keys(self, obj: StoredObject) -> list[str]:
        if not is_live(obj.state):
            return []
        return [self._s.key("live", obj.object_type, n) for n in obj.names]

    @_wrap_errors
    def insert(self, obj: StoredObject) -> None:
        """Add a new object (StoreConflict if the uid exists, NameConflict on a duplicate live name)."""
        check_lengths(obj)
        new = normalised_copy(obj)
        new.revision = 1
        s = self._s
        self.wrote = True
        seq = int(s.client.incr(s.key("seq")))
        record = s.encode(new, seq)
        obj_key = s.key("obj", obj.uid)

        def body(pipe: Pipeline) -> None:
            if pipe.exists(obj_key):
                raise StoreConflict(f"an object with uid {obj.uid!r} already exists")
            self._check_names(pipe, new)
            pipe.multi()
            s.queue_write(pipe, obj.uid, None, record)

        s.watched([obj_key, *self._live_keys(new)], body)
        obj.revision = 1
        self._undo.append(lambda: self._restore(obj.uid, 1, None))

    @_wrap_errors
    def update(self, obj: StoredObject) -> None:
        """Replace the object; StoreConflict if ``obj.revision`` is stale (or the object is gone); bumps it."""
        check_lengths(obj)
        new = normalised_copy(obj)
        new.revision = obj.revision + 1
        s = self._s
        obj_key = s.key("obj", obj.uid)
        self.wrote = True

        def body(pipe: Pipeline) -> _Record:
            old = self._read(pipe, obj.uid)
            if old is None or old.obj.revision != obj.revision:
                raise StoreConflict(f"object {obj.uid!r} was changed or deleted concurrently")
            self._check_names(pipe, new)
            pipe.multi()
            s.queue_write(pipe, obj.uid, old, s.encode(new, old.seq))
            return old

        old = s.watched([obj_key, *self._live_keys(new)], body)
        obj.revision = new.revision
        self._undo.append(lambda: self._restore(obj.uid, new.revision, old))

    @_wrap_errors
    def delete(self, uid: str) -> bool:
        """Remove the object, its index entries and its grants; True if it existed."""
        s = self._s
        obj_key, grants_key = s.key("obj", uid), s.key("grants", uid)
        self.wrote = True

        def body(pipe: Pipeline) -> tuple[_Record | None, dict[str, set[int]]]:
            old = self._read(pipe, uid)
            grants = self._decode_grants(pipe.hgetall(grants_key))
            pipe.multi()
            if old is not None:
                s.queue_write(pipe, uid, old, None)
            self._queue_grants(pipe, uid, grants, {})
            return old, grants

        old, grants = s.watched([obj_key, grants_key], body)

        def undo() -> None:
            if old is not None:
                self._restore(uid, None, old)
            self._set_grants(uid, grants)

        self._undo.append(undo)
        return old is not None

    def _restore(self, uid: str, expected_revision: int | None, record: _Record | None) -> None:
        """Undo step: put ``record`` back (None: remove) if the object is still as this transaction left it."""
        s = self._s

        def body(pipe: Pipeline) -> None:
            current = self._read(pipe, uid)
            found = None if current is None else current.obj.revision
            if found != expected_revision:
                raise StoreError(f"cannot roll back {uid!r}: another client changed it meanwhile")
            pipe.multi()
            s.queue_write(pipe, uid, current, record)

        s.watched([s.key("obj", uid)], body)

    # --- locate -------------------------------------------------------------------------------------------------
    def _run_locate(self, q: LocateQuery, ranged: bool) -> tuple[list[str], int]:
        s, k = self._s, self._s.key
        clauses: list[list[str]] = []
        for family, value in (
            ("type", q.object_type),
            ("alg", q.cryptographic_algorithm),
            ("len", q.cryptographic_length),
            ("state", q.state),
        ):
            if value is not None:
                clauses.append([k("idx", family, value)])
        mask = q.cryptographic_usage_mask or 0
        clauses.extend([k("idx", "usage", 1 << bit)] for bit in range(mask.bit_length()) if mask >> bit & 1)
        statuses = [int(v) for v in s.client.smembers(k("statuses"))]
        clauses.append([k("idx", "status", v) for v in statuses if v & q.storage_status_mask])
        if q.names:
            clauses.append([k("idx", "name", n) for n in q.names])
        if q.object_groups:
            clauses.append([k("idx", "group", g) for g in q.object_groups])
        clauses.extend([k("idx", "tag", t)] for t in q.tags)
        for link_type, linked in q.links:
            clauses.append([k("idx", "link", link_type, linked) if linked else k("idx", "linktype", link_type)])
        if q.user is not None:
            users = (q.user, EVERYONE)
            if q.operation is None:
                grant_keys = [k("ugrants", u) for u in users]
            else:
                grant_keys = [k("ugrants-op", q.operation, u) for u in users]
            clauses.append([k("idx", "owner", q.user), *grant_keys])
        if any(not c for c in clauses):
            return [], 0  # an OR over nothing (no storage status value selected) matches nothing

        scratch = k("tmp", uuid.uuid4().hex)
        temporaries: list[str] = []
        pipe = s.client.pipeline(transaction=True)
        inputs: list[str] = []
        for clause in clauses:
            if len(clause) == 1:
                inputs.append(clause[0])
            else:
                temp = f"{scratch}:{len(temporaries)}"
                temporaries.append(temp)
                pipe.sunionstore(temp, clause)
                inputs.append(temp)
        for tag, (earliest, latest) in q.date_ranges.items():
            temp = f"{scratch}:{len(temporaries)}"
            temporaries.append(temp)
            low = "-inf" if earliest is None else earliest
            high = "+inf" if latest is None else latest
            pipe.zrangestore(temp, k("date", tag), low, high, byscore=True)
            inputs.append(temp)
        result = f"{scratch}:result"
        temporaries.append(result)
        # Scores come from ``order`` alone: the result is sorted by creation.
        pipe.zinterstore(result, {k("order"): 1, **dict.fromkeys(inputs, 0)}, aggregate="SUM")
        if ranged:
            stop = -1 if q.limit is None else q.offset + q.limit - 1
            pipe.zrange(result, q.offset, stop)
        pipe.zcard(result)
        pipe.delete(*temporaries)
        replies = pipe.execute()
        if ranged:
            return [_text(u) for u in replies[-3]], int(replies[-2])
        return [], int(replies[-2])

    @_wrap_errors
    def locate(self, query: LocateQuery) -> list[str]:
        """Uids matching ``query``, creation order, offset/limit applied (one MULTI/EXEC of set operations)."""
        if query.limit is not None and query.limit <= 0:
            return []
        return self._run_locate(query, ranged=True)[0]

    @_wrap_errors
    def count(self, query: LocateQuery) -> int:
        """How many objects match ``query`` ignoring offset/limit."""
        return self._run_locate(query, ranged=False)[1]

    # --- access control -----------------------------------------------------------------------------------------
    @staticmethod
    def _decode_grants(raw: _Hash) -> dict[str, set[int]]:
        return {_text(user): set(json.loads(ops)) for user, ops in raw.items()}

    def _queue_grants(self, pipe: Pipeline, uid: str, old: dict[str, set[int]], new: dict[str, set[int]]) -> None:
        """Queue the commands that turn the grants of ``uid`` from ``old`` into ``new``, reverse indexes included."""
        k = self._s.key
        for user in old.keys() | new.keys():
            before, after = old.get(user, set()), new.get(user, set())
            if before == after:
                continue
            if after:
                pipe.hset(k("grants", uid), user, json.dumps(sorted(after)))
                pipe.sadd(k("ugrants", user), uid)
            else:
                pipe.hdel(k("grants", uid), user)
                pipe.srem(k("ugrants", user), uid)
            for op in before - after:
                pipe.srem(k("ugrants-op", op, user), uid)
            for op in after - before:
                pipe.sadd(k("ugrants-op", op, user), uid)

    def _change_grants(self, uid: str, change: Callable[[dict[str, set[int]]], dict[str, set[int]]]) -> None:
        """Apply ``change`` to the grants of ``uid`` atomically and journal the inverse."""
        s = self._s
        grants_key = s.key("grants", uid)
        self.wrote = True

        def body(pipe: Pipeline) -> dict[str, set[int]]:
            old = self._decode_grants(pipe.hgetall(grants_key))
            new = change({u: set(ops) for u, ops in old.items()})
            pipe.multi()
            self._queue_grants(pipe, uid, old, new)
            return old

        old = s.watched([grants_key], body)
        self._undo.append(lambda: self._set_grants(uid, old))

    def _set_grants(self, uid: str, grants: dict[str, set[int]]) -> None:
        s = self._s
        grants_key = s.key("grants", uid)

        def body(pipe: Pipeline) -> None:
            current = self._decode_grants(pipe.hgetall(grants_key))
            pipe.multi()
            self._queue_grants(pipe, uid, current, grants)

        s.watched([grants_key], body)

    @_wrap_errors
    def grant(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Allow ``user`` (or EVERYONE) the KMIP ``operations`` on ``uid``."""

        def change(grants: dict[str, set[int]]) -> dict[str, set[int]]:
            if operations:
                grants.setdefault(user, set()).update(operations)
            return grants

        self._change_grants(uid, change)

    @_wrap_errors
    def revoke(self, uid: str, user: str, operations: Sequence[int]) -> None:
        """Withdraw those operations; no error if they were not granted."""

        def change(grants: dict[str, set[int]]) -> dict[str, set[int]]:
            remaining = grants.get(user, set()) - set(operations)
            if remaining:
                grants[user] = remaining
            else:
                grants.pop(user, None)
            return grants

        self._change_grants(uid, change)

    @_wrap_errors
    def grants(self, uid: str) -> dict[str, set[int]]:
        """user -> granted operations for ``uid``."""
        return self._decode_grants(self._s.client.hgetall(self._s.key("grants", uid)))

    @_wrap_errors
    def operations_granted(self, uid: str, user: str) -> set[int]:
        """Operations granted to ``user`` directly or through EVERYONE."""
        result: set[int] = set()
        for ops in self._s.client.hmget(self._s.key("grants", uid), [user, EVERYONE]):
            if ops is not None:
                result.update(json.loads(ops))
        return result

    @_wrap_errors
    def owned(self, owner: str) -> list[StoredObject]:
        """Objects owned by ``owner``, in creation order."""
        uids = sorted(_text(u) for u in self._s.client.smembers(self._s.key("idx", "owner", owner)))
        return [r.obj for r in sorted(self._read_many(uids), key=lambda r: r.seq)]

    @_wrap_errors
    def obtained(self, user: str) -> list[tuple[StoredObject, set[int]]]:
        """Objects not owned by ``user`` on which ``user`` holds direct grants, with those operations."""
        s = self._s
        uids = sorted(_text(u) for u in s.client.smembers(s.key("ugrants", user)))
        pipe = s.client.pipeline(transaction=False)
        for uid in uids:
            pipe.hget(s.key("grants", uid), user)
        ops = {uid: set(json.loads(raw)) for uid, raw in zip(uids, pipe.execute(), strict=True) if raw}
        records = sorted(self._read_many(uids), key=lambda r: r.seq)
        return [(r.obj, ops.get(r.obj.uid, set())) for r in records if r.obj.owner != user]

    @_wrap_errors
    def privileged_users(self) -> set[str]:
        """Users allowed to create objects when creation is restricted."""
        return {_text(u) for u in self._s.client.smembers(self._s.key("privileged"))}

    @_wrap_errors
    def set_privileged(self, user: str, allowed: bool) -> None:
        """Add or remove ``user`` from the privileged users."""
        self.wrote = True
        if self._set_member(user, allowed):

            def undo() -> None:
                self._set_member(user, not allowed)

            self._undo.append(undo)

    def _set_member(self, user: str, allowed: bool) -> bool:
        """Add ``user`` to (or remove from) the privileged set and move the change stamp; True if it changed."""
        s = self._s
        pipe = s.client.pipeline(transaction=True)
        key = s.key("privileged")
        if allowed:
            pipe.sadd(key, user)
        else:
            pipe.srem(key, user)
        pipe.incr(s.key("changes"))
        changed = bool(pipe.execute()[0])
        s.stamps.note_commit()
        return changed

    @_wrap_errors
    def change_stamp(self) -> Hashable | None:
        """The ``changes`` counter (every write of every server increments it in the same MULTI/EXEC), read once per
        transaction before the reads it vouches for; None once this transaction wrote."""
        if self.wrote:
            return None
        if self._stamp is None:
            self._stamp = self._s.stamps.stamp(self._s._read_stamp)
        return self._stamp


__all__ = ["DEFAULT_PREFIX", "RedisStore", "RedisTransaction"]
