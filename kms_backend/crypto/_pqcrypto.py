"""ML-KEM-512 (FIPS 203) and SLH-DSA (FIPS 205, all twelve parameter sets), which `cryptography` 51 lacks, from
the ``pqcrypto`` package, shaped like `cryptography`'s ML-KEM/ML-DSA key classes so the rest of the crypto layer
treats every post-quantum key alike.

Why ``pqcrypto``: one abi3 binary wheel (compiled Rust implementations of the final FIPS 203/204/205 texts, with
context strings and the pre-hash variants), fast enough for a server (SLH-DSA-SHA2-256s signs in about two seconds
where pure-Python implementations take minutes), written to run in constant time, Apache-2.0. The tests check it
against independent implementations (kyber-py for ML-KEM-512, the ``slh-dsa`` package for SLH-DSA). liboqs's
Python binding was the other candidate: it ships no binary (it builds liboqs from source on first import), and
no Debian package provides the library.

Encodings, as OpenSSL 3.5 and the IETF LAMPS drafts write them:

* ML-KEM-512 private keys are PKCS#8 of id-alg-ml-kem-512 whose privateKey holds the ``expandedKey`` choice (the
  1632-byte decapsulation key; ``pqcrypto`` derives keys from fresh randomness only, so there is no seed to keep).
  The ``both`` choice is read too (its expanded key is used). The ``seed`` choice alone cannot be expanded with
  ``pqcrypto`` and is refused with a clear error.
* SLH-DSA private keys are PKCS#8 of id-slh-dsa-* whose privateKey is the raw ``SK.seed ‖ SK.prf ‖ PK.seed ‖
  PK.root`` (RFC 9909); public keys are SubjectPublicKeyInfo of the raw ``PK.seed ‖ PK.root``.
* Signatures are pure SLH-DSA with the empty context (FIPS 205 §10.2), what OpenSSL and Cosmian KMS produce.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from kms_backend.kmip._registry_data import CryptographicAlgorithm


class PQKeyError(ValueError):
    """Key material that names one of these parameter sets but cannot be used (its message says why)."""


# -- DER in a few lines: every structure here is a fixed layout of known lengths ------------------------------


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _oid(arc: int, last: int) -> bytes:
    return _tlv(0x30, _tlv(0x06, bytes([0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, arc, last])))


def _pkcs8(algorithm_id: bytes, private_key: bytes) -> bytes:
    return _tlv(0x30, _tlv(0x02, b"\x00") + algorithm_id + _tlv(0x04, private_key))


def _spki(algorithm_id: bytes, public_key: bytes) -> bytes:
    return _tlv(0x30, algorithm_id + _tlv(0x03, b"\x00" + public_key))


# -- the key classes ------------------------------------------------------------------------------------------


class PQPublicKey:
    """A public key of one parameter set (subclassed per set below)."""

    algorithm: ClassVar[CryptographicAlgorithm]
    _module: ClassVar[ModuleType]
    _algorithm_id: ClassVar[bytes]
    public_size: ClassVar[int]

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != self.public_size:
            raise ValueError(f"an {self.algorithm.name} public key is {self.public_size} bytes")
        self._raw = bytes(raw)

    @classmethod
    def from_public_bytes(cls, data: bytes) -> PQPublicKey:
        """From the raw public key."""
        return cls(data)

    def public_bytes_raw(self) -> bytes:
        """The raw public key."""
        return self._raw

    def public_bytes(self, encoding: serialization.Encoding, format: serialization.PublicFormat) -> bytes:
        """SubjectPublicKeyInfo DER, or the raw key (the encodings `cryptography` offers for ML-KEM/ML-DSA)."""
        if encoding == serialization.Encoding.DER and format == serialization.PublicFormat.SubjectPublicKeyInfo:
            return _spki(self._algorithm_id, self._raw)
        if encoding == serialization.Encoding.Raw and format == serialization.PublicFormat.Raw:
            return self._raw
        raise ValueError(f"{self.algorithm.name} public keys are SubjectPublicKeyInfo DER or raw")

    def encapsulate(self) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext), in `cryptography`'s order (FIPS 203 ML-KEM.Encaps)."""
        ciphertext, shared = self._module.encaps(self._raw)
        return bytes(shared), bytes(ciphertext)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raise InvalidSignature unless ``signature`` is a pure signature of ``data`` (FIPS 205 §10.3)."""
        try:
            self._module.verify(self._raw, bytes(data), bytes(signature))
        except Exception as exc:  # pqcrypto raises its own InvalidSignatureError, or ValueError for bad lengths
            raise InvalidSignature from exc

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class PQPrivateKey:
    """A private key of one parameter set (subclassed per set below)."""

    algorithm: ClassVar[CryptographicAlgorithm]
    _module: ClassVar[ModuleType]
    _algorithm_id: ClassVar[bytes]
    _public_class: ClassVar[type[PQPublicKey]]
    private_size: ClassVar[int]

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if len(raw) != self.private_size:
            raise ValueError(f"an {self.algorithm.name} private key is {self.private_size} bytes")
        self._raw = bytes(raw)

    @classmethod
    def generate(cls) -> PQPrivateKey:
        """A new key (the library draws its randomness from the operating system)."""
        _public, private = cls._module.keygen()
        return cls(bytes(private))

    def public_key(self) -> PQPublicKey:
        """The public key, which the private key's encoding carries (FIPS 203 dk; FIPS 205 SK ends with PK)."""
        return self._public_class(self._public_part())

    def _public_part(self) -> bytes:
        raise NotImplementedError

    def private_bytes_raw(self) -> bytes:
        """The raw private key (ML-KEM: the expanded decapsulation key)."""
        return self._raw

    def _pkcs8_private_key(self) -> bytes:
        return self._raw

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Unencrypted PKCS#8 DER, or the raw private key."""
        if not isinstance(encryption_algorithm, serialization.NoEncryption):
            raise ValueError(f"{self.algorithm.name} keys are written unencrypted")
        if encoding == serialization.Encoding.DER and format == serialization.PrivateFormat.PKCS8:
            return _pkcs8(self._algorithm_id, self._pkcs8_private_key())
        if encoding == serialization.Encoding.Raw and format == serialization.PrivateFormat.Raw:
            return self._raw
        raise ValueError(f"{self.algorithm.name} private keys are PKCS#8 DER or raw")

    def sign(self, data: bytes) -> bytes:
        """A pure signature of ``data`` with the empty context (FIPS 205 §10.2.1)."""
        return bytes(self._module.sign(self._raw, bytes(data)))

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The shared secret (FIPS 203 ML-KEM.Decaps; a wrong ciphertext of the right length gives an implicit
        rejection secret, never an error)."""
        if len(ciphertext) != self._module.CIPHERTEXT_SIZE:
            raise ValueError(f"{self.algorithm.name} ciphertexts are {self._module.CIPHERTEXT_SIZE} bytes")
        return bytes(self._module.decaps(self._raw, bytes(ciphertext)))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)


class _MLKEMPrivateKey(PQPrivateKey):
    __slots__ = ()

    def _public_part(self) -> bytes:
        # FIPS 203 §7.1: dk = dk_PKE (384k bytes) ‖ ek ‖ H(ek) ‖ z.
        start = self.private_size - self._public_class.public_size - 64
        return self._raw[start : start + self._public_class.public_size]

    def _pkcs8_private_key(self) -> bytes:
        return _tlv(0x04, self._raw)  # the expandedKey choice of ML-KEM-PrivateKey


class _SLHDSAPrivateKey(PQPrivateKey):
    __slots__ = ()

    def _public_part(self) -> bytes:
        return self._raw[self.private_size // 2 :]  # FIPS 205 §9.1: SK = SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root


#: pqcrypto module, NIST arc (4 = KEM, 3 = signatures) and OID last arc, per parameter set.
_SETS: dict[CryptographicAlgorithm, tuple[str, int, int]] = {
    CryptographicAlgorithm.ML_KEM_512: ("kem.ml_kem_512", 4, 1),
    **{
        CryptographicAlgorithm[f"SLH_DSA_{family.upper()}_{level}{speed.upper()}"]: (
            f"sign.slh_dsa_{family}_{level}{speed}",
            3,
            base + 2 * index + (speed == "f"),
        )
        for family, base in (("sha2", 20), ("shake", 26))
        for index, level in enumerate((128, 192, 256))
        for speed in ("s", "f")
    },
}
SLH_DSA = frozenset(algorithm for algorithm in _SETS if algorithm.name.startswith("SLH_DSA_"))

PRIVATE: dict[CryptographicAlgorithm, type[PQPrivateKey]] = {}
PUBLIC: dict[CryptographicAlgorithm, type[PQPublicKey]] = {}
#: AlgorithmIdentifier DER -> private key class, to recognise encoded keys.
_BY_ALGORITHM_ID: dict[bytes, type[PQPrivateKey]] = {}


def _load_sets() -> None:
    try:
        importlib.import_module("pqcrypto")
    except ImportError:
        return
    for algorithm, (module_name, arc, last) in _SETS.items():
        module = importlib.import_module(f"pqcrypto.{module_name}")
        algorithm_id = _oid(arc, last)
        name = algorithm.name.replace("_", "")
        common: dict[str, Any] = {"algorithm": algorithm, "_module": module, "_algorithm_id": algorithm_id}
        public = type(f"{name}PublicKey", (PQPublicKey,), {**common, "public_size": module.PUBLIC_KEY_SIZE})
        base = _MLKEMPrivateKey if arc == 4 else _SLHDSAPrivateKey
        private = type(
            f"{name}PrivateKey",
            (base,),
            {**common, "_public_class": public, "private_size": module.SECRET_KEY_SIZE, "__slots__": ()},
        )
        PRIVATE[algorithm] = private
        PUBLIC[algorithm] = public
        _BY_ALGORITHM_ID[algorithm_id] = private


_load_sets()


def _read(der: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, content, position after) of the DER element at ``pos``; ValueError if it overruns ``der``."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if not 0 < count <= 3 or pos + count > len(der):
            raise ValueError("bad DER length")
        size = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    else:
        size = first
    if pos + size > len(der):
        raise ValueError("truncated DER")
    return tag, der[pos : pos + size], pos + size


def _ml_kem_expanded(algorithm: CryptographicAlgorithm, choice: bytes, size: int) -> bytes:
    """The expanded key of an ML-KEM-PrivateKey CHOICE: ``expandedKey`` or ``both`` (seed, expandedKey)."""
    tag, content, end = _read(choice, 0)
    if tag == 0x30 and end == len(choice):  # both
        seed_tag, _seed, after = _read(content, 0)
        tag, content, end = _read(content, after)
        if seed_tag != 0x04 or end != len(_read(choice, 0)[1]):
            raise PQKeyError(f"malformed {algorithm.name} private key")
    if tag == 0x80:
        raise PQKeyError(
            f"{algorithm.name} private keys given as a seed alone cannot be expanded here; give the expanded key "
            "(PKCS#8 expandedKey or both)"
        )
    if tag != 0x04 or len(content) != size:
        raise PQKeyError(f"malformed {algorithm.name} private key")
    return content


def load_private(der: bytes) -> PQPrivateKey | None:
    """The key a PKCS#8 DER of one of these parameter sets holds, or None if ``der`` is of another algorithm.
    ValueError if it names one of these sets but is malformed."""
    try:
        tag, body, end = _read(der, 0)
        if tag != 0x30 or end != len(der):
            return None
        _version_tag, _version, pos = _read(body, 0)
        _algorithm_tag, _algorithm, after = _read(body, pos)
        cls = _BY_ALGORITHM_ID.get(body[pos:after])
        if cls is None:
            return None
        key_tag, content, _end = _read(body, after)
    except ValueError:
        return None
    if key_tag != 0x04:
        raise PQKeyError(f"malformed {cls.algorithm.name} private key")
    if issubclass(cls, _MLKEMPrivateKey):
        content = _ml_kem_expanded(cls.algorithm, content, cls.private_size)
    try:
        return cls(content)
    except ValueError as exc:
        raise PQKeyError(str(exc)) from None


def load_public(der: bytes) -> PQPublicKey | None:
    """The key a SubjectPublicKeyInfo of one of these parameter sets holds, or None if of another algorithm."""
    for public in PUBLIC.values():
        expected = _spki(public._algorithm_id, b"\x00" * public.public_size)
        header = expected[: len(expected) - public.public_size]
        if len(der) == len(expected) and der.startswith(header):
            return public(der[len(header) :])
    return None


__all__ = ["PRIVATE", "PUBLIC", "SLH_DSA", "PQKeyError", "PQPrivateKey", "PQPublicKey", "load_private", "load_public"]
