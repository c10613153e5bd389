"""Asymmetric Encrypt/Decrypt, Sign/Signature Verify and key agreement (KMIP 2.1 §6.1.18, §6.1.14, §6.1.50,
§6.1.51, §6.1.11).

RSA encryption (RFC 8017): Padding Method OAEP (default), PKCS1_V1_5, or OAEP with Block Cipher Mode
AESKeyWrapPadding for RSA-AES-KEY-WRAP (PKCS#11 v3 §2.1.21 CKM_RSA_AES_KEY_WRAP: a fresh 256-bit AES key is
OAEP-encrypted, the data wrapped under it with RFC 5649; output ``OAEP(k) ‖ KWP(k, data)``). OAEP hashing defaults
to SHA-1 (RFC 8017 §A.2.1 default). The MGF1 hash defaults to the OAEP/PSS hash — not KMIP's literal SHA-1 default
(§4.16), because every OpenSSL, PKCS#11 and cloud-KMS peer pairs them; the OASIS test cases always name it.

ECIES (this layer's definition, for Encrypt with an EC, X25519/X448 or ML-KEM public key): a fresh ephemeral key
agrees a secret with the recipient key (ECDH, SP 800-56A §5.7.1.2 / RFC 7748; or ML-KEM encapsulation, FIPS 203),
HKDF-SHA-256 (RFC 5869) with no salt and ``info = "keystead-ecies-v1" ‖ ephemeral ‖ recipient`` derives a 256-bit
key, AES-256-GCM seals the data under a random 12-byte nonce with the request's additional data as AAD. Output:
``ephemeral ‖ nonce ‖ ciphertext ‖ tag(16)`` where ``ephemeral`` is the uncompressed SEC 1 point (Weierstrass
curves), the 32/56 raw bytes (X25519/X448) or the ML-KEM ciphertext.

Signatures: RSA-PSS (default for RSA; salt length = Salt Length bytes, else the digest length; verification with
no Salt Length accepts any), RSA PKCS#1 v1.5, ECDSA (DER ``Ecdsa-Sig-Value`` as X9.62; :func:`ecdsa_signature_to_raw`
gives PKCS#11's r‖s), DSA (DER ``Dss-Sig-Value``, FIPS 186-4; default hash SHA-256), Ed25519/Ed448 (RFC 8032
PureEdDSA), ML-DSA (FIPS 204, empty context). ``digested=True`` means the data is already the hash (KMIP Digested
Data), for RSA, ECDSA and DSA only. Key agreement: ECDH, X25519/X448 and finite-field Diffie-Hellman (PKCS #3).

Raw RSA PKCS#1 v1.5 (PKCS#11 v3 §2.1.6 CKM_RSA_PKCS as a signature): Padding Method PKCS1_V1_5 with no Hashing
Algorithm and no Digital Signature Algorithm — neither in the request nor in the key's Cryptographic Parameters —
signs the given bytes (Data or Digested Data, the same) as they are: EMSA-PKCS1-v1_5 (RFC 8017 §9.2) without the
hash and DigestInfo steps, i.e. ``0x00 01 FF…FF 00 ‖ data``. This is what TLS 1.0/1.1 (the 36-byte MD5‖SHA-1 of
RFC 4346 §7.4.3) and applications that build their own DigestInfo need; a DER DigestInfo signed this way gives the
very signature the hashed scheme gives. The data is at most k - 11 bytes (k the modulus length; RFC 8017 §9.2
step 3), else Invalid Field. Approved-only mode refuses raw signing but not raw verification (``_approved``).
Before this scheme existed PKCS1_V1_5 without a hash meant SHA-256; clients that want that name the hash.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    MaskGenerator,
    Operation,
    PaddingMethod,
    RecommendedCurve,
    ResultReason,
)

from . import _approved, _finite_field
from ._common import DECRYPTION_FAILED, DEFAULT_ECDSA_HASH, curve_for, enum_name, fail, hash_for, recommended_curve
from ._keys import ML_DSA, ML_KEM, SLH_DSA, describe, load_private, load_public, pqc_algorithm, public_from_point
from ._params import CipherParams, EncryptResult

_ECIES_INFO = b"keystead-ecies-v1"
_RSA_AES_WRAP_KEY_BYTES = 32
_GCM_NONCE = 12
_GCM_TAG = 16
MAX_BUFFERED_MESSAGE = 64 * 1024 * 1024

_EC_FAMILY = frozenset({CryptographicAlgorithm.EC, CryptographicAlgorithm.ECDSA, CryptographicAlgorithm.ECDH})
ASYMMETRIC_ALGORITHMS = frozenset(
    {CryptographicAlgorithm.RSA, CryptographicAlgorithm.ED25519, CryptographicAlgorithm.ED448, *_EC_FAMILY}
    | ML_KEM
    | ML_DSA
    | SLH_DSA
)


def _key_family(key: object) -> CryptographicAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return CryptographicAlgorithm.RSA
    if isinstance(
        key,
        ec.EllipticCurvePrivateKey
        | ec.EllipticCurvePublicKey
        | x25519.X25519PrivateKey
        | x25519.X25519PublicKey
        | x448.X448PrivateKey
        | x448.X448PublicKey,
    ):
        return CryptographicAlgorithm.EC
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return CryptographicAlgorithm.ED25519
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return CryptographicAlgorithm.ED448
    pqc = pqc_algorithm(key)
    if pqc is not None:
        return pqc
    finite_field = _finite_field.family(key)
    if finite_field is not None:
        return finite_field
    fail(ResultReason.INVALID_OBJECT_TYPE, f"unsupported key type {type(key).__name__}")


def _check_family(key: object, requested: CryptographicAlgorithm | None) -> CryptographicAlgorithm:
    family = _key_family(key)
    if requested is None:
        return family
    if family == requested or (family == CryptographicAlgorithm.EC and requested in _EC_FAMILY):
        return family
    if requested in _EC_FAMILY and family in (CryptographicAlgorithm.ED25519, CryptographicAlgorithm.ED448):
        return family  # Cosmian-style EC/CURVEED25519 objects
    fail(
        ResultReason.INVALID_OBJECT_TYPE,
        f"the key is a {family.name} key; {requested.name} parameters need a {requested.name} key",
    )


# ---------------------------------------------------------------------------------------------------------------
# Encryption
# ---------------------------------------------------------------------------------------------------------------


def _oaep(params: CipherParams) -> padding.OAEP:
    if params.mask_generator not in (None, MaskGenerator.MGF1):
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"mask generator {enum_name(params.mask_generator)}")
    digest = hash_for(params.hashing_algorithm or HashingAlgorithm.SHA_1)
    mgf_digest = hash_for(params.mask_generator_hashing_algorithm or params.hashing_algorithm or HashingAlgorithm.SHA_1)
    return padding.OAEP(mgf=padding.MGF1(mgf_digest), algorithm=digest, label=params.p_source or None)


def _rsa_padding(params: CipherParams) -> tuple[PaddingMethod, Any]:
    method = params.padding_method or PaddingMethod.OAEP
    if method == PaddingMethod.OAEP:
        return method, _oaep(params)
    if method == PaddingMethod.PKCS1_V1_5:
        return method, padding.PKCS1v15()
    fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"padding {enum_name(method)} is not an RSA encryption padding")


def _rsa_capacity(key_bytes: int, method: PaddingMethod, pad: Any) -> int:
    if method == PaddingMethod.PKCS1_V1_5:
        return key_bytes - 11  # RFC 8017 §7.2.1
    digest_size: int = pad.algorithm.digest_size
    return key_bytes - 2 * digest_size - 2  # RFC 8017 §7.1.1


def _rsa_aes_wrap(params: CipherParams) -> bool:
    return params.block_cipher_mode == BlockCipherMode.AESKEYWRAPPADDING


def encrypt(public_der: bytes, params: CipherParams, data: bytes, aad: bytes | None) -> EncryptResult:
    """Encrypt with a public key (SPKI DER; a PKCS#8 private key is accepted for its public half)."""
    key = load_public(public_der)
    family = _check_family(key, params.cryptographic_algorithm)
    if isinstance(key, rsa.RSAPublicKey):
        if aad:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "RSA encryption does not take additional data")
        if _rsa_aes_wrap(params):
            if not data:
                fail(ResultReason.INVALID_FIELD, "RSA-AES-KEY-WRAP needs at least one byte")
            aes_key = os.urandom(_RSA_AES_WRAP_KEY_BYTES)
            head = key.encrypt(aes_key, _oaep(params))
            return EncryptResult(head + keywrap.aes_key_wrap_with_padding(aes_key, data))
        method, pad = _rsa_padding(params)
        capacity = _rsa_capacity(key.key_size // 8, method, pad)
        if len(data) > capacity:
            fail(ResultReason.INVALID_FIELD, f"RSA-{key.key_size} {method.name} encrypts at most {capacity} bytes")
        return EncryptResult(key.encrypt(data, pad))
    if family in ML_KEM and not data and not aad:
        # Encrypt of nothing with an ML-KEM key is a bare encapsulation, as Cosmian KMS answers it: the shared
        # secret as Data, the encapsulation (FIPS 203 ciphertext) as IV/Counter/Nonce; Decrypt of that
        # encapsulation alone gives the secret back.
        shared, encapsulation = key.encapsulate()  # type: ignore[union-attr]
        return EncryptResult(shared, iv_counter_nonce=encapsulation)
    if family in ML_KEM or family == CryptographicAlgorithm.EC:
        if params.padding_method not in (None, PaddingMethod.NONE):
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "ECIES takes no Padding Method")
        return EncryptResult(_ecies_seal(key, data, aad))
    fail(ResultReason.INVALID_OBJECT_TYPE, f"{family.name} keys do not encrypt")


def decrypt(private_der: bytes, params: CipherParams, data: bytes, aad: bytes | None) -> bytes:
    """Decrypt with a PKCS#8 private key; every integrity failure is CRYPTOGRAPHIC_FAILURE "decryption failed"."""
    key = load_private(private_der)
    family = _check_family(key, params.cryptographic_algorithm)
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            if aad:
                fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "RSA encryption does not take additional data")
            size = key.key_size // 8
            if _rsa_aes_wrap(params):
                if len(data) < size + 16:
                    fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
                aes_key = key.decrypt(data[:size], _oaep(params))
                return keywrap.aes_key_unwrap_with_padding(aes_key, data[size:])
            _method, pad = _rsa_padding(params)
            if len(data) != size:
                fail(ResultReason.INVALID_FIELD, f"RSA-{key.key_size} ciphertext is {size} bytes, got {len(data)}")
            return key.decrypt(data, pad)
        if family in ML_KEM and len(data) == _ephemeral_length(key) and not aad:
            return key.decapsulate(data)  # type: ignore[union-attr]  # see encrypt: a bare encapsulation
        if family in ML_KEM or family == CryptographicAlgorithm.EC:
            return _ecies_open(key, data, aad)
    except (ValueError, InvalidTag, keywrap.InvalidUnwrap):
        # RSA padding errors, unwrap failures and bad GCM tags all read the same: no Bleichenbacher/Manger oracle.
        fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
    fail(ResultReason.INVALID_OBJECT_TYPE, f"{family.name} keys do not decrypt")


def _point_bytes(key: PublicKeyTypes) -> bytes:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    raw: bytes = key.public_bytes_raw()  # type: ignore[union-attr]
    return raw


def _ecies_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    okm = HKDF(hashes.SHA256(), 32, salt=None, info=_ECIES_INFO + ephemeral + recipient).derive(shared)
    return AESGCM(okm)


def _ecies_seal(key: PublicKeyTypes, data: bytes, aad: bytes | None) -> bytes:
    ephemeral_public: bytes
    if isinstance(key, ec.EllipticCurvePublicKey):
        eph = ec.generate_private_key(key.curve)
        shared = eph.exchange(ec.ECDH(), key)
        ephemeral_public = _point_bytes(eph.public_key())
    elif isinstance(key, x25519.X25519PublicKey):
        eph25519 = x25519.X25519PrivateKey.generate()
        shared, ephemeral_public = eph25519.exchange(key), eph25519.public_key().public_bytes_raw()
    elif isinstance(key, x448.X448PublicKey):
        eph448 = x448.X448PrivateKey.generate()
        shared, ephemeral_public = eph448.exchange(key), eph448.public_key().public_bytes_raw()
    else:  # ML-KEM: the encapsulation is the ephemeral part
        shared, ephemeral_public = key.encapsulate()  # type: ignore[union-attr]
    nonce = os.urandom(_GCM_NONCE)
    sealed = _ecies_key(shared, ephemeral_public, _point_bytes(key)).encrypt(nonce, data, aad)
    return ephemeral_public + nonce + sealed


def _ephemeral_length(key: PrivateKeyTypes) -> int:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return 1 + 2 * ((key.curve.key_size + 7) // 8)
    if isinstance(key, x25519.X25519PrivateKey):
        return 32
    if isinstance(key, x448.X448PrivateKey):
        return 56
    # ML-KEM ciphertext sizes (FIPS 203 Table 3).
    return {CryptographicAlgorithm.ML_KEM_768: 1088, CryptographicAlgorithm.ML_KEM_1024: 1568}.get(
        pqc_algorithm(key) or CryptographicAlgorithm.ML_KEM_512, 768
    )


def _ecies_open(key: PrivateKeyTypes, data: bytes, aad: bytes | None) -> bytes:
    n = _ephemeral_length(key)
    if len(data) < n + _GCM_NONCE + _GCM_TAG:
        fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
    ephemeral, nonce, sealed = data[:n], data[n : n + _GCM_NONCE], data[n + _GCM_NONCE :]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, ephemeral)
        shared = key.exchange(ec.ECDH(), peer)
    elif isinstance(key, x25519.X25519PrivateKey):
        shared = key.exchange(x25519.X25519PublicKey.from_public_bytes(ephemeral))
    elif isinstance(key, x448.X448PrivateKey):
        shared = key.exchange(x448.X448PublicKey.from_public_bytes(ephemeral))
    else:
        shared = key.decapsulate(ephemeral)  # type: ignore[union-attr]
    return _ecies_key(shared, ephemeral, _point_bytes(key.public_key())).decrypt(nonce, sealed, aad)


def encapsulate(public_der: bytes) -> tuple[bytes, bytes]:
    """ML-KEM encapsulation (FIPS 203 §7.2): ``(shared secret, ciphertext)``."""
    key = load_public(public_der)
    if pqc_algorithm(key) not in ML_KEM:
        fail(ResultReason.INVALID_OBJECT_TYPE, "encapsulation needs an ML-KEM public key")
    shared, ciphertext = key.encapsulate()  # type: ignore[union-attr]
    return shared, ciphertext


def decapsulate(private_der: bytes, ciphertext: bytes) -> bytes:
    """ML-KEM decapsulation (FIPS 203 §7.3): the shared secret (implicit rejection: a bad ciphertext gives a
    pseudo-random secret, never an error, as the standard requires)."""
    key = load_private(private_der)
    if pqc_algorithm(key) not in ML_KEM:
        fail(ResultReason.INVALID_OBJECT_TYPE, "decapsulation needs an ML-KEM private key")
    try:
        secret: bytes = key.decapsulate(ciphertext)  # type: ignore[union-attr]
    except ValueError:
        fail(ResultReason.INVALID_FIELD, "ML-KEM ciphertext of the wrong length")
    return secret


# ---------------------------------------------------------------------------------------------------------------
# Key agreement
# ---------------------------------------------------------------------------------------------------------------


def ecdh(private_der: bytes, peer_public: bytes) -> bytes:
    """The raw ECDH / X25519 / X448 shared secret (SP 800-56A §5.7.1.2 Z; RFC 7748 §6), or for an ML-KEM private
    key the secret decapsulated from ``peer_public``, the ciphertext (FIPS 203; PKCS#11 3.2 C_DecapsulateKey).

    ``peer_public`` is a SubjectPublicKeyInfo DER, a SEC 1 point on the private key's curve (PKCS#11
    CKM_ECDH1_DERIVE), or the 32/56 raw bytes of an X25519/X448 key. All-zero X25519/X448 results (small-order
    peer points) are refused, as RFC 7748 §6.1 recommends.
    """
    key = load_private(private_der)
    peer: Any
    if pqc_algorithm(key) in ML_KEM:
        # Key establishment with a KEM private key: the "peer public value" is the encapsulation (FIPS 203 §7.3).
        return decapsulate(private_der, peer_public)
    if isinstance(key, x25519.X25519PrivateKey | x448.X448PrivateKey):
        curve = RecommendedCurve.CURVE25519 if isinstance(key, x25519.X25519PrivateKey) else RecommendedCurve.CURVE448
        raw_size = 32 if curve == RecommendedCurve.CURVE25519 else 56
        peer = public_from_point(peer_public, curve) if len(peer_public) == raw_size else load_public(peer_public)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        point_size = 1 + 2 * ((key.curve.key_size + 7) // 8)
        compressed = 1 + (key.curve.key_size + 7) // 8
        looks_like_point = peer_public[:1] in (b"\x02", b"\x03", b"\x04") and len(peer_public) in (
            point_size,
            compressed,
        )
        peer = (
            public_from_point(peer_public, recommended_curve(key.curve))
            if looks_like_point
            else load_public(peer_public)
        )
    elif _finite_field.family(key) == CryptographicAlgorithm.DH:
        return _finite_field.agree(key, peer_public)
    else:
        fail(ResultReason.INVALID_OBJECT_TYPE, "key agreement needs an EC, X25519, X448 or Diffie-Hellman private key")
    try:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != key.curve.name:
                fail(ResultReason.INVALID_OBJECT_TYPE, "the peer key is not on the private key's curve")
            return key.exchange(ec.ECDH(), peer)
        shared: bytes = key.exchange(peer)
    except (ValueError, TypeError):
        fail(ResultReason.INVALID_FIELD, "the peer public key does not fit the private key")
    return shared


# ---------------------------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------------------------

_RSA_PKCS1 = PaddingMethod.PKCS1_V1_5
#: DER DigestInfo prefixes (RFC 8017 §9.2 note 1): what EMSA-PKCS1-v1_5 puts before a digest of each hash. Raw
#: PKCS#1 v1.5 signers (PKCS#11 CKM_RSA_PKCS: the provider, HSM-resident keys) build or recognise them.
DIGEST_INFO_PREFIXES: dict[HashingAlgorithm, bytes] = {
    HashingAlgorithm.SHA_1: bytes.fromhex("3021300906052b0e03021a05000414"),
    HashingAlgorithm.SHA_224: bytes.fromhex("302d300d06096086480165030402040500041c"),
    HashingAlgorithm.SHA_256: bytes.fromhex("3031300d060960864801650304020105000420"),
    HashingAlgorithm.SHA_384: bytes.fromhex("3041300d060960864801650304020205000430"),
    HashingAlgorithm.SHA_512: bytes.fromhex("3051300d060960864801650304020305000440"),
}

_DSA_TABLE: dict[DigitalSignatureAlgorithm, tuple[CryptographicAlgorithm, HashingAlgorithm | None, PaddingMethod]] = {
    DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA_1,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA_224_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA_224,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA_256,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA_384_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA_384,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA_512_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA_512,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA3_256_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA3_256,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA3_384_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA3_384,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.SHA3_512_WITH_RSA_ENCRYPTION: (
        CryptographicAlgorithm.RSA,
        HashingAlgorithm.SHA3_512,
        _RSA_PKCS1,
    ),
    DigitalSignatureAlgorithm.RSASSA_PSS: (CryptographicAlgorithm.RSA, None, PaddingMethod.PSS),
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA_1: (CryptographicAlgorithm.EC, HashingAlgorithm.SHA_1, PaddingMethod.NONE),
    DigitalSignatureAlgorithm.DSA_WITH_SHA_1: (CryptographicAlgorithm.DSA, HashingAlgorithm.SHA_1, PaddingMethod.NONE),
    DigitalSignatureAlgorithm.DSA_WITH_SHA224: (
        CryptographicAlgorithm.DSA,
        HashingAlgorithm.SHA_224,
        PaddingMethod.NONE,
    ),
    DigitalSignatureAlgorithm.DSA_WITH_SHA256: (
        CryptographicAlgorithm.DSA,
        HashingAlgorithm.SHA_256,
        PaddingMethod.NONE,
    ),
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA224: (
        CryptographicAlgorithm.EC,
        HashingAlgorithm.SHA_224,
        PaddingMethod.NONE,
    ),
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA256: (
        CryptographicAlgorithm.EC,
        HashingAlgorithm.SHA_256,
        PaddingMethod.NONE,
    ),
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA384: (
        CryptographicAlgorithm.EC,
        HashingAlgorithm.SHA_384,
        PaddingMethod.NONE,
    ),
    DigitalSignatureAlgorithm.ECDSA_WITH_SHA512: (
        CryptographicAlgorithm.EC,
        HashingAlgorithm.SHA_512,
        PaddingMethod.NONE,
    ),
}


@dataclass(frozen=True, slots=True)
class SignatureScheme:
    """A resolved signature request: key family, hash (None for EdDSA/ML-DSA and raw RSA PKCS#1 v1.5), padding
    and the PSS salt."""

    family: CryptographicAlgorithm
    hashing_algorithm: HashingAlgorithm | None
    padding_method: PaddingMethod
    salt_length: int | None
    mgf_hashing_algorithm: HashingAlgorithm | None

    @property
    def raw(self) -> bool:
        """True for raw RSA PKCS#1 v1.5: the data is signed as given, with no hash and no DigestInfo."""
        return self.family == CryptographicAlgorithm.RSA and self.hashing_algorithm is None

    def rsa_padding(self, *, verifying: bool) -> padding.AsymmetricPadding:
        if self.padding_method == _RSA_PKCS1:
            return padding.PKCS1v15()
        assert self.mgf_hashing_algorithm is not None
        salt: int | Any = self.salt_length
        if salt is None:
            salt = padding.PSS.AUTO if verifying else padding.PSS.DIGEST_LENGTH
        return padding.PSS(mgf=padding.MGF1(hash_for(self.mgf_hashing_algorithm)), salt_length=salt)


def signature_scheme(key: PrivateKeyTypes | PublicKeyTypes, params: CipherParams) -> SignatureScheme:
    """Resolve Cryptographic Parameters against a key for Sign / Signature Verify (KMIP 2.1 §6.1.50-51)."""
    family = _check_family(key, params.cryptographic_algorithm)
    hashing, method = params.hashing_algorithm, params.padding_method
    dsa = params.digital_signature_algorithm
    if dsa is not None:
        entry = _DSA_TABLE.get(dsa)
        if entry is None:
            fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"signature algorithm {enum_name(dsa)}")
        dsa_family, dsa_hash, dsa_padding = entry
        if dsa_family != family:
            fail(ResultReason.INVALID_OBJECT_TYPE, f"{dsa.name} needs a {dsa_family.name} key, not {family.name}")
        if dsa_hash is not None and hashing is not None and hashing != dsa_hash:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{dsa.name} contradicts hashing {hashing.name}")
        hashing = dsa_hash or hashing
        if family == CryptographicAlgorithm.RSA:
            if method is not None and method != dsa_padding:
                fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{dsa.name} contradicts padding {method.name}")
            method = dsa_padding
    if family == CryptographicAlgorithm.RSA:
        method = PaddingMethod.PSS if method is None else method
        if method not in (PaddingMethod.PSS, _RSA_PKCS1):
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"padding {enum_name(method)} is not an RSA signature one")
        if method == _RSA_PKCS1 and hashing is None:
            return SignatureScheme(family, None, method, None, None)  # raw PKCS#1 v1.5 (module docstring)
        hashing = hashing or HashingAlgorithm.SHA_256
        salt = params.salt_length
        if method == PaddingMethod.PSS:
            if params.mask_generator not in (None, MaskGenerator.MGF1):
                fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, "only MGF1 is supported")
            if params.trailer_field not in (None, 1):
                fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, "only the 0xBC trailer field (1) is supported")
            assert isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)
            maximum = padding.calculate_max_pss_salt_length(key, hash_for(hashing))
            if salt is not None and not 0 <= salt <= maximum:
                fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"PSS Salt Length must be 0 to {maximum} bytes")
        mgf = params.mask_generator_hashing_algorithm or hashing
        return SignatureScheme(family, hashing, method, salt, mgf)
    if family == CryptographicAlgorithm.EC:
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            fail(ResultReason.INVALID_OBJECT_TYPE, "X25519/X448 keys agree keys; they do not sign")
        if method not in (None, PaddingMethod.NONE):
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "ECDSA takes no Padding Method")
        hashing = hashing or DEFAULT_ECDSA_HASH.get(recommended_curve(key.curve), HashingAlgorithm.SHA_256)
        return SignatureScheme(family, hashing, PaddingMethod.NONE, None, None)
    if family in (CryptographicAlgorithm.ED25519, CryptographicAlgorithm.ED448) or family in ML_DSA | SLH_DSA:
        return SignatureScheme(family, None, PaddingMethod.NONE, None, None)
    if family == CryptographicAlgorithm.DSA:
        if method not in (None, PaddingMethod.NONE):
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "DSA takes no Padding Method")
        return SignatureScheme(family, hashing or HashingAlgorithm.SHA_256, PaddingMethod.NONE, None, None)
    fail(ResultReason.INVALID_OBJECT_TYPE, f"{family.name} keys do not sign")


def _prehashed(scheme: SignatureScheme, data: bytes) -> utils.Prehashed:
    if scheme.hashing_algorithm is None:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"{scheme.family.name} signs messages, not digests")
    digest = hash_for(scheme.hashing_algorithm)
    if len(data) != digest.digest_size:
        fail(ResultReason.INVALID_FIELD, f"a {digest.name} digest is {digest.digest_size} bytes, got {len(data)}")
    return utils.Prehashed(digest)


def _message_hash(scheme: SignatureScheme, data: bytes, digested: bool) -> hashes.HashAlgorithm | utils.Prehashed:
    if digested:
        return _prehashed(scheme, data)
    assert scheme.hashing_algorithm is not None  # hashed RSA and ECDSA schemes always resolve a hash
    return hash_for(scheme.hashing_algorithm)


def _raw_capacity(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> int:
    """Most bytes a raw PKCS#1 v1.5 signature covers: k - 11 (RFC 8017 §9.2 step 3, emLen ≥ tLen + 11)."""
    return (key.key_size + 7) // 8 - 11


def _check_raw_length(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, size: int) -> None:
    capacity = _raw_capacity(key)
    if size > capacity:
        fail(
            ResultReason.INVALID_FIELD,
            f"a raw RSA-{key.key_size} PKCS#1 v1.5 signature covers at most {capacity} bytes, got {size}",
        )


def sign_with(key: PrivateKeyTypes, scheme: SignatureScheme, data: bytes, *, digested: bool) -> bytes:
    """Sign with a resolved scheme."""
    if isinstance(key, rsa.RSAPrivateKey):
        if scheme.raw:
            _check_raw_length(key, len(data))
            return key.sign(data, padding.PKCS1v15(), utils.NoDigestInfo())
        return key.sign(data, scheme.rsa_padding(verifying=False), _message_hash(scheme, data, digested))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(_message_hash(scheme, data, digested)))
    if scheme.family == CryptographicAlgorithm.DSA:  # DER Dss-Sig-Value (RFC 3279 §2.2.2)
        dss: bytes = key.sign(data, _message_hash(scheme, data, digested))  # type: ignore[union-attr, call-arg, arg-type]
        return dss
    if digested:
        _prehashed(scheme, data)  # raises: EdDSA and ML-DSA sign messages
    signature: bytes = key.sign(data)  # type: ignore[union-attr, call-arg]
    return signature


def verify_with(key: PublicKeyTypes, scheme: SignatureScheme, data: bytes, signature: bytes, *, digested: bool) -> bool:
    """Verify with a resolved scheme; False for any invalid or malformed signature."""
    if digested and scheme.hashing_algorithm is None and not scheme.raw:
        _prehashed(scheme, data)  # raises: EdDSA and ML-DSA verify messages
    if isinstance(key, rsa.RSAPublicKey) and scheme.raw:
        _check_raw_length(key, len(data))
        try:
            recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), utils.NoDigestInfo())
        except (InvalidSignature, ValueError):
            return False
        return hmac.compare_digest(recovered, data)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = scheme.rsa_padding(verifying=True)
            key.verify(signature, data, pad, _message_hash(scheme, data, digested))
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_message_hash(scheme, data, digested)))
        elif scheme.family == CryptographicAlgorithm.DSA:
            key.verify(signature, data, _message_hash(scheme, data, digested))  # type: ignore[union-attr, call-arg, arg-type]
        else:
            key.verify(signature, data)  # type: ignore[union-attr, call-arg]
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def _resolve(
    key: PrivateKeyTypes | PublicKeyTypes, params: CipherParams, operation: Operation, approved_only: bool
) -> SignatureScheme:
    scheme = signature_scheme(key, params)
    if approved_only:
        info = describe(key)
        resolved = replace(params, hashing_algorithm=scheme.hashing_algorithm, padding_method=scheme.padding_method)
        _approved.require_approved(
            operation, info.algorithm, length_bits=info.length_bits, curve=info.curve, params=resolved
        )
    return scheme


def sign(
    private_der: bytes, params: CipherParams, data: bytes, *, digested: bool = False, approved_only: bool = False
) -> bytes:
    """Sign ``data`` (or its digest when ``digested``) with a PKCS#8 private key (KMIP 2.1 §6.1.50).

    Signature formats: RSA as RFC 8017, ECDSA as DER ``Ecdsa-Sig-Value``, EdDSA as RFC 8032, ML-DSA as FIPS 204.
    """
    key = load_private(private_der)
    return sign_with(key, _resolve(key, params, Operation.SIGN, approved_only), data, digested=digested)


def prepare_sign(
    private_der: bytes, params: CipherParams, *, approved_only: bool = False
) -> Callable[[bytes, bool], bytes]:
    """``sign`` with the key loaded and the scheme resolved and checked once: ``call(data, digested)``."""
    key = load_private(private_der)
    scheme = _resolve(key, params, Operation.SIGN, approved_only)
    if isinstance(key, ec.EllipticCurvePrivateKey) and scheme.hashing_algorithm is not None:
        # ECDSA, the hot signature of PKCS#11 applications: its algorithm objects built once, not per call.
        digest = hash_for(scheme.hashing_algorithm)
        on_digest, on_message = ec.ECDSA(utils.Prehashed(digest)), ec.ECDSA(digest)

        def ecdsa(data: bytes, digested: bool) -> bytes:
            if not digested:
                return key.sign(data, on_message)
            if len(data) != digest.digest_size:
                _prehashed(scheme, data)  # raises, saying what length was expected
            return key.sign(data, on_digest)

        return ecdsa
    return lambda data, digested: sign_with(key, scheme, data, digested=digested)


def verify(
    public_der: bytes,
    params: CipherParams,
    data: bytes,
    signature: bytes,
    *,
    digested: bool = False,
    approved_only: bool = False,
) -> bool:
    """Signature Verify (KMIP 2.1 §6.1.51) with an SPKI public key: True if valid, False otherwise."""
    key = load_public(public_der)
    scheme = _resolve(key, params, Operation.SIGNATURE_VERIFY, approved_only)
    return verify_with(key, scheme, data, signature, digested=digested)


def _coordinate_size(curve: RecommendedCurve) -> int:
    return (curve_for(curve).key_size + 7) // 8


def ecdsa_signature_to_raw(signature: bytes, curve: RecommendedCurve) -> bytes:
    """DER ``Ecdsa-Sig-Value`` → fixed-width ``r ‖ s`` (PKCS#11 v3 §2.3.1 CKM_ECDSA signature format)."""
    return dss_signature_to_raw(signature, _coordinate_size(curve))


def dss_signature_to_raw(signature: bytes, size: int) -> bytes:
    """DER ``Dss-Sig-Value`` / ``Ecdsa-Sig-Value`` → ``r ‖ s``, each ``size`` bytes (PKCS#11 v3 §2.2.1 CKM_DSA: the
    subprime's length; §2.3.1 CKM_ECDSA: the curve order's)."""
    try:
        r, s = utils.decode_dss_signature(signature)
    except ValueError:
        fail(ResultReason.INVALID_FIELD, "not a DER DSA or ECDSA signature")
    try:
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    except OverflowError:
        fail(ResultReason.INVALID_FIELD, f"signature values do not fit {size} bytes")


def ecdsa_signature_from_raw(signature: bytes) -> bytes:
    """Fixed-width ``r ‖ s`` (PKCS#11) → DER ``Ecdsa-Sig-Value`` (X9.62)."""
    if not signature or len(signature) % 2:
        fail(ResultReason.INVALID_FIELD, "a raw ECDSA signature has an even, non-zero length")
    half = len(signature) // 2
    return utils.encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))


class _MessageAccumulator:
    """Hash-as-you-go for RSA/ECDSA; buffer for PureEdDSA and ML-DSA, which sign the whole message, and for raw
    RSA PKCS#1 v1.5, whose input is at most k - 11 bytes (refused as soon as a part exceeds it)."""

    __slots__ = ("_buffer", "_done", "_hash", "_key", "scheme")

    def __init__(self, scheme: SignatureScheme, key: PrivateKeyTypes | PublicKeyTypes) -> None:
        self.scheme = scheme
        self._done = False
        self._hash = hashes.Hash(hash_for(scheme.hashing_algorithm)) if scheme.hashing_algorithm else None
        self._buffer = bytearray()
        self._key = key if scheme.raw and isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) else None

    def update(self, data: bytes) -> None:
        if self._done:
            fail(ResultReason.INVALID_MESSAGE, "the signature stream is already finalized")
        if self._hash is not None:
            self._hash.update(data)
            return
        if self._key is not None:
            _check_raw_length(self._key, len(self._buffer) + len(data))
        if len(self._buffer) + len(data) > MAX_BUFFERED_MESSAGE:
            fail(ResultReason.SERVER_LIMIT_EXCEEDED, f"{self.scheme.family.name} streams are limited to 64 MiB")
        self._buffer += data

    def message(self) -> tuple[bytes, bool]:
        """``(data, digested)`` for the final sign/verify call."""
        if self._done:
            fail(ResultReason.INVALID_MESSAGE, "the signature stream is already finalized")
        self._done = True
        if self._hash is not None:
            return self._hash.finalize(), True
        return bytes(self._buffer), False


class SignStream:
    """Sign spread over several requests (KMIP 2.1 §6.1.50 Init/Final Indicator; PKCS#11 C_SignUpdate)."""

    __slots__ = ("_acc", "_key")

    def __init__(self, private_der: bytes, params: CipherParams, *, approved_only: bool = False) -> None:
        self._key = load_private(private_der)
        self._acc = _MessageAccumulator(_resolve(self._key, params, Operation.SIGN, approved_only), self._key)

    def update(self, data: bytes) -> None:
        """Add message bytes."""
        self._acc.update(data)

    def finalize(self, data: bytes = b"") -> bytes:
        """Add the last bytes and return the signature."""
        if data:
            self._acc.update(data)
        message, digested = self._acc.message()
        return sign_with(self._key, self._acc.scheme, message, digested=digested)


class VerifyStream:
    """Signature Verify spread over several requests (KMIP 2.1 §6.1.51; PKCS#11 C_VerifyUpdate)."""

    __slots__ = ("_acc", "_key")

    def __init__(self, public_der: bytes, params: CipherParams, *, approved_only: bool = False) -> None:
        self._key = load_public(public_der)
        self._acc = _MessageAccumulator(
            _resolve(self._key, params, Operation.SIGNATURE_VERIFY, approved_only), self._key
        )

    def update(self, data: bytes) -> None:
        """Add message bytes."""
        self._acc.update(data)

    def finalize(self, signature: bytes, data: bytes = b"") -> bool:
        """Add the last bytes and check ``signature``."""
        if data:
            self._acc.update(data)
        message, digested = self._acc.message()
        return verify_with(self._key, self._acc.scheme, message, signature, digested=digested)
