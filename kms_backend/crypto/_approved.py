"""Approved-algorithms policy: what approved-only mode refuses, as one small table.

The policy follows NIST SP 800-131A Rev. 2 (transitions), SP 800-57 Part 1 Rev. 5 (strengths), FIPS 186-5 and
SP 800-186 (curves), SP 800-38A/C/D/E/F (modes) and FIPS 203/204 (ML-KEM, ML-DSA). It is a policy, not a FIPS
140-3 validation claim: the module below is whatever OpenSSL `cryptography` was built against.

Each rule names the operations it applies to (``None``: every operation), so that legacy uses stay possible where
SP 800-131A allows them (SHA-1 signature *verification*, HMAC-SHA-1).
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    Operation,
    PaddingMethod,
    RecommendedCurve,
    ResultReason,
)

from ._common import fail
from ._params import CipherParams

_ENCRYPTION = frozenset({Operation.ENCRYPT, Operation.DECRYPT, Operation.EXPORT, Operation.IMPORT})
_SIGNING = frozenset({Operation.SIGN})


@dataclass(frozen=True, slots=True)
class _Rule:
    why: str
    operations: frozenset[Operation] | None = None

    def applies(self, operation: Operation) -> bool:
        return self.operations is None or operation in self.operations


_ALGORITHMS: dict[CryptographicAlgorithm, _Rule] = {
    CryptographicAlgorithm.DES: _Rule("DES is withdrawn (SP 800-131A Rev. 2 §2)"),
    CryptographicAlgorithm.DES3: _Rule("Triple-DES is disallowed after 2023 (SP 800-131A Rev. 2 §2)"),
    CryptographicAlgorithm.CHACHA20: _Rule("ChaCha20 is not a NIST-approved cipher"),
    CryptographicAlgorithm.CHACHA20POLY1305: _Rule("ChaCha20-Poly1305 is not a NIST-approved AEAD"),
    CryptographicAlgorithm.HMAC_MD5: _Rule("MD5 is not an approved hash (FIPS 180-4)"),
    CryptographicAlgorithm.BLOWFISH: _Rule("Blowfish is not a NIST-approved cipher"),
    CryptographicAlgorithm.RC4: _Rule("RC4 is not a NIST-approved cipher"),
    CryptographicAlgorithm.DSA: _Rule(
        "DSA is withdrawn for signature generation (FIPS 186-5)",
        frozenset({Operation.CREATE_KEY_PAIR, Operation.SIGN}),
    ),
}
_CURVES: dict[RecommendedCurve, _Rule] = {
    RecommendedCurve.SECP256K1: _Rule("secp256k1 is not a SP 800-186 curve"),
    RecommendedCurve.P_192: _Rule("P-192 gives less than 112 bits of security (SP 800-131A Rev. 2 §3)"),
    # X25519/X448 are SP 800-186 curves, but SP 800-56A Rev. 3 key agreement covers only Weierstrass curves.
    RecommendedCurve.CURVE25519: _Rule("X25519 key agreement is not in SP 800-56A Rev. 3"),
    RecommendedCurve.CURVE448: _Rule("X448 key agreement is not in SP 800-56A Rev. 3"),
}
_PADDINGS: dict[PaddingMethod, _Rule] = {
    PaddingMethod.PKCS1_V1_5: _Rule("RSA PKCS#1 v1.5 key transport is disallowed (SP 800-131A Rev. 2 §6)", _ENCRYPTION),
}
_HASHES: dict[HashingAlgorithm, _Rule] = {
    HashingAlgorithm.MD5: _Rule("MD5 is not an approved hash (FIPS 180-4)"),
    HashingAlgorithm.SHA_1: _Rule("SHA-1 signature generation is disallowed (SP 800-131A Rev. 2 §9)", _SIGNING),
}
_SIGNATURE_ALGORITHMS: dict[DigitalSignatureAlgorithm, _Rule] = {
    DigitalSignatureAlgorithm.MD2_WITH_RSA_ENCRYPTION: _Rule("MD2 is not an approved hash"),
    DigitalSignatureAlgorithm.MD5_WITH_RSA_ENCRYPTION: _Rule("MD5 is not an approved hash"),
    DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION: _HASHES[HashingAlgorithm.SHA_1],
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA_1: _HASHES[HashingAlgorithm.SHA_1],
    DigitalSignatureAlgorithm.DSA_WITH_SHA_1: _Rule("DSA signature generation is withdrawn (FIPS 186-5)", _SIGNING),
}
#: Raw RSA PKCS#1 v1.5 (Padding Method PKCS1_V1_5, no hash: ``_asymmetric`` module doc) signs whatever bytes it is
#: given, so the module cannot tell an approved hash's DigestInfo from MD5‖SHA-1 or no digest at all; FIPS 186-5
#: §5.4 approves RSASSA-PKCS1-v1_5 only with an approved hash. Generation is refused; verification stays allowed
#: as legacy use (SP 800-131A Rev. 2 §3, like SHA-1 verification), since it protects nothing new.
_RAW_RSA_SIGNATURE = _Rule(
    "raw RSA PKCS#1 v1.5 signatures (no Hashing Algorithm) are not a FIPS 186-5 scheme; name an approved hash",
    _SIGNING,
)
_MODES: dict[BlockCipherMode, _Rule] = {
    BlockCipherMode.GCM_SIV: _Rule("AES-GCM-SIV (RFC 8452) is not a SP 800-38 mode"),
    BlockCipherMode.PCBC: _Rule("PCBC is not a SP 800-38 mode"),
}
#: Smallest key, in bits, per algorithm (SP 800-131A Rev. 2 §3, §10: 112 bits of security; HMAC keys ≥ 112 bits).
_MIN_BITS: dict[CryptographicAlgorithm, int] = {
    CryptographicAlgorithm.RSA: 2048,
    CryptographicAlgorithm.AES: 128,
    **dict.fromkeys(
        (
            CryptographicAlgorithm.HMAC_SHA1,
            CryptographicAlgorithm.HMAC_SHA224,
            CryptographicAlgorithm.HMAC_SHA256,
            CryptographicAlgorithm.HMAC_SHA384,
            CryptographicAlgorithm.HMAC_SHA512,
            CryptographicAlgorithm.HMAC_SHA3_224,
            CryptographicAlgorithm.HMAC_SHA3_256,
            CryptographicAlgorithm.HMAC_SHA3_384,
            CryptographicAlgorithm.HMAC_SHA3_512,
        ),
        112,
    ),
}
#: PBKDF2 floors from SP 800-132 §5.1-5.2: a salt of at least 128 bits, at least 1,000 iterations.
PBKDF2_MIN_SALT_BYTES = 16
PBKDF2_MIN_ITERATIONS = 1000


def violation(
    operation: Operation,
    algorithm: CryptographicAlgorithm | None = None,
    *,
    length_bits: int | None = None,
    curve: RecommendedCurve | None = None,
    params: CipherParams | None = None,
) -> str | None:
    """Why approved-only mode refuses this use, or ``None`` if it is approved."""
    rules: list[_Rule | None] = []
    if algorithm is not None:
        rules.append(_ALGORITHMS.get(algorithm))
        minimum = _MIN_BITS.get(algorithm)
        if minimum is not None and length_bits is not None and length_bits < minimum:
            return f"{algorithm.name} keys shorter than {minimum} bits are not approved (SP 800-131A Rev. 2)"
    if curve is not None:
        rules.append(_CURVES.get(curve))
    if params is not None:
        if params.cryptographic_algorithm is not None:
            rules.append(_ALGORITHMS.get(params.cryptographic_algorithm))
        if params.padding_method is not None:
            rules.append(_PADDINGS.get(params.padding_method))
        if _raw_rsa_signature(params):
            rules.append(_RAW_RSA_SIGNATURE)
        for hashing in (params.hashing_algorithm, params.mask_generator_hashing_algorithm):
            if hashing is not None:
                rules.append(_HASHES.get(hashing))
        if params.digital_signature_algorithm is not None:
            rules.append(_SIGNATURE_ALGORITHMS.get(params.digital_signature_algorithm))
        if params.block_cipher_mode is not None:
            rules.append(_MODES.get(params.block_cipher_mode))
    for rule in rules:
        if rule is not None and rule.applies(operation):
            return rule.why
    return None


def _raw_rsa_signature(params: CipherParams) -> bool:
    """PKCS#1 v1.5 with no hash named: raw when the operation is a signature (the rule names Sign only)."""
    return (
        params.padding_method == PaddingMethod.PKCS1_V1_5
        and params.hashing_algorithm is None
        and params.digital_signature_algorithm is None
    )


def approved(
    operation: Operation,
    algorithm: CryptographicAlgorithm | None = None,
    *,
    length_bits: int | None = None,
    curve: RecommendedCurve | None = None,
    params: CipherParams | None = None,
) -> bool:
    """True if approved-only mode allows ``operation`` with this algorithm, key length, curve and parameters.

    ``operation`` is the KMIP Operation (KMIP 2.1 §11.36) because approval depends on use: SHA-1 may verify a
    signature but not make one; PKCS#1 v1.5 may sign but not encrypt.
    """
    return violation(operation, algorithm, length_bits=length_bits, curve=curve, params=params) is None


def require_approved(
    operation: Operation,
    algorithm: CryptographicAlgorithm | None = None,
    *,
    length_bits: int | None = None,
    curve: RecommendedCurve | None = None,
    params: CipherParams | None = None,
) -> None:
    """Raise ``KmipError(UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS)`` naming the rule if the use is not approved."""
    why = violation(operation, algorithm, length_bits=length_bits, curve=curve, params=params)
    if why is not None:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"not allowed in approved-only mode: {why}")
