"""PKCS#11 attributes ⇄ KMIP attributes: the one CKA table (STYLE rule 5; PKCS#11 3.0 §4).

| PKCS#11                                   | KMIP 2.1                                                        |
|-------------------------------------------|-----------------------------------------------------------------|
| CKA_CLASS                                 | Object Type: Symmetric Key, Secret Data → CKO_SECRET_KEY;       |
|                                           | Opaque Object, and Secret Data with the user tag                |
|                                           | "disk-encryption" (VeraCrypt keyfiles) → CKO_DATA                |
| CKA_KEY_TYPE                              | Cryptographic Algorithm (AES, DES3, HMAC-SHA*); Secret Data →   |
|                                           | CKK_GENERIC_SECRET (a secret of any length, no algorithm)       |
| CKA_VALUE_LEN                             | Cryptographic Length / 8 (Secret Data: length of the material)  |
| CKA_LABEL                                 | Object Group "pkcs11:label:<label>" (indexed by Locate; unlike  |
|                                           | Name it need not be unique, as labels need not) + vendor        |
|                                           | attribute; objects without one show their first Name            |
| CKA_UNIQUE_ID                             | Unique Identifier                                               |
| CKA_SENSITIVE, CKA_EXTRACTABLE            | Sensitive, Extractable (sticky: only towards safer values)      |
| CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE | Always Sensitive, Never Extractable (and CKA_LOCAL)          |
| CKA_ENCRYPT/DECRYPT/WRAP/UNWRAP/DERIVE    | Cryptographic Usage Mask Encrypt/Decrypt/Wrap/Unwrap/Derive Key  |
| CKA_SIGN / CKA_VERIFY                     | Usage Mask MAC Generate / MAC Verify (secret keys)              |
| CKA_VALUE                                 | the key material (Get), or the Opaque Object's value            |
| CKO_PUBLIC_KEY / CKO_PRIVATE_KEY          | Public Key / Private Key (Create Key Pair; the pair is linked)  |
| CKO_CERTIFICATE (CKC_X_509)               | Certificate (X.509); CKA_VALUE is its DER, and CKA_SUBJECT,     |
|                                           | CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_CHECK_VALUE are read from it |
| CKA_ID of objects made by KMIP clients    | pairs a certificate with its keys: the private key's uid (its   |
|                                           | own; the public key's and certificate's Private Key Link); a    |
|                                           | certificate linked to a PKCS#11-made key shows that key's CKA_ID|
| CKA_KEY_TYPE of key pairs                 | Cryptographic Algorithm RSA → CKK_RSA; EC/ECDSA/ECDH → CKK_EC;  |
|                                           | Ed25519 → CKK_EC_EDWARDS                                        |
| CKA_SIGN / CKA_VERIFY (key pairs)         | Usage Mask Sign / Verify; CKA_DERIVE: Derive Key + Key Agreement|
| CKA_MODULUS_BITS                          | Cryptographic Length (RSA)                                      |
| CKA_EC_PARAMS                             | Cryptographic Domain Parameters' Recommended Curve, as the      |
|                                           | DER OID (P-256/384/521) or the printable name "edwards25519"   |
| CKA_MODULUS, CKA_PUBLIC_EXPONENT,         | read from the public key (Get, Key Format Type X.509) when      |
| CKA_EC_POINT, CKA_PRIME, CKA_SUBPRIME,    | first asked for, then cached with the object's view; CKA_VALUE  |
| CKA_BASE (DSA, DH)                        | of a DSA/DH public key is y                                     |
| CKA_KEY_TYPE CKK_DSA / CKK_DH             | Cryptographic Algorithm DSA / DH (Cryptographic Length: p bits) |
| CKO_DOMAIN_PARAMETERS (CKK_DSA, CKK_DH)   | Opaque Object holding Dss-Parms / DHParameter DER, marked by    |
|                                           | its CKA_CLASS and CKA_KEY_TYPE vendor attributes; CKA_PRIME,    |
|                                           | CKA_SUBPRIME, CKA_BASE, CKA_PRIME_BITS read from the DER        |
| CKA_ID, CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE, CKA_LOCAL,              |
| CKA_KEY_GEN_MECHANISM, CKA_START_DATE, CKA_END_DATE, CKA_APPLICATION, CKA_OBJECT_ID, CKA_SIGN_RECOVER, |
| CKA_VERIFY_RECOVER, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED | one Vendor Attribute each: vendor "keystead",     |
|                                           | name "CKA_…", value a Byte String holding the PKCS#11 encoding   |

Objects made outside PKCS#11 (plain KMIP clients) have no vendor attributes and get the defaults below.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CertificateType as KmipCertificateType
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ItemType,
    LinkType,
    ObjectType,
    RecommendedCurve,
    Tag,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item

from .constants import UNAVAILABLE_INFORMATION, Attribute, CertificateType, KeyType, ObjectClass, ReturnValue
from .errors import CkError

A = Attribute
U = CryptographicUsageMask
VENDOR = "keystead"
_ULONG = struct.Struct("@L")  # CK_ULONG: unsigned long, native size and byte order


class Kind(Enum):
    """How an attribute's value is laid out in CK_ATTRIBUTE.pValue (§4.1 table of data types)."""

    BOOL = "CK_BBOOL"
    ULONG = "CK_ULONG"
    BYTES = "byte array"
    TEXT = "RFC 2279 string"
    DATE = "CK_DATE"


# The kinds as module names: ``pack`` and ``unpack`` run for every attribute of every template, and on Python 3.11
# reading a member off its Enum class costs five times reading a global.
_BOOL, _ULONG_KIND, _TEXT, _DATE = Kind.BOOL, Kind.ULONG, Kind.TEXT, Kind.DATE


def pack(kind: Kind, value: Any) -> bytes:
    """A Python value as the bytes PKCS#11 puts in pValue."""
    if kind is _BOOL:
        return b"\x01" if value else b"\x00"
    if kind is _ULONG_KIND:
        return _ULONG.pack(int(value))
    if kind is _TEXT:
        return str(value).encode()
    return bytes(value)


def unpack(kind: Kind, raw: bytes) -> Any:
    """pValue bytes as a Python value; CKR_ATTRIBUTE_VALUE_INVALID if they do not fit the type."""
    if kind is _BOOL:
        if len(raw) != 1:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "a CK_BBOOL is one byte")
        return raw != b"\x00"
    if kind is _ULONG_KIND:
        if len(raw) != _ULONG.size:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"a CK_ULONG is {_ULONG.size} bytes")
        return _ULONG.unpack(raw)[0]
    if kind is _TEXT:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "not UTF-8") from None
    if kind is _DATE and len(raw) not in (0, 8):
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "a CK_DATE is 8 characters YYYYMMDD")
    return bytes(raw)


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One row of the table: the value type, where KMIP keeps it, and who may set it."""

    kind: Kind
    #: "kmip" (mapped to a KMIP attribute), "vendor" (a keystead Vendor Attribute) or "value" (key material).
    storage: str  # "kmip", "vendor", "value" or "public" (read from the public key)
    #: Set by the token only (§4.4 footnotes 2 and 4): refused in templates with CKR_ATTRIBUTE_READ_ONLY.
    token_only: bool = False
    #: May change after creation through C_SetAttributeValue (subject to CKA_MODIFIABLE).
    modifiable: bool = True
    default: Any = None


_COMMON = (A.CLASS, A.TOKEN, A.PRIVATE, A.MODIFIABLE, A.LABEL, A.COPYABLE, A.DESTROYABLE, A.UNIQUE_ID)
_KEY = (A.KEY_TYPE, A.ID, A.START_DATE, A.END_DATE, A.DERIVE, A.LOCAL, A.KEY_GEN_MECHANISM)
_SECRET = (
    *_COMMON,
    *_KEY,
    A.SENSITIVE,
    A.ENCRYPT,
    A.DECRYPT,
    A.SIGN,
    A.VERIFY,
    A.SIGN_RECOVER,
    A.VERIFY_RECOVER,
    A.WRAP,
    A.UNWRAP,
    A.EXTRACTABLE,
    A.ALWAYS_SENSITIVE,
    A.NEVER_EXTRACTABLE,
    A.WRAP_WITH_TRUSTED,
    A.TRUSTED,
    A.VALUE,
    A.VALUE_LEN,
    A.ALWAYS_AUTHENTICATE,  # a private-key attribute in §4.10, but pkcs11-tool and p11tool ask secret keys too
)
#: Attributes of RSA and EC keys read from the public key (§4.8: which ones a key has depends on its type).
_PUBLIC_VALUES = (
    A.MODULUS,
    A.MODULUS_BITS,
    A.PUBLIC_EXPONENT,
    A.EC_PARAMS,
    A.EC_POINT,
    A.PARAMETER_SET,
    A.PRIME,
    A.SUBPRIME,
    A.BASE,
)
#: RSA private key values (§2.1.3) and the EC/Edwards private value (CKA_VALUE): given at import, read back only
#: from a key that is neither sensitive nor unextractable.
_PRIVATE_VALUES = (A.PRIVATE_EXPONENT, A.PRIME_1, A.PRIME_2, A.EXPONENT_1, A.EXPONENT_2, A.COEFFICIENT)
_PUBLIC = (
    *_COMMON,
    *_KEY,
    A.SUBJECT,
    A.ENCRYPT,
    A.VERIFY,
    A.VERIFY_RECOVER,
    A.WRAP,
    A.TRUSTED,
    A.ENCAPSULATE,
    *_PUBLIC_VALUES,
    A.VALUE,  # y of DSA and Diffie-Hellman public keys (§2.2.3, §2.5.3)
)
_PRIVATE = (
    *_COMMON,
    *_KEY,
    A.SUBJECT,
    A.SENSITIVE,
    A.DECRYPT,
    A.SIGN,
    A.SIGN_RECOVER,
    A.UNWRAP,
    A.EXTRACTABLE,
    A.ALWAYS_SENSITIVE,
    A.NEVER_EXTRACTABLE,
    A.WRAP_WITH_TRUSTED,
    A.ALWAYS_AUTHENTICATE,
    A.DECAPSULATE,
    A.PUBLIC_KEY_INFO,
    # CKA_EC_POINT is not a private-key attribute in §2.3.4, but libp11 and p11tool read it from private keys.
    *_PUBLIC_VALUES,
    *_PRIVATE_VALUES,
    A.VALUE,
)
#: Attributes of X.509 certificates read from the certificate itself (§4.6.3), like the public-key values.
CERTIFICATE_VALUES = (A.SUBJECT, A.ISSUER, A.SERIAL_NUMBER)
#: Certificates (§4.6 common certificate attributes, §4.6.3 X.509 public key certificates).
_CERTIFICATE = (
    *_COMMON,
    A.CERTIFICATE_TYPE,
    A.TRUSTED,
    A.CERTIFICATE_CATEGORY,
    A.CHECK_VALUE,
    A.START_DATE,
    A.END_DATE,
    A.PUBLIC_KEY_INFO,
    A.SUBJECT,
    A.ID,
    A.ISSUER,
    A.SERIAL_NUMBER,
    A.VALUE,
    A.URL,
    A.HASH_OF_SUBJECT_PUBLIC_KEY,
    A.HASH_OF_ISSUER_PUBLIC_KEY,
    A.JAVA_MIDP_SECURITY_DOMAIN,
    A.NAME_HASH_ALGORITHM,
)
#: Attributes of a certificate read from its DER value when not stored with it (certificates registered by
#: other KMS clients).
CERTIFICATE_DERIVED = frozenset({*CERTIFICATE_VALUES, A.CHECK_VALUE, A.PUBLIC_KEY_INFO})
#: The attributes each object class has (anything else is CKR_ATTRIBUTE_TYPE_INVALID for it).
CLASS_ATTRIBUTES: dict[ObjectClass, frozenset[Attribute]] = {
    ObjectClass.SECRET_KEY: frozenset(_SECRET),
    ObjectClass.PUBLIC_KEY: frozenset(_PUBLIC),
    ObjectClass.PRIVATE_KEY: frozenset(_PRIVATE),
    ObjectClass.DATA: frozenset((*_COMMON, A.APPLICATION, A.OBJECT_ID, A.VALUE)),
    ObjectClass.CERTIFICATE: frozenset(_CERTIFICATE),
    # §4.7 and Current Mechanisms §2.2.5 (DSA), §2.5.5 (PKCS #3 Diffie-Hellman).
    ObjectClass.DOMAIN_PARAMETERS: frozenset(
        (*_COMMON, A.KEY_TYPE, A.LOCAL, A.PRIME, A.SUBPRIME, A.BASE, A.PRIME_BITS, A.SUBPRIME_BITS)
    ),
}
#: Attributes of key pair templates that parameterise generation and are not stored (§2.1.4, §2.3.6).
GENERATION_PARAMETERS = frozenset(
    {A.MODULUS_BITS, A.PUBLIC_EXPONENT, A.EC_PARAMS, A.PARAMETER_SET, A.PRIME, A.SUBPRIME, A.BASE}
)
#: Attributes of domain parameters and of DSA/DH keys that are the parameters' integers (read from the DER).
DOMAIN_VALUES = (A.PRIME, A.SUBPRIME, A.BASE, A.PRIME_BITS, A.SUBPRIME_BITS)

#: The CKA table.
ATTRIBUTES: dict[Attribute, AttributeSpec] = {
    A.CLASS: AttributeSpec(Kind.ULONG, "kmip", modifiable=False),
    A.TOKEN: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=False),
    A.PRIVATE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=True),
    A.MODIFIABLE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=True),
    A.COPYABLE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=True),
    A.DESTROYABLE: AttributeSpec(Kind.BOOL, "vendor", default=True),
    A.LABEL: AttributeSpec(Kind.TEXT, "vendor", default=""),
    A.UNIQUE_ID: AttributeSpec(Kind.TEXT, "kmip", token_only=True, modifiable=False),
    A.APPLICATION: AttributeSpec(Kind.TEXT, "vendor", default=""),
    A.OBJECT_ID: AttributeSpec(Kind.BYTES, "vendor", default=b""),
    A.KEY_TYPE: AttributeSpec(Kind.ULONG, "kmip", modifiable=False),
    A.ID: AttributeSpec(Kind.BYTES, "vendor", default=b""),
    A.START_DATE: AttributeSpec(Kind.DATE, "vendor", default=b""),
    A.END_DATE: AttributeSpec(Kind.DATE, "vendor", default=b""),
    A.DERIVE: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=False),
    A.LOCAL: AttributeSpec(Kind.BOOL, "vendor", token_only=True, modifiable=False, default=False),
    A.KEY_GEN_MECHANISM: AttributeSpec(
        Kind.ULONG, "vendor", token_only=True, modifiable=False, default=UNAVAILABLE_INFORMATION
    ),
    A.SENSITIVE: AttributeSpec(Kind.BOOL, "kmip", default=True),
    A.EXTRACTABLE: AttributeSpec(Kind.BOOL, "kmip", default=False),
    A.ALWAYS_SENSITIVE: AttributeSpec(Kind.BOOL, "kmip", token_only=True, modifiable=False),
    A.NEVER_EXTRACTABLE: AttributeSpec(Kind.BOOL, "kmip", token_only=True, modifiable=False),
    A.ENCRYPT: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.DECRYPT: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.SIGN: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.VERIFY: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.WRAP: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.UNWRAP: AttributeSpec(Kind.BOOL, "kmip", modifiable=False, default=True),
    A.SIGN_RECOVER: AttributeSpec(Kind.BOOL, "vendor", default=False),
    A.VERIFY_RECOVER: AttributeSpec(Kind.BOOL, "vendor", default=False),
    A.TRUSTED: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=False),
    A.WRAP_WITH_TRUSTED: AttributeSpec(Kind.BOOL, "vendor", default=False),
    A.VALUE: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.VALUE_LEN: AttributeSpec(Kind.ULONG, "kmip", modifiable=False),
    A.SUBJECT: AttributeSpec(Kind.BYTES, "vendor", default=b""),
    A.ALWAYS_AUTHENTICATE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=False),
    A.MODULUS: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.MODULUS_BITS: AttributeSpec(Kind.ULONG, "public", modifiable=False),
    A.PUBLIC_EXPONENT: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.EC_PARAMS: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.EC_POINT: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    # PKCS#11 3.2 (ML-DSA, ML-KEM): the parameter set comes from the key's KMIP Cryptographic Algorithm.
    A.PARAMETER_SET: AttributeSpec(Kind.ULONG, "public", modifiable=False),
    A.PRIME: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.SUBPRIME: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.BASE: AttributeSpec(Kind.BYTES, "public", modifiable=False),
    A.PRIME_BITS: AttributeSpec(Kind.ULONG, "public", modifiable=False),
    A.SUBPRIME_BITS: AttributeSpec(Kind.ULONG, "public", modifiable=False),
    A.ENCAPSULATE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=False),
    A.DECAPSULATE: AttributeSpec(Kind.BOOL, "vendor", modifiable=False, default=False),
    A.PRIVATE_EXPONENT: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.PRIME_1: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.PRIME_2: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.EXPONENT_1: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.EXPONENT_2: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.COEFFICIENT: AttributeSpec(Kind.BYTES, "value", modifiable=False),
    A.CERTIFICATE_TYPE: AttributeSpec(Kind.ULONG, "kmip", modifiable=False),
    A.ISSUER: AttributeSpec(Kind.BYTES, "vendor", default=b""),
    A.SERIAL_NUMBER: AttributeSpec(Kind.BYTES, "vendor", default=b""),
    A.CERTIFICATE_CATEGORY: AttributeSpec(Kind.ULONG, "vendor", modifiable=False, default=0),
    A.CHECK_VALUE: AttributeSpec(Kind.BYTES, "vendor", modifiable=False, default=b""),
    A.PUBLIC_KEY_INFO: AttributeSpec(Kind.BYTES, "vendor", modifiable=False, default=b""),
    A.URL: AttributeSpec(Kind.TEXT, "vendor", modifiable=False, default=""),
    A.HASH_OF_SUBJECT_PUBLIC_KEY: AttributeSpec(Kind.BYTES, "vendor", modifiable=False, default=b""),
    A.HASH_OF_ISSUER_PUBLIC_KEY: AttributeSpec(Kind.BYTES, "vendor", modifiable=False, default=b""),
    A.JAVA_MIDP_SECURITY_DOMAIN: AttributeSpec(Kind.ULONG, "vendor", modifiable=False, default=0),
    A.NAME_HASH_ALGORITHM: AttributeSpec(Kind.ULONG, "vendor", modifiable=False, default=0x220),  # CKM_SHA_1
}

#: Usage flags ⇄ Cryptographic Usage Mask bits of secret keys. KMIP 2.1 §4.19 does not let clients modify the
#: mask after creation, so these flags are fixed at creation (CKR_ATTRIBUTE_READ_ONLY afterwards).
USAGE_BITS: dict[Attribute, int] = {
    A.ENCRYPT: U.ENCRYPT,
    A.DECRYPT: U.DECRYPT,
    A.WRAP: U.WRAP_KEY,
    A.UNWRAP: U.UNWRAP_KEY,
    A.DERIVE: U.DERIVE_KEY,
    A.SIGN: U.MAC_GENERATE,
    A.VERIFY: U.MAC_VERIFY,
}

#: CKK_* of secret keys ⇄ the KMIP Cryptographic Algorithm of a Symmetric Key.
KEY_TYPE_ALGORITHMS: dict[KeyType, CryptographicAlgorithm] = {
    KeyType.AES: CryptographicAlgorithm.AES,
    KeyType.DES3: CryptographicAlgorithm.DES3,
    KeyType.DES2: CryptographicAlgorithm.DES3,
    KeyType.SHA_1_HMAC: CryptographicAlgorithm.HMAC_SHA1,
    KeyType.SHA224_HMAC: CryptographicAlgorithm.HMAC_SHA224,
    KeyType.SHA256_HMAC: CryptographicAlgorithm.HMAC_SHA256,
    KeyType.SHA384_HMAC: CryptographicAlgorithm.HMAC_SHA384,
    KeyType.SHA512_HMAC: CryptographicAlgorithm.HMAC_SHA512,
}
# DES3 of 128 bits is told apart by its length (view_values).
ALGORITHM_KEY_TYPES = {v: k for k, v in KEY_TYPE_ALGORITHMS.items() if k is not KeyType.DES2}
#: The KMIP Cryptographic Algorithm of key pairs ⇄ CKK_*.
PAIR_KEY_TYPES: dict[CryptographicAlgorithm, KeyType] = {
    CryptographicAlgorithm.RSA: KeyType.RSA,
    CryptographicAlgorithm.EC: KeyType.EC,
    CryptographicAlgorithm.ECDSA: KeyType.EC,
    CryptographicAlgorithm.ECDH: KeyType.EC,
    CryptographicAlgorithm.ED25519: KeyType.EC_EDWARDS,
    CryptographicAlgorithm.ML_DSA_44: KeyType.ML_DSA,
    CryptographicAlgorithm.ML_DSA_65: KeyType.ML_DSA,
    CryptographicAlgorithm.ML_DSA_87: KeyType.ML_DSA,
    CryptographicAlgorithm.ML_KEM_512: KeyType.ML_KEM,
    CryptographicAlgorithm.ML_KEM_768: KeyType.ML_KEM,
    CryptographicAlgorithm.ML_KEM_1024: KeyType.ML_KEM,
    CryptographicAlgorithm.ED448: KeyType.EC_EDWARDS,
    CryptographicAlgorithm.DSA: KeyType.DSA,
    CryptographicAlgorithm.DH: KeyType.DH,
}
#: Key types whose keys carry domain parameters (CKA_PRIME, CKA_SUBPRIME, CKA_BASE) and a CKA_VALUE integer.
FINITE_FIELD_KEY_TYPES: dict[KeyType, CryptographicAlgorithm] = {
    KeyType.DSA: CryptographicAlgorithm.DSA,
    KeyType.DH: CryptographicAlgorithm.DH,
}
#: CKA_PARAMETER_SET (CKP_ML_DSA_* / CKP_ML_KEM_*, PKCS#11 3.2) ⇄ the KMIP Cryptographic Algorithm.
PARAMETER_SETS: dict[tuple[KeyType, int], CryptographicAlgorithm] = {
    (KeyType.ML_DSA, 1): CryptographicAlgorithm.ML_DSA_44,
    (KeyType.ML_DSA, 2): CryptographicAlgorithm.ML_DSA_65,
    (KeyType.ML_DSA, 3): CryptographicAlgorithm.ML_DSA_87,
    (KeyType.ML_KEM, 1): CryptographicAlgorithm.ML_KEM_512,
    (KeyType.ML_KEM, 2): CryptographicAlgorithm.ML_KEM_768,
    (KeyType.ML_KEM, 3): CryptographicAlgorithm.ML_KEM_1024,
}
ALGORITHM_PARAMETER_SETS = {algorithm: number for (_kind, number), algorithm in PARAMETER_SETS.items()}
#: KMIP object types the provider presents, and their class.
OBJECT_CLASSES: dict[ObjectType, ObjectClass] = {
    ObjectType.SYMMETRIC_KEY: ObjectClass.SECRET_KEY,
    ObjectType.SECRET_DATA: ObjectClass.SECRET_KEY,
    ObjectType.PUBLIC_KEY: ObjectClass.PUBLIC_KEY,
    ObjectType.PRIVATE_KEY: ObjectClass.PRIVATE_KEY,
    ObjectType.OPAQUE_OBJECT: ObjectClass.DATA,
    ObjectType.CERTIFICATE: ObjectClass.CERTIFICATE,
}
CLASS_OBJECT_TYPES: dict[ObjectClass, ObjectType] = {
    ObjectClass.PUBLIC_KEY: ObjectType.PUBLIC_KEY,
    ObjectClass.PRIVATE_KEY: ObjectType.PRIVATE_KEY,
    ObjectClass.DATA: ObjectType.OPAQUE_OBJECT,
    ObjectClass.CERTIFICATE: ObjectType.CERTIFICATE,
    ObjectClass.DOMAIN_PARAMETERS: ObjectType.OPAQUE_OBJECT,
}
#: Usage flags ⇄ Usage Mask bits of key pairs: signatures are Sign/Verify here, not MAC Generate/Verify.
PAIR_USAGE_BITS: dict[Attribute, int] = {
    A.ENCRYPT: U.ENCRYPT,
    A.DECRYPT: U.DECRYPT,
    A.WRAP: U.WRAP_KEY,
    A.UNWRAP: U.UNWRAP_KEY,
    A.DERIVE: U.DERIVE_KEY | U.KEY_AGREEMENT,
    A.SIGN: U.SIGN,
    A.VERIFY: U.VERIFY,
}


def usage_bits(object_class: ObjectClass) -> dict[Attribute, int]:
    """The usage-flag table of a class (only flags the class has)."""
    if object_class is ObjectClass.SECRET_KEY:
        return USAGE_BITS
    allowed = CLASS_ATTRIBUTES[object_class]
    return {a: bit for a, bit in PAIR_USAGE_BITS.items() if a in allowed}


#: Named curves: KMIP Recommended Curve ⇄ CKA_EC_PARAMS (DER of the curve's OID; Ed25519 as RFC 8410 OID).
CURVE_PARAMS: dict[RecommendedCurve, bytes] = {
    RecommendedCurve.P_192: bytes.fromhex("06082a8648ce3d030101"),  # prime192v1
    RecommendedCurve.P_224: bytes.fromhex("06052b81040021"),  # secp224r1
    RecommendedCurve.P_256: bytes.fromhex("06082a8648ce3d030107"),
    RecommendedCurve.SECP256K1: bytes.fromhex("06052b8104000a"),
    RecommendedCurve.BRAINPOOLP256R1: bytes.fromhex("06092b2403030208010107"),
    RecommendedCurve.BRAINPOOLP384R1: bytes.fromhex("06092b240303020801010b"),
    RecommendedCurve.BRAINPOOLP512R1: bytes.fromhex("06092b240303020801010d"),
    RecommendedCurve.P_384: bytes.fromhex("06052b81040022"),
    RecommendedCurve.P_521: bytes.fromhex("06052b81040023"),
    RecommendedCurve.CURVEED25519: bytes.fromhex("06032b6570"),  # id-Ed25519 (RFC 8410)
    RecommendedCurve.CURVE25519: bytes.fromhex("06032b656e"),  # id-X25519
    RecommendedCurve.CURVEED448: bytes.fromhex("06032b6571"),  # id-Ed448 (RFC 8410)
}
#: Other encodings of CKA_EC_PARAMS accepted in templates (§2.3.7: the printable-string curve name).
CURVE_ALIASES: dict[bytes, RecommendedCurve] = {
    bytes.fromhex("130c656477617264733235353139"): RecommendedCurve.CURVEED25519,  # PrintableString "edwards25519"
    bytes.fromhex("06092b06010401da470f01"): RecommendedCurve.CURVEED25519,  # Ed25519 (GnuPG arc)
    bytes.fromhex("130a65647761726473343438"): RecommendedCurve.CURVEED448,  # PrintableString "edwards448"
}
PARAMS_CURVES: dict[bytes, RecommendedCurve] = {v: k for k, v in CURVE_PARAMS.items()} | CURVE_ALIASES


#: CKA_* by number: ``Attribute(n)`` without the enum call, on every attribute of every template.
ATTRIBUTE_TYPES: dict[int, Attribute] = {int(a): a for a in Attribute}
#: The attributes a template may hold, by number, with their value type.
_TEMPLATE_TYPES: dict[int, tuple[Attribute, Kind]] = {int(a): (a, spec.kind) for a, spec in ATTRIBUTES.items()}
#: The CK_BBOOL ones among them (most of any template), by number.
_BOOL_TYPES: dict[int, Attribute] = {int(a): a for a, spec in ATTRIBUTES.items() if spec.kind is Kind.BOOL}


def parse_template(raw: Iterable[tuple[int, bytes]]) -> dict[Attribute, Any]:
    """A CK_ATTRIBUTE array (type, value bytes) as typed values; CKR_ATTRIBUTE_TYPE_INVALID for unknown types,
    CKR_TEMPLATE_INCONSISTENT for a type given twice with different values."""
    out: dict[Attribute, Any] = {}
    for type_, value in raw:
        boolean = _BOOL_TYPES.get(type_)
        if boolean is not None and len(value) == 1:  # a CK_BBOOL read here; ``unpack`` checks and reads the rest
            attribute: Attribute = boolean
            parsed: Any = value != b"\x00"
        else:
            known = _TEMPLATE_TYPES.get(type_)
            if known is None:
                unsupported = ATTRIBUTE_TYPES.get(type_)
                if unsupported is None:
                    raise CkError(ReturnValue.ATTRIBUTE_TYPE_INVALID, f"unknown attribute 0x{type_:x}")
                raise CkError(ReturnValue.ATTRIBUTE_TYPE_INVALID, f"{unsupported.name} is not supported")
            attribute, kind = known
            parsed = unpack(kind, value)
        if attribute in out and out[attribute] != parsed:
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{attribute.name} given twice")
        out[attribute] = parsed
    return out


def vendor_attribute(attribute: Attribute, value: Any) -> S.VendorAttribute:
    """The keystead Vendor Attribute holding a PKCS#11-only attribute in its PKCS#11 encoding."""
    return S.VendorAttribute(
        vendor_identification=VENDOR,
        attribute_name=f"CKA_{attribute.name}",
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.BYTE_STRING, pack(ATTRIBUTES[attribute].kind, value)),
    )


_VENDOR_NAMES: dict[str, Attribute] = {f"CKA_{a.name}": a for a in Attribute}


def kmip_attributes(object_class: ObjectClass, template: dict[Attribute, Any], now: int) -> Attributes:
    """The KMIP attributes for a new object (Create/Register) from a validated template: Name, Sensitive,
    Extractable, Usage Mask, an Activation Date of now (KMIP Encrypt and friends need an Active key) and the
    PKCS#11-only attributes as vendor attributes."""
    attrs = Attributes()
    label = template.get(A.LABEL)
    if label:
        attrs.add(Tag.OBJECT_GROUP, label_group(label))
    key_id = template.get(A.ID)
    if key_id and A.ID in CLASS_ATTRIBUTES[object_class]:
        attrs.add(Tag.OBJECT_GROUP, id_group(key_id))
    attrs.add(Tag.ACTIVATION_DATE, now)
    if object_class in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY):
        attrs.add(Tag.SENSITIVE, bool(template.get(A.SENSITIVE, ATTRIBUTES[A.SENSITIVE].default)))
        attrs.add(Tag.EXTRACTABLE, bool(template.get(A.EXTRACTABLE, ATTRIBUTES[A.EXTRACTABLE].default)))
    elif object_class is ObjectClass.PUBLIC_KEY:
        attrs.add(Tag.SENSITIVE, False)
        attrs.add(Tag.EXTRACTABLE, True)
    if object_class not in (ObjectClass.DATA, ObjectClass.CERTIFICATE, ObjectClass.DOMAIN_PARAMETERS):
        mask = 0
        for attribute, bit in usage_bits(object_class).items():
            if template.get(attribute, ATTRIBUTES[attribute].default):
                mask |= bit
        attrs.add(Tag.CRYPTOGRAPHIC_USAGE_MASK, mask)
    # CKA_TOKEN and CKA_PRIVATE are always written: they mark the object as made through PKCS#11.
    stored = {A.TOKEN: default(A.TOKEN, object_class), A.PRIVATE: default(A.PRIVATE, object_class)} | template
    for attribute, value in stored.items():
        if ATTRIBUTES[attribute].storage == "vendor" and attribute in CLASS_ATTRIBUTES[object_class]:
            attrs.add(Tag.ATTRIBUTE, vendor_attribute(attribute, value))
    return attrs


def default(attribute: Attribute, object_class: ObjectClass) -> Any:
    """An attribute's value when a template leaves it out. Certificates and domain parameters are public objects
    (§4.6: the default of CKA_PRIVATE is the token's choice; NSS and Java look certificates up before logging in)."""
    if object_class in _PUBLIC_BY_DEFAULT and attribute is A.PRIVATE:
        return False
    return ATTRIBUTES[attribute].default


_PUBLIC_BY_DEFAULT = frozenset({ObjectClass.CERTIFICATE, ObjectClass.DOMAIN_PARAMETERS})


def label_group(label: str) -> str:
    """The Object Group that indexes a label (KMIP Names must be unique; PKCS#11 labels need not be)."""
    return f"pkcs11:label:{label}"


def id_group(key_id: bytes) -> str:
    """The Object Group that indexes a CKA_ID (in hex: an id is any bytes), so a find by CKA_ID is one indexed
    Locate. Groups are only added, so an object may carry an id it no longer has: finds match on the view."""
    return f"pkcs11:id:{key_id.hex()}"


def vendor_values(kmip: Attributes) -> dict[Attribute, Any]:
    """The PKCS#11-only attributes stored on an object."""
    out: dict[Attribute, Any] = {}
    for value in kmip.get_all(Tag.ATTRIBUTE):
        if isinstance(value, S.VendorAttribute) and value.vendor_identification == VENDOR:
            attribute = _VENDOR_NAMES.get(value.attribute_name)
            raw = value.attribute_value.value if value.attribute_value is not None else None
            if attribute is not None and isinstance(raw, bytes):
                out[attribute] = unpack(ATTRIBUTES[attribute].kind, raw)
    return out


#: KMS objects carrying this user tag are security-token keyfiles (VeraCrypt): Secret Data so tagged is presented
#: as a CKO_DATA object, as Opaque Objects are (Cosmian's PKCS#11 module uses the same tag).
DISK_ENCRYPTION_TAG = "disk-encryption"
_TAG_VENDOR, _TAG_NAME = "cosmian", "tag"


def user_tags(kmip: Attributes) -> list[str]:
    """The object's user tags: Cosmian's vendor attribute ("cosmian", "tag") holding a JSON array of strings."""
    for value in kmip.get_all(Tag.ATTRIBUTE):
        if (
            isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == _TAG_VENDOR
            and value.attribute_name == _TAG_NAME
            and value.attribute_value is not None
        ):
            raw = value.attribute_value.value
            try:
                tags = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            except (ValueError, UnicodeDecodeError):
                return []
            return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    return []


def disk_encryption_tag_attribute() -> S.VendorAttribute:
    """The Locate filter for objects tagged ``disk-encryption``."""
    return S.VendorAttribute(
        vendor_identification=_TAG_VENDOR,
        attribute_name=_TAG_NAME,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps([DISK_ENCRYPTION_TAG])),
    )


def view_values(kmip: Attributes) -> tuple[ObjectClass, dict[Attribute, Any], bool, str | None] | None:
    """An object's class, PKCS#11 attributes (CKA_VALUE and the public-key values excepted), whether it was made
    through PKCS#11 (it carries keystead vendor attributes) and, for key pairs, the uid of the public key; None for
    object types not presented."""
    object_type = kmip.get(Tag.OBJECT_TYPE)
    object_class = OBJECT_CLASSES.get(object_type) if object_type is not None else None
    if object_class is None:
        return None
    keyfile_tags: list[str] | None = None
    if object_type in (ObjectType.SECRET_DATA, ObjectType.OPAQUE_OBJECT):
        tags = user_tags(kmip)
        if DISK_ENCRYPTION_TAG in tags:
            object_class = ObjectClass.DATA
            keyfile_tags = sorted(t for t in tags if t != DISK_ENCRYPTION_TAG)
    stored = vendor_values(kmip)
    if object_type == ObjectType.OPAQUE_OBJECT and stored.get(A.CLASS) == ObjectClass.DOMAIN_PARAMETERS:
        object_class = ObjectClass.DOMAIN_PARAMETERS
    values: dict[Attribute, Any] = {
        a: ATTRIBUTES[a].default for a in CLASS_ATTRIBUTES[object_class] if ATTRIBUTES[a].storage not in _READ
    }
    values.pop(A.VALUE, None)
    values.update(stored)
    values[A.CLASS] = object_class
    if A.TOKEN not in stored:  # made by another KMS client: it lives in the KMS, a token object
        values[A.TOKEN] = True
    uid = str(kmip.get(Tag.UNIQUE_IDENTIFIER, ""))
    if A.LABEL not in stored:
        names = [n.name_value for n in kmip.get_all(Tag.NAME) if isinstance(n, S.Name)]
        values[A.LABEL] = names[0] if names else ""
        if keyfile_tags is not None and not names:
            # VeraCrypt ignores keyfiles without a label: name it by its other tag (first in order), else its uid.
            values[A.LABEL] = keyfile_tags[0] if keyfile_tags else uid
    values[A.UNIQUE_ID] = uid
    public_uid: str | None = None
    made_here = A.TOKEN in stored
    if not made_here and A.ID not in stored and object_class is not ObjectClass.SECRET_KEY:
        values[A.ID] = _pairing_id(object_class, uid, kmip)
    if object_class in (ObjectClass.DATA, ObjectClass.DOMAIN_PARAMETERS):
        return object_class, values, made_here, None
    if object_class is ObjectClass.CERTIFICATE:
        # What is not stored is read from the certificate itself (objects.public_values); certificates are
        # public objects unless made private (§4.6: CKA_PRIVATE's default is the token's choice).
        for attribute in CERTIFICATE_DERIVED - stored.keys():
            values.pop(attribute, None)
        values[A.CERTIFICATE_TYPE] = (
            CertificateType.X_509
            if kmip.get(Tag.CERTIFICATE_TYPE, KmipCertificateType.X_509) == KmipCertificateType.X_509
            else CertificateType.WTLS  # not X.509: nothing here reads it as one
        )
        if A.PRIVATE not in stored:
            values[A.PRIVATE] = False
        for link in kmip.get_all(Tag.LINK):  # the key pair it certifies (Library.remember takes its CKA_ID)
            if isinstance(link, S.Link) and link.link_type in (LinkType.PUBLIC_KEY_LINK, LinkType.PRIVATE_KEY_LINK):
                public_uid = str(link.linked_object_identifier)
        return object_class, values, made_here, public_uid
    algorithm = kmip.get(Tag.CRYPTOGRAPHIC_ALGORITHM)
    length = kmip.get(Tag.CRYPTOGRAPHIC_LENGTH)
    if object_class is ObjectClass.SECRET_KEY:
        if object_type == ObjectType.SECRET_DATA:
            values[A.KEY_TYPE] = KeyType.GENERIC_SECRET
        else:
            values[A.KEY_TYPE] = ALGORITHM_KEY_TYPES.get(algorithm, KeyType.GENERIC_SECRET)
            if values[A.KEY_TYPE] is KeyType.DES3 and length in (112, 128):  # two-key Triple-DES is CKK_DES2
                values[A.KEY_TYPE] = KeyType.DES2
        values[A.VALUE_LEN] = int(length) // 8 if isinstance(length, int) else UNAVAILABLE_INFORMATION
    else:
        key_type = PAIR_KEY_TYPES.get(algorithm, KeyType.EC) if algorithm is not None else KeyType.EC
        values[A.KEY_TYPE] = key_type
        if key_type is KeyType.RSA and isinstance(length, int):
            values[A.MODULUS_BITS] = length
        if key_type in FINITE_FIELD_KEY_TYPES and isinstance(length, int):
            # Not an attribute of keys (CKR_ATTRIBUTE_TYPE_INVALID if asked): the prime's size, which bounds what
            # CKM_DH_PKCS_DERIVE makes.
            values[A.PRIME_BITS] = length
        if algorithm in ALGORITHM_PARAMETER_SETS:
            values[A.PARAMETER_SET] = ALGORITHM_PARAMETER_SETS[algorithm]
        domain = kmip.get(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS)
        curve = getattr(domain, "recommended_curve", None)
        if curve is None:
            curve = _EDWARDS_CURVES.get(algorithm)
        if curve in CURVE_PARAMS:
            values[A.EC_PARAMS] = CURVE_PARAMS[RecommendedCurve(curve)]
        if object_class is ObjectClass.PUBLIC_KEY:
            public_uid = uid
        else:
            for link in kmip.get_all(Tag.LINK):
                if isinstance(link, S.Link) and link.link_type == LinkType.PUBLIC_KEY_LINK:
                    public_uid = str(link.linked_object_identifier)
    mask = int(kmip.get(Tag.CRYPTOGRAPHIC_USAGE_MASK, 0))
    for attribute, bit in usage_bits(object_class).items():
        values[attribute] = bool(mask & bit)
    if object_class is not ObjectClass.PUBLIC_KEY:
        values[A.SENSITIVE] = bool(kmip.get(Tag.SENSITIVE, False))
        values[A.EXTRACTABLE] = bool(kmip.get(Tag.EXTRACTABLE, True))
        # A key imported through C_CreateObject was known outside the token (§4.9: not "always sensitive").
        local = bool(values[A.LOCAL])
        values[A.ALWAYS_SENSITIVE] = local and bool(kmip.get(Tag.ALWAYS_SENSITIVE, False))
        values[A.NEVER_EXTRACTABLE] = local and bool(kmip.get(Tag.NEVER_EXTRACTABLE, False))
    return object_class, values, A.TOKEN in stored, public_uid


def _pairing_id(object_class: ObjectClass, uid: str, kmip: Attributes) -> bytes:
    """CKA_ID of an object made by a KMIP client (no stored CKA_ID): the uid of the private key it belongs to, so
    that applications pair a certificate with its keys by CKA_ID (systemd-cryptenroll, NSS, Java do)."""
    if object_class is not ObjectClass.PRIVATE_KEY:
        for link in kmip.get_all(Tag.LINK):
            if isinstance(link, S.Link) and link.link_type == LinkType.PRIVATE_KEY_LINK:
                return str(link.linked_object_identifier).encode()
    return uid.encode()


#: Storage kinds read from the object when asked for (no default in a view).
_READ = ("public", "value")
_EDWARDS_CURVES = {
    CryptographicAlgorithm.ED25519: RecommendedCurve.CURVEED25519,
    CryptographicAlgorithm.ED448: RecommendedCurve.CURVEED448,
}


#: The attributes a template may give for each class (those it has, less those set by the token only).
_SETTABLE = {
    object_class: frozenset(a for a in allowed if not ATTRIBUTES[a].token_only)
    for object_class, allowed in CLASS_ATTRIBUTES.items()
}


def check_template(
    template: dict[Attribute, Any],
    object_class: ObjectClass,
    *,
    forbidden: Iterable[Attribute] = (),
    check: Callable[[Attribute, Any], None] | None = None,
) -> None:
    """Refuse attributes the class lacks (CKR_ATTRIBUTE_TYPE_INVALID), token-only ones (CKR_ATTRIBUTE_READ_ONLY)
    and ``forbidden`` ones (CKR_TEMPLATE_INCONSISTENT, e.g. CKA_VALUE for C_GenerateKey)."""
    banned = set(forbidden)
    if check is None and template.keys() <= _SETTABLE[object_class] and banned.isdisjoint(template):
        return  # nothing to refuse; otherwise the first attribute refused, in template order, says why
    allowed = CLASS_ATTRIBUTES[object_class]
    for attribute, value in template.items():
        if attribute not in allowed:
            raise CkError(ReturnValue.ATTRIBUTE_TYPE_INVALID, f"{attribute.name} does not apply to {object_class.name}")
        if ATTRIBUTES[attribute].token_only:
            raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, f"{attribute.name} is set by the token")
        if attribute in banned:
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{attribute.name} cannot be given here")
        if check is not None:
            check(attribute, value)


__all__ = [
    "ALGORITHM_KEY_TYPES",
    "ATTRIBUTES",
    "ATTRIBUTE_TYPES",
    "CLASS_ATTRIBUTES",
    "CERTIFICATE_DERIVED",
    "CERTIFICATE_VALUES",
    "CLASS_OBJECT_TYPES",
    "CURVE_PARAMS",
    "DISK_ENCRYPTION_TAG",
    "DOMAIN_VALUES",
    "FINITE_FIELD_KEY_TYPES",
    "GENERATION_PARAMETERS",
    "KEY_TYPE_ALGORITHMS",
    "OBJECT_CLASSES",
    "PAIR_KEY_TYPES",
    "PAIR_USAGE_BITS",
    "PARAMETER_SETS",
    "PARAMS_CURVES",
    "USAGE_BITS",
    "VENDOR",
    "AttributeSpec",
    "Kind",
    "check_template",
    "default",
    "disk_encryption_tag_attribute",
    "kmip_attributes",
    "id_group",
    "label_group",
    "pack",
    "parse_template",
    "unpack",
    "usage_bits",
    "user_tags",
    "vendor_attribute",
    "vendor_values",
    "view_values",
]
