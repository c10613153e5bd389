"""The binary TTLV encoding of KMIP messages (KMIP 2.1 §9.1 "TTLV Encoding").

Every item is a 3-byte tag, a 1-byte item type, a 4-byte big-endian length and the value, padded with zero bytes
to a multiple of eight (§9.1.1). This module turns a ``ttlv.Item`` tree into those bytes and back; it knows no tag
names (vendors put their own tags on the wire, §9.1.1.1), only the eleven item types of §9.1.1.2.

Both directions are hot paths of every KMIP socket and HTTP request, so they are written for speed: precompiled
``struct.Struct`` objects, one loop over an explicit stack instead of a call per item, the encoding gathered as
pieces joined once, ``if`` chains on plain ints rather than dispatch through IntEnum hashing (which runs Python
code), and ``tuple.__new__`` for ``Item`` (half the cost of the NamedTuple constructor).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from ._registry_data import ItemType, Tag
from .errors import DecodeError, EncodeError
from .ttlv import DEFAULT_LIMITS, DecodeLimits, Item, Placeholder, tag_label

__all__ = ["decode", "encode", "encoded_length", "read_message_length"]

# Header: tag and type share the first big-endian word (tag << 8 | type), the length is the second.
_HEADER = struct.Struct(">II")
_LENGTH = struct.Struct(">I")
# Fixed-size items with their header and padding, so that encoding one costs one pack call (§9.1.1.3 lengths).
_ITEM_I32 = struct.Struct(">IIi4x")  # Integer
_ITEM_U32 = struct.Struct(">III4x")  # Enumeration, Interval
_ITEM_I64 = struct.Struct(">IIq")  # Long Integer, Date Time, Date Time Extended, Boolean (0 or 1)
# Fixed-size values with their padding, so that decoding checks the padding with the same unpack call.
_VALUE_I32 = struct.Struct(">iI")
_VALUE_U32 = struct.Struct(">II")
_VALUE_I64 = struct.Struct(">q")
_VALUE_U64 = struct.Struct(">Q")

_ZEROS = tuple(bytes(n) for n in range(8))
_new_tuple = tuple.__new__

_STRUCTURE = int(ItemType.STRUCTURE)
_INTEGER = int(ItemType.INTEGER)
_LONG_INTEGER = int(ItemType.LONG_INTEGER)
_BIG_INTEGER = int(ItemType.BIG_INTEGER)
_ENUMERATION = int(ItemType.ENUMERATION)
_BOOLEAN = int(ItemType.BOOLEAN)
_TEXT_STRING = int(ItemType.TEXT_STRING)
_BYTE_STRING = int(ItemType.BYTE_STRING)
_DATE_TIME = int(ItemType.DATE_TIME)
_INTERVAL = int(ItemType.INTERVAL)
_DATE_TIME_EXTENDED = int(ItemType.DATE_TIME_EXTENDED)

# The decoder's item type is a plain int from the header, so set membership is one C-level hash lookup.
_FIXED4_TYPES = frozenset({_INTEGER, _ENUMERATION, _INTERVAL})
_FIXED8_TYPES = frozenset({_LONG_INTEGER, _BOOLEAN, _DATE_TIME, _DATE_TIME_EXTENDED})
_VARIABLE_TYPES = frozenset({_TEXT_STRING, _BYTE_STRING, _BIG_INTEGER})

_TYPE_NAMES = {int(t): t.name for t in ItemType}
# Only these may be the outermost item of a framed message: a KMIP message is a Request or a Response Message.
_MESSAGE_TAGS = frozenset({int(Tag.REQUEST_MESSAGE), int(Tag.RESPONSE_MESSAGE)})
# Encoding walks with an explicit stack, so a Structure that contains itself would grow it forever; no real tree
# comes near this depth (the decoders refuse anything deeper than DecodeLimits.max_depth, 32 by default).
_MAX_ENCODE_DEPTH = 1024


def _type_name(item_type: int) -> str:
    return _TYPE_NAMES.get(item_type, f"0x{item_type:02X}")


def _label(tag: object) -> str:
    if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag <= 0xFFFFFF:
        return tag_label(tag)
    return repr(tag)


# ---------------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------------


def _fail(offset: int, tag: int | None, message: str) -> DecodeError:
    where = f"offset {offset}" if tag is None else f"offset {offset}, tag {tag_label(tag)}"
    return DecodeError(f"invalid TTLV at {where}: {message}")


def _as_bytes(data: bytes | bytearray | memoryview, limit: int) -> bytes:
    if isinstance(data, bytes):
        size = len(data)
    elif isinstance(data, (bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
    else:
        raise TypeError(f"decode() needs bytes, bytearray or memoryview, not {type(data).__name__}")
    # Checked before copying a bytearray/memoryview, so an oversized buffer is refused without allocating.
    if size > limit:
        raise DecodeError(f"TTLV message of {size} bytes exceeds the limit of {limit} bytes")
    return data if isinstance(data, bytes) else bytes(data)


def decode(data: bytes | bytearray | memoryview, limits: DecodeLimits = DEFAULT_LIMITS) -> Item:
    """Decode one binary TTLV item (normally a Request or Response Message) (KMIP 2.1 §9.1).

    ``data`` must hold exactly one item: trailing bytes are an error. Tags are not checked against the registry
    (vendor tags are legal on the wire, §9.1.1.1); item types are returned as plain ints, Booleans as ``bool``
    and Date Times as integer seconds (see ``ttlv``).

    Everything the spec makes checkable is checked: known item type, the fixed lengths of §9.1.1.4, zero
    padding, Boolean 0 or 1, valid UTF-8, Big Integer lengths in multiples of eight, Structure children exactly
    filling their parent, and ``limits`` (message size, Structure nesting depth, item count, value size). Every
    length is compared with the bytes actually present before anything is sliced, so a forged length never
    allocates. Malformed input raises ``DecodeError`` with the byte offset and tag, never anything else.
    """
    buf = _as_bytes(data, limits.max_message_size)
    size = len(buf)
    if size < 8:
        raise _fail(0, None, f"{size} bytes is shorter than one 8-byte item header")
    # The outermost item must account for every byte: this tells truncation from trailing bytes up front.
    word, length = _HEADER.unpack_from(buf, 0)
    total = 8 + ((length + 7) & ~7)
    if total > size:
        raise _fail(0, word >> 8, f"item declares {length} value bytes but only {size - 8} follow its header")
    if total < size:
        raise _fail(total, None, f"{size - total} trailing bytes after the top-level item")
    return _decode_items(buf, limits)


def _decode_items(buf: bytes, limits: DecodeLimits) -> Item:
    unpack_header = _HEADER.unpack_from
    unpack_i32 = _VALUE_I32.unpack_from
    unpack_u32 = _VALUE_U32.unpack_from
    unpack_i64 = _VALUE_I64.unpack_from
    unpack_u64 = _VALUE_U64.unpack_from
    new_item = _new_tuple
    item_cls = Item
    zeros = _ZEROS
    max_depth = limits.max_depth
    max_items = limits.max_items
    max_value = limits.max_value_size

    root: list[Item] = []
    out = root  # the child list being filled
    end = len(buf)  # where the Structure being filled ends
    stack: list[tuple[int, list[Item]]] = []  # (end, children) of every enclosing Structure
    pos = 0
    # Every item takes at least 8 bytes, so a message of at most 8 * max_items bytes cannot break the limit and
    # need not be counted item by item.
    counting = len(buf) // 8 > max_items
    count = 0
    while True:
        # The root's size and every Structure's length are multiples of 8 and every item advances ``pos`` by a
        # multiple of 8, so ``end - pos`` is a multiple of 8 too: a whole header is always there to read.
        while pos < end:
            word, length = unpack_header(buf, pos)
            tag = word >> 8
            item_type = word & 0xFF
            pos += 8
            if counting:
                count += 1
                if count > max_items:
                    raise _fail(pos - 8, tag, f"more than {max_items} items")

            if item_type == _STRUCTURE:
                if length > end - pos:
                    raise _fail(pos - 8, tag, f"Structure length {length} overruns its container ({end - pos} left)")
                if length & 7:
                    raise _fail(pos - 8, tag, f"Structure length {length} is not a multiple of 8")
                if len(stack) >= max_depth:
                    raise _fail(pos - 8, tag, f"Structures nested deeper than {max_depth}")
                children: list[Item] = []
                out.append(new_item(item_cls, (tag, _STRUCTURE, children)))
                stack.append((end, out))
                end = pos + length
                out = children
                continue

            if item_type in _FIXED4_TYPES:
                if length != 4:
                    raise _fail(pos - 8, tag, f"{_type_name(item_type)} length {length}, must be 4")
                if pos == end:
                    raise _fail(pos - 8, tag, f"{_type_name(item_type)} value overruns its container")
                value, pad = (unpack_i32 if item_type == _INTEGER else unpack_u32)(buf, pos)
                if pad:
                    raise _fail(pos - 8, tag, "nonzero padding bytes")
                out.append(new_item(item_cls, (tag, item_type, value)))
                pos += 8
                continue

            if item_type in _VARIABLE_TYPES:
                padded = (length + 7) & ~7
                if padded > end - pos:
                    raise _fail(pos - 8, tag, f"value length {length} overruns its container ({end - pos} left)")
                if length > max_value:
                    raise _fail(pos - 8, tag, f"value of {length} bytes exceeds the limit of {max_value}")
                stop = pos + length
                if padded != length and buf[stop : pos + padded] != zeros[padded - length]:
                    raise _fail(pos - 8, tag, "nonzero padding bytes")
                if item_type == _TEXT_STRING:
                    try:
                        text = buf[pos:stop].decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise _fail(pos - 8, tag, f"Text String is not valid UTF-8 ({exc.reason})") from None
                    out.append(new_item(item_cls, (tag, _TEXT_STRING, text)))
                elif item_type == _BYTE_STRING:
                    out.append(new_item(item_cls, (tag, _BYTE_STRING, buf[pos:stop])))
                else:
                    # §9.1.1.4: sign-extended to a multiple of eight bytes, so never empty and never ragged.
                    if length == 0 or length & 7:
                        raise _fail(pos - 8, tag, f"Big Integer length {length} is not a positive multiple of 8")
                    number = int.from_bytes(buf[pos:stop], "big", signed=True)
                    out.append(new_item(item_cls, (tag, _BIG_INTEGER, number)))
                pos += padded
                continue

            if item_type in _FIXED8_TYPES:
                if length != 8:
                    raise _fail(pos - 8, tag, f"{_type_name(item_type)} length {length}, must be 8")
                if pos == end:
                    raise _fail(pos - 8, tag, f"{_type_name(item_type)} value overruns its container")
                if item_type == _BOOLEAN:
                    (flag,) = unpack_u64(buf, pos)
                    if flag > 1:  # §9.1.1.4: the value is 0 or 1, nothing else
                        raise _fail(pos - 8, tag, f"Boolean value {flag:#x}, must be 0 or 1")
                    out.append(new_item(item_cls, (tag, _BOOLEAN, flag == 1)))
                else:
                    (value,) = unpack_i64(buf, pos)
                    out.append(new_item(item_cls, (tag, item_type, value)))
                pos += 8
                continue

            raise _fail(pos - 8, tag, f"unknown item type 0x{item_type:02X}")

        # Every length was checked against ``end - pos``, so ``pos == end`` here: the children exactly fill their
        # Structure.
        if not stack:
            return root[0]
        end, out = stack.pop()


# ---------------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True is not a valid Integer: it means the tree was built wrongly.
    return isinstance(value, int) and not isinstance(value, bool)


def _big_integer_bytes(value: int) -> bytes:
    # §9.1.1.4: two's complement, big-endian, sign-extended with the fewest bytes that reach a multiple of 8.
    magnitude_bits = value.bit_length() if value >= 0 else (~value).bit_length()
    size = ((magnitude_bits + 1 + 63) >> 6) << 3  # +1 for the sign bit
    return value.to_bytes(size, "big", signed=True)


def _bad_value(tag: object, item_type: Any, value: object) -> EncodeError:
    if isinstance(value, Placeholder):
        return EncodeError(
            f"{_label(tag)}: placeholder {value.name} cannot be encoded in binary TTLV (resolve it first)"
        )
    type_name = _type_name(item_type)
    if item_type == _STRUCTURE:
        return EncodeError(f"{_label(tag)}: Structure value must be a list of Items, not {type(value).__name__}")
    if item_type in (_INTEGER, _LONG_INTEGER, _ENUMERATION, _INTERVAL, _DATE_TIME, _DATE_TIME_EXTENDED):
        if not _is_int(value):
            return EncodeError(f"{_label(tag)}: {type_name} value must be an int, not {type(value).__name__}")
        ranges = {
            _INTEGER: (-(2**31), 2**31 - 1),
            _ENUMERATION: (0, 2**32 - 1),
            _INTERVAL: (0, 2**32 - 1),
        }
        low, high = ranges.get(item_type, (-(2**63), 2**63 - 1))
        return EncodeError(f"{_label(tag)}: {type_name} value {value} is outside {low}..{high}")
    if item_type == _BIG_INTEGER:
        return EncodeError(f"{_label(tag)}: Big Integer value must be an int, not {type(value).__name__}")
    if item_type == _BOOLEAN:
        return EncodeError(f"{_label(tag)}: Boolean value must be a bool, not {type(value).__name__}")
    if item_type == _TEXT_STRING:
        if isinstance(value, str):
            return EncodeError(f"{_label(tag)}: Text String is not encodable as UTF-8 (lone surrogate?)")
        return EncodeError(f"{_label(tag)}: Text String value must be a str, not {type(value).__name__}")
    if item_type == _BYTE_STRING:
        return EncodeError(f"{_label(tag)}: Byte String value must be bytes, not {type(value).__name__}")
    return EncodeError(f"{_label(tag)}: unknown item type {type_name}")


def encode(item: Item) -> bytes:
    """Encode a TTLV tree as binary TTLV (KMIP 2.1 §9.1).

    Integers, Enumerations and Intervals take 4 bytes plus 4 of padding; Long Integers, Booleans and both Date
    Time types take 8; Big Integers take the shortest sign-correct two's complement that is a multiple of 8
    bytes; strings are padded with zeros to a multiple of 8; a Structure's length counts its children with
    their padding. Raises ``EncodeError`` for anything the wire cannot carry: a tag outside 24 bits, an unknown
    item type, a value of the wrong Python type or out of range for its item type, a Text String that is not
    valid Unicode, or a ``Placeholder``.
    """
    # The encoding is gathered as a list of pieces joined once at the end: appending a piece costs less than
    # growing a bytearray, and a Structure's header is a piece put in its place once its children are written.
    parts: list[bytes] = []
    append = parts.append
    pack_i32 = _ITEM_I32.pack
    pack_u32 = _ITEM_U32.pack
    pack_i64 = _ITEM_I64.pack
    pack_header = _HEADER.pack
    zeros = _ZEROS
    # (remaining siblings, header word, index of the header piece, bytes before it) of every Structure being written
    # The tree is typed loosely on purpose: encode must turn any malformed input into EncodeError.
    stack: list[tuple[Iterator[Any], int, int, int]] = []
    items: Iterator[Any] = iter((item,))
    size = 0  # bytes in ``parts``
    tag: Any = None
    item_type: Any = None
    value: Any = None
    try:
        while True:
            for tag, item_type, value in items:
                # tag << 8 | type overflows ">I" for a tag beyond 24 bits: struct.error, handled below.
                word = tag << 8 | item_type

                if item_type == _STRUCTURE:
                    if value.__class__ is not list:
                        raise _bad_value(tag, item_type, value)
                    if len(stack) >= _MAX_ENCODE_DEPTH:
                        raise EncodeError(f"{_label(tag)}: Structures nested deeper than {_MAX_ENCODE_DEPTH}")
                    if not 0 <= word <= 0xFFFFFFFF:  # its header is packed later: refused now, under its own tag
                        raise struct.error("tag out of range")
                    stack.append((items, word, len(parts), size))
                    append(b"")  # the header, once the children's length is known
                    size += 8
                    items = iter(value)
                    break

                if item_type in (_ENUMERATION, _INTERVAL):
                    if value.__class__ is not int and not _is_int(value):
                        raise _bad_value(tag, item_type, value)
                    append(pack_u32(word, 4, value))
                    size += 16
                elif item_type == _INTEGER:
                    if value.__class__ is not int and not _is_int(value):
                        raise _bad_value(tag, item_type, value)
                    append(pack_i32(word, 4, value))
                    size += 16
                elif item_type == _TEXT_STRING:
                    if value.__class__ is not str:
                        raise _bad_value(tag, item_type, value)
                    raw = value.encode("utf-8")
                    length = len(raw)
                    append(pack_header(word, length))
                    append(raw)
                    padding = -length & 7
                    if padding:
                        append(zeros[padding])
                    size += 8 + length + padding
                elif item_type == _BYTE_STRING:
                    if value.__class__ is not bytes:
                        if not isinstance(value, (bytes, bytearray, memoryview)):
                            raise _bad_value(tag, item_type, value)
                        value = bytes(value)  # len() of a memoryview counts elements, not bytes
                    length = len(value)
                    append(pack_header(word, length))
                    append(value)
                    padding = -length & 7
                    if padding:
                        append(zeros[padding])
                    size += 8 + length + padding
                elif item_type in (_LONG_INTEGER, _DATE_TIME, _DATE_TIME_EXTENDED):
                    if value.__class__ is not int and not _is_int(value):
                        raise _bad_value(tag, item_type, value)
                    append(pack_i64(word, 8, value))
                    size += 16
                elif item_type == _BOOLEAN:
                    if value is True:
                        append(pack_i64(word, 8, 1))
                    elif value is False:
                        append(pack_i64(word, 8, 0))
                    else:
                        raise _bad_value(tag, item_type, value)
                    size += 16
                elif item_type == _BIG_INTEGER:
                    if not _is_int(value):
                        raise _bad_value(tag, item_type, value)
                    raw = _big_integer_bytes(value)
                    append(pack_header(word, len(raw)))
                    append(raw)
                    size += 8 + len(raw)
                else:
                    raise _bad_value(tag, item_type, value)
            else:
                # This Structure's children are all written: its header (§9.1.1.3: children with their padding).
                if not stack:
                    return b"".join(parts)
                items, word, index, start = stack.pop()
                length = size - start - 8
                if length > 0xFFFFFFFF:
                    raise EncodeError(f"{_label(word >> 8)}: Structure longer than 2^32-1 bytes")
                parts[index] = pack_header(word, length)
    except struct.error:
        # Raised by pack for a tag beyond 24 bits or a negative one, or a value out of range for its type.
        if not (_is_int(tag) and 0 <= tag <= 0xFFFFFF):
            raise EncodeError(f"tag {tag!r} is not a 24-bit unsigned integer") from None
        if item_type in (_TEXT_STRING, _BYTE_STRING, _BIG_INTEGER):
            raise EncodeError(f"{_label(tag)}: value longer than 2^32-1 bytes") from None
        raise _bad_value(tag, item_type, value) from None
    except UnicodeEncodeError:
        raise _bad_value(tag, item_type, value) from None  # a lone surrogate in a Text String
    except (TypeError, ValueError) as exc:
        # Unpacking something that is not a (tag, type, value) triple, or a non-int tag or type.
        raise EncodeError(f"not a TTLV item (tag, type, value) near {_label(tag)}: {exc}") from None


def encoded_length(item: Item) -> int:
    """The size in bytes ``encode(item)`` would give, without building it (Maximum Response Size, KMIP 2.1 §6.1.5):
    8 bytes of header per item, values padded to a multiple of 8 (see ``encode``). For trees that encode."""
    total = 0
    stack: list[Any] = [item]
    while stack:
        _tag, item_type, value = stack.pop()
        total += 8
        if item_type == _STRUCTURE:
            stack.extend(value)
        elif item_type == _TEXT_STRING:
            total += (len(value.encode("utf-8")) + 7) & ~7
        elif item_type == _BYTE_STRING:
            total += (len(value if type(value) is bytes else bytes(value)) + 7) & ~7
        elif item_type == _BIG_INTEGER:
            total += len(_big_integer_bytes(value))
        else:
            total += 8  # every other type is 4 or 8 bytes, padded to 8
    return total


def read_message_length(header: bytes | bytearray | memoryview) -> int:
    """The total size in bytes of a binary TTLV message, from its first 8 bytes (KMIP 2.1 §9.1.1).

    Socket transports read this header, then exactly ``read_message_length(header) - 8`` more bytes: on a KMIP
    connection messages follow each other with no framing besides their own TTLV length. The header must start
    a Request or Response Message Structure with a length that is a multiple of 8; anything else means the peer
    is not speaking binary KMIP (plain HTTP on the KMIP port, say), and ``DecodeError`` lets the transport drop
    it before buffering. Only the first 8 bytes are read; the caller compares the result with its
    ``DecodeLimits.max_message_size`` before reading the rest.
    """
    if len(header) < 8:
        raise DecodeError(f"TTLV message header needs 8 bytes, got {len(header)}")
    word: int
    length: int
    word, length = _HEADER.unpack_from(header, 0)
    tag = word >> 8
    item_type = word & 0xFF
    if item_type != _STRUCTURE:
        raise _fail(0, tag, f"a message must be a Structure, found item type {_type_name(item_type)}")
    if tag not in _MESSAGE_TAGS:
        raise _fail(0, tag, "a message must be a Request Message or a Response Message")
    if length & 7:
        raise _fail(0, tag, f"Structure length {length} is not a multiple of 8")
    return 8 + length
