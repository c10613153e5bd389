"""The HTTP API in-process (ASGI app over MemoryStore): routes, encodings, Cosmian status codes, error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration_tests._keystead_server import request_message
from kms_backend.kmip import binary_codec, json_codec, xml_codec
from kms_backend.kmip._registry_data import ResultReason
from kms_backend.server.http_app import (
    REASON_TEXT,
    STATUS_BY_REASON,
    cheap_bare_operation,
    cheap_bare_read,
    reason_status,
)

from .conftest import CREATE_AES, Call, build_server, caller, get_request


def batch_items(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["tag"] == "ResponseMessage"
    return [
        {child["tag"]: child.get("value") for child in item["value"]}
        for item in response["value"]
        if item["tag"] == "BatchItem"
    ]


def create_key(call: Call) -> str:
    response = call("POST", "/kmip/2_1", json=CREATE_AES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tag"] == "CreateResponse"
    uid = next(c["value"] for c in body["value"] if c["tag"] == "UniqueIdentifier")
    assert isinstance(uid, str)
    return uid


def owned(call: Call) -> int:
    return len(call("GET", "/access/owned").json())


# --- /kmip/2_1 -------------------------------------------------------------------------------------------------------


def test_bare_create_and_get(call: Call) -> None:
    uid = create_key(call)
    response = call("POST", "/kmip/2_1", json=get_request(uid))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["tag"] == "GetResponse"
    assert [c["tag"] for c in body["value"]][:3] == ["ObjectType", "UniqueIdentifier", "SymmetricKey"]


def test_bare_operation_failures_are_422_with_the_reason(call: Call) -> None:
    response = call("POST", "/kmip/2_1", json=get_request("no-such-key"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Object_Not_Found: ")


def test_unknown_operation_is_404(call: Call) -> None:
    response = call("POST", "/kmip/2_1", json={"tag": "Frobnicate", "value": []})
    assert response.status_code == 404
    assert response.text.strip() == "Route not supported: Operation: Frobnicate"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"tag": "Get"}',
        b'{"tag": "Get", "value": 5}',
        b'{"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "Integer", "value": "x"}]}',
        b'{"tag": "Get", "value": [{"tag": "NoSuchTag", "type": "TextString", "value": "x"}]}',
        b'{"tag": "Create", "value": []}',  # missing required fields
        b'{"tag": "Get", "value": [{"tag": "Attributes", "value": []}]}',  # a field Get does not have
        b'{"tag": "Get", "value": NaN}',
        b"[" * 100_000,
    ],
)
def test_malformed_bare_requests_are_4xx_and_change_nothing(call: Call, body: bytes) -> None:
    before = owned(call)
    response = call("POST", "/kmip/2_1", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.text
    assert owned(call) == before


def test_request_message_batch_answers_200_even_when_items_fail(call: Call) -> None:
    uid = create_key(call)
    message = request_message(
        ("Get", get_request(uid)["value"]),
        ("Get", get_request("missing")["value"]),
    )
    message["value"][0]["value"].append(
        {"tag": "BatchErrorContinuationOption", "type": "Enumeration", "value": "Continue"}
    )
    response = call("POST", "/kmip/2_1", json=message)
    assert response.status_code == 200
    items = batch_items(response.json())
    assert [i["ResultStatus"] for i in items] == ["Success", "OperationFailed"]
    assert items[1]["ResultReason"] == "Object_Not_Found"


def test_request_message_that_does_not_decode_is_an_invalid_message_response(call: Call) -> None:
    response = call("POST", "/kmip/2_1", json={"tag": "RequestMessage", "value": [{"tag": "Foo", "value": 1}]})
    assert response.status_code == 200
    (item,) = batch_items(response.json())
    assert item["ResultReason"] == "Invalid_Message"


def test_wrong_content_type_is_415(call: Call) -> None:
    response = call("POST", "/kmip/2_1", content=json.dumps(CREATE_AES), headers={"content-type": "text/plain"})
    assert response.status_code == 415


# --- /kmip ---------------------------------------------------------------------------------------------------------


def test_binary_kmip(call: Call) -> None:
    uid = create_key(call)
    for version in ((2, 1), (1, 4)):
        tree = json_codec.decode_obj(request_message(("Get", get_request(uid)["value"]), version=version))
        response = call(
            "POST", "/kmip", content=binary_codec.encode(tree), headers={"content-type": "application/octet-stream"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/octet-stream"
        decoded = json.loads(json_codec.encode(binary_codec.decode(response.content)))
        assert decoded["value"][0]["value"][0]["value"][1]["value"] == version[1]  # answered in the request's version
        assert batch_items(decoded)[0]["ResultStatus"] == "Success"


def test_json_and_xml_on_kmip(call: Call) -> None:
    message = request_message(("Query", [{"tag": "QueryFunction", "type": "Enumeration", "value": "QueryOperations"}]))
    response = call("POST", "/kmip", json=message)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert batch_items(response.json())[0]["ResultStatus"] == "Success"
    xml = xml_codec.encode(json_codec.decode_obj(message))
    response = call("POST", "/kmip", content=xml, headers={"content-type": "text/xml"})
    assert response.status_code == 200
    assert "ResponseMessage" in response.text


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"\x00" * 3),
        ("application/octet-stream", b"garbage!" * 8),
        ("application/json", b"{"),
        ("application/xml", b"<RequestMessage"),
    ],
)
def test_kmip_garbage_is_an_invalid_message_response(call: Call, content_type: str, body: bytes) -> None:
    response = call("POST", "/kmip", content=body, headers={"content-type": content_type})
    assert response.status_code == 200
    if content_type == "application/octet-stream":
        tree = binary_codec.decode(response.content)
        text = json_codec.encode(tree)
    elif content_type == "application/json":
        text = response.text
    else:
        text = json_codec.encode(xml_codec.decode(response.content))
    assert "Invalid_Message" in text


def test_binary_garbage_with_a_1x_header_is_answered_in_1x(call: Call) -> None:
    tree = json_codec.decode_obj(request_message(("Get", [{"tag": "Attributes", "value": []}]), version=(1, 2)))
    data = bytearray(binary_codec.encode(tree))
    data[-1] ^= 0xFF  # break the padding of the last item
    response = call("POST", "/kmip", content=bytes(data), headers={"content-type": "application/octet-stream"})
    decoded = json.loads(json_codec.encode(binary_codec.decode(response.content)))
    version = decoded["value"][0]["value"][0]["value"]
    assert [v["value"] for v in version] == [1, 2]


def test_kmip_unsupported_media_type(call: Call) -> None:
    assert call("POST", "/kmip", content=b"x", headers={"content-type": "image/png"}).status_code == 415
    assert call("POST", "/kmip", content=b"x").status_code == 415


# --- generic HTTP errors ---------------------------------------------------------------------------------------------


def test_unknown_path_and_wrong_method(call: Call) -> None:
    assert call("GET", "/nope").status_code == 404
    response = call("GET", "/kmip/2_1")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert call("DELETE", "/health").status_code == 405


def test_oversized_body_is_413_and_changes_nothing() -> None:
    server = build_server(max_message_size=2048)
    call = caller(server)
    big = {"tag": "Create", "value": [{"tag": "Attributes", "value": []}] * 200}
    response = call("POST", "/kmip/2_1", json=big)
    assert response.status_code == 413
    assert (
        call("POST", "/kmip", content=b"x" * 4096, headers={"content-type": "application/octet-stream"}).status_code
        == 413
    )
    assert owned(call) == 0


def test_status_table_covers_every_result_reason() -> None:
    for reason in ResultReason:
        status = reason_status(reason)
        assert status in (401, 422, 500), reason
        assert REASON_TEXT[reason]
    assert STATUS_BY_REASON[ResultReason.ITEM_NOT_FOUND] == 422
    assert REASON_TEXT[ResultReason.ITEM_NOT_FOUND] == "Item_Not_Found"
    assert reason_status(0xDEAD) == 422


# --- access ----------------------------------------------------------------------------------------------------------


def test_access_grant_list_revoke() -> None:
    server = build_server(api_tokens=["a-token:alice", "b-token:bob"])
    call = caller(server)
    alice = {"authorization": "Bearer a-token"}
    bob = {"authorization": "Bearer b-token"}
    response = call("POST", "/kmip/2_1", json=CREATE_AES, headers=alice)
    uid = response.json()["value"][1]["value"]
    assert call("POST", "/kmip/2_1", json=get_request(uid), headers=bob).status_code == 422
    grant = {"unique_identifier": uid, "user_id": "bob", "operation_types": ["get", "getattributes"]}
    response = call("POST", "/access/grant", json=grant, headers=alice)
    assert response.status_code == 200
    assert response.json() == {"success": "Access for bob successfully added"}
    assert call("POST", "/kmip/2_1", json=get_request(uid), headers=bob).status_code == 200
    listing = call("GET", f"/access/list/{uid}", headers=alice).json()
    assert listing == [{"user_id": "bob", "operations": ["get", "getattributes"]}]
    obtained = call("GET", "/access/obtained", headers=bob).json()
    assert obtained[0]["object_id"] == uid and obtained[0]["owner_id"] == "alice"
    assert obtained[0]["state"] == "PreActive"
    assert call("GET", "/access/owned", headers=alice).json()[0]["attributes"] == {"ObjectType": "SymmetricKey"}
    assert call("POST", "/access/grant", json=grant, headers=bob).status_code == 422  # not the owner
    response = call("POST", "/access/revoke", json=grant, headers=alice)
    assert response.json() == {"success": "Access for bob successfully deleted"}
    assert call("POST", "/kmip/2_1", json=get_request(uid), headers=bob).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"nope",
        b"[]",
        b'{"user_id": "bob"}',
        b'{"user_id": 1, "operation_types": ["get"]}',
        b'{"user_id": "bob", "operation_types": []}',
        b'{"user_id": "bob", "operation_types": ["get"]}',
        b'{"unique_identifier": "x", "user_id": "bob", "operation_types": ["fly"]}',
    ],
)
def test_access_bad_bodies_are_4xx(call: Call, body: bytes) -> None:
    response = call("POST", "/access/grant", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500


def test_privileged_and_create_permission() -> None:
    server = build_server(api_tokens=["r:root", "c:carol"], admin_users=["root"], privileged_users=["root"])
    call = caller(server)
    root, carol = {"authorization": "Bearer r"}, {"authorization": "Bearer c"}
    assert call("GET", "/access/create", headers=carol).json() == {"has_create_permission": False}
    assert call("GET", "/access/privileged", headers=root).json() == {"has_privileged_access": True}
    assert call("POST", "/access/privileged", json={"user_id": "carol"}, headers=carol).status_code == 422
    assert call("POST", "/access/privileged", json={"user_id": "carol"}, headers=root).status_code == 200
    assert call("GET", "/access/create", headers=carol).json() == {"has_create_permission": True}
    assert call("GET", "/access/privileged", headers=carol).json() == {"has_privileged_access": True}


# --- server endpoints and authentication ---------------------------------------------------------------------------


def test_version_server_info_health_me(call: Call) -> None:
    version = call("GET", "/version").json()
    assert isinstance(version, str) and version.startswith("0.") and "non-FIPS" in version
    info = call("GET", "/server-info").json()
    assert info["version"] == version and info["default_username"] == "admin" and info["fips_mode"] is False
    health = call("GET", "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "UP" and health.json()["dependencies"]["database"]["status"] == "UP"
    assert call("GET", "/me").json() == {"user": "admin"}


def test_health_is_503_when_the_store_fails(server: Any, call: Call) -> None:
    def broken() -> None:
        raise RuntimeError("database gone")

    server.store.health = broken
    response = call("GET", "/health")
    assert response.status_code == 503
    assert response.json()["status"] == "DOWN"


def test_metrics_count_requests_and_operations(call: Call) -> None:
    uid = create_key(call)
    call("POST", "/kmip/2_1", json=get_request(uid))
    call("POST", "/kmip/2_1", json=get_request("missing"))
    text = call("GET", "/metrics").text
    assert 'keystead_http_requests_total{endpoint="/kmip/2_1",method="POST",status="200"} 2.0' in text
    assert 'keystead_kmip_operations_total{operation="get",result="operation_failed",transport="http"} 1.0' in text
    assert "keystead_http_request_duration_seconds_bucket" in text


def test_openapi_describes_every_route(server: Any, call: Call) -> None:
    document = call("GET", "/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for route in server.app.router.routes:
        assert route.method.lower() in document["paths"][route.path], route.path


def test_authentication_required_when_configured() -> None:
    call = caller(build_server(api_tokens=["t:alice"]))
    response = call("GET", "/me")
    assert response.status_code == 401
    assert response.text.startswith("Access denied")
    assert call("POST", "/kmip/2_1", json=CREATE_AES, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert call("GET", "/me", headers={"authorization": "Bearer t"}).json() == {"user": "alice"}
    for public in ("/health", "/version", "/openapi.json", "/metrics"):
        assert call("GET", public).status_code == 200


def test_incomplete_hsm_options_refuse_to_start() -> None:
    from kms_backend.server.config import ConfigError

    with pytest.raises(ConfigError, match="HSM options go together: --hsm-token-label, --hsm-pin, --hsm-kek-label"):
        build_server(hsm_module="/usr/lib/softhsm/libsofthsm2.so")


def test_bare_operations_on_the_loop_are_reads_only_with_a_remote_database() -> None:
    get = b'{"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": "k"}]}'
    create = b'{"tag": "Create", "value": []}'
    assert cheap_bare_operation(get) and cheap_bare_operation(create)
    assert cheap_bare_read(get) and not cheap_bare_read(create)
