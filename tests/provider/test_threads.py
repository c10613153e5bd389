"""Threads sharing one library instance (§5.1.6: an application may call any function from any thread) on a fresh
token over the embedded backend, the default configuration: many rounds, each with a new token directory and a new
C_Initialize, four threads that open sessions, log in at the same moment (the later ones get
CKR_USER_ALREADY_LOGGED_IN, as they should), make session and token keys and a session key pair, encrypt and
decrypt, and close their sessions; in the second test the four threads keep making session keys and key pairs until a
fifth thread calls C_CloseAllSessions under them.

The thread switch interval is made tiny so that the interpreter interleaves the threads inside the provider's
functions, where a missing lock shows (a lazily opened engine, a session-object map written after its session was
closed, a login recorded after the last session closed); opening the session-object engine is slowed down a little,
as a busy machine does, so that the first of these shows in every round rather than in one of ten."""

from __future__ import annotations

import functools
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_backend.kmip._registry_data import RecommendedCurve
from kms_backend.store.base import LocateQuery
from provider import ciphers, general, keys, sessions
from provider.attributes import CURVE_PARAMS
from provider.backends.memory import MemoryBackend
from provider.config import BackendConfig, ProviderConfig, hash_pin, save
from provider.constants import Attribute, Mechanism, ReturnValue, UserType
from provider.errors import CkError
from provider.library import Library
from provider.slots import SLOT_ID

from .conftest import RW, SO_PIN, USER_PIN
from .test_library import boolean, ulong

A = Attribute
THREADS = 4
#: Without the fix, every round of the first test failed (20 of 20) and the second test failed in its first rounds.
ROUNDS = 10
CLOSING_ROUNDS = 20
PLAINTEXT = bytes(range(32))

#: PIN hashes made once (scrypt is slow by design); each round's configuration file uses them.
_HASHES: dict[bytes, str] = {}


def _hash(pin: bytes) -> str:
    if pin not in _HASHES:
        _HASHES[pin] = hash_pin(pin)
    return _HASHES[pin]


@pytest.fixture(autouse=True)
def _interleaved(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Switch threads every 10 µs instead of every 5 ms; and the session-object engine takes a millisecond to open,
    as it may on a busy machine, so that the other threads reach it meanwhile."""
    opened = MemoryBackend.__init__

    def slow_open(self: MemoryBackend, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.001)
        opened(self, *args, **kwargs)

    monkeypatch.setattr(MemoryBackend, "__init__", slow_open)
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


class _Warnings(logging.Handler):
    """Collects the provider's warnings ("could not destroy session object ..." among them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    logger = logging.getLogger("keystead.pkcs11")
    handler = _Warnings()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    yield handler.messages
    logger.removeHandler(handler)
    logger.setLevel(level)


def _fresh_token(directory: Path) -> Library:
    """What ``keystead pkcs11 init --dir`` makes (an embedded SQLite store in the directory), initialised (which
    creates the store)."""
    directory.mkdir()
    database = f"sqlite:///{directory / 'keystead.db'}"
    config = ProviderConfig(
        path=directory / "pkcs11.yaml",
        user_pin_hash=_hash(USER_PIN),
        so_pin_hash=_hash(SO_PIN),
        backend=BackendConfig(type="embedded", database=database),
    )
    save(config)
    lib = Library(environ={"KEYSTEAD_PKCS11_CONFIG": str(config.path)})
    general.initialize(lib, None, own_logging=False)
    return lib


def _log_in(lib: Library, session: int) -> None:
    try:
        sessions.login(lib, session, UserType.USER, USER_PIN)
    except CkError as exc:
        if exc.rv != ReturnValue.USER_ALREADY_LOGGED_IN:
            raise


def _session_key(lib: Library, session: int) -> int:
    return keys.generate_key(lib, session, Mechanism.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])


def _session_key_pair(lib: Library, session: int) -> None:
    params = CURVE_PARAMS[RecommendedCurve.P_256]
    keys.generate_key_pair(lib, session, Mechanism.EC_KEY_PAIR_GEN, [(A.EC_PARAMS, params)], [])


def _round_trip(lib: Library, session: int, key: int) -> None:
    iv = bytes(16)
    ciphers.encrypt_init(lib, session, Mechanism.AES_CBC, iv, key)
    ciphertext = ciphers.encrypt(lib, session, PLAINTEXT, len(PLAINTEXT))
    ciphers.decrypt_init(lib, session, Mechanism.AES_CBC, iv, key)
    assert ciphers.decrypt(lib, session, ciphertext, len(ciphertext)) == PLAINTEXT


def _log_in_and_use_keys(lib: Library, started: threading.Barrier) -> None:
    """One application thread: its own session, logged in, a session key, a token key and a session key pair made
    and the keys used, the session closed."""
    session = sessions.open_session(lib, SLOT_ID, RW)
    _log_in(lib, session)
    started.wait()  # every thread makes its first session key at the same moment
    session_key = _session_key(lib, session)
    token_key = keys.generate_key(
        lib, session, Mechanism.AES_KEY_GEN, [(A.VALUE_LEN, ulong(32)), (A.TOKEN, boolean(True))]
    )
    _session_key_pair(lib, session)
    _round_trip(lib, session, session_key)
    _round_trip(lib, session, token_key)
    sessions.close_session(lib, session)


def _make_keys_until_closed(lib: Library, logged_in: threading.Barrier) -> None:
    """One application thread: session keys and key pairs made and used in its session until another thread closes
    it (which ends this thread with the CkError of the call it interrupted)."""
    session = sessions.open_session(lib, SLOT_ID, RW)
    _log_in(lib, session)
    logged_in.wait()
    for _ in range(1000):
        _round_trip(lib, session, _session_key(lib, session))
        for _ in range(8):  # held keys are made in microseconds: more of them, more chances to meet the close
            _session_key(lib, session)
        _session_key_pair(lib, session)
    sessions.close_session(lib, session)


def _close_all(lib: Library, logged_in: threading.Barrier, delay: float) -> None:
    """C_CloseAllSessions ``delay`` seconds after every thread logged in, while the threads make and use keys."""
    logged_in.wait()
    threading.Event().wait(delay)
    sessions.close_all_sessions(lib, SLOT_ID)


def _run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Run each target in its own thread; the exceptions they raised."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return failures


def _session_objects_left(lib: Library) -> int:
    """Session objects still held anywhere after every session closed (there must be none)."""
    held = 0
    if lib.session_backend is not None:
        with lib.session_backend.store.transaction() as tx:  # type: ignore[attr-defined]
            held = len(tx.locate(LocateQuery()))
    return held + len(lib.session_objects) + len(lib.in_memory)


def _token_keys(lib: Library) -> int:
    assert lib.backend is not None
    with lib.backend.store.transaction() as tx:  # type: ignore[attr-defined]
        return len(tx.locate(LocateQuery()))


def test_threads_log_in_and_use_new_keys_at_once_on_a_fresh_token(tmp_path: Path, warnings_logged: list[str]):
    for round_ in range(ROUNDS):
        lib = _fresh_token(tmp_path / f"token{round_}")
        worker = functools.partial(_log_in_and_use_keys, lib, threading.Barrier(THREADS))
        failures = _run_threads([worker] * THREADS)
        assert failures == [], f"round {round_}: {failures!r}"
        assert warnings_logged == [], f"round {round_}"
        assert lib.sessions == {} and lib.login is None  # the last session closed logged out
        assert _session_objects_left(lib) == 0, f"round {round_}"
        assert _token_keys(lib) == THREADS, f"round {round_}"
        general.finalize(lib, False)


#: What a thread may get when another thread closes its session under it.
CLOSED_UNDER_IT = {
    ReturnValue.SESSION_HANDLE_INVALID,  # the session was gone when the call began
    ReturnValue.SESSION_CLOSED,  # it went while the call was making an object (§5.1: "closed during the execution")
    ReturnValue.KEY_HANDLE_INVALID,  # the session key the call was about to use went with the session
    ReturnValue.USER_NOT_LOGGED_IN,  # closing every session logged the application out (§5.6.3)
}


def test_close_all_sessions_from_another_thread_leaves_no_session_object(tmp_path: Path, warnings_logged: list[str]):
    chance = random.Random(2126)
    for round_ in range(CLOSING_ROUNDS):
        lib = _fresh_token(tmp_path / f"token{round_}")
        logged_in = threading.Barrier(THREADS + 1, timeout=30)
        worker = functools.partial(_make_keys_until_closed, lib, logged_in)
        closer = functools.partial(_close_all, lib, logged_in, chance.uniform(0, 0.004))
        failures = _run_threads([*[worker] * THREADS, closer])
        unexpected = [f for f in failures if not (isinstance(f, CkError) and f.rv in CLOSED_UNDER_IT)]
        assert unexpected == [], f"round {round_}: {unexpected!r}"
        assert warnings_logged == [], f"round {round_}"
        assert lib.sessions == {} and lib.login is None
        assert _session_objects_left(lib) == 0, f"round {round_}: session objects outlived their session"
        general.finalize(lib, False)
