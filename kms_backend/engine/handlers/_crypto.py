"""What the cryptographic operation handlers share: key material out of a managed object, Cryptographic Parameters
merged over the object's attribute, the lifecycle and usage-mask rules, streaming sessions and Cosmian bulk data.

Lifecycle (KMIP 2.1 §4.57 State): an Active object may be used for every cryptographic purpose. A Deactivated
object "SHALL NOT be used for applying cryptographic protection … but may be used to process cryptographically-
protected information (e.g., decryption, signature verification, unwrapping, MAC verification)"; a Compromised
object may likewise only *process*, "in a client that is trusted to use managed objects that have been
compromised". The server cannot tell a trusted client from another, so access control is that trust: the owner,
or a user granted the operation, may Decrypt / Signature Verify / MAC Verify with a Deactivated or Compromised key;
every protecting operation (Encrypt, Sign, MAC, Derive Key) needs Active. Pre-Active and Destroyed objects do
nothing. Protect Stop Date (§4.50) and Process Start Date (§4.48) narrow the window further.

Failures carry the precise Result Reason: Wrong Key Lifecycle State, Incompatible Cryptographic Usage Mask
(§4.19: the mask lacks the operation's bit), Invalid Object Type (a key of the wrong kind: a public key for
Decrypt, an RSA key with AES parameters), and whatever the crypto layer reports for bad parameters or data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ...crypto import CipherParams
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    Operation,
    PaddingMethod,
    ResultReason,
    State,
    Tag,
    UsageLimitsUnit,
    ValidityIndicator,
)
from ...kmip.errors import KmipError
from .. import keymaterial
from ..context import RequestContext
from ..keyformats import unwrap_object
from ..keymaterial import Key, KeyKind, clear_caches, legacy_defaults, stored_params, to_cipher_params
from ..lifecycle import key_block
from ..objects import STORAGE_ARCHIVED, ManagedObject

U = CryptographicUsageMask

#: States in which a key may apply protection (Encrypt, Sign, MAC, Derive Key) and process protected data.
PROTECT_STATES = frozenset({State.ACTIVE})
PROCESS_STATES = frozenset({State.ACTIVE, State.DEACTIVATED, State.COMPROMISED})

#: Largest Data one request may carry (the transports bound messages too; this bounds what the engine processes).
MAX_DATA_BYTES = 64 * 1024 * 1024

#: Algorithms that only make sense with symmetric key material (ciphers and MACs).
SYMMETRIC_ALGORITHMS = frozenset(
    {
        CryptographicAlgorithm.AES,
        CryptographicAlgorithm.DES,
        CryptographicAlgorithm.DES3,
        CryptographicAlgorithm.CHACHA20,
        CryptographicAlgorithm.CHACHA20POLY1305,
        CryptographicAlgorithm.CAMELLIA,
        CryptographicAlgorithm.ARIA,
        CryptographicAlgorithm.BLOWFISH,
        CryptographicAlgorithm.RC4,
        CryptographicAlgorithm.HMAC_SHA1,
        CryptographicAlgorithm.HMAC_SHA224,
        CryptographicAlgorithm.HMAC_SHA256,
        CryptographicAlgorithm.HMAC_SHA384,
        CryptographicAlgorithm.HMAC_SHA512,
        CryptographicAlgorithm.HMAC_MD5,
        CryptographicAlgorithm.HMAC_SHA3_224,
        CryptographicAlgorithm.HMAC_SHA3_256,
        CryptographicAlgorithm.HMAC_SHA3_384,
        CryptographicAlgorithm.HMAC_SHA3_512,
    }
)
_CHACHA = frozenset({CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305})
_AEAD_MODES = frozenset({BlockCipherMode.GCM, BlockCipherMode.CCM, BlockCipherMode.GCM_SIV, BlockCipherMode.AEAD})


# -- key material ----------------------------------------------------------------------------------------------


def key_of(mo: ManagedObject, ctx: RequestContext | None = None) -> Key:
    """The key material of ``mo`` (see ``keymaterial.key_of``); a key stored wrapped under another KMS key is
    unwrapped for this use only (the requester needs Decrypt on the wrapping key, as for Import) and stays wrapped
    in the store."""
    block = key_block(mo.object)
    if block is not None and block.key_wrapping_data is not None and ctx is not None and mo.object is not None:
        return keymaterial.key_of(mo, unwrap_object(ctx, mo.object))
    return keymaterial.key_of(mo)


# -- access, lifecycle and usage -------------------------------------------------------------------------------


def check_usable(mo: ManagedObject, now: int, *, process: bool) -> None:
    """Raise unless ``mo`` may be used now to protect (``process`` False) or to process (True); see module doc."""
    if mo.storage_status & STORAGE_ARCHIVED:
        raise KmipError(ResultReason.OBJECT_ARCHIVED, f"object {mo.uid} is archived")
    allowed = PROCESS_STATES if process else PROTECT_STATES
    state = mo.state
    if state not in allowed or mo.object is None:
        what = "process data with" if process else "apply protection with"
        raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"cannot {what} object {mo.uid} in state {state.name}")
    if process:
        start = mo.attributes.get(Tag.PROCESS_START_DATE)
        if isinstance(start, int) and now < start:
            raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"object {mo.uid}: Process Start Date not reached")
    else:
        stop = mo.attributes.get(Tag.PROTECT_STOP_DATE)
        if isinstance(stop, int) and now >= stop:
            raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"object {mo.uid}: Protect Stop Date passed")


def check_usage(mo: ManagedObject, *bits: int) -> None:
    """Incompatible Cryptographic Usage Mask unless the object's mask has one of ``bits`` (KMIP 2.1 §4.19)."""
    mask = mo.attributes.get(Tag.CRYPTOGRAPHIC_USAGE_MASK)
    if mask is None or any(int(mask) & bit for bit in bits):
        return
    names = "/".join(U(bit).name or str(bit) for bit in bits)
    raise KmipError(
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, f"the usage mask of object {mo.uid} does not allow {names}"
    )


def load_key(
    ctx: RequestContext,
    uid: Any,
    operation: Operation,
    *usage: int,
    kinds: tuple[KeyKind, ...],
    process: bool = False,
    update: bool = False,
) -> tuple[ManagedObject, Key]:
    """Load ``uid`` for ``operation`` (access control in ``ctx.load``), check its state, that it is a key of one
    of ``kinds`` (Invalid Object Type), then its usage mask, and read the key — in that order, so the reason given
    is the most fundamental one (a public key asked to Decrypt is the wrong object, not the wrong mask).

    Sensitive and non-extractable keys are used like any other: those flags govern Get/Export, not use inside the
    server (KMIP 2.1 §4.55, §4.23).
    """
    mo = ctx.load(uid, operation, for_update=update)
    check_usable(mo, ctx.now, process=process)
    key = key_of(mo, ctx)
    require_kind(key, mo, *kinds, what=Operation(operation).name.replace("_", " ").title())
    if usage:
        check_usage(mo, *usage)
    return mo, key


def validity(valid: bool) -> ValidityIndicator:
    """The Validity Indicator of a Signature Verify / MAC Verify outcome (KMIP 2.1 §11.63)."""
    return ValidityIndicator.VALID if valid else ValidityIndicator.INVALID


def consume_usage(ctx: RequestContext, mo: ManagedObject, data_length: int) -> None:
    """Charge one protecting use against the object's Usage Limits (KMIP 2.1 §4.59): ``data_length`` bytes when
    the unit is Byte, one when it is Object. The remaining Usage Limits Count is kept with the object; a use that
    would exceed it is refused with Permission Denied (the reason the OASIS CS-BC-M-7 test case expects) and
    charges nothing."""
    limits = mo.attributes.get(Tag.USAGE_LIMITS)
    if not isinstance(limits, S.UsageLimits):
        return
    remaining = limits.usage_limits_count if limits.usage_limits_count is not None else limits.usage_limits_total
    needed = data_length if limits.usage_limits_unit == UsageLimitsUnit.BYTE else 1
    if needed > remaining:
        raise KmipError(ResultReason.PERMISSION_DENIED, f"object {mo.uid} has reached its Usage Limits")
    mo.attributes.set(Tag.USAGE_LIMITS, replace(limits, usage_limits_count=remaining - needed))
    ctx.save(mo, touch=False)


def require_kind(key: Key, mo: ManagedObject, *kinds: KeyKind, what: str) -> None:
    if key.kind not in kinds:
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE, f"{what} needs a {' or '.join(kinds)} key; object {mo.uid} is {key.kind}"
        )


# -- Cryptographic Parameters ----------------------------------------------------------------------------------


def merged_params(
    ctx: RequestContext, mo: ManagedObject, key: Key, requested: S.CryptographicParameters | None, *, cipher: bool
) -> CipherParams:
    """The request's parameters over the object's attribute (KMIP 2.1 §6.1.17: request parameters win), the
    algorithm filled from the key, and the key/algorithm fit checked (Invalid Object Type otherwise).

    ``cipher``: Encrypt/Decrypt with a symmetric key. A KMIP 1.x client that sends no parameters at all, on a key
    with none stored, gets AES-CBC with PKCS#5 padding and a random IV (what MongoDB's audit-log encryption
    expects); a 2.x client gets the crypto layer's default, AES-GCM with a random 96-bit nonce and a 128-bit tag.
    """
    given = to_cipher_params(requested)
    stored = stored_params(mo)
    legacy = given is None and stored is None and legacy_defaults(ctx.version)
    if legacy and cipher and key.kind == "symmetric" and key.algorithm in (None, CryptographicAlgorithm.AES):
        given = CipherParams(
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            block_cipher_mode=BlockCipherMode.CBC,
            padding_method=PaddingMethod.PKCS5,
            random_iv=True,
        )
    if given is not None and stored is not None and _other_scheme(given, stored):
        stored = None  # the stored parameters describe another mode or algorithm: none of their fields apply
    params = (given or CipherParams()).merged(stored)
    algorithm = params.cryptographic_algorithm
    if algorithm is None:
        return replace(params, cryptographic_algorithm=key.algorithm) if key.algorithm is not None else params
    symmetric_params = algorithm in SYMMETRIC_ALGORITHMS
    if symmetric_params != (key.kind == "symmetric"):
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE,
            f"{algorithm.name} parameters do not fit object {mo.uid}, a {key.kind} "
            f"{key.algorithm.name if key.algorithm else ''} key".replace("  ", " "),
        )
    if (
        cipher
        and key.kind == "symmetric"
        and key.algorithm is not None
        and key.algorithm != algorithm
        and not {key.algorithm, algorithm} <= _CHACHA
    ):
        raise KmipError(
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"object {mo.uid} is a {key.algorithm.name} key; the parameters ask for {algorithm.name}",
        )
    return params


def _other_scheme(given: CipherParams, stored: CipherParams) -> bool:
    return any(
        getattr(given, name) is not None and getattr(given, name) != getattr(stored, name)
        for name in ("cryptographic_algorithm", "block_cipher_mode", "digital_signature_algorithm")
    )


def is_aead(params: CipherParams) -> bool:
    """True when ``params`` resolve to an authenticated mode (GCM is the AES default)."""
    mode = params.block_cipher_mode
    if params.cryptographic_algorithm == CryptographicAlgorithm.AES and mode is None:
        return True
    return mode in _AEAD_MODES or params.cryptographic_algorithm == CryptographicAlgorithm.CHACHA20POLY1305


def approved_only(ctx: RequestContext) -> bool:
    return ctx.engine.config.approved_only


def request_data(value: Any, *, required: bool = True) -> bytes:
    """The Data field of a request as bytes (Invalid Message when missing and required; Server Limit Exceeded
    beyond ``MAX_DATA_BYTES``)."""
    if value is None:
        if required:
            raise KmipError(ResultReason.INVALID_MESSAGE, "the request carries no Data")
        return b""
    if not isinstance(value, bytes | bytearray):
        raise KmipError(ResultReason.INVALID_FIELD, "Data must be a Byte String")
    if len(value) > MAX_DATA_BYTES:
        raise KmipError(
            ResultReason.SERVER_LIMIT_EXCEEDED, f"Data of {len(value)} bytes exceeds the {MAX_DATA_BYTES}-byte limit"
        )
    return value if type(value) is bytes else bytes(value)


# -- streaming sessions (Init Indicator / Final Indicator / Correlation Value) -------------------------------------

#: At most this many open streams per engine, each at most this many seconds old (engine clock).
MAX_SESSIONS = 1024
SESSION_TTL = 600
_SESSIONS_LOCK = threading.Lock()


@dataclass(slots=True)
class Session:
    """One streamed operation: who opened it, on which object, and the crypto layer's stream object."""

    owner: str
    operation: Operation
    uid: str
    stream: Any
    expires: int
    #: Output held back until Final (AEAD decryption: nothing unauthenticated leaves the server).
    held: bytearray | None = None
    extra: dict[str, Any] | None = None


def open_session(
    ctx: RequestContext, operation: Operation, uid: str, stream: Any, *, held: bool = False, **extra: Any
) -> bytes:
    """Keep ``stream`` under a fresh random Correlation Value (KMIP 2.1 §6.1.17) and return the value."""
    sessions: dict[bytes, Any] = ctx.engine.sessions
    with _SESSIONS_LOCK:
        expired = [k for k, s in sessions.items() if isinstance(s, Session) and s.expires <= ctx.now]
        for k in expired:
            del sessions[k]
        if len(sessions) >= MAX_SESSIONS:
            raise KmipError(ResultReason.SERVER_LIMIT_EXCEEDED, "too many streamed operations are open")
        correlation = os.urandom(16)
        sessions[correlation] = Session(
            ctx.user, operation, uid, stream, ctx.now + SESSION_TTL, bytearray() if held else None, extra or None
        )
    return correlation


def take_session(ctx: RequestContext, correlation: bytes, operation: Operation, *, final: bool) -> Session:
    """The session of ``correlation`` for ``operation`` and this user (removed when ``final``).

    Unknown, expired, another user's or another operation's values all read Invalid Correlation Value, so a
    correlation value reveals nothing about other users' streams.
    """
    sessions: dict[bytes, Any] = ctx.engine.sessions
    with _SESSIONS_LOCK:
        session = sessions.get(correlation)
        if (
            not isinstance(session, Session)
            or session.owner != ctx.user
            or session.operation != operation
            or session.expires <= ctx.now
        ):
            if isinstance(session, Session) and session.expires <= ctx.now:
                del sessions[correlation]
            raise KmipError(ResultReason.INVALID_CORRELATION_VALUE, "unknown or expired Correlation Value")
        if final:
            del sessions[correlation]
    return session


def drop_session(ctx: RequestContext, correlation: bytes) -> None:
    """Forget a session after a failure (a failed stream cannot be resumed)."""
    with _SESSIONS_LOCK:
        ctx.engine.sessions.pop(correlation, None)


def run_streamed(ctx: RequestContext, correlation: bytes, step: Callable[[], Any]) -> Any:
    """Run one step of a stream; on any failure the session is dropped (no retry on a half-fed context)."""
    try:
        return step()
    except BaseException:
        drop_session(ctx, correlation)
        raise


__all__ = [
    "MAX_DATA_BYTES",
    "Key",
    "KeyKind",
    "Session",
    "approved_only",
    "bulk_item_layout",
    "check_usable",
    "check_usage",
    "consume_usage",
    "clear_caches",
    "inherit_protection",
    "is_aead",
    "key_of",
    "load_key",
    "mac_algorithm",
    "mac_mode",
    "merged_params",
    "open_session",
    "request_data",
    "require_kind",
    "run_streamed",
    "stored_params",
    "take_session",
    "validity",
    "to_cipher_params",
]


def bulk_item_layout(params: CipherParams) -> tuple[int, int]:
    """``(nonce bytes, tag bytes)`` framing each symmetric bulk item as ``nonce ‖ ciphertext ‖ tag`` (Cosmian's
    layout), from the resolved parameters."""
    mode = params.block_cipher_mode
    algorithm = params.cryptographic_algorithm
    aead = is_aead(params)
    tag = (params.tag_length or 16) if aead else 0
    if params.iv_length is not None:
        return params.iv_length // 8, tag
    if mode in (BlockCipherMode.ECB, BlockCipherMode.NISTKEYWRAP, BlockCipherMode.AESKEYWRAPPADDING):
        return 0, tag
    if mode == BlockCipherMode.CCM:
        return 13, tag
    if aead or algorithm in _CHACHA:
        return 12, tag
    return (8 if algorithm == CryptographicAlgorithm.DES3 else 16), tag


_HMAC_OR_CMAC = SYMMETRIC_ALGORITHMS - {
    CryptographicAlgorithm.DES,
    CryptographicAlgorithm.DES3,
    CryptographicAlgorithm.CHACHA20,
    CryptographicAlgorithm.CHACHA20POLY1305,
    CryptographicAlgorithm.CAMELLIA,
    CryptographicAlgorithm.ARIA,
    CryptographicAlgorithm.BLOWFISH,
    CryptographicAlgorithm.RC4,
}


def mac_mode(algorithm: CryptographicAlgorithm, requested: S.CryptographicParameters | None) -> BlockCipherMode | None:
    """CBC when the request asks for AES with Block Cipher Mode CBC (CBC-MAC, PKCS#11 CKM_AES_MAC); None otherwise."""
    cbc = requested is not None and requested.block_cipher_mode == BlockCipherMode.CBC
    return BlockCipherMode.CBC if cbc and algorithm == CryptographicAlgorithm.AES else None


def mac_algorithm(mo: ManagedObject, key: Key, requested: S.CryptographicParameters | None) -> CryptographicAlgorithm:
    """The MAC algorithm of a MAC / MAC Verify (KMIP 2.1 §6.1.32): an HMAC algorithm named by the request's or the
    object's Cryptographic Parameters, else the key's own algorithm; AES (or Block Cipher Mode CMAC) means CMAC."""
    if key.kind != "symmetric":
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"MAC needs a symmetric key; object {mo.uid} is {key.kind}")
    params = (to_cipher_params(requested) or CipherParams()).merged(stored_params(mo))
    if params.block_cipher_mode == BlockCipherMode.CMAC:
        algorithm: CryptographicAlgorithm | None = CryptographicAlgorithm.AES
    else:
        algorithm = params.cryptographic_algorithm or key.algorithm
    if algorithm is None:
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "no MAC algorithm: name one in the parameters")
    if algorithm not in _HMAC_OR_CMAC:
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE
            if algorithm not in SYMMETRIC_ALGORITHMS
            else ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"{algorithm.name} is not a MAC algorithm",
        )
    return algorithm


def inherit_protection(attrs: Any, *sources: ManagedObject) -> None:
    """Objects made from other keys (Derive Key, Create/Join Split Key) are at least as protected as their sources:
    Sensitive if any source is, not Extractable if any source is not — unless the request says otherwise."""
    if Tag.SENSITIVE not in attrs and any(mo.attributes.get(Tag.SENSITIVE, False) for mo in sources):
        attrs.set(Tag.SENSITIVE, True)
    if Tag.EXTRACTABLE not in attrs and any(not mo.attributes.get(Tag.EXTRACTABLE, True) for mo in sources):
        attrs.set(Tag.EXTRACTABLE, False)
