"""``keystead serve --workers N``: N server processes sharing the HTTP and KMIP listening sockets (pre-fork).

One process is bound by the GIL to about one core; several processes answer in parallel. The parent binds and
listens on both ports (so ``--http-port 0`` is resolved once, and the ports accept connections before any worker
is up), then forks the workers and does nothing else: it opens no store, HSM session or thread, so each child
starts clean and builds its own ``KeysteadServer`` (engine, database connection, HSM session, thread pool). The
kernel hands each new connection to one worker and the connection stays there, so a KMIP client's session, or an
HTTP keep-alive client's streaming Encrypt, sees one engine. The store is what the workers share: SQLite in WAL
mode serialises writers across processes (BEGIN IMMEDIATE and the busy timeout), and the engine's decoded-record
cache is validated against the stored bytes, so every worker reads what any other committed.

Startup: the first worker starts alone (HSM log-in, schema creation or migration), then the others; each reports
through a pipe, and the parent prints the first one's startup message once every worker is ready, or the first
startup error (exit status 2). Shutdown: SIGINT or SIGTERM to the parent is passed on as SIGTERM to every worker,
which closes its listeners, finishes in-flight requests and closes its store; a worker still running after
``SHUTDOWN_TIMEOUT`` is killed. A worker that dies while serving is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import sys
import time
import traceback
from typing import Any, TextIO

from .config import ServerConfig
from .kmip_socket import listen_tcp
from .serve import KeysteadServer, Listeners, StartupError, _on_sigterm, _Terminated

log = logging.getLogger("keystead.server.workers")

SHUTDOWN_TIMEOUT = 30.0
HTTP_BACKLOG = 2048  # uvicorn's default
_POLL = 0.2
_RESPAWN_DELAY = 1.0  # a worker that keeps dying must not make the parent spin
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def open_listeners(config: ServerConfig) -> Listeners:
    """Bind and listen on the HTTP port and, when enabled, the KMIP port (StartupError if one is taken)."""
    try:
        http = listen_tcp(config.host, config.http_port, HTTP_BACKLOG)
    except OSError as exc:
        raise StartupError(f"cannot listen on {config.host}:{config.http_port}: {exc}") from exc
    kmip = None
    if config.kmip_enabled:
        try:
            kmip = listen_tcp(config.host, config.kmip_port, 128)
        except OSError as exc:
            http.close()
            raise StartupError(f"cannot open the KMIP port {config.host}:{config.kmip_port}: {exc}") from exc
    return Listeners(http, kmip)


def _report(fd: int, pid: int, **message: Any) -> None:
    # One write under PIPE_BUF bytes is atomic, so messages of several workers never interleave.
    data = (json.dumps({"pid": pid, **message}) + "\n").encode()
    with contextlib.suppress(OSError):
        os.write(fd, data)


def _worker(config: ServerConfig, listeners: Listeners, report_fd: int) -> int:
    """The body of one worker process: serve until SIGTERM/SIGINT; the exit status."""
    pid = os.getpid()
    try:
        server = KeysteadServer(config)
    except _Terminated:
        return 0
    except StartupError as exc:
        _report(report_fd, pid, error=str(exc))
        return 2
    signal.signal(signal.SIGHUP, lambda _signum, _frame: server.reload_keys())
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(server.serve(listeners=listeners, on_ready=lambda banner: _report(report_fd, pid, ready=banner)))
    except StartupError as exc:
        _report(report_fd, pid, error=str(exc))
        return 2
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        # The parent's SIGTERM may follow the terminal's SIGINT: nothing may interrupt closing the store.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.close()
    return 0


class _Supervisor:
    """The parent: starts the workers, relays their reports, replaces dead ones, stops them all on a signal."""

    def __init__(self, config: ServerConfig, listeners: Listeners) -> None:
        self.config = config
        self.listeners = listeners
        self.read_fd, self.report_fd = os.pipe()
        self.workers: dict[int, float] = {}  # pid -> start time
        self.ready: set[int] = set()
        self.banner: str | None = None
        self.error: str | None = None
        self.stopping = False
        #: All workers came up once: from now on a worker that dies is replaced rather than failing the start.
        self.serving = False
        self._pending = b""

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _on_sighup(self, _signum: int, _frame: object) -> None:
        # Each worker reads its key ring again.
        for pid in list(self.workers):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGHUP)

    def spawn(self) -> int:
        # Signals stay blocked across fork so that the child cannot receive one before its own handlers exist.
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the parent's stack
                status = 1
                try:
                    os.close(self.read_fd)
                    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the server can reload its keys
                    signal.signal(signal.SIGTERM, _on_sigterm)
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
                    status = _worker(self.config, self.listeners, self.report_fd)
                except BaseException:
                    traceback.print_exc()
                finally:
                    sys.stderr.flush()
                    os._exit(status)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        self.workers[pid] = time.monotonic()
        return pid

    def poll(self) -> None:
        """Wait up to ``_POLL`` for reports, then reap workers that exited."""
        try:
            readable, _, _ = select.select([self.read_fd], [], [], _POLL)
        except InterruptedError:
            readable = []
        if readable:
            self._pending += os.read(self.read_fd, 65536)
            *lines, self._pending = self._pending.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "ready" in message:
                    self.ready.add(message["pid"])
                    self.banner = self.banner or message["ready"]
                elif "error" in message and self.error is None:
                    self.error = message["error"]
        for pid in list(self.workers):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._exited(pid, os.waitstatus_to_exitcode(status))

    def _exited(self, pid: int, code: int) -> None:
        started = self.workers.pop(pid)
        was_ready = pid in self.ready
        self.ready.discard(pid)
        if self.stopping:
            return
        if not self.serving:
            if self.error is None:
                self.error = f"a worker process exited with status {code} while starting (see the log above)"
            return
        log.warning("worker %d exited with status %d%s; starting another", pid, code, "" if was_ready else " unready")
        if time.monotonic() - started < _RESPAWN_DELAY:
            time.sleep(_RESPAWN_DELAY)
        self.spawn()

    def wait_ready(self, count: int) -> bool:
        """Until ``count`` workers are ready (True), one failed to start or a signal arrived (False)."""
        while len(self.ready) < count and self.error is None and not self.stopping:
            self.poll()
        return len(self.ready) >= count and self.error is None

    def stop(self) -> bool:
        """SIGTERM every worker and wait for them (killing stragglers); True when all ended by themselves."""
        self.stopping = True
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        while self.workers and time.monotonic() < deadline:
            self.poll()
        clean = not self.workers
        for pid in list(self.workers):
            log.warning("worker %d did not stop within %.0f s: killing it", pid, SHUTDOWN_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            del self.workers[pid]
        return clean

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.report_fd)
        self.listeners.http.close()
        if self.listeners.kmip is not None:
            self.listeners.kmip.close()


def run_workers(config: ServerConfig, out: TextIO) -> int:
    """``keystead serve`` with ``config.workers`` processes; returns the exit status (2: startup failed)."""
    try:
        listeners = open_listeners(config)
    except StartupError as exc:
        print(f"keystead serve: {exc}", file=sys.stderr)
        return 2
    supervisor = _Supervisor(config, listeners)
    previous = {sig: signal.signal(sig, supervisor._on_signal) for sig in _SIGNALS}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, supervisor._on_sighup)
    sys.stdout.flush()
    sys.stderr.flush()
    out.flush()
    try:
        supervisor.spawn()
        started = supervisor.wait_ready(1)
        if started:
            for _ in range(config.workers - 1):
                supervisor.spawn()
            started = supervisor.wait_ready(config.workers)
        if started and supervisor.banner is not None:
            out.write(supervisor.banner)
            out.flush()
            supervisor.serving = True
            while not supervisor.stopping:
                supervisor.poll()
        supervisor.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        supervisor.close()
    if supervisor.error is not None:
        print(f"keystead serve: {supervisor.error}", file=sys.stderr)
        return 2
    print("Keystead stopped.", file=out, flush=True)
    return 0


__all__ = ["SHUTDOWN_TIMEOUT", "open_listeners", "run_workers"]
