"""Slot and token management (PKCS#11 3.0 §5.5): one slot holding one token per configured KMS."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation

from . import config as config_module
from .constants import (
    EFFECTIVELY_INFINITE,
    UNAVAILABLE_INFORMATION,
    Mechanism,
    MechanismFlag,
    ReturnValue,
    SlotFlag,
    TokenFlag,
    UserType,
)
from .errors import CkError
from .library import SLOT_ID, Library
from .mechanisms import MECHANISMS

MIN_PIN_LEN = 4
MAX_PIN_LEN = 255


@dataclass(frozen=True, slots=True)
class Slot:
    """CK_SLOT_INFO (§3.2)."""

    description: str
    manufacturer_id: str
    flags: int
    hardware_version: tuple[int, int] = (0, 1)
    firmware_version: tuple[int, int] = (0, 1)


@dataclass(frozen=True, slots=True)
class Token:
    """CK_TOKEN_INFO (§3.2)."""

    label: str
    manufacturer_id: str
    model: str
    serial_number: str
    flags: int
    max_session_count: int
    session_count: int
    max_rw_session_count: int
    rw_session_count: int
    max_pin_len: int
    min_pin_len: int
    total_public_memory: int = UNAVAILABLE_INFORMATION
    free_public_memory: int = UNAVAILABLE_INFORMATION
    total_private_memory: int = UNAVAILABLE_INFORMATION
    free_private_memory: int = UNAVAILABLE_INFORMATION
    hardware_version: tuple[int, int] = (0, 1)
    firmware_version: tuple[int, int] = (0, 1)
    utc_time: str = ""


def get_slot_list(lib: Library, token_present: bool) -> list[int]:
    """§5.5.1 C_GetSlotList: the token is always present."""
    lib.require_initialized()
    return [SLOT_ID]


def get_slot_info(lib: Library, slot_id: int) -> Slot:
    """§5.5.2 C_GetSlotInfo."""
    lib.check_slot(slot_id)
    return Slot(f"Keystead {lib.config.backend.type} KMS", "Keystead", int(SlotFlag.TOKEN_PRESENT))


def get_token_info(lib: Library, slot_id: int) -> Token:
    """§5.5.3 C_GetTokenInfo."""
    lib.check_slot(slot_id)
    cfg = lib.config
    flags = TokenFlag.RNG | TokenFlag.LOGIN_REQUIRED
    if cfg.token_initialized:
        flags |= TokenFlag.TOKEN_INITIALIZED
    if cfg.user_pin_hash or cfg.users or cfg.pin_is_token:
        flags |= TokenFlag.USER_PIN_INITIALIZED
    # The serial identifies the token across runs: the same configuration file and label give the same serial.
    serial = hashlib.sha256(f"{cfg.path}|{cfg.label}".encode()).hexdigest()[:16]
    sessions = list(lib.sessions.values())
    rw = sum(1 for s in sessions if s.read_write)
    return Token(
        label=cfg.label,
        manufacturer_id="Keystead",
        model="KMIP KMS",
        serial_number=serial,
        flags=int(flags),
        max_session_count=EFFECTIVELY_INFINITE,
        session_count=len(sessions),
        max_rw_session_count=EFFECTIVELY_INFINITE,
        rw_session_count=rw,
        max_pin_len=4096 if cfg.pin_is_token else MAX_PIN_LEN,
        min_pin_len=MIN_PIN_LEN,
    )


def get_mechanism_list(lib: Library, slot_id: int) -> list[int]:
    """§5.5.4 C_GetMechanismList: the implemented mechanisms only."""
    lib.check_slot(slot_id)
    return [int(m) for m in MECHANISMS]


def get_mechanism_info(lib: Library, slot_id: int, mechanism: int) -> tuple[int, int, int]:
    """§5.5.5 C_GetMechanismInfo: (ulMinKeySize, ulMaxKeySize, flags)."""
    lib.check_slot(slot_id)
    try:
        spec = MECHANISMS[Mechanism(mechanism)]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.MECHANISM_INVALID, f"mechanism 0x{mechanism:x} is not supported") from None
    return spec.min_key_size, spec.max_key_size, int(spec.flags | MechanismFlag(0))


def _check_pin_length(pin: bytes) -> None:
    if not MIN_PIN_LEN <= len(pin) <= MAX_PIN_LEN:
        raise CkError(ReturnValue.PIN_LEN_RANGE, f"PINs are {MIN_PIN_LEN} to {MAX_PIN_LEN} bytes")


def init_token(lib: Library, slot_id: int, so_pin: bytes, label: bytes) -> None:
    """§5.5.6 C_InitToken: (re)initialise the token. An initialised token needs its SO PIN; a new one takes the
    given PIN as SO PIN. Objects made through PKCS#11 are destroyed (keys made by other KMS clients are not the
    token's to destroy); the user PIN must be set again with C_InitPIN; the configuration file is rewritten."""
    lib.check_slot(slot_id)
    _check_pin_length(so_pin)
    with lib.lock:
        if lib.sessions:
            raise CkError(ReturnValue.SESSION_EXISTS)
        cfg = lib.config
        if cfg.token_initialized and not config_module.verify_pin(so_pin, cfg.so_pin_hash):
            raise CkError(ReturnValue.PIN_INCORRECT)
        new_label = label.decode("utf-8", errors="replace").rstrip(" \x00") or cfg.label
        for uid in _pkcs11_objects(lib):
            lib.destroy(uid)
        updated = config_module.with_token(
            cfg, label=new_label, so_pin_hash=config_module.hash_pin(so_pin), user_pin_hash=None, users=()
        )
        config_module.save(updated)
        lib.config = updated
        lib.cache.clear()


def _pkcs11_objects(lib: Library) -> list[str]:
    located = lib.run(Operation.LOCATE, S.LocateRequest())
    out = []
    for uid in located.unique_identifier:
        view = lib.view(str(uid))
        if view is not None and view.pkcs11_made:
            out.append(view.uid)
    return out


def init_pin(lib: Library, session_handle: int, pin: bytes) -> None:
    """§5.5.7 C_InitPIN: the SO sets the user PIN, in a R/W session."""
    session = lib.session(session_handle)
    if lib.login != UserType.SO:
        raise CkError(ReturnValue.USER_NOT_LOGGED_IN, "C_InitPIN needs the SO")
    if not session.read_write:
        raise CkError(ReturnValue.SESSION_READ_ONLY)
    _check_pin_length(pin)
    with lib.lock:
        updated = config_module.with_token(lib.config, user_pin_hash=config_module.hash_pin(pin))
        config_module.save(updated)
        lib.config = updated


def set_pin(lib: Library, session_handle: int, old_pin: bytes, new_pin: bytes) -> None:
    """§5.5.8 C_SetPIN: the SO's PIN when the SO is logged in, the user's otherwise; R/W sessions only."""
    session = lib.session(session_handle)
    if not session.read_write:
        raise CkError(ReturnValue.SESSION_READ_ONLY)
    _check_pin_length(new_pin)
    with lib.lock:
        cfg = lib.config
        field = "so_pin_hash" if lib.login == UserType.SO else "user_pin_hash"
        current = cfg.so_pin_hash if field == "so_pin_hash" else cfg.user_pin_hash
        if current is None:
            raise CkError(ReturnValue.USER_PIN_NOT_INITIALIZED)
        if not config_module.verify_pin(old_pin, current):
            raise CkError(ReturnValue.PIN_INCORRECT)
        updated = config_module.with_token(cfg, **{field: config_module.hash_pin(new_pin)})
        config_module.save(updated)
        lib.config = updated


__all__ = [
    "SLOT_ID",
    "Slot",
    "Token",
    "get_mechanism_info",
    "get_mechanism_list",
    "get_slot_info",
    "get_slot_list",
    "get_token_info",
    "init_pin",
    "init_token",
    "set_pin",
]
