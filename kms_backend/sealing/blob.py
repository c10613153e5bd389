"""The sealed-blob format shared by every key-encryption key (the HSM's and the software one): self-describing, so
that rotation and future algorithms need no other state::

    magic 0xFF 'K' 'S' | format version (1) | algorithm (1 = AES-256-GCM) | len(kek id) | kek id | IV (12)
    | ciphertext ‖ tag (16)

The additional authenticated data is the header followed by a zero byte and the object's Unique Identifier
(``associated_data``): a blob copied onto another object, or a header edited to point at another KEK, fails
authentication. Plain TTLV blobs start with 0x42 (every KMIP tag does), never with the magic.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\xffKS"
FORMAT_VERSION = 1
ALGORITHM_AES_256_GCM = 1
ALGORITHM_NAMES = {ALGORITHM_AES_256_GCM: "AES-256-GCM"}
IV_BYTES = 12
TAG_BITS = 128
KEK_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class SealedHeader:
    """The self-describing prefix of a sealed blob (see the module docstring)."""

    kek_id: bytes
    iv: bytes
    algorithm: int = ALGORITHM_AES_256_GCM
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        return MAGIC + bytes((self.version, self.algorithm, len(self.kek_id))) + self.kek_id + self.iv

    @classmethod
    def parse(cls, blob: bytes) -> tuple[SealedHeader, bytes]:
        """The header and the ciphertext of a sealed blob; ValueError if ``blob`` is not one this code reads."""
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 3:
            raise ValueError("not a sealed blob")
        version, algorithm, id_length = blob[3], blob[4], blob[5]
        if version != FORMAT_VERSION:
            raise ValueError(f"sealed blob format version {version} is not supported")
        if algorithm not in ALGORITHM_NAMES:
            raise ValueError(f"sealing algorithm {algorithm} is not supported")
        start = 6 + id_length
        if len(blob) < start + IV_BYTES + TAG_BITS // 8:
            raise ValueError("sealed blob is truncated")
        header = cls(kek_id=blob[6:start], iv=blob[start : start + IV_BYTES], algorithm=algorithm, version=version)
        return header, blob[start + IV_BYTES :]


def is_sealed(blob: bytes) -> bool:
    """True if ``blob`` carries a sealing header (False for plain TTLV)."""
    return blob.startswith(MAGIC)


def sealed_kek_id(blob: bytes) -> bytes | None:
    """The id of the KEK (an HSM KEK's CKA_ID) that sealed ``blob`` (None for a plain or unreadable blob)."""
    try:
        return SealedHeader.parse(blob)[0].kek_id
    except ValueError:
        return None


def associated_data(header: bytes, uid: str) -> bytes:
    """What GCM authenticates besides the ciphertext: the blob's header and the object it belongs to."""
    return header + b"\x00" + uid.encode("utf-8")


__all__ = [
    "ALGORITHM_AES_256_GCM",
    "ALGORITHM_NAMES",
    "FORMAT_VERSION",
    "IV_BYTES",
    "KEK_ID_BYTES",
    "MAGIC",
    "TAG_BITS",
    "SealedHeader",
    "associated_data",
    "is_sealed",
    "sealed_kek_id",
]
