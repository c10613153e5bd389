"""Session management (PKCS#11 3.0 §5.6): sessions, and login state shared by all sessions of the application."""

from __future__ import annotations

from . import config as config_module
from .backends import Identity
from .constants import ReturnValue, SessionFlag, SessionState, UserType
from .errors import CkError
from .library import Library


def open_session(lib: Library, slot_id: int, flags: int) -> int:
    """§5.6.1 C_OpenSession (notification callbacks are not used: the token never surrenders)."""
    lib.check_slot(slot_id)
    if not flags & SessionFlag.SERIAL_SESSION:
        raise CkError(ReturnValue.SESSION_PARALLEL_NOT_SUPPORTED)
    with lib.lock:
        if lib.login == UserType.SO and not flags & SessionFlag.RW_SESSION:
            raise CkError(ReturnValue.SESSION_READ_WRITE_SO_EXISTS)
        return lib.open_session(slot_id, flags)


def close_session(lib: Library, handle: int) -> None:
    """§5.6.2 C_CloseSession: its session objects are destroyed; closing the last session logs out."""
    with lib.lock:
        lib.session(handle)
        lib.close_session(handle)


def close_all_sessions(lib: Library, slot_id: int) -> None:
    """§5.6.3 C_CloseAllSessions."""
    lib.check_slot(slot_id)
    lib.close_all_sessions()


def session_cancel(lib: Library, handle: int) -> None:
    """§5.6.5 (3.0) C_SessionCancel: end the session's active operations (all of them, whatever the flags name)."""
    lib.end_operations(lib.session(handle))


def get_session_info(lib: Library, handle: int) -> tuple[int, int, int, int]:
    """§5.6.4 C_GetSessionInfo: (slotID, state, flags, ulDeviceError)."""
    session = lib.session(handle)
    rw = session.read_write
    if lib.login == UserType.SO:
        state = SessionState.RW_SO_FUNCTIONS
    elif lib.login == UserType.USER:
        state = SessionState.RW_USER_FUNCTIONS if rw else SessionState.RO_USER_FUNCTIONS
    else:
        state = SessionState.RW_PUBLIC_SESSION if rw else SessionState.RO_PUBLIC_SESSION
    return session.slot_id, int(state), session.flags, 0


def login(lib: Library, handle: int, user_type: int, pin: bytes | None) -> None:
    """§5.6.8 C_Login. The user PIN may be ``name:pin`` for a user listed in the configuration (the KMS user the
    application then acts as); with ``pin_is_token`` it is a bearer token the remote KMS checks."""
    lib.session(handle)
    try:
        kind = UserType(user_type)
    except ValueError:
        raise CkError(ReturnValue.USER_TYPE_INVALID) from None
    if pin is None:
        raise CkError(ReturnValue.ARGUMENTS_BAD, "no protected authentication path: a PIN is required")
    cfg = lib.config
    with lib.lock:
        # Again under the lock: had another thread closed the last session since, the application would stay
        # logged in with no session (a later C_OpenSession would start logged in).
        lib.session(handle)
        if kind == UserType.CONTEXT_SPECIFIC:
            if lib.login != UserType.USER:
                raise CkError(ReturnValue.USER_NOT_LOGGED_IN)
            _check_user_pin(lib, pin)
            return
        if lib.login == kind:
            raise CkError(ReturnValue.USER_ALREADY_LOGGED_IN)
        if lib.login is not None:
            raise CkError(ReturnValue.USER_ANOTHER_ALREADY_LOGGED_IN)
        if kind == UserType.SO:
            if any(not s.read_write for s in lib.sessions.values()):
                raise CkError(ReturnValue.SESSION_READ_ONLY_EXISTS)
            if not config_module.verify_pin(pin, cfg.so_pin_hash):
                raise CkError(ReturnValue.PIN_INCORRECT)
            identity = Identity(cfg.user)
        else:
            identity = _check_user_pin(lib, pin)
        lib.login = kind
        lib.identity = identity


def _check_user_pin(lib: Library, pin: bytes) -> Identity:
    cfg = lib.config
    if cfg.pin_is_token:
        return Identity(cfg.user, bearer_token=pin.decode("utf-8", errors="replace"))
    users = dict(cfg.users)
    name, sep, rest = pin.partition(b":")
    user = name.decode("utf-8", errors="replace")
    if sep and (user in users or (user == cfg.user and cfg.user_pin_hash)):
        stored = users.get(user) or cfg.user_pin_hash
        if config_module.verify_pin(rest, stored):
            return Identity(user)
        raise CkError(ReturnValue.PIN_INCORRECT)
    if cfg.user_pin_hash is None:
        raise CkError(ReturnValue.USER_PIN_NOT_INITIALIZED)
    if not config_module.verify_pin(pin, cfg.user_pin_hash):
        raise CkError(ReturnValue.PIN_INCORRECT)
    return Identity(cfg.user)


def logout(lib: Library, handle: int) -> None:
    """§5.6.10 C_Logout (every session of the application returns to public state)."""
    with lib.lock:
        lib.session(handle)
        if lib.login is None:
            raise CkError(ReturnValue.USER_NOT_LOGGED_IN)
        lib.logout()


__all__ = [
    "close_all_sessions",
    "close_session",
    "get_session_info",
    "login",
    "logout",
    "open_session",
    "session_cancel",
]
