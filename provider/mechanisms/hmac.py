"""Generic secrets and HMAC (PKCS#11 Current Mechanisms 3.0 §2.29 generic secret key generation; §2.16-2.18
SHA*_HMAC): MAC / MAC Verify with Cryptographic Algorithm HMAC-SHA*, the key never leaving the KMS.

| CKM                     | KMIP                                                          |
|-------------------------|---------------------------------------------------------------|
| GENERIC_SECRET_KEY_GEN  | Create, Secret Data                                           |
| SHA*_HMAC               | MAC / MAC Verify, Cryptographic Algorithm HMAC-SHA*           |
| SHA*_HMAC_GENERAL       | the same, the MAC cut to CK_MAC_GENERAL_PARAMS bytes here     |
"""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType

from ..constants import KeyType, Mechanism, MechanismFlag
from ._base import (
    MAC_GENERAL_PARAMS,
    SIGN,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    SignaturePlanner,
    mac_length,
    no_parameter,
)

M = Mechanism
F = MechanismFlag

#: The key types HMAC takes: generic secrets and the HMAC key types of 2.40.
HMAC_KEYS = frozenset(
    {
        KeyType.GENERIC_SECRET,
        KeyType.SHA_1_HMAC,
        KeyType.SHA224_HMAC,
        KeyType.SHA256_HMAC,
        KeyType.SHA384_HMAC,
        KeyType.SHA512_HMAC,
    }
)
HMAC_ALGORITHMS: dict[Mechanism, CryptographicAlgorithm] = {
    M.SHA_1_HMAC: CryptographicAlgorithm.HMAC_SHA1,
    M.SHA224_HMAC: CryptographicAlgorithm.HMAC_SHA224,
    M.SHA256_HMAC: CryptographicAlgorithm.HMAC_SHA256,
    M.SHA384_HMAC: CryptographicAlgorithm.HMAC_SHA384,
    M.SHA512_HMAC: CryptographicAlgorithm.HMAC_SHA512,
    M.SHA_1_HMAC_GENERAL: CryptographicAlgorithm.HMAC_SHA1,
    M.SHA224_HMAC_GENERAL: CryptographicAlgorithm.HMAC_SHA224,
    M.SHA256_HMAC_GENERAL: CryptographicAlgorithm.HMAC_SHA256,
    M.SHA384_HMAC_GENERAL: CryptographicAlgorithm.HMAC_SHA384,
    M.SHA512_HMAC_GENERAL: CryptographicAlgorithm.HMAC_SHA512,
}
_SIZES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}


def _hmac_plan(kind: Mechanism) -> SignaturePlanner:
    fixed = SignaturePlan(S.CryptographicParameters(cryptographic_algorithm=HMAC_ALGORITHMS[kind]), mac=True)

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        no_parameter(kind, parameter)
        return fixed

    return plan


def _general_plan(kind: Mechanism, hash_name: str) -> SignaturePlanner:
    parameters = S.CryptographicParameters(cryptographic_algorithm=HMAC_ALGORITHMS[kind])

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        return SignaturePlan(parameters, mac=True, mac_length=mac_length(kind, parameter, _SIZES[hash_name]))

    return plan


def _hmac(kind: Mechanism, hash_name: str) -> MechanismSpec:
    # Key sizes in bytes, as for generic secrets' CKA_VALUE_LEN.
    return MechanismSpec(1, 1024, SIGN, key_types=HMAC_KEYS, hash_name=hash_name, signature=_hmac_plan(kind))


def _hmac_general(kind: Mechanism, hash_name: str) -> MechanismSpec:
    return MechanismSpec(
        1,
        1024,
        SIGN,
        key_types=HMAC_KEYS,
        hash_name=hash_name,
        parameter=(MAC_GENERAL_PARAMS,),
        signature=_general_plan(kind, hash_name),
    )


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    # Generic secret sizes are in bits (§2.29.1).
    M.GENERIC_SECRET_KEY_GEN: MechanismSpec(8, 8192, F.GENERATE, KeyType.GENERIC_SECRET, ObjectType.SECRET_DATA),
    M.SHA_1_HMAC: _hmac(M.SHA_1_HMAC, "sha1"),
    M.SHA224_HMAC: _hmac(M.SHA224_HMAC, "sha224"),
    M.SHA256_HMAC: _hmac(M.SHA256_HMAC, "sha256"),
    M.SHA384_HMAC: _hmac(M.SHA384_HMAC, "sha384"),
    M.SHA512_HMAC: _hmac(M.SHA512_HMAC, "sha512"),
    M.SHA_1_HMAC_GENERAL: _hmac_general(M.SHA_1_HMAC_GENERAL, "sha1"),
    M.SHA224_HMAC_GENERAL: _hmac_general(M.SHA224_HMAC_GENERAL, "sha224"),
    M.SHA256_HMAC_GENERAL: _hmac_general(M.SHA256_HMAC_GENERAL, "sha256"),
    M.SHA384_HMAC_GENERAL: _hmac_general(M.SHA384_HMAC_GENERAL, "sha384"),
    M.SHA512_HMAC_GENERAL: _hmac_general(M.SHA512_HMAC_GENERAL, "sha512"),
}

__all__ = ["HMAC_ALGORITHMS", "HMAC_KEYS", "MECHANISMS"]
