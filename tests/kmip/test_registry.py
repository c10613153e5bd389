"""The generated registry answers per-version lookups by number and by every spelling of a name."""

from __future__ import annotations

import pytest

from kms_backend.kmip import registry
from kms_backend.kmip._registry_data import CryptographicAlgorithm, HashingAlgorithm, ItemType, KeyFormatType, Tag
from kms_backend.kmip.registry import V1_0, V1_4, V2_0, V2_1


@pytest.mark.parametrize(
    ("version", "count"),
    [(V1_0, 161), ((1, 1), 183), ((1, 2), 211), ((1, 3), 247), (V1_4, 292), (V2_0, 338), (V2_1, 355)],
)
def test_tag_counts_per_version_match_the_spec_tag_tables(version: registry.ProtocolVersion, count: int) -> None:
    standard = [t for t in registry.tags(version) if not t.extension]
    assert len(standard) == count


@pytest.mark.parametrize("name", ["IV/Counter/Nonce", "IVCounterNonce", "ivcounternonce", "IV_COUNTER_NONCE"])
def test_tags_are_found_by_any_spelling(name: str) -> None:
    info = registry.tag_by_name(name)
    assert info is not None
    assert info.value == Tag.IV_COUNTER_NONCE == 0x42003D


def test_version_ranges() -> None:
    attribute_reference = registry.tag_info(Tag.ATTRIBUTE_REFERENCE)
    assert attribute_reference is not None
    assert not attribute_reference.defined_in(V1_4)
    assert attribute_reference.defined_in(V2_0)
    assert registry.tag_by_name("Attribute Reference", V1_4) is None
    uid = registry.tag_info(Tag.UNIQUE_IDENTIFIER)
    assert uid is not None
    assert uid.types_for(V1_4) == (ItemType.TEXT_STRING,)
    assert ItemType.ENUMERATION in uid.types_for(V2_1)


def test_enumeration_lookups_by_value_and_token() -> None:
    algorithms = registry.enumeration("Cryptographic Algorithm")
    assert algorithms.value_of("AES") == CryptographicAlgorithm.AES
    assert algorithms.value_of("aes") == CryptographicAlgorithm.AES
    assert algorithms.xml_name_of(CryptographicAlgorithm.DES3) == "DES3"
    hashing = registry.enumeration("Hashing Algorithm")
    # 1.4 spelled SHA-3 names with an extra separator; both spellings resolve.
    assert hashing.value_of("SHA_3_256") == hashing.value_of("SHA3_256") == HashingAlgorithm.SHA3_256
    assert registry.enum_for_tag(Tag.MASK_GENERATOR_HASHING_ALGORITHM) is hashing
    assert registry.enum_for_tag(Tag.ATTRIBUTE_REFERENCE) is registry.enumeration("Tag")


def test_masks() -> None:
    usage = registry.mask_for_tag(Tag.CRYPTOGRAPHIC_USAGE_MASK)
    assert usage is not None
    assert usage.tokens_of(0x0C) == ["Encrypt", "Decrypt"]
    assert usage.value_of("Encrypt") == 4
    assert usage.tokens_of(1 << 30) is None


def test_cosmian_extensions_are_registered_and_marked() -> None:
    formats = registry.enumeration("Key Format Type")
    cover_crypt = formats.by_value[0x8880000C]
    assert cover_crypt.extension
    assert not formats.by_value[KeyFormatType.RAW].extension
    vendor_tag = registry.tag_info(0x540001)
    assert vendor_tag is not None
    assert vendor_tag.extension
    assert all(t.value >= 0x540000 for t in registry.tags() if t.extension)


def test_parse_version() -> None:
    assert registry.parse_version("1.4") == V1_4
    with pytest.raises(ValueError, match="not a KMIP protocol version"):
        registry.parse_version("two")
