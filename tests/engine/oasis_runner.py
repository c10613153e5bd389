"""Replays the OASIS KMIP 1.4 / 2.1 mandatory test cases against the engine and compares every response.

Each file runs against a fresh ``Engine`` over ``MemoryStore`` whose clock reads ``vectors.FIXED_NOW``, as the
test cases' one client (``admin``, a server administrator). For each (request, expected response) pair:

1. the request's placeholders are substituted: ``$NOW`` / ``$NOW±N`` become the pinned clock ± N; every other
   name (``$UNIQUE_IDENTIFIER_n``, ``$IV_COUNTER_NONCE``, ``$DATA_n``, ``$MAC_DATA``...) becomes the value the
   server returned earlier at the position where an expected response held that name;
2. ``Engine.process_tree`` runs it;
3. the actual response is compared with the expected one structurally (``compare``): a placeholder in the
   expected response matches any value of the item's type and binds the name to it (distinct
   ``$UNIQUE_IDENTIFIER_n`` must be distinct uids); everything else must be equal, Result Status and Result
   Reason included, except for the tolerances below.

A file passes when every pair matches. Tolerances: each is a latitude the KMIP specifications give servers or a
property of how the files were recorded; keep this list short.

T1  ``$NOW±N`` in an expected response matches a Date Time within ``NOW_TOLERANCE`` of the pinned clock ± N: the
    files were recorded against a running clock. With the pinned clock every date is exact today (the results
    are the same with a tolerance of 0); the slack keeps the runner usable with a ticking clock.
T2  The Result Message is free text (KMIP 2.1 §11.3) and is not compared.
T3  Client / Server Correlation Value in the Response Header are not compared: they serve logging and tracing
    (KMIP 2.1 §7.1) and the Server Correlation Value is a server-chosen string.
T4  Attribute order carries no meaning: the items of an ``Attributes`` structure (2.1) and the ``Attribute``
    items of a 1.x Get Attributes response are compared as multisets.
T5  Which optional and vendor attributes a server keeps is its choice (KMIP 2.1 §4): when the request asked
    for every attribute (Get Attributes without Attribute Reference / Attribute Name) and for Get Attribute
    List, the server may return more than the recording server; every expected one must still be there.
T6  A Query response describes the server (KMIP 2.1 §6.1.37): Operations and Object Types are compared as sets
    and the server may list more; Vendor Identification and Server Information are checked for presence only.
    The server-to-client operations (Notify, Put: KMIP 2.1 §6.2, 1.4 §5) in an expected Operations list say
    which messages the recording server pushes to its clients, not which requests it serves: a server that
    pushes nothing lists neither, so they are not expected.
    Likewise the Random Number Generator attribute describes the server's RNG: presence only.
T7  Located Items is optional in a Locate response (KMIP 2.1 §6.1.27, "the server MAY ... omit"): not compared
    when the expected response omits it.
T8  Outputs that depend on server randomness cannot equal the recorded example, so they are checked for type
    and length only: Random Number Generation output (RNG Retrieve); Encrypt with an IV the server generated
    (Data, IV/Counter/Nonce); Encrypt under a public key (RSA padding is randomized); and key material and
    everything computed from a key the server generated (Create, Create Key Pair, Re-key...: Key Material,
    Digest Value, Data, MAC Data, Signature Data, Authenticated Encryption Tag), except the outputs of Decrypt
    and the Verify operations, which must still be exact. A recorded literal that was replaced this way
    stands for the actual value wherever a later request repeats it (``Captures.aliases``), as a placeholder
    would; and a placeholder no response showed (``$DATA_0`` after a literal example) takes the last value
    the server returned for the same tag (``Captures.latest``).
T9  PKCS#11 C_GetInfo output parameters (KMIP 2.1 §6.1.37) are the server's CK_INFO: its PKCS#11 library's
    manufacturer, description and versions, which describe the server as Server Information does (T6): checked
    for presence and type only (tests/provider/test_kmip_pkcs11.py checks ours byte for byte).

Not a tolerance, a property of the test cases: every file starts on an empty store, except the files that use
the objects the previous file of their series left behind (the KMIP 1.4 / 2.1 Profiles describe SASED-M-3 and
TL-M-3 as run after SASED-M-2 and TL-M-2, whose keys they Locate); those start on the store the previous file
left (``PRECEDED_BY``), whose own pairs are replayed but not counted.

``python -m tests.engine.oasis_runner [-v] [NAME...]`` prints pass counts per version and per group and the first
mismatch of every failing file; ``--known-failures`` prints the table ``test_oasis_conformance`` keeps.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import pretty
from kms_backend.kmip._registry_data import ObjectType, Operation, PKCS11Function
from kms_backend.kmip.registry import ProtocolVersion, tag_info
from kms_backend.kmip.ttlv import Item, ItemType, Placeholder, Tag
from kms_backend.store.memory import MemoryStore
from provider.kmip_pkcs11 import ProviderFunctions
from tests import vectors

#: The one client of every test case; a server administrator, so ownership never gets in the way.
USER = "admin"
#: T1: how far a ``$NOW`` in an expected response may be from the pinned clock.
NOW_TOLERANCE = 60

Leaf = int | bool | str | bytes

_PLACEHOLDER_TEXT = re.compile(r"\$[A-Z][A-Z0-9_]*(?:[+-][0-9]+)?")
_NOW = re.compile(r"\$NOW([+-][0-9]+)?")
#: Prefix of the placeholders ``_presence_only`` makes: they match any value and bind nothing.
_ANY = "$ANY_"
_TIME_TYPES = frozenset({ItemType.DATE_TIME, ItemType.DATE_TIME_EXTENDED})
#: T2, T3: items not compared, by parent.
_IGNORED: dict[int, frozenset[int]] = {
    Tag.RESPONSE_HEADER: frozenset({Tag.CLIENT_CORRELATION_VALUE, Tag.SERVER_CORRELATION_VALUE}),
    Tag.BATCH_ITEM: frozenset({Tag.RESULT_MESSAGE}),
}
#: T6: operations only a server sends (KMIP 2.1 §6.2), not expected in a Query Operations answer.
_SERVER_TO_CLIENT = frozenset({Operation.NOTIFY, Operation.PUT})
#: T6: items that describe the server, checked for presence only.
_SERVER_DESCRIPTIONS = frozenset({Tag.RANDOM_NUMBER_GENERATOR, Tag.SERVER_INFORMATION})
#: T8: operations whose responses carry the uids of keys the server generated.
_GENERATING = frozenset({Operation.CREATE, Operation.CREATE_KEY_PAIR, Operation.RE_KEY, Operation.RE_KEY_KEY_PAIR})
_UID_TAGS = frozenset({Tag.UNIQUE_IDENTIFIER, Tag.PRIVATE_KEY_UNIQUE_IDENTIFIER, Tag.PUBLIC_KEY_UNIQUE_IDENTIFIER})
#: T8: what is computed from a server-generated key.
_FROM_GENERATED_KEY = frozenset(
    {
        Tag.KEY_MATERIAL,
        Tag.KEY_VALUE,
        Tag.DIGEST_VALUE,
        Tag.DATA,
        Tag.MAC_DATA,
        Tag.SIGNATURE_DATA,
        Tag.AUTHENTICATED_ENCRYPTION_TAG,
    }
)
#: T8: operations whose outputs stay exact even under a generated key.
_CHECKED_EXACTLY = frozenset({Operation.DECRYPT, Operation.SIGNATURE_VERIFY, Operation.MAC_VERIFY})


def group_of(name: str) -> str:
    """The test group of a file: ``CS-BC-M-GCM-1-21.xml`` -> ``CS-BC``, ``MSGENC-JSON-M-1-14.xml`` -> ``MSGENC``."""
    prefix = name.split("-M-", 1)[0]
    for family in ("MSGENC", "SUITEB"):
        if prefix.startswith(family):
            return family
    return prefix


def _label(tag: int) -> str:
    info = tag_info(tag)
    return info.xml_name if info else f"0x{tag:06X}"


def _show(item: Item | None) -> str:
    """One line for a report: a leaf's value, a structure's tag, ``<absent>`` for None."""
    if item is None:
        return "<absent>"
    if isinstance(item.value, list):
        return _label(item.tag)
    text = pretty.format_tree(item).split(": ", 1)[1]
    return text if len(text) <= 80 else text[:60] + "..." + text[text.rfind(" (") :]


def _placeholder_name(item: Item) -> str | None:
    """The placeholder an item holds (a ``Placeholder`` value, or a Text String written ``$NAME``), or None."""
    if isinstance(item.value, Placeholder):
        return item.value.name
    if item.type == ItemType.TEXT_STRING and isinstance(item.value, str) and _PLACEHOLDER_TEXT.fullmatch(item.value):
        return item.value
    return None


@dataclass
class Mismatch:
    """The first difference between an expected and an actual response."""

    step: int
    path: str
    expected: str
    actual: str
    #: Result Status / Reason / Message of the actual batch item the difference lies in, when it did not succeed.
    result: str = ""

    def one_line(self) -> str:
        text = f"step {self.step}: {self.path}: expected {self.expected}, got {self.actual}"
        return f"{text} [{self.result}]" if self.result else text


@dataclass
class Captures:
    """What earlier responses taught the runner about this file's objects and values."""

    #: Placeholder name -> the value the server returned where the expected response held that name.
    bound: dict[str, Leaf] = field(default_factory=dict)
    #: (tag, type) -> the last value the server returned for such an item (T8 fallback).
    latest: dict[tuple[int, int], Leaf] = field(default_factory=dict)
    #: (tag, recorded literal) -> the value the server returned instead (T8).
    aliases: dict[tuple[int, Leaf], Leaf] = field(default_factory=dict)
    #: uids of keys the server generated, and of public keys (T8).
    generated: set[str] = field(default_factory=set)
    public_keys: set[str] = field(default_factory=set)
    #: Every Byte String the server returned (T8: was a ciphertext produced in this run?).
    returned: set[bytes] = field(default_factory=set)

    def copy(self) -> Captures:
        return Captures(
            dict(self.bound),
            dict(self.latest),
            dict(self.aliases),
            set(self.generated),
            set(self.public_keys),
            set(self.returned),
        )

    def update(self, other: Captures) -> None:
        self.bound.update(other.bound)
        self.latest.update(other.latest)
        self.aliases.update(other.aliases)
        self.returned.update(other.returned)

    def saw(self, item: Item) -> None:
        """Remember a leaf the server returned."""
        if isinstance(item.value, bytes):
            self.returned.add(item.value)
        if not isinstance(item.value, list | Placeholder):
            self.latest[(item.tag, item.type)] = item.value


@dataclass
class FileResult:
    """How one test-case file went."""

    name: str
    version: ProtocolVersion
    pairs: int
    passed_pairs: int
    mismatch: Mismatch | None
    seconds: float

    @property
    def group(self) -> str:
        return group_of(self.name)

    @property
    def passed(self) -> bool:
        return self.mismatch is None


# -- requests --------------------------------------------------------------------------------------------------
def substitute(request: Item, captures: Captures, now: int = vectors.FIXED_NOW) -> Item:
    """The request with placeholders replaced: ``$NOW±N`` by the clock, other names by captured values.

    A name nothing was bound to takes the last value returned for the same tag (T8), failing that the
    deterministic stand-in of ``vectors.resolve_placeholders`` (Text Strings stay as written). A recorded literal
    the server legitimately answered differently becomes the server's value (T8).
    """
    if isinstance(request.value, list):
        return Item(request.tag, request.type, [substitute(child, captures, now) for child in request.value])
    name = _placeholder_name(request)
    if name is None:
        if isinstance(request.value, Placeholder):  # unreachable: _placeholder_name names every Placeholder
            return request
        alias = captures.aliases.get((request.tag, request.value))
        return request if alias is None else Item(request.tag, request.type, alias)
    if not _NOW.fullmatch(name):
        if name in captures.bound:
            return Item(request.tag, request.type, captures.bound[name])
        if (request.tag, request.type) in captures.latest:
            return Item(request.tag, request.type, captures.latest[(request.tag, request.type)])
    return vectors.resolve_placeholders(request, now)


# -- responses -------------------------------------------------------------------------------------------------
@dataclass
class _Context:
    step: int
    captures: Captures
    now: int = vectors.FIXED_NOW
    #: The operation and request payload of the batch item being compared.
    operation: int | None = None
    request_payload: Item | None = None
    #: T8: items of this batch item checked for type and length only.
    random_tags: frozenset[int] = frozenset()


def compare(
    expected: Item, actual: Item, captures: Captures, step: int = 0, request: Item | None = None
) -> Mismatch | None:
    """The first difference between an expected and an actual Response Message, or None.

    ``request`` is the Request Message that was sent (after substitution): batch items are paired with it by
    position, which tells the comparison which operation a response answers. Placeholders bind into
    ``captures`` as they match; what a batch item teaches about generated keys is recorded even on a mismatch.
    """
    ctx = _Context(step, captures)
    if expected.tag != actual.tag or not isinstance(actual.value, list):
        return Mismatch(step, "/", _show(expected), _show(actual))
    first: Mismatch | None = None
    header = expected.find(Tag.RESPONSE_HEADER)
    actual_header = actual.find(Tag.RESPONSE_HEADER)
    if header is not None and actual_header is None:
        first = Mismatch(step, "/ResponseHeader", "ResponseHeader", "<absent>")
    elif header is not None and actual_header is not None:
        first = _compare(header, actual_header, "/ResponseHeader", ctx)
    requests = request.find_all(Tag.BATCH_ITEM) if request is not None else []
    expected_items = expected.find_all(Tag.BATCH_ITEM)
    actual_items = actual.find_all(Tag.BATCH_ITEM)
    for index, (exp, act) in enumerate(zip(expected_items, actual_items, strict=False)):
        request_item = requests[index] if index < len(requests) else None
        _enter_batch_item(ctx, request_item, act)
        found = _compare(exp, act, f"/BatchItem[{index}]", ctx)
        if found is not None and first is None:
            found.result = _result_text(act)
            first = found
        _learn(ctx, request_item, act)
    if first is None and len(expected_items) != len(actual_items):
        index = min(len(expected_items), len(actual_items))
        longer = expected_items if len(expected_items) > len(actual_items) else actual_items
        missing = longer is expected_items
        first = Mismatch(
            step, f"/BatchItem[{index}]", "BatchItem" if missing else "<absent>", "<absent>" if missing else "BatchItem"
        )
    return first


def _enter_batch_item(ctx: _Context, request_item: Item | None, actual_item: Item) -> None:
    operation = request_item.find(Tag.OPERATION) if request_item is not None else None
    ctx.operation = operation.value if operation is not None and isinstance(operation.value, int) else None
    ctx.request_payload = request_item.find(Tag.REQUEST_PAYLOAD) if request_item is not None else None
    ctx.random_tags = _random_tags(ctx, actual_item)


def _subject(ctx: _Context, actual_item: Item) -> str | None:
    """The uid a batch item is about: the request's Unique Identifier, else the response's (ID Placeholder)."""
    for payload in (ctx.request_payload, actual_item.find(Tag.RESPONSE_PAYLOAD)):
        uid = payload.find(Tag.UNIQUE_IDENTIFIER) if payload is not None else None
        if uid is not None and isinstance(uid.value, str):
            return uid.value
    return None


def _random_tags(ctx: _Context, actual_item: Item) -> frozenset[int]:
    """T8: the items of this response that depend on server randomness."""
    payload = actual_item.find(Tag.RESPONSE_PAYLOAD)
    if payload is None:
        return frozenset()
    subject = _subject(ctx, actual_item)
    if ctx.operation == Operation.RNG_RETRIEVE:
        return frozenset({Tag.DATA})
    if ctx.operation == Operation.ENCRYPT:
        asked_iv = ctx.request_payload is not None and ctx.request_payload.find(Tag.IV_COUNTER_NONCE) is not None
        if payload.find(Tag.IV_COUNTER_NONCE) is not None and not asked_iv:
            return frozenset({Tag.DATA, Tag.IV_COUNTER_NONCE})
        if subject in ctx.captures.public_keys:
            return frozenset({Tag.DATA})
    if subject not in ctx.captures.generated:
        return frozenset()
    if ctx.operation not in _CHECKED_EXACTLY:
        return _FROM_GENERATED_KEY
    data = ctx.request_payload.find(Tag.DATA) if ctx.request_payload is not None else None
    if ctx.operation == Operation.DECRYPT and data is not None and data.value not in ctx.captures.returned:
        # A ciphertext recorded under the recording server's key, which this run never produced.
        return frozenset({Tag.DATA})
    return frozenset()


def _learn(ctx: _Context, request_item: Item | None, actual_item: Item) -> None:
    """T8: remember the uids of generated keys and of public keys from a successful batch item."""
    payload = actual_item.find(Tag.RESPONSE_PAYLOAD)
    if payload is None or request_item is None:
        return
    uids = [c.value for c in payload.children() if c.tag in _UID_TAGS and isinstance(c.value, str)]
    if ctx.operation in _GENERATING:
        ctx.captures.generated.update(uids)
    object_type = ctx.request_payload.find(Tag.OBJECT_TYPE) if ctx.request_payload is not None else None
    if ctx.operation == Operation.REGISTER and object_type is not None and object_type.value == ObjectType.PUBLIC_KEY:
        ctx.captures.public_keys.update(uids)
    if ctx.operation == Operation.CREATE_KEY_PAIR:
        public = payload.find(Tag.PUBLIC_KEY_UNIQUE_IDENTIFIER)
        if public is not None and isinstance(public.value, str):
            ctx.captures.public_keys.add(public.value)


def _result_text(batch_item: Item) -> str:
    status = batch_item.find(Tag.RESULT_STATUS)
    if status is None or status.value == 0:  # Success
        return ""
    parts = [batch_item.find(tag) for tag in (Tag.RESULT_STATUS, Tag.RESULT_REASON, Tag.RESULT_MESSAGE)]
    return " / ".join(_show(p).split(" (0x", 1)[0] for p in parts if p is not None)


def _mismatch(ctx: _Context, path: str, expected: Item | None, actual: Item | None) -> Mismatch:
    return Mismatch(ctx.step, path, _show(expected), _show(actual))


def _is_1x_server_description(expected: Item, path: str) -> bool:
    """T6 for 1.x: the value of an ``Attribute`` named Random Number Generator."""
    return expected.tag == Tag.ATTRIBUTE_VALUE and path.endswith("[Random Number Generator]/AttributeValue")


def _compare(expected: Item, actual: Item, path: str, ctx: _Context) -> Mismatch | None:
    if expected.tag != actual.tag:
        return Mismatch(ctx.step, path, _label(expected.tag), _label(actual.tag))
    name = _placeholder_name(expected)
    if name is not None:
        return _bind(name, expected, actual, path, ctx)
    if expected.type != actual.type:
        return _mismatch(ctx, path, expected, actual)
    if expected.tag in _SERVER_DESCRIPTIONS or _is_1x_server_description(expected, path):
        return None
    if isinstance(expected.value, list) and isinstance(actual.value, list):
        return _compare_children(expected, actual, path, ctx)
    if isinstance(actual.value, list | Placeholder) or isinstance(expected.value, list | Placeholder):
        return _mismatch(ctx, path, expected, actual)
    if expected.value != actual.value and expected.tag in ctx.random_tags:
        exp_value, act_value = expected.value, actual.value
        if isinstance(exp_value, bytes) and isinstance(act_value, bytes) and len(exp_value) != len(act_value):
            # Random values: report the lengths only, so that the report is the same on every run.
            return Mismatch(ctx.step, path, f"{len(exp_value)} bytes", f"{len(act_value)} bytes")
        ctx.captures.aliases[(expected.tag, expected.value)] = actual.value
    elif expected.value != actual.value:
        return _mismatch(ctx, path, expected, actual)
    ctx.captures.saw(actual)
    return None


def _bind(name: str, expected: Item, actual: Item, path: str, ctx: _Context) -> Mismatch | None:
    """A placeholder: ``$NOW±N`` within T1, any other name equal to its earlier value, or bound now."""
    if expected.type != actual.type or isinstance(actual.value, list | Placeholder):
        return _mismatch(ctx, path, expected, actual)
    if name.startswith(_ANY):
        return None
    now = _NOW.fullmatch(name)
    if now is not None:
        if actual.type not in _TIME_TYPES or not isinstance(actual.value, int):
            return _mismatch(ctx, path, expected, actual)
        seconds = actual.value // 10**6 if actual.type == ItemType.DATE_TIME_EXTENDED else actual.value
        if abs(seconds - (ctx.now + int(now.group(1) or 0))) > NOW_TOLERANCE:
            return _mismatch(ctx, path, expected, actual)
        return None
    bound = ctx.captures.bound
    if name in bound:
        if bound[name] == actual.value:
            return None
        return Mismatch(ctx.step, path, f"{name} = {_show(Item(actual.tag, actual.type, bound[name]))}", _show(actual))
    if name.startswith("$UNIQUE_IDENTIFIER_"):
        for other, value in bound.items():
            if other.startswith("$UNIQUE_IDENTIFIER_") and value == actual.value:
                return Mismatch(ctx.step, path, f"a new uid for {name}", f"{actual.value!r}, already {other}")
    bound[name] = actual.value
    ctx.captures.saw(actual)
    return None


@dataclass(frozen=True)
class _Latitude:
    """How a structure's children may differ from the recording."""

    #: Children compared as a multiset (None: all of them); the others in order, first (T4, T6).
    unordered: frozenset[int] | None = frozenset()
    #: The server may return more of the unordered children than expected (T5, T6).
    superset: bool = False
    #: Children not compared (T2, T3, T7).
    ignored: frozenset[int] = frozenset()
    #: Children checked for presence and type only (T6).
    presence: frozenset[int] = frozenset()
    #: Operation values left out of the expected children (T6: server-to-client operations in Query).
    not_expected_operations: frozenset[int] = frozenset()


_IN_ORDER = _Latitude()


def _latitude(expected: Item, path: str, ctx: _Context) -> _Latitude:
    ignored = _IGNORED.get(expected.tag, frozenset())
    is_payload = expected.tag == Tag.RESPONSE_PAYLOAD
    if expected.tag == Tag.ATTRIBUTES:
        every = (
            ctx.operation == Operation.GET_ATTRIBUTES
            and path.endswith("ResponsePayload/Attributes")
            and ctx.request_payload is not None
            and ctx.request_payload.find(Tag.ATTRIBUTE_REFERENCE) is None
        )
        return _Latitude(unordered=None, superset=every)
    if is_payload and ctx.operation == Operation.GET_ATTRIBUTES:
        every = ctx.request_payload is not None and ctx.request_payload.find(Tag.ATTRIBUTE_NAME) is None
        return _Latitude(unordered=frozenset({Tag.ATTRIBUTE}), superset=every)
    if is_payload and ctx.operation == Operation.GET_ATTRIBUTE_LIST:
        return _Latitude(unordered=frozenset({Tag.ATTRIBUTE_NAME, Tag.ATTRIBUTE_REFERENCE}), superset=True)
    if is_payload and ctx.operation == Operation.QUERY:
        return _Latitude(
            unordered=None,
            superset=True,
            presence=frozenset({Tag.VENDOR_IDENTIFICATION}),
            not_expected_operations=_SERVER_TO_CLIENT,
        )
    if is_payload and ctx.operation == Operation.PKCS_11 and _pkcs11_function(ctx) == PKCS11Function.C_GETINFO:
        return _Latitude(presence=frozenset({Tag.PKCS_11_OUTPUT_PARAMETERS}))
    if is_payload and ctx.operation == Operation.LOCATE and expected.find(Tag.LOCATED_ITEMS) is None:
        return _Latitude(ignored=frozenset({Tag.LOCATED_ITEMS}))
    return _Latitude(ignored=ignored) if ignored else _IN_ORDER


def _pkcs11_function(ctx: _Context) -> object:
    function = ctx.request_payload.find(Tag.PKCS_11_FUNCTION) if ctx.request_payload is not None else None
    return function.value if function is not None else None


def _compare_children(expected: Item, actual: Item, path: str, ctx: _Context) -> Mismatch | None:
    latitude = _latitude(expected, path, ctx)
    exp = [_presence_only(c) if c.tag in latitude.presence else c for c in expected.children()]
    exp = [
        c
        for c in exp
        if c.tag not in latitude.ignored
        and not (c.tag == Tag.OPERATION and c.value in latitude.not_expected_operations)
    ]
    act = [c for c in actual.children() if c.tag not in latitude.ignored]
    if latitude.unordered is None or latitude.unordered:
        return _compare_unordered(exp, act, path, ctx, latitude)
    return _compare_in_order(exp, act, path, ctx)


def _presence_only(item: Item) -> Item:
    """An expected item that matches any value of its type (a placeholder nothing else uses)."""
    return Item(item.tag, item.type, Placeholder(_ANY + _label(item.tag)))


def _compare_in_order(exp: list[Item], act: list[Item], path: str, ctx: _Context) -> Mismatch | None:
    totals = Counter(c.tag for c in exp)
    seen: Counter[int] = Counter()
    for position, e in enumerate(exp):
        index = seen[e.tag]
        seen[e.tag] += 1
        child = f"{path}/{_label(e.tag)}" + (f"[{index}]" if totals[e.tag] > 1 else "")
        if position >= len(act):
            return _mismatch(ctx, child, e, None)
        found = _compare(e, act[position], child, ctx)
        if found is not None:
            return found
    if len(act) > len(exp):
        return _mismatch(ctx, f"{path}/{_label(act[len(exp)].tag)}", None, act[len(exp)])
    return None


def _compare_unordered(
    exp: list[Item], act: list[Item], path: str, ctx: _Context, latitude: _Latitude
) -> Mismatch | None:
    def free(item: Item) -> bool:
        return latitude.unordered is None or item.tag in latitude.unordered

    found = _compare_in_order([c for c in exp if not free(c)], [c for c in act if not free(c)], path, ctx)
    if found is not None:
        return found
    remaining = [c for c in act if free(c)]
    missing: list[Item] = []  # leaves without a match, reported together (a Query's missing Operations)
    for e in (c for c in exp if free(c)):
        element = f"{path}/{_element_label(e)}"
        closest: Mismatch | None = None
        for a in (c for c in remaining if c.tag == e.tag):
            saved, ctx.captures = ctx.captures, ctx.captures.copy()
            found = _compare(e, a, element, ctx)
            trial, ctx.captures = ctx.captures, saved
            if found is None:
                saved.update(trial)
                remaining.remove(a)
                break
            if isinstance(e.value, list) and (closest is None or _same_attribute(e, a)):
                closest = found
        else:
            if closest is not None or isinstance(e.value, list):
                return closest or _mismatch(ctx, element, e, None)
            missing.append(e)
    if missing:
        names = ", ".join(_element_label(e) for e in missing)
        return Mismatch(ctx.step, path, names, "<absent>")
    if remaining and not latitude.superset:
        return _mismatch(ctx, f"{path}/{_element_label(remaining[0])}", None, remaining[0])
    return None


def _element_label(item: Item) -> str:
    """``Attribute[Cryptographic Length]`` for a 1.x Attribute, ``Operation[Query]``, ``AttributeName[Name]``."""
    if item.tag == Tag.ATTRIBUTE and isinstance(item.value, list):
        name = item.find(Tag.ATTRIBUTE_NAME)
        if name is not None:
            return f"Attribute[{name.value!s}]"
    if item.type == ItemType.ENUMERATION:
        return f"{_label(item.tag)}[{_show(item).split(' (0x', 1)[0]}]"
    if item.type == ItemType.TEXT_STRING:
        return f"{_label(item.tag)}[{item.value!s}]"
    return _label(item.tag)


def _same_attribute(expected: Item, actual: Item) -> bool:
    """Whether an unmatched candidate is the expected attribute with another value (the better report)."""
    if expected.tag != Tag.ATTRIBUTE or not isinstance(actual.value, list):
        return expected.tag == actual.tag
    return actual.find(Tag.ATTRIBUTE_NAME) == expected.find(Tag.ATTRIBUTE_NAME)


# -- files -----------------------------------------------------------------------------------------------------
def new_engine(now: int = vectors.FIXED_NOW) -> Engine:
    """A fresh engine over an empty ``MemoryStore``, ``USER`` an administrator, the clock pinned to ``now``."""
    config = EngineConfig(admin_users=frozenset({USER}))
    engine = Engine(MemoryStore(), config, clock=lambda: float(now))
    engine.pkcs11 = ProviderFunctions(engine)  # as ``keystead serve`` wires it
    return engine


#: Files that start on the store the named file of their series left (file name without its version suffix).
PRECEDED_BY: dict[str, str] = {"SASED-M-3": "SASED-M-2", "TL-M-3": "TL-M-2"}


def _preceding(case: vectors.OasisTestCase) -> vectors.OasisTestCase | None:
    """The file ``case`` continues from (``PRECEDED_BY``), of the same version, or None."""
    stem, suffix = case.name.rsplit("-", 1)
    previous = PRECEDED_BY.get(stem)
    if previous is None:
        return None
    wanted = f"{previous}-{suffix}"
    path = next(p for p in vectors.testcase_paths() if p.name == wanted)
    return vectors.load_testcase(path)


def _replay(engine: Engine, case: vectors.OasisTestCase) -> Captures:
    """Run a file's requests for the store they leave behind; returns what they taught about its keys (T8: the
    next file repeats the recorded key material of the keys the server generated), without the placeholder
    names, which each file numbers afresh."""
    captures = Captures()
    for step, (request, expected) in enumerate(case.messages):
        compare(expected, engine.process_tree(substitute(request, captures), USER), captures, step, request)
    captures.bound.clear()
    return captures


def run_case(case: vectors.OasisTestCase) -> FileResult:
    """Replay one file; every pair runs even after a mismatch, the first mismatch is kept."""
    started = time.perf_counter()
    engine = new_engine()
    previous = _preceding(case)
    captures = _replay(engine, previous) if previous is not None else Captures()
    first: Mismatch | None = None
    passed = 0
    for step, (request, expected) in enumerate(case.messages):
        concrete = substitute(request, captures)
        actual = engine.process_tree(concrete, USER)
        found = compare(expected, actual, captures, step, concrete)
        if found is None:
            passed += 1
        elif first is None:
            first = found
    return FileResult(case.name, case.version, len(case.messages), passed, first, time.perf_counter() - started)


def run_all(names: Iterable[str] = ()) -> list[FileResult]:
    """Replay every mandatory file (or those whose name contains one of ``names``)."""
    wanted = list(names)
    return [run_case(case) for case in vectors.iter_testcases() if not wanted or any(w in case.name for w in wanted)]


# -- reporting -------------------------------------------------------------------------------------------------
def _version_text(version: ProtocolVersion) -> str:
    return f"{version[0]}.{version[1]}"


def summary(results: Sequence[FileResult], verbose: bool = False) -> str:
    """Pass counts per version and per group, then the first mismatch of every failing file."""
    lines: list[str] = []
    by_version: dict[str, list[FileResult]] = defaultdict(list)
    for result in results:
        by_version[_version_text(result.version)].append(result)
    for version, group_results in sorted(by_version.items()):
        lines.append(f"KMIP {version}: {_counts(group_results)}")
        by_group: dict[str, list[FileResult]] = defaultdict(list)
        for result in group_results:
            by_group[result.group].append(result)
        for group, members in sorted(by_group.items()):
            lines.append(f"  {group:<8} {_counts(members)}")
    lines.append(f"total: {_counts(results)}")
    failures = [r for r in results if not r.passed]
    if failures:
        lines.append("")
        lines.append("first mismatch per failing file:")
        for result in failures:
            assert result.mismatch is not None
            lines.append(f"  {result.name} ({result.passed_pairs}/{result.pairs}): {result.mismatch.one_line()}")
    if verbose:
        lines.append("")
        lines.extend(f"  {r.name}: {r.seconds:.2f} s" for r in sorted(results, key=lambda r: -r.seconds)[:10])
    return "\n".join(lines)


def _counts(results: Sequence[FileResult]) -> str:
    files = sum(r.passed for r in results)
    pairs = sum(r.passed_pairs for r in results)
    total_pairs = sum(r.pairs for r in results)
    return f"files {files}/{len(results)}, message pairs {pairs}/{total_pairs}"


def known_failures_table(results: Sequence[FileResult]) -> str:
    """The ``KNOWN_FAILURES`` dict literal of ``test_oasis_conformance`` for the failing files."""
    lines = ["KNOWN_FAILURES: dict[str, str] = {"]
    for result in results:
        if result.mismatch is not None:
            text = result.mismatch.one_line()
            chunks = textwrap.wrap(text, 90, drop_whitespace=False, break_on_hyphens=False)
            lines.append(f"    {result.name!r}: (")
            lines.extend(f"        {chunk!r}" for chunk in chunks)
            lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="only files whose name contains one of these")
    parser.add_argument("-v", "--verbose", action="store_true", help="also list the slowest files")
    parser.add_argument("--known-failures", action="store_true", help="print the KNOWN_FAILURES table")
    args = parser.parse_args(argv)
    try:
        vectors.testcases_dir()
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = run_all(args.names)
    print(known_failures_table(results) if args.known_failures else summary(results, args.verbose))
    print(f"({len(results)} files in {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
