"""Value types of the crypto API: Cryptographic Parameters, Derivation Parameters and operation results."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import NamedTuple

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    MaskGenerator,
    PaddingMethod,
)


@dataclass(frozen=True, slots=True)
class CipherParams:
    """KMIP Cryptographic Parameters (KMIP 2.1 §4.16), the fields the crypto layer reads.

    Units follow the specification: ``iv_length``, ``fixed_field_length``, ``invocation_field_length`` and
    ``counter_length`` are in bits; ``tag_length`` and ``salt_length`` are in bytes (OASIS CS-AC-M-1-21 signs with
    PSS and Salt Length 222 under a 2048-bit key, the byte maximum). ``None`` means "not given"; the defaults applied
    are documented on each operation. The engine merges the request's parameters over the object's Cryptographic
    Parameters attribute with :meth:`merged`, and fills ``cryptographic_algorithm`` from the key's attribute.
    """

    block_cipher_mode: BlockCipherMode | None = None
    padding_method: PaddingMethod | None = None
    hashing_algorithm: HashingAlgorithm | None = None
    digital_signature_algorithm: DigitalSignatureAlgorithm | None = None
    cryptographic_algorithm: CryptographicAlgorithm | None = None
    random_iv: bool | None = None
    iv_length: int | None = None
    tag_length: int | None = None
    fixed_field_length: int | None = None
    invocation_field_length: int | None = None
    counter_length: int | None = None
    initial_counter_value: int | None = None
    salt_length: int | None = None
    mask_generator: MaskGenerator | None = None
    mask_generator_hashing_algorithm: HashingAlgorithm | None = None
    p_source: bytes | None = None
    trailer_field: int | None = None

    def merged(self, defaults: CipherParams | None) -> CipherParams:
        """These parameters, with every field left ``None`` taken from ``defaults`` (KMIP 2.1 §6.1.18: request
        parameters override the object's Cryptographic Parameters attribute)."""
        if defaults is None:
            return self
        updates = {
            f.name: getattr(defaults, f.name)
            for f in fields(self)
            if getattr(self, f.name) is None and getattr(defaults, f.name) is not None
        }
        return replace(self, **updates) if updates else self


class EncryptResult(NamedTuple):
    """Output of Encrypt (KMIP 2.1 §6.1.18): the data, the IV/Counter/Nonce the server chose (``None`` if the
    client supplied it or the mode has none) and the Authenticated Encryption Tag (AEAD modes). A named tuple: made
    once per encryption, it costs half what a frozen dataclass does."""

    data: bytes
    iv_counter_nonce: bytes | None = None
    tag: bytes | None = None


@dataclass(frozen=True, slots=True)
class DerivationParams:
    """KMIP Derivation Parameters (KMIP 2.1 §7.12).

    ``derivation_data`` is the HKDF ``info``, the SP 800-108 fixed input, the data to encrypt for the Encrypt
    method, or the peer public key for ECDH; ``cryptographic_parameters`` selects the PRF, hash or cipher.
    """

    cryptographic_parameters: CipherParams | None = None
    initialization_vector: bytes | None = None
    derivation_data: bytes | None = None
    salt: bytes | None = None
    iteration_count: int | None = None
