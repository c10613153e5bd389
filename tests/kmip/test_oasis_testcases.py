"""Every OASIS KMIP 1.4 / 2.1 mandatory XML test case through the codecs (KMIP Profiles 1.4 and 2.1 test cases).

Parametrized by file name over ``tests/vectors.py``: each file decodes, each message survives XML -> tree -> XML,
and, with placeholders made concrete, XML -> tree -> binary -> tree -> JSON -> tree -> XML -> tree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kms_backend.kmip import binary_codec, json_codec, xml_codec
from kms_backend.kmip.ttlv import Item, Placeholder, Tag
from tests import vectors

_PATHS = vectors.testcase_paths()
_FILES = [pytest.param(path, id=path.name) for path in _PATHS]


def _load(path: Path) -> vectors.OasisTestCase:
    if path.name in vectors.SKIPPED:
        pytest.skip(vectors.SKIPPED[path.name])
    return vectors.load_testcase(path)


def _messages(case: vectors.OasisTestCase) -> list[Item]:
    return [message for pair in case.messages for message in pair]


def test_all_mandatory_files_are_found() -> None:
    # README.md of the test cases: 68 files for 1.4 and 86 for 2.1.
    by_version = {folder: sum(1 for p in _PATHS if p.parent.parent.name == folder) for folder in ("v1.4", "v2.1")}
    assert by_version == {"v1.4": 68, "v2.1": 86}


@pytest.mark.parametrize("path", _FILES)
def test_file_decodes(path: Path) -> None:
    case = _load(path)
    assert case.messages
    for request, response in case.messages:
        assert request.tag == Tag.REQUEST_MESSAGE
        assert response.tag == Tag.RESPONSE_MESSAGE
        assert vectors.message_version(request) == case.version


@pytest.mark.parametrize("path", _FILES)
def test_xml_round_trip(path: Path) -> None:
    case = _load(path)
    for message in _messages(case):
        assert xml_codec.decode(xml_codec.encode(message, version=case.version)) == message
        assert xml_codec.decode(xml_codec.encode(message, indent=False)) == message


@pytest.mark.parametrize("path", _FILES)
def test_codec_chain(path: Path) -> None:
    """XML -> tree -> binary -> tree -> JSON -> tree -> XML -> tree leaves each message unchanged."""
    case = _load(path)
    for message in _messages(case):
        tree = vectors.resolve_placeholders(message)
        assert not any(isinstance(item.value, Placeholder) for item in tree.walk())
        from_binary = binary_codec.decode(binary_codec.encode(tree))
        assert from_binary == tree, "binary"
        from_json = json_codec.decode(json_codec.encode(from_binary))
        assert from_json == tree, "JSON"
        assert xml_codec.decode(xml_codec.encode(from_json, version=case.version)) == tree, "XML"


def test_resolve_placeholders_is_deterministic() -> None:
    now = Item(Tag.TIME_STAMP, 9, Placeholder("$NOW"))
    earlier = Item(Tag.ACTIVATION_DATE, 9, Placeholder("$NOW-3600"))
    later = Item(Tag.ACTIVATION_DATE, 9, Placeholder("$NOW+3600"))
    nonce = Item(Tag.IV_COUNTER_NONCE, 8, Placeholder("$IV_COUNTER_NONCE"))
    text = Item(Tag.UNIQUE_IDENTIFIER, 7, "$UNIQUE_IDENTIFIER_0")
    tree = Item(Tag.RESPONSE_PAYLOAD, 1, [now, earlier, later, nonce, text])
    resolved = vectors.resolve_placeholders(tree)
    assert [child.value for child in resolved.children()[:3]] == [
        vectors.FIXED_NOW,
        vectors.FIXED_NOW - 3600,
        vectors.FIXED_NOW + 3600,
    ]
    nonce_value = resolved.children()[3].value
    assert isinstance(nonce_value, bytes)
    assert len(nonce_value) == 16
    assert resolved.children()[4] == text
    assert vectors.resolve_placeholders(tree) == resolved
