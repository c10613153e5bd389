"""Throughput of the TTLV codecs on two typical messages (one core, ``time.perf_counter``).

Run with ``python -m bench.bench_codecs``. Each codec has one ``bench_<codec>()`` function returning table rows;
``main()`` prints them. Messages are an Encrypt request (KMIP 2.1 §6.1.18) and a Get response carrying a
256-bit AES key (§6.1.25), the two shapes a KMS front end sees most.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kms_backend.kmip import binary_codec
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    ResultStatus,
)
from kms_backend.kmip.ttlv import Item, ItemType, Tag

#: Minimum wall time per measurement, seconds.
MIN_SECONDS = 1.0

Row = tuple[str, str, str, float]  # (codec, message, operation, seconds per op)


def _struct(tag: Tag, *children: Item) -> Item:
    return Item(tag, ItemType.STRUCTURE, list(children))


def _protocol_version() -> Item:
    return _struct(
        Tag.PROTOCOL_VERSION,
        Item(Tag.PROTOCOL_VERSION_MAJOR, ItemType.INTEGER, 2),
        Item(Tag.PROTOCOL_VERSION_MINOR, ItemType.INTEGER, 1),
    )


def encrypt_request() -> Item:
    """Request Message / Batch Item / Encrypt with a key id, AES-GCM parameters, 64 bytes of data and a 12-byte IV."""
    return _struct(
        Tag.REQUEST_MESSAGE,
        _struct(Tag.REQUEST_HEADER, _protocol_version(), Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1)),
        _struct(
            Tag.BATCH_ITEM,
            Item(Tag.OPERATION, ItemType.ENUMERATION, Operation.ENCRYPT),
            _struct(
                Tag.REQUEST_PAYLOAD,
                Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "b8a1d7a4-3c0e-4a47-9a5e-6f1f5c3e2d10"),
                _struct(
                    Tag.CRYPTOGRAPHIC_PARAMETERS,
                    Item(Tag.BLOCK_CIPHER_MODE, ItemType.ENUMERATION, BlockCipherMode.GCM),
                    Item(Tag.CRYPTOGRAPHIC_ALGORITHM, ItemType.ENUMERATION, CryptographicAlgorithm.AES),
                ),
                Item(Tag.DATA, ItemType.BYTE_STRING, bytes(range(64))),
                Item(Tag.IV_COUNTER_NONCE, ItemType.BYTE_STRING, bytes(range(12))),
            ),
        ),
    )


def get_response() -> Item:
    """Response Message / Batch Item / Get returning a 256-bit AES Symmetric Key in Raw format."""
    return _struct(
        Tag.RESPONSE_MESSAGE,
        _struct(
            Tag.RESPONSE_HEADER,
            _protocol_version(),
            Item(Tag.TIME_STAMP, ItemType.DATE_TIME, 1_700_000_000),
            Item(Tag.BATCH_COUNT, ItemType.INTEGER, 1),
        ),
        _struct(
            Tag.BATCH_ITEM,
            Item(Tag.OPERATION, ItemType.ENUMERATION, Operation.GET),
            Item(Tag.RESULT_STATUS, ItemType.ENUMERATION, ResultStatus.SUCCESS),
            _struct(
                Tag.RESPONSE_PAYLOAD,
                Item(Tag.OBJECT_TYPE, ItemType.ENUMERATION, ObjectType.SYMMETRIC_KEY),
                Item(Tag.UNIQUE_IDENTIFIER, ItemType.TEXT_STRING, "b8a1d7a4-3c0e-4a47-9a5e-6f1f5c3e2d10"),
                _struct(
                    Tag.SYMMETRIC_KEY,
                    _struct(
                        Tag.KEY_BLOCK,
                        Item(Tag.KEY_FORMAT_TYPE, ItemType.ENUMERATION, KeyFormatType.RAW),
                        _struct(Tag.KEY_VALUE, Item(Tag.KEY_MATERIAL, ItemType.BYTE_STRING, bytes(range(32)))),
                        Item(Tag.CRYPTOGRAPHIC_ALGORITHM, ItemType.ENUMERATION, CryptographicAlgorithm.AES),
                        Item(Tag.CRYPTOGRAPHIC_LENGTH, ItemType.INTEGER, 256),
                    ),
                ),
            ),
        ),
    )


MESSAGES: dict[str, Callable[[], Item]] = {"Encrypt request": encrypt_request, "Get response": get_response}


def measure(func: Callable[[], object], min_seconds: float = MIN_SECONDS) -> float:
    """Seconds per call of ``func``, timed over batches until at least ``min_seconds`` have passed."""
    batch = 1
    while True:  # grow the batch until one takes ~50 ms, so the timer's own cost is negligible
        start = time.perf_counter()
        for _ in range(batch):
            func()
        if time.perf_counter() - start > 0.05:
            break
        batch *= 2
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        for _ in range(batch):
            func()
        calls += batch
    return elapsed / calls


def bench_codec(codec: str, encode: Callable[[Item], Any], decode: Callable[[Any], Item]) -> list[Row]:
    """Time ``decode``, ``encode`` and ``encode(decode(wire))`` (what a server does per request) per message."""
    rows: list[Row] = []
    for name, build in MESSAGES.items():
        tree = build()
        wire = encode(tree)
        assert decode(wire) == tree, f"{codec} does not round-trip the {name}"

        def round_trip(wire: Any = wire) -> Any:
            return encode(decode(wire))

        rows.append((codec, name, "decode", measure(partial(decode, wire))))
        rows.append((codec, name, "encode", measure(partial(encode, tree))))
        rows.append((codec, name, "decode+encode", measure(round_trip)))
    return rows


def bench_binary() -> list[Row]:
    """Binary TTLV (KMIP 2.1 §9.1)."""
    return bench_codec("binary", binary_codec.encode, binary_codec.decode)


#: One entry per codec; each returns its rows.
def bench_json() -> list[Row]:
    """Cosmian-dialect JSON TTLV (the HTTP /kmip/2_1 path)."""
    from kms_backend.kmip import json_codec

    return bench_codec("json", json_codec.encode, json_codec.decode)


def bench_typed() -> list[Row]:
    """Binary bytes to typed messages and back (what the KMIP socket does per request)."""
    from kms_backend.kmip import binary_codec, mapper, messages

    def encode(item: Item) -> bytes:
        return binary_codec.encode(mapper.to_tree(typed_of(item)))

    def typed_of(item: Item) -> Any:
        if item.tag == Tag.REQUEST_MESSAGE:
            return messages.decode_request(item)
        return messages.decode_response(item)

    def decode(data: bytes) -> Item:
        return mapper.to_tree(typed_of(binary_codec.decode(data)))

    return bench_codec("binary+typed", encode, decode)


BENCHMARKS: list[Callable[[], list[Row]]] = [bench_binary, bench_json, bench_typed]


def print_table(rows: list[Row]) -> None:
    print(f"{'codec':<8} {'message':<16} {'operation':<14} {'ops/s':>10} {'µs/op':>8}")
    for codec, message, operation, seconds in rows:
        print(f"{codec:<8} {message:<16} {operation:<14} {1 / seconds:>10,.0f} {seconds * 1e6:>8.2f}")


def main() -> None:
    sizes = ", ".join(f"{name} {len(binary_codec.encode(build()))} B" for name, build in MESSAGES.items())
    print(f"TTLV codecs, one core ({sizes})")
    print_table([row for benchmark in BENCHMARKS for row in benchmark()])


if __name__ == "__main__":
    main()
