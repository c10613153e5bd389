"""The provider behind the KMS's KMIP PKCS#11 operation (KMIP 2.1 §6.1.37): ``ProviderFunctions`` implements the
engine's ``Pkcs11Functions`` interface by running each function through this provider, over the very engine that
received the request, as the requesting KMIP user.

Each C_Initialize opens one provider context (a ``Library``), named by a random Correlation Value that the
following calls carry and C_Finalize ends (only C_Initialize returns it, as in the OASIS case). Parameters
travel in the native LP64 little-endian layout of the C structures (what the OASIS test case PKCS11-M-1-21 shows
for CK_INFO: CK_VERSION, 32 blank-padded bytes, an 8-byte CK_FLAGS...): C_Initialize ignores its input (no mutex
callbacks cross a network), C_GetInfo returns CK_INFO, C_GetSlotList takes a CK_BBOOL and returns a CK_ULONG
count followed by the slot IDs. Other functions answer CKR_FUNCTION_NOT_SUPPORTED.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable
from typing import Any

from kms_backend.engine.pkcs11 import Pkcs11Result
from kms_backend.kmip._registry_data import Operation, PKCS11Function, ResultReason
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Struct

from .backends import Identity
from .config import ProviderConfig
from .constants import ReturnValue
from .errors import CkError
from .general import finalize, get_info, initialize
from .library import Library
from .slots import get_slot_list

#: Most PKCS#11 contexts open at once in one server process (each holds a provider instance).
MAX_CONTEXTS = 1024
_INFO = struct.Struct("<BB32sQ32sBB")
_ULONG = struct.Struct("<Q")


class _EngineBackend:
    """The provider's ``Backend`` over the server's own engine (``Engine.run_operation``)."""

    def __init__(self, run: Callable[[Operation, Struct, str], Struct]) -> None:
        self._run = run

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        return self._run(operation, payload, identity.user)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the server."""


class ProviderFunctions:
    """PKCS#11 functions run by this provider for KMIP users (``kms_backend.engine.pkcs11.Pkcs11Functions``)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._contexts: dict[bytes, tuple[str, Library]] = {}

    def call(
        self, user: str, function: PKCS11Function, correlation_value: bytes | None, parameters: bytes | None
    ) -> Pkcs11Result:
        if function == PKCS11Function.C_INITIALIZE:
            return self._initialize(user)
        if correlation_value is None:
            return Pkcs11Result(ReturnValue.CRYPTOKI_NOT_INITIALIZED)
        lib = self._context(user, correlation_value)
        try:
            if function == PKCS11Function.C_FINALIZE:
                with self._lock:
                    self._contexts.pop(correlation_value, None)
                finalize(lib, False)
                return Pkcs11Result(ReturnValue.OK)
            if function == PKCS11Function.C_GETINFO:
                return Pkcs11Result(ReturnValue.OK, _pack_info(lib))
            if function == PKCS11Function.C_GETSLOTLIST:
                slots = get_slot_list(lib, _bbool(parameters))
                output = _ULONG.pack(len(slots)) + b"".join(_ULONG.pack(s) for s in slots)
                return Pkcs11Result(ReturnValue.OK, output)
        except CkError as exc:
            return Pkcs11Result(exc.rv)
        return Pkcs11Result(ReturnValue.FUNCTION_NOT_SUPPORTED)

    def _initialize(self, user: str) -> Pkcs11Result:
        engine = self._engine
        lib = Library(
            environ={},
            config_loader=lambda _environ: ProviderConfig(user=user),
            backend_factory=lambda _config: _EngineBackend(engine.run_operation),
        )
        try:
            initialize(lib, None, own_logging=False)
        except CkError as exc:
            return Pkcs11Result(exc.rv)
        value = os.urandom(16)
        with self._lock:
            if len(self._contexts) >= MAX_CONTEXTS:
                return Pkcs11Result(ReturnValue.HOST_MEMORY)
            self._contexts[value] = (user, lib)
        return Pkcs11Result(ReturnValue.OK, None, value)

    def _context(self, user: str, value: bytes) -> Library:
        with self._lock:
            found = self._contexts.get(value)
        # Another user's context is reported like an unknown one.
        if found is None or found[0] != user:
            raise KmipError(ResultReason.INVALID_CORRELATION_VALUE, "no PKCS#11 context has this correlation value")
        return found[1]


def _text(value: str) -> bytes:
    """A PKCS#11 fixed-size text field: UTF-8, blank-padded to 32 bytes."""
    return value.encode("utf-8")[:32].ljust(32, b" ")


def _pack_info(lib: Library) -> bytes:
    info = get_info(lib)
    return _INFO.pack(
        *info.cryptoki_version,
        _text(info.manufacturer_id),
        info.flags,
        _text(info.library_description),
        *info.library_version,
    )


def _bbool(parameters: bytes | None) -> bool:
    if parameters is None or len(parameters) != 1:
        raise KmipError(ResultReason.PKCS_11_CODEC_ERROR, "C_GetSlotList takes one CK_BBOOL byte")
    return parameters != b"\0"


__all__ = ["MAX_CONTEXTS", "ProviderFunctions"]
