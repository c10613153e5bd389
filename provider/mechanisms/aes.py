"""The AES family (PKCS#11 Current Mechanisms 3.0 §2.14-2.15, §2.20 key wrap).

| CKM                              | KMIP                                                                        |
|----------------------------------|-----------------------------------------------------------------------------|
| AES_KEY_GEN                      | Create, Symmetric Key, AES                                                  |
| AES_ECB / AES_CBC / AES_CBC_PAD  | Encrypt/Decrypt, AES, Block Cipher Mode ECB/CBC, Padding None/None/PKCS5    |
| AES_CTR                          | CTR, IV/Counter/Nonce = the 16-byte counter block                           |
| AES_GCM                          | GCM, IV, Additional Data, Tag Length = ulTagBits/8; the tag follows the     |
|                                  | ciphertext on the PKCS#11 side, travels in its own field on the KMIP side   |
| AES_KEY_WRAP / _KWP (_PAD)       | Get / Register with Key Wrapping: NISTKeyWrap / AESKeyWrapPadding           |
| AES_CMAC (_GENERAL)              | MAC / MAC Verify, AES (CMAC); _GENERAL: cut to CK_MAC_GENERAL_PARAMS bytes  |
| AES_MAC (_GENERAL)               | MAC, AES with Block Cipher Mode CBC (CBC-MAC); AES_MAC: 8 bytes (half block)|
| AES_ECB/CBC_ENCRYPT_DATA         | Derive Key, Derivation Method Encrypt: the data encrypted under the base    |
|                                  | key in ECB, or CBC with the given IV, no padding; the key is its first bytes|
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DerivationMethod,
    ObjectType,
    PaddingMethod,
)

from ..constants import Attribute, KeyType, Mechanism, MechanismFlag, ReturnValue
from ._base import (
    CIPHER,
    MAC_GENERAL_PARAMS,
    SIGN,
    WRAP,
    CipherPlan,
    CipherPlanner,
    CStruct,
    DerivePlan,
    DerivePlanner,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    SignaturePlanner,
    StructParameter,
    WrapPlanner,
    array,
    invalid,
    mac_length,
    no_parameter,
    pointer,
    ulong,
)

M = Mechanism
F = MechanismFlag


@dataclass(frozen=True, slots=True)
class GcmParams(StructParameter):
    """CK_GCM_PARAMS (§2.14.3)."""

    iv: bytes
    aad: bytes
    tag_bits: int


@dataclass(frozen=True, slots=True)
class CtrParams(StructParameter):
    """CK_AES_CTR_PARAMS (§2.14.3)."""

    counter_bits: int
    counter_block: bytes


GCM_PARAMS = CStruct(
    "CK_GCM_PARAMS",
    GcmParams,
    pointer("pIv", "ulIvLen", "iv"),
    ulong("ulIvLen"),
    ulong("ulIvBits"),
    pointer("pAAD", "ulAADLen", "aad"),
    ulong("ulAADLen"),
    ulong("ulTagBits", "tag_bits"),
)
#: The 2.40 header's CK_GCM_PARAMS (no ulIvBits), still what many applications are compiled against.
GCM_PARAMS_V240 = CStruct(
    "CK_GCM_PARAMS_V240",
    GcmParams,
    pointer("pIv", "ulIvLen", "iv"),
    ulong("ulIvLen"),
    pointer("pAAD", "ulAADLen", "aad"),
    ulong("ulAADLen"),
    ulong("ulTagBits", "tag_bits"),
)


@dataclass(frozen=True, slots=True)
class KeyDerivationStringData(StructParameter):
    """CK_KEY_DERIVATION_STRING_DATA (§2.43.x): the data CKM_AES_ECB_ENCRYPT_DATA encrypts."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CbcEncryptDataParams(StructParameter):
    """CK_AES_CBC_ENCRYPT_DATA_PARAMS (§2.15.x)."""

    iv: bytes
    data: bytes


KEY_DERIVATION_STRING_DATA = CStruct(
    "CK_KEY_DERIVATION_STRING_DATA",
    KeyDerivationStringData,
    pointer("pData", "ulLen", "data"),
    ulong("ulLen"),
)
CBC_ENCRYPT_DATA_PARAMS = CStruct(
    "CK_AES_CBC_ENCRYPT_DATA_PARAMS",
    CbcEncryptDataParams,
    array("iv", 16, "iv"),
    pointer("pData", "length", "data"),
    ulong("length"),
)
CTR_PARAMS = CStruct(
    "CK_AES_CTR_PARAMS", CtrParams, ulong("ulCounterBits", "counter_bits"), array("cb", 16, "counter_block")
)

_AES = CryptographicAlgorithm.AES
_NO_PADDING = PaddingMethod.NONE
# The KMIP parameters of each fixed-parameter mechanism, built once (not per C_*Init) and never changed.
_ECB = S.CryptographicParameters(
    cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.ECB, padding_method=_NO_PADDING
)
_CBC = S.CryptographicParameters(
    cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.CBC, padding_method=_NO_PADDING
)
_CBC_PAD = S.CryptographicParameters(
    cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5
)
_CTR = S.CryptographicParameters(cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.CTR)
_GCM = {
    tag: S.CryptographicParameters(cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.GCM, tag_length=tag)
    for tag in range(12, 17)
}


def _cbc(parameters: S.CryptographicParameters) -> CipherPlanner:
    def plan(parameter: MechanismParameter) -> CipherPlan:
        if type(parameter) is not bytes or len(parameter) != 16:
            raise invalid("AES-CBC takes a 16-byte IV")
        return CipherPlan(parameters, iv=parameter, block=16)

    return plan


def _ecb(parameter: MechanismParameter) -> CipherPlan:
    no_parameter(M.AES_ECB, parameter)
    return CipherPlan(_ECB, block=16)


def _ctr(parameter: MechanismParameter) -> CipherPlan:
    if not isinstance(parameter, CtrParams) or not 0 < parameter.counter_bits <= 128:
        raise invalid("AES-CTR takes CK_AES_CTR_PARAMS with 1 to 128 counter bits")
    return CipherPlan(_CTR, iv=parameter.counter_block)


def _gcm(parameter: MechanismParameter) -> CipherPlan:
    if not isinstance(parameter, GcmParams) or not parameter.iv:
        raise invalid("AES-GCM takes CK_GCM_PARAMS with an IV")
    if parameter.tag_bits % 8 or not 96 <= parameter.tag_bits <= 128:
        raise invalid("AES-GCM tags are 96 to 128 bits, in whole bytes")
    tag = parameter.tag_bits // 8
    return CipherPlan(_GCM[tag], iv=parameter.iv, aad=parameter.aad or None, tag_length=tag)


def _key_wrap(kind: Mechanism, mode: BlockCipherMode) -> WrapPlanner:
    parameters = S.CryptographicParameters(cryptographic_algorithm=_AES, block_cipher_mode=mode)

    def plan(parameter: MechanismParameter) -> S.CryptographicParameters:
        # The default IVs of RFC 3394 / RFC 5649 only; a custom IV cannot be expressed in KMIP key wrapping.
        no_parameter(kind, parameter, " (the standard IV)")
        return parameters

    return plan


_CMAC = S.CryptographicParameters(cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.CMAC)
_CBC_MAC = S.CryptographicParameters(cryptographic_algorithm=_AES, block_cipher_mode=BlockCipherMode.CBC)


def _mac(kind: Mechanism, parameters: S.CryptographicParameters, fixed_length: int | None) -> SignaturePlanner:
    """A MAC of ``fixed_length`` bytes (0: the whole block), or of the length CK_MAC_GENERAL_PARAMS gives (None)."""

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        if fixed_length is None:
            return SignaturePlan(parameters, mac=True, mac_length=mac_length(kind, parameter, 16))
        no_parameter(kind, parameter)
        return SignaturePlan(parameters, mac=True, mac_length=fixed_length)

    return plan


def _encrypt_data(kind: Mechanism, mode: BlockCipherMode) -> DerivePlanner:
    """§2.15: the derived key is the leading bytes of the data encrypted under the base key (no padding)."""
    parameters = S.CryptographicParameters(
        cryptographic_algorithm=_AES, block_cipher_mode=mode, padding_method=_NO_PADDING
    )
    takes = CBC_ENCRYPT_DATA_PARAMS if mode == BlockCipherMode.CBC else KEY_DERIVATION_STRING_DATA

    def plan(parameter: MechanismParameter, _base: Mapping[Attribute, Any]) -> DerivePlan:
        iv = None
        if isinstance(parameter, CbcEncryptDataParams) and mode == BlockCipherMode.CBC:
            iv, data = parameter.iv, parameter.data
        elif isinstance(parameter, KeyDerivationStringData) and mode == BlockCipherMode.ECB:
            data = parameter.data
        else:
            raise invalid(f"{kind.name} takes {takes.name}")
        if not data or len(data) % 16:
            raise invalid(f"{kind.name} encrypts whole 16-byte blocks of data")
        derivation = S.DerivationParameters(
            cryptographic_parameters=parameters, initialization_vector=iv, derivation_data=[data]
        )
        return DerivePlan(
            DerivationMethod.ENCRYPT,
            derivation,
            max_length=len(data),
            default_length=len(data),
            too_long=ReturnValue.MECHANISM_PARAM_INVALID,
        )

    return plan


_KEYS = frozenset({KeyType.AES})


def _aes(
    flags: MechanismFlag,
    *,
    parameter: tuple[CStruct, ...] = (),
    cipher: CipherPlanner | None = None,
    wrap: WrapPlanner | None = None,
    signature: SignaturePlanner | None = None,
    derive: DerivePlanner | None = None,
) -> MechanismSpec:
    # Key sizes are in bytes for AES (§2.14.2).
    return MechanismSpec(
        16,
        32,
        flags,
        key_types=_KEYS,
        parameter=parameter,
        cipher=cipher,
        wrap=wrap,
        signature=signature,
        derive=derive,
    )


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.AES_KEY_GEN: MechanismSpec(16, 32, F.GENERATE, KeyType.AES, ObjectType.SYMMETRIC_KEY),
    M.AES_ECB: _aes(CIPHER, cipher=_ecb),
    M.AES_CBC: _aes(CIPHER, cipher=_cbc(_CBC)),
    M.AES_CBC_PAD: _aes(CIPHER, cipher=_cbc(_CBC_PAD)),
    M.AES_CTR: _aes(CIPHER, parameter=(CTR_PARAMS,), cipher=_ctr),
    M.AES_GCM: _aes(CIPHER, parameter=(GCM_PARAMS, GCM_PARAMS_V240), cipher=_gcm),
    M.AES_KEY_WRAP: _aes(WRAP, wrap=_key_wrap(M.AES_KEY_WRAP, BlockCipherMode.NISTKEYWRAP)),
    M.AES_KEY_WRAP_PAD: _aes(WRAP, wrap=_key_wrap(M.AES_KEY_WRAP_PAD, BlockCipherMode.AESKEYWRAPPADDING)),
    M.AES_KEY_WRAP_KWP: _aes(WRAP, wrap=_key_wrap(M.AES_KEY_WRAP_KWP, BlockCipherMode.AESKEYWRAPPADDING)),
    M.AES_CMAC: _aes(SIGN, signature=_mac(M.AES_CMAC, _CMAC, 0)),
    M.AES_CMAC_GENERAL: _aes(SIGN, parameter=(MAC_GENERAL_PARAMS,), signature=_mac(M.AES_CMAC_GENERAL, _CMAC, None)),
    # §2.14.x: CKM_AES_MAC always gives half a block.
    M.AES_MAC: _aes(SIGN, signature=_mac(M.AES_MAC, _CBC_MAC, 8)),
    M.AES_MAC_GENERAL: _aes(SIGN, parameter=(MAC_GENERAL_PARAMS,), signature=_mac(M.AES_MAC_GENERAL, _CBC_MAC, None)),
    M.AES_ECB_ENCRYPT_DATA: _aes(
        F.DERIVE,
        parameter=(KEY_DERIVATION_STRING_DATA,),
        derive=_encrypt_data(M.AES_ECB_ENCRYPT_DATA, BlockCipherMode.ECB),
    ),
    M.AES_CBC_ENCRYPT_DATA: _aes(
        F.DERIVE,
        parameter=(CBC_ENCRYPT_DATA_PARAMS,),
        derive=_encrypt_data(M.AES_CBC_ENCRYPT_DATA, BlockCipherMode.CBC),
    ),
}

__all__ = [
    "CBC_ENCRYPT_DATA_PARAMS",
    "CTR_PARAMS",
    "GCM_PARAMS",
    "GCM_PARAMS_V240",
    "KEY_DERIVATION_STRING_DATA",
    "MECHANISMS",
    "CbcEncryptDataParams",
    "CtrParams",
    "GcmParams",
    "KeyDerivationStringData",
]
