"""JSON TTLV codec in the Cosmian KMS 5.x dialect (the body of ``POST /kmip/2_1``).

Every item is one JSON object ``{"tag": <name>, "type": <type>, "value": <value>}`` (KMIP Profiles 2.1 §5.5.2
"JSON Encoding", as implemented by Cosmian's ``crate/kmip/src/ttlv/serialize.rs`` and ``deserialize.rs``):

==================  ==========================================  ===========================================
Item type           written (canonical, what Cosmian 5.x emits)  also read (real clients are sloppy)
==================  ==========================================  ===========================================
Structure           no ``"type"`` key; value is a JSON array    ``"type": "Structure"``
Integer             JSON number                                 ``"0x"`` + 8 hex (32-bit two's complement)
                                                                or 16 hex; mask tags also mask names
                                                                (``"Encrypt Decrypt"``, ``"Encrypt|Decrypt"``)
Long Integer        ``"0x"`` + 16 uppercase hex (two's          JSON number; ``"0x"`` + 8 hex (zero-extended,
                    complement)                                 as Cosmian reads it)
Big Integer         ``"0x"`` + two's complement hex, padded     JSON number
                    with sign bytes to a multiple of 8 bytes
Enumeration         the value's name; ``"0x"`` + 8 hex when the  names in any registry spelling or case,
                    enumeration has no name for it              Cosmian's spellings (``SHA256``), any hex,
                                                                JSON numbers
Boolean             ``true`` / ``false``                        ``"true"``/``"false"``, ``"0x"`` + 16 hex 0/1
Text String         JSON string                                 —
Byte String         uppercase hex, no ``0x``                    hex in any case
Date Time           RFC 3339 UTC whole seconds                  ISO 8601 offsets and fractions (dropped),
                    (``2024-05-01T10:20:30Z``); ``"0x"`` + 16   ``"0x"`` + 16 hex, JSON numbers
                    hex outside years 1-9999
Interval            JSON number                                 ``"0x"`` + 8 hex
Date Time Extended  ``"0x"`` + 16 uppercase hex microseconds    JSON number; RFC 3339 with fractions
==================  ==========================================  ===========================================

Tag names and enumeration values are written as Cosmian 5.x spells them: the registry's XML/JSON name
(``IVCounterNonce``, ``SymmetricKey``) except where Cosmian's Rust identifiers differ (``RandomIv``, ``SHA256``,
``PKCS8``, ``Item_Not_Found``: the registry's ``json_name``), and ``"0x"`` + 6 hex for tags the
registry does not know. Decode accepts both spellings, spec names, other cases and ``"0x42XXXX"``.
Where a non-Structure node has no ``"type"``, the type is inferred when the registry gives the tag exactly one.
Test-case placeholders (``$NOW``…) in non-text items are written as their name and read back as ``Placeholder``.

``decode``/``decode_obj`` raise only ``DecodeError``; ``encode``/``encode_obj`` raise only ``EncodeError``.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, NoReturn

from . import registry
from .errors import DecodeError, EncodeError
from .ttlv import DEFAULT_LIMITS, DecodeLimits, Item, ItemType, Placeholder, Value

__all__ = ["decode", "decode_obj", "encode", "encode_obj"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT32_MAX = 2**32 - 1
_MASK64 = 2**64 - 1

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

# The "type" strings of KMIP Profiles 2.1 §5.5.2 (the XML type names), which Cosmian uses verbatim.
_TYPE_NAMES: dict[int, str] = {
    _STRUCTURE: "Structure",
    _INTEGER: "Integer",
    _LONG_INTEGER: "LongInteger",
    _BIG_INTEGER: "BigInteger",
    _ENUMERATION: "Enumeration",
    _BOOLEAN: "Boolean",
    _TEXT_STRING: "TextString",
    _BYTE_STRING: "ByteString",
    _DATE_TIME: "DateTime",
    _INTERVAL: "Interval",
    _DATE_TIME_EXTENDED: "DateTimeExtended",
}
_TYPES_BY_NAME: dict[str, int] = {name: typ for typ, name in _TYPE_NAMES.items()}


def _squash(name: str) -> str:
    """Spelling-insensitive key: Cosmian writes ``SHA256``/``P256``/``X509…`` where the OASIS XML names (and the
    registry) have ``SHA_256``/``P_256``/``X_509…``, and sloppy clients vary case, spaces and hyphens."""
    return name.replace("_", "").replace("-", "").replace(" ", "").replace("/", "").casefold()


_TYPES_BY_SQUASHED: dict[str, int] = {_squash(name): typ for typ, name in _TYPE_NAMES.items()}


def _unambiguous(pairs: list[tuple[str, int]]) -> dict[str, int]:
    """Index ``pairs`` by key, dropping keys that map to more than one value (a fallback must never guess)."""
    index: dict[str, int] = {}
    clashes: set[str] = set()
    for key, value in pairs:
        if index.setdefault(key, value) != value:
            clashes.add(key)
    for key in clashes:
        del index[key]
    return index


# -- Cosmian 5.x spellings ------------------------------------------------------------------------------------------
# Cosmian writes, and on /kmip/2_1 only reads, its Rust identifiers (strum enumeration variants, serde PascalCase
# fields): "SHA256" where the OASIS XML name is "SHA_256", "RandomIv" for "RandomIV". The registry carries those
# spellings as ``json_name`` (generated from _codegen/cosmian_extensions.json); encoding writes them, decoding
# accepts them and every registry spelling.

# -- tables derived once from the registry -----------------------------------------------------------------------
_TAG_NAMES: dict[int, str] = {t.value: t.json_name for t in registry.tags()}
_TAGS_BY_SQUASHED = _unambiguous([(_squash(t.xml_name), t.value) for t in registry.tags()])
_TAGS_BY_NAME: dict[str, int] = {t.xml_name: t.value for t in registry.tags()}
_TAGS_BY_NAME.update((name, tag) for tag, name in _TAG_NAMES.items())
# Cosmian's DeriveKey names its Unique Identifier field "ObjectUniqueIdentifier" (serde PascalCase of the Rust
# field), a name no KMIP tag has: read it as the Unique Identifier it is.
_TAGS_BY_NAME["ObjectUniqueIdentifier"] = 0x420094
# And RNG Seed's Data Length "AmountOfSeedData" (its answer on /kmip/2_1 says so: server/http_app.py).
_TAGS_BY_NAME["AmountOfSeedData"] = 0x4200C4
# The item type to assume when a sloppy client leaves "type" out: only where the registry allows exactly one.
_SINGLE_TYPE: dict[int, int] = {t.value: int(t.types[0]) for t in registry.tags() if len(t.types) == 1}

_ENUM_NAMES: dict[int, dict[int, str]] = {}  # tag -> value -> name written
_ENUM_TOKENS: dict[int, dict[str, int]] = {}  # tag -> any registry spelling (and its casefold) -> value
_ENUM_SQUASHED: dict[int, dict[str, int]] = {}  # tag -> squashed spelling -> value
_enum_tables: dict[str, tuple[dict[int, str], dict[str, int], dict[str, int]]] = {}
for _tag_info in registry.tags():
    _enum_info = registry.enum_for_tag(_tag_info.value)
    if _enum_info is None:
        continue
    if _enum_info.name not in _enum_tables:
        _enum_tables[_enum_info.name] = (
            {value: info.json_name for value, info in _enum_info.by_value.items()},
            {token: info.value for token, info in _enum_info.by_token.items()},
            _unambiguous(
                [(_squash(token), v.value) for v in _enum_info.values for token in (v.xml_name, v.name, *v.aliases)]
            ),
        )
    _tables = _enum_tables[_enum_info.name]
    _ENUM_NAMES[_tag_info.value], _ENUM_TOKENS[_tag_info.value], _ENUM_SQUASHED[_tag_info.value] = _tables
del _enum_tables

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_ONE_MICROSECOND = timedelta(microseconds=1)

# =================================================================================================================
# Encoding: strict and canonical
# =================================================================================================================


def _encode_fail(tag: int, type_name: str, value: object) -> NoReturn:
    raise EncodeError(f"{_tag_name(tag)}: cannot write {type(value).__name__} {value!r:.80} as {type_name}")


def _tag_name(tag: int) -> str:
    name = _TAG_NAMES.get(tag)
    if name is not None:
        return name
    if not isinstance(tag, int) or isinstance(tag, bool):
        raise EncodeError(f"tag must be an int, not {type(tag).__name__}")
    if not 0 <= tag <= 0xFFFFFF:
        raise EncodeError(f"tag 0x{tag:X} does not fit in 3 bytes")
    return f"0x{tag:06X}"


def _as_int(tag: int, type_name: str, value: object) -> int:
    """The slow path for integer-valued types: IntEnum/IntFlag members are ints, bools are not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    _encode_fail(tag, type_name, value)


def _enc_integer(tag: int, value: object) -> object:
    # Cosmian writes every Integer, masks included (Cryptographic Usage Mask 2108, not "Encrypt|..."), as a number.
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "Integer", value)
    if _INT32_MIN <= value <= _INT32_MAX:
        return value
    raise EncodeError(f"{_tag_name(tag)}: Integer {value} is outside the signed 32-bit range")


def _enc_long_integer(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "LongInteger", value)
    if _INT64_MIN <= value <= _INT64_MAX:
        return f"0x{value & _MASK64:016X}"
    raise EncodeError(f"{_tag_name(tag)}: LongInteger {value} is outside the signed 64-bit range")


def _enc_big_integer(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "BigInteger", value)
    # KMIP 2.1 §9.1.1.4: two's complement, sign-extended to a multiple of 8 bytes (Cosmian kmip_big_int.rs).
    magnitude_bits = (value if value >= 0 else ~value).bit_length() + 1  # + sign bit
    width = max(8, (magnitude_bits + 63) // 64 * 8)
    return f"0x{value & ((1 << (width * 8)) - 1):0{width * 2}X}"


def _enc_enumeration(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "Enumeration", value)
    if not 0 <= value <= _UINT32_MAX:
        raise EncodeError(f"{_tag_name(tag)}: Enumeration {value} is outside the unsigned 32-bit range")
    names = _ENUM_NAMES.get(tag)
    if names is not None:
        name = names.get(value)
        if name is not None:
            return name
    # Cosmian's KmipEnumerationVariant serializer writes an unnamed value as "0x" + 8 uppercase hex.
    return f"0x{value:08X}"


def _enc_boolean(tag: int, value: object) -> object:
    if value is True or value is False:
        return value
    if isinstance(value, Placeholder):
        return value.name
    _encode_fail(tag, "Boolean", value)


def _enc_text_string(tag: int, value: object) -> object:
    if type(value) is str or isinstance(value, str):
        # KMIP text is UTF-8 (2.1 §9.1.1.4); a lone surrogate would only fail later, in the transport.
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                _encode_fail(tag, "TextString (not valid Unicode)", value)
        return str(value)
    if isinstance(value, Placeholder):
        return value.name
    _encode_fail(tag, "TextString", value)


def _enc_byte_string(tag: int, value: object) -> object:
    if type(value) is bytes or isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex().upper()
    if isinstance(value, Placeholder):
        return value.name
    _encode_fail(tag, "ByteString", value)


def _enc_date_time(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "DateTime", value)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise EncodeError(f"{_tag_name(tag)}: DateTime {value} is outside the signed 64-bit range")
    try:
        moment = _EPOCH + timedelta(seconds=value)
    except OverflowError:
        # RFC 3339 has 4-digit years; Cosmian's reader also takes "0x" + 16 hex seconds (deserialize.rs).
        return f"0x{value & _MASK64:016X}"
    # time::format_description::well_known::Rfc3339 of a whole-second UTC OffsetDateTime, as Cosmian writes it.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def _enc_interval(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "Interval", value)
    if 0 <= value <= _UINT32_MAX:
        return value
    raise EncodeError(f"{_tag_name(tag)}: Interval {value} is outside the unsigned 32-bit range")


def _enc_date_time_extended(tag: int, value: object) -> object:
    if type(value) is not int:
        if isinstance(value, Placeholder):
            return value.name
        value = _as_int(tag, "DateTimeExtended", value)
    if _INT64_MIN <= value <= _INT64_MAX:
        # Cosmian writes microseconds as "0x" + 16 uppercase hex (serialize.rs); negatives in two's complement.
        return f"0x{value & _MASK64:016X}"
    raise EncodeError(f"{_tag_name(tag)}: DateTimeExtended {value} is outside the signed 64-bit range")


_ENCODERS: dict[int, Callable[[int, object], object]] = {
    _INTEGER: _enc_integer,
    _LONG_INTEGER: _enc_long_integer,
    _BIG_INTEGER: _enc_big_integer,
    _ENUMERATION: _enc_enumeration,
    _BOOLEAN: _enc_boolean,
    _TEXT_STRING: _enc_text_string,
    _BYTE_STRING: _enc_byte_string,
    _DATE_TIME: _enc_date_time,
    _INTERVAL: _enc_interval,
    _DATE_TIME_EXTENDED: _enc_date_time_extended,
}


def _encode_item(item: Item) -> dict[str, Any]:
    tag, item_type, value = item
    name = _TAG_NAMES.get(tag) or _tag_name(tag)
    if item_type == _STRUCTURE:
        if type(value) is not list:
            _encode_fail(tag, "Structure", value)
        # Cosmian 5.x leaves "type" out on Structures (serialize.rs: `if typ != "Structure"`); readers default it.
        return {"tag": name, "value": [_encode_item(child) for child in value]}
    encoder = _ENCODERS.get(item_type)
    if encoder is None:
        raise EncodeError(f"{name}: unknown item type {item_type!r}")
    # Key order matters: Cosmian's reader only honours "type" if it comes before "value".
    return {"tag": name, "type": _TYPE_NAMES[item_type], "value": encoder(tag, value)}


def encode_obj(item: Item) -> dict[str, Any]:
    """The JSON object (dicts, lists, str, int, bool) for ``item`` in the Cosmian KMS 5.x JSON TTLV dialect.

    KMIP Profiles 2.1 §5.5.2; canonical output as Cosmian writes it (see the module docstring). Raises
    ``EncodeError`` for values the encoding cannot carry (out-of-range numbers, wrong Python types).
    """
    try:
        return _encode_item(item)
    except RecursionError:
        raise EncodeError("tree too deep to encode") from None
    except (TypeError, ValueError) as exc:  # a malformed Item (not a 3-tuple, unhashable tag…)
        raise EncodeError(f"not a TTLV item: {exc}") from None


_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False).encode


def encode(item: Item) -> str:
    """``item`` as compact JSON text (``separators=(",", ":")``, UTF-8 characters unescaped, as serde_json does)."""
    return _DUMPS(encode_obj(item))


# =================================================================================================================
# Decoding: lenient where real clients are sloppy, never raising anything but DecodeError
# =================================================================================================================


def _bad(tag: int, type_name: str, value: object, why: str = "") -> NoReturn:
    label = _TAG_NAMES.get(tag) or f"0x{tag:06X}"
    detail = f" ({why})" if why else ""
    raise DecodeError(f"{label}: invalid {type_name} value {_preview(value)}{detail}")


def _preview(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _hex_digits(text: str) -> str | None:
    """The digits after a ``0x``/``0X`` prefix, or None if ``text`` is not such a hex string."""
    if len(text) > 2 and text[0] == "0" and text[1] in "xX":
        digits = text[2:]
        if _HEX_DIGITS.issuperset(digits):
            return digits
    return None


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw >> (bits - 1) else raw


def _dec_integer(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is int:
        if _INT32_MIN <= value <= _INT32_MAX:
            return value
        _bad(tag, "Integer", value, "outside the signed 32-bit range")
    if type(value) is not str:
        _bad(tag, "Integer", value)
    if value.startswith("$"):
        return Placeholder(value)
    digits = _hex_digits(value)
    if digits is not None:
        if len(digits) == 8:  # the item's 4 bytes, two's complement (KMIP Profiles 2.1 §5.5.2)
            return _signed(int(digits, 16), 32)
        if len(digits) == 16:  # Cosmian's deserialize_integer also reads 8-byte hex, then checks the range
            number = _signed(int(digits, 16), 64)
            if _INT32_MIN <= number <= _INT32_MAX:
                return number
        _bad(tag, "Integer", value, "hex must be 8 or 16 digits and fit 32 bits")
    mask = registry.mask_for_tag(tag)
    if mask is not None:
        return _dec_mask(tag, value, mask)
    _bad(tag, "Integer", value)


_MASK_SEPARATORS = re.compile(r"[\s|]+")


def _dec_mask(tag: int, text: str, mask: registry.MaskInfo) -> int:
    """Mask names as the OASIS profiles write them (``"Encrypt Decrypt"`` in XML, ``"Encrypt|Decrypt"`` in JSON)."""
    total = 0
    tokens = [token for token in _MASK_SEPARATORS.split(text) if token]
    if not tokens:
        _bad(tag, "Integer", text, "empty mask")
    for token in tokens:
        digits = _hex_digits(token)
        bit = int(digits, 16) if digits is not None and len(digits) <= 8 else mask.value_of(token)
        if bit is None:
            _bad(tag, "Integer", text, f"unknown {mask.name} bit {token!r}")
        total |= bit
    return _signed(total, 32)


def _dec_long_integer(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        _bad(tag, "LongInteger", value, "outside the signed 64-bit range")
    if type(value) is not str:
        _bad(tag, "LongInteger", value)
    if value.startswith("$"):
        return Placeholder(value)
    digits = _hex_digits(value)
    if digits is not None and len(digits) == 16:
        return _signed(int(digits, 16), 64)
    if digits is not None and len(digits) == 8:  # Cosmian's deserialize_integer zero-extends 4-byte hex
        return int(digits, 16)
    _bad(tag, "LongInteger", value, 'expected a number or "0x" + 16 hex digits')


def _dec_big_integer(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is int:
        return value
    if type(value) is not str:
        _bad(tag, "BigInteger", value)
    if value.startswith("$"):
        return Placeholder(value)
    if len(value) // 2 > limits.max_value_size:
        raise DecodeError(f"{_TAG_NAMES.get(tag, hex(tag))}: BigInteger larger than {limits.max_value_size} bytes")
    if value in ("0x", "0X"):  # Cosmian reads the empty byte string as zero
        return 0
    digits = _hex_digits(value)
    if digits is None or len(digits) % 2:
        _bad(tag, "BigInteger", value, 'expected "0x" + an even number of hex digits')
    return _signed(int(digits, 16), len(digits) * 4)


def _dec_enumeration(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is str:
        tokens = _ENUM_TOKENS.get(tag)
        if tokens is not None:
            number = tokens.get(value)
            if number is not None:
                return number
            number = tokens.get(value.casefold())
            if number is None:
                number = _ENUM_SQUASHED[tag].get(_squash(value))
            if number is not None:
                return number
        if value.startswith("$"):
            return Placeholder(value)
        digits = _hex_digits(value)
        if digits is not None and len(digits) <= 8:
            return int(digits, 16)
        why = "unknown name" if tokens is not None else "no enumeration is known for this tag; use 0x + 8 hex"
        _bad(tag, "Enumeration", value, why)
    if type(value) is int:  # Cosmian's KmipEnumerationVariant reader takes bare numbers too
        if 0 <= value <= _UINT32_MAX:
            return value
        _bad(tag, "Enumeration", value, "outside the unsigned 32-bit range")
    _bad(tag, "Enumeration", value)


def _dec_boolean(tag: int, value: object, limits: DecodeLimits) -> Value:
    if value is True or value is False:
        return value
    if type(value) is str:
        if value.startswith("$"):
            return Placeholder(value)
        lowered = value.casefold()
        if lowered in ("true", "false"):
            return lowered == "true"
        digits = _hex_digits(value)
        if digits is not None and len(digits) == 16 and int(digits, 16) in (0, 1):
            return digits[-1] == "1"
    _bad(tag, "Boolean", value)


def _dec_text_string(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is not str:
        _bad(tag, "TextString", value)
    if len(value) > limits.max_value_size:
        raise DecodeError(f"{_TAG_NAMES.get(tag, hex(tag))}: TextString longer than {limits.max_value_size}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800" escapes give lone surrogates, which are not UTF-8 text
            _bad(tag, "TextString", value, "not valid Unicode")
    return value


def _dec_byte_string(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is not str:
        _bad(tag, "ByteString", value)
    if len(value) // 2 > limits.max_value_size:
        raise DecodeError(f"{_TAG_NAMES.get(tag, hex(tag))}: ByteString larger than {limits.max_value_size} bytes")
    try:
        # unhexlify, unlike bytes.fromhex, refuses whitespace; any case is fine (Cosmian uses hex::decode).
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        if value.startswith("$"):
            return Placeholder(value)
        _bad(tag, "ByteString", value, "expected an even number of hex digits")


# ISO 8601 extended format as the `time` crate's Iso8601 parser reads it for Cosmian: a date, a time with
# optional fraction, and "Z" or a numeric offset.
_ISO_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)",
    re.ASCII,
)


def _parse_iso(tag: int, type_name: str, text: str) -> tuple[int, int]:
    """``text`` as (whole seconds since the epoch, microseconds within the second)."""
    match = _ISO_DATE_TIME.fullmatch(text)
    if match is None:
        _bad(tag, type_name, text, "expected RFC 3339, e.g. 2024-05-01T10:20:30Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError as exc:
        _bad(tag, type_name, text, str(exc))
    seconds = (moment - _EPOCH) // _ONE_SECOND
    if not zulu:
        offset = int(off_h) * 3600 + int(off_m or 0) * 60
        if offset >= 86400:
            _bad(tag, type_name, text, "offset out of range")
        seconds -= offset if sign == "+" else -offset
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return seconds, micros


def _dec_date_time(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is str:
        if value.startswith("$"):
            return Placeholder(value)
        digits = _hex_digits(value)
        if digits is not None:
            if len(digits) == 16:  # Cosmian deserialize.rs: "0x" + 8 bytes of seconds
                return _signed(int(digits, 16), 64)
            _bad(tag, "DateTime", value, 'hex must be "0x" + 16 digits')
        return _parse_iso(tag, "DateTime", value)[0]  # sub-second fractions are dropped: DateTime is seconds
    if type(value) is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        _bad(tag, "DateTime", value, "outside the signed 64-bit range")
    _bad(tag, "DateTime", value)


def _dec_interval(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is int:
        if 0 <= value <= _UINT32_MAX:
            return value
        _bad(tag, "Interval", value, "outside the unsigned 32-bit range")
    if type(value) is str:
        if value.startswith("$"):
            return Placeholder(value)
        digits = _hex_digits(value)
        if digits is not None and len(digits) == 8:
            return int(digits, 16)
    _bad(tag, "Interval", value)


def _dec_date_time_extended(tag: int, value: object, limits: DecodeLimits) -> Value:
    if type(value) is str:
        if value.startswith("$"):
            return Placeholder(value)
        digits = _hex_digits(value)
        if digits is not None:
            if len(digits) == 16:
                return _signed(int(digits, 16), 64)
            _bad(tag, "DateTimeExtended", value, 'hex must be "0x" + 16 digits')
        seconds, micros = _parse_iso(tag, "DateTimeExtended", value)
        return seconds * 1_000_000 + micros
    if type(value) is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        _bad(tag, "DateTimeExtended", value, "outside the signed 64-bit range")
    _bad(tag, "DateTimeExtended", value)


_DECODERS: dict[int, Callable[[int, object, DecodeLimits], Value]] = {
    _INTEGER: _dec_integer,
    _LONG_INTEGER: _dec_long_integer,
    _BIG_INTEGER: _dec_big_integer,
    _ENUMERATION: _dec_enumeration,
    _BOOLEAN: _dec_boolean,
    _TEXT_STRING: _dec_text_string,
    _BYTE_STRING: _dec_byte_string,
    _DATE_TIME: _dec_date_time,
    _INTERVAL: _dec_interval,
    _DATE_TIME_EXTENDED: _dec_date_time_extended,
}


def _lookup_tag(name: object) -> int:
    """The slow path of tag lookup: other spellings, then ``"0x42XXXX"`` for tags the registry does not know."""
    if type(name) is not str:
        raise DecodeError(f'"tag" must be a string, not {_preview(name)}')
    info = registry.tag_by_name(name)
    if info is not None:
        return info.value
    tag = _TAGS_BY_SQUASHED.get(_squash(name))
    if tag is not None:
        return tag
    digits = _hex_digits(name)
    if digits is not None and len(digits) <= 8:
        tag = int(digits, 16)
        if tag <= 0xFFFFFF:
            return tag
    raise DecodeError(f"unknown tag {_preview(name)}")


def _lookup_type(tag: int, name: object) -> int:
    if type(name) is str:
        item_type = _TYPES_BY_SQUASHED.get(_squash(name))
        if item_type is not None:
            return item_type
    raise DecodeError(f"{_TAG_NAMES.get(tag) or hex(tag)}: unknown item type {_preview(name)}")


class _Decoder:
    """One decode run: the limits and the running item count."""

    __slots__ = ("items_left", "limits", "max_depth")

    def __init__(self, limits: DecodeLimits) -> None:
        self.limits = limits
        self.max_depth = limits.max_depth
        self.items_left = limits.max_items

    def node(self, obj: object, depth: int, value_tag: int | None = None) -> Item:
        if type(obj) is not dict:
            raise DecodeError(f"expected a TTLV object {{tag, type, value}}, got {_preview(obj)}")
        try:
            tag_name = obj["tag"]
            value = obj["value"]
        except KeyError as exc:
            raise DecodeError(f"TTLV object without {exc.args[0]!r}: keys {sorted(obj)[:5]}") from None
        type_name = obj.get("type")
        if len(obj) != (2 if type_name is None and "type" not in obj else 3):
            raise DecodeError(f"TTLV object with unexpected keys {sorted(obj)[:5]}")
        tag = _TAGS_BY_NAME.get(tag_name) if type(tag_name) is str else None
        if tag is None:
            tag = _lookup_tag(tag_name)
        if type_name is None:
            # Cosmian defaults a missing "type" to Structure; for other values infer from the registry.
            item_type = _STRUCTURE if type(value) is list else _SINGLE_TYPE.get(tag)
            if item_type is None:
                raise DecodeError(f'{_TAG_NAMES.get(tag) or hex(tag)}: "type" is missing and cannot be inferred')
        else:
            item_type = _TYPES_BY_NAME.get(type_name) if type(type_name) is str else None
            if item_type is None:
                item_type = _lookup_type(tag, type_name)
        if item_type == _STRUCTURE:
            if type(value) is not list:
                raise DecodeError(f"{_TAG_NAMES.get(tag) or hex(tag)}: Structure value must be an array")
            if value and depth >= self.max_depth:
                raise DecodeError(f"nesting deeper than {self.max_depth} structures")
            self.items_left -= len(value)
            if self.items_left < 0:
                raise DecodeError(f"more than {self.limits.max_items} items")
            node = self.node
            if tag == _ATTRIBUTE:
                named = _named_attribute(value)
                if named is not None:
                    return Item(tag, _STRUCTURE, [node(child, depth + 1, named) for child in value])
            return Item(tag, _STRUCTURE, [node(child, depth + 1) for child in value])
        if tag == _ROTATE_NAME and item_type == _TEXT_STRING:
            # Cosmian KMS sets a key set's name as a bare Text String; KMIP 3.0's Rotate Name is a structure.
            return Item(
                tag,
                _STRUCTURE,
                [
                    Item(_ROTATE_NAME_VALUE, _TEXT_STRING, _DECODERS[item_type](tag, value, self.limits)),
                    Item(_ROTATE_NAME_TYPE, _ENUMERATION, 1),  # Uninterpreted Text String
                ],
            )
        if value_tag is not None and tag == _ATTRIBUTE_VALUE and type(value) is str:
            return Item(tag, item_type, _DECODERS[item_type](value_tag, value, self.limits))
        return Item(tag, item_type, _DECODERS[item_type](tag, value, self.limits))


_ATTRIBUTE = 0x420008
_ROTATE_NAME, _ROTATE_NAME_VALUE, _ROTATE_NAME_TYPE = 0x42016F, 0x420170, 0x420171
_ATTRIBUTE_NAME = 0x42000A
_ATTRIBUTE_VALUE = 0x42000B


def _named_attribute(children: list[Any]) -> int | None:
    """The tag named by a KMIP 1.x Attribute's Attribute Name, so that its value may be read by that tag: 1.4-style
    JSON (Cosmian's vectors, FortiGate, VAST) writes ``{"tag": "AttributeValue", "type": "Enumeration", "value":
    "AES"}`` beside ``AttributeName`` = ``"Cryptographic Algorithm"``, and the enumeration (or mask) names belong
    to the named attribute, not to Attribute Value, which has none."""
    names = [
        child["value"]
        for child in children
        if type(child) is dict and child.get("tag") == "AttributeName" and type(child.get("value")) is str
    ]
    if len(names) != 1:
        return None
    return _TAGS_BY_SQUASHED.get(_squash(str(names[0])))


def decode_obj(obj: object, limits: DecodeLimits = DEFAULT_LIMITS) -> Item:
    """The TTLV tree for a parsed JSON object in the Cosmian KMS 5.x JSON TTLV dialect (KMIP Profiles 2.1 §5.5.2).

    Enforces ``limits.max_depth``, ``max_items`` and ``max_value_size``; raises only ``DecodeError``.
    """
    decoder = _Decoder(limits)
    decoder.items_left -= 1  # the root
    try:
        return decoder.node(obj, 1)
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("input nested too deeply") from None
    except Exception as exc:  # a bug in a lenient path must still look like bad input to the caller
        raise DecodeError(f"malformed JSON TTLV ({type(exc).__name__})") from None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


_LOADS = json.JSONDecoder(parse_constant=_reject_constant).decode
# The unrolled form of "(?:[^"\\]|\\.)*" runs in linear time without one regex step per character.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_NOT_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
_BRACKET_STEP[ord("[")] = _BRACKET_STEP[ord("{")] = 1
_BRACKET_STEP[ord("]")] = _BRACKET_STEP[ord("}")] = -1


def _max_nesting(brackets: bytes) -> int:
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _nested_deeper_than(text: str, limit: int) -> bool:
    """True if the JSON ``text`` nests arrays/objects deeper than ``limit``, found without recursing.

    Runs in stages so the common case costs next to nothing: nesting cannot exceed the number of opening brackets;
    counting brackets inside strings too only over-estimates; only then strip strings for the exact answer.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    if _max_nesting(text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET_BYTES)) <= limit:
        return False
    brackets = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text))
    return _max_nesting(brackets.encode("ascii")) > limit


def decode(text: str | bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Item:
    """The TTLV tree for JSON TTLV text (UTF-8 bytes or str) in the Cosmian KMS 5.x dialect.

    Checks ``limits.max_message_size`` before parsing and rejects bracket nesting deeper than the items allowed
    by ``limits.max_depth`` before ``json.loads`` recurses; then as ``decode_obj``. Raises only ``DecodeError``.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        if len(text) > limits.max_message_size:
            raise DecodeError(f"message larger than {limits.max_message_size} bytes")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("JSON TTLV is not UTF-8") from None
    elif not isinstance(text, str):
        raise DecodeError(f"expected JSON text, got {type(text).__name__}")
    elif len(text) > limits.max_message_size:
        raise DecodeError(f"message larger than {limits.max_message_size} characters")
    # A Structure is an object holding an array: two JSON levels per TTLV level.
    if _nested_deeper_than(text, 2 * limits.max_depth):
        raise DecodeError(f"nesting deeper than {limits.max_depth} structures")
    try:
        obj = _LOADS(text)
    except RecursionError:
        raise DecodeError("input nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers over the int-str digit limit
        raise DecodeError(f"invalid JSON: {exc}") from None
    return decode_obj(obj, limits)
