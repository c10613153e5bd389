"""Change stamps of a database shared by several servers (PostgreSQL, MySQL/MariaDB, Redis), read either on every
request or from a value a thread polls, with a bound on how old that value may be.

A stamp read from the database (the sum of ``change_counters`` on PostgreSQL and MySQL, the Redis ``changes``
counter) sees every commit of every server that finished before the query started. Reading it costs one round
trip per request. With ``lag`` above zero a thread reads it every ``lag / 3`` seconds and requests use the last
value while the query that produced it was *sent* less than ``lag`` seconds ago; older (the poller is late, the
database slow), they read it themselves. Hence the guarantee operators rely on: a request that starts ``lag``
seconds or more after another server committed a change (a Revoke, a Destroy, a grant withdrawn) sees it, and with
``lag`` zero every request sees every commit that finished before it started. On PostgreSQL a request with
``lag`` zero takes the stamp of the store's change notices instead (``_pg_notices``), as strict as the query and
free, and queries only while the notices cannot vouch.

This server's own commits are seen at once in both modes: each one (counted after COMMIT returned) moves the
``generation`` half of the stamp.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable

_log = logging.getLogger(__name__)

#: The polling thread reads the stamp this many times per ``lag``, so a late round or two still leaves a fresh one.
_POLLS_PER_LAG = 3


class PolledStamp:
    """The change stamp of one store: (this process's commit generation, the database's stamp)."""

    def __init__(
        self,
        poll: Callable[[], Hashable],
        lag: float,
        clock: Callable[[], float] = time.monotonic,
        pushed: Callable[[], Hashable | None] | None = None,
    ) -> None:
        """``pushed``: with ``lag`` zero, a stamp as strict as a query but kept up to date by the database's
        notices (``_pg_notices``), or None when it cannot vouch (then ``read`` is queried)."""
        if lag < 0:
            raise ValueError("the change stamp lag cannot be negative")
        self._poll = poll
        self._pushed = pushed
        self.lag = lag
        self._clock = clock
        self._commits = itertools.count(1)
        #: Bumped after each commit of this process (``next`` on a count is atomic).
        self.generation = 0
        #: (monotonic time the polling query was sent, the stamp it read), or None.
        self._polled: tuple[float, Hashable] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def note_commit(self) -> None:
        """This process committed a write (call after COMMIT returned)."""
        self.generation = next(self._commits)

    def stamp(self, read: Callable[[], Hashable]) -> Hashable:
        """The stamp now: the polled one while it is younger than ``lag``, else ``read()`` (one query)."""
        generation = self.generation  # before the database's half: a commit between them only looks newer
        if self.lag > 0:
            polled = self._polled
            if polled is not None and self._clock() - polled[0] < self.lag:
                return generation, polled[1]
            self._start()
        elif self._pushed is not None:
            pushed = self._pushed()
            if pushed is not None:
                return generation, pushed
        return generation, read()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)

    def _start(self) -> None:
        """Start the polling thread once per process (a forked worker starts its own)."""
        if self._stop.is_set() or (self._thread is not None and self._pid == os.getpid()):
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._polled = None  # a forked copy's value came from the parent's thread
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="keystead-change-stamp", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        period = self.lag / _POLLS_PER_LAG
        failing = False
        while not self._stop.is_set():
            sent = self._clock()
            try:
                value = self._poll()
            except Exception as exc:  # the database is down: requests read (and fail) on their own
                self._polled = None
                if not failing:
                    _log.warning("polling the change stamp failed: %s", exc)
                failing = True
            else:
                self._polled = (sent, value)
                failing = False
            self._stop.wait(period)


__all__ = ["PolledStamp"]
