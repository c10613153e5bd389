"""Sealing at rest on the hot path: KMIP Get and Create over the KMIP port on two ``keystead serve`` processes, one
sealing stored keys (the default) and one with ``--no-seal-keys``, measured in alternating rounds of the same run so
that both see the same machine load.

    python -m bench.bench_sealing [--seconds 3] [--rounds 3] [--keys 50]

Get cycles over ``--keys`` keys: kept objects are cached decoded, so a repeated Get does no AES-GCM; Create pays one
seal per key (a microsecond beside the fsync that makes it durable)."""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
from pathlib import Path

from bench import UNLIMITED
from bench.bench_server import TtlvClient, create_request, get_request, measure, response_uid
from integration_tests._keystead_server import KeysteadProcess


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=50)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-sealing-"))
    servers = {
        "sealed": KeysteadProcess.start(workdir / "sealed", *UNLIMITED),
        "unsealed": KeysteadProcess.start(workdir / "unsealed", "--no-seal-keys", *UNLIMITED),
    }
    results: dict[tuple[str, str], list[float]] = {}
    try:
        clients, gets = {}, {}
        for name, server in servers.items():
            assert server.kmip_port is not None and server.certs is not None
            client = clients[name] = TtlvClient(server.kmip_port, server.certs)
            uids = [response_uid(client.call(create_request())) for _ in range(args.keys)]
            gets[name] = itertools.cycle([get_request(uid) for uid in uids])
        create = create_request()
        for _ in range(args.rounds):
            for name, client in clients.items():
                get_rate = measure(lambda c=client, g=gets[name]: c.call(next(g)), args.seconds)[0]
                create_rate = measure(lambda c=client: c.call(create), args.seconds)[0]
                results.setdefault((name, "KMIP Get"), []).append(get_rate)
                results.setdefault((name, "KMIP Create"), []).append(create_rate)
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"sealed vs --no-seal-keys, 1 client, median of {args.rounds} alternating rounds of {args.seconds:g} s")
    for operation in ("KMIP Get", "KMIP Create"):
        sealed = statistics.median(results[("sealed", operation)])
        plain = statistics.median(results[("unsealed", operation)])
        print(f"{operation:<12} sealed {sealed:>8,.0f}/s  unsealed {plain:>8,.0f}/s  ratio {sealed / plain:.2f}")


if __name__ == "__main__":
    main()
