"""Cosmian KMS bulk data: several plaintexts or ciphertexts in one Encrypt/Decrypt Data field (a Cosmian vendor
extension, ``crate/kmip/src/kmip_2_1/extra/bulk_data.rs``).

The framing is ``0x87 0x87 ‖ LEB128(count) ‖ (LEB128(length) ‖ bytes)*``. Data that does not parse exactly as one
such frame is ordinary data, as Cosmian's server decides.
"""

from __future__ import annotations

MAGIC = b"\x87\x87"


def _read_leb128(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse(data: object) -> list[bytes] | None:
    """The items of a bulk-data frame, or None when ``data`` is not exactly one (then it is ordinary data)."""
    if not isinstance(data, bytes | bytearray) or len(data) <= 2 or not data.startswith(MAGIC):
        return None
    try:
        count, pos = _read_leb128(data, 2)
        if count > len(data) - pos:
            return None
        items: list[bytes] = []
        for _ in range(count):
            length, pos = _read_leb128(data, pos)
            if pos + length > len(data):
                return None
            items.append(bytes(data[pos : pos + length]))
            pos += length
    except ValueError:
        return None
    return items if pos == len(data) else None


def encode(items: list[bytes]) -> bytes:
    """The inverse of :func:`parse`."""
    return MAGIC + _leb128(len(items)) + b"".join(_leb128(len(item)) + item for item in items)


__all__ = ["MAGIC", "encode", "parse"]
