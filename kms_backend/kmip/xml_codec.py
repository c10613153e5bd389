"""The KMIP XML encoding of TTLV trees (KMIP Additional Message Encodings v1.0 §6 "XML Encoding").

One XML element per TTLV item (AME §6.1.2). The element name is the tag's normalised name (AME §6.1.3,
registry ``TagInfo.xml_name``); a tag the registry does not know is written as an element named ``TTLV`` with a
``tag="0x54xxxx"`` attribute. Structures are elements with child elements and no ``type`` attribute; every other
item is an empty element with ``type`` and ``value`` attributes:

==================  ======================================================================================
Integer             decimal (``0x`` + hex, two's complement, accepted on input); mask tags (Cryptographic
                    Usage Mask, Storage Status Mask, Protection Storage Mask) as space-separated bit names
Long Integer        decimal (``0x`` + hex accepted on input)
Big Integer         hex digits, big-endian two's complement, padded to a multiple of 8 bytes
Enumeration         the value's CamelCase name, or ``0x`` + 8 hex digits for a value without a name
Boolean             ``true`` / ``false``
Text String         the text itself
Byte String         hex digits, no ``0x``
Date Time           ISO 8601 with an offset (``2000-02-01T00:00:00+10:00``); written in UTC (``+00:00``)
Interval            decimal seconds
Date Time Extended  as Date Time, with microseconds
==================  ======================================================================================

Which names an Enumeration or mask Integer uses can depend on context: the Attribute Value of a 1.x ``Attribute``
(KMIP 1.4 §2.1.1) takes the enumeration or mask of the tag its Attribute Name spells (``"Cryptographic
Algorithm"`` -> ``AES``; custom ``x-`` names and 2.x vendor attributes have none); Attribute Reference, Extension
Type and Unique Identifier use the enumeration the registry names for them (the 2.1 §11.56 Tag enumeration, Item
Type, Unique Identifier). Enumeration values the registry marks as vendor extensions are written as hex, as in the
OASIS files, since other implementations do not know our names for them; decoding accepts both. ``version`` picks
the 1.x spelling where 2.x renamed a value (``SHA_3_224`` / ``SHA3_224``); decoding accepts every spelling.

OASIS test-case placeholders (``$NOW``, ``$UNIQUE_IDENTIFIER_0``...) are kept: a Text String keeps the text, any
other type decodes to ``ttlv.Placeholder`` and encodes back verbatim.

Decoding uses the standard-library expat parser with DTDs, entity declarations and external entities refused
(no XXE, no entity expansion), and enforces ``DecodeLimits`` before and while parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.parsers import expat

from . import registry
from ._registry_data import ItemType, Tag
from .errors import DecodeError, EncodeError
from .registry import EnumInfo, MaskInfo, ProtocolVersion
from .ttlv import DEFAULT_LIMITS, DecodeLimits, Item, Placeholder, Value, tag_label

__all__ = ["decode", "decode_document", "encode", "encode_document"]

#: The ``type`` attribute spellings of AME §6.1.2 (the 2.1 §9.1.1.2 type names without spaces).
_TYPE_NAMES: dict[ItemType, str] = {
    ItemType.STRUCTURE: "Structure",
    ItemType.INTEGER: "Integer",
    ItemType.LONG_INTEGER: "LongInteger",
    ItemType.BIG_INTEGER: "BigInteger",
    ItemType.ENUMERATION: "Enumeration",
    ItemType.BOOLEAN: "Boolean",
    ItemType.TEXT_STRING: "TextString",
    ItemType.BYTE_STRING: "ByteString",
    ItemType.DATE_TIME: "DateTime",
    ItemType.INTERVAL: "Interval",
    ItemType.DATE_TIME_EXTENDED: "DateTimeExtended",
}
_TYPES_BY_NAME: dict[str, ItemType] = {name: item_type for item_type, name in _TYPE_NAMES.items()}

#: Element name for tags without a registered name (AME §6.1.2); the tag number goes in the ``tag`` attribute.
_UNKNOWN_TAG_ELEMENT = "TTLV"
#: Root element of the OASIS test-case files: a sequence of Request/Response Messages.
_DOCUMENT_ROOT = "KMIP"

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT32 = (0, 2**32 - 1)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_ONE_MICROSECOND = timedelta(microseconds=1)

# re.ASCII everywhere: Python's \d and int() also accept non-ASCII digits, which XML numbers must not contain.
_DECIMAL = re.compile(r"[+-]?[0-9]{1,40}", re.ASCII)
_HEX_NUMBER = re.compile(r"0[xX]([0-9A-Fa-f]{1,16})", re.ASCII)
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]*", re.ASCII)
_DATETIME = re.compile(
    r"(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,6}))?(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
# Placeholders of the OASIS test cases: $NAME, $NAME_3, $NOW-3600 (kmip-testcases README, "Placeholders").
_PLACEHOLDER = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*(?:[+-][0-9]+)?", re.ASCII)
_MASK_SEPARATORS = re.compile(r"[ \t\r\n|]+")
# XML 1.0 §2.2 Char: what an attribute value can carry at all (even as a character reference).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKUP_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_WHITESPACE = " \t\r\n"

_ATTRIBUTE_ESCAPES = str.maketrans(
    # \t \n \r must be character references: a literal one is normalised to a space by every parser (XML §3.3.3).
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)


# ---------------------------------------------------------------------------------------------------------------
# Context: which enumeration or mask names an item's value uses
# ---------------------------------------------------------------------------------------------------------------


def _attribute_tag(children_names: Iterable[tuple[int, Any]]) -> int | None:
    """The tag a 1.x Attribute's Attribute Name spells (KMIP 1.4 §2.1.1), or None for custom or vendor ones.

    ``children_names`` yields (tag, value) for the Attribute's Text String children. Custom attributes (``x-``,
    ``y-``) and 2.x vendor attributes (with a Vendor Identification sibling) name no KMIP tag.
    """
    name: str | None = None
    for tag, value in children_names:
        if tag == Tag.VENDOR_IDENTIFICATION:
            return None
        if tag == Tag.ATTRIBUTE_NAME and isinstance(value, str) and name is None:
            name = value
    if name is None or name[:2] in ("x-", "y-", "X-", "Y-"):
        return None
    info = registry.tag_by_name(name)
    return info.value if info is not None else None


def _value_names(tag: int, attribute_tag: int | None) -> tuple[EnumInfo | None, MaskInfo | None]:
    """The enumeration (for Enumeration items) and mask (for Integer items) whose names ``tag``'s value uses."""
    source = attribute_tag if tag == Tag.ATTRIBUTE_VALUE and attribute_tag is not None else tag
    return registry.enum_for_tag(source), registry.mask_for_tag(source)


def _enum_token(enum: EnumInfo | None, value: int, version: ProtocolVersion | None) -> str | None:
    """The XML name of ``value``; for 1.x, the 1.x spelling where the 2.x spec renamed it (SHA_3_224)."""
    if enum is None:
        return None
    info = enum.by_value.get(value)
    # Vendor extension values (0x8xxxxxxx) are written as hex, as the OASIS test cases do: other
    # implementations do not know our names for them. Decoding accepts both.
    if info is None or info.extension:
        return None
    # The registry records only 1.x spellings as aliases (names_by_version in enumerations.json).
    if version is not None and version[0] == 1 and info.aliases:
        return info.aliases[0]
    return info.xml_name


# ---------------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------------


def encode(item: Item, version: ProtocolVersion | None = None, indent: bool = True) -> str:
    """Encode one TTLV item (usually a Request or Response Message) as KMIP XML (AME §6).

    ``version`` picks the enumeration spellings of that protocol version (1.4 ``SHA_3_224`` vs 2.1
    ``SHA3_224``); None writes the newest. ``indent`` writes one element per line, two spaces per level.
    Raises ``EncodeError`` for values that XML cannot carry (e.g. a NUL in a Text String) or that do not fit
    their item type.
    """
    encoder = _Encoder(version, indent)
    encoder.item(item, None, 0)
    return "".join(encoder.out)


def encode_document(items: Iterable[Item], version: ProtocolVersion | None = None, indent: bool = True) -> str:
    """Encode several messages under a ``<KMIP>`` root, the layout of the OASIS XML test-case files."""
    encoder = _Encoder(version, indent)
    encoder.out.append(f"<{_DOCUMENT_ROOT}>")
    for item in items:
        if indent:
            # Messages at column 0 with a blank line between them, as in the OASIS files.
            encoder.out.append("\n\n")
        encoder.item(item, None, 0)
    encoder.out.append(f"\n</{_DOCUMENT_ROOT}>\n" if indent else f"</{_DOCUMENT_ROOT}>")
    return "".join(encoder.out)


def _element_start(tag: int) -> str:
    if not isinstance(tag, int) or not 0 <= tag <= 0xFFFFFF:
        raise EncodeError(f"tag {tag!r} is not a 3-byte TTLV tag")
    info = registry.tag_info(tag)
    if info is None:
        return f'<{_UNKNOWN_TAG_ELEMENT} tag="0x{tag:06X}"'
    return f"<{info.xml_name}"


def _element_name(tag: int) -> str:
    info = registry.tag_info(tag)
    return info.xml_name if info is not None else _UNKNOWN_TAG_ELEMENT


class _Encoder:
    """Writes elements into ``out``; holds the settings every element needs."""

    def __init__(self, version: ProtocolVersion | None, indent: bool) -> None:
        self.version = version
        self.indent = indent
        self.out: list[str] = []

    def item(self, item: Item, attribute_tag: int | None, level: int) -> None:
        if not isinstance(item, tuple) or len(item) != 3:
            raise EncodeError(f"not a TTLV item: {item!r}")
        tag, item_type, value = item
        prefix = "  " * level if self.indent else ""
        start = _element_start(tag)
        if item_type == ItemType.STRUCTURE:
            if not isinstance(value, list):
                raise EncodeError(f"{tag_label(tag)}: a Structure holds a list of items, not {type(value).__name__}")
            if not value:
                self.out.append(f"{prefix}{start}/>")
                return
            self.out.append(f"{prefix}{start}>")
            inner_attribute_tag = _attribute_tag(
                (child[0], child[2]) for child in value if isinstance(child, tuple) and len(child) == 3
            )
            for child in value:
                if self.indent:
                    self.out.append("\n")
                self.item(child, inner_attribute_tag, level + 1)
            if self.indent:
                self.out.append("\n")
            self.out.append(f"{prefix}</{_element_name(tag)}>")
            return
        try:
            type_name = _TYPE_NAMES[ItemType(item_type)]
        except ValueError:
            raise EncodeError(f"{tag_label(tag)}: unknown item type {item_type!r}") from None
        text = _format_value(tag, ItemType(item_type), value, attribute_tag, self.version)
        self.out.append(f'{prefix}{start} type="{type_name}" value="{text.translate(_ATTRIBUTE_ESCAPES)}"/>')


def _format_value(
    tag: int, item_type: ItemType, value: Value, attribute_tag: int | None, version: ProtocolVersion | None
) -> str:
    """The ``value`` attribute text (unescaped) of a non-Structure item."""
    if isinstance(value, Placeholder):
        if not _PLACEHOLDER.fullmatch(value.name):
            raise EncodeError(f"{tag_label(tag)}: {value.name!r} is not a test-case placeholder")
        return value.name
    if item_type == ItemType.TEXT_STRING:
        if not isinstance(value, str):
            raise EncodeError(f"{tag_label(tag)}: a Text String holds str, not {type(value).__name__}")
        bad = _NOT_XML_CHAR.search(value)
        if bad is not None:
            raise EncodeError(f"{tag_label(tag)}: XML 1.0 cannot carry the character U+{ord(bad.group()):04X}")
        return value
    if item_type == ItemType.BYTE_STRING:
        if not isinstance(value, bytes | bytearray):
            raise EncodeError(f"{tag_label(tag)}: a Byte String holds bytes, not {type(value).__name__}")
        return bytes(value).hex()
    if item_type == ItemType.BOOLEAN:
        if not isinstance(value, bool):
            raise EncodeError(f"{tag_label(tag)}: a Boolean holds bool, not {type(value).__name__}")
        return "true" if value else "false"
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"{tag_label(tag)}: a {_TYPE_NAMES[item_type]} holds int, not {type(value).__name__}")
    if item_type == ItemType.INTEGER:
        _check_range(tag, item_type, value, _INT32)
        _, mask = _value_names(tag, attribute_tag)
        if mask is not None and value > 0:
            tokens = mask.tokens_of(value)
            if tokens:
                return " ".join(tokens)
        return str(value)
    if item_type == ItemType.LONG_INTEGER:
        _check_range(tag, item_type, value, _INT64)
        return str(value)
    if item_type == ItemType.INTERVAL:
        _check_range(tag, item_type, value, _UINT32)
        return str(value)
    if item_type == ItemType.ENUMERATION:
        _check_range(tag, item_type, value, _UINT32)
        enum, _ = _value_names(tag, attribute_tag)
        return _enum_token(enum, value, version) or f"0x{value:08X}"
    if item_type == ItemType.BIG_INTEGER:
        # Two's complement, big-endian, padded to a multiple of 8 bytes (KMIP 2.1 §9.1.1.4; AME §6.1.2).
        length = (value.bit_length() + 8) // 8
        length = max(8, (length + 7) // 8 * 8)
        return value.to_bytes(length, "big", signed=True).hex()
    if item_type == ItemType.DATE_TIME:
        _check_range(tag, item_type, value, _INT64)
        return _format_datetime(tag, value, _ONE_SECOND).isoformat(timespec="seconds")
    if item_type == ItemType.DATE_TIME_EXTENDED:
        _check_range(tag, item_type, value, _INT64)
        return _format_datetime(tag, value, _ONE_MICROSECOND).isoformat(timespec="microseconds")
    raise EncodeError(f"{tag_label(tag)}: unknown item type {item_type!r}")


def _check_range(tag: int, item_type: ItemType, value: int, bounds: tuple[int, int]) -> None:
    if not bounds[0] <= value <= bounds[1]:
        raise EncodeError(f"{tag_label(tag)}: {value} does not fit a {_TYPE_NAMES[item_type]}")


def _format_datetime(tag: int, value: int, unit: timedelta) -> datetime:
    try:
        return _EPOCH + value * unit
    except OverflowError:
        # ISO 8601 as written by the test cases has 4-digit years: 0001-01-01 to 9999-12-31 UTC.
        raise EncodeError(f"{tag_label(tag)}: {value} is outside the years 1-9999 an ISO 8601 date can show") from None


# ---------------------------------------------------------------------------------------------------------------
# Decoding: expat -> raw elements (limits enforced while parsing) -> TTLV items
# ---------------------------------------------------------------------------------------------------------------


class _Element:
    """A parsed XML element, before it is interpreted as a TTLV item."""

    __slots__ = ("attrs", "children", "line", "name")

    def __init__(self, name: str, attrs: dict[str, str], line: int) -> None:
        self.name = name
        self.attrs = attrs
        self.line = line
        self.children: list[_Element] = []


def decode(text: str | bytes, limits: DecodeLimits = DEFAULT_LIMITS, version: ProtocolVersion | None = None) -> Item:
    """Decode one KMIP XML element (usually a Request or Response Message) into a TTLV item (AME §6).

    Names of every protocol version are accepted (no tag or enumeration name means different things in
    different versions); ``version`` is accepted for symmetry with ``encode``. Raises ``DecodeError`` and
    nothing else for malformed input, unknown names, bad values, DTDs or entity declarations, and inputs beyond
    ``limits``.
    """
    root = _parse(text, limits, document=False)
    return _decode_element(root, None, limits)


def decode_document(
    text: str | bytes, limits: DecodeLimits = DEFAULT_LIMITS, version: ProtocolVersion | None = None
) -> list[Item]:
    """Decode a ``<KMIP>`` document holding a sequence of messages (the OASIS XML test-case file format).

    ``limits`` apply to the whole document (size, item count) and to each message (depth).
    """
    root = _parse(text, limits, document=True)
    return [_decode_element(child, None, limits) for child in root.children]


def _parse(text: str | bytes, limits: DecodeLimits, document: bool) -> _Element:
    if not isinstance(text, str | bytes | bytearray):
        raise DecodeError(f"XML input must be str or bytes, not {type(text).__name__}")
    if len(text) > limits.max_message_size:
        raise DecodeError(f"XML input of {len(text)} bytes exceeds the limit of {limits.max_message_size}")
    if isinstance(text, str):
        source = text
    else:
        # Decoded here rather than by expat so the DTD check below sees the text whatever the declared encoding.
        try:
            source = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"XML input is not UTF-8: {exc.reason} at byte {exc.start}") from None
    if _MARKUP_DECLARATION.search(source):
        raise DecodeError("XML input with a DTD or entity declaration is refused")
    builder = _TreeBuilder(limits, document)
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    # Defence in depth behind the text check above: any declaration or external reference aborts the parse.
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_declaration
    builder.parser = parser
    try:
        parser.Parse(source, True)
    except expat.ExpatError as exc:
        raise DecodeError(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except UnicodeEncodeError:
        raise DecodeError("XML input contains characters that cannot be encoded (lone surrogates)") from None
    except RecursionError:
        raise DecodeError("XML input nests too deeply") from None
    if builder.root is None:
        raise DecodeError("XML input has no element")
    return builder.root


def _refuse_declaration(*_args: object) -> int:
    raise DecodeError("XML input with a DTD, entity declaration or external entity is refused")


class _TreeBuilder:
    """expat callbacks: builds ``_Element``s and enforces depth and item-count limits as elements open."""

    def __init__(self, limits: DecodeLimits, document: bool) -> None:
        self.limits = limits
        self.document = document
        self.stack: list[_Element] = []
        self.root: _Element | None = None
        self.items = 0
        self.parser: Any = None

    def _line(self) -> int:
        return int(self.parser.CurrentLineNumber) if self.parser is not None else 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        element = _Element(name, attrs, self._line())
        if self.root is None:
            self.root = element
            if self.document:
                if name != _DOCUMENT_ROOT or attrs:
                    raise DecodeError(f"line {element.line}: expected a <{_DOCUMENT_ROOT}> document, got <{name}>")
                self.stack.append(element)
                return
        else:
            self.stack[-1].children.append(element)
        # The document root is a wrapper, not an item: depth counts from the message.
        depth = len(self.stack) + (0 if self.document else 1)
        if depth > self.limits.max_depth:
            raise DecodeError(f"line {element.line}: nesting deeper than {self.limits.max_depth} items")
        self.items += 1
        if self.items > self.limits.max_items:
            raise DecodeError(f"line {element.line}: more than {self.limits.max_items} items")
        self.stack.append(element)

    def end(self, _name: str) -> None:
        self.stack.pop()

    def characters(self, data: str) -> None:
        if data.strip(_XML_WHITESPACE):
            raise DecodeError(f"line {self._line()}: text content is not allowed in KMIP XML")


def _decode_element(element: _Element, attribute_tag: int | None, limits: DecodeLimits) -> Item:
    where = f"line {element.line}: <{element.name}>"
    tag = _element_tag(element, where)
    allowed = {"type", "value", "tag"} if element.name == _UNKNOWN_TAG_ELEMENT else {"type", "value"}
    extra = set(element.attrs) - allowed
    if extra:
        raise DecodeError(f"{where}: unexpected attribute {sorted(extra)[0]!r}")
    type_name = element.attrs.get("type")
    if type_name is None or type_name == "Structure":
        if "value" in element.attrs:
            raise DecodeError(f"{where}: a Structure has child elements, not a value attribute")
        inner_attribute_tag = _attribute_tag(
            (registry_tag, child.attrs.get("value"))
            for child in element.children
            if child.attrs.get("type") == "TextString" and (registry_tag := _tag_or_none(child.name)) is not None
        )
        return Item(
            tag,
            ItemType.STRUCTURE,
            [_decode_element(child, inner_attribute_tag, limits) for child in element.children],
        )
    item_type = _TYPES_BY_NAME.get(type_name)
    if item_type is None:
        raise DecodeError(f"{where}: unknown item type {type_name!r}")
    if element.children:
        raise DecodeError(f"{where}: a {type_name} cannot have child elements")
    text = element.attrs.get("value")
    if text is None:
        raise DecodeError(f"{where}: missing value attribute")
    if text.startswith("$") and item_type != ItemType.TEXT_STRING:
        if not _PLACEHOLDER.fullmatch(text):
            raise DecodeError(f"{where}: {text!r} is not a test-case placeholder")
        return Item(tag, item_type, Placeholder(text))
    try:
        return Item(tag, item_type, _parse_value(tag, item_type, text, attribute_tag, limits))
    except DecodeError as exc:
        raise DecodeError(f"{where}: {exc.message}") from None


def _tag_or_none(name: str) -> int | None:
    info = registry.tag_by_name(name)
    return info.value if info is not None else None


def _element_tag(element: _Element, where: str) -> int:
    if element.name == _UNKNOWN_TAG_ELEMENT:
        raw = element.attrs.get("tag")
        if raw is None:
            raise DecodeError(f"{where}: missing tag attribute")
        match = _HEX_NUMBER.fullmatch(raw)
        if match is not None and len(match.group(1)) <= 6:
            return int(match.group(1), 16)
        info = registry.tag_by_name(raw)
        if info is None:
            raise DecodeError(f"{where}: tag attribute {raw!r} is neither 0x + 6 hex digits nor a tag name")
        return info.value
    info = registry.tag_by_name(element.name)
    if info is None:
        raise DecodeError(f"{where}: unknown element name")
    return info.value


def _parse_value(tag: int, item_type: ItemType, text: str, attribute_tag: int | None, limits: DecodeLimits) -> Value:
    """The value of a non-Structure item from its ``value`` attribute (AME §6.1.2); DecodeError if malformed."""
    if item_type == ItemType.TEXT_STRING:
        if len(text) > limits.max_value_size:
            raise DecodeError(f"value longer than {limits.max_value_size}")
        return text
    if item_type == ItemType.BYTE_STRING:
        return _parse_hex(text, limits)
    if item_type == ItemType.BOOLEAN:
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise DecodeError(f"{text!r} is not a Boolean (true or false)")
    if item_type == ItemType.INTEGER:
        _, mask = _value_names(tag, attribute_tag)
        if mask is not None:
            return _parse_mask(mask, text)
        return _parse_integer(text, _INT32, 32)
    if item_type == ItemType.LONG_INTEGER:
        return _parse_integer(text, _INT64, 64)
    if item_type == ItemType.INTERVAL:
        return _parse_integer(text, _UINT32, 0)
    if item_type == ItemType.ENUMERATION:
        enum, _ = _value_names(tag, attribute_tag)
        if enum is not None:
            number = enum.value_of(text)
            if number is not None:
                return number
        match = _HEX_NUMBER.fullmatch(text)
        if match is None or len(match.group(1)) > 8:
            what = f"a {enum.name} name" if enum is not None else "0x + 8 hex digits"
            raise DecodeError(f"enumeration value {text!r} is not {what}")
        return int(match.group(1), 16)
    if item_type == ItemType.BIG_INTEGER:
        data = _parse_hex(text, limits)
        return int.from_bytes(data, "big", signed=True)
    if item_type == ItemType.DATE_TIME:
        return _parse_datetime(text, _ONE_SECOND)
    if item_type == ItemType.DATE_TIME_EXTENDED:
        return _parse_datetime(text, _ONE_MICROSECOND)
    raise DecodeError(f"unsupported item type {item_type!r}")  # pragma: no cover - _TYPES_BY_NAME is total


def _parse_hex(text: str, limits: DecodeLimits) -> bytes:
    if len(text) % 2 or not _HEX_DIGITS.fullmatch(text):
        raise DecodeError(f"{_shorten(text)!r} is not an even number of hex digits")
    if len(text) // 2 > limits.max_value_size:
        raise DecodeError(f"value longer than {limits.max_value_size} bytes")
    return bytes.fromhex(text)


def _parse_integer(text: str, bounds: tuple[int, int], hex_bits: int) -> int:
    """Decimal, or ``0x`` + hex read as ``hex_bits``-bit two's complement (unsigned when ``hex_bits`` is 0)."""
    if _DECIMAL.fullmatch(text):
        value = int(text)
    else:
        match = _HEX_NUMBER.fullmatch(text)
        digits = (hex_bits or 32) // 4
        if match is None or len(match.group(1)) > digits:
            raise DecodeError(f"{_shorten(text)!r} is not a number")
        value = int(match.group(1), 16)
        if hex_bits and value >= 1 << (hex_bits - 1):
            value -= 1 << hex_bits
    if not bounds[0] <= value <= bounds[1]:
        raise DecodeError(f"{value} is out of range")
    return value


def _parse_mask(mask: MaskInfo, text: str) -> int:
    """A mask Integer: a number, or bit names / numbers separated by spaces (or ``|``), OR-ed together."""
    if _DECIMAL.fullmatch(text):
        return _parse_integer(text, _INT32, 32)
    tokens = [token for token in _MASK_SEPARATORS.split(text) if token]
    if not tokens:
        raise DecodeError(f"empty {mask.name}")
    value = 0
    for token in tokens:
        bit = mask.value_of(token)
        if bit is None:
            if _DECIMAL.fullmatch(token) and not token.startswith("-"):
                bit = int(token)
            elif (match := _HEX_NUMBER.fullmatch(token)) is not None and len(match.group(1)) <= 8:
                bit = int(match.group(1), 16)
            else:
                raise DecodeError(f"{_shorten(token)!r} is not a {mask.name} bit name")
        if bit > _UINT32[1]:
            raise DecodeError(f"{bit} is out of range")
        value |= bit
    # An Integer is signed 32-bit; bit 31 makes the value negative (KMIP 2.1 §9.1.1.4).
    return value - (1 << 32) if value >= 1 << 31 else value


def _parse_datetime(text: str, unit: timedelta) -> int:
    """ISO 8601 with an offset -> seconds (or microseconds) since the epoch, UTC (AME §6.1.2)."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise DecodeError(f"{_shorten(text)!r} is not an ISO 8601 date-time with an offset")
    fraction = match.group("fraction") or ""
    if unit == _ONE_SECOND and fraction.strip("0"):
        raise DecodeError(f"a DateTime has whole seconds, got {text!r}")
    offset = match.group("offset")
    normalized = match.group("base") + (f".{fraction.ljust(6, '0')}" if fraction else "")
    normalized += "+00:00" if offset == "Z" else offset
    try:
        moment = datetime.fromisoformat(normalized)
    except ValueError:
        raise DecodeError(f"{text!r} is not a valid date-time") from None
    return (moment - _EPOCH) // unit


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
