"""Lookups over every KMIP 1.0-2.1 tag, enumeration and bit mask (KMIP 2.1 §11, §12; 1.4 §9.1.3).

The data is generated from ../shared/kmip-spec into ``_registry_data.py``; this module indexes it by number, by
spec name and by XML/JSON name, and answers per-version questions ("is this tag defined in 1.2?").
Cosmian vendor extensions (tags 0x54xxxx, enumeration values 0x8880xxxx) are registered the same way and
flagged ``extension=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, IntFlag

from . import _registry_data as _data
from ._registry_data import ItemType, Tag

ProtocolVersion = tuple[int, int]

V1_0: ProtocolVersion = (1, 0)
V1_1: ProtocolVersion = (1, 1)
V1_2: ProtocolVersion = (1, 2)
V1_3: ProtocolVersion = (1, 3)
V1_4: ProtocolVersion = (1, 4)
V2_0: ProtocolVersion = (2, 0)
V2_1: ProtocolVersion = (2, 1)
#: Every protocol version this implementation speaks, newest first (the order Discover Versions answers in).
SUPPORTED_VERSIONS: tuple[ProtocolVersion, ...] = (V2_1, V2_0, V1_4, V1_3, V1_2, V1_1, V1_0)
#: Newer versions whose messages are read and answered as 2.1, for what they share with it (as Cosmian KMS does for
#: KMIP 3.0, committee specification draft 01): the response carries the request's version in its header; an
#: operation or field 3.0 added is refused as 2.1 would refuse it.
READ_AS_2_1: tuple[ProtocolVersion, ...] = ((3, 0),)


def _in_range(version: ProtocolVersion | None, first: ProtocolVersion, last: ProtocolVersion) -> bool:
    return version is None or first <= version <= last


@dataclass(frozen=True, slots=True)
class TagInfo:
    """One tag: its number, spec name, XML/JSON name, allowed item types and version range."""

    value: int
    name: str
    xml_name: str
    types: tuple[ItemType, ...]
    first: ProtocolVersion
    last: ProtocolVersion
    types_1x: tuple[ItemType, ...]
    values_from: str | None
    extension: bool
    #: The spelling Cosmian KMS's JSON TTLV uses (the XML name unless Cosmian spells it differently).
    json_name: str

    def defined_in(self, version: ProtocolVersion | None) -> bool:
        """True if the tag table of ``version`` lists this tag (None: any version)."""
        return self.extension or _in_range(version, self.first, self.last)

    def types_for(self, version: ProtocolVersion | None) -> tuple[ItemType, ...]:
        """Item types the tag may carry in ``version`` (empty: the spec leaves the type open)."""
        if version is not None and version[0] == 1 and self.types_1x:
            return self.types_1x
        return self.types


@dataclass(frozen=True, slots=True)
class EnumValueInfo:
    """One value of an enumeration."""

    value: int
    name: str
    xml_name: str
    aliases: tuple[str, ...]
    first: ProtocolVersion
    last: ProtocolVersion
    extension: bool
    #: The spelling Cosmian KMS's JSON TTLV uses (the XML name unless Cosmian spells it differently).
    json_name: str

    def defined_in(self, version: ProtocolVersion | None) -> bool:
        return self.extension or _in_range(version, self.first, self.last)


@dataclass(frozen=True, slots=True)
class EnumInfo:
    """An enumeration: its IntEnum class, values, and indexes by number and by any spelling of a name."""

    name: str
    cls: type[IntEnum]
    tag: int | None
    used_by_tags: tuple[str, ...]
    first: ProtocolVersion
    last: ProtocolVersion
    values: tuple[EnumValueInfo, ...]
    by_value: dict[int, EnumValueInfo] = field(default_factory=dict, compare=False, repr=False)
    by_token: dict[str, EnumValueInfo] = field(default_factory=dict, compare=False, repr=False)

    def xml_name_of(self, value: int) -> str | None:
        """The XML/JSON token of ``value``, or None for a value the enumeration does not list."""
        info = self.by_value.get(value)
        return info.xml_name if info else None

    def value_of(self, token: str) -> int | None:
        """The number for an XML name, alias, spec name or Python constant name (case-sensitive first)."""
        info = self.by_token.get(token) or self.by_token.get(token.casefold())
        return info.value if info else None


@dataclass(frozen=True, slots=True)
class MaskBitInfo:
    value: int
    name: str
    xml_name: str
    first: ProtocolVersion
    last: ProtocolVersion


@dataclass(frozen=True, slots=True)
class MaskInfo:
    """A bit mask (Cryptographic Usage Mask, Storage Status Mask, Protection Storage Mask)."""

    name: str
    cls: type[IntFlag]
    tag: int
    used_by_tags: tuple[str, ...]
    bits: tuple[MaskBitInfo, ...]
    by_token: dict[str, MaskBitInfo] = field(default_factory=dict, compare=False, repr=False)

    def tokens_of(self, value: int) -> list[str] | None:
        """Split ``value`` into bit names; None if a bit set in ``value`` has no name."""
        names: list[str] = []
        rest = value
        for bit in self.bits:
            if value & bit.value:
                names.append(bit.xml_name)
                rest &= ~bit.value
        return names if rest == 0 else None

    def value_of(self, token: str) -> int | None:
        info = self.by_token.get(token) or self.by_token.get(token.casefold())
        return info.value if info else None


def _tokens(*names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(name)
        out.append(name.casefold())
    return out


_TAGS: dict[int, TagInfo] = {}
_TAGS_BY_NAME: dict[str, TagInfo] = {}
for _row in _data.TAG_ROWS:
    _value, _name, _xml, _types, _first, _last, _types_1x, _values_from, _ext, _json = _row
    _info = TagInfo(
        _value,
        _name,
        _xml,
        tuple(ItemType(t) for t in _types),
        _first,
        _last,
        tuple(ItemType(t) for t in _types_1x),
        _values_from,
        _ext,
        _json,
    )
    _TAGS[_value] = _info
    for _token in _tokens(_name, _xml, Tag(_value).name, _json):
        _TAGS_BY_NAME.setdefault(_token, _info)

_ENUMS: dict[str, EnumInfo] = {}
for _erow in _data.ENUM_ROWS:
    _ename, _cls, _etag, _used_by, _efirst, _elast, _vrows = _erow
    _values = tuple(EnumValueInfo(*v) for v in _vrows)
    _einfo = EnumInfo(_ename, _cls, _etag, _used_by, _efirst, _elast, _values)
    for _v in _values:
        _einfo.by_value.setdefault(_v.value, _v)
        for _token in _tokens(_v.xml_name, _v.name, _cls(_v.value).name, *_v.aliases, _v.json_name):
            _einfo.by_token.setdefault(_token, _v)
    _ENUMS[_ename] = _einfo

_MASKS: dict[str, MaskInfo] = {}
for _mrow in _data.MASK_ROWS:
    _mname, _mcls, _mtag, _mused_by, _brows = _mrow
    _bits = tuple(MaskBitInfo(*b) for b in _brows)
    _minfo = MaskInfo(_mname, _mcls, _mtag, _mused_by, _bits)
    for _b in _bits:
        for _token in _tokens(_b.xml_name, _b.name, _mcls(_b.value).name or _b.xml_name):
            _minfo.by_token.setdefault(_token, _b)
    _MASKS[_mname] = _minfo

# The Tag enumeration (2.x §11.56) lists tag numbers as values; Attribute Reference uses it.
_TAG_ENUM = EnumInfo(
    "Tag",
    Tag,
    0x420138,
    ("Attribute Reference",),
    V2_0,
    V2_1,
    tuple(
        EnumValueInfo(
            t.value,
            t.name,
            t.xml_name,
            (),
            t.first,
            t.last,
            t.extension,
            _data.TAG_ENUM_JSON_NAMES.get(t.value, t.xml_name),
        )
        for t in _TAGS.values()
    ),
)
for _tv in _TAG_ENUM.values:
    _TAG_ENUM.by_value[_tv.value] = _tv
    for _token in _tokens(_tv.xml_name, _TAGS[_tv.value].name, _tv.name, _tv.json_name):
        _TAG_ENUM.by_token.setdefault(_token, _tv)
_ENUMS["Tag"] = _TAG_ENUM

_ENUM_BY_TAG: dict[int, EnumInfo] = {}
_MASK_BY_TAG: dict[int, MaskInfo] = {}
for _tinfo in _TAGS.values():
    if _tinfo.values_from in _ENUMS and ItemType.ENUMERATION in (_tinfo.types + _tinfo.types_1x):
        _ENUM_BY_TAG[_tinfo.value] = _ENUMS[_tinfo.values_from]
    elif _tinfo.values_from in _MASKS:
        _MASK_BY_TAG[_tinfo.value] = _MASKS[_tinfo.values_from]


def tag_info(value: int) -> TagInfo | None:
    """The tag with number ``value``, or None if neither KMIP nor a registered extension defines it."""
    return _TAGS.get(value)


def tag_by_name(name: str, version: ProtocolVersion | None = None) -> TagInfo | None:
    """Find a tag by spec name (``IV/Counter/Nonce``), XML/JSON name (``IVCounterNonce``) or constant name.

    Case-insensitive as a fallback. With ``version``, only tags defined in that version are found.
    """
    info = _TAGS_BY_NAME.get(name) or _TAGS_BY_NAME.get(name.casefold())
    if info is None or not info.defined_in(version):
        return None
    return info


def tags(version: ProtocolVersion | None = None) -> list[TagInfo]:
    """Every tag defined in ``version`` (all versions and extensions when None)."""
    return [t for t in _TAGS.values() if t.defined_in(version)]


def enumeration(name: str) -> EnumInfo:
    """An enumeration by its spec name (``Cryptographic Algorithm``); KeyError if unknown."""
    return _ENUMS[name]


def enumerations() -> list[EnumInfo]:
    return list(_ENUMS.values())


def mask(name: str) -> MaskInfo:
    """A bit mask by its spec name (``Cryptographic Usage Mask``); KeyError if unknown."""
    return _MASKS[name]


def masks() -> list[MaskInfo]:
    return list(_MASKS.values())


def enum_for_tag(tag: int) -> EnumInfo | None:
    """The enumeration whose values an Enumeration item with ``tag`` carries, if any."""
    return _ENUM_BY_TAG.get(tag)


def mask_for_tag(tag: int) -> MaskInfo | None:
    """The bit mask an Integer item with ``tag`` carries (e.g. Cryptographic Usage Mask), if any."""
    return _MASK_BY_TAG.get(tag)


def parse_version(text: str) -> ProtocolVersion:
    """``"1.4"`` -> ``(1, 4)``; ValueError on anything else."""
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"not a KMIP protocol version: {text!r}")
    return int(major), int(minor)


def answer_version(version: ProtocolVersion | None) -> ProtocolVersion:
    """The version to answer a request of ``version`` in when we do not speak it, or when it could not be read
    (None): the highest we speak that is not newer than the request's (KMIP 2.1 §8.1), else our highest."""
    if version is None:
        return SUPPORTED_VERSIONS[0]
    return next((v for v in SUPPORTED_VERSIONS if v <= version), SUPPORTED_VERSIONS[-1])


__all__ = [
    "READ_AS_2_1",
    "answer_version",
    "SUPPORTED_VERSIONS",
    "V1_0",
    "V1_1",
    "V1_2",
    "V1_3",
    "V1_4",
    "V2_0",
    "V2_1",
    "EnumInfo",
    "EnumValueInfo",
    "MaskBitInfo",
    "MaskInfo",
    "ProtocolVersion",
    "TagInfo",
    "enum_for_tag",
    "enumeration",
    "enumerations",
    "mask",
    "mask_for_tag",
    "masks",
    "parse_version",
    "tag_by_name",
    "tag_info",
    "tags",
]
