"""The PKCS #3 Diffie-Hellman family (PKCS#11 Current Mechanisms 3.0 §2.5), keys held by the KMS.

| CKM                    | KMIP                                                                                |
|------------------------|-------------------------------------------------------------------------------------|
| DH_PKCS_PARAMETER_GEN  | none: a fresh safe prime of CKA_PRIME_BITS and generator 2, computed here (public  |
|                        | values), stored as CKO_DOMAIN_PARAMETERS (``provider.domain_parameters``)            |
| DH_PKCS_KEY_PAIR_GEN   | Create Key Pair, DH, on the public template's CKA_PRIME and CKA_BASE (the engine's  |
|                        | ``domain_parameters`` vendor attribute)                                             |
| DH_PKCS_DERIVE         | Derive Key, Asymmetric Key, Derivation Data = the peer's public value y (the        |
|                        | mechanism parameter); the new key is the leading bytes of Z (padded to p's length)  |

`cryptography` 51 deprecates finite-field Diffie-Hellman; the KMS's crypto layer uses it quietly
(``kms_backend.crypto._finite_field``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import DerivationMethod, ObjectType

from ..constants import Attribute, KeyType, Mechanism, MechanismFlag, ReturnValue
from ..errors import CkError
from ._base import DerivePlan, MechanismParameter, MechanismSpec, invalid

M = Mechanism
F = MechanismFlag

#: Sizes of p in bits: pairs on groups of up to 8192 bits; fresh parameters (a safe prime search, which grows
#: steeply) of up to 2048 bits, as the KMS generates them.
MIN_BITS, MAX_BITS, MAX_GENERATED_BITS = 512, 8192, 2048


def _derive(parameter: MechanismParameter, base: Mapping[Attribute, Any]) -> DerivePlan:
    """The peer's public value y as the mechanism parameter (a big-endian integer, §2.5.7)."""
    if not isinstance(parameter, bytes) or not parameter:
        raise invalid("DH_PKCS_DERIVE takes the other party's public value as its parameter")
    bits = base.get(Attribute.PRIME_BITS)
    if not isinstance(bits, int):
        raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, "not a Diffie-Hellman key of a known prime")
    size = (bits + 7) // 8
    if len(parameter.lstrip(b"\x00")) > size:
        raise invalid("the public value is longer than the prime")
    derivation = S.DerivationParameters(derivation_data=[parameter])
    return DerivePlan(DerivationMethod.ASYMMETRIC_KEY, derivation, max_length=size, default_length=size)


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    # object_type Opaque Object: a parameter generation, whose result is CKO_DOMAIN_PARAMETERS (keys.generate_key).
    M.DH_PKCS_PARAMETER_GEN: MechanismSpec(
        MIN_BITS, MAX_GENERATED_BITS, F.GENERATE, KeyType.DH, ObjectType.OPAQUE_OBJECT
    ),
    M.DH_PKCS_KEY_PAIR_GEN: MechanismSpec(MIN_BITS, MAX_BITS, F.GENERATE_KEY_PAIR, KeyType.DH),
    M.DH_PKCS_DERIVE: MechanismSpec(MIN_BITS, MAX_BITS, F.DERIVE, key_types=frozenset({KeyType.DH}), derive=_derive),
}

__all__ = ["MAX_BITS", "MAX_GENERATED_BITS", "MECHANISMS", "MIN_BITS"]
