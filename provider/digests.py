"""Message digesting (PKCS#11 3.0 §5.10): computed here with hashlib — no key is involved, so there is nothing
for the KMS to protect; C_DigestKey digests a key's value only when the key may leave the token."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .constants import MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError
from .library import Library
from .mechanisms import MechanismParameter, lookup
from .objects import object_view, secret_value
from .operations import Operation, active, deliver, finished, kept, start

DIGEST = "digest"


@dataclass(slots=True)
class DigestOperation(Operation):
    """An active digest: the hashlib object."""

    hasher: Any = None


def digest_init(lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter) -> None:
    """§5.10.1 C_DigestInit."""
    session = start(lib, session_handle, DIGEST)
    kind, spec = lookup(mechanism, MechanismFlag.DIGEST)
    if parameter:
        raise CkError(ReturnValue.MECHANISM_PARAM_INVALID, f"{kind.name} takes no parameter")
    assert spec.hash_name is not None
    session.operations[DIGEST] = DigestOperation("", None, hasher=hashlib.new(spec.hash_name))


def digest(lib: Library, session_handle: int, data: bytes, capacity: int | None) -> bytes:
    """§5.10.2 C_Digest."""
    session = lib.session(session_handle)
    op: DigestOperation = active(session, DIGEST, DigestOperation)
    if op.multi:
        raise CkError(ReturnValue.OPERATION_ACTIVE, "C_DigestUpdate was called: finish with C_DigestFinal")
    out = kept(op, data, capacity)
    if out is None:
        hasher = op.hasher.copy()
        hasher.update(data)
        out = deliver(op, data, hasher.digest(), capacity)
    finished(session, DIGEST, out, capacity)
    return out


def digest_update(lib: Library, session_handle: int, part: bytes) -> None:
    """§5.10.3 C_DigestUpdate."""
    op: DigestOperation = active(lib.session(session_handle), DIGEST, DigestOperation)
    op.multi = True
    op.hasher.update(part)


def digest_key(lib: Library, session_handle: int, key_handle: int) -> None:
    """§5.10.4 C_DigestKey: the value of a secret key that is neither sensitive nor unextractable."""
    session = lib.session(session_handle)
    op: DigestOperation = active(session, DIGEST, DigestOperation)
    try:
        view = object_view(lib, key_handle)
    except CkError:
        raise CkError(ReturnValue.KEY_HANDLE_INVALID) from None
    value = secret_value(lib, view) if view.object_class is ObjectClass.SECRET_KEY else None
    if value is None:
        raise CkError(ReturnValue.KEY_INDIGESTIBLE, "the key's value cannot leave the token")
    op.multi = True
    op.hasher.update(value)


def digest_final(lib: Library, session_handle: int, capacity: int | None) -> bytes:
    """§5.10.5 C_DigestFinal."""
    session = lib.session(session_handle)
    op: DigestOperation = active(session, DIGEST, DigestOperation)
    out = kept(op, b"", capacity)
    if out is None:
        out = deliver(op, b"", op.hasher.copy().digest(), capacity)
    finished(session, DIGEST, out, capacity)
    return out


__all__ = ["DigestOperation", "digest", "digest_final", "digest_init", "digest_key", "digest_update"]
