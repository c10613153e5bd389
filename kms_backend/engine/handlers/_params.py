"""What a request's Cryptographic Parameters resolve to: the request's parameters merged over the object's
attribute with the version's defaults and the key/algorithm fit checked (Encrypt, Decrypt, Sign, Signature Verify),
and the MAC algorithm of a MAC / MAC Verify."""

from __future__ import annotations

from dataclasses import replace

from ...crypto import CipherParams
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    PaddingMethod,
    ResultReason,
)
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..keymaterial import Key, legacy_defaults, stored_params, to_cipher_params
from ..objects import ManagedObject

#: Symmetric algorithms a MAC / MAC Verify may use: HMACs, and AES for CMAC and CBC-MAC.
MAC_ALGORITHMS = frozenset(
    {
        CryptographicAlgorithm.AES,
        CryptographicAlgorithm.HMAC_SHA1,
        CryptographicAlgorithm.HMAC_SHA224,
        CryptographicAlgorithm.HMAC_SHA256,
        CryptographicAlgorithm.HMAC_SHA384,
        CryptographicAlgorithm.HMAC_SHA512,
        CryptographicAlgorithm.HMAC_MD5,
        CryptographicAlgorithm.HMAC_SHA3_224,
        CryptographicAlgorithm.HMAC_SHA3_256,
        CryptographicAlgorithm.HMAC_SHA3_384,
        CryptographicAlgorithm.HMAC_SHA3_512,
    }
)
CHACHA = frozenset({CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305})
#: Algorithms that only make sense with symmetric key material (ciphers and MACs).
SYMMETRIC_ALGORITHMS = (
    MAC_ALGORITHMS
    | CHACHA
    | {
        CryptographicAlgorithm.DES,
        CryptographicAlgorithm.DES3,
        CryptographicAlgorithm.CAMELLIA,
        CryptographicAlgorithm.ARIA,
        CryptographicAlgorithm.BLOWFISH,
        CryptographicAlgorithm.RC4,
    }
)
_AEAD_MODES = frozenset({BlockCipherMode.GCM, BlockCipherMode.CCM, BlockCipherMode.GCM_SIV, BlockCipherMode.AEAD})


# -- Cryptographic Parameters ----------------------------------------------------------------------------------


def merged_params(
    ctx: RequestContext, mo: ManagedObject, key: Key, requested: S.CryptographicParameters | None, *, cipher: bool
) -> CipherParams:
    """The request's parameters over the object's attribute (KMIP 2.1 §6.1.17: request parameters win), the
    algorithm filled from the key, and the key/algorithm fit checked (Invalid Object Type otherwise).

    ``cipher``: Encrypt/Decrypt with a symmetric key. A KMIP 1.x client that sends no parameters at all, on a key
    with none stored, gets AES-CBC with PKCS#5 padding and a random IV (what MongoDB's audit-log encryption
    expects); a 2.x client gets the crypto layer's default, AES-GCM with a random 96-bit nonce and a 128-bit tag.
    """
    given = to_cipher_params(requested)
    stored = stored_params(mo)
    legacy = given is None and stored is None and legacy_defaults(ctx.version)
    if legacy and cipher and key.kind == "symmetric" and key.algorithm in (None, CryptographicAlgorithm.AES):
        given = CipherParams(
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            block_cipher_mode=BlockCipherMode.CBC,
            padding_method=PaddingMethod.PKCS5,
            random_iv=True,
        )
    if given is not None and stored is not None and _other_scheme(given, stored):
        stored = None  # the stored parameters describe another mode or algorithm: none of their fields apply
    params = (given or CipherParams()).merged(stored)
    algorithm = params.cryptographic_algorithm
    if algorithm is None:
        return replace(params, cryptographic_algorithm=key.algorithm) if key.algorithm is not None else params
    symmetric_params = algorithm in SYMMETRIC_ALGORITHMS
    if symmetric_params != (key.kind == "symmetric"):
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE,
            f"{algorithm.name} parameters do not fit object {mo.uid}, a {key.kind} "
            f"{key.algorithm.name if key.algorithm else ''} key".replace("  ", " "),
        )
    if (
        cipher
        and key.kind == "symmetric"
        and key.algorithm is not None
        and key.algorithm != algorithm
        and not {key.algorithm, algorithm} <= CHACHA
    ):
        raise KmipError(
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"object {mo.uid} is a {key.algorithm.name} key; the parameters ask for {algorithm.name}",
        )
    return params


def _other_scheme(given: CipherParams, stored: CipherParams) -> bool:
    return any(
        getattr(given, name) is not None and getattr(given, name) != getattr(stored, name)
        for name in ("cryptographic_algorithm", "block_cipher_mode", "digital_signature_algorithm")
    )


def is_aead(params: CipherParams) -> bool:
    """True when ``params`` resolve to an authenticated mode (GCM is the AES default)."""
    mode = params.block_cipher_mode
    if params.cryptographic_algorithm == CryptographicAlgorithm.AES and mode is None:
        return True
    return mode in _AEAD_MODES or params.cryptographic_algorithm == CryptographicAlgorithm.CHACHA20POLY1305


def approved_only(ctx: RequestContext) -> bool:
    return ctx.engine.config.approved_only


def mac_mode(algorithm: CryptographicAlgorithm, requested: S.CryptographicParameters | None) -> BlockCipherMode | None:
    """CBC when the request asks for AES with Block Cipher Mode CBC (CBC-MAC, PKCS#11 CKM_AES_MAC); None otherwise."""
    cbc = requested is not None and requested.block_cipher_mode == BlockCipherMode.CBC
    return BlockCipherMode.CBC if cbc and algorithm == CryptographicAlgorithm.AES else None


def mac_algorithm(mo: ManagedObject, key: Key, requested: S.CryptographicParameters | None) -> CryptographicAlgorithm:
    """The MAC algorithm of a MAC / MAC Verify (KMIP 2.1 §6.1.32) on ``mo`` (``resolve_mac_algorithm``, with the
    object's own Cryptographic Parameters under the request's)."""
    if key.kind != "symmetric":
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"MAC needs a symmetric key; object {mo.uid} is {key.kind}")
    params = (to_cipher_params(requested) or CipherParams()).merged(stored_params(mo))
    return resolve_mac_algorithm(params, key.algorithm)


def resolve_mac_algorithm(params: CipherParams, key_algorithm: CryptographicAlgorithm | None) -> CryptographicAlgorithm:
    """An HMAC algorithm named by ``params``, else the key's own algorithm; AES (or Block Cipher Mode CMAC) means
    CMAC. Also the PKCS#11 provider's, for session keys it holds itself."""
    if params.block_cipher_mode == BlockCipherMode.CMAC:
        algorithm: CryptographicAlgorithm | None = CryptographicAlgorithm.AES
    else:
        algorithm = params.cryptographic_algorithm or key_algorithm
    if algorithm is None:
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "no MAC algorithm: name one in the parameters")
    if algorithm not in MAC_ALGORITHMS:
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE
            if algorithm not in SYMMETRIC_ALGORITHMS
            else ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"{algorithm.name} is not a MAC algorithm",
        )
    return algorithm


__all__ = [
    "CHACHA",
    "MAC_ALGORITHMS",
    "SYMMETRIC_ALGORITHMS",
    "approved_only",
    "is_aead",
    "mac_algorithm",
    "mac_mode",
    "merged_params",
    "resolve_mac_algorithm",
]
