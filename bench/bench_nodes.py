"""KMIP Get and Encrypt on PostgreSQL (and MariaDB, Redis) beside SQLite, at 1 and 8 clients, on 1 and 2 nodes
(issue 21 benchmarks; run by hand).

    python -m bench.bench_nodes [--seconds 3] [--rounds 3] [--databases postgresql] [--nodes 1,2] [--lag 0.05]

For each node count, every database gets N ``keystead serve`` processes sharing one store (a scratch database of
its own on the local PostgreSQL/MariaDB/Redis, or one SQLite file) and one certificate authority; clients are
spread over the nodes round-robin. The requests are ``bench_kmip``'s: a repeated Get (kept objects) and a repeated
AES-GCM Encrypt (kept Plans), both valid only under the store's change stamp, so they measure what a database
costs when nothing changes. PostgreSQL, MariaDB and Redis run twice: strict (``--change-stamp-lag 0``, the
default: one stamp query per request) and with ``--change-stamp-lag LAG`` (a polled stamp; a change by another
node is seen within LAG). Each row is measured ``--rounds`` times, the stores taking turns within a round (in
reverse order every other round) so that the machine's load falls on all alike. Printed: the median ops/s and
latencies of each store, and the median over rounds of its ops/s divided by SQLite's in the same round (issue
21's goal: PostgreSQL within 1.5x of SQLite, a fraction of at least 0.67).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import UNLIMITED
from bench.bench_kmip import encrypt_request
from bench.bench_server import (
    TtlvClient,
    _v1_message,
    create_request,
    get_request,
    measure,
    process_cpu,
    response_uid,
)
from integration_tests._cluster import scratch_database, start_nodes
from integration_tests._keystead_server import KeysteadProcess
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation

GOAL = 1.5  # issue 21: PostgreSQL within 1.5x of SQLite
OPERATIONS = ("KMIP Get", "KMIP Encrypt")

Measured = tuple[float, float, float, float]


@dataclass
class Setup:
    """One database kind and change-stamp lag, its nodes and its prepared requests."""

    label: str
    ports: list[int]
    certs: Path
    requests: dict[str, bytes]
    #: the ``keystead serve`` processes, whose CPU is counted per request
    pids: list[int]

    def measure(self, operation: str, clients: int, seconds: float) -> Measured:
        """(ops/s, p50 ms, p99 ms, CPU µs of all nodes per request)."""
        turn = itertools.count()  # next() on a count is atomic: client i goes to node i mod N
        request = self.requests[operation]

        def setup(turn: Iterator[int] = turn) -> Callable[[], object]:
            own = TtlvClient(self.ports[next(turn) % len(self.ports)], self.certs)
            return lambda: own.call(request)

        before = sum(process_cpu(pid) for pid in self.pids)
        rate, p50, p99, count = measure(lambda: None, seconds, clients=clients, setup=setup)
        cpu = sum(process_cpu(pid) for pid in self.pids) - before
        return rate, p50, p99, cpu / max(count, 1) * 1e6


def prepare(label: str, servers: list[KeysteadProcess]) -> Setup:
    """A key created and activated on the first node; every node answers both requests once."""
    ports = [server.kmip_port for server in servers if server.kmip_port is not None]
    certs = servers[0].certs
    assert certs is not None and len(ports) == len(servers)
    client = TtlvClient(ports[0], certs)
    uid = response_uid(client.call(create_request()))
    response_uid(client.call(_v1_message(Operation.ACTIVATE, S.ActivateRequestV1(unique_identifier=uid))))
    client.close()
    requests = {"KMIP Get": get_request(uid), "KMIP Encrypt": encrypt_request(uid)}
    for port in ports:
        check = TtlvClient(port, certs)
        for request in requests.values():
            response_uid(check.call(request))
        check.close()
    return Setup(label, ports, certs, requests, [server.process.pid for server in servers])


#: (store, nodes, operation, clients, (ops/s, p50 ms, p99 ms, CPU µs per request) medians, median fraction of
#: SQLite's ops/s)
Row = tuple[str, int, str, int, Measured, float]


def run(databases: list[str], nodes: int, lag: float, seconds: float, rounds: int) -> list[Row]:
    """Rows for every variant at ``nodes`` nodes: the median round of each (operation, clients)."""
    variants = [("sqlite", 0.0)] + [(d, lag_) for d in databases if d != "sqlite" for lag_ in (0.0, lag)]
    with ExitStack() as stack:
        setups: list[Setup] = []
        for database, lag_ in variants:
            workdir = Path(tempfile.mkdtemp(prefix="keystead-bench-nodes-"))
            stack.callback(shutil.rmtree, workdir, True)
            url, extra = stack.enter_context(scratch_database(database, workdir))
            servers = start_nodes(workdir, nodes, url, *extra, *UNLIMITED, "--change-stamp-lag", str(lag_))
            for server in servers:
                stack.callback(server.stop)
            label = database if database == "sqlite" else f"{database} lag {lag_:g}"
            setups.append(prepare(label, servers))
        results: dict[tuple[str, str, int], list[Measured]] = {}
        shares: dict[tuple[str, str, int], list[float]] = {}
        for round_ in range(rounds):
            for operation in OPERATIONS:
                for clients in (1, 8):
                    measured = {}
                    for setup in setups if round_ % 2 == 0 else setups[::-1]:
                        measured[setup.label] = setup.measure(operation, clients, seconds)
                        results.setdefault((setup.label, operation, clients), []).append(measured[setup.label])
                    anchor = measured["sqlite"][0]
                    for label, (rate, *_) in measured.items():
                        shares.setdefault((label, operation, clients), []).append(rate / anchor if anchor else 0.0)
    rows: list[Row] = []
    for setup in setups:
        for operation in OPERATIONS:
            for clients in (1, 8):
                key = (setup.label, operation, clients)
                runs = results[key]
                rate, p50, p99, cpu = (statistics.median(run[i] for run in runs) for i in range(4))
                rows.append(
                    (setup.label, nodes, operation, clients, (rate, p50, p99, cpu), statistics.median(shares[key]))
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--databases", default="postgresql", help="comma-separated: postgresql,mariadb,redis")
    parser.add_argument("--nodes", default="1,2", help="comma-separated node counts")
    parser.add_argument("--lag", type=float, default=0.05, help="the --change-stamp-lag of the polled variant")
    args = parser.parse_args(argv)
    databases = [d for d in args.databases.split(",") if d]
    measured: list[Row] = []
    for nodes in (int(n) for n in args.nodes.split(",") if n):
        measured += run(databases, nodes, args.lag, args.seconds, args.rounds)
    print(
        f"\nbench_nodes: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, medians of {args.rounds} rounds of "
        f"{args.seconds:g} s; 'of SQLite' = median of ops/s / SQLite's ops/s, round by round; 'CPU µs' = CPU of "
        "the keystead processes per request (the database's own not counted)"
    )
    header = ("store", "nodes", "operation", "clients", "ops/s", "p50 ms", "p99 ms", "CPU µs", "of SQLite")
    print(f"{header[0]:<20} {header[1]:>5} {header[2]:<13} " + " ".join(f"{h:>9}" for h in header[3:]))
    for label, nodes, operation, clients, (rate, p50, p99, cpu), share in measured:
        print(
            f"{label:<20} {nodes:>5} {operation:<13} {clients:>9} {rate:>9,.0f} {p50:>9.2f} {p99:>9.2f} {cpu:>9.0f} "
            f"{share:>9.2f}"
        )
    for lag_ in sorted({label.rpartition(" ")[2] for label, *_ in measured if label.startswith("postgresql")}):
        shares = [share for label, *_, share in measured if label == f"postgresql lag {lag_}"]
        if shares:
            slowest, typical = 1 / min(shares), 1 / statistics.median(shares)
            verdict = "meets" if slowest <= GOAL else "misses"
            print(
                f"PostgreSQL (lag {lag_} s): {typical:.2f}x SQLite's time per request over the rows' medians, "
                f"{slowest:.2f}x at worst: {verdict} the {GOAL}x goal in every row"
            )


if __name__ == "__main__":
    main()
