"""Signing and verification, MACs included (PKCS#11 3.0 §5.11, §5.12), through KMIP Sign / Signature Verify and
MAC / MAC Verify: the private or secret key never leaves the KMS.

Hash-then-sign mechanisms (SHA*-RSA-PKCS(-PSS), ECDSA-SHA*) hash here with hashlib, one Update at a time, and the
KMS signs the digest (KMIP Digested Data) — one request per signature however many parts. CKM_RSA_PKCS (§2.1.6:
the caller's bytes, at most k - 11, signed under EMSA-PKCS1-v1_5 with no hashing) goes two ways: a DER DigestInfo
of SHA-1/SHA-2 is taken apart into its hash and digest (the KMS re-encodes the same DigestInfo, so the signature
is identical, and the hashed form is also allowed in approved-only mode); any other input — TLS 1.0/1.1's 36-byte
MD5‖SHA-1, an application's own structure — is sent as Digested Data with Padding Method PKCS1_V1_5 and no
Hashing Algorithm, the KMS's raw PKCS#1 v1.5 signature. Too long an input is CKR_DATA_LEN_RANGE. ECDSA and DSA
signatures are DER on the KMIP side and the fixed-width ``r ‖ s`` of §2.3.1 / §2.2.1 on the PKCS#11 side (each half
the curve order's or the subprime's length); CKM_DSA signs a hash of 20 to 64 bytes. EdDSA and HMAC sign
messages: multi-part data is collected and sent in the final call. A one-shot signature runs the engine's Plan for
the key and the parameters in-process when the backend has one (``Library.plan``, checked at each C_Sign: the data
picks the hash of CKM_ECDSA), as ``ciphers`` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from hmac import compare_digest
from typing import Any

from kms_backend import crypto
from kms_backend.crypto import dss_signature_to_raw, ecdsa_signature_from_raw
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, RecommendedCurve, ValidityIndicator
from kms_backend.kmip._registry_data import Operation as KmipOperation
from kms_backend.kmip.errors import KmipError

from .attributes import PARAMS_CURVES
from .constants import UNAVAILABLE_INFORMATION, Attribute, MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError
from .imports import CURVE_BITS
from .library import Library, Session
from .mechanisms import HASHES, MechanismParameter, SignaturePlan, lookup, signature_plan
from .objects import public_values
from .operations import Operation, active, deliver, finished, kept, key_for, offer, run_plan, start

SIGN = "sign"
VERIFY = "verify"
#: Messages collected for EdDSA, HMAC and raw mechanisms are bounded like the KMS bounds a request.
MAX_MESSAGE = 64 * 1024 * 1024

#: DER DigestInfo prefix (``crypto.DIGEST_INFO_PREFIXES``) → hash name.
DIGEST_INFO_PREFIXES: dict[bytes, str] = {
    prefix: name for name, algorithm in HASHES.items() if (prefix := crypto.DIGEST_INFO_PREFIXES.get(algorithm))
}
_DIGEST_SIZES = {20: "sha1", 28: "sha224", 32: "sha256", 48: "sha384", 64: "sha512"}
_CURVE_BITS = CURVE_BITS


@dataclass(slots=True)
class SignatureOperation(Operation):
    """An active signature, verification or MAC."""

    plan: SignaturePlan = field(default_factory=lambda: SignaturePlan(S.CryptographicParameters()))
    hasher: Any = None
    message: bytearray = field(default_factory=bytearray)
    curve: RecommendedCurve | None = None
    #: ECDSA and DSA: the byte length of r and of s (the curve order's, the subprime's).
    half: int = 0


def _init(lib: Library, session_handle: int, kind: str, *, mechanism: int, parameter: Any, key_handle: int) -> None:
    session = start(lib, session_handle, kind)
    mech, spec = lookup(mechanism, MechanismFlag.SIGN if kind == SIGN else MechanismFlag.VERIFY)
    plan = signature_plan(mech, parameter)
    if plan.mac:
        classes: tuple[ObjectClass, ...] = (ObjectClass.SECRET_KEY,)
    elif kind == SIGN:
        classes = (ObjectClass.PRIVATE_KEY,)
    else:
        classes = (ObjectClass.PUBLIC_KEY,)
    usage = Attribute.SIGN if kind == SIGN else Attribute.VERIFY
    view = key_for(lib, key_handle, spec, classes, usage)
    curve = None
    if plan.ecdsa:
        curve = PARAMS_CURVES.get(view.values.get(Attribute.EC_PARAMS, b""))
        if curve not in _CURVE_BITS:
            raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, "ECDSA needs a key on a named prime curve")
    half = (_CURVE_BITS[curve] + 7) // 8 if curve is not None else 0
    if plan.dsa:
        subprime = view.values.get(Attribute.SUBPRIME) or public_values(lib, view).get(Attribute.SUBPRIME)
        if not subprime:
            raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, "DSA needs a key with a subprime")
        half = (int.from_bytes(subprime, "big").bit_length() + 7) // 8
    hasher = hashlib.new(plan.hash_name) if plan.hash_name else None
    session.operations[kind] = SignatureOperation(view.uid, view, plan=plan, hasher=hasher, curve=curve, half=half)


def sign_init(lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter, key: int) -> None:
    """§5.11.1 C_SignInit."""
    _init(lib, session_handle, SIGN, mechanism=mechanism, parameter=parameter, key_handle=key)


def verify_init(lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter, key: int) -> None:
    """§5.12.1 C_VerifyInit."""
    _init(lib, session_handle, VERIFY, mechanism=mechanism, parameter=parameter, key_handle=key)


# -- the KMIP requests ------------------------------------------------------------------------------------------------
def _digest_info(data: bytes) -> tuple[str, bytes] | None:
    """(hash, digest) of a DER DigestInfo of SHA-1/SHA-2; None for any other CKM_RSA_PKCS input."""
    for prefix, name in DIGEST_INFO_PREFIXES.items():
        if data.startswith(prefix) and len(data) == len(prefix) + hashlib.new(name).digest_size:
            return name, data[len(prefix) :]
    return None


def _ecdsa_digest(data: bytes, curve: RecommendedCurve) -> tuple[str, bytes]:
    """CKM_ECDSA input (any length; X9.62 uses its leftmost n bits) as a digest of a standard hash length with the
    same leftmost-n-bits value, so the KMS's prehashed ECDSA computes the same signature."""
    bits = _CURVE_BITS[curve]
    name = _DIGEST_SIZES.get(len(data))
    if name is not None:
        return name, data
    value = int.from_bytes(data, "big") if data else 0
    if 8 * len(data) > bits:
        value >>= 8 * len(data) - bits
    for size in sorted(_DIGEST_SIZES):
        if 8 * size <= bits and value < 1 << (8 * size):
            return _DIGEST_SIZES[size], value.to_bytes(size, "big")
    raise CkError(ReturnValue.DATA_LEN_RANGE, "ECDSA input of this length is not supported for this curve")


def _digested(op: SignatureOperation, data: bytes) -> tuple[S.CryptographicParameters, bytes | None, bytes | None]:
    """(parameters, Data, Digested Data) of the request for the message or digest ``data``."""
    plan = op.plan
    cp = plan.parameters
    if plan.mac or (not plan.digested and plan.hash_name is None):
        return cp, data, None
    if plan.hash_name is not None:
        return cp, None, data  # ``data`` is already the digest computed here
    if plan.ecdsa:
        assert op.curve is not None
        name, digest = _ecdsa_digest(data, op.curve)
    elif plan.dsa:  # CKM_DSA: the caller's hash, of one of the lengths a KMIP Hashing Algorithm names
        name, digest = _DIGEST_SIZES.get(len(data), ""), data
        if not name:
            raise CkError(ReturnValue.DATA_LEN_RANGE, "CKM_DSA signs a SHA-1 or SHA-2 hash (20 to 64 bytes)")
    elif cp.hashing_algorithm is None:  # CKM_RSA_PKCS
        parts = _digest_info(data)
        if parts is None:
            return cp, None, data  # PKCS1_V1_5 without a hash: the KMS signs these bytes raw
        name, digest = parts
    else:  # CKM_RSA_PKCS_PSS: the digest of the hash in the parameters
        name, digest = "", data
    if name:
        cp = _hashed_parameters(cp, name)
    return cp, None, digest


#: (algorithm, padding, hash) -> the parameters ``_digested`` names: one object per combination, so that the
#: backend's kept Plan for them is found by identity (``EmbeddedBackend.plan``).
_HASHED: dict[tuple[Any, Any, str], S.CryptographicParameters] = {}


def _hashed_parameters(cp: S.CryptographicParameters, name: str) -> S.CryptographicParameters:
    """The algorithm and padding of ``cp`` with hashing algorithm ``name`` (a bounded table: the algorithms, the
    padding methods and the hashes ``HASHES`` names)."""
    key = (cp.cryptographic_algorithm, cp.padding_method, name)
    hashed = _HASHED.get(key)
    if hashed is None:
        hashed = _HASHED[key] = S.CryptographicParameters(
            cryptographic_algorithm=cp.cryptographic_algorithm,
            padding_method=cp.padding_method,
            hashing_algorithm=HASHES[name],
        )
    return hashed


def _sign(lib: Library, op: SignatureOperation, data: bytes) -> bytes:
    cp, message, digest = _digested(op, data)
    if op.plan.mac:
        response = lib.run(
            KmipOperation.MAC, S.MACRequest(unique_identifier=op.uid, cryptographic_parameters=cp, data=message)
        )
        mac = bytes(response.mac_data)
        return mac[: op.plan.mac_length] if op.plan.mac_length else mac
    direct = lib.plan(KmipOperation.SIGN, op.uid, cp)
    signature: bytes
    if direct is not None:  # the KMS's decision, run here
        signature = run_plan(direct, message if digest is None else digest, digest is not None)
    else:
        response = lib.run(
            KmipOperation.SIGN,
            S.SignRequest(unique_identifier=op.uid, cryptographic_parameters=cp, data=message, digested_data=digest),
        )
        signature = bytes(response.signature_data)
    if op.plan.ecdsa or op.plan.dsa:
        signature = dss_signature_to_raw(signature, op.half)
    return signature


def _verify(lib: Library, op: SignatureOperation, data: bytes, signature: bytes) -> None:
    cp, message, digest = _digested(op, data)
    if op.plan.mac and op.plan.mac_length:
        # A MAC cut to a chosen length: KMIP MAC Verify compares whole MACs, so compare the leading bytes here.
        if len(signature) != op.plan.mac_length:
            raise CkError(ReturnValue.SIGNATURE_LEN_RANGE)
        if not compare_digest(_sign(lib, op, data), signature):
            raise CkError(ReturnValue.SIGNATURE_INVALID)
        return
    if op.plan.mac:
        response = lib.run(
            KmipOperation.MAC_VERIFY,
            S.MACVerifyRequest(unique_identifier=op.uid, cryptographic_parameters=cp, data=message, mac_data=signature),
        )
    else:
        if op.plan.ecdsa or op.plan.dsa:
            if len(signature) != 2 * op.half:
                raise CkError(ReturnValue.SIGNATURE_LEN_RANGE)
            try:
                signature = ecdsa_signature_from_raw(signature)
            except KmipError:
                raise CkError(ReturnValue.SIGNATURE_INVALID) from None
        else:
            _check_rsa_length(op, signature)
        response = lib.run(
            KmipOperation.SIGNATURE_VERIFY,
            S.SignatureVerifyRequest(
                unique_identifier=op.uid,
                cryptographic_parameters=cp,
                data=message,
                digested_data=digest,
                signature_data=signature,
            ),
        )
    if response.validity_indicator != ValidityIndicator.VALID:
        raise CkError(ReturnValue.SIGNATURE_INVALID)


def _check_rsa_length(op: SignatureOperation, signature: bytes) -> None:
    if op.plan.parameters.cryptographic_algorithm != CryptographicAlgorithm.RSA or op.view is None:
        return
    bits = op.view.values.get(Attribute.MODULUS_BITS)
    if isinstance(bits, int) and 0 < bits < UNAVAILABLE_INFORMATION and len(signature) != (bits + 7) // 8:
        raise CkError(ReturnValue.SIGNATURE_LEN_RANGE)


def _failed(session: Session, kind: str, exc: CkError) -> CkError:
    session.operations.pop(kind, None)
    if exc.rv == ReturnValue.ARGUMENTS_BAD:
        return CkError(ReturnValue.DATA_LEN_RANGE, exc.message)
    return exc


def _message(op: SignatureOperation) -> bytes:
    if op.hasher is not None:
        return bytes(op.hasher.digest())
    return bytes(op.message)


def _add(op: SignatureOperation, part: bytes) -> None:
    op.multi = True
    if op.hasher is not None:
        op.hasher.update(part)
        return
    if len(op.message) + len(part) > MAX_MESSAGE:
        raise CkError(ReturnValue.DATA_LEN_RANGE, "messages are limited to 64 MiB")
    op.message += part


# -- the functions ----------------------------------------------------------------------------------------------------
def sign(lib: Library, session_handle: int, data: bytes, capacity: int | None) -> bytes:
    """§5.11.2 C_Sign."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, SIGN, SignatureOperation)
    if op.multi:
        raise CkError(ReturnValue.OPERATION_ACTIVE, "C_SignUpdate was called: finish with C_SignFinal")
    out = kept(op, data, capacity)
    if out is None:
        try:
            message = hashlib.new(op.plan.hash_name, data).digest() if op.plan.hash_name else data
            out = deliver(op, data, _sign(lib, op, message), capacity)
        except CkError as exc:
            raise _failed(session, SIGN, exc) from None
    if op.pending is not None:
        offer(lib, session, SIGN, op)
    finished(session, SIGN, out, capacity)
    return out


def sign_update(lib: Library, session_handle: int, part: bytes) -> None:
    """§5.11.3 C_SignUpdate."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, SIGN, SignatureOperation)
    try:
        _add(op, part)
    except CkError:
        session.operations.pop(SIGN, None)
        raise


def sign_final(lib: Library, session_handle: int, capacity: int | None) -> bytes:
    """§5.11.4 C_SignFinal."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, SIGN, SignatureOperation)
    out = kept(op, b"", capacity)
    if out is None:
        try:
            out = deliver(op, b"", _sign(lib, op, _message(op)), capacity)
        except CkError as exc:
            raise _failed(session, SIGN, exc) from None
    finished(session, SIGN, out, capacity)
    return out


def verify(lib: Library, session_handle: int, data: bytes, signature: bytes) -> None:
    """§5.12.2 C_Verify: CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE when it does not verify."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, VERIFY, SignatureOperation)
    if op.multi:
        raise CkError(ReturnValue.OPERATION_ACTIVE, "C_VerifyUpdate was called: finish with C_VerifyFinal")
    try:
        message = hashlib.new(op.plan.hash_name, data).digest() if op.plan.hash_name else data
        _verify(lib, op, message, signature)
    except CkError as exc:
        raise _failed(session, VERIFY, exc) from None
    session.operations.pop(VERIFY, None)


def verify_update(lib: Library, session_handle: int, part: bytes) -> None:
    """§5.12.3 C_VerifyUpdate."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, VERIFY, SignatureOperation)
    try:
        _add(op, part)
    except CkError:
        session.operations.pop(VERIFY, None)
        raise


def verify_final(lib: Library, session_handle: int, signature: bytes) -> None:
    """§5.12.4 C_VerifyFinal."""
    session = lib.session(session_handle)
    op: SignatureOperation = active(session, VERIFY, SignatureOperation)
    try:
        _verify(lib, op, _message(op), signature)
    except CkError as exc:
        raise _failed(session, VERIFY, exc) from None
    session.operations.pop(VERIFY, None)


__all__ = [
    "SignatureOperation",
    "sign",
    "sign_final",
    "sign_init",
    "sign_update",
    "verify",
    "verify_final",
    "verify_init",
    "verify_update",
]
