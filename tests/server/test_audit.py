"""Audit lines built from Request and Response Message trees (``server.audit``), written as JSON lines."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from integration_tests._keystead_server import request_message, uid_payload
from kms_backend.kmip import json_codec
from kms_backend.server.audit import AuditEntry, AuditError, AuditLog, entries_from_messages

from .conftest import build_server


def message(items: list[tuple[str, str | None]]) -> dict[str, object]:
    """A Request Message with one batch item per (operation, object id or None)."""
    return request_message(*[(op, uid_payload(uid) if uid else []) for op, uid in items])


def test_entries_name_operation_object_and_result() -> None:
    server = build_server()
    try:
        request = json_codec.decode_obj(message([("Get", "missing-uid"), ("Query", None)]))

        response = server.engine.process_tree(request, "alice")
        entries = list(entries_from_messages(request, response))
    finally:
        server.close()
    assert entries[0].operation == "Get" and entries[0].object == "missing-uid"
    assert entries[0].result == "failure" and entries[0].reason
    # The default Stop option: the item after a failure is not run (Operation Failed, or absent).
    assert all(e.operation in ("Get", "Query") for e in entries)


def test_lines_are_json_with_every_field_and_the_file_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(str(path), clock=lambda: 1_700_000_000.25)
    audit.record("kmip", "10.1.2.3", "alice", [AuditEntry("Get", "uid-1", "success")])
    audit.record("http", "10.1.2.4", "bob", [AuditEntry("Destroy", None, "failure", "PermissionDenied")])
    audit.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "time": "2023-11-14T22:13:20.250Z",
        "transport": "kmip",
        "client": "10.1.2.3",
        "user": "alice",
        "operation": "Get",
        "object": "uid-1",
        "result": "success",
        "reason": None,
    }
    assert lines[1]["reason"] == "PermissionDenied" and lines[1]["object"] is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_fail_closed_raises_and_refuses_until_it_can_write(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    audit = AuditLog("/dev/full", fail_closed=True)
    assert audit.ready()
    with pytest.raises(AuditError):
        audit.record("http", "c", "u", [AuditEntry("Get", "x", "success")])
    assert not audit.ready()
    audit.path = str(tmp_path / "audit.jsonl")  # the disk has room again
    assert audit.ready()
    audit.close()


def test_fail_open_only_logs_the_failure(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    audit = AuditLog("/dev/full")
    audit.record("http", "c", "u", [AuditEntry("Get", "x", "success")])
    assert audit.ready()
    audit.close()
