"""A thread-safe pool of PKCS#11 sessions on one HSM token (python-pkcs11), logged in as the token's user.

PKCS#11 (v2.40 §5.6) keeps the login state per application, not per session: one session opened with the PIN logs
every session of the process in, and closing that session (``C_Logout``) logs them all out. So the pool keeps one
*anchor* session that holds the login and is never lent out, and lends plain R/W sessions, which keep the key
handles found through them.

Threads: python-pkcs11 initialises the library with ``C_Initialize(NULL)``, which tells it that the application
will not call it from several threads at once (v2.40 §5.4), and SoftHSM then takes no locks at all (concurrent
calls crash it). So every call into one library goes through one process-wide lock per library path; on SoftHSM
a sealing operation takes about 0.1 ms, so the lock costs little next to the request around it.

Faults: a session that fails with a session-level error (closed, invalid handle, not logged in, device removed,
library not initialised) is discarded, the pool recovers (re-initialises the library and finds the token again
when the device went away, logs in again) and the operation is retried when that is safe: always for idempotent
operations (sealing, unsealing, signing), and for the others only when the failure proves the operation never ran.
Whatever cannot be cured becomes a ``KmipError`` (Protection Storage Unavailable) naming the cause.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as E

from ..kmip.errors import KmipError
from . import _errors

log = logging.getLogger("keystead.hsm")

T = TypeVar("T")

#: The attributes of a key made to stay in the HSM: a private, sensitive token object that can never be extracted
#: (callers add what the key is for).
RESIDENT_KEY_TEMPLATE: dict[Any, Any] = {
    pkcs11.Attribute.TOKEN: True,
    pkcs11.Attribute.PRIVATE: True,
    pkcs11.Attribute.SENSITIVE: True,
    pkcs11.Attribute.EXTRACTABLE: False,
}

_LIBRARY_LOCKS: dict[str, threading.RLock] = {}
_LIBRARY_LOCKS_GUARD = threading.Lock()


def library_lock(module: str) -> threading.RLock:
    """The lock that serialises every call into the PKCS#11 library ``module`` in this process."""
    with _LIBRARY_LOCKS_GUARD:
        return _LIBRARY_LOCKS.setdefault(module, threading.RLock())


#: Failures that prove the operation did not run (the session was gone before it started).
_NEVER_RAN: tuple[type[Exception], ...] = (E.SessionHandleInvalid, E.SessionClosed, E.UserNotLoggedIn)


@dataclass(eq=False)
class PooledSession:
    """A lent session, with the key objects found through it (handles are per application, objects per session)."""

    session: Any
    generation: int
    keys: dict[Any, Any] = field(default_factory=dict)


class HsmSessions:
    """Sessions on the token labelled ``token_label`` of the PKCS#11 library ``module``, logged in with ``pin``."""

    def __init__(
        self,
        module: str,
        token_label: str,
        pin: str,
        *,
        max_sessions: int = 8,
        retries: int = 2,
        retry_delay: float = 0.05,
    ) -> None:
        self.module = module
        self.token_label = token_label
        self._pin = pin
        self._max_sessions = max(1, max_sessions)
        self._retries = max(0, retries)
        self._retry_delay = retry_delay
        self._library_lock = library_lock(module)
        self._cond = threading.Condition()
        self._idle: list[PooledSession] = []
        self._open = 0
        self._generation = 0
        self._lib: Any = None
        self._token: Any = None
        self._anchor: Any = None
        self._closed = False

    # -- connection -------------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Load the library, find the token and log in; KmipError (with the cause) if any step fails."""
        with self._library_lock, self._cond:
            self._closed = False
            self._connect_locked()

    @property
    def slot_id(self) -> int:
        """The PKCS#11 slot id of the token (the ``<slot>`` of ``hsm::<slot>::<label>`` identifiers)."""
        with self._library_lock, self._cond:
            if self._token is None:
                self._connect_locked()
            return int(self._token.slot.slot_id)

    def _connect_locked(self) -> None:
        if self._lib is None:
            try:
                self._lib = pkcs11.lib(self.module)
            except (E.PKCS11Error, OSError) as exc:
                raise _errors.unavailable(f"cannot load the PKCS#11 library {self.module}: {exc}") from None
        try:
            if not self._lib.initialized:
                self._lib.initialize()
            self._token = self._lib.get_token(token_label=self.token_label)
        except E.NoSuchToken:
            self._token = None
            labels = self._token_labels()
            raise _errors.unavailable(
                f"no HSM token labelled {self.token_label!r} in {self.module} (tokens present: {labels or 'none'})"
            ) from None
        except E.MultipleTokensReturned:
            self._token = None
            raise _errors.unavailable(f"more than one HSM token is labelled {self.token_label!r}") from None
        except E.PKCS11Error as exc:
            self._token = None
            raise _errors.unavailable(f"the HSM library {self.module} failed: {_errors.describe(exc)}") from None
        self._login_locked()

    def _token_labels(self) -> str:
        with contextlib.suppress(Exception):
            return ", ".join(repr(t.label) for t in self._lib.get_tokens())
        return ""

    def _login_locked(self) -> bool:
        """Open the anchor session with the PIN; False if the application was already logged in."""
        try:
            anchor = self._token.open(rw=True, user_pin=self._pin)
        except E.UserAlreadyLoggedIn:
            return False
        except Exception as exc:
            if _errors.pin_problem(exc):
                raise _errors.login_failed(exc, self.token_label) from None
            raise _errors.unavailable(
                f"cannot open a session on HSM token {self.token_label!r}: {_errors.describe(exc)}"
            ) from None
        old, self._anchor = self._anchor, anchor
        if old is not None:
            _close_quietly(old, logout=False)
        return True

    def relogin(self) -> bool:
        """Log in again if the application was logged out (all sessions closed behind our back); True if it was."""
        with self._library_lock, self._cond:
            if self._token is None:
                self._connect_locked()
                return True
            again = self._login_locked()
            if again:
                log.warning("HSM token %r had been logged out; logged in again", self.token_label)
            return again

    def _recover(self, exc: BaseException, generation: int) -> None:
        """Throw away every session of ``generation``; reload the library if the device went away; log in."""
        with self._library_lock, self._cond:
            if generation != self._generation:
                return  # another thread already recovered from this fault
            self._generation += 1
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            for pooled in idle:
                _close_quietly(pooled.session, logout=False)
            self._cond.notify_all()
            log.warning("HSM fault on token %r: %s; recovering", self.token_label, _errors.describe(exc))
            if _errors.not_initialized(exc) or isinstance(exc, _errors.DEVICE_LOST) or self._token is None:
                self._anchor = None
                self._token = None
                if self._lib is not None:
                    with contextlib.suppress(Exception):
                        self._lib.finalize()
                    try:
                        self._lib.initialize()
                    except Exception as init_exc:
                        raise _errors.unavailable(
                            f"the HSM library {self.module} cannot be initialised: {_errors.describe(init_exc)}"
                        ) from None
                self._connect_locked()
            else:
                self._login_locked()

    # -- lending ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _borrow(self) -> Iterator[PooledSession]:
        with self._cond:
            if self._closed:
                raise _errors.unavailable("the HSM connection is closed")
            if self._token is None:
                self._connect_locked()
            while not self._idle and self._open >= self._max_sessions:
                self._cond.wait()
            pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                self._open += 1
                token, generation = self._token, self._generation
        if pooled is None:
            try:
                pooled = PooledSession(token.open(rw=True), generation)
            except BaseException:
                with self._cond:
                    self._open -= 1
                    self._cond.notify()
                raise
        keep = True
        try:
            yield pooled
        except BaseException as exc:
            keep = not _errors.recoverable(exc)
            raise
        finally:
            with self._cond:
                if keep and pooled.generation == self._generation and not self._closed:
                    self._idle.append(pooled)
                else:
                    self._open -= 1
                    _close_quietly(pooled.session, logout=False)
                self._cond.notify()

    def run(self, operation: Callable[[PooledSession], T], *, idempotent: bool = True, what: str = "operation") -> T:
        """Run ``operation`` on a lent session; recover and retry on session faults (see the module docstring).

        Exceptions other than session faults propagate unchanged (the caller maps them); session faults that
        persist become a KmipError.
        """
        attempts = self._retries + 1
        last: BaseException | None = None
        for attempt in range(attempts):
            generation = self._generation
            try:
                with self._library_lock, self._borrow() as pooled:
                    return operation(pooled)
            except KmipError:
                raise
            except Exception as exc:
                if not _errors.recoverable(exc):
                    raise
                last = exc
                safe = idempotent or isinstance(exc, _NEVER_RAN) or _errors.not_initialized(exc)
                if not safe or attempt == attempts - 1:
                    break
                try:
                    self._recover(exc, generation)
                except KmipError:
                    if attempt >= attempts - 2:
                        raise
                time.sleep(self._retry_delay * (attempt + 1))
        assert last is not None
        raise _errors.unavailable(f"HSM {what} failed on token {self.token_label!r}: {_errors.describe(last)}")

    # -- shutdown ---------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close every idle session and the anchor (which logs the application out)."""
        with self._library_lock, self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            for pooled in idle:
                _close_quietly(pooled.session, logout=False)
            if self._anchor is not None:
                _close_quietly(self._anchor, logout=True)
                self._anchor = None
            self._cond.notify_all()


def _close_quietly(session: Any, *, logout: bool) -> None:
    """Close a session whose state is unknown; a failure only means it was already gone."""
    with contextlib.suppress(Exception):
        if logout:
            session.close()
        else:
            # Session.close() logs out when the session was opened with a PIN: for a lent session that would log
            # the whole application out, so close only the handle.
            _close_handle(session)


def _close_handle(session: Any) -> None:
    if int(getattr(session, "user_type", 0)) == int(pkcs11.UserType.NOBODY):
        session.close()
    # An anchor that must not log out is simply dropped: its handle dies with the next C_Finalize or logout.


__all__ = ["RESIDENT_KEY_TEMPLATE", "HsmSessions", "PooledSession", "library_lock"]
