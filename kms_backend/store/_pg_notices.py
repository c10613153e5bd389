"""PostgreSQL change notices: a strict change stamp without a query per request.

Every server sharing a PostgreSQL database keeps one extra connection (a thread's) that ``LISTEN``s on its own
channel. The protocol, for a server B that keeps objects and a server A that writes:

* B counts the notices of other servers; its stamp is (connection epoch, the ``change_counters`` sum read by its
  last *sync*, that count). A sync reads the sum on the listening connection every ``LEASE / 4`` seconds; the
  stamp is usable only while the last completed sync was *sent* less than ``LEASE`` seconds ago (the lease).
  Otherwise (connection lost, thread starved) requests read the sum themselves, as without notices.
* B's listening session carries the application name ``keystead-notices-<id>`` (set after its ``LISTEN``), which
  is how writers find listeners. B counts a notice, then answers it on A's acknowledgement channel.
* A, after COMMIT returned, sends one statement that lists the other listening sessions of the database
  (``pg_stat_activity``) and notifies each on its channel, then waits until each acknowledged, or ``WAIT`` (more
  than ``LEASE``) passed, before the request is answered. (No server is woken by its own commits, and a server
  that began listening after the commit is notified too.)

Hence a request that reaches B after A answered a write either finds the notice counted (A had B's
acknowledgement), or arrives more than ``LEASE`` after the commit: B's lease then comes from a sync sent after the
commit, whose sum includes it, or has lapsed and B reads the sum itself. Either way the stamp differs from every
stamp taken before the commit, so nothing kept before it is used: the same guarantee as one query per request (a
Revoke on one node is refused by the next request on another), paid by writers (one query and one notice round
trip per commit, ``WAIT`` while a listener that stopped answering is still connected) instead of by every read. If
the notices cannot be sent at all, A waits ``WAIT``: B's next syncs read the new sum by then.
The listening session asks PostgreSQL for TCP keepalives, so a silent server's session is dropped within about
``KEEPALIVE_SECONDS``. Each sync also checks that it ran in the session that listens: behind a transaction-pooling
proxy (PgBouncer in transaction mode) it would not, and the notices are then never trusted (requests query the
sum). Changes made by hand in SQL send no notice: restart the servers after one (as before).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

_log = logging.getLogger(__name__)

#: Prefixes of a server's channels (followed by its id): change notices to it (payload ``<writer id>:<sequence>``),
#: acknowledgements of its own (payload ``<listener id>:<sequence>``); and of its listening session's application
#: name.
CHANNEL_PREFIX = "keystead_changes_"
_ACK_PREFIX = "keystead_ack_"
APPLICATION_PREFIX = "keystead-notices-"
#: Seconds a stamp from notices stays usable after the sync that vouches for it was sent.
LEASE = 1.0
#: Seconds a writer waits at most for a listener's acknowledgement (the lease, with room for clocks running apart).
WAIT = LEASE * 1.5
#: Seconds between reconnection attempts of the listening connection.
_RETRY = 0.5
#: TCP keepalive settings of the listening session (idle, interval, count): a vanished server is dropped within
#: about idle + interval * count seconds.
_KEEPALIVES = (5, 2, 3)
KEEPALIVE_SECONDS = _KEEPALIVES[0] + _KEEPALIVES[1] * _KEEPALIVES[2]

#: Lists the other listening servers and notifies each (``confirm``'s list).
_NOTIFY_SQL = (
    "SELECT substr(application_name, %(start)s), pg_notify(%(channel)s || substr(application_name, %(start)s), "
    "%(payload)s) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %(like)s "
    "AND application_name <> %(mine)s"
)


class ChangeNotices:
    """One server's listening connection (``connect`` opens it) and the acknowledgements its writers wait for.

    ``listen``: count other servers' notices and acknowledge them (strict stamps); without it the connection only
    receives acknowledgements (a server with a polled stamp still makes the others' stamps move at once).
    ``stamp_sql``: the query of the ``change_counters`` sum, run by each sync."""

    def __init__(
        self,
        connect: Callable[[], Any],
        stamp_sql: str,
        *,
        listen: bool,
        lease: float = LEASE,
        wait: float = WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        #: The sync: the sum, and the session it ran in (a transaction-pooling proxy would move it between sessions,
        #: and notices only reach the session that listens).
        self._sync_sql = "SELECT (" + stamp_sql + "), pg_backend_pid()"
        self.listen = listen
        self.lease = lease
        self.wait = wait
        self._clock = clock
        self._lock = threading.Lock()
        self._acked = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._new_identity()
        #: (when the last sync was sent, (epoch, the sum it read, notices counted since)), or None: one value, so
        #: that a reader never pairs a stamp with a newer sync's lease.
        self._state: tuple[float, tuple[int, Any, int]] | None = None
        self._epochs = itertools.count(1)
        self._failing = False

    def _new_identity(self) -> None:
        self.node = uuid.uuid4().hex
        self._sequence = itertools.count(1)
        #: sequence of a commit being confirmed -> the servers that acknowledged its notice
        self._waiting: dict[int, set[str]] = {}

    # --- readers ------------------------------------------------------------------------------------------------
    def stamp(self) -> Hashable | None:
        """The stamp from notices while the lease holds, else None (the caller reads the sum itself)."""
        self.start()
        state = self._state
        if state is None or self._clock() - state[0] >= self.lease:
            return None
        return state[1]

    # --- writers ------------------------------------------------------------------------------------------------
    def notify_sql(self) -> tuple[int, str, dict[str, Any]]:
        """(sequence, statement, its parameters) of a commit that returned: the statement lists the other listening
        servers and notifies each; ``confirm`` with its rows afterwards."""
        if self._thread is None or self._pid != os.getpid():
            self.start()  # a first write: have the acknowledgement channel listened to first
            self._ready.wait(self.wait)
        sequence = next(self._sequence)
        with self._lock:
            self._waiting[sequence] = set()
        args = {
            "start": len(APPLICATION_PREFIX) + 1,
            "channel": CHANNEL_PREFIX,
            "payload": f"{self.node}:{sequence}",
            "like": APPLICATION_PREFIX + "%",
            "mine": APPLICATION_PREFIX + self.node,
        }
        return sequence, _NOTIFY_SQL, args

    def confirm(self, sequence: int, listeners: list[str] | None) -> None:
        """Wait until every server in ``listeners`` (``notify_sql``'s rows; None: the statement failed) acknowledged
        the notice of commit ``sequence``, or ``wait`` seconds passed (their leases have then lapsed)."""
        others = {""} if listeners is None else {node for node in listeners if node != self.node}
        deadline = self._clock() + self.wait
        with self._acked:
            try:
                while True:
                    missing = others - self._waiting.get(sequence, set())
                    left = deadline - self._clock()
                    if not missing or left <= 0:
                        break
                    self._acked.wait(left)
            finally:
                self._waiting.pop(sequence, None)
        if missing:
            _log.warning(
                "%d server(s) did not acknowledge a change within %.1f s (they no longer use what they kept; "
                "PostgreSQL drops a silent one within about %d s)",
                len(missing),
                self.wait,
                KEEPALIVE_SECONDS,
            )

    # --- the listening thread -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the listening thread once per process (a forked worker starts its own, under a new id)."""
        if self._stop.is_set() or (self._thread is not None and self._pid == os.getpid()):
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._pid:  # a forked copy: the parent's connection, id and state are not ours
                self._new_identity()
                self._state = None
                self._ready.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="keystead-change-notices", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether this process's listening thread is running."""
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def wake_sql(self) -> tuple[str, tuple[str, str]]:
        """A statement that wakes the listening thread at once (run on another connection before ``close``)."""
        return "SELECT pg_notify(%s, %s)", (f"{_ACK_PREFIX}{self.node}", "")

    def close(self) -> None:
        """Stop the thread; it leaves the listeners' list and closes its connection (waited for briefly, so that
        writers stop waiting for this server as soon as it is closed)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout=self.lease)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve()
            except Exception as exc:  # the database is down or the connection broke: requests query the sum
                if not self._failing and not self._stop.is_set():
                    # Only this module's statements ran there (no key material): the message is safe to log.
                    _log.warning("listening for change notices failed: %s: %s", type(exc).__name__, exc)
                self._failing = True
            with self._lock:
                self._state = None
            self._ready.clear()
            self._stop.wait(_RETRY)

    def _serve(self) -> None:
        conn = self._connect()
        try:
            conn.execute(f'LISTEN "{_ACK_PREFIX}{self.node}"')
            session = None
            if self.listen:
                conn.execute(f'LISTEN "{CHANNEL_PREFIX}{self.node}"')
                idle, interval, count = _KEEPALIVES
                session = conn.execute(
                    "SELECT pg_backend_pid(), set_config('tcp_keepalives_idle', %s, false), "
                    "set_config('tcp_keepalives_interval', %s, false), "
                    "set_config('tcp_keepalives_count', %s, false), "
                    "set_config('application_name', %s, false)",
                    (str(idle), str(interval), str(count), APPLICATION_PREFIX + self.node),
                ).fetchone()[0]
            epoch = next(self._epochs)
            self._ready.set()
            self._failing = False
            next_sync = 0.0
            while not self._stop.is_set():
                now = self._clock()
                if self.listen and now >= next_sync:
                    # Notices received during the query wait in psycopg's backlog for notifies() below; the lease
                    # starts when the query is sent, and its sum already covers them.
                    total, backend = conn.execute(self._sync_sql).fetchone()
                    if backend != session:
                        raise RuntimeError("the listening connection changed sessions (a transaction-pooling proxy?)")
                    with self._lock:
                        state = self._state
                        counted = state[1][2] if state is not None and state[1][0] == epoch else 0
                        self._state = (now, (epoch, total, counted))
                    next_sync = now + self.lease / 4
                elif not self.listen:
                    next_sync = now + self.lease / 4  # only to notice close()
                timeout = max(0.0, next_sync - self._clock())
                acks: list[tuple[str, str]] = []
                for notice in conn.notifies(timeout=timeout, stop_after=1):
                    ack = self._received(notice.channel, notice.payload, epoch)
                    if ack is not None:
                        acks.append(ack)
                if acks:
                    conn.execute(
                        "SELECT pg_notify(c, p) FROM unnest(%s::text[], %s::text[]) AS t(c, p)",
                        ([c for c, _ in acks], [p for _, p in acks]),
                    )
            if self.listen:  # closing: writers stop waiting for this server now
                conn.execute("SELECT set_config('application_name', '', false)")
        finally:
            self._ready.clear()
            with self._lock:
                self._state = None
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is dropped anyway
                conn.close()

    def _received(self, channel: str, payload: str, epoch: int) -> tuple[str, str] | None:
        """Count a change notice of another server (then the acknowledgement to send), or record an
        acknowledgement of one of this server's notices."""
        node, _, sequence = payload.partition(":")
        if channel.startswith(CHANNEL_PREFIX):
            with self._lock:
                state = self._state
                if state is not None and state[1][0] == epoch:
                    self._state = (state[0], (epoch, state[1][1], state[1][2] + 1))
            return f"{_ACK_PREFIX}{node}", f"{self.node}:{sequence}"
        if sequence.isdigit():
            with self._acked:
                confirmed = self._waiting.get(int(sequence))
                if confirmed is not None:
                    confirmed.add(node)
                    self._acked.notify_all()
        return None


__all__ = ["APPLICATION_PREFIX", "CHANNEL_PREFIX", "KEEPALIVE_SECONDS", "LEASE", "WAIT", "ChangeNotices"]
