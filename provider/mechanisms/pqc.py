"""The post-quantum families of PKCS#11 3.2: ML-DSA (FIPS 204) and ML-KEM (FIPS 203), keys held by the KMS.

| CKM                  | KMIP                                                                                  |
|----------------------|---------------------------------------------------------------------------------------|
| ML_DSA_KEY_PAIR_GEN  | Create Key Pair, ML-DSA-44/65/87 from CKA_PARAMETER_SET (CKP_ML_DSA_*)                |
| ML_DSA               | Sign / Signature Verify of Data (pure ML-DSA, empty context)                          |
| ML_KEM_KEY_PAIR_GEN  | Create Key Pair, ML-KEM-512/768/1024 from CKA_PARAMETER_SET (CKP_ML_KEM_*)            |
| ML_KEM               | C_EncapsulateKey: the public key's encapsulation, made here, its secret Registered;   |
|                      | C_DecapsulateKey: Derive Key, Asymmetric Key, Derivation Data = the ciphertext        |

The KMS takes the parameter sets from ``cryptography`` (ML-DSA-44/65/87, ML-KEM-768/1024) and ML-KEM-512, which
``cryptography`` lacks, from pqcrypto; a KMS without one answers CKR_PARAMETER_SET_NOT_SUPPORTED.
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip import _schema_data as S

from ..constants import KeyType, Mechanism, MechanismFlag
from ._base import (
    SIGN,
    CStruct,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    StructParameter,
    invalid,
    pointer,
    ulong,
)

M = Mechanism
F = MechanismFlag

#: CKH_HEDGE_PREFERRED / CKH_HEDGE_REQUIRED (PKCS#11 3.2 §6.67): ``cryptography`` always signs hedged.
HEDGED = frozenset({0, 1})


@dataclass(frozen=True, slots=True)
class SignAdditionalContext(StructParameter):
    """CK_SIGN_ADDITIONAL_CONTEXT (PKCS#11 3.2): the hedging variant and the FIPS 204 context string."""

    hedge: int
    context: bytes


SIGN_ADDITIONAL_CONTEXT = CStruct(
    "CK_SIGN_ADDITIONAL_CONTEXT",
    SignAdditionalContext,
    ulong("hedgeVariant", "hedge", "CK_HEDGE_TYPE"),
    pointer("pContext", "ulContextLen", "context"),
    ulong("ulContextLen"),
)

# The KMS takes the parameter set from the key itself.
_PURE = SignaturePlan(S.CryptographicParameters())


def _ml_dsa(parameter: MechanismParameter) -> SignaturePlan:
    if parameter is None:
        return _PURE
    if not isinstance(parameter, SignAdditionalContext) or parameter.hedge not in HEDGED:
        raise invalid("ML_DSA takes no parameter or a CK_SIGN_ADDITIONAL_CONTEXT with a hedging variant")
    if parameter.context:
        raise invalid("ML-DSA signing contexts are not supported (empty context only)")
    return _PURE


# ulMinKeySize / ulMaxKeySize: the parameter sets (CKP_*_44/512 = 1 to CKP_*_87/1024 = 3).
MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.ML_DSA_KEY_PAIR_GEN: MechanismSpec(1, 3, F.GENERATE_KEY_PAIR, KeyType.ML_DSA),
    M.ML_DSA: MechanismSpec(
        1, 3, SIGN, key_types=frozenset({KeyType.ML_DSA}), parameter=(SIGN_ADDITIONAL_CONTEXT,), signature=_ml_dsa
    ),
    M.ML_KEM_KEY_PAIR_GEN: MechanismSpec(1, 3, F.GENERATE_KEY_PAIR, KeyType.ML_KEM),
    M.ML_KEM: MechanismSpec(1, 3, F.ENCAPSULATE | F.DECAPSULATE, key_types=frozenset({KeyType.ML_KEM})),
}

__all__ = ["HEDGED", "MECHANISMS", "SIGN_ADDITIONAL_CONTEXT", "SignAdditionalContext"]
