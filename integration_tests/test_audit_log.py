"""The audit log of a full run of ``keystead serve`` (HTTPS JSON and binary, the KMIP port, access rights): one JSON
line per operation with time, transport, client address, user, operation, object and result; and no key value it
created or read — raw, hex or base64 — anywhere in the audit log, the server's log (at debug level) or its output.
Fail-closed: with the audit log on a full disk (/dev/full) every request is refused and nothing is created."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from ._keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, request_message, uid_payload  # type: ignore[import-not-found,unused-ignore]
    from .test_server_kmip_tls import binary, exchange, results, tls_connect  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from _keystead_server import CREATE_AES_PAYLOAD, KeysteadProcess, request_message, uid_payload
    from test_server_kmip_tls import binary, exchange, results, tls_connect

from kms_backend.kmip import binary_codec, json_codec


def https(server: KeysteadProcess, user: str = "client") -> httpx.Client:
    assert server.certs is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    context.load_cert_chain(str(server.certs / f"{user}.pem"), str(server.certs / f"{user}.key"))
    return httpx.Client(base_url=server.http_url, verify=context, timeout=30)


def key_material(node: Any) -> bytes | None:
    if isinstance(node, dict):
        if node.get("tag") == "KeyMaterial" and node.get("type") == "ByteString":
            return bytes.fromhex(node["value"])
        return key_material(node.get("value"))
    if isinstance(node, list):
        for child in node:
            if (found := key_material(child)) is not None:
                return found
    return None


def forms(value: bytes) -> list[bytes]:
    return [value, value.hex().encode(), value.hex().upper().encode(), base64.b64encode(value)]


def test_a_full_run_logs_every_operation_and_no_key_value(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    server = KeysteadProcess.start(tmp_path, "--audit-log", str(audit), "--log-level", "debug")
    values: dict[str, bytes] = {}
    try:
        with https(server) as http:
            for _ in range(3):  # bare JSON operations
                created = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD}).json()
                uid = next(c["value"] for c in created["value"] if c["tag"] == "UniqueIdentifier")
                got = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)}).json()
                values[uid] = key_material(got) or b""
            # a batch on /kmip in binary
            body = binary(request_message(("Create", CREATE_AES_PAYLOAD)))
            response = http.post("/kmip", content=body, headers={"content-type": "application/octet-stream"})
            decoded = json.loads(json_codec.encode(binary_codec.decode(response.content)))
            (item,) = results(decoded)
            uid = next(c["value"] for c in item["ResponsePayload"] if c["tag"] == "UniqueIdentifier")
            got = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload(uid)}).json()
            values[uid] = key_material(got) or b""
            granted = http.post(
                "/access/grant", json={"unique_identifier": uid, "user_id": "user", "operation_types": ["get"]}
            )
            assert granted.status_code == 200
            missing = http.post("/kmip/2_1", json={"tag": "Get", "value": uid_payload("no-such-object")})
            assert missing.status_code == 422
        with tls_connect(server) as conn:  # the KMIP port
            created = exchange(conn, binary(request_message(("Create", CREATE_AES_PAYLOAD))))
            assert created is not None
            uid = next(c["value"] for c in results(created)[0]["ResponsePayload"] if c["tag"] == "UniqueIdentifier")
            got = exchange(conn, binary(request_message(("Get", uid_payload(uid)))))
            values[uid] = key_material(got) or b""
        with tls_connect(server, "user") as conn:  # another user, reading the key shared with it
            exchange(conn, binary(request_message(("Get", uid_payload(list(values)[3])))))
    finally:
        assert server.stop() == 0
    assert all(len(v) == 32 for v in values.values()) and len(values) == 5
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert all(
        set(line) == {"time", "transport", "client", "user", "operation", "object", "result", "reason"}
        for line in lines
    )
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) for line in lines)
    assert all(line["client"] == "127.0.0.1" for line in lines)
    seen = {(line["transport"], line["user"], line["operation"], line["object"], line["result"]) for line in lines}
    for over_http in list(values)[:4]:
        assert ("http", "admin", "Create", over_http, "success") in seen
        assert ("http", "admin", "Get", over_http, "success") in seen
    assert ("http", "admin", "Grant", list(values)[3], "success") in seen
    assert ("kmip", "admin", "Create", uid, "success") in seen
    assert ("kmip", "admin", "Get", uid, "success") in seen
    assert ("kmip", "user", "Get", list(values)[3], "success") in seen
    failures = [line for line in lines if line["result"] == "failure"]
    assert [(f["operation"], f["object"]) for f in failures] == [("Get", "no-such-object")]
    assert failures[0]["reason"]
    everything = b"".join(p.read_bytes() for p in (audit, server.stdout, server.stderr))
    assert b"DEBUG" in everything  # the server's own log was at its most verbose
    leaked = [uid for uid, value in values.items() if any(form in everything for form in forms(value))]
    assert leaked == []


def test_fail_closed_refuses_requests_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    server = KeysteadProcess.start(tmp_path, "--audit-log", "/dev/full", "--audit-fail-closed")
    try:
        with https(server) as http:
            # The first request runs, its line fails: the answer (the new key's id) is withheld.
            refused = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
            assert refused.status_code == 503
            assert "audit log" in refused.text
            assert "UniqueIdentifier" not in refused.text
            ran = len(http.get("/access/owned").json())
            assert ran <= 1
            # From then on requests are refused before they run.
            for _ in range(3):
                again = http.post("/kmip/2_1", json={"tag": "Create", "value": CREATE_AES_PAYLOAD})
                assert again.status_code == 503
            assert len(http.get("/access/owned").json()) == ran
        with tls_connect(server) as conn:
            response = exchange(conn, binary(request_message(("Create", CREATE_AES_PAYLOAD))))
            assert response is not None
            (item,) = results(response)
            assert item["ResultStatus"] == "OperationFailed"
            assert "audit log" in item["ResultMessage"]
    finally:
        server.stop()
