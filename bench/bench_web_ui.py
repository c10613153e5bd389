"""The web UI's object browser at 100,000 objects, beside the same pages at 100 objects (same run, same machine).

    python -m bench.bench_web_ui [--objects 100000] [--repeat 20]

One page of the browser is what the page sends: a ``Locate`` with Maximum Items 25 and an Offset Items (``POST
/kmip/2_1``), then one Request Message of 25 ``GetAttributes``. It is timed against a real ``keystead serve`` (SQLite,
as shipped) at the first, middle and last page, without filter, by tag, and by type + state + algorithm. The stores
are filled by copying one real key's record under new identifiers (the engine's own bytes; creating 100,000 keys
through KMIP would only time key generation). Reports the median and p95 milliseconds per page.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import UNLIMITED
from integration_tests._keystead_server import KeysteadProcess, request_message
from kms_backend.store import open_store

PAGE = 25
TAG = "bench-ui"


def _tag_attribute(tags: list[str]) -> dict[str, Any]:
    import json

    return {
        "tag": "Attribute",
        "value": [
            {"tag": "VendorIdentification", "type": "TextString", "value": "cosmian"},
            {"tag": "AttributeName", "type": "TextString", "value": "tag"},
            {"tag": "AttributeValue", "type": "TextString", "value": json.dumps(tags)},
        ],
    }


FILTERS: dict[str, list[dict[str, Any]]] = {
    "no filter": [],
    "tag": [_tag_attribute([TAG])],
    "type+state+algorithm": [
        {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
        {"tag": "State", "type": "Enumeration", "value": "Active"},
        {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
    ],
}


def seed(workdir: Path, objects: int) -> None:
    """A data directory whose SQLite store holds ``objects`` active AES keys tagged ``bench-ui``."""
    server = KeysteadProcess.start(workdir, "--kmip-port", "0", *UNLIMITED, tls=False)
    try:
        create = [
            {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
            {
                "tag": "Attributes",
                "value": [
                    {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
                    {"tag": "CryptographicLength", "type": "Integer", "value": 256},
                    {"tag": "ActivationDate", "type": "DateTime", "value": "2026-01-01T00:00:00Z"},
                    _tag_attribute([TAG]),
                ],
            },
        ]
        response = httpx.post(f"{server.http_url}/kmip/2_1", json={"tag": "Create", "value": create}, timeout=30)
        response.raise_for_status()
        uid = response.json()["value"][1]["value"]
    finally:
        server.stop()
    store = open_store(f"sqlite:///{workdir / 'data' / 'keystead.sqlite'}")
    try:
        with store.transaction() as tx:
            original = tx.get(uid)
        assert original is not None
        batch = 10_000
        for start in range(1, objects, batch):
            with store.transaction() as tx:
                for _ in range(min(batch, objects - start)):
                    tx.insert(dataclasses.replace(original, uid=str(uuid.uuid4()), revision=0))
    finally:
        store.close()


def page(client: httpx.Client, attributes: list[dict[str, Any]], offset: int) -> int:
    locate = {
        "tag": "Locate",
        "value": [
            {"tag": "MaximumItems", "type": "Integer", "value": PAGE},
            {"tag": "OffsetItems", "type": "Integer", "value": offset},
            {"tag": "Attributes", "value": attributes},
        ],
    }
    found = client.post("/kmip/2_1", json=locate)
    found.raise_for_status()
    nodes = found.json()["value"]
    total = nodes[0]["value"]
    uids = [n["value"] for n in nodes[1:]]
    items = [("GetAttributes", [{"tag": "UniqueIdentifier", "type": "TextString", "value": u}]) for u in uids]
    details = client.post("/kmip/2_1", json=request_message(*items))
    details.raise_for_status()
    assert details.text.count('"Success"') == len(uids)
    return int(total)


def run(objects: int, repeat: int) -> list[tuple[int, str, str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="keystead-bench-ui-") as tmp:
        workdir = Path(tmp)
        seed(workdir, objects)
        server = KeysteadProcess.start(workdir, "--kmip-port", "0", *UNLIMITED, tls=False)
        try:
            with httpx.Client(base_url=server.http_url, timeout=60) as client:
                for name, attributes in FILTERS.items():
                    total = page(client, attributes, 0)
                    assert total == objects, (name, total)
                    last = (total - 1) // PAGE * PAGE
                    for where, offset in (("first", 0), ("middle", last // 2 // PAGE * PAGE), ("last", last)):
                        page(client, attributes, offset)  # warm
                        times = []
                        for _ in range(repeat):
                            start = time.perf_counter()
                            page(client, attributes, offset)
                            times.append((time.perf_counter() - start) * 1000)
                        times.sort()
                        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                        rows.append((objects, name, where, statistics.median(times), p95))
        finally:
            server.stop()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--anchor", type=int, default=100, help="objects in the comparison store")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    rows = run(args.anchor, args.repeat) + run(args.objects, args.repeat)
    print(f"{'objects':>8}  {'filter':<22} {'page':<7} {'median ms':>10} {'p95 ms':>8}")
    for objects, name, where, median, p95 in rows:
        print(f"{objects:>8}  {name:<22} {where:<7} {median:>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
