"""The DSA family (PKCS#11 Current Mechanisms 3.0 §2.2; FIPS 186-4), keys held by the KMS.

| CKM                  | KMIP                                                                                  |
|----------------------|---------------------------------------------------------------------------------------|
| DSA_PARAMETER_GEN    | none: fresh (p, q, g) of CKA_PRIME_BITS (1024, 2048, 3072) computed here (they are    |
|                      | public), stored as CKO_DOMAIN_PARAMETERS (``provider.domain_parameters``)              |
| DSA_KEY_PAIR_GEN     | Create Key Pair, DSA, on the public template's CKA_PRIME/SUBPRIME/BASE (the engine's  |
|                      | ``domain_parameters`` vendor attribute)                                               |
| DSA                  | Sign / Signature Verify of Digested Data (the caller's 20-64 byte hash)               |
| DSA_SHA1 ... SHA512  | the same, hashed here (DER Dss-Sig-Value on the KMIP side, r ‖ s of §2.2.1 here)      |

`cryptography` 51 deprecates DSA; the KMS's crypto layer uses it quietly (``kms_backend.crypto._finite_field``).
"""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType

from ..constants import KeyType, Mechanism, MechanismFlag
from ._base import HASHES, SIGN, MechanismParameter, MechanismSpec, SignaturePlan, SignaturePlanner, no_parameter

M = Mechanism
F = MechanismFlag

_KEYS = frozenset({KeyType.DSA})
#: Sizes of p in bits (FIPS 186-4 §4.2: L = 1024, 2048, 3072).
MIN_BITS, MAX_BITS = 1024, 3072
PRIME_BITS = frozenset({1024, 2048, 3072})


def _plan(kind: Mechanism, hash_name: str | None) -> SignaturePlanner:
    if hash_name is None:
        fixed = SignaturePlan(
            S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.DSA),
            digested=True,
            dsa=True,
            single_part=True,
        )
    else:
        parameters = S.CryptographicParameters(
            cryptographic_algorithm=CryptographicAlgorithm.DSA, hashing_algorithm=HASHES[hash_name]
        )
        fixed = SignaturePlan(parameters, hash_name=hash_name, dsa=True)

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        no_parameter(kind, parameter)
        return fixed

    return plan


def _dsa(kind: Mechanism, hash_name: str | None = None) -> MechanismSpec:
    planner = _plan(kind, hash_name)
    return MechanismSpec(MIN_BITS, MAX_BITS, SIGN, key_types=_KEYS, hash_name=hash_name, signature=planner)


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    # object_type Opaque Object: a parameter generation, whose result is CKO_DOMAIN_PARAMETERS (keys.generate_key).
    M.DSA_PARAMETER_GEN: MechanismSpec(MIN_BITS, MAX_BITS, F.GENERATE, KeyType.DSA, ObjectType.OPAQUE_OBJECT),
    M.DSA_KEY_PAIR_GEN: MechanismSpec(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR, KeyType.DSA),
    M.DSA: _dsa(M.DSA),
    M.DSA_SHA1: _dsa(M.DSA_SHA1, "sha1"),
    M.DSA_SHA224: _dsa(M.DSA_SHA224, "sha224"),
    M.DSA_SHA256: _dsa(M.DSA_SHA256, "sha256"),
    M.DSA_SHA384: _dsa(M.DSA_SHA384, "sha384"),
    M.DSA_SHA512: _dsa(M.DSA_SHA512, "sha512"),
}

__all__ = ["MAX_BITS", "MECHANISMS", "MIN_BITS", "PRIME_BITS"]
