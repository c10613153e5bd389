"""PKCS#11 failures as KMIP errors (STYLE rule 4: one error type; this is the HSM boundary's one table).

Everything the HSM layer raises is a ``KmipError``: the HSM being unreachable, logged out or refusing the PIN is
Protection Storage Unavailable (KMIP 2.1 §11.28) with a message that names the cause, so that operators see it
in the client's error and no stored object is touched.
"""

from __future__ import annotations

import pkcs11.exceptions as E

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError

CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68

#: Failures after which the session (or the whole library) is unusable but a new one may work.
SESSION_LOST: tuple[type[Exception], ...] = (
    E.SessionHandleInvalid,
    E.SessionClosed,
    E.UserNotLoggedIn,
    E.DeviceRemoved,
    E.TokenNotPresent,
    E.TokenNotRecognised,
    E.DeviceError,
    E.SlotIDInvalid,
)

#: Failures that mean the device itself went away (reload the library and find the token again).
DEVICE_LOST: tuple[type[Exception], ...] = (
    E.DeviceRemoved,
    E.TokenNotPresent,
    E.TokenNotRecognised,
    E.SlotIDInvalid,
    E.DeviceError,
)

_PIN_PROBLEMS: dict[type[Exception], str] = {
    E.PinIncorrect: "the PIN is incorrect",
    E.PinLocked: "the PIN is locked",
    E.PinExpired: "the PIN has expired",
    E.PinInvalid: "the PIN is invalid",
    E.PinLenRange: "the PIN has an invalid length",
    E.UserPinNotInitialized: "the token's user PIN is not initialised",
}


def not_initialized(exc: BaseException) -> bool:
    """CKR_CRYPTOKI_NOT_INITIALIZED: python-pkcs11 has no class for it, only this message."""
    return isinstance(exc, E.PKCS11Error) and "not initialized" in str(exc)


def key_function_not_permitted(exc: BaseException) -> bool:
    """CKR_KEY_FUNCTION_NOT_PERMITTED (python-pkcs11 reports it as an unmapped code)."""
    return isinstance(exc, E.PKCS11Error) and f"0x{CKR_KEY_FUNCTION_NOT_PERMITTED:x}" in str(exc).lower()


def recoverable(exc: BaseException) -> bool:
    """A failure that a fresh session (and, if need be, a re-initialised library and a new login) may cure."""
    return isinstance(exc, SESSION_LOST) or not_initialized(exc)


def unavailable(message: str) -> KmipError:
    """The HSM cannot be used right now (KMIP 2.1 Protection Storage Unavailable)."""
    return KmipError(ResultReason.PROTECTION_STORAGE_UNAVAILABLE, message)


def describe(exc: BaseException) -> str:
    """A short human description of a PKCS#11 failure."""
    for cls, text in _PIN_PROBLEMS.items():
        if isinstance(exc, cls):
            return text
    if not_initialized(exc):
        return "the PKCS#11 library is not initialised (device removed or reset)"
    if isinstance(exc, DEVICE_LOST):
        return "the HSM token is not present (removed or unreachable)"
    if isinstance(exc, E.SessionHandleInvalid | E.SessionClosed):
        return "the HSM session was closed"
    if isinstance(exc, E.UserNotLoggedIn):
        return "the HSM session is not logged in"
    text = str(exc)
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def login_failed(exc: BaseException, token_label: str) -> KmipError:
    return unavailable(f"HSM login to token {token_label!r} failed: {describe(exc)}")


def pin_problem(exc: BaseException) -> bool:
    return isinstance(exc, tuple(_PIN_PROBLEMS))


__all__ = [
    "DEVICE_LOST",
    "SESSION_LOST",
    "describe",
    "key_function_not_permitted",
    "login_failed",
    "not_initialized",
    "pin_problem",
    "recoverable",
    "unavailable",
]
