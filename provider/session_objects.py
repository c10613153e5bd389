"""Session keys held in this process (PKCS#11 3.0 §4.4: CKA_TOKEN false): plain attribute values and key material
per application, never sent to the KMS, gone with their session, C_CloseAllSessions, C_Finalize or the process.

Secret keys made by C_GenerateKey and C_CreateObject (AES, DES2/DES3, generic secret, HMAC key types) live here.
Their attribute view is built here, exactly as the KMIP mapping (``attributes.view_values``) presents the same key
made in an engine, and their hot uses are answered here with the crypto layer the KMS engine itself runs
(``kms_backend.crypto``): single-part Encrypt and Decrypt (the cipher prepared once per parameters, as the
engine's Plans keep it), MAC and MAC Verify, and Get of the plain value. Any other KMIP operation naming one of them
(a multi-part stream, wrapping, unwrapping, derivation) runs on its mirror: the same key Registered in the
session-object engine (``Library.memory_backend``) when first needed and destroyed with it. The holder stays the
one owner of the object's attributes: a change drops the mirror, the next use registers it again.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kms_backend import crypto
from kms_backend.crypto import CipherParams
from kms_backend.engine.handlers._params import mac_mode, resolve_mac_algorithm
from kms_backend.engine.keymaterial import to_cipher_params
from kms_backend.engine.plans import Plan
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultReason,
    SecretDataType,
    Tag,
    ValidityIndicator,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes, Struct

from .attributes import (
    ALGORITHM_KEY_TYPES,
    ATTRIBUTES,
    CLASS_ATTRIBUTES,
    KEY_TYPE_ALGORITHMS,
    default,
    kmip_attributes,
    usage_bits,
)
from .attributes import vendor_attribute as _vendor_attribute
from .constants import UNAVAILABLE_INFORMATION, Attribute, KeyType, ObjectClass, ReturnValue
from .errors import CkError, ckr_for_reason

if TYPE_CHECKING:
    from .library import ObjectView

A = Attribute
_SECRET = ObjectClass.SECRET_KEY
# Read at every C_EncryptInit / C_DecryptInit on a held key (``SessionObjects.plan``).
_ENCRYPT, _DECRYPT = Operation.ENCRYPT, Operation.DECRYPT
#: A secret key's attributes before its template is applied: the defaults a view of a KMIP object starts with
#: (``attributes.view_values``), CKA_TOKEN and CKA_PRIVATE as ``kmip_attributes`` always stores them.
_SECRET_DEFAULTS: dict[Attribute, Any] = {
    a: ATTRIBUTES[a].default
    for a in CLASS_ATTRIBUTES[_SECRET]
    if ATTRIBUTES[a].storage not in ("public", "value") and a is not A.VALUE
} | {A.TOKEN: default(A.TOKEN, _SECRET), A.PRIVATE: default(A.PRIVATE, _SECRET), A.CLASS: _SECRET}
#: The attributes kept as keystead vendor attributes on a KMIP object (``attributes.kmip_attributes``).
_VENDOR = frozenset(a for a in CLASS_ATTRIBUTES[_SECRET] if ATTRIBUTES[a].storage == "vendor")
_USAGE = usage_bits(_SECRET)
#: The usage flags (CKA_ENCRYPT...) with their defaults.
_USAGE_DEFAULTS = tuple((a, ATTRIBUTES[a].default) for a in _USAGE)
_SENSITIVE_DEFAULT = ATTRIBUTES[A.SENSITIVE].default
_EXTRACTABLE_DEFAULT = ATTRIBUTES[A.EXTRACTABLE].default
# Set on every secret key made: module names, since on Python 3.11 each read of a member off its Enum class goes
# through EnumType.__getattr__ (several times the cost of a global).
_LOCAL, _KEY_GEN_MECHANISM, _KEY_TYPE, _VALUE_LEN = A.LOCAL, A.KEY_GEN_MECHANISM, A.KEY_TYPE, A.VALUE_LEN
_SENSITIVE, _EXTRACTABLE, _ALWAYS_SENSITIVE, _NEVER_EXTRACTABLE = (
    A.SENSITIVE,
    A.EXTRACTABLE,
    A.ALWAYS_SENSITIVE,
    A.NEVER_EXTRACTABLE,
)
#: Most prepared ciphers kept per key (distinct parameters, e.g. one IV each for CBC).
_PREPARED = 4
#: The engine's bound on the Data of one request (``engine.handlers._data``), kept for the same refusal.
MAX_DATA_BYTES = 64 * 1024 * 1024


#: A Plan kept on a held key: (operation, the parameters object it was asked with, a snapshot of their value, Plan).
_Prepared = tuple[Operation, S.CryptographicParameters | None, S.CryptographicParameters | None, Plan]


@dataclass(slots=True)
class HeldKey:
    """A secret key held here: its PKCS#11 view (the one copy of its attributes) and its material."""

    view: ObjectView
    material: bytes
    #: The KMIP algorithm of its Symmetric Key; None for a generic secret (KMIP Secret Data).
    algorithm: CryptographicAlgorithm | None
    #: uid of the same key in the session-object engine, registered for the operations only an engine runs.
    mirror: str | None = None
    #: (operation, the parameters object asked with, a snapshot of its value, the Plan of its prepared cipher),
    #: newest first (a tuple: a key never used for a cipher keeps no container of its own for the garbage
    #: collector to walk). Dropped when its attributes change (``drop_prepared``).
    prepared: tuple[_Prepared, ...] = ()
    #: Counts the changes of its attributes and its end (``drop_prepared``): a decision kept on the key (a session's
    #: decided C_*Init, ``operations.InitDecision``) holds while the count is the one it was made under.
    generation: int = 0

    @property
    def uid(self) -> str:
        return self.view.uid

    def drop_prepared(self) -> None:
        """Forget the prepared ciphers and their Plans (C_SetAttributeValue, C_DestroyObject): the next use
        prepares them again from the key as it is then; decisions kept on it end (``generation``)."""
        self.prepared = ()
        self.generation += 1

    def managed(self) -> tuple[ObjectType, Any]:
        """The key as a KMIP managed object (what Get returns, what its mirror is registered from)."""
        return secret_key_object(int(self.view.values[A.KEY_TYPE]), self.material)

    def mirror_attributes(self) -> Attributes:
        """The KMIP attributes of its mirror: its current PKCS#11 attributes, as C_CopyObject would register them."""
        values = self.view.values
        template = {a: v for a, v in values.items() if a in _VENDOR and not ATTRIBUTES[a].token_only}
        for attribute in _USAGE:
            template[attribute] = values.get(attribute, False)
        template[A.SENSITIVE] = values[A.SENSITIVE]
        template[A.EXTRACTABLE] = values[A.EXTRACTABLE]
        attrs = kmip_attributes(_SECRET, template, int(time.time()))
        for attribute in (A.LOCAL, A.KEY_GEN_MECHANISM):
            attrs.add(Tag.ATTRIBUTE, _vendor_attribute(attribute, values[attribute]))
        return attrs


def secret_key_object(key_type: int, value: bytes) -> tuple[ObjectType, Any]:
    """The KMIP object for secret key material of a CKK_* type."""
    if not value:
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "empty key value")
    if key_type == KeyType.GENERIC_SECRET:
        block = S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=value))
        return ObjectType.SECRET_DATA, S.SecretData(secret_data_type=SecretDataType.SEED, key_block=block)
    try:
        algorithm = KEY_TYPE_ALGORITHMS[KeyType(key_type)]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"secret key type 0x{key_type:x} not supported") from None
    if algorithm == CryptographicAlgorithm.AES and len(value) not in (16, 24, 32):
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "AES keys are 16, 24 or 32 bytes")
    block = S.KeyBlock(
        key_format_type=KeyFormatType.RAW,
        key_value=S.KeyValue(key_material=value),
        cryptographic_algorithm=algorithm,
        cryptographic_length=len(value) * 8,
    )
    return ObjectType.SYMMETRIC_KEY, S.SymmetricKey(key_block=block)


def secret_key_values(
    template: dict[Attribute, Any], key_type: KeyType, length: int, *, local: bool, mechanism: int
) -> dict[Attribute, Any]:
    """The PKCS#11 attributes of a secret key made from a checked ``template`` (CKA_CLASS, CKA_KEY_TYPE and
    CKA_VALUE_LEN taken out): what ``attributes.view_values`` shows for the same key made in an engine, with the
    attributes ``kmip_attributes`` stores and those the engine sets at creation (KMIP 2.1 §4.2, §4.53: Always
    Sensitive is Sensitive, Never Extractable is not Extractable; PKCS#11 §4.9 shows them for local keys only)."""
    get = template.get
    values = _SECRET_DEFAULTS | {attribute: value for attribute, value in template.items() if attribute in _VENDOR}
    for attribute, usage_default in _USAGE_DEFAULTS:
        values[attribute] = bool(get(attribute, usage_default))
    sensitive = bool(get(_SENSITIVE, _SENSITIVE_DEFAULT))
    extractable = bool(get(_EXTRACTABLE, _EXTRACTABLE_DEFAULT))
    values[_LOCAL] = local
    values[_KEY_GEN_MECHANISM] = mechanism
    values[_KEY_TYPE] = key_type
    values[_VALUE_LEN] = length
    values[_SENSITIVE] = sensitive
    values[_EXTRACTABLE] = extractable
    values[_ALWAYS_SENSITIVE] = local and sensitive
    values[_NEVER_EXTRACTABLE] = local and not extractable
    return values


def held_secret(template: dict[Attribute, Any], managed: Any, value: bytes) -> HeldKey:
    """The held key C_CreateObject makes of ``value`` (``managed``: its KMIP object, ``secret_key_object``),
    checked and shown as Register stores it: the key must fit its algorithm (``crypto.check_symmetric_key``), a
    16-byte CKK_DES3 key is CKK_DES2, and a key known outside the token is neither local nor always sensitive."""
    algorithm = managed.key_block.cryptographic_algorithm
    key_type = KeyType.GENERIC_SECRET
    if algorithm is not None:
        try:
            crypto.check_symmetric_key(algorithm, 8 * len(value), value)
        except KmipError as exc:
            raise CkError(ckr_for_reason(exc.reason), exc.message) from None
        key_type = ALGORITHM_KEY_TYPES.get(algorithm, KeyType.GENERIC_SECRET)
        if key_type is KeyType.DES3 and len(value) in (14, 16):
            key_type = KeyType.DES2
    given = {a: v for a, v in template.items() if a not in _MATERIAL}
    values = secret_key_values(given, key_type, len(value), local=False, mechanism=UNAVAILABLE_INFORMATION)
    uid = new_uid()
    values[A.UNIQUE_ID] = uid
    return HeldKey(_view(uid, values), bytes(value), algorithm)


#: What C_CreateObject's template says of the material itself (the view reads it from the key).
_MATERIAL = frozenset({A.CLASS, A.KEY_TYPE, A.VALUE, A.VALUE_LEN})


def _view(uid: str, values: dict[Attribute, Any]) -> ObjectView:
    from .library import ObjectView

    return ObjectView(uid, _SECRET, values, 0.0, True)


def new_uid() -> str:
    """A uid for a held object (CKA_UNIQUE_ID): 128 random bits in the UUID form of the engine's uids, so it
    never names a KMS object (``uuid.uuid4`` costs five times as much)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_secret(key_type: KeyType, length: int) -> tuple[CryptographicAlgorithm | None, bytes]:
    """(KMIP algorithm, fresh material) of a ``length``-byte secret key, generated as the engine's Create does."""
    if key_type is KeyType.GENERIC_SECRET:
        if length > 1024:  # Create's bound on Secret Data (8192 bits)
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"invalid Cryptographic Length {length * 8}")
        return None, crypto.random_bytes(length)
    algorithm = KEY_TYPE_ALGORITHMS[key_type]
    try:
        return algorithm, crypto.generate_symmetric_key(algorithm, length * 8)
    except KmipError as exc:
        raise CkError(ckr_for_reason(exc.reason), exc.message) from None


class SessionObjects:
    """The held keys of one application (``Library.held``), by uid; it answers the KMIP operations it can."""

    def __init__(self) -> None:
        self._keys: dict[str, HeldKey] = {}

    def __contains__(self, uid: object) -> bool:
        return uid in self._keys

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, uid: str) -> HeldKey | None:
        return self._keys.get(uid)

    def add(self, key: HeldKey) -> None:
        self._keys[key.uid] = key

    def pop(self, uid: str) -> HeldKey | None:
        """Remove a key (destroyed): decisions kept on it end (``HeldKey.drop_prepared``)."""
        key = self._keys.pop(uid, None)
        if key is not None:
            key.drop_prepared()
        return key

    def uids(self) -> list[str]:
        return list(self._keys)

    def clear(self) -> None:
        for key in self._keys.values():
            key.drop_prepared()
        self._keys.clear()

    def plan(self, operation: Operation, key: HeldKey, parameters: S.CryptographicParameters | None) -> Plan | None:
        """The Plan of one-shot Encrypt or Decrypt with ``key`` and ``parameters`` (its cipher prepared here and
        kept on the key), for the caller to run as it runs the engine's (``Library.plan``); None for other
        operations. ``parameters`` is a mechanism's, which is never changed once built (``CipherPlan``): the same
        object finds its Plan without a comparison by value."""
        if operation is not _ENCRYPT and operation is not _DECRYPT:
            return None
        for kept_operation, kept_parameters, _, plan in key.prepared:
            if kept_operation is operation and kept_parameters is parameters:
                return plan
        return _prepared(key, operation, parameters, same=True)

    def answer(self, operation: Operation, payload: Any, key: HeldKey) -> Struct | None:
        """The response to an operation on ``key`` computed here, or None when only an engine can answer it (the
        caller runs it on the mirror). Failures are ``KmipError``, as from an engine."""
        answer = _ANSWERS.get(operation)
        return answer(key, payload) if answer is not None else None


# -- what is answered here --------------------------------------------------------------------------------------------
def _single(request: Any) -> bool:
    """A one-shot request (no stream: no Correlation Value, Init or Final Indicator)."""
    return request.correlation_value is None and not request.init_indicator and not request.final_indicator


def _data(value: Any) -> bytes:
    """The Data of a request, refused as the engine refuses it (``engine.handlers._data.request_data``)."""
    if value is None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "the request carries no Data")
    if not isinstance(value, bytes | bytearray):
        raise KmipError(ResultReason.INVALID_FIELD, "Data must be a Byte String")
    if len(value) > MAX_DATA_BYTES:
        raise KmipError(ResultReason.SERVER_LIMIT_EXCEEDED, f"Data of {len(value)} bytes exceeds the limit")
    return bytes(value) if type(value) is not bytes else value


def _cipher_params(key: HeldKey, requested: S.CryptographicParameters | None) -> CipherParams:
    """The request's parameters with the key's algorithm filled in, checked against the key as the engine's
    ``merged_params`` does (a held key has no Cryptographic Parameters attribute; requests speak KMIP 2.1)."""
    params = to_cipher_params(requested) or CipherParams()
    algorithm = params.cryptographic_algorithm
    if algorithm is None:
        if key.algorithm is None:
            return params
        return CipherParams(**{**_fields(params), "cryptographic_algorithm": key.algorithm})
    if key.algorithm is not None and algorithm != key.algorithm and not {key.algorithm, algorithm} <= _CHACHA:
        raise KmipError(
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"object {key.uid} is a {key.algorithm.name} key; the parameters ask for {algorithm.name}",
        )
    return params


_CHACHA = frozenset({CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305})


def _fields(params: CipherParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in CipherParams.__dataclass_fields__}


def _prepared(
    key: HeldKey, operation: Operation, requested: S.CryptographicParameters | None, *, same: bool = False
) -> Plan:
    """The Plan of the cipher prepared for these parameters (compared by value with the snapshot: a KMIP caller
    may change its parameters object between requests), prepared now if none is kept. ``same``: ``requested`` is
    never changed (``SessionObjects.plan``), so the Plan is kept for that object too; otherwise only its snapshot
    can be found by identity, which no caller holds."""
    for kept_operation, _, snapshot, plan in key.prepared:
        if kept_operation is operation and snapshot == requested:
            return plan
    params = _cipher_params(key, requested)
    prepare = crypto.prepare_encrypt if operation is Operation.ENCRYPT else crypto.prepare_decrypt
    plan = Plan(operation, key.uid, prepare(key.material, params))
    snapshot = copy.copy(requested)
    kept = requested if same else snapshot
    key.prepared = ((operation, kept, snapshot, plan), *key.prepared[: _PREPARED - 1])
    return plan


def _encrypt(key: HeldKey, request: S.EncryptRequest) -> S.EncryptResponse | None:
    if not _single(request):
        return None
    run = _prepared(key, Operation.ENCRYPT, request.cryptographic_parameters).run
    result = run(_data(request.data), request.iv_counter_nonce, request.authenticated_encryption_additional_data)
    return S.EncryptResponse(
        unique_identifier=key.uid,
        data=result.data,
        iv_counter_nonce=result.iv_counter_nonce,
        authenticated_encryption_tag=result.tag,
    )


def _decrypt(key: HeldKey, request: S.DecryptRequest) -> S.DecryptResponse | None:
    if not _single(request):
        return None
    run = _prepared(key, Operation.DECRYPT, request.cryptographic_parameters).run
    plaintext = run(
        _data(request.data),
        request.iv_counter_nonce,
        request.authenticated_encryption_additional_data,
        request.authenticated_encryption_tag,
    )
    return S.DecryptResponse(unique_identifier=key.uid, data=plaintext)


def _mac_of(key: HeldKey, requested: S.CryptographicParameters | None) -> tuple[CryptographicAlgorithm, Any]:
    """(algorithm, mode) of a MAC as the engine resolves them (``_params``): CMAC for AES or Block Cipher Mode CMAC,
    CBC-MAC for AES with Block Cipher Mode CBC, else the HMAC the parameters or the key name."""
    algorithm = resolve_mac_algorithm(to_cipher_params(requested) or CipherParams(), key.algorithm)
    return algorithm, mac_mode(algorithm, requested)


def _mac(key: HeldKey, request: S.MACRequest) -> S.MACResponse | None:
    if not _single(request):
        return None
    algorithm, mode = _mac_of(key, request.cryptographic_parameters)
    mac_data = crypto.mac(key.material, algorithm, _data(request.data), mode=mode)
    return S.MACResponse(unique_identifier=key.uid, mac_data=mac_data)


def _mac_verify(key: HeldKey, request: S.MACVerifyRequest) -> S.MACVerifyResponse | None:
    if not _single(request) or request.mac_data is None:
        return None
    algorithm, mode = _mac_of(key, request.cryptographic_parameters)
    valid = crypto.mac_verify(key.material, algorithm, _data(request.data), request.mac_data, mode=mode)
    return S.MACVerifyResponse(unique_identifier=key.uid, validity_indicator=_VALIDITY[valid])


def _get(key: HeldKey, request: S.GetRequest) -> S.GetResponse | None:
    """Get of the plain value of an extractable, non-sensitive key; any other Get (a wrapped key, another format,
    or a refusal) is the engine's."""
    plain = (
        request.key_format_type is None
        and request.key_wrapping_specification is None
        and request.key_compression_type is None
        and request.key_wrap_type is None
    )
    values = key.view.values
    if not plain or values[A.SENSITIVE] or not values[A.EXTRACTABLE]:
        return None
    object_type, managed = key.managed()
    return S.GetResponse(object_type=object_type, unique_identifier=key.uid, managed_object=managed)


_VALIDITY = {True: ValidityIndicator.VALID, False: ValidityIndicator.INVALID}
_ANSWERS: dict[Operation, Callable[[HeldKey, Any], Struct | None]] = {
    Operation.ENCRYPT: _encrypt,
    Operation.DECRYPT: _decrypt,
    Operation.MAC: _mac,
    Operation.MAC_VERIFY: _mac_verify,
    Operation.GET: _get,
}


__all__ = [
    "HeldKey",
    "SessionObjects",
    "generate_secret",
    "held_secret",
    "new_uid",
    "secret_key_object",
    "secret_key_values",
]
