"""What every mechanism row is made of (STYLE rule 14): its CK_MECHANISM_INFO, the C layout of its parameter, and
the plans that turn it into KMIP fields. The family modules (``aes``, ``rsa``, ...) fill these in; ``_table``
gathers them.

C parameter layouts are declared here as data (member name, C type, what it becomes in Python), not as C
declarations beside Python readers: the shim reads any of them with one generic function, the foreign-host
forwarding derives its serialisation from the same declaration, and a test checks each layout against gcc.
Linux LP64 layout: CK_ULONG and pointers are 8 bytes, naturally aligned (PKCS#11 3.0 §3: no packing on Unix).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import DerivationMethod, HashingAlgorithm, ObjectType

from ..constants import Attribute, KeyType, MaskGenerationFunction, Mechanism, MechanismFlag, ReturnValue
from ..errors import CkError

M = Mechanism
F = MechanismFlag


# -- mechanism parameters ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StructParameter:
    """Base of every structured mechanism parameter, as the shim reads it out of C memory."""


#: What C_*Init received as pParameter: nothing, a byte string (IVs, peer values) or a structure.
MechanismParameter = bytes | StructParameter | None


@dataclass(frozen=True, slots=True)
class CField:
    """One member of a C parameter structure."""

    #: The member's name in the PKCS#11 header (``pIv``).
    name: str
    #: Its C type in the header (``CK_BYTE_PTR``).
    ctype: str
    #: Its ``struct`` module code in native mode: ``L`` (CK_ULONG), ``P`` (a pointer), ``16s`` (CK_BYTE[16]).
    code: str
    #: The keyword of the Python parameter it fills; None for members the provider ignores (``ulIvBits``).
    into: str | None = None
    #: For a pointer to bytes: the member holding their length.
    length: str | None = None
    #: For a byte array: its size.
    size: int = 0


def ulong(name: str, into: str | None = None, ctype: str = "CK_ULONG") -> CField:
    """A CK_ULONG member (or any CK_ULONG typedef: CK_MECHANISM_TYPE, CK_EC_KDF_TYPE...)."""
    return CField(name, ctype, "L", into)


def pointer(name: str, length: str, into: str | None, ctype: str = "CK_BYTE_PTR") -> CField:
    """A pointer to ``length`` bytes (read as ``bytes``; NULL with a length of 0 is ``b""``)."""
    return CField(name, ctype, "P", into, length=length)


def array(name: str, size: int, into: str | None) -> CField:
    """A CK_BYTE[size] member, read as ``bytes``."""
    return CField(name, "CK_BYTE", f"{size}s", into, size=size)


#: Reads ``length`` bytes at a C address (the shim supplies it; CKR_ARGUMENTS_BAD for NULL with a length).
Reader = Callable[[int, int], bytes]


class CStruct:
    """A C parameter structure: its members in header order and the Python value it becomes."""

    __slots__ = ("_fill", "_struct", "build", "fields", "name", "size", "typedef")

    def __init__(
        self, name: str, build: Callable[..., StructParameter], *fields: CField, typedef: str | None = None
    ) -> None:
        """``typedef``: the C type a one-member "structure" really is (CK_MAC_GENERAL_PARAMS is a CK_ULONG)."""
        self.name = name
        self.build = build
        self.fields = fields
        self.typedef = typedef
        codes = "".join(f.code for f in fields)
        # "0P" pads the end to pointer alignment, as C does for a structure holding a CK_ULONG or a pointer.
        tail = "0P" if any(f.code in ("L", "P") for f in fields) else ""
        self._struct = struct.Struct("@" + codes + tail)
        self.size = self._struct.size
        position = {f.name: i for i, f in enumerate(fields)}
        self._fill = tuple(
            (f.into, position[f.name], position[f.length] if f.length else -1) for f in fields if f.into is not None
        )

    def read(self, raw: bytes, deref: Reader) -> StructParameter:
        """The Python parameter from the structure's ``size`` bytes; pointers are followed with ``deref``."""
        values = self._struct.unpack(raw)
        kwargs: dict[str, Any] = {}
        for into, index, length in self._fill:
            kwargs[into] = deref(values[index], values[length]) if length >= 0 else values[index]
        return self.build(**kwargs)

    def offsets(self) -> dict[str, int]:
        """Each member's byte offset (what ``offsetof`` gives in C)."""
        out, fmt = {}, "@"
        for f in self.fields:
            out[f.name] = struct.calcsize(fmt + "0" + f.code[-1]) if f.code in ("L", "P") else struct.calcsize(fmt)
            fmt += f.code
        return out

    def declaration(self) -> str:
        """The C declaration of the structure, as in the PKCS#11 header."""
        if self.typedef is not None:
            return f"typedef {self.typedef} {self.name};"
        members = "".join(
            f"    {f.ctype} {f.name}[{f.size}];\n" if f.size else f"    {f.ctype} {f.name};\n" for f in self.fields
        )
        return f"typedef struct {self.name} {{\n{members}}} {self.name};"


@dataclass(frozen=True, slots=True)
class MacGeneralParams(StructParameter):
    """CK_MAC_GENERAL_PARAMS (Current Mechanisms 3.0 §2.14.x, §2.16.x): the MAC length in bytes."""

    length: int


MAC_GENERAL_PARAMS = CStruct("CK_MAC_GENERAL_PARAMS", MacGeneralParams, ulong("value", "length"), typedef="CK_ULONG")


# -- plans -------------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CipherPlan:
    """A cipher mechanism as KMIP Encrypt/Decrypt fields; ``tag_length`` bytes of AEAD tag follow the ciphertext.
    Not changed once built (not frozen only because frozen construction costs a microsecond per C_EncryptInit)."""

    parameters: S.CryptographicParameters
    iv: bytes | None = None
    aad: bytes | None = None
    tag_length: int = 0
    #: Block size for the output-length rules of multi-part operations (0: a stream or one-shot cipher).
    block: int = 0
    #: Only single-part calls (RSA; §5.8: multi-part RSA is not defined).
    single_part: bool = False


@dataclass(frozen=True, slots=True)
class SignaturePlan:
    """A signing mechanism as KMIP Sign/Signature Verify (or MAC/MAC Verify) fields."""

    parameters: S.CryptographicParameters
    #: hashlib name: the provider hashes the data and the KMS signs the digest.
    hash_name: str | None = None
    #: The data given is itself the digest (RSA_PKCS_PSS, ECDSA; RSA_PKCS: a DigestInfo, or bytes signed raw).
    digested: bool = False
    ecdsa: bool = False
    #: DSA: r ‖ s of the subprime's size here, DER Dss-Sig-Value on the KMIP side (as ECDSA with the curve's size).
    dsa: bool = False
    mac: bool = False
    #: Only single-part calls (§5.11 for raw RSA and ECDSA).
    single_part: bool = False
    #: MACs: the leading bytes handed out (general-length mechanisms, CKM_AES_MAC); 0 for the whole MAC.
    mac_length: int = 0


@dataclass(frozen=True, slots=True)
class DerivePlan:
    """A derivation mechanism as KMIP Derive Key fields, for a given base key."""

    method: DerivationMethod
    parameters: S.DerivationParameters
    #: The most bytes the derivation gives (the shared secret's or the encrypted data's length).
    max_length: int
    #: The length of a derived generic secret whose template has no CKA_VALUE_LEN (0: CKA_VALUE_LEN required).
    default_length: int = 0
    #: What a CKA_VALUE_LEN over ``max_length`` is: the template's fault, or the parameter's (data too short).
    too_long: ReturnValue = ReturnValue.ATTRIBUTE_VALUE_INVALID


CipherPlanner = Callable[[MechanismParameter], CipherPlan]
SignaturePlanner = Callable[[MechanismParameter], SignaturePlan]
WrapPlanner = Callable[[MechanismParameter], S.CryptographicParameters]
#: (parameter, the base key's PKCS#11 attributes) → the Derive Key fields.
DerivePlanner = Callable[[MechanismParameter, Mapping[Attribute, Any]], DerivePlan]


@dataclass(frozen=True, slots=True)
class MechanismSpec:
    """One mechanism: CK_MECHANISM_INFO (PKCS#11 3.0 §3.6), the C layout of its parameter, and how it maps to KMIP."""

    min_key_size: int
    max_key_size: int
    flags: MechanismFlag
    #: For key generation: the key type made and the KMIP Object Type created.
    key_type: KeyType | None = None
    object_type: ObjectType | None = None
    #: For key generation: the fixed key length in bytes (DES2, DES3); 0: CKA_VALUE_LEN decides.
    key_bytes: int = 0
    #: The key types the mechanism works with (CKR_KEY_TYPE_INCONSISTENT otherwise); empty: no key.
    key_types: frozenset[KeyType] = frozenset()
    #: hashlib name of the digest computed here (digests, and hash-then-sign mechanisms).
    hash_name: str | None = None
    #: The C layouts pParameter may have, told apart by ulParameterLen; empty: none, or plain bytes.
    parameter: tuple[CStruct, ...] = ()
    #: C_EncryptInit / C_DecryptInit: the KMIP Encrypt/Decrypt fields.
    cipher: CipherPlanner | None = None
    #: C_SignInit / C_VerifyInit: the KMIP Sign/Signature Verify or MAC/MAC Verify fields.
    signature: SignaturePlanner | None = None
    #: C_WrapKey / C_UnwrapKey: the Cryptographic Parameters of the Key Wrapping Specification.
    wrap: WrapPlanner | None = None
    #: C_DeriveKey: the KMIP Derive Key fields.
    derive: DerivePlanner | None = None


def invalid(message: str) -> CkError:
    """CKR_MECHANISM_PARAM_INVALID."""
    return CkError(ReturnValue.MECHANISM_PARAM_INVALID, message)


def mac_length(kind: Mechanism, parameter: MechanismParameter, full: int) -> int:
    """The MAC length of a general-length mechanism: 1 to ``full`` bytes from CK_MAC_GENERAL_PARAMS."""
    if not isinstance(parameter, MacGeneralParams) or not 1 <= parameter.length <= full:
        raise invalid(f"{kind.name} takes CK_MAC_GENERAL_PARAMS of 1 to {full} bytes")
    return parameter.length


def no_parameter(kind: Mechanism, parameter: MechanismParameter, what: str = "") -> None:
    """Refuse a parameter given to a mechanism that takes none."""
    if parameter:
        raise invalid(f"{kind.name} takes no parameter{what}")


# -- hashes shared by several families ---------------------------------------------------------------------------------
#: hashlib names ⇄ KMIP Hashing Algorithm, and the CKM digest mechanisms that name them in parameters.
HASHES: dict[str, HashingAlgorithm] = {
    "sha1": HashingAlgorithm.SHA_1,
    "sha224": HashingAlgorithm.SHA_224,
    "sha256": HashingAlgorithm.SHA_256,
    "sha384": HashingAlgorithm.SHA_384,
    "sha512": HashingAlgorithm.SHA_512,
}
DIGEST_MECHANISMS: dict[int, str] = {
    M.SHA_1: "sha1",
    M.SHA224: "sha224",
    M.SHA256: "sha256",
    M.SHA384: "sha384",
    M.SHA512: "sha512",
}
MGF_HASHES: dict[int, str] = {
    MaskGenerationFunction.MGF1_SHA1: "sha1",
    MaskGenerationFunction.MGF1_SHA224: "sha224",
    MaskGenerationFunction.MGF1_SHA256: "sha256",
    MaskGenerationFunction.MGF1_SHA384: "sha384",
    MaskGenerationFunction.MGF1_SHA512: "sha512",
}

CIPHER = F.ENCRYPT | F.DECRYPT
SIGN = F.SIGN | F.VERIFY
WRAP = F.WRAP | F.UNWRAP

__all__ = [
    "CIPHER",
    "MAC_GENERAL_PARAMS",
    "DIGEST_MECHANISMS",
    "HASHES",
    "MGF_HASHES",
    "SIGN",
    "WRAP",
    "CField",
    "CStruct",
    "CipherPlan",
    "CipherPlanner",
    "DerivePlan",
    "DerivePlanner",
    "MacGeneralParams",
    "MechanismParameter",
    "MechanismSpec",
    "Reader",
    "SignaturePlan",
    "SignaturePlanner",
    "StructParameter",
    "WrapPlanner",
    "array",
    "invalid",
    "mac_length",
    "no_parameter",
    "pointer",
    "ulong",
]
