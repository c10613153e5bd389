"""A VeraCrypt volume header, written from the published format, to check offline that a keyfile read from the
token is the one a VeraCrypt volume needs (``cryptsetup tcryptDump --veracrypt`` decrypts it).

The format, as VeraCrypt documents it and cryptsetup reads it (lib/tcrypt):

* bytes 0-63: salt; bytes 64-511: the header, AES-256 in XTS mode (sector 0: a zero tweak) under the first
  64 bytes of PBKDF2-HMAC-SHA512(password, salt) with 15000 + 1000 x PIM iterations (a chosen PIM keeps it quick);
* the decrypted header, big-endian: "VERA", version, minimum program version, CRC-32 of the key area, two
  reserved times, hidden volume size, volume size, master key scope offset and size, flags, sector size,
  120 reserved bytes, CRC-32 of the 188 bytes before it, then the 256-byte key area (AES-XTS: 64 bytes of key);
* keyfiles: a 64-byte pool (passwords up to 64 bytes); for each keyfile, over its first MiB, a running CRC-32
  (initial value all ones, no final inversion) whose four bytes, most significant first, are added modulo 256 to
  the pool, cycling; the pool is then added byte by byte to the password padded to 64 bytes with zeros, and the
  result (64 bytes) is the PBKDF2 password.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

POOL = 64
KEYFILE_LIMIT = 1024 * 1024
HEADER_AREA = 128 * 1024  # the data starts after the header area (and the hidden volume's header)
SECTOR = 512


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def password_with_keyfiles(password: bytes, keyfiles: list[bytes]) -> bytes:
    """The 64 bytes PBKDF2 gets when keyfiles are used."""
    if len(password) > POOL:
        raise ValueError("passwords longer than 64 bytes use a 128-byte pool; not needed here")
    pool = bytearray(POOL)
    for keyfile in keyfiles:
        crc, position = 0xFFFFFFFF, 0
        for byte in keyfile[:KEYFILE_LIMIT]:
            crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
            for shift in (24, 16, 8, 0):
                pool[position] = (pool[position] + (crc >> shift)) & 0xFF
                position += 1
            position %= POOL
    padded = password.ljust(POOL, b"\0")
    return bytes((p + k) & 0xFF for p, k in zip(padded, pool, strict=True))


def volume_header(
    password: bytes, keyfiles: list[bytes], master_key: bytes, salt: bytes, pim: int, volume_size: int
) -> bytes:
    """The 512 bytes at the start of a VeraCrypt volume (AES, SHA-512, XTS) holding ``master_key`` (64 bytes)."""
    if len(master_key) != 64 or len(salt) != 64:
        raise ValueError("AES-XTS needs a 64-byte master key; the salt is 64 bytes")
    keys = master_key.ljust(256, b"\0")
    fields = struct.pack(
        ">4sHHI16sQQQQII120s",
        b"VERA",
        5,  # header format version
        0x010B,  # minimum program version (1.11)
        zlib.crc32(keys),
        b"\0" * 16,
        0,  # no hidden volume
        volume_size,
        HEADER_AREA,  # master key scope: the data area
        volume_size,
        0,
        SECTOR,
        b"\0" * 120,
    )
    plain = fields + struct.pack(">I", zlib.crc32(fields)) + keys
    assert len(plain) == 448
    iterations = 15000 + 1000 * pim
    header_key = hashlib.pbkdf2_hmac("sha512", password_with_keyfiles(password, keyfiles), salt, iterations, 192)
    encryptor = Cipher(algorithms.AES(header_key[:64]), modes.XTS(b"\0" * 16)).encryptor()
    return salt + encryptor.update(plain) + encryptor.finalize()


__all__ = ["password_with_keyfiles", "volume_header"]
