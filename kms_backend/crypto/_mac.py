"""MAC, MAC Verify and Hash (KMIP 2.1 §6.1.29, §6.1.30, §6.1.25), one-shot and streamed.

MAC algorithms: the HMAC Cryptographic Algorithms (RFC 2104, FIPS 198-1; HMAC_SHA1 … HMAC_SHA3_512) and CMAC over
AES (SP 800-38B, RFC 4493), selected by Cryptographic Algorithm AES or Block Cipher Mode CMAC; AES with Block
Cipher Mode CBC is CBC-MAC (ISO/IEC 9797-1 MAC algorithm 1: zero IV, the data zero-padded to whole blocks, the last
block; PKCS#11's CKM_AES_MAC, for legacy callers only: unlike CMAC it is not secure over messages of varying
length). Verification compares in constant time. MAC_MD5 exists in KMIP but is refused: no use for it is worth the risk.
"""

from __future__ import annotations

import hmac as std_hmac
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    HashingAlgorithm,
    Operation,
    ResultReason,
)

from . import _approved
from ._common import HMAC_HASHES, enum_name, fail, hash_for
from ._keys import as_bytes

MAC_ALGORITHMS = frozenset(set(HMAC_HASHES) - {CryptographicAlgorithm.HMAC_MD5} | {CryptographicAlgorithm.AES})


class _CbcMac:
    """AES CBC-MAC with the interface of cryptography's CMAC (update, finalize, verify)."""

    __slots__ = ("_encryptor", "_last", "_partial")

    def __init__(self, key: bytes) -> None:
        self._encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        self._partial = b""
        self._last = b""

    def update(self, data: bytes) -> None:
        joined = self._partial + data
        whole = len(joined) - len(joined) % 16
        if whole:
            self._last = self._encryptor.update(joined[:whole])[-16:]
        self._partial = joined[whole:]

    def finalize(self) -> bytes:
        if self._partial or not self._last:  # zero padding; no data at all MACs one zero block
            self._last = self._encryptor.update(self._partial.ljust(16, b"\x00"))
        return self._last

    def verify(self, mac_data: bytes) -> None:
        if not std_hmac.compare_digest(self.finalize(), mac_data):
            raise InvalidSignature


def _context(key: bytes, algorithm: CryptographicAlgorithm, mode: BlockCipherMode | None = None) -> Any:
    if algorithm == CryptographicAlgorithm.AES:
        if len(key) not in (16, 24, 32):
            fail(ResultReason.INVALID_FIELD, f"AES-CMAC key must be 16, 24 or 32 bytes, got {len(key)}")
        if mode == BlockCipherMode.CBC:
            return _CbcMac(key)
        return cmac.CMAC(algorithms.AES(key))
    hashing = HMAC_HASHES.get(algorithm)
    if hashing is None or algorithm == CryptographicAlgorithm.HMAC_MD5:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"{enum_name(algorithm)} is not a supported MAC")
    if not key:
        fail(ResultReason.INVALID_FIELD, "HMAC key is empty")
    return crypto_hmac.HMAC(key, hash_for(hashing))


def _approved_context(
    key: bytes,
    algorithm: CryptographicAlgorithm,
    operation: Operation,
    approved_only: bool,
    mode: BlockCipherMode | None = None,
) -> Any:
    key = as_bytes(key)
    if approved_only:
        _approved.require_approved(operation, algorithm, length_bits=len(key) * 8)
        if mode == BlockCipherMode.CBC:
            fail(ResultReason.CRYPTOGRAPHIC_FAILURE, "CBC-MAC is not an approved MAC (SP 800-38B: use CMAC)")
    return _context(key, algorithm, mode)


def mac(
    key: bytes,
    algorithm: CryptographicAlgorithm,
    data: bytes,
    *,
    approved_only: bool = False,
    mode: BlockCipherMode | None = None,
) -> bytes:
    """The MAC of ``data`` (KMIP 2.1 §6.1.29): HMAC-* or, for ``AES``, AES-CMAC (AES-CBC-MAC with ``mode`` CBC)."""
    ctx = _approved_context(key, algorithm, Operation.MAC, approved_only, mode)
    ctx.update(data)
    out: bytes = ctx.finalize()
    return out


def mac_verify(
    key: bytes,
    algorithm: CryptographicAlgorithm,
    data: bytes,
    mac_data: bytes,
    *,
    approved_only: bool = False,
    mode: BlockCipherMode | None = None,
) -> bool:
    """True if ``mac_data`` is the MAC of ``data`` (KMIP 2.1 §6.1.30); constant-time comparison."""
    ctx = _approved_context(key, algorithm, Operation.MAC_VERIFY, approved_only, mode)
    ctx.update(data)
    try:
        ctx.verify(mac_data)
    except InvalidSignature:
        return False
    return True


class MacStream:
    """MAC / MAC Verify over several requests (KMIP Init/Final Indicator; PKCS#11 C_SignUpdate with HMAC/CMAC)."""

    __slots__ = ("_ctx", "_done")

    def __init__(
        self,
        key: bytes,
        algorithm: CryptographicAlgorithm,
        *,
        approved_only: bool = False,
        mode: BlockCipherMode | None = None,
    ) -> None:
        self._ctx = _approved_context(key, algorithm, Operation.MAC, approved_only, mode)
        self._done = False

    def update(self, data: bytes) -> None:
        """Add data."""
        if self._done:
            fail(ResultReason.INVALID_MESSAGE, "the MAC stream is already finalized")
        self._ctx.update(data)

    def finalize(self, data: bytes = b"") -> bytes:
        """Add the last data and return the MAC."""
        self.update(data)
        self._done = True
        out: bytes = self._ctx.finalize()
        return out

    def verify(self, mac_data: bytes, data: bytes = b"") -> bool:
        """Add the last data and compare with ``mac_data`` in constant time."""
        return std_hmac.compare_digest(self.finalize(data), mac_data)


def digest(hashing_algorithm: HashingAlgorithm, data: bytes) -> bytes:
    """The hash of ``data`` (KMIP 2.1 §6.1.25 Hash; FIPS 180-4, FIPS 202)."""
    h = hashes.Hash(hash_for(hashing_algorithm))
    h.update(data)
    return h.finalize()


class DigestStream:
    """Hash over several requests (KMIP 2.1 §6.1.25 Init/Final Indicator; PKCS#11 C_DigestUpdate)."""

    __slots__ = ("_done", "_hash")

    def __init__(self, hashing_algorithm: HashingAlgorithm) -> None:
        self._hash = hashes.Hash(hash_for(hashing_algorithm))
        self._done = False

    def update(self, data: bytes) -> None:
        """Add data."""
        if self._done:
            fail(ResultReason.INVALID_MESSAGE, "the hash stream is already finalized")
        self._hash.update(data)

    def finalize(self, data: bytes = b"") -> bytes:
        """Add the last data and return the digest."""
        self.update(data)
        self._done = True
        return self._hash.finalize()
