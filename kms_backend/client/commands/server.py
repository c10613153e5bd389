"""``keystead server version|discover-versions|query|health``: what the KMS is and whether it is up."""

from __future__ import annotations

import argparse

from ...kmip._registry_data import QueryFunction
from ._common import Exit, Session, SubParsers, add_group, add_verb, enum_choice, fail, struct_to_dict


def cmd_version(session: Session) -> None:
    version = session.client.version()
    session.emit(version, {"version": version})


def cmd_discover_versions(session: Session) -> None:
    versions = session.client.discover_versions()
    text = "\n".join(f"{major}.{minor}" for major, minor in versions)
    session.emit(text, {"protocol_versions": [f"{major}.{minor}" for major, minor in versions]})


QUERY_FUNCTIONS = (
    "operations",
    "objects",
    "server-information",
    "application-namespaces",
    "extension-list",
    "rngs",
    "validations",
    "profiles",
    "capabilities",
)


def cmd_query(session: Session) -> None:
    functions = [enum_choice(QueryFunction, f"query-{name}") for name in session.args.function or ["operations"]]
    data = struct_to_dict(session.client.query(functions))
    lines = []
    for key, value in data.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        lines.append(f"{key.replace('_', ' ').capitalize()}: {shown}")
    session.emit("\n".join(lines), data)


def cmd_health(session: Session) -> None:
    health = session.client.health()
    session.emit(f"{health.get('status')}", health)
    if health.get("status") != "UP":
        fail(f"the KMS is {health.get('status')}: {health.get('dependencies')}", Exit.OPERATION_FAILED)


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``server`` and its verbs."""
    server = add_group(sub, "server", "the KMS itself: version, protocol versions, capabilities, health")
    add_verb(server, "version", cmd_version, "print the server's version")
    add_verb(server, "discover-versions", cmd_discover_versions, "the KMIP protocol versions the server speaks")
    query = add_verb(server, "query", cmd_query, "KMIP Query: the server's operations, object types, information")
    query.add_argument(
        "function",
        nargs="*",
        choices=QUERY_FUNCTIONS,
        help="what to ask (default operations; several allowed)",
    )
    add_verb(server, "health", cmd_health, "whether the server and its database answer (exit 1 when DOWN)")


__all__ = ["register"]
