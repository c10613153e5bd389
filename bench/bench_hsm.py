"""Cost of the HSM key-encryption key on the hot paths: Get and Encrypt through the engine, with no KEK (baseline),
with a KEK and a cold cache (every read unwraps through the HSM) and with a warm cache; plus bare seal/unseal.

Run with ``python -m bench.bench_hsm [--seconds S]``. SoftHSM2 is the HSM (a throw-away token in a temporary
directory); the store is the in-memory double, so the numbers isolate the engine and the HSM. With a KEK the
engine's decoded-record cache is off (it would keep key material without an age bound), so "no KEK, record cache
off" is the fair baseline for the HSM's own cost. Without SoftHSM2 the benchmark says so and does nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kms_backend.engine import Engine
from kms_backend.engine.objects import RecordCodec
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, Tag
from kms_backend.kmip.schema import Attributes
from kms_backend.store.memory import MemoryStore

MIN_SECONDS = 0.5
ROUNDS = 3
KEYS = 200
PIN = "bench-pin-1234"


def measure(operation: Callable[[int], object], seconds: float) -> float:
    """Best of ROUNDS mean latencies (µs) of ``operation(i)``, each round at least ``seconds`` long."""
    results = []
    for _ in range(ROUNDS):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            operation(count)
            count += 1
        results.append(elapsed / count * 1e6)
    return min(results)


def build(engine: Engine) -> list[str]:
    attrs = Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 256)])
    uids = []
    for _ in range(KEYS):
        request = S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=attrs)
        uid = str(engine.run_operation(Operation.CREATE, request, "admin").unique_identifier)
        engine.run_operation(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid), "admin")
        uids.append(uid)
    return uids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_hsm")
    parser.add_argument("--seconds", type=float, default=MIN_SECONDS)
    args = parser.parse_args(argv)
    from kms_backend.hsm import HsmSettings, open_hsm
    from kms_backend.hsm.softhsm import SoftHsm, missing_reason

    reason = missing_reason()
    if reason is not None:
        print(f"bench_hsm: skipped: {reason}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        softhsm = SoftHsm.create(Path(tmp))
        softhsm.init_token("bench", PIN, base=os.environ)
        os.environ["SOFTHSM2_CONF"] = str(softhsm.conf)
        import pkcs11

        pkcs11.lib(softhsm.module).reinitialize()
        runtime = open_hsm(HsmSettings(softhsm.module, "bench", PIN, "bench-kek", create_kek=True, cache_size=4096))
        try:
            run(runtime, args.seconds)
        finally:
            runtime.close()


def run(runtime, seconds: float) -> None:  # type: ignore[no-untyped-def]
    plain = Engine(MemoryStore())
    undecoded = Engine(MemoryStore(), records=RecordCodec(cache_size=0))
    sealed = Engine(MemoryStore(), **runtime.engine_options())
    plain_uids, undecoded_uids, sealed_uids = build(plain), build(undecoded), build(sealed)
    cache = runtime.sealer.cache
    encrypt_supported = Operation.ENCRYPT in sealed.routes

    def get(engine: Engine, uids: list[str]) -> Callable[[int], object]:
        return lambda i: engine.run_operation(Operation.GET, S.GetRequest(unique_identifier=uids[i % KEYS]), "admin")

    def encrypt(engine: Engine, uids: list[str]) -> Callable[[int], object]:
        return lambda i: engine.run_operation(
            Operation.ENCRYPT, S.EncryptRequest(unique_identifier=uids[i % KEYS], data=b"x" * 64), "admin"
        )

    def cold(operation: Callable[[int], object]) -> Callable[[int], object]:
        def run_cold(i: int) -> object:
            cache.clear()
            return operation(i)

        return run_cold

    blob = runtime.seal("bench-uid", b"\x42" + os.urandom(200))
    rows: list[tuple[str, float]] = []
    rows.append(
        (
            "seal (HSM AES-256-GCM, 200 B)",
            measure(lambda i: runtime.sealer.seal_with(runtime.kek.kek_id, "u", b"\x42" * 200), seconds),
        )
    )
    rows.append(("unseal, cold (HSM)", measure(cold(lambda i: runtime.unseal("bench-uid", blob)), seconds)))
    rows.append(("unseal, warm (cache)", measure(lambda i: runtime.unseal("bench-uid", blob), seconds)))
    operations = [("Get", get)] + ([("Encrypt", encrypt)] if encrypt_supported else [])
    for name, make in operations:
        rows.append((f"{name}: no KEK", measure(make(plain, plain_uids), seconds)))
        rows.append((f"{name}: no KEK, record cache off", measure(make(undecoded, undecoded_uids), seconds)))
        rows.append((f"{name}: KEK, cold cache", measure(cold(make(sealed, sealed_uids)), seconds)))
        warm = make(sealed, sealed_uids)
        for i in range(KEYS):
            warm(i)
        rows.append((f"{name}: KEK, warm cache", measure(make(sealed, sealed_uids), seconds)))
    print(f"HSM key-encryption key on SoftHSM2 ({KEYS} AES-256 keys, memory store; best of {ROUNDS} rounds, µs/op)")
    width = max(len(n) for n, _ in rows)
    for label, micros in rows:
        print(f"  {label:<{width}}  {micros:9.1f}")
    baseline = {n.split(":")[0]: v for n, v in rows if n.endswith("record cache off")}
    for name, base in baseline.items():
        cold_cost = next(v for n, v in rows if n == f"{name}: KEK, cold cache") - base
        warm_cost = next(v for n, v in rows if n == f"{name}: KEK, warm cache") - base
        print(f"  {name}: the KEK adds {cold_cost:.1f} µs with a cold cache, {warm_cost:.1f} µs with a warm one")
    if not encrypt_supported:
        print("  Encrypt is not routed in this build: not measured")


if __name__ == "__main__":
    main()
