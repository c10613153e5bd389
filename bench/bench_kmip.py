"""KMIP Get and Encrypt on the mutual-TLS KMIP port at 1 and 8 clients (issue 22 benchmarks; run by hand).

    python -m bench.bench_kmip [--seconds 5] [--workers N]

The figures issue 22 asks to keep within noise across the engine refactor: a repeated Get (the hot-object cache)
and a repeated one-shot AES-256-GCM Encrypt of 64 bytes by the same user with the same parameters (the fast path,
a cached Plan). Keystead only, KMIP 1.2 binary TTLV with the lean pre-encoded client of ``bench_server``; reports
ops/s and p50/p99 latency.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from bench.bench_server import (
    TtlvClient,
    _v1_message,
    create_request,
    get_request,
    measure,
    response_uid,
    start_keystead,
)
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, Operation

DATA = bytes(range(64))


def encrypt_request(uid: str) -> bytes:
    """A KMIP 1.2 Encrypt of ``DATA`` under AES-GCM, the IV left to the server (KMIP 1.2 §4.29)."""
    parameters = S.CryptographicParameters(
        cryptographic_algorithm=CryptographicAlgorithm.AES, block_cipher_mode=BlockCipherMode.GCM
    )
    return _v1_message(
        Operation.ENCRYPT,
        S.EncryptRequest(unique_identifier=uid, cryptographic_parameters=parameters, data=DATA),
    )


def rows(port: int, certs: Path, seconds: float) -> list[tuple[str, int, tuple[float, float, float]]]:
    """(operation, clients, (ops/s, p50 ms, p99 ms)) for Get and Encrypt at 1 and 8 clients."""
    client = TtlvClient(port, certs)
    uid = response_uid(client.call(create_request()))
    response_uid(client.call(_v1_message(Operation.ACTIVATE, S.ActivateRequestV1(unique_identifier=uid))))
    requests = {"KMIP Get": get_request(uid), "KMIP Encrypt": encrypt_request(uid)}
    for request in requests.values():
        response_uid(client.call(request))  # each answers successfully before it is timed
    client.close()
    result = []
    for operation, request in requests.items():
        for clients in (1, 8):

            def setup(request: bytes = request) -> Callable[[], object]:
                own = TtlvClient(port, certs)
                return lambda: own.call(request)

            result.append((operation, clients, measure(lambda: None, seconds, clients=clients, setup=setup)))
    return result


def main(argv: list[str] | None = None) -> None:
    args, workdir, keystead = start_keystead(__doc__, argv)
    assert keystead.certs is not None and keystead.kmip_port is not None
    try:
        measured = rows(keystead.kmip_port, keystead.certs, args.seconds)
    finally:
        keystead.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nbench_kmip: Keystead with --workers {args.workers} on {os.cpu_count()} CPUs, {args.seconds:g} s per row")
    print(f"{'operation':<14} {'clients':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for operation, clients, (rate, p50, p99) in measured:
        print(f"{operation:<14} {clients:>7} {rate:>9,.0f} {p50:>8.2f} {p99:>8.2f}")


if __name__ == "__main__":
    main()
