"""ML-KEM-512 (FIPS 203), which `cryptography` 51 lacks, from kyber-py (pure Python), shaped like `cryptography`'s
MLKEM768 key classes so the rest of the crypto layer treats all ML-KEM parameter sets alike.

kyber-py is not constant time (its authors say so): it serves ML-KEM-512 only, the smallest parameter set, which a
deployment that needs side-channel resistance should avoid; ML-KEM-768/1024 stay on `cryptography`. Keys are kept
the way `cryptography` keeps the larger sets: the private key as its 64-byte seed ``d ‖ z`` (FIPS 203 §7.1), in a
PKCS#8 ``seed [0]`` of id-alg-ml-kem-512 (RFC 9794-style encoding, as `cryptography` writes for 768/1024), and the
public key as the SubjectPublicKeyInfo of its 800-byte encapsulation key.
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.hazmat.primitives import serialization

#: id-alg-ml-kem-512 (2.16.840.1.101.3.4.4.1) as its AlgorithmIdentifier SEQUENCE.
_ALGORITHM = bytes.fromhex("300b0609608648016503040401")
SEED_BYTES = 64
PUBLIC_BYTES = 800
CIPHERTEXT_BYTES = 768
#: PKCS#8 PrivateKeyInfo up to the seed: version 0, the algorithm, OCTET STRING { [0] IMPLICIT OCTET STRING (64) }.
PKCS8_PREFIX = bytes.fromhex("3054020100") + _ALGORITHM + bytes.fromhex("04428040")
#: SubjectPublicKeyInfo up to the key: the algorithm, BIT STRING with no unused bits.
SPKI_PREFIX = bytes.fromhex("30820332") + _ALGORITHM + bytes.fromhex("0382032100")


def _kem() -> Any:
    from kyber_py.ml_kem import ML_KEM_512  # imported on first use: pure Python, only this parameter set needs it

    return ML_KEM_512


def available() -> bool:
    """Whether kyber-py is installed."""
    try:
        _kem()
    except ImportError:
        return False
    return True


class MLKEM512PublicKey:
    """An ML-KEM-512 encapsulation key."""

    __slots__ = ("_ek",)

    def __init__(self, ek: bytes) -> None:
        if len(ek) != PUBLIC_BYTES:
            raise ValueError(f"an ML-KEM-512 public key is {PUBLIC_BYTES} bytes")
        self._ek = bytes(ek)

    @classmethod
    def from_public_bytes(cls, data: bytes) -> MLKEM512PublicKey:
        """From the raw 800-byte encapsulation key."""
        return cls(data)

    def public_bytes_raw(self) -> bytes:
        """The raw encapsulation key."""
        return self._ek

    def public_bytes(self, encoding: serialization.Encoding, format: serialization.PublicFormat) -> bytes:
        """SubjectPublicKeyInfo DER, or the raw key (the encodings `cryptography` offers for ML-KEM)."""
        if encoding == serialization.Encoding.DER and format == serialization.PublicFormat.SubjectPublicKeyInfo:
            return SPKI_PREFIX + self._ek
        if encoding == serialization.Encoding.Raw and format == serialization.PublicFormat.Raw:
            return self._ek
        raise ValueError("ML-KEM-512 public keys are SubjectPublicKeyInfo DER or raw")

    def encapsulate(self) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext), in `cryptography`'s order (FIPS 203 ML-KEM.Encaps)."""
        shared, ciphertext = _kem().encaps(self._ek)
        return bytes(shared), bytes(ciphertext)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MLKEM512PublicKey) and other._ek == self._ek

    def __hash__(self) -> int:
        return hash(self._ek)


class MLKEM512PrivateKey:
    """An ML-KEM-512 decapsulation key, kept as its seed."""

    __slots__ = ("_dk", "_ek", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an ML-KEM-512 seed is {SEED_BYTES} bytes")
        self._seed = bytes(seed)
        self._ek, self._dk = _kem().key_derive(self._seed)

    @classmethod
    def generate(cls) -> MLKEM512PrivateKey:
        """A new key from a fresh seed (FIPS 203 ML-KEM.KeyGen: d and z from the system's random source)."""
        return cls(os.urandom(SEED_BYTES))

    @classmethod
    def from_seed_bytes(cls, data: bytes) -> MLKEM512PrivateKey:
        """From the 64-byte seed ``d ‖ z``."""
        return cls(data)

    def public_key(self) -> MLKEM512PublicKey:
        """The encapsulation key."""
        return MLKEM512PublicKey(self._ek)

    def private_bytes_raw(self) -> bytes:
        """The seed."""
        return self._seed

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Unencrypted PKCS#8 DER (the seed form), or the raw seed."""
        if not isinstance(encryption_algorithm, serialization.NoEncryption):
            raise ValueError("ML-KEM-512 keys are written unencrypted")
        if encoding == serialization.Encoding.DER and format == serialization.PrivateFormat.PKCS8:
            return PKCS8_PREFIX + self._seed
        if encoding == serialization.Encoding.Raw and format == serialization.PrivateFormat.Raw:
            return self._seed
        raise ValueError("ML-KEM-512 private keys are PKCS#8 DER or the raw seed")

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The shared secret (FIPS 203 ML-KEM.Decaps; a wrong ciphertext of the right length gives an implicit
        rejection secret, never an error)."""
        if len(ciphertext) != CIPHERTEXT_BYTES:
            raise ValueError(f"ML-KEM-512 ciphertexts are {CIPHERTEXT_BYTES} bytes")
        return bytes(_kem().decaps(self._dk, ciphertext))


def load_private(der: bytes) -> MLKEM512PrivateKey | None:
    """The key a PKCS#8 seed-form ML-KEM-512 DER holds, or None if ``der`` is not one."""
    if len(der) == len(PKCS8_PREFIX) + SEED_BYTES and der.startswith(PKCS8_PREFIX):
        return MLKEM512PrivateKey(der[len(PKCS8_PREFIX) :])
    return None


def load_public(der: bytes) -> MLKEM512PublicKey | None:
    """The key an ML-KEM-512 SubjectPublicKeyInfo holds, or None if ``der`` is not one."""
    if len(der) == len(SPKI_PREFIX) + PUBLIC_BYTES and der.startswith(SPKI_PREFIX):
        return MLKEM512PublicKey(der[len(SPKI_PREFIX) :])
    return None


__all__ = [
    "CIPHERTEXT_BYTES",
    "MLKEM512PrivateKey",
    "MLKEM512PublicKey",
    "available",
    "load_private",
    "load_public",
]
