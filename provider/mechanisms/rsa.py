"""The RSA family (PKCS#11 Current Mechanisms 3.0 §2.1).

| CKM                               | KMIP                                                                       |
|-----------------------------------|----------------------------------------------------------------------------|
| RSA_PKCS_KEY_PAIR_GEN             | Create Key Pair, RSA, Cryptographic Length = CKA_MODULUS_BITS              |
| RSA_PKCS / RSA_PKCS_OAEP          | RSA, Padding PKCS1 v1.5 / OAEP (Hashing Algorithm, MGF1 hash, P Source)    |
| RSA_PKCS_PSS, SHA*_RSA_PKCS(_PSS) | Sign/Signature Verify of Digested Data: Padding PSS or PKCS1 v1.5, Hashing |
|                                   | Algorithm, Salt Length, MGF1 hash (the provider hashes with hashlib)       |
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, MaskGenerator, PaddingMethod

from ..constants import OAEP_SOURCE_DATA_SPECIFIED, KeyType, Mechanism, MechanismFlag
from ._base import (
    CIPHER,
    DIGEST_MECHANISMS,
    HASHES,
    MGF_HASHES,
    SIGN,
    WRAP,
    CipherPlan,
    CipherPlanner,
    CStruct,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    SignaturePlanner,
    StructParameter,
    WrapPlanner,
    invalid,
    no_parameter,
    pointer,
    ulong,
)

M = Mechanism
F = MechanismFlag


@dataclass(frozen=True, slots=True)
class OaepParams(StructParameter):
    """CK_RSA_PKCS_OAEP_PARAMS (§2.1.8)."""

    hash_mechanism: int
    mgf: int
    source: int
    source_data: bytes


@dataclass(frozen=True, slots=True)
class PssParams(StructParameter):
    """CK_RSA_PKCS_PSS_PARAMS (§2.1.11)."""

    hash_mechanism: int
    mgf: int
    salt_length: int


OAEP_PARAMS = CStruct(
    "CK_RSA_PKCS_OAEP_PARAMS",
    OaepParams,
    ulong("hashAlg", "hash_mechanism", "CK_MECHANISM_TYPE"),
    ulong("mgf", "mgf", "CK_RSA_PKCS_MGF_TYPE"),
    ulong("source", "source", "CK_RSA_PKCS_OAEP_SOURCE_TYPE"),
    pointer("pSourceData", "ulSourceDataLen", "source_data", "CK_VOID_PTR"),
    ulong("ulSourceDataLen"),
)
PSS_PARAMS = CStruct(
    "CK_RSA_PKCS_PSS_PARAMS",
    PssParams,
    ulong("hashAlg", "hash_mechanism", "CK_MECHANISM_TYPE"),
    ulong("mgf", "mgf", "CK_RSA_PKCS_MGF_TYPE"),
    ulong("sLen", "salt_length"),
)

_RSA = CryptographicAlgorithm.RSA
_PKCS1 = S.CryptographicParameters(cryptographic_algorithm=_RSA, padding_method=PaddingMethod.PKCS1_V1_5)


def oaep_parameters(parameter: MechanismParameter) -> S.CryptographicParameters:
    """CK_RSA_PKCS_OAEP_PARAMS as KMIP parameters (SHA-1/224/256/384/512; the label as P Source)."""
    if not isinstance(parameter, OaepParams):
        raise invalid("RSA-OAEP takes CK_RSA_PKCS_OAEP_PARAMS")
    hash_name = DIGEST_MECHANISMS.get(parameter.hash_mechanism)
    mgf_name = MGF_HASHES.get(parameter.mgf)
    if hash_name is None or mgf_name is None:
        raise invalid("unsupported OAEP hash or MGF")
    # source 0 with no label is what many applications send; the spec names only CKZ_DATA_SPECIFIED.
    if parameter.source not in (0, OAEP_SOURCE_DATA_SPECIFIED) or (parameter.source == 0 and parameter.source_data):
        raise invalid("OAEP encoding parameters must be CKZ_DATA_SPECIFIED")
    return S.CryptographicParameters(
        cryptographic_algorithm=_RSA,
        padding_method=PaddingMethod.OAEP,
        hashing_algorithm=HASHES[hash_name],
        mask_generator=MaskGenerator.MGF1,
        mask_generator_hashing_algorithm=HASHES[mgf_name],
        p_source=parameter.source_data or None,
    )


def _pkcs_cipher(parameter: MechanismParameter) -> CipherPlan:
    no_parameter(M.RSA_PKCS, parameter)
    return CipherPlan(_PKCS1, single_part=True)


def _oaep_cipher(parameter: MechanismParameter) -> CipherPlan:
    return CipherPlan(oaep_parameters(parameter), single_part=True)


def _pkcs_signature(parameter: MechanismParameter) -> SignaturePlan:
    no_parameter(M.RSA_PKCS, parameter)
    return SignaturePlan(_PKCS1, digested=True, single_part=True)


def _pss(kind: Mechanism, hash_name: str | None) -> SignaturePlanner:
    """RSA-PSS; ``hash_name`` for the hash-then-sign mechanisms, whose parameters must name the same hash."""

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        if not isinstance(parameter, PssParams):
            raise invalid(f"{kind.name} takes CK_RSA_PKCS_PSS_PARAMS")
        named = DIGEST_MECHANISMS.get(parameter.hash_mechanism)
        mgf_name = MGF_HASHES.get(parameter.mgf)
        if named is None or mgf_name is None or (hash_name and hash_name != named):
            raise invalid("unsupported or inconsistent PSS hash or MGF")
        cp = S.CryptographicParameters(
            cryptographic_algorithm=_RSA,
            padding_method=PaddingMethod.PSS,
            hashing_algorithm=HASHES[named],
            mask_generator=MaskGenerator.MGF1,
            mask_generator_hashing_algorithm=HASHES[mgf_name],
            salt_length=parameter.salt_length,
        )
        if hash_name is None:
            return SignaturePlan(cp, digested=True, single_part=True)
        return SignaturePlan(cp, hash_name=named)

    return plan


def _hashed_pkcs(kind: Mechanism, hash_name: str) -> SignaturePlanner:
    fixed = SignaturePlan(
        S.CryptographicParameters(
            cryptographic_algorithm=_RSA, padding_method=PaddingMethod.PKCS1_V1_5, hashing_algorithm=HASHES[hash_name]
        ),
        hash_name=hash_name,
    )

    def plan(parameter: MechanismParameter) -> SignaturePlan:
        no_parameter(kind, parameter)
        return fixed

    return plan


_KEYS = frozenset({KeyType.RSA})


def _rsa(
    flags: MechanismFlag,
    hash_name: str | None = None,
    *,
    parameter: tuple[CStruct, ...] = (),
    cipher: CipherPlanner | None = None,
    signature: SignaturePlanner | None = None,
    wrap: WrapPlanner | None = None,
) -> MechanismSpec:
    return MechanismSpec(
        1024,
        4096,
        flags,
        key_types=_KEYS,
        hash_name=hash_name,
        parameter=parameter,
        cipher=cipher,
        signature=signature,
        wrap=wrap,
    )


def _pss_row(kind: Mechanism, hash_name: str | None) -> MechanismSpec:
    return _rsa(SIGN, hash_name, parameter=(PSS_PARAMS,), signature=_pss(kind, hash_name))


def _pkcs_row(kind: Mechanism, hash_name: str) -> MechanismSpec:
    return _rsa(SIGN, hash_name, signature=_hashed_pkcs(kind, hash_name))


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.RSA_PKCS_KEY_PAIR_GEN: MechanismSpec(1024, 4096, F.GENERATE_KEY_PAIR, KeyType.RSA),
    M.RSA_PKCS: _rsa(CIPHER | SIGN, cipher=_pkcs_cipher, signature=_pkcs_signature),
    M.RSA_PKCS_OAEP: _rsa(CIPHER | WRAP, parameter=(OAEP_PARAMS,), cipher=_oaep_cipher, wrap=oaep_parameters),
    M.RSA_PKCS_PSS: _pss_row(M.RSA_PKCS_PSS, None),
    M.SHA1_RSA_PKCS: _pkcs_row(M.SHA1_RSA_PKCS, "sha1"),
    M.SHA224_RSA_PKCS: _pkcs_row(M.SHA224_RSA_PKCS, "sha224"),
    M.SHA256_RSA_PKCS: _pkcs_row(M.SHA256_RSA_PKCS, "sha256"),
    M.SHA384_RSA_PKCS: _pkcs_row(M.SHA384_RSA_PKCS, "sha384"),
    M.SHA512_RSA_PKCS: _pkcs_row(M.SHA512_RSA_PKCS, "sha512"),
    M.SHA1_RSA_PKCS_PSS: _pss_row(M.SHA1_RSA_PKCS_PSS, "sha1"),
    M.SHA224_RSA_PKCS_PSS: _pss_row(M.SHA224_RSA_PKCS_PSS, "sha224"),
    M.SHA256_RSA_PKCS_PSS: _pss_row(M.SHA256_RSA_PKCS_PSS, "sha256"),
    M.SHA384_RSA_PKCS_PSS: _pss_row(M.SHA384_RSA_PKCS_PSS, "sha384"),
    M.SHA512_RSA_PKCS_PSS: _pss_row(M.SHA512_RSA_PKCS_PSS, "sha512"),
}

__all__ = ["MECHANISMS", "OAEP_PARAMS", "PSS_PARAMS", "OaepParams", "PssParams", "oaep_parameters"]
