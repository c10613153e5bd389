"""KMIP XML codec (KMIP Additional Message Encodings v1.0 §6): known answers, context, placeholders, errors."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kms_backend.kmip import registry, xml_codec
from kms_backend.kmip.errors import DecodeError, EncodeError
from kms_backend.kmip.registry import V1_4, V2_1
from kms_backend.kmip.ttlv import DecodeLimits, Item, ItemType, Placeholder, Tag, structure
from tests.kmip.strategies import trees

S = ItemType.STRUCTURE
I = ItemType.INTEGER  # noqa: E741 - the item-type letter, as in the spec's tables
L = ItemType.LONG_INTEGER
BIG = ItemType.BIG_INTEGER
E = ItemType.ENUMERATION
B = ItemType.BOOLEAN
T = ItemType.TEXT_STRING
BS = ItemType.BYTE_STRING
DT = ItemType.DATE_TIME
IV = ItemType.INTERVAL
DTE = ItemType.DATE_TIME_EXTENDED

# XML 1.0 §2.2: characters an XML document cannot carry, not even as a character reference.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _roundtrip(item: Item, **kwargs: object) -> Item:
    return xml_codec.decode(xml_codec.encode(item, **kwargs))  # type: ignore[arg-type]


# -- known answers, one per item type ------------------------------------------------------------------------

KNOWN_ANSWERS = [
    ('<CryptographicLength type="Integer" value="256"/>', Item(Tag.CRYPTOGRAPHIC_LENGTH, I, 256)),
    ('<CryptographicLength type="Integer" value="-2147483648"/>', Item(Tag.CRYPTOGRAPHIC_LENGTH, I, -(2**31))),
    ('<UsageLimitsCount type="LongInteger" value="-9223372036854775808"/>', Item(Tag.USAGE_LIMITS_COUNT, L, -(2**63))),
    ('<P type="BigInteger" value="0000000000000000"/>', Item(Tag.P, BIG, 0)),
    ('<P type="BigInteger" value="ffffffffffffffff"/>', Item(Tag.P, BIG, -1)),
    ('<P type="BigInteger" value="0000000000000080"/>', Item(Tag.P, BIG, 128)),
    ('<P type="BigInteger" value="00000000000000008000000000000000"/>', Item(Tag.P, BIG, 2**63)),
    ('<P type="BigInteger" value="ff7fffffffffffff"/>', Item(Tag.P, BIG, -(2**55) - 1)),
    ('<ObjectType type="Enumeration" value="SymmetricKey"/>', Item(Tag.OBJECT_TYPE, E, 2)),
    ('<ObjectType type="Enumeration" value="0x00001234"/>', Item(Tag.OBJECT_TYPE, E, 0x1234)),
    ('<OpaqueDataType type="Enumeration" value="0x80000001"/>', Item(Tag.OPAQUE_DATA_TYPE, E, 0x80000001)),
    ('<Sensitive type="Boolean" value="true"/>', Item(Tag.SENSITIVE, B, True)),
    ('<Sensitive type="Boolean" value="false"/>', Item(Tag.SENSITIVE, B, False)),
    (
        '<NameValue type="TextString" value="a&lt;b&amp;&quot;c&quot;&gt;&#9;&#10;&#13;é"/>',
        Item(Tag.NAME_VALUE, T, 'a<b&"c">\t\n\ré'),
    ),
    ('<NameValue type="TextString" value=""/>', Item(Tag.NAME_VALUE, T, "")),
    ('<IVCounterNonce type="ByteString" value="00ff10"/>', Item(Tag.IV_COUNTER_NONCE, BS, b"\x00\xff\x10")),
    ('<IVCounterNonce type="ByteString" value=""/>', Item(Tag.IV_COUNTER_NONCE, BS, b"")),
    ('<ActivationDate type="DateTime" value="2000-01-31T14:00:00+00:00"/>', Item(Tag.ACTIVATION_DATE, DT, 949327200)),
    ('<ActivationDate type="DateTime" value="1969-12-31T23:59:59+00:00"/>', Item(Tag.ACTIVATION_DATE, DT, -1)),
    ('<LeaseTime type="Interval" value="4294967295"/>', Item(Tag.LEASE_TIME, IV, 2**32 - 1)),
    (
        '<ActivationDate type="DateTimeExtended" value="1970-01-01T00:00:01.000002+00:00"/>',
        Item(Tag.ACTIVATION_DATE, DTE, 1_000_002),
    ),
    ("<RequestPayload/>", Item(Tag.REQUEST_PAYLOAD, S, [])),
    ('<TTLV tag="0x54FF01" type="Integer" value="7"/>', Item(0x54FF01, I, 7)),
    ('<TTLV tag="0x54FF02"/>', Item(0x54FF02, S, [])),
]


@pytest.mark.parametrize(("xml", "item"), KNOWN_ANSWERS, ids=[x.split()[0].strip("<>/") for x, _ in KNOWN_ANSWERS])
def test_known_answer(xml: str, item: Item) -> None:
    assert xml_codec.decode(xml) == item
    assert xml_codec.encode(item) == xml
    assert xml_codec.decode(xml.encode()) == item


def test_structure_layout_matches_the_test_cases() -> None:
    item = structure(
        Tag.REQUEST_HEADER,
        structure(Tag.PROTOCOL_VERSION, Item(Tag.PROTOCOL_VERSION_MAJOR, I, 1), Item(Tag.PROTOCOL_VERSION_MINOR, I, 4)),
        Item(Tag.BATCH_COUNT, I, 1),
    )
    expected = (
        "<RequestHeader>\n"
        "  <ProtocolVersion>\n"
        '    <ProtocolVersionMajor type="Integer" value="1"/>\n'
        '    <ProtocolVersionMinor type="Integer" value="4"/>\n'
        "  </ProtocolVersion>\n"
        '  <BatchCount type="Integer" value="1"/>\n'
        "</RequestHeader>"
    )
    assert xml_codec.encode(item) == expected
    assert xml_codec.encode(item, indent=False) == expected.replace("\n", "").replace("  ", "")
    assert xml_codec.decode(expected) == item


@pytest.mark.parametrize(
    ("xml", "value"),
    [
        ('<ActivationDate type="DateTime" value="2000-02-01T00:00:00+10:00"/>', 949327200),
        ('<ActivationDate type="DateTime" value="2000-01-31T14:00:00Z"/>', 949327200),
        ('<ActivationDate type="DateTime" value="2000-01-31T04:00:00-10:00"/>', 949327200),
        ('<ActivationDate type="DateTime" value="2000-01-31T14:00:00.000+00:00"/>', 949327200),
        ('<CryptographicLength type="Integer" value="0xFFFFFFFF"/>', -1),
        ('<CryptographicLength type="Integer" value="+7"/>', 7),
        ('<UsageLimitsCount type="LongInteger" value="0x7FFFFFFFFFFFFFFF"/>', 2**63 - 1),
        ('<IVCounterNonce type="ByteString" value="ABCDEF"/>', b"\xab\xcd\xef"),
        ('<P type="BigInteger" value="80"/>', -128),
        ('<Sensitive type="Boolean" value="1"/>', True),
        ('<ObjectType type="Enumeration" value="symmetrickey"/>', 2),
        ('<ObjectType type="Enumeration" value="0x2"/>', 2),
    ],
)
def test_decode_accepts_other_spellings(xml: str, value: object) -> None:
    assert xml_codec.decode(xml).value == value


def test_datetime_extended_keeps_microseconds_across_offsets() -> None:
    item = xml_codec.decode('<ActivationDate type="DateTimeExtended" value="2000-02-01T00:00:00.5+10:00"/>')
    assert item.value == 949327200 * 10**6 + 500_000
    assert (
        xml_codec.encode(item) == '<ActivationDate type="DateTimeExtended" value="2000-01-31T14:00:00.500000+00:00"/>'
    )


def test_comments_and_whitespace_between_elements_are_ignored() -> None:
    xml = (
        "<!-- head -->\n<RequestPayload>\n\t<!-- step 1 -->\n\n"
        '  <Sensitive type="Boolean" value="true"/>\r\n</RequestPayload>\n'
    )
    assert xml_codec.decode(xml) == structure(Tag.REQUEST_PAYLOAD, Item(Tag.SENSITIVE, B, True))


def test_xml_declaration_and_bom_are_accepted() -> None:
    xml = '<?xml version="1.0" encoding="UTF-8"?><Sensitive type="Boolean" value="true"/>'
    assert xml_codec.decode(xml).value is True
    assert xml_codec.decode(b"\xef\xbb\xbf" + xml.encode()).value is True


def test_decode_document() -> None:
    request = structure(Tag.REQUEST_MESSAGE, structure(Tag.REQUEST_HEADER, Item(Tag.BATCH_COUNT, I, 1)))
    response = structure(Tag.RESPONSE_MESSAGE, structure(Tag.RESPONSE_HEADER, Item(Tag.BATCH_COUNT, I, 1)))
    text = xml_codec.encode_document([request, response])
    assert text.startswith("<KMIP>\n\n<RequestMessage>\n  <RequestHeader>")
    assert xml_codec.decode_document(text) == [request, response]
    assert xml_codec.decode_document("<KMIP/>") == []
    with pytest.raises(DecodeError):
        xml_codec.decode_document("<RequestMessage/>")
    with pytest.raises(DecodeError):
        xml_codec.decode("<KMIP/>")


# -- masks -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["Encrypt Decrypt", "Decrypt Encrypt", "12", "0x0000000C", "Encrypt|Decrypt", " Encrypt  8 ", "4 0x8"]
)
def test_mask_forms(value: str) -> None:
    xml = f'<CryptographicUsageMask type="Integer" value="{value}"/>'
    assert xml_codec.decode(xml) == Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, I, 12)


@pytest.mark.parametrize(
    ("tag", "value", "text"),
    [
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, 12, "Encrypt Decrypt"),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, 1, "Sign"),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, 0, "0"),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x40000000, "1073741824"),  # no bit name: a number
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, 0x40000004, "1073741828"),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, -(2**31), "-2147483648"),
        (Tag.STORAGE_STATUS_MASK, 3, "OnLineStorage ArchivalStorage"),
        (Tag.PROTECTION_STORAGE_MASK, 1, "Software"),
    ],
)
def test_mask_encoding(tag: int, value: int, text: str) -> None:
    item = Item(tag, I, value)
    xml = xml_codec.encode(item)
    assert f'value="{text}"' in xml
    assert xml_codec.decode(xml) == item


def test_mask_bit_31_is_a_negative_integer() -> None:
    assert xml_codec.decode('<CryptographicUsageMask type="Integer" value="0x80000000"/>').value == -(2**31)


# -- context-dependent enumerations ----------------------------------------------------------------------------


def _attribute(name: str, value: Item) -> Item:
    return structure(Tag.ATTRIBUTE, Item(Tag.ATTRIBUTE_NAME, T, name), value)


@pytest.mark.parametrize(
    ("name", "value_type", "token", "number"),
    [
        ("Cryptographic Algorithm", E, "AES", 3),
        ("State", E, "Active", 2),
        ("Object Type", E, "SymmetricKey", 2),
        ("Cryptographic Usage Mask", I, "Encrypt Decrypt", 12),
        ("Cryptographic Length", I, "256", 256),
    ],
)
def test_attribute_value_uses_the_attribute_name(name: str, value_type: ItemType, token: str, number: int) -> None:
    """KMIP 1.4 §2.1.1: the Attribute Value's enumeration / mask is that of the named attribute."""
    xml = (
        "<Attribute>"
        f'<AttributeName type="TextString" value="{name}"/>'
        f'<AttributeValue type="{xml_codec_type(value_type)}" value="{token}"/>'
        "</Attribute>"
    )
    item = _attribute(name, Item(Tag.ATTRIBUTE_VALUE, value_type, number))
    assert xml_codec.decode(xml) == item
    assert xml_codec.encode(item, indent=False) == xml


def xml_codec_type(item_type: ItemType) -> str:
    return {E: "Enumeration", I: "Integer"}[item_type]


def test_attribute_value_context_does_not_depend_on_order() -> None:
    xml = (
        '<Attribute><AttributeValue type="Enumeration" value="AES"/>'
        '<AttributeName type="TextString" value="Cryptographic Algorithm"/></Attribute>'
    )
    assert xml_codec.decode(xml).children()[0] == Item(Tag.ATTRIBUTE_VALUE, E, 3)


@pytest.mark.parametrize("name", ["x-ID", "y-custom", "Not A KMIP Attribute"])
def test_custom_attribute_values_have_no_enumeration(name: str) -> None:
    item = _attribute(name, Item(Tag.ATTRIBUTE_VALUE, E, 3))
    xml = xml_codec.encode(item)
    assert 'value="0x00000003"' in xml
    assert xml_codec.decode(xml) == item
    with pytest.raises(DecodeError):
        xml_codec.decode(xml.replace("0x00000003", "AES"))


def test_vendor_attribute_names_no_kmip_tag() -> None:
    """2.1 vendor attributes (Vendor Identification + Attribute Name + Attribute Value) are not KMIP attributes."""
    item = structure(
        Tag.ATTRIBUTE,
        Item(Tag.VENDOR_IDENTIFICATION, T, "example.com"),
        Item(Tag.ATTRIBUTE_NAME, T, "State"),
        Item(Tag.ATTRIBUTE_VALUE, E, 2),
    )
    assert 'value="0x00000002"' in xml_codec.encode(item)
    assert _roundtrip(item) == item


def test_nested_attribute_value_structure_uses_inner_tags() -> None:
    xml = (
        '<Attribute><AttributeName type="TextString" value="Name"/><AttributeValue>'
        '<NameValue type="TextString" value="k1"/><NameType type="Enumeration" value="UninterpretedTextString"/>'
        "</AttributeValue></Attribute>"
    )
    item = xml_codec.decode(xml)
    assert item.children()[1] == structure(
        Tag.ATTRIBUTE_VALUE, Item(Tag.NAME_VALUE, T, "k1"), Item(Tag.NAME_TYPE, E, 1)
    )
    assert xml_codec.encode(item, indent=False) == xml


@pytest.mark.parametrize(
    ("xml", "value"),
    [
        ('<AttributeReference type="Enumeration" value="State"/>', int(Tag.STATE)),
        ('<AttributeReference type="Enumeration" value="CryptographicAlgorithm"/>', int(Tag.CRYPTOGRAPHIC_ALGORITHM)),
        ('<ExtensionType type="Enumeration" value="TextString"/>', 7),
        ('<UniqueIdentifier type="Enumeration" value="IDPlaceholder"/>', 1),
        ('<LinkedObjectIdentifier type="Enumeration" value="IDPlaceholder"/>', 1),
        ('<PKCS_11Function type="Enumeration" value="C_Initialize"/>', 1),
        ('<PKCS_11Function type="Enumeration" value="C_GetInfo"/>', 3),
        ('<PKCS_11Function type="Enumeration" value="C_MessageVerifyFinal"/>', 92),
        ('<PKCS_11ReturnCode type="Enumeration" value="OK"/>', 0),
        ('<PKCS_11ReturnCode type="Enumeration" value="PIN_INCORRECT"/>', 0xA0),
    ],
)
def test_enumerations_named_by_the_registry(xml: str, value: int) -> None:
    item = xml_codec.decode(xml)
    assert item.value == value
    assert xml_codec.encode(item) == xml


def test_pkcs11_return_code_accepts_ckr_prefix() -> None:
    assert xml_codec.decode('<PKCS_11ReturnCode type="Enumeration" value="CKR_ARGUMENTS_BAD"/>').value == 7


def test_enumeration_spelling_follows_the_version() -> None:
    """SHA3-224 is spelled SHA-3-224 in KMIP 1.4 (XML SHA_3_224) and SHA3-224 in 2.x (XML SHA3_224)."""
    item = Item(Tag.HASHING_ALGORITHM, E, 14)
    assert 'value="SHA_3_224"' in xml_codec.encode(item, version=V1_4)
    assert 'value="SHA3_224"' in xml_codec.encode(item, version=V2_1)
    assert 'value="SHA3_224"' in xml_codec.encode(item)
    for token in ("SHA_3_224", "SHA3_224"):
        assert xml_codec.decode(f'<HashingAlgorithm type="Enumeration" value="{token}"/>') == item


def test_no_name_means_different_things_in_different_versions() -> None:
    """Why decode needs no version: every element name and enumeration token maps to one number."""
    names = [info.xml_name for info in registry.tags()]
    assert len(names) == len(set(names))
    for enum in registry.enumerations():
        seen: dict[str, int] = {}
        for value in enum.values:
            for token in (value.xml_name, *value.aliases):
                assert seen.setdefault(token, value.value) == value.value, (enum.name, token)


# -- placeholders ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "item"),
    [
        ('<TimeStamp type="DateTime" value="$NOW"/>', Item(Tag.TIME_STAMP, DT, Placeholder("$NOW"))),
        (
            '<ActivationDate type="DateTime" value="$NOW-3600"/>',
            Item(Tag.ACTIVATION_DATE, DT, Placeholder("$NOW-3600")),
        ),
        (
            '<ActivationDate type="DateTime" value="$NOW+3600"/>',
            Item(Tag.ACTIVATION_DATE, DT, Placeholder("$NOW+3600")),
        ),
        (
            '<IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/>',
            Item(Tag.IV_COUNTER_NONCE, BS, Placeholder("$IV_COUNTER_NONCE")),
        ),
        ('<ObjectType type="Enumeration" value="$TYPE"/>', Item(Tag.OBJECT_TYPE, E, Placeholder("$TYPE"))),
        (
            '<CryptographicUsageMask type="Integer" value="$MASK"/>',
            Item(Tag.CRYPTOGRAPHIC_USAGE_MASK, I, Placeholder("$MASK")),
        ),
        (
            '<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>',
            Item(Tag.UNIQUE_IDENTIFIER, T, "$UNIQUE_IDENTIFIER_0"),
        ),
    ],
)
def test_placeholders_are_kept(xml: str, item: Item) -> None:
    assert xml_codec.decode(xml) == item
    assert xml_codec.encode(item) == xml


def test_malformed_placeholder_is_refused() -> None:
    with pytest.raises(DecodeError):
        xml_codec.decode('<TimeStamp type="DateTime" value="$"/>')
    with pytest.raises(DecodeError):
        xml_codec.decode('<TimeStamp type="DateTime" value="$NOW - 1"/>')
    with pytest.raises(EncodeError):
        xml_codec.encode(Item(Tag.TIME_STAMP, DT, Placeholder("NOW")))


# -- errors ----------------------------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    '<NameValue type="TextString" value="&lol2;"/>'
)
XXE = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><NameValue type="TextString" value="&e;"/>'

MALFORMED = {
    "empty": "",
    "not xml": "hello",
    "unclosed": "<RequestPayload>",
    "two roots": "<RequestPayload/><RequestPayload/>",
    "unknown element": '<NoSuchTag type="Integer" value="1"/>',
    "unknown type": '<CryptographicLength type="Float" value="1"/>',
    "missing value": '<CryptographicLength type="Integer"/>',
    "value on structure": '<RequestPayload value="1"/>',
    "structure type with value": '<RequestPayload type="Structure" value="1"/>',
    "children in a primitive": '<CryptographicLength type="Integer" value="1"><BatchCount type="Integer" value="1"/>'
    "</CryptographicLength>",
    "unexpected attribute": '<CryptographicLength type="Integer" value="1" extra="x"/>',
    "tag attribute on named element": '<CryptographicLength tag="0x42002A" type="Integer" value="1"/>',
    "TTLV without tag": '<TTLV type="Integer" value="1"/>',
    "TTLV bad tag": '<TTLV tag="0x5400001" type="Integer" value="1"/>',
    "text content": "<RequestPayload>text</RequestPayload>",
    "text in primitive": '<CryptographicLength type="Integer" value="1">1</CryptographicLength>',
    "integer not a number": '<CryptographicLength type="Integer" value="one"/>',
    "integer empty": '<CryptographicLength type="Integer" value=""/>',
    "integer with space": '<CryptographicLength type="Integer" value=" 1"/>',
    "integer non-ASCII digits": '<CryptographicLength type="Integer" value="١٢"/>',
    "integer underscore": '<CryptographicLength type="Integer" value="1_000"/>',
    "integer overflow": '<CryptographicLength type="Integer" value="2147483648"/>',
    "integer hex too long": '<CryptographicLength type="Integer" value="0x100000000"/>',
    "long overflow": '<UsageLimitsCount type="LongInteger" value="9223372036854775808"/>',
    "interval negative": '<LeaseTime type="Interval" value="-1"/>',
    "interval overflow": '<LeaseTime type="Interval" value="4294967296"/>',
    "boolean": '<Sensitive type="Boolean" value="yes"/>',
    "hex odd": '<IVCounterNonce type="ByteString" value="abc"/>',
    "hex with 0x": '<IVCounterNonce type="ByteString" value="0xab"/>',
    "hex with space": '<IVCounterNonce type="ByteString" value="ab cd"/>',
    "big integer not hex": '<P type="BigInteger" value="zz"/>',
    "enumeration unknown token": '<ObjectType type="Enumeration" value="NoSuchType"/>',
    "enumeration decimal": '<ObjectType type="Enumeration" value="2"/>',
    "enumeration too wide": '<ObjectType type="Enumeration" value="0x100000000"/>',
    "enumeration without names": '<TTLV tag="0x54FF01" type="Enumeration" value="AES"/>',
    "mask unknown bit": '<CryptographicUsageMask type="Integer" value="Encrypt Fly"/>',
    "mask empty": '<CryptographicUsageMask type="Integer" value=" "/>',
    "mask bit too wide": '<CryptographicUsageMask type="Integer" value="Encrypt 0x100000000"/>',
    "date no offset": '<ActivationDate type="DateTime" value="2000-01-01T00:00:00"/>',
    "date only": '<ActivationDate type="DateTime" value="2000-01-01"/>',
    "date invalid": '<ActivationDate type="DateTime" value="2000-13-01T00:00:00+00:00"/>',
    "date bad offset": '<ActivationDate type="DateTime" value="2000-01-01T00:00:00+25:00"/>',
    "date fraction": '<ActivationDate type="DateTime" value="2000-01-01T00:00:00.5+00:00"/>',
    "date basic format": '<ActivationDate type="DateTime" value="20000101T000000Z"/>',
    "doctype": '<!DOCTYPE NameValue><NameValue type="TextString" value="x"/>',
    "billion laughs": BILLION_LAUGHS,
    "external entity": XXE,
    "undefined entity": '<NameValue type="TextString" value="&foo;"/>',
    "NUL character reference": '<NameValue type="TextString" value="&#0;"/>',
    "lone surrogate": '<NameValue type="TextString" value="\ud800"/>',
    "namespace prefix": '<k:RequestPayload xmlns:k="urn:x"/>',
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_raises_decode_error(text: str) -> None:
    with pytest.raises(DecodeError):
        xml_codec.decode(text)


@pytest.mark.parametrize("data", [b"\xff\xfe<\x00a\x00/\x00>\x00", b'<NameValue type="TextString" value="\xe9"/>'])
def test_non_utf8_bytes_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        xml_codec.decode(data)


def test_markup_in_text_is_escaped_not_refused() -> None:
    # The DTD refusal looks at the raw text; escaped markup inside a value is data and passes.
    item = Item(Tag.NAME_VALUE, T, '<!DOCTYPE x [<!ENTITY e "v">]>')
    assert _roundtrip(item) == item


def test_wrong_input_type_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        xml_codec.decode(42)  # type: ignore[arg-type]


def _nested(depth: int) -> str:
    return "<RequestPayload>" * depth + "</RequestPayload>" * depth


def test_limits() -> None:
    assert xml_codec.decode(_nested(4), DecodeLimits(max_depth=4))
    with pytest.raises(DecodeError, match="deeper"):
        xml_codec.decode(_nested(5), DecodeLimits(max_depth=4))
    with pytest.raises(DecodeError, match="deeper"):
        xml_codec.decode(_nested(100_000))
    many = "<RequestPayload>" + '<BatchCount type="Integer" value="1"/>' * 10 + "</RequestPayload>"
    assert xml_codec.decode(many, DecodeLimits(max_items=11))
    with pytest.raises(DecodeError, match="items"):
        xml_codec.decode(many, DecodeLimits(max_items=10))
    with pytest.raises(DecodeError, match="exceeds"):
        xml_codec.decode(many, DecodeLimits(max_message_size=len(many) - 1))
    with pytest.raises(DecodeError, match="exceeds"):
        xml_codec.decode(many.encode(), DecodeLimits(max_message_size=len(many) - 1))
    with pytest.raises(DecodeError, match="longer"):
        xml_codec.decode('<IVCounterNonce type="ByteString" value="0011"/>', DecodeLimits(max_value_size=1))
    with pytest.raises(DecodeError, match="longer"):
        xml_codec.decode('<NameValue type="TextString" value="ab"/>', DecodeLimits(max_value_size=1))
    document = "<KMIP>" + _nested(4) + "</KMIP>"
    assert xml_codec.decode_document(document, DecodeLimits(max_depth=4))
    with pytest.raises(DecodeError):
        xml_codec.decode_document(document, DecodeLimits(max_depth=3))


@pytest.mark.parametrize(
    "item",
    [
        Item(Tag.NAME_VALUE, T, "a\x00b"),
        Item(Tag.NAME_VALUE, T, "\x1b"),
        Item(Tag.NAME_VALUE, T, "\ud800"),
        Item(Tag.NAME_VALUE, T, "\ufffe"),
        Item(Tag.NAME_VALUE, T, b"bytes"),
        Item(Tag.IV_COUNTER_NONCE, BS, "text"),
        Item(Tag.SENSITIVE, B, 1),
        Item(Tag.CRYPTOGRAPHIC_LENGTH, I, True),
        Item(Tag.CRYPTOGRAPHIC_LENGTH, I, 2**31),
        Item(Tag.USAGE_LIMITS_COUNT, L, 2**63),
        Item(Tag.LEASE_TIME, IV, -1),
        Item(Tag.OBJECT_TYPE, E, 2**32),
        Item(Tag.ACTIVATION_DATE, DT, 253402300800),  # year 10000
        Item(Tag.ACTIVATION_DATE, DT, -62135596801),  # year 0
        Item(Tag.ACTIVATION_DATE, DTE, 2**63),
        Item(Tag.REQUEST_PAYLOAD, S, "not a list"),
        Item(Tag.REQUEST_PAYLOAD, S, ["not an item"]),  # type: ignore[list-item]
        Item(0x1000000, I, 1),
        Item(-1, I, 1),
        Item(Tag.CRYPTOGRAPHIC_LENGTH, 99, 1),
    ],
)
def test_unencodable_items_raise_encode_error(item: Item) -> None:
    with pytest.raises(EncodeError):
        xml_codec.encode(item)


# -- properties ------------------------------------------------------------------------------------------------


def _xml_safe(item: Item) -> bool:
    """XML 1.0 cannot carry some characters (NUL, most C0 controls, lone surrogates, U+FFFE/U+FFFF)."""
    return not any(isinstance(node.value, str) and _NOT_XML_CHAR.search(node.value) is not None for node in item.walk())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_round_trip(tree: Item) -> None:
    assume(_xml_safe(tree))
    assert _roundtrip(tree) == tree
    assert _roundtrip(tree, version=V1_4, indent=False) == tree
    assert xml_codec.decode_document(xml_codec.encode_document([tree, tree])) == [tree, tree]


@given(trees(), st.text(max_size=5), st.sampled_from(["\x00", "\x01", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]))
def test_text_xml_cannot_carry_raises_encode_error(tree: Item, text: str, bad: str) -> None:
    """Documented limitation: such Text Strings raise EncodeError rather than producing unreadable XML."""
    poisoned = Item(tree.tag, tree.type, [*tree.children(), Item(Tag.NAME_VALUE, T, text + bad)])
    with pytest.raises(EncodeError, match="cannot carry"):
        xml_codec.encode(poisoned)


@given(st.text().filter(lambda text: _NOT_XML_CHAR.search(text) is None))
def test_any_xml_text_survives(text: str) -> None:
    item = Item(Tag.NAME_VALUE, T, text)
    assert _roundtrip(item) == item


_SAMPLE = xml_codec.encode(
    structure(
        Tag.REQUEST_MESSAGE,
        structure(Tag.REQUEST_HEADER, Item(Tag.BATCH_COUNT, I, 1), Item(Tag.TIME_STAMP, DT, 949327200)),
        structure(
            Tag.BATCH_ITEM,
            Item(Tag.OPERATION, E, 1),
            structure(
                Tag.REQUEST_PAYLOAD,
                Item(Tag.OBJECT_TYPE, E, 2),
                _attribute("Cryptographic Usage Mask", Item(Tag.ATTRIBUTE_VALUE, I, 12)),
                Item(Tag.IV_COUNTER_NONCE, BS, b"\x01\x02"),
                Item(Tag.P, BIG, 2**70),
                Item(Tag.NAME_VALUE, T, "k<&>"),
            ),
        ),
    )
).encode()


def _decode_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        xml_codec.decode(data)


@settings(max_examples=400)
@given(st.data())
def test_fuzz_mutated_xml(data: st.DataObject) -> None:
    """Mutated valid XML either decodes or raises DecodeError, never anything else."""
    buf = bytearray(_SAMPLE)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(buf) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from([*b'<>/="$0x-Fz \n&;#!', data.draw(st.integers(0, 255))]))
        if action == "replace":
            buf[position] = byte
        elif action == "delete":
            del buf[position]
        else:
            buf.insert(position, byte)
    _decode_or_decode_error(bytes(buf))


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_random_input(data: bytes) -> None:
    _decode_or_decode_error(data)


def test_public_api() -> None:
    assert sorted(xml_codec.__all__) == ["decode", "decode_document", "encode", "encode_document"]
