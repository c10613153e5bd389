"""Session management (PKCS#11 3.0 §5.6): sessions, and login state shared by all sessions of the application."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import config as config_module
from .backend import Identity
from .constants import ReturnValue, SessionFlag, SessionState, UserType
from .errors import CkError
from .library import Library, log
from .slots import check_slot


@dataclass(slots=True)
class Session:
    """One session (§2.6): its flags and the state of its active operations."""

    handle: int
    slot_id: int
    flags: int
    #: Remaining handles of an active C_FindObjects operation; None when no search is active.
    found: list[int] | None = None
    #: Active cryptographic operations by kind ("encrypt", "decrypt"...), for the crypto functions.
    operations: dict[str, object] = field(default_factory=dict)

    @property
    def read_write(self) -> bool:
        return bool(self.flags & SessionFlag.RW_SESSION)


def get_session(lib: Library, handle: int) -> Session:
    """The session for a handle: CKR_CRYPTOKI_NOT_INITIALIZED or CKR_SESSION_HANDLE_INVALID otherwise."""
    lib.require_initialized()
    session = lib.sessions.get(handle)
    if session is None:
        raise CkError(ReturnValue.SESSION_HANDLE_INVALID)
    assert isinstance(session, Session)
    return session


def open_session(lib: Library, slot_id: int, flags: int) -> int:
    """§5.6.1 C_OpenSession (notification callbacks are not used: the token never surrenders)."""
    check_slot(lib, slot_id)
    if not flags & SessionFlag.SERIAL_SESSION:
        raise CkError(ReturnValue.SESSION_PARALLEL_NOT_SUPPORTED)
    with lib.lock:
        if lib.login == UserType.SO and not flags & SessionFlag.RW_SESSION:
            raise CkError(ReturnValue.SESSION_READ_WRITE_SO_EXISTS)
        handle = lib.next_session
        lib.next_session += 1
        lib.sessions[handle] = Session(handle, slot_id, flags & (SessionFlag.RW_SESSION | SessionFlag.SERIAL_SESSION))
    return handle


def close_session(lib: Library, handle: int) -> None:
    """§5.6.2 C_CloseSession: its session objects are destroyed; closing the last session logs out."""
    with lib.lock:
        get_session(lib, handle)
        _close(lib, handle)


def close_all_sessions(lib: Library, slot_id: int) -> None:
    """§5.6.3 C_CloseAllSessions."""
    check_slot(lib, slot_id)
    with lib.lock:
        close_all_sessions_internal(lib)


def close_all_sessions_internal(lib: Library) -> None:
    for handle in list(lib.sessions):
        _close(lib, handle)


def _close(lib: Library, handle: int) -> None:
    from .objects import destroy_uid

    lib.sessions.pop(handle, None)
    for uid, owner in list(lib.session_objects.items()):
        if owner == handle:
            try:
                destroy_uid(lib, uid)
            except CkError as exc:  # the session closes regardless; the object is already unreachable
                log.warning("could not destroy session object %s: %s", uid, exc.message)
            lib.session_objects.pop(uid, None)
    if not lib.sessions:
        _logout(lib)


def get_session_info(lib: Library, handle: int) -> tuple[int, int, int, int]:
    """§5.6.4 C_GetSessionInfo: (slotID, state, flags, ulDeviceError)."""
    session = get_session(lib, handle)
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
    get_session(lib, handle)
    try:
        kind = UserType(user_type)
    except ValueError:
        raise CkError(ReturnValue.USER_TYPE_INVALID) from None
    if pin is None:
        raise CkError(ReturnValue.ARGUMENTS_BAD, "no protected authentication path: a PIN is required")
    cfg = lib.config
    with lib.lock:
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
    get_session(lib, handle)
    with lib.lock:
        if lib.login is None:
            raise CkError(ReturnValue.USER_NOT_LOGGED_IN)
        _logout(lib)


def _logout(lib: Library) -> None:
    lib.login = None
    lib.identity = Identity(lib.config.user)
    for session in lib.sessions.values():
        # Searches started while logged in could still hand out private objects (§5.6.10: operations end).
        session.found = None
        session.operations.clear()


__all__ = [
    "Session",
    "close_all_sessions",
    "close_all_sessions_internal",
    "close_session",
    "get_session",
    "get_session_info",
    "login",
    "logout",
    "open_session",
]
