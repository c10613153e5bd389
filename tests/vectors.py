"""The one loader for the OASIS KMIP XML test cases (KMIP Profiles 1.4 and 2.1, mandatory test cases).

The files are public OASIS data kept in the repository, in ``tests/oasis-testcases`` (``v1.4/mandatory/*.xml``,
``v2.1/mandatory/*.xml``, their notice in its README), or wherever ``KEYSTEAD_KMIP_TESTCASES`` points. Each file
is a ``<KMIP>`` document that alternates Request and Response Messages: a request, then the response the server
is expected to send. See ``tests/oasis-testcases/README.md`` for the format and the placeholders (``$NOW``,
``$UNIQUE_IDENTIFIER_0``...).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from kms_backend.kmip import xml_codec
from kms_backend.kmip.registry import V1_4, V2_1, ProtocolVersion
from kms_backend.kmip.ttlv import Item, ItemType, Placeholder, Tag

TESTCASES_ENV = "KEYSTEAD_KMIP_TESTCASES"
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The version each folder holds; file names end in the same digits (``SKLC-M-1-14.xml``).
VERSION_FOLDERS: dict[str, ProtocolVersion] = {"v1.4": V1_4, "v2.1": V2_1}
_SUFFIX_VERSIONS: dict[str, ProtocolVersion] = {"14": V1_4, "21": V2_1}

#: Files that the loader cannot use, by file name, with the reason. Every one of the 154 mandatory files loads.
SKIPPED: dict[str, str] = {}

#: The instant ``$NOW`` stands for once placeholders are resolved: 2021-01-01T00:00:00Z (fixed, so runs agree).
FIXED_NOW = 1_609_459_200
_NOW_OFFSET = re.compile(r"\$NOW([+-][0-9]+)?")


class OasisTestCase(NamedTuple):
    """One test-case file: its name, protocol version and (request, expected response) pairs in order."""

    name: str
    version: ProtocolVersion
    messages: list[tuple[Item, Item]]


#: Where the repository keeps the test cases.
TESTCASES_DIR = REPO_ROOT / "tests" / "oasis-testcases"


def testcases_dir() -> Path:
    """The test-case folder: ``KEYSTEAD_KMIP_TESTCASES`` if set, else ``tests/oasis-testcases``.

    A missing folder is an error, not an empty list: the cases ship with the repository, so their absence means a
    broken checkout or a wrong variable, which must fail the tests rather than skip them."""
    configured = os.environ.get(TESTCASES_ENV)
    path = Path(configured) if configured else TESTCASES_DIR
    if not path.is_dir():
        raise FileNotFoundError(f"OASIS test cases not found in {path} (set {TESTCASES_ENV} to another folder)")
    return path


def testcase_paths() -> list[Path]:
    """Every mandatory test-case file, sorted by folder then name."""
    root = testcases_dir()
    paths = sorted(path for folder in VERSION_FOLDERS for path in (root / folder / "mandatory").glob("*.xml"))
    if not paths:
        raise FileNotFoundError(f"no OASIS test case under {root}/v1.4/mandatory or {root}/v2.1/mandatory")
    return paths


def file_version(path: Path) -> ProtocolVersion:
    """The protocol version a file's name declares (``-14.xml`` -> 1.4, ``-21.xml`` -> 2.1)."""
    suffix = path.stem.rsplit("-", 1)[-1]
    if suffix not in _SUFFIX_VERSIONS:
        raise ValueError(f"{path.name}: the name does not end in -14 or -21")
    return _SUFFIX_VERSIONS[suffix]


def message_version(message: Item) -> ProtocolVersion | None:
    """The Protocol Version in a message's Request/Response Header, if it has one."""
    header = message.find(Tag.REQUEST_HEADER) or message.find(Tag.RESPONSE_HEADER)
    version = header.find(Tag.PROTOCOL_VERSION) if header is not None else None
    if version is None:
        return None
    major = version.find(Tag.PROTOCOL_VERSION_MAJOR)
    minor = version.find(Tag.PROTOCOL_VERSION_MINOR)
    if major is None or minor is None or not isinstance(major.value, int) or not isinstance(minor.value, int):
        return None
    return major.value, minor.value


def load_testcase(path: Path) -> OasisTestCase:
    """Decode one file with the XML codec and pair each request with the response that follows it.

    ValueError if the file does not alternate Request and Response Messages or if the version in the file name
    differs from the first request's Protocol Version.
    """
    version = file_version(path)
    items = xml_codec.decode_document(path.read_bytes(), version=version)
    if not items or len(items) % 2:
        raise ValueError(f"{path.name}: expected request/response pairs, got {len(items)} messages")
    pairs: list[tuple[Item, Item]] = []
    for request, response in zip(items[::2], items[1::2], strict=True):
        if request.tag != Tag.REQUEST_MESSAGE or response.tag != Tag.RESPONSE_MESSAGE:
            raise ValueError(f"{path.name}: messages do not alternate RequestMessage / ResponseMessage")
        pairs.append((request, response))
    declared = message_version(pairs[0][0])
    if declared != version:
        raise ValueError(f"{path.name}: the file name says {version}, the first request says {declared}")
    return OasisTestCase(path.name, version, pairs)


def iter_testcases() -> Iterator[OasisTestCase]:
    """Every loadable test case (files in ``SKIPPED`` are left out)."""
    for path in testcase_paths():
        if path.name not in SKIPPED:
            yield load_testcase(path)


def resolve_placeholders(item: Item, now: int = FIXED_NOW) -> Item:
    """Replace every ``Placeholder`` by a concrete, deterministic value of the item's type.

    ``$NOW`` becomes ``now`` and ``$NOW+N`` / ``$NOW-N`` that many seconds later / earlier (Date Time; times
    10**6 for Date Time Extended); any other placeholder becomes a value derived from its name, so the same name
    always gives the same value (Byte Strings: 16 bytes). Text String placeholders are plain text and stay.
    """
    if item.type == ItemType.STRUCTURE and isinstance(item.value, list):
        return Item(item.tag, item.type, [resolve_placeholders(child, now) for child in item.value])
    if not isinstance(item.value, Placeholder):
        return item
    return Item(item.tag, item.type, _placeholder_value(item.type, item.value.name, now))


def _placeholder_value(item_type: int, name: str, now: int) -> int | bool | bytes | str:
    digest = hashlib.sha256(name.encode()).digest()
    number = int.from_bytes(digest[:4], "big")
    match = _NOW_OFFSET.fullmatch(name)
    seconds = now + int(match.group(1) or 0) if match else now + number % 86_400
    if item_type == ItemType.DATE_TIME:
        return seconds
    if item_type == ItemType.DATE_TIME_EXTENDED:
        return seconds * 10**6
    if item_type == ItemType.BYTE_STRING:
        return digest[:16]
    if item_type == ItemType.BOOLEAN:
        return True
    if item_type == ItemType.TEXT_STRING:
        return name
    if item_type in (ItemType.INTEGER, ItemType.LONG_INTEGER):
        return number & 0x7FFFFFFF
    # Enumeration, Interval, Big Integer: a non-negative 32-bit number.
    return number
