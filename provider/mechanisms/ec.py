"""The elliptic-curve family (PKCS#11 Current Mechanisms 3.0 §2.3: ECDSA, ECDH; §2.3.14 EdDSA).

| CKM                      | KMIP                                                                                |
|--------------------------|-------------------------------------------------------------------------------------|
| EC_KEY_PAIR_GEN          | Create Key Pair, EC, Recommended Curve from CKA_EC_PARAMS (P-256/384/521)           |
| ECDSA, ECDSA_SHA*        | Sign/Signature Verify of Digested Data (DER ⇄ raw r‖s in the provider)              |
| ECDH1_DERIVE             | Derive Key, Asymmetric Key, Derivation Data = the peer's point (CKD_NULL)           |
| EC_EDWARDS_KEY_PAIR_GEN  | Create Key Pair, Ed25519                                                            |
| EDDSA                    | Sign/Signature Verify of Data, Ed25519                                              |
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm

from ..constants import KeyType, Mechanism, MechanismFlag
from ._base import (
    HASHES,
    SIGN,
    CStruct,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    SignaturePlanner,
    StructParameter,
    no_parameter,
    pointer,
    ulong,
)

M = Mechanism
F = MechanismFlag


@dataclass(frozen=True, slots=True)
class Ecdh1Params(StructParameter):
    """CK_ECDH1_DERIVE_PARAMS (§2.3.15)."""

    kdf: int
    shared_data: bytes
    public_data: bytes


ECDH1_DERIVE_PARAMS = CStruct(
    "CK_ECDH1_DERIVE_PARAMS",
    Ecdh1Params,
    ulong("kdf", "kdf", "CK_EC_KDF_TYPE"),
    ulong("ulSharedDataLen"),
    pointer("pSharedData", "ulSharedDataLen", "shared_data"),
    ulong("ulPublicDataLen"),
    pointer("pPublicData", "ulPublicDataLen", "public_data"),
)

_EC_PARAMETERS = S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.EC)
_ED25519 = SignaturePlan(S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.ED25519))


def _ecdsa_plan(kind: Mechanism, hash_name: str | None) -> SignaturePlanner:
    if hash_name is None:
        fixed = SignaturePlan(_EC_PARAMETERS, digested=True, ecdsa=True, single_part=True)
    else:
        # The mechanism names the hash: without it the KMS would take the curve's default (SHA-256 for P-256).
        parameters = S.CryptographicParameters(
            cryptographic_algorithm=CryptographicAlgorithm.EC, hashing_algorithm=HASHES[hash_name]
        )
        fixed = SignaturePlan(parameters, hash_name=hash_name, ecdsa=True)

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        no_parameter(kind, parameter)
        return fixed

    return plan


def _eddsa(parameter: MechanismParameter) -> SignaturePlan:
    no_parameter(M.EDDSA, parameter, ": only Ed25519 without context (no CK_EDDSA_PARAMS) is supported")
    return _ED25519


_KEYS = frozenset({KeyType.EC})
_EC_FLAGS = F.EC_F_P | F.EC_NAMEDCURVE | F.EC_UNCOMPRESS


def _ecdsa(kind: Mechanism, hash_name: str | None = None) -> MechanismSpec:
    return MechanismSpec(
        256, 521, SIGN | _EC_FLAGS, key_types=_KEYS, hash_name=hash_name, signature=_ecdsa_plan(kind, hash_name)
    )


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.EC_KEY_PAIR_GEN: MechanismSpec(256, 521, F.GENERATE_KEY_PAIR | _EC_FLAGS, KeyType.EC),
    M.ECDSA: _ecdsa(M.ECDSA),
    M.ECDSA_SHA1: _ecdsa(M.ECDSA_SHA1, "sha1"),
    M.ECDSA_SHA224: _ecdsa(M.ECDSA_SHA224, "sha224"),
    M.ECDSA_SHA256: _ecdsa(M.ECDSA_SHA256, "sha256"),
    M.ECDSA_SHA384: _ecdsa(M.ECDSA_SHA384, "sha384"),
    M.ECDSA_SHA512: _ecdsa(M.ECDSA_SHA512, "sha512"),
    M.ECDH1_DERIVE: MechanismSpec(256, 521, F.DERIVE | _EC_FLAGS, key_types=_KEYS, parameter=(ECDH1_DERIVE_PARAMS,)),
    M.EC_EDWARDS_KEY_PAIR_GEN: MechanismSpec(255, 255, F.GENERATE_KEY_PAIR, KeyType.EC_EDWARDS),
    M.EDDSA: MechanismSpec(255, 255, SIGN, key_types=frozenset({KeyType.EC_EDWARDS}), signature=_eddsa),
}

__all__ = ["ECDH1_DERIVE_PARAMS", "MECHANISMS", "Ecdh1Params"]
