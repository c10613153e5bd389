"""The CKM table: what each mechanism the token offers does, its CK_MECHANISM_INFO, and the KMIP Cryptographic
Parameters it becomes (STYLE rule 5; PKCS#11 Current Mechanisms 3.0).

Only what is implemented is listed, so C_GetMechanismList never advertises a mechanism that fails. Mechanism
parameters arrive already read out of C by the shim, as the dataclasses below (``bytes`` for a plain IV).

| CKM                              | KMIP                                                                        |
|----------------------------------|-----------------------------------------------------------------------------|
| AES_ECB / AES_CBC / AES_CBC_PAD  | Encrypt/Decrypt, AES, Block Cipher Mode ECB/CBC, Padding None/None/PKCS5    |
| AES_CTR                          | CTR, IV/Counter/Nonce = the 16-byte counter block                           |
| AES_GCM                          | GCM, IV, Additional Data, Tag Length = ulTagBits/8; the tag follows the     |
|                                  | ciphertext on the PKCS#11 side, travels in its own field on the KMIP side   |
| AES_KEY_WRAP / _KWP (_PAD)       | Get / Register with Key Wrapping: NISTKeyWrap / AESKeyWrapPadding           |
| RSA_PKCS / RSA_PKCS_OAEP         | RSA, Padding PKCS1 v1.5 / OAEP (Hashing Algorithm, MGF1 hash, P Source)     |
| RSA_PKCS_PSS, SHA*_RSA_PKCS(_PSS)| Sign/Signature Verify of Digested Data: Padding PSS or PKCS1 v1.5, Hashing  |
|                                  | Algorithm, Salt Length, MGF1 hash (the provider hashes with hashlib)        |
| ECDSA, ECDSA_SHA*                | Sign/Signature Verify of Digested Data (DER ⇄ raw r‖s here)                 |
| EDDSA                            | Sign/Signature Verify of Data, Ed25519                                      |
| SHA*_HMAC                        | MAC / MAC Verify, Cryptographic Algorithm HMAC-SHA*                         |
| ECDH1_DERIVE                     | Derive Key, Asymmetric Key, Derivation Data = the peer's point (CKD_NULL)   |
| SHA_1 / SHA224..512              | computed here (no key involved)                                             |
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    HashingAlgorithm,
    MaskGenerator,
    ObjectType,
    PaddingMethod,
)

from .constants import (
    OAEP_SOURCE_DATA_SPECIFIED,
    KeyType,
    MaskGenerationFunction,
    Mechanism,
    MechanismFlag,
    ReturnValue,
)
from .errors import CkError

M = Mechanism
F = MechanismFlag


# -- mechanism parameters, as the shim reads them ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GcmParams:
    """CK_GCM_PARAMS (§2.14.3)."""

    iv: bytes
    aad: bytes
    tag_bits: int


@dataclass(frozen=True, slots=True)
class CtrParams:
    """CK_AES_CTR_PARAMS (§2.14.3)."""

    counter_bits: int
    counter_block: bytes


@dataclass(frozen=True, slots=True)
class OaepParams:
    """CK_RSA_PKCS_OAEP_PARAMS (§2.1.8)."""

    hash_mechanism: int
    mgf: int
    source: int
    source_data: bytes


@dataclass(frozen=True, slots=True)
class PssParams:
    """CK_RSA_PKCS_PSS_PARAMS (§2.1.11)."""

    hash_mechanism: int
    mgf: int
    salt_length: int


@dataclass(frozen=True, slots=True)
class Ecdh1Params:
    """CK_ECDH1_DERIVE_PARAMS (§2.3.15)."""

    kdf: int
    shared_data: bytes
    public_data: bytes


#: What C_*Init received as pParameter: nothing, a byte string (IVs) or one of the structures above.
MechanismParameter = bytes | GcmParams | CtrParams | OaepParams | PssParams | Ecdh1Params | None


# -- the table ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MechanismSpec:
    """CK_MECHANISM_INFO (PKCS#11 3.0 §3.6) and how the mechanism maps to KMIP."""

    min_key_size: int
    max_key_size: int
    flags: MechanismFlag
    #: For key generation: the key type made and the KMIP Object Type created.
    key_type: KeyType | None = None
    object_type: ObjectType | None = None
    #: The key types the mechanism works with (CKR_KEY_TYPE_INCONSISTENT otherwise); empty: no key.
    key_types: frozenset[KeyType] = frozenset()
    #: hashlib name of the digest computed here (digests, and hash-then-sign mechanisms).
    hash_name: str | None = None


_AES = frozenset({KeyType.AES})
_RSA = frozenset({KeyType.RSA})
_EC = frozenset({KeyType.EC})
_HMAC_KEYS = frozenset(
    {
        KeyType.GENERIC_SECRET,
        KeyType.SHA_1_HMAC,
        KeyType.SHA224_HMAC,
        KeyType.SHA256_HMAC,
        KeyType.SHA384_HMAC,
        KeyType.SHA512_HMAC,
    }
)
_CIPHER = F.ENCRYPT | F.DECRYPT
_SIGN = F.SIGN | F.VERIFY
_WRAP = F.WRAP | F.UNWRAP
_EC_FLAGS = F.EC_F_P | F.EC_NAMEDCURVE | F.EC_UNCOMPRESS


def _aes(flags: MechanismFlag) -> MechanismSpec:
    # Key sizes are in bytes for AES (§2.14.2).
    return MechanismSpec(16, 32, flags, key_types=_AES)


def _rsa(flags: MechanismFlag, hash_name: str | None = None) -> MechanismSpec:
    return MechanismSpec(1024, 4096, flags, key_types=_RSA, hash_name=hash_name)


def _ecdsa(hash_name: str | None = None) -> MechanismSpec:
    return MechanismSpec(256, 521, _SIGN | _EC_FLAGS, key_types=_EC, hash_name=hash_name)


def _digest(hash_name: str) -> MechanismSpec:
    return MechanismSpec(0, 0, F.DIGEST, hash_name=hash_name)


def _hmac(hash_name: str) -> MechanismSpec:
    # Key sizes in bytes, as for generic secrets' CKA_VALUE_LEN.
    return MechanismSpec(1, 1024, _SIGN, key_types=_HMAC_KEYS, hash_name=hash_name)


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.AES_KEY_GEN: MechanismSpec(16, 32, F.GENERATE, KeyType.AES, ObjectType.SYMMETRIC_KEY),
    # Generic secret sizes are in bits (§2.29.1).
    M.GENERIC_SECRET_KEY_GEN: MechanismSpec(8, 8192, F.GENERATE, KeyType.GENERIC_SECRET, ObjectType.SECRET_DATA),
    M.AES_ECB: _aes(_CIPHER),
    M.AES_CBC: _aes(_CIPHER),
    M.AES_CBC_PAD: _aes(_CIPHER),
    M.AES_CTR: _aes(_CIPHER),
    M.AES_GCM: _aes(_CIPHER),
    M.AES_KEY_WRAP: _aes(_WRAP),
    M.AES_KEY_WRAP_PAD: _aes(_WRAP),
    M.AES_KEY_WRAP_KWP: _aes(_WRAP),
    M.RSA_PKCS_KEY_PAIR_GEN: MechanismSpec(1024, 4096, F.GENERATE_KEY_PAIR, KeyType.RSA),
    M.RSA_PKCS: _rsa(_CIPHER | _SIGN),
    M.RSA_PKCS_OAEP: _rsa(_CIPHER | _WRAP),
    M.RSA_PKCS_PSS: _rsa(_SIGN),
    M.SHA1_RSA_PKCS: _rsa(_SIGN, "sha1"),
    M.SHA224_RSA_PKCS: _rsa(_SIGN, "sha224"),
    M.SHA256_RSA_PKCS: _rsa(_SIGN, "sha256"),
    M.SHA384_RSA_PKCS: _rsa(_SIGN, "sha384"),
    M.SHA512_RSA_PKCS: _rsa(_SIGN, "sha512"),
    M.SHA1_RSA_PKCS_PSS: _rsa(_SIGN, "sha1"),
    M.SHA224_RSA_PKCS_PSS: _rsa(_SIGN, "sha224"),
    M.SHA256_RSA_PKCS_PSS: _rsa(_SIGN, "sha256"),
    M.SHA384_RSA_PKCS_PSS: _rsa(_SIGN, "sha384"),
    M.SHA512_RSA_PKCS_PSS: _rsa(_SIGN, "sha512"),
    M.EC_KEY_PAIR_GEN: MechanismSpec(256, 521, F.GENERATE_KEY_PAIR | _EC_FLAGS, KeyType.EC),
    M.ECDSA: _ecdsa(),
    M.ECDSA_SHA1: _ecdsa("sha1"),
    M.ECDSA_SHA224: _ecdsa("sha224"),
    M.ECDSA_SHA256: _ecdsa("sha256"),
    M.ECDSA_SHA384: _ecdsa("sha384"),
    M.ECDSA_SHA512: _ecdsa("sha512"),
    M.ECDH1_DERIVE: MechanismSpec(256, 521, F.DERIVE | _EC_FLAGS, key_types=_EC),
    M.EC_EDWARDS_KEY_PAIR_GEN: MechanismSpec(255, 255, F.GENERATE_KEY_PAIR, KeyType.EC_EDWARDS),
    M.EDDSA: MechanismSpec(255, 255, _SIGN, key_types=frozenset({KeyType.EC_EDWARDS})),
    M.SHA_1: _digest("sha1"),
    M.SHA224: _digest("sha224"),
    M.SHA256: _digest("sha256"),
    M.SHA384: _digest("sha384"),
    M.SHA512: _digest("sha512"),
    M.SHA_1_HMAC: _hmac("sha1"),
    M.SHA224_HMAC: _hmac("sha224"),
    M.SHA256_HMAC: _hmac("sha256"),
    M.SHA384_HMAC: _hmac("sha384"),
    M.SHA512_HMAC: _hmac("sha512"),
}

#: hashlib names ⇄ KMIP Hashing Algorithm, and the CKM digest mechanisms that name them in parameters.
HASHES: dict[str, HashingAlgorithm] = {
    "sha1": HashingAlgorithm.SHA_1,
    "sha224": HashingAlgorithm.SHA_224,
    "sha256": HashingAlgorithm.SHA_256,
    "sha384": HashingAlgorithm.SHA_384,
    "sha512": HashingAlgorithm.SHA_512,
}
DIGEST_MECHANISMS: dict[int, str] = {M.SHA_1: "sha1", M.SHA224: "sha224", M.SHA256: "sha256", M.SHA384: "sha384"}
DIGEST_MECHANISMS[M.SHA512] = "sha512"
MGF_HASHES: dict[int, str] = {
    MaskGenerationFunction.MGF1_SHA1: "sha1",
    MaskGenerationFunction.MGF1_SHA224: "sha224",
    MaskGenerationFunction.MGF1_SHA256: "sha256",
    MaskGenerationFunction.MGF1_SHA384: "sha384",
    MaskGenerationFunction.MGF1_SHA512: "sha512",
}
HMAC_ALGORITHMS: dict[Mechanism, CryptographicAlgorithm] = {
    M.SHA_1_HMAC: CryptographicAlgorithm.HMAC_SHA1,
    M.SHA224_HMAC: CryptographicAlgorithm.HMAC_SHA224,
    M.SHA256_HMAC: CryptographicAlgorithm.HMAC_SHA256,
    M.SHA384_HMAC: CryptographicAlgorithm.HMAC_SHA384,
    M.SHA512_HMAC: CryptographicAlgorithm.HMAC_SHA512,
}
_PSS_MECHANISMS = frozenset(
    {
        M.RSA_PKCS_PSS,
        M.SHA1_RSA_PKCS_PSS,
        M.SHA224_RSA_PKCS_PSS,
        M.SHA256_RSA_PKCS_PSS,
        M.SHA384_RSA_PKCS_PSS,
        M.SHA512_RSA_PKCS_PSS,
    }
)
_ECDSA_MECHANISMS = frozenset({M.ECDSA, M.ECDSA_SHA1, M.ECDSA_SHA224, M.ECDSA_SHA256, M.ECDSA_SHA384, M.ECDSA_SHA512})


_LOOKED_UP: dict[tuple[int, int], tuple[Mechanism, MechanismSpec]] = {}


def lookup(mechanism: int, flag: MechanismFlag) -> tuple[Mechanism, MechanismSpec]:
    """The mechanism and its row, if it is offered for ``flag`` (CKR_MECHANISM_INVALID otherwise)."""
    found = _LOOKED_UP.get((mechanism, flag))
    if found is not None:
        return found
    try:
        kind = Mechanism(mechanism)
        spec = MECHANISMS[kind]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.MECHANISM_INVALID, f"mechanism 0x{mechanism:x} is not supported") from None
    if not spec.flags & flag:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} cannot be used for {flag.name}")
    _LOOKED_UP[mechanism, flag] = kind, spec  # only offered mechanisms: a bounded table
    return kind, spec


def _invalid(message: str) -> CkError:
    return CkError(ReturnValue.MECHANISM_PARAM_INVALID, message)


# -- ciphers -----------------------------------------------------------------------------------------------------------
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


_NO_PADDING = PaddingMethod.NONE
_AES_ALGORITHM = CryptographicAlgorithm.AES
# The KMIP parameters of each fixed-parameter mechanism, built once (not per C_*Init) and never changed.
_ECB = S.CryptographicParameters(
    cryptographic_algorithm=_AES_ALGORITHM, block_cipher_mode=BlockCipherMode.ECB, padding_method=_NO_PADDING
)
_CBC = S.CryptographicParameters(
    cryptographic_algorithm=_AES_ALGORITHM, block_cipher_mode=BlockCipherMode.CBC, padding_method=_NO_PADDING
)
_CBC_PAD = S.CryptographicParameters(
    cryptographic_algorithm=_AES_ALGORITHM, block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5
)
_CTR = S.CryptographicParameters(cryptographic_algorithm=_AES_ALGORITHM, block_cipher_mode=BlockCipherMode.CTR)
_GCM = {
    tag: S.CryptographicParameters(
        cryptographic_algorithm=_AES_ALGORITHM, block_cipher_mode=BlockCipherMode.GCM, tag_length=tag
    )
    for tag in range(12, 17)
}
_RSA_PKCS = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.RSA, padding_method=PaddingMethod.PKCS1_V1_5
)


def cipher_plan(kind: Mechanism, parameter: MechanismParameter) -> CipherPlan:
    """The KMIP view of a cipher mechanism and its parameter (CKR_MECHANISM_PARAM_INVALID for a bad one)."""
    if kind is M.AES_CBC_PAD or kind is M.AES_CBC:
        if type(parameter) is not bytes or len(parameter) != 16:
            raise _invalid("AES-CBC takes a 16-byte IV")
        return CipherPlan(_CBC_PAD if kind is M.AES_CBC_PAD else _CBC, iv=parameter, block=16)
    if kind is M.AES_ECB:
        if parameter:
            raise _invalid("AES-ECB takes no parameter")
        return CipherPlan(_ECB, block=16)
    if kind is M.AES_CTR:
        if not isinstance(parameter, CtrParams) or not 0 < parameter.counter_bits <= 128:
            raise _invalid("AES-CTR takes CK_AES_CTR_PARAMS with 1 to 128 counter bits")
        return CipherPlan(_CTR, iv=parameter.counter_block)
    if kind is M.AES_GCM:
        if not isinstance(parameter, GcmParams) or not parameter.iv:
            raise _invalid("AES-GCM takes CK_GCM_PARAMS with an IV")
        if parameter.tag_bits % 8 or not 96 <= parameter.tag_bits <= 128:
            raise _invalid("AES-GCM tags are 96 to 128 bits, in whole bytes")
        tag = parameter.tag_bits // 8
        return CipherPlan(_GCM[tag], iv=parameter.iv, aad=parameter.aad or None, tag_length=tag)
    if kind is M.RSA_PKCS:
        if parameter:
            raise _invalid("RSA-PKCS takes no parameter")
        return CipherPlan(_RSA_PKCS, single_part=True)
    if kind is M.RSA_PKCS_OAEP:
        return CipherPlan(oaep_parameters(parameter), single_part=True)
    raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} is not a cipher")


def oaep_parameters(parameter: MechanismParameter) -> S.CryptographicParameters:
    """CK_RSA_PKCS_OAEP_PARAMS as KMIP parameters (SHA-1/224/256/384/512; the label as P Source)."""
    if not isinstance(parameter, OaepParams):
        raise _invalid("RSA-OAEP takes CK_RSA_PKCS_OAEP_PARAMS")
    hash_name = DIGEST_MECHANISMS.get(parameter.hash_mechanism)
    mgf_name = MGF_HASHES.get(parameter.mgf)
    if hash_name is None or mgf_name is None:
        raise _invalid("unsupported OAEP hash or MGF")
    # source 0 with no label is what many applications send; the spec names only CKZ_DATA_SPECIFIED.
    if parameter.source not in (0, OAEP_SOURCE_DATA_SPECIFIED) or (parameter.source == 0 and parameter.source_data):
        raise _invalid("OAEP encoding parameters must be CKZ_DATA_SPECIFIED")
    return S.CryptographicParameters(
        cryptographic_algorithm=CryptographicAlgorithm.RSA,
        padding_method=PaddingMethod.OAEP,
        hashing_algorithm=HASHES[hash_name],
        mask_generator=MaskGenerator.MGF1,
        mask_generator_hashing_algorithm=HASHES[mgf_name],
        p_source=parameter.source_data or None,
    )


# -- signatures and MACs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignaturePlan:
    """A signing mechanism as KMIP Sign/Signature Verify (or MAC/MAC Verify) fields."""

    parameters: S.CryptographicParameters
    #: hashlib name: the provider hashes the data and the KMS signs the digest.
    hash_name: str | None = None
    #: The data given is itself the digest (RSA_PKCS_PSS, ECDSA; RSA_PKCS: a DigestInfo, or bytes signed raw).
    digested: bool = False
    ecdsa: bool = False
    mac: bool = False
    #: Only single-part calls (§5.11 for raw RSA and ECDSA).
    single_part: bool = False


def signature_plan(kind: Mechanism, spec: MechanismSpec, parameter: MechanismParameter) -> SignaturePlan:
    """The KMIP view of a signature or MAC mechanism and its parameter."""
    if kind in HMAC_ALGORITHMS:
        if parameter:
            raise _invalid(f"{kind.name} takes no parameter")
        return SignaturePlan(S.CryptographicParameters(cryptographic_algorithm=HMAC_ALGORITHMS[kind]), mac=True)
    if kind is M.EDDSA:
        if parameter:
            raise _invalid("only Ed25519 without context (no CK_EDDSA_PARAMS) is supported")
        return SignaturePlan(S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.ED25519))
    if kind in _ECDSA_MECHANISMS:
        if parameter:
            raise _invalid(f"{kind.name} takes no parameter")
        cp = S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.EC)
        if spec.hash_name is None:
            return SignaturePlan(cp, digested=True, ecdsa=True, single_part=True)
        return SignaturePlan(cp, hash_name=spec.hash_name, ecdsa=True)
    rsa = CryptographicAlgorithm.RSA
    if kind is M.RSA_PKCS:
        if parameter:
            raise _invalid("RSA-PKCS takes no parameter")
        cp = S.CryptographicParameters(cryptographic_algorithm=rsa, padding_method=PaddingMethod.PKCS1_V1_5)
        return SignaturePlan(cp, digested=True, single_part=True)
    if kind in _PSS_MECHANISMS:
        if not isinstance(parameter, PssParams):
            raise _invalid(f"{kind.name} takes CK_RSA_PKCS_PSS_PARAMS")
        hash_name = DIGEST_MECHANISMS.get(parameter.hash_mechanism)
        mgf_name = MGF_HASHES.get(parameter.mgf)
        if hash_name is None or mgf_name is None or (spec.hash_name and spec.hash_name != hash_name):
            raise _invalid("unsupported or inconsistent PSS hash or MGF")
        cp = S.CryptographicParameters(
            cryptographic_algorithm=rsa,
            padding_method=PaddingMethod.PSS,
            hashing_algorithm=HASHES[hash_name],
            mask_generator=MaskGenerator.MGF1,
            mask_generator_hashing_algorithm=HASHES[mgf_name],
            salt_length=parameter.salt_length,
        )
        if spec.hash_name is None:
            return SignaturePlan(cp, hash_name=None, digested=True, single_part=True)
        return SignaturePlan(cp, hash_name=hash_name)
    if spec.hash_name is not None and spec.key_types == _RSA:
        if parameter:
            raise _invalid(f"{kind.name} takes no parameter")
        cp = S.CryptographicParameters(
            cryptographic_algorithm=rsa,
            padding_method=PaddingMethod.PKCS1_V1_5,
            hashing_algorithm=HASHES[spec.hash_name],
        )
        return SignaturePlan(cp, hash_name=spec.hash_name)
    raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not sign")


# -- key wrapping ------------------------------------------------------------------------------------------------------
def wrap_parameters(kind: Mechanism, parameter: MechanismParameter) -> S.CryptographicParameters:
    """The Cryptographic Parameters of the Key Wrapping Specification / Key Wrapping Data for a wrap mechanism."""
    if kind is M.RSA_PKCS_OAEP:
        return oaep_parameters(parameter)
    if parameter:
        # The default IVs of RFC 3394 / RFC 5649 only; a custom IV cannot be expressed in KMIP key wrapping.
        raise _invalid(f"{kind.name} takes no parameter (the standard IV)")
    mode = BlockCipherMode.NISTKEYWRAP if kind is M.AES_KEY_WRAP else BlockCipherMode.AESKEYWRAPPADDING
    return S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.AES, block_cipher_mode=mode)


__all__ = [
    "DIGEST_MECHANISMS",
    "HASHES",
    "HMAC_ALGORITHMS",
    "MECHANISMS",
    "MGF_HASHES",
    "CipherPlan",
    "CtrParams",
    "Ecdh1Params",
    "GcmParams",
    "MechanismParameter",
    "MechanismSpec",
    "OaepParams",
    "PssParams",
    "SignaturePlan",
    "cipher_plan",
    "lookup",
    "oaep_parameters",
    "signature_plan",
    "wrap_parameters",
]
