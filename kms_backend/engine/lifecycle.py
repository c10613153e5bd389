"""Object lifecycle (KMIP 2.1 §4.57 State and its transitions) and the attributes the server maintains.

States: Pre-Active → Active (Activate, or Activation Date reached) → Deactivated (Revoke, or Deactivation Date
reached); Pre-Active/Active/Deactivated → Compromised (Revoke with a compromise reason); Pre-Active/Deactivated →
Destroyed and Compromised → Destroyed Compromised (Destroy; Active objects must be revoked first).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..kmip import _schema_data as S
from ..kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    HashingAlgorithm,
    ObjectType,
    ResultReason,
    State,
    Tag,
)
from ..kmip.errors import KmipError
from ..kmip.schema import Attributes, Struct
from .objects import ManagedObject

U = CryptographicUsageMask

#: Cryptographic Usage Mask given to new objects whose creator named none.
DEFAULT_USAGE: dict[ObjectType, int] = {
    ObjectType.SYMMETRIC_KEY: U.ENCRYPT
    | U.DECRYPT
    | U.WRAP_KEY
    | U.UNWRAP_KEY
    | U.MAC_GENERATE
    | U.MAC_VERIFY
    | U.DERIVE_KEY,
    ObjectType.PRIVATE_KEY: U.SIGN | U.DECRYPT | U.UNWRAP_KEY | U.DERIVE_KEY | U.KEY_AGREEMENT,
    ObjectType.PUBLIC_KEY: U.VERIFY | U.ENCRYPT | U.WRAP_KEY | U.KEY_AGREEMENT,
    ObjectType.SECRET_DATA: U.DERIVE_KEY | U.EXPORT,
    ObjectType.SPLIT_KEY: U.EXPORT,
    ObjectType.CERTIFICATE: U.VERIFY | U.ENCRYPT | U.WRAP_KEY,
}

#: Key pairs whose algorithm only signs, and those that only encapsulate: a new pair of these gets the masks it
#: can use instead of DEFAULT_USAGE's (Cosmian KMS gives each algorithm its own default; see README "Coming from
#: Cosmian KMS").
_SIGNING_ONLY = frozenset(
    {
        CryptographicAlgorithm.ECDSA,
        CryptographicAlgorithm.ED25519,
        CryptographicAlgorithm.ED448,
        CryptographicAlgorithm.ML_DSA_44,
        CryptographicAlgorithm.ML_DSA_65,
        CryptographicAlgorithm.ML_DSA_87,
        *(a for a in CryptographicAlgorithm if a.name.startswith("SLH_DSA_")),
    }
)
_KEM_ONLY = frozenset(
    {CryptographicAlgorithm.ML_KEM_512, CryptographicAlgorithm.ML_KEM_768, CryptographicAlgorithm.ML_KEM_1024}
)


def key_pair_usage(algorithm: int) -> tuple[int, int]:
    """Default (private, public) Cryptographic Usage Masks of a new key pair of ``algorithm`` whose creator named
    none: signature algorithms sign and verify (certificates and CRLs included), ML-KEM decrypts (decapsulates)
    and encrypts (encapsulates) and wraps, RSA and EC pairs may do all their algorithm allows."""
    if algorithm in _SIGNING_ONLY:
        return U.SIGN | U.CERTIFICATE_SIGN | U.CRL_SIGN | U.AUTHENTICATE, U.VERIFY | U.AUTHENTICATE
    if algorithm in _KEM_ONLY:
        return U.DECRYPT | U.UNWRAP_KEY | U.KEY_AGREEMENT, U.ENCRYPT | U.WRAP_KEY | U.KEY_AGREEMENT
    return DEFAULT_USAGE[ObjectType.PRIVATE_KEY], DEFAULT_USAGE[ObjectType.PUBLIC_KEY]


def mask_allows(mask: object, *bits: int) -> bool:
    """Whether a Cryptographic Usage Mask (KMIP 2.1 §4.19) allows one of ``bits``. A mask with the Unrestricted
    bit (0x00200000) allows every use: KMIP names the bit without defining it further, and Cosmian KMS (whose
    clients set it on every ML-KEM, Covercrypt and ``ckms`` key pair) reads it that way."""
    if not isinstance(mask, int):
        return False
    return bool(mask & U.UNRESTRICTED) or any(mask & bit for bit in bits)


#: Attributes only the server sets (KMIP 2.1 §4 rules tables: "Initially set by: Server", not client-modifiable).
SERVER_ONLY = frozenset(
    {
        Tag.UNIQUE_IDENTIFIER,
        Tag.STATE,
        Tag.INITIAL_DATE,
        Tag.LAST_CHANGE_DATE,
        Tag.DESTROY_DATE,
        Tag.COMPROMISE_DATE,
        Tag.COMPROMISE_OCCURRENCE_DATE,
        Tag.ARCHIVE_DATE,
        Tag.DIGEST,
        Tag.ALWAYS_SENSITIVE,
        Tag.NEVER_EXTRACTABLE,
        Tag.KEY_VALUE_PRESENT,
        Tag.REVOCATION_REASON,
        Tag.SHORT_UNIQUE_IDENTIFIER,
        Tag.CERTIFICATE_LENGTH,
        Tag.CERTIFICATE_TYPE,
        Tag.X_509_CERTIFICATE_IDENTIFIER,
        Tag.X_509_CERTIFICATE_ISSUER,
        Tag.X_509_CERTIFICATE_SUBJECT,
        Tag.DIGITAL_SIGNATURE_ALGORITHM,
        Tag.ROTATE_DATE,
        Tag.ROTATE_GENERATION,
        Tag.ROTATE_LATEST,
        Tag.LEASE_TIME,
        Tag.PROTECTION_STORAGE_MASK,
    }
)
#: Single-valued attributes (everything not marked "multiple instances permitted" in §4).
MULTI_VALUED = frozenset(
    {
        Tag.NAME,
        Tag.OBJECT_GROUP,
        Tag.LINK,
        Tag.APPLICATION_SPECIFIC_INFORMATION,
        Tag.ALTERNATIVE_NAME,
        Tag.CRYPTOGRAPHIC_PARAMETERS,
        Tag.DIGEST,
        Tag.KEY_VALUE_LOCATION,
        Tag.NIST_KEY_TYPE,
        Tag.ATTRIBUTE,
    }
)
DESTROYED_STATES = frozenset({State.DESTROYED, State.DESTROYED_COMPROMISED})
#: Attributes a client may change after creation: "Modifiable by client: Yes" in the §4 rules tables (Add, Set,
#: Modify and Adjust Attribute refuse the others as read-only). Vendor attributes (§4.60) are always the client's.
CLIENT_MODIFIABLE = frozenset(
    {
        Tag.ACTIVATION_DATE,
        Tag.ALTERNATIVE_NAME,
        Tag.APPLICATION_SPECIFIC_INFORMATION,
        Tag.COMMENT,
        Tag.CONTACT_INFORMATION,
        Tag.CRYPTOGRAPHIC_PARAMETERS,
        Tag.DEACTIVATION_DATE,
        Tag.DESCRIPTION,
        Tag.EXTRACTABLE,
        Tag.KEY_VALUE_LOCATION,
        Tag.LINK,
        Tag.NAME,
        Tag.OBJECT_GROUP,
        Tag.PKCS_12_FRIENDLY_NAME,
        Tag.PROCESS_START_DATE,
        Tag.PROTECT_STOP_DATE,
        Tag.PROTECTION_LEVEL,
        Tag.PROTECTION_PERIOD,
        Tag.QUANTUM_SAFE,
        Tag.ROTATE_NAME,
        Tag.SENSITIVE,
        Tag.USAGE_LIMITS,
    }
)
#: The states in which a client may change these attributes (§4.1, §4.18, §4.40, §4.41: "only while in ...").
CLIENT_MODIFIABLE_STATES: dict[int, frozenset[State]] = {
    Tag.ACTIVATION_DATE: frozenset({State.PRE_ACTIVE}),
    Tag.DEACTIVATION_DATE: frozenset({State.PRE_ACTIVE, State.ACTIVE}),
    Tag.PROCESS_START_DATE: frozenset({State.PRE_ACTIVE, State.ACTIVE}),
    Tag.PROTECT_STOP_DATE: frozenset({State.PRE_ACTIVE, State.ACTIVE}),
}
#: Attributes a client may delete: "Deletable by client: Yes" in the §4 rules tables (plus vendor attributes).
CLIENT_DELETABLE = frozenset(
    {
        Tag.ALTERNATIVE_NAME,
        Tag.APPLICATION_SPECIFIC_INFORMATION,
        Tag.COMMENT,
        Tag.CONTACT_INFORMATION,
        Tag.CRYPTOGRAPHIC_PARAMETERS,
        Tag.DESCRIPTION,
        Tag.KEY_VALUE_LOCATION,
        Tag.LINK,
        Tag.NAME,
        Tag.OBJECT_GROUP,
        Tag.PKCS_12_FRIENDLY_NAME,
        Tag.PROTECTION_LEVEL,
        Tag.PROTECTION_PERIOD,
        Tag.QUANTUM_SAFE,
        Tag.ROTATE_NAME,
        Tag.USAGE_LIMITS,
    }
)


def check_client_attributes(attrs: Attributes, allowed_server: frozenset[int] = frozenset()) -> None:
    """Refuse attributes a client may not set and repeated single-valued ones (Create/Register/Import)."""
    seen: set[int] = set()
    for tag, _value in attrs:
        if tag in SERVER_ONLY and tag not in allowed_server:
            raise KmipError(ResultReason.ATTRIBUTE_READ_ONLY, f"attribute {Tag(tag).name} is set by the server")
        if tag in seen and tag not in MULTI_VALUED:
            raise KmipError(ResultReason.ATTRIBUTE_SINGLE_VALUED, f"attribute {_name(tag)} given more than once")
        seen.add(tag)


def _name(tag: int) -> str:
    try:
        return Tag(tag).name
    except ValueError:
        return f"0x{tag:06X}"


def initialise(
    attrs: Attributes,
    uid: str,
    object_type: ObjectType,
    now: int,
    *,
    key_material: bytes | None = None,
    key_format_type: int | None = None,
) -> None:
    """Set the attributes every new object carries: identifiers, state, dates, sensitivity flags, digest."""
    attrs.set(Tag.UNIQUE_IDENTIFIER, uid)
    attrs.set(Tag.OBJECT_TYPE, object_type)
    if Tag.CRYPTOGRAPHIC_USAGE_MASK not in attrs and object_type in DEFAULT_USAGE:
        attrs.set(Tag.CRYPTOGRAPHIC_USAGE_MASK, DEFAULT_USAGE[object_type])
    activation = attrs.get(Tag.ACTIVATION_DATE)
    state = State.ACTIVE if isinstance(activation, int) and activation <= now else State.PRE_ACTIVE
    attrs.set(Tag.STATE, state)
    attrs.set(Tag.INITIAL_DATE, now)
    attrs.set(Tag.LAST_CHANGE_DATE, now)
    if Tag.ORIGINAL_CREATION_DATE not in attrs:
        attrs.set(Tag.ORIGINAL_CREATION_DATE, now)
    sensitive = bool(attrs.get(Tag.SENSITIVE, False))
    extractable = bool(attrs.get(Tag.EXTRACTABLE, True))
    attrs.set(Tag.SENSITIVE, sensitive)
    attrs.set(Tag.EXTRACTABLE, extractable)
    attrs.set(Tag.ALWAYS_SENSITIVE, sensitive)
    attrs.set(Tag.NEVER_EXTRACTABLE, not extractable)
    if Tag.FRESH not in attrs:  # Fresh may be given by the client that generated the key (§4.24)
        attrs.set(Tag.FRESH, True)
    if key_format_type is not None:
        attrs.set(Tag.KEY_FORMAT_TYPE, key_format_type)
    if key_material is not None:
        set_digest(attrs, key_material, key_format_type)


def set_digest(attrs: Attributes, material: bytes, key_format_type: int | None) -> None:
    """Digest attribute (§4.21): SHA-256 over the key material in its stored Key Format Type."""
    attrs.set(
        Tag.DIGEST,
        S.Digest(
            hashing_algorithm=HashingAlgorithm.SHA_256,
            digest_value=hashlib.sha256(material).digest(),
            key_format_type=key_format_type,  # type: ignore[arg-type]
        ),
    )


def refresh_state(mo: ManagedObject, now: int) -> bool:
    """Apply date-driven transitions (Activation / Deactivation Date reached); True if the state changed."""
    state = mo.state
    attrs = mo.attributes
    new = state
    activation = attrs.get(Tag.ACTIVATION_DATE)
    deactivation = attrs.get(Tag.DEACTIVATION_DATE)
    if state == State.PRE_ACTIVE and isinstance(activation, int) and activation <= now:
        new = State.ACTIVE
    if new in (State.PRE_ACTIVE, State.ACTIVE) and isinstance(deactivation, int) and deactivation <= now:
        new = State.DEACTIVATED
    if new != state:
        attrs.set(Tag.STATE, new)
        return True
    return False


def require_state(mo: ManagedObject, *allowed: State, action: str) -> None:
    if mo.state not in allowed:
        why = ""
        if action == "activate":  # Cosmian's clients match "already" and "cannot be activated"
            why = ": it is already active" if mo.state == State.ACTIVE else ": it cannot be activated"
        raise KmipError(
            ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"cannot {action} object {mo.uid} in state {mo.state.name}{why}"
        )


def require_material(mo: ManagedObject) -> Struct:
    """The object's content; Object Destroyed once Destroy has erased it (KMIP 2.1 §6.1.15)."""
    if mo.state in DESTROYED_STATES or mo.object is None:
        raise KmipError(ResultReason.OBJECT_DESTROYED, f"object {mo.uid} has been destroyed")
    return mo.object


def key_block(obj: Struct | None) -> S.KeyBlock | None:
    """The Key Block of a key-like object (Symmetric/Private/Public Key, Secret Data, Split Key, PGP Key)."""
    block = getattr(obj, "key_block", None)
    return block if isinstance(block, S.KeyBlock) else None


def raw_key_material(obj: Struct | None) -> bytes | None:
    """The plain key material bytes of a Raw / Opaque / transparent-symmetric key block, if there are any."""
    block = key_block(obj)
    if block is None:
        if isinstance(obj, S.OpaqueObject):
            return obj.opaque_data_value
        if isinstance(obj, S.Certificate):
            return obj.certificate_value
        return None
    value: Any = block.key_value
    if not isinstance(value, S.KeyValue):
        return None
    material = value.key_material
    if isinstance(material, bytes):
        return material
    if isinstance(material, S.TransparentSymmetricKey):
        return material.key
    return None


__all__ = [
    "CLIENT_DELETABLE",
    "CLIENT_MODIFIABLE",
    "CLIENT_MODIFIABLE_STATES",
    "DEFAULT_USAGE",
    "DESTROYED_STATES",
    "key_pair_usage",
    "mask_allows",
    "MULTI_VALUED",
    "SERVER_ONLY",
    "check_client_attributes",
    "initialise",
    "key_block",
    "raw_key_material",
    "refresh_state",
    "require_material",
    "require_state",
    "set_digest",
]
