"""The OpenAPI 3.1 document of the HTTP API (``GET /openapi.json``), generated from the route table so that it
describes exactly the endpoints the server routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from .config import ServerConfig
    from .http_app import Route

_TTLV_NODE: dict[str, Any] = {
    "type": "object",
    "description": "One JSON TTLV node (Cosmian KMS 5.x / KMIP Profiles 2.1 §5.5.2). Structures omit 'type' and "
    "hold an array of nodes.",
    "required": ["tag", "value"],
    "properties": {
        "tag": {"type": "string", "examples": ["Create", "RequestMessage", "UniqueIdentifier"]},
        "type": {"type": "string", "examples": ["Structure", "TextString", "Enumeration", "Integer"]},
        "value": {},
    },
}

_SCHEMAS: dict[str, Any] = {
    "TtlvNode": _TTLV_NODE,
    "AccessRequest": {
        "type": "object",
        "required": ["user_id", "operation_types"],
        "properties": {
            "unique_identifier": {"type": "string"},
            "user_id": {"type": "string", "description": "a user name, or '*' for every user"},
            "operation_types": {"type": "array", "items": {"type": "string"}, "examples": [["get", "encrypt"]]},
        },
    },
    "PrivilegedRequest": {
        "type": "object",
        "required": ["user_id"],
        "properties": {"user_id": {"type": "string"}, "privileged": {"type": "boolean", "default": True}},
    },
    "Success": {"type": "object", "properties": {"success": {"type": "string"}}},
    "Error": {"type": "string", "description": "plain text: '<Reason>: <message>'"},
}

_RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "/access/grant": {"$ref": "#/components/schemas/Success"},
    "/access/revoke": {"$ref": "#/components/schemas/Success"},
    "/access/list/{id}": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"user_id": {"type": "string"}, "operations": {"type": "array", "items": {"type": "string"}}},
        },
    },
    "/access/owned": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"object_id": {"type": "string"}, "state": {"type": "string"}, "attributes": {}},
        },
    },
    "/access/obtained": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "object_id": {"type": "string"},
                "owner_id": {"type": "string"},
                "state": {"type": "string"},
                "operations": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "/access/create": {"type": "object", "properties": {"has_create_permission": {"type": "boolean"}}},
    "/version": {"type": "string"},
    "/server-info": {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "fips_mode": {"type": "boolean"},
            "hsm_instances": {"type": "array"},
            "default_username": {"type": "string"},
        },
    },
    "/health": {
        "type": "object",
        "properties": {"status": {"enum": ["UP", "DOWN"]}, "latency_ms": {"type": "number"}, "dependencies": {}},
    },
    "/me": {"type": "object", "properties": {"user": {"type": "string"}}},
}

_REQUEST_SCHEMAS = {
    "/access/grant": "#/components/schemas/AccessRequest",
    "/access/revoke": "#/components/schemas/AccessRequest",
    "/access/privileged": "#/components/schemas/PrivilegedRequest",
}


def _body_schema(media_type: str, path: str, request: bool) -> dict[str, Any]:
    if media_type == "application/json":
        if request and path in _REQUEST_SCHEMAS:
            return {"$ref": _REQUEST_SCHEMAS[path]}
        if path.startswith("/kmip"):
            return {"$ref": "#/components/schemas/TtlvNode"}
        return _RESPONSE_SCHEMAS.get(path, {})
    if media_type.startswith("text/plain"):
        return {"$ref": "#/components/schemas/Error"}
    if media_type == "application/octet-stream":
        return {"type": "string", "format": "binary", "description": "binary TTLV (KMIP 2.1 §9.1)"}
    return {"type": "string"}


def _operation(route: Route, secured: bool) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": (route.method.lower() + route.path.replace("/", "_").replace("{", "").replace("}", "")),
        "tags": [route.tag],
        "responses": {
            "200": {
                "description": "success",
                "content": {t: {"schema": _body_schema(t, route.path, False)} for t in route.response_types},
            },
            "4XX": {
                "description": "bad request, unknown route, unsupported media type, payload too large, KMIP failure",
                "content": {"text/plain": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if route.path == "/health":
        op["responses"]["503"] = {"description": "the database does not answer"}
    if "{" in route.path:
        names = [part[1:-1] for part in route.path.split("/") if part.startswith("{") and part.endswith("}")]
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]
    if route.request_types:
        op["requestBody"] = {
            "required": True,
            "content": {t: {"schema": _body_schema(t, route.path, True)} for t in route.request_types},
        }
    if route.public:
        op["security"] = []
    elif secured:
        op["responses"]["401"] = {"description": "authentication required or failed"}
    return op


def openapi_document(routes: list[Route], config: ServerConfig) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, True)
    scheme = "https" if config.tls_enabled else "http"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Keystead KMS",
            "version": __version__,
            "description": "KMIP key management over HTTP, compatible with Cosmian KMS 5.x clients.",
        },
        "servers": [{"url": f"{scheme}://{config.host}:{config.http_port}"}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token or JWT"},
                "mutualTLS": {"type": "mutualTLS"},
            },
        },
        "security": [{"bearer": []}, {"mutualTLS": []}],
    }


__all__ = ["openapi_document"]
