#!/usr/bin/env python3
"""Several ``keystead serve`` nodes on one database behind HAProxy, on one machine (README "High availability").

    python deploy/ha/cluster.py up --dir DIR --database URL [--nodes 3] [--kmip-port 5696] [--http-port 9998]
                                   [--http-mode http|tcp] [--certs DIR] [-- EXTRA keystead serve ARGUMENTS]
    python deploy/ha/cluster.py status --dir DIR
    python deploy/ha/cluster.py down --dir DIR

``up`` starts the nodes on free loopback ports (each its own data directory, log and pid file under DIR), waits
until each answers ``GET /health``, writes ``DIR/haproxy.cfg`` and starts HAProxy in front of them. Every node
seals stored keys with the same key-encryption key, ``DIR/keystead.kek`` (made once, mode 0600), unless the
arguments after ``--`` name another (``--kek-file``, ``--kek``, an HSM): nodes with different keys could not read
each other's keys.

* KMIP (``--kmip-port``) in TCP mode: mutual TLS runs end to end between the client and a node, so the node sees
  the client's certificate; HAProxy checks each node's KMIP port and sends new connections to live ones only.
* On both ports HAProxy opens each connection to a node with a PROXY protocol v2 header (``send-proxy-v2``) that
  names the client, and the nodes trust HAProxy's address (``--trusted-proxies 127.0.0.1``): per-client rate
  limits, connection caps and audit lines apply to the client, not to HAProxy.
* HTTP (``--http-port``) in HTTP mode: HAProxy terminates TLS with the server certificate, checks
  ``GET /health`` on each node over TLS, retries a request whose connection to a node failed on another node, and
  re-encrypts to the node. A node then sees HAProxy, not the client's certificate, so HTTP mode needs bearer tokens
  or JWTs (pass ``--api-tokens-file``, ``--jwt-issuers`` ... after ``--``). ``--http-mode tcp`` passes TLS through
  instead, as for KMIP, for client-certificate authentication on HTTP.

Certificates come from ``--certs`` (``ca.pem``, ``server.pem``, ``server.key``; the server certificate must name
the address clients use for HAProxy in its subjectAltName) or are made by ``keystead certs init DIR/certs``
(127.0.0.1 and localhost). The nodes run ``sys.executable -m kms_backend.cli serve``: run this script with the
Python that has Keystead installed (``.venv/bin/python``). ``down`` stops HAProxy and the nodes (SIGTERM).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keystead(*args: str) -> list[str]:
    return [sys.executable, "-m", "kms_backend.cli", *args]


def make_certs(directory: Path) -> Path:
    if not (directory / "ca.pem").exists():
        subprocess.run(keystead("certs", "init", str(directory)), check=True, capture_output=True)
    return directory


def healthy(url: str, certs: Path) -> bool:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if (certs / "client.pem").exists():  # nodes that require client certificates on HTTP
        context.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    try:
        with urllib.request.urlopen(url + "/health", context=context, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def shared_kek(directory: Path, extra: list[str]) -> list[str]:
    """``--kek-file`` of one key-encryption key for every node, unless ``extra`` already says where keys are sealed."""
    if {"--kek-file", "--kek", "--hsm-module", "--no-seal-keys"} & set(extra) or os.environ.get("KEYSTEAD_KEK"):
        return []
    path = directory / "keystead.kek"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, base64.b64encode(secrets.token_bytes(32)) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    return ["--kek-file", str(path)]


def trusted_haproxy(extra: list[str]) -> list[str]:
    """``--trusted-proxies`` of HAProxy's address (it runs on this machine: 127.0.0.1), unless ``extra`` sets it."""
    if "--trusted-proxies" in extra or os.environ.get("KEYSTEAD_TRUSTED_PROXIES"):
        return []
    return ["--trusted-proxies", "127.0.0.1"]


def start_node(index: int, args: argparse.Namespace, certs: Path, extra: list[str]) -> dict[str, object]:
    directory: Path = args.dir
    http_port, kmip_port = free_port(), free_port()
    log = directory / f"node{index}.log"
    command = keystead(
        "serve",
        "--host", "127.0.0.1",
        "--http-port", str(http_port),
        "--kmip-port", str(kmip_port),
        "--database", args.database,
        "--data-dir", str(directory / f"node{index}"),
        "--tls-cert", str(certs / "server.pem"),
        "--tls-key", str(certs / "server.key"),
        "--tls-ca", str(certs / "ca.pem"),
        *trusted_haproxy(extra),
        *extra,
    )  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (directory / f"node{index}.pid").write_text(f"{process.pid}\n")
    return {"index": index, "pid": process.pid, "http_port": http_port, "kmip_port": kmip_port, "log": str(log)}


def haproxy_config(args: argparse.Namespace, certs: Path, nodes: list[dict[str, object]]) -> str:
    directory: Path = args.dir
    pem = directory / "haproxy-server.pem"
    pem.write_bytes((certs / "server.pem").read_bytes() + (certs / "server.key").read_bytes())
    pem.chmod(0o600)
    ca = certs / "ca.pem"
    # TCP-mode backends are checked on the node's GET /health too (200 only while the node and its database answer),
    # over TLS with a client certificate where there is one: it serves the checks only, the traffic passes through.
    check_client = ""
    if (certs / "client.pem").exists() and (certs / "client.key").exists():
        client_pem = directory / "haproxy-check-client.pem"
        client_pem.write_bytes((certs / "client.pem").read_bytes() + (certs / "client.key").read_bytes())
        client_pem.chmod(0o600)
        check_client = f" crt {client_pem}"

    # send-proxy-v2: each connection to a node starts with a PROXY v2 header naming the client, so that the node's
    # per-client rate limit, connection cap and audit log see the client rather than HAProxy (the nodes trust
    # 127.0.0.1 with --trusted-proxies). Checks on another port go without it, and the nodes accept that.
    def checked(n: dict[str, object], port_key: str) -> str:
        return (
            f"    server node{n['index']} 127.0.0.1:{n[port_key]} send-proxy-v2 check port {n['http_port']} "
            f"check-ssl verify required ca-file {ca}{check_client}"
        )

    kmip_servers = "\n".join(checked(n, "kmip_port") for n in nodes)
    if args.http_mode == "http":
        http_servers = "\n".join(
            f"    server node{n['index']} 127.0.0.1:{n['http_port']} send-proxy-v2 ssl verify required ca-file {ca} "
            "check"
            for n in nodes
        )
        http = f"""frontend keystead_http
    mode http
    option httplog
    bind 127.0.0.1:{args.http_port} ssl crt {pem}
    default_backend keystead_http_nodes

backend keystead_http_nodes
    mode http
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    # Only a request whose connection to a node failed is sent again: one that reached a node is not replayed.
    retry-on conn-failure
    retries 3
    option redispatch 1
    default-server inter 500ms fall 2 rise 2
{http_servers}
"""
    else:
        http_servers = "\n".join(checked(n, "http_port") for n in nodes)
        http = f"""frontend keystead_http
    mode tcp
    bind 127.0.0.1:{args.http_port}
    default_backend keystead_http_nodes

backend keystead_http_nodes
    mode tcp
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    retries 3
    option redispatch 1
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{http_servers}
"""
    return f"""# Written by deploy/ha/cluster.py: {len(nodes)} Keystead nodes on {args.database.split("://")[0]}.
global
    maxconn 4096
    log stderr format short local0 notice
    stats socket {directory / "haproxy.sock"} mode 600 level admin

defaults
    log global
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout check 2s

frontend keystead_kmip
    mode tcp
    bind 127.0.0.1:{args.kmip_port}
    default_backend keystead_kmip_nodes

backend keystead_kmip_nodes
    mode tcp
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    retries 3
    option redispatch 1
    # Checked every 500 ms; connections to a node marked down are cut, so their clients reconnect to a live node.
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{kmip_servers}

{http}"""


def up(args: argparse.Namespace, extra: list[str]) -> int:
    directory: Path = args.dir
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "cluster.json").exists():
        print(f"{directory} already holds a cluster: run down first", file=sys.stderr)
        return 1
    certs = Path(args.certs) if args.certs else make_certs(directory / "certs")
    extra = [*shared_kek(directory, extra), *extra]
    nodes = [start_node(index, args, certs, extra) for index in range(args.nodes)]
    state = {"nodes": nodes, "kmip_port": args.kmip_port, "http_port": args.http_port, "certs": str(certs)}
    (directory / "cluster.json").write_text(json.dumps(state, indent=2))
    deadline = time.monotonic() + STARTUP_SECONDS
    for node in nodes:
        while not healthy(f"https://127.0.0.1:{node['http_port']}", certs):
            if time.monotonic() > deadline:
                print(f"node{node['index']} did not become healthy; see {node['log']}", file=sys.stderr)
                down(args)
                return 1
            time.sleep(0.2)
    config = directory / "haproxy.cfg"
    config.write_text(haproxy_config(args, certs, nodes))
    checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=False, capture_output=True, text=True)
    if checked.returncode:
        print(f"haproxy -c refused {config}: {checked.stdout}{checked.stderr}", file=sys.stderr)
        down(args)
        return 1
    with (directory / "haproxy.log").open("ab") as out:
        haproxy = subprocess.Popen(
            ["haproxy", "-f", str(config), "-p", str(directory / "haproxy.pid")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state["haproxy_pid"] = haproxy.pid
    (directory / "cluster.json").write_text(json.dumps(state, indent=2))
    while not (_listening(args.http_port) and _listening(args.kmip_port)):
        if haproxy.poll() is not None or time.monotonic() > deadline:
            print(f"HAProxy did not start; see {directory / 'haproxy.log'}", file=sys.stderr)
            down(args)
            return 1
        time.sleep(0.1)
    print(f"KMIP  127.0.0.1:{args.kmip_port} (TCP, {len(nodes)} nodes)")
    print(f"HTTP  https://127.0.0.1:{args.http_port} ({args.http_mode.upper()} mode)")
    for node in nodes:
        print(f"node{node['index']}  pid {node['pid']}  HTTP {node['http_port']}  KMIP {node['kmip_port']}")
    return 0


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _state(directory: Path) -> dict[str, object] | None:
    path = directory / "cluster.json"
    return json.loads(path.read_text()) if path.exists() else None


def _stop(pid: int, wait: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # our own child (started by up in this process): reap it
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def down(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    state = _state(directory)
    if state is None:
        print(f"no cluster in {directory}", file=sys.stderr)
        return 1
    if "haproxy_pid" in state:
        _stop(int(state["haproxy_pid"]))  # type: ignore[call-overload]
    for node in state["nodes"]:  # type: ignore[attr-defined]
        _stop(int(node["pid"]))
    (directory / "cluster.json").unlink()
    return 0


def status(args: argparse.Namespace) -> int:
    state = _state(args.dir)
    if state is None:
        print(f"no cluster in {args.dir}", file=sys.stderr)
        return 1
    certs = Path(str(state["certs"]))
    for node in state["nodes"]:  # type: ignore[attr-defined]
        up_ = healthy(f"https://127.0.0.1:{node['http_port']}", certs)
        print(f"node{node['index']}  pid {node['pid']}  {'UP' if up_ else 'DOWN'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--dir", type=Path, required=True, help="where node data, logs and haproxy.cfg go")
    parser.add_argument("--database", help="store URL shared by the nodes (PostgreSQL, MySQL or Redis)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--kmip-port", type=int, default=5696)
    parser.add_argument("--http-port", type=int, default=9998)
    parser.add_argument("--http-mode", choices=("http", "tcp"), default="http")
    parser.add_argument("--certs", help="directory with ca.pem, server.pem and server.key")
    args = parser.parse_args(argv)
    if args.command == "up":
        if not args.database or args.database.startswith(("sqlite", "memory")):
            parser.error("up needs --database: a PostgreSQL, MySQL/MariaDB or Redis URL the nodes share")
        if args.http_mode == "http" and not {"--api-tokens", "--api-tokens-file", "--jwt-issuers"} & set(extra):
            parser.error(
                "HTTP mode hides client certificates from the nodes: give --api-tokens-file (or --api-tokens, "
                "--jwt-issuers) after --, or use --http-mode tcp"
            )
        return up(args, extra)
    return down(args) if args.command == "down" else status(args)


if __name__ == "__main__":
    sys.exit(main())
