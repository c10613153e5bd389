"""The elliptic-curve family (PKCS#11 Current Mechanisms 3.0 §2.3: ECDSA, ECDH; §2.3.14 EdDSA).

| CKM                      | KMIP                                                                                |
|--------------------------|-------------------------------------------------------------------------------------|
| EC_KEY_PAIR_GEN          | Create Key Pair, EC, Recommended Curve from CKA_EC_PARAMS (P-256/384/521)           |
| ECDSA, ECDSA_SHA*        | Sign/Signature Verify of Digested Data (DER ⇄ raw r‖s in the provider)              |
| ECDH1_DERIVE             | Derive Key, Asymmetric Key, Derivation Data = the peer's point (CKD_NULL)           |
| EC_EDWARDS_KEY_PAIR_GEN  | Create Key Pair, Ed25519 or Ed448 (CKA_EC_PARAMS)                                   |
| EDDSA                    | Sign/Signature Verify of Data, Ed25519/Ed448 (PureEdDSA: no pre-hash, no context)   |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, DerivationMethod

from ..attributes import PARAMS_CURVES
from ..constants import KDF_NULL, Attribute, KeyType, Mechanism, MechanismFlag, ReturnValue
from ..errors import CkError
from ..imports import CURVE_BITS
from ._base import (
    HASHES,
    SIGN,
    CField,
    CStruct,
    DerivePlan,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    SignaturePlanner,
    StructParameter,
    invalid,
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


@dataclass(frozen=True, slots=True)
class EddsaParams(StructParameter):
    """CK_EDDSA_PARAMS (§2.3.14): the pre-hash flag and the context."""

    prehash: int
    context: bytes


EDDSA_PARAMS = CStruct(
    "CK_EDDSA_PARAMS",
    EddsaParams,
    CField("phFlag", "CK_BBOOL", "B", "prehash"),
    ulong("ulContextDataLen"),
    pointer("pContextData", "ulContextDataLen", "context"),
)

_EC_PARAMETERS = S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.EC)
#: No algorithm named: the key's own (Ed25519 or Ed448) signs.
_EDDSA = SignaturePlan(S.CryptographicParameters())


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
    """PureEdDSA: no parameter (Ed25519), or CK_EDDSA_PARAMS without pre-hash and context (Ed448 needs one)."""
    if isinstance(parameter, EddsaParams):
        if parameter.prehash or parameter.context:
            raise invalid("only PureEdDSA without a context is supported (phFlag false, no context data)")
        return _EDDSA
    no_parameter(M.EDDSA, parameter, ": CK_EDDSA_PARAMS or none")
    return _EDDSA


#: The coordinate size in bytes of the curves ECDH derives on.
COORDINATE_BYTES = {curve: (bits + 7) // 8 for curve, bits in CURVE_BITS.items()}


def _peer_point(data: bytes, coordinate: int) -> bytes:
    """CKM_ECDH1_DERIVE's public data: the raw point, or (as some applications send it) its DER OCTET STRING."""
    if len(data) in (2 * coordinate + 1, coordinate + 1):
        return data
    if data[:1] == b"\x04" and len(data) > 2:
        if data[1] < 0x80 and data[1] == len(data) - 2:
            return data[2:]
        if data[1] == 0x81 and len(data) > 3 and data[2] == len(data) - 3:
            return data[3:]
    raise invalid("the peer's public data is not a point on the key's curve")


def _ecdh(parameter: MechanismParameter, base: Mapping[Attribute, Any]) -> DerivePlan:
    """CKD_NULL: the leading bytes of the shared secret (KMIP Derive Key, Asymmetric Key, the peer's point)."""
    if not isinstance(parameter, Ecdh1Params):
        raise invalid("ECDH1_DERIVE takes CK_ECDH1_DERIVE_PARAMS")
    if parameter.kdf != KDF_NULL or parameter.shared_data:
        raise invalid("only CKD_NULL without shared data is supported")
    curve = PARAMS_CURVES.get(base.get(Attribute.EC_PARAMS, b""))
    coordinate = COORDINATE_BYTES.get(curve) if curve is not None else None
    if coordinate is None:
        raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, "ECDH needs a key on a named prime curve")
    point = _peer_point(parameter.public_data, coordinate)
    derivation = S.DerivationParameters(derivation_data=[point])
    return DerivePlan(DerivationMethod.ASYMMETRIC_KEY, derivation, max_length=coordinate, default_length=coordinate)


_KEYS = frozenset({KeyType.EC})
_EC_FLAGS = F.EC_F_P | F.EC_NAMEDCURVE | F.EC_UNCOMPRESS


def _ecdsa(kind: Mechanism, hash_name: str | None = None) -> MechanismSpec:
    return MechanismSpec(
        192, 521, SIGN | _EC_FLAGS, key_types=_KEYS, hash_name=hash_name, signature=_ecdsa_plan(kind, hash_name)
    )


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.EC_KEY_PAIR_GEN: MechanismSpec(192, 521, F.GENERATE_KEY_PAIR | _EC_FLAGS, KeyType.EC),
    M.ECDSA: _ecdsa(M.ECDSA),
    M.ECDSA_SHA1: _ecdsa(M.ECDSA_SHA1, "sha1"),
    M.ECDSA_SHA224: _ecdsa(M.ECDSA_SHA224, "sha224"),
    M.ECDSA_SHA256: _ecdsa(M.ECDSA_SHA256, "sha256"),
    M.ECDSA_SHA384: _ecdsa(M.ECDSA_SHA384, "sha384"),
    M.ECDSA_SHA512: _ecdsa(M.ECDSA_SHA512, "sha512"),
    M.ECDH1_DERIVE: MechanismSpec(
        192, 521, F.DERIVE | _EC_FLAGS, key_types=_KEYS, parameter=(ECDH1_DERIVE_PARAMS,), derive=_ecdh
    ),
    M.EC_EDWARDS_KEY_PAIR_GEN: MechanismSpec(255, 448, F.GENERATE_KEY_PAIR, KeyType.EC_EDWARDS),
    M.EDDSA: MechanismSpec(
        255, 448, SIGN, key_types=frozenset({KeyType.EC_EDWARDS}), parameter=(EDDSA_PARAMS,), signature=_eddsa
    ),
}

__all__ = ["COORDINATE_BYTES", "ECDH1_DERIVE_PARAMS", "EDDSA_PARAMS", "MECHANISMS", "EddsaParams", "Ecdh1Params"]
