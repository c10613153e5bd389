"""Encryption and decryption (PKCS#11 3.0 §5.8, §5.9) through KMIP Encrypt / Decrypt: the key never leaves the KMS.

Single-part calls run the KMS's decision: C_*Init asks the backend for the engine's Plan of the key and parameters
(``Library.plan``: kept per key and mechanism, valid under the store's change stamp, so a key revoked or changed by
any process is refused at the next C_*Init), and C_Encrypt / C_Decrypt call ``Plan.run`` on the data with the IV
and AAD fixed at C_*Init. A backend without Plans (remote) gets one KMIP request per call instead. Multi-part calls
are a KMIP stream (Init Indicator, then the Correlation Value, Final Indicator last). AES-GCM: PKCS#11 appends the
tag to the ciphertext; KMIP carries it in its own field — on decryption the last ``tag_length`` bytes of the input
are held back until C_DecryptFinal, and the KMS releases no plaintext before the tag is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kms_backend.engine.plans import Plan
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation as KmipOperation
from kms_backend.kmip._registry_data import PaddingMethod
from kms_backend.kmip.errors import KmipError

from .constants import Attribute, MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError, ckr_for_reason
from .library import Library, Session
from .mechanisms import CipherPlan, MechanismParameter, cipher_plan, lookup
from .operations import (
    InitDecision,
    Operation,
    active,
    decided,
    deliver,
    finished,
    kept,
    key_for,
    offer,
    run_plan,
    start,
)

ENCRYPT = "encrypt"
DECRYPT = "decrypt"
_ENCRYPT_OP = KmipOperation.ENCRYPT
_DECRYPT_OP = KmipOperation.DECRYPT
_NO_PADDING = PaddingMethod.NONE


@dataclass(slots=True)
class CipherOperation(Operation):
    """An active encryption or decryption."""

    plan: CipherPlan = field(default_factory=lambda: CipherPlan(S.CryptographicParameters()))
    #: KMIP stream of a multi-part operation, once started.
    correlation: bytes | None = None
    #: GCM decryption: input bytes that may be the tag, held back until the final call.
    tail: bytes = b""
    #: The KMS's decision for single-part calls, run here (``Library.plan``); None: each call is a request.
    direct: Plan | None = None


#: What C_EncryptInit / C_DecryptInit each check and ask for: the mechanism flag, the key's usage attribute, the
#: KMIP operation, the key class of single-part (RSA) mechanisms: a public key encrypts, a private key decrypts.
_KINDS = {
    ENCRYPT: (MechanismFlag.ENCRYPT, Attribute.ENCRYPT, _ENCRYPT_OP, (ObjectClass.PUBLIC_KEY,)),
    DECRYPT: (MechanismFlag.DECRYPT, Attribute.DECRYPT, _DECRYPT_OP, (ObjectClass.PRIVATE_KEY,)),
}
_SECRET = (ObjectClass.SECRET_KEY,)


def _init(lib: Library, session_handle: int, kind: str, *, mechanism: int, parameter: Any, key_handle: int) -> None:
    session = start(lib, session_handle, kind)
    decision = session.inits.get(kind)
    if decision is None or not decision.current(lib, mechanism, parameter, key_handle):
        decision = session.inits[kind] = _decide(lib, kind, mechanism, parameter, key_handle)
    session.operations[kind] = _started(decision)


_new = object.__new__


def _started(decision: InitDecision) -> CipherOperation:
    """The operation a C_EncryptInit / C_DecryptInit starts from its decision: ``CipherOperation(uid, view,
    plan=..., direct=...)``, built field by field (called with keywords, the dataclass costs twice as much: the
    class call gathers them in a dict). tests/provider/test_crypto.py checks that it equals the constructor's."""
    op = _new(CipherOperation)
    view = op.view = decision.view
    op.uid = view.uid
    op.pending = None
    op.multi = False
    op.offered = None
    op.ticket = 0
    op.plan = decision.plan
    op.correlation = None
    op.tail = b""
    op.direct = decision.direct
    return op


def _decide(lib: Library, kind: str, mechanism: int, parameter: Any, key_handle: int) -> InitDecision:
    """The checks of C_EncryptInit / C_DecryptInit (mechanism, parameter, key) and the KMS's decision."""
    flag, usage, operation, asymmetric = _KINDS[kind]
    mech, spec = lookup(mechanism, flag)
    planner = spec.cipher  # every mechanism offered for encryption or decryption has one (``cipher_plan``)
    plan = planner(parameter) if planner is not None else cipher_plan(mech, parameter)
    view = key_for(lib, key_handle, spec, asymmetric if plan.single_part else _SECRET, usage)
    held = lib.held.get(view.uid)
    # Asked of the held key before the KMS decides: a change meanwhile then makes the decision not current.
    generation = held.generation if held is not None else 0
    # The KMS decides here (a revoked, destroyed or changed key is refused now); C_Encrypt then runs the decision.
    direct = decided(lib, operation, view.uid, plan.parameters)
    return InitDecision(mechanism, parameter, key_handle, view, plan, direct, operation, lib.login, held, generation)


def encrypt_init(lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter, key: int) -> None:
    """§5.8.1 C_EncryptInit."""
    _init(lib, session_handle, ENCRYPT, mechanism=mechanism, parameter=parameter, key_handle=key)


def decrypt_init(lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter, key: int) -> None:
    """§5.9.1 C_DecryptInit."""
    _init(lib, session_handle, DECRYPT, mechanism=mechanism, parameter=parameter, key_handle=key)


def _failed(session: Session, kind: str, exc: CkError) -> CkError:
    """End the operation (§5.8.2: a failed call terminates it) and translate the KMS's answer to the CK_RV the
    function defines."""
    session.operations.pop(kind, None)
    rv = exc.rv
    if kind == ENCRYPT and rv in (ReturnValue.ARGUMENTS_BAD, ReturnValue.MECHANISM_PARAM_INVALID):
        return CkError(ReturnValue.DATA_LEN_RANGE, exc.message)
    if kind == DECRYPT:
        if rv == ReturnValue.ARGUMENTS_BAD:
            return CkError(ReturnValue.ENCRYPTED_DATA_LEN_RANGE, exc.message)
        if rv == ReturnValue.FUNCTION_FAILED:  # a bad tag or padding: "decryption failed"
            return CkError(ReturnValue.ENCRYPTED_DATA_INVALID, exc.message)
    return exc


def _check_length(plan: CipherPlan, length: int, kind: str) -> None:
    """Whole blocks for unpadded ECB/CBC, and room for the tag when decrypting GCM (§2.14: length errors)."""
    if plan.block and plan.parameters.padding_method == _NO_PADDING and length % plan.block:
        raise CkError(ReturnValue.DATA_LEN_RANGE if kind == ENCRYPT else ReturnValue.ENCRYPTED_DATA_LEN_RANGE)
    if (
        kind == DECRYPT
        and plan.block
        and plan.parameters.padding_method != _NO_PADDING
        and (not length or length % plan.block)
    ):
        raise CkError(ReturnValue.ENCRYPTED_DATA_LEN_RANGE)
    if kind == DECRYPT and length < plan.tag_length:
        raise CkError(ReturnValue.ENCRYPTED_DATA_LEN_RANGE)


# -- single-part ----------------------------------------------------------------------------------------------------
def encrypt(lib: Library, session_handle: int, data: bytes, capacity: int | None) -> bytes:
    """§5.8.2 C_Encrypt. ``capacity`` is the output buffer's size, None for a length query."""
    session = lib.session(session_handle)
    op: CipherOperation = active(session, ENCRYPT, CipherOperation)
    if op.multi:
        raise CkError(ReturnValue.OPERATION_ACTIVE, "C_EncryptUpdate was called: finish with C_EncryptFinal")
    # ``kept`` asked only when something is kept (a fresh operation keeps nothing)
    out = kept(op, data, capacity) if op.pending is not None else None
    if out is None:
        plan = op.plan
        try:
            block = plan.block  # ``_check_length`` for encryption: whole blocks for unpadded ECB/CBC
            if block and len(data) % block and plan.parameters.padding_method == _NO_PADDING:
                raise CkError(ReturnValue.DATA_LEN_RANGE)
            if op.direct is not None:
                try:  # ``run_plan`` in this frame
                    response = op.direct.run(data, plan.iv, plan.aad)  # crypto.EncryptResult
                except KmipError as exc:
                    raise CkError(ckr_for_reason(exc.reason), exc.message) from None
                tag = response.tag
            else:
                response = lib.run(
                    _ENCRYPT_OP,
                    S.EncryptRequest(
                        unique_identifier=op.uid,
                        cryptographic_parameters=plan.parameters,
                        data=data,
                        iv_counter_nonce=plan.iv,
                        authenticated_encryption_additional_data=plan.aad,
                    ),
                )
                tag = response.authenticated_encryption_tag
        except CkError as exc:
            raise _failed(session, ENCRYPT, exc) from None
        out = response.data + tag if tag else response.data
        if capacity is None or capacity < len(out):  # ``deliver`` in this frame: kept for the next call
            op.pending = (data, out)
        elif op.pending is not None:
            op.pending = None
    if op.pending is not None:
        offer(lib, session, ENCRYPT, op)
    elif capacity is not None:  # ``finished``: nothing is kept when the output was handed over
        session.operations.pop(ENCRYPT, None)
    return out


def decrypt(lib: Library, session_handle: int, data: bytes, capacity: int | None) -> bytes:
    """§5.9.2 C_Decrypt."""
    session = lib.session(session_handle)
    op: CipherOperation = active(session, DECRYPT, CipherOperation)
    if op.multi:
        raise CkError(ReturnValue.OPERATION_ACTIVE, "C_DecryptUpdate was called: finish with C_DecryptFinal")
    out = kept(op, data, capacity)
    if out is None:
        plan = op.plan
        try:
            _check_length(plan, len(data), DECRYPT)
            body, tag = data, None
            if plan.tag_length:
                body, tag = data[: -plan.tag_length], data[-plan.tag_length :]
            if op.direct is not None:
                plaintext: bytes | None = run_plan(op.direct, body, plan.iv, plan.aad, tag)
            else:
                plaintext = lib.run(
                    _DECRYPT_OP,
                    S.DecryptRequest(
                        unique_identifier=op.uid,
                        cryptographic_parameters=plan.parameters,
                        data=body,
                        iv_counter_nonce=plan.iv,
                        authenticated_encryption_additional_data=plan.aad,
                        authenticated_encryption_tag=tag,
                    ),
                ).data
        except CkError as exc:
            raise _failed(session, DECRYPT, exc) from None
        out = deliver(op, data, plaintext or b"", capacity)
    if op.pending is not None:
        offer(lib, session, DECRYPT, op)
    finished(session, DECRYPT, out, capacity)
    return out


# -- multi-part -----------------------------------------------------------------------------------------------------
def _stream(lib: Library, kind: str, op: CipherOperation, part: bytes, *, final: bool, tag: bytes | None) -> bytes:
    """One step of the KMIP stream behind a multi-part operation."""
    plan = op.plan
    request: Any
    cls = S.EncryptRequest if kind == ENCRYPT else S.DecryptRequest
    operation = _ENCRYPT_OP if kind == ENCRYPT else _DECRYPT_OP
    extra: dict[str, Any] = {"authenticated_encryption_tag": tag} if kind == DECRYPT and tag is not None else {}
    if op.correlation is None:
        request = cls(
            unique_identifier=op.uid,
            cryptographic_parameters=plan.parameters,
            data=part,
            iv_counter_nonce=plan.iv,
            authenticated_encryption_additional_data=plan.aad,
            init_indicator=True,
            final_indicator=final or None,
            **extra,
        )
    else:
        request = cls(correlation_value=op.correlation, data=part, final_indicator=final or None, **extra)
    response = lib.run(operation, request, uid=op.uid)  # a continuation names no object: route by the key
    if op.correlation is None and not final:
        op.correlation = response.correlation_value
    data: bytes = response.data or b""
    if kind == ENCRYPT and final and response.authenticated_encryption_tag:
        data += response.authenticated_encryption_tag
    return data


def _update(lib: Library, session_handle: int, kind: str, part: bytes, capacity: int | None) -> bytes:
    session = lib.session(session_handle)
    op: CipherOperation = active(session, kind, CipherOperation)
    if op.plan.single_part:
        session.operations.pop(kind, None)
        raise CkError(ReturnValue.MECHANISM_INVALID, "RSA encryption is single-part only")
    out = kept(op, part, capacity)
    if out is None:
        op.multi = True
        feed = part
        if kind == DECRYPT and op.plan.tag_length:
            # the tag is the stream's last bytes: keep the newest tag_length bytes back
            joined = op.tail + part
            cut = max(0, len(joined) - op.plan.tag_length)
            feed, op.tail = joined[:cut], joined[cut:]
        try:
            out = _stream(lib, kind, op, feed, final=False, tag=None) if feed or op.correlation is None else b""
        except CkError as exc:
            raise _failed(session, kind, exc) from None
        out = deliver(op, part, out, capacity)
    return out


def _final(lib: Library, session_handle: int, kind: str, capacity: int | None) -> bytes:
    session = lib.session(session_handle)
    op: CipherOperation = active(session, kind, CipherOperation)
    out = kept(op, b"", capacity)
    if out is None:
        plan = op.plan
        tag = None
        if kind == DECRYPT and plan.tag_length:
            if len(op.tail) < plan.tag_length:
                session.operations.pop(kind, None)
                raise CkError(ReturnValue.ENCRYPTED_DATA_LEN_RANGE, "shorter than the tag")
            tag = op.tail
        try:
            out = _stream(lib, kind, op, b"", final=True, tag=tag)
        except CkError as exc:
            raise _failed(session, kind, exc) from None
        out = deliver(op, b"", out, capacity)
    finished(session, kind, out, capacity)
    return out


def encrypt_update(lib: Library, session_handle: int, part: bytes, capacity: int | None) -> bytes:
    """§5.8.3 C_EncryptUpdate."""
    return _update(lib, session_handle, ENCRYPT, part, capacity)


def encrypt_final(lib: Library, session_handle: int, capacity: int | None) -> bytes:
    """§5.8.4 C_EncryptFinal (the GCM tag comes out here)."""
    return _final(lib, session_handle, ENCRYPT, capacity)


def decrypt_update(lib: Library, session_handle: int, part: bytes, capacity: int | None) -> bytes:
    """§5.9.3 C_DecryptUpdate (GCM: no plaintext before the tag is checked by C_DecryptFinal)."""
    return _update(lib, session_handle, DECRYPT, part, capacity)


def decrypt_final(lib: Library, session_handle: int, capacity: int | None) -> bytes:
    """§5.9.4 C_DecryptFinal."""
    return _final(lib, session_handle, DECRYPT, capacity)


__all__ = [
    "CipherOperation",
    "decrypt",
    "decrypt_final",
    "decrypt_init",
    "decrypt_update",
    "encrypt",
    "encrypt_final",
    "encrypt_init",
    "encrypt_update",
]
