"""General-purpose functions (PKCS#11 3.0 §5.4): C_Initialize, C_Finalize, C_GetInfo."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from . import __version__
from .backends import Identity, open_backend
from .config import ConfigError, ProviderConfig, load_config
from .constants import InitializeFlag, ReturnValue
from .errors import CkError
from .library import HandleTable, Library, ObjectCache, current_pid, log

CRYPTOKI_VERSION = (3, 0)
MANUFACTURER = "Keystead"
LIBRARY_DESCRIPTION = "Keystead PKCS#11 (KMIP KMS)"


@dataclass(frozen=True, slots=True)
class InitializeArgs:
    """What the marshaller read from CK_C_INITIALIZE_ARGS (§3.7)."""

    mutex_functions: tuple[bool, bool, bool, bool]
    flags: int
    reserved_set: bool


@dataclass(frozen=True, slots=True)
class Info:
    """CK_INFO (§3.1)."""

    cryptoki_version: tuple[int, int]
    manufacturer_id: str
    flags: int
    library_description: str
    library_version: tuple[int, int]


def initialize(lib: Library, args: InitializeArgs | None, *, own_logging: bool = True) -> None:
    """§5.4.1 C_Initialize. Locking: the provider always uses its own OS locks (CKF_OS_LOCKING_OK or not, the
    application's mutex callbacks are not needed), and never creates threads. In a forked child the parent's
    state is dropped without being closed: its connections belong to the parent. ``own_logging`` False leaves
    the ``keystead`` loggers alone (the provider runs inside the KMS, for the KMIP PKCS#11 operation)."""
    if args is not None:
        if args.reserved_set:
            raise CkError(ReturnValue.ARGUMENTS_BAD, "pReserved must be NULL")
        if any(args.mutex_functions) and not all(args.mutex_functions):
            raise CkError(ReturnValue.ARGUMENTS_BAD, "mutex functions must be all supplied or none")
    with lib.lock:
        if lib.initialized and lib.pid == current_pid():
            raise CkError(ReturnValue.CRYPTOKI_ALREADY_INITIALIZED)
        _reset(lib)
        try:
            config = lib.config_loader(lib.environ) if lib.config_loader else load_config(lib.environ)
        except ConfigError as exc:
            raise CkError(ReturnValue.GENERAL_ERROR, str(exc)) from None
        if own_logging:
            configure_logging(config)
        try:
            backend = lib.backend_factory(config) if lib.backend_factory else open_backend(config)
        except Exception as exc:  # a database or TLS file that cannot be opened: say why in the log
            log.error("cannot open the %s backend: %s", config.backend.type, exc)
            raise CkError(ReturnValue.DEVICE_ERROR, "backend unavailable") from None
        lib.config = config
        lib.backend = backend
        lib.cache = ObjectCache(config.cache_ttl)
        lib.identity = Identity(config.user)
        lib.pid = current_pid()
        lib.initialized = True
    if args is not None and args.flags & ~int(
        InitializeFlag.LIBRARY_CANT_CREATE_OS_THREADS | InitializeFlag.OS_LOCKING_OK
    ):
        log.info("C_Initialize: ignoring unknown flags 0x%x", args.flags)


def _reset(lib: Library) -> None:
    lib.sessions.clear()
    if lib.outputs is not None:
        lib.outputs.clear()
    lib.session_objects.clear()
    lib.in_memory.clear()
    lib.held.clear()
    lib.attributes_changed()
    if lib.session_backend is not None:
        lib.session_backend.close()
        lib.session_backend = None
    lib.handles = HandleTable()
    lib.login = None
    lib.backend = None
    lib.initialized = False


def finalize(lib: Library, reserved_set: bool) -> None:
    """§5.4.2 C_Finalize: closes every session (destroying session objects) and the backend."""
    if reserved_set:
        raise CkError(ReturnValue.ARGUMENTS_BAD, "pReserved must be NULL")
    with lib.lock:
        lib.require_initialized()
        lib.close_all_sessions()
        backend = lib.backend
        _reset(lib)
    if backend is not None:
        backend.close()


def get_info(lib: Library) -> Info:
    """§5.4.3 C_GetInfo."""
    lib.require_initialized()
    major, minor = (int(x) for x in __version__.split(".")[:2])
    return Info(CRYPTOKI_VERSION, MANUFACTURER, 0, LIBRARY_DESCRIPTION, (major, minor))


_configured_file: str | None = None


def configure_logging(config: ProviderConfig) -> None:
    """Send ``keystead.*`` records to the configured file at the configured level; nowhere otherwise (a library
    must not write to its host's stderr). Done once per file."""
    global _configured_file
    root = logging.getLogger("keystead")
    root.setLevel(getattr(logging, config.log_level.upper(), logging.WARNING))
    root.propagate = False
    if config.log_file == _configured_file and root.handlers:
        return
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    if config.log_file:
        handler = logging.FileHandler(config.log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)
    _configured_file = config.log_file


__all__ = ["CRYPTOKI_VERSION", "Info", "InitializeArgs", "configure_logging", "finalize", "get_info", "initialize"]
