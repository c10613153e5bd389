"""The HTTP API as a small hand-routed ASGI application (served by uvicorn with httptools and uvloop).

Endpoints follow Cosmian KMS 5.x so its clients work unchanged: ``POST /kmip/2_1`` (JSON TTLV, a bare operation
or a Request Message), ``POST /kmip`` (binary TTLV, JSON or OASIS XML by Content-Type), ``/access/*``,
``/version``, ``/server-info``, ``/health``, ``/me``; plus ``/metrics`` (Prometheus) and ``/openapi.json``.

The engine is synchronous (store I/O), so each request's authentication and engine call run together in one
hop to a bounded thread pool (``threads``); the event loop only parses HTTP, reads bodies and writes responses.
Transports never touch stored objects: everything goes through ``Engine`` and ``engine.access``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.backends.openssl import backend as openssl_backend

from .. import __version__
from ..engine import access
from ..engine.engine import Engine
from ..kmip import _schema_data as S
from ..kmip import cosmian_v4, encodings, json_codec, sniff
from ..kmip._registry_data import ItemType, ObjectType, Operation, ResultReason, State, Tag
from ..kmip.errors import KmipError
from ..kmip.mapper import from_tree, to_tree
from ..kmip.ttlv import DecodeLimits, Item
from ..store.base import ObjectStore, StoreError
from . import _messages
from ._messages import AUDIT_UNAVAILABLE, INLINE_MAX_BYTES, OFFLOADED_OPERATIONS, READ_OPERATIONS, AuditScope
from .audit import AuditEntry, AuditError, AuditLog, entries_from_messages
from .auth import Authenticator, AuthError, Credentials
from .config import ServerConfig
from .guard import RateLimiter
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .proxies import TrustedProxies

log = logging.getLogger("keystead.server.http")

# The ASGI 3 callable's types (asgiref spells them with MutableMapping).
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"
XML = "application/xml"

# ------------------------------------------------------------------------------------------------------------------
# KMIP Result Reason -> HTTP status: the one table of this boundary (STYLE rule 4). Cosmian KMS answers every KMIP
# failure of a bare operation with 422 and the reason in the body; only internal failures are 5xx.
STATUS_BY_REASON: dict[ResultReason, int] = dict.fromkeys(ResultReason, 422) | {
    ResultReason.GENERAL_FAILURE: 500,
    ResultReason.INTERNAL_SERVER_ERROR: 500,
    ResultReason.AUTHENTICATION_NOT_SUCCESSFUL: 401,
}


def _enum_spelling(tag: int, value: int) -> str:
    spelled = json_codec.encode_obj(Item(tag, ItemType.ENUMERATION, int(value)))["value"]
    return str(spelled)


#: Cosmian's spelling of each Result Reason (``Item_Not_Found``), as its error bodies start with.
REASON_TEXT: dict[ResultReason, str] = {r: _enum_spelling(Tag.RESULT_REASON, r) for r in ResultReason}
_OPERATION_JSON: dict[Operation, str] = {op: _enum_spelling(Tag.OPERATION, op) for op in Operation}
#: Bare-operation root tags of ``POST /kmip/2_1`` -> (Operation, 2.1 request class). Lookup ignores case and
#: separators (``GetAttributes``, ``Get_Attributes``, ``MAC``/``Mac`` all work, as in Cosmian).
_BARE_OPERATIONS: dict[str, tuple[Operation, type[Any]]] = {}
for _op in Operation:
    _cls = S.PAYLOADS.get((2, _op, "request"))
    if _cls is not None:
        for _name in (_OPERATION_JSON[_op], _op.name):
            _BARE_OPERATIONS["".join(ch for ch in _name if ch.isalnum()).lower()] = (_op, _cls)
_RESPONSE_TAG: dict[Operation, str] = {op: f"{name}Response" for op, name in _OPERATION_JSON.items()}


#: Bare operations that run on the event loop when the store is local (SQLite, memory) and the body small: all but
#: ``_messages.OFFLOADED_OPERATIONS`` (key generation, certificates, derivation, Locate, Register, Import), as on
#: the KMIP socket. Request Messages (batches) always go to the thread pool.
_INLINE_ROOTS = frozenset(name for name, (op, _) in _BARE_OPERATIONS.items() if op not in OFFLOADED_OPERATIONS)
#: Those of them that run on the loop with a database on another host: ``_messages.READ_OPERATIONS``.
_INLINE_READ_ROOTS = frozenset(name for name, (op, _) in _BARE_OPERATIONS.items() if op in READ_OPERATIONS)


def cheap_bare_operation(body: bytes, roots: frozenset[str] = _INLINE_ROOTS) -> bool:
    """Whether a small ``/kmip/2_1`` body is, by its leading root tag, a bare operation that may run on the loop."""
    if len(body) > INLINE_MAX_BYTES:
        return False
    root = sniff.json_root_tag(body)
    return root is not None and root.replace("_", "").lower() in roots


def cheap_bare_read(body: bytes) -> bool:
    """``cheap_bare_operation`` with a database on another host: reads only."""
    return cheap_bare_operation(body, _INLINE_READ_ROOTS)


def reason_status(reason: ResultReason | int) -> int:
    """The HTTP status for a KMIP failure of a bare operation or an ``/access`` call."""
    try:
        return STATUS_BY_REASON[ResultReason(reason)]
    except ValueError:
        return 422


# ------------------------------------------------------------------------------------------------------------------
# Requests and responses


@dataclass(slots=True)
class Request:
    """One HTTP request as the handlers see it (body already read and size-checked)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    user: str = ""
    #: The peer's address (audit log).
    client: str = ""
    #: What the handler did, for metrics: (operation, result) pairs or a Response Message tree.
    operations: list[tuple[int, str]] = field(default_factory=list)
    response_tree: Item | None = None
    #: The raw query string (without ``?``), for the few routes that take parameters in the URL.
    query: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class HttpError(Exception):
    """Ends a request with ``status`` and a plain-text ``message``."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def text(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    return Response(status, (message + "\n").encode(), TEXT, headers or [])


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":")).encode(), JSON)


def _kmip_error_response(exc: KmipError) -> Response:
    return text(reason_status(exc.reason), f"{REASON_TEXT.get(exc.reason, 'General_Failure')}: {exc.message}")


def _parse_json_body(request: Request) -> Any:
    if not request.body:
        raise HttpError(400, "Bad Request: a JSON body is required")
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        raise HttpError(400, f"Bad Request: invalid JSON: {exc}") from None


def _require_str(body: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"Bad Request: {key!r} must be a non-empty string")
    return value


# ------------------------------------------------------------------------------------------------------------------
# Routes


Handler = Callable[[Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path template (``{name}`` matches one segment), handler and its documentation."""

    method: str
    path: str
    handler: Handler
    summary: str
    #: Reachable without authentication (health probes, scrapers, API discovery).
    public: bool = False
    #: Runs in the thread pool (touches the store or verifies signatures) rather than on the event loop.
    blocking: bool = True
    #: For blocking routes: a test on the body that says this request may run on the event loop after all.
    inline_hint: Callable[[bytes], bool] | None = None
    #: OpenAPI: request body media types and response description.
    request_types: tuple[str, ...] = ()
    response_types: tuple[str, ...] = (JSON,)
    tag: str = "kms"


class KmsApi:
    """The endpoint handlers: synchronous functions from ``Request`` to ``Response``."""

    def __init__(
        self,
        config: ServerConfig,
        engine: Engine,
        store: ObjectStore,
        metrics: Metrics,
        audit: AuditLog | None = None,
    ) -> None:
        self.config = config
        self.audit = audit or AuditLog(None)
        self.engine = engine
        self.store = store
        self.metrics = metrics
        self.limits = DecodeLimits(max_message_size=config.max_message_size)
        self.version_text = (
            f"{__version__} ({openssl_backend.openssl_version_text()}-{'FIPS' if config.approved_only else 'non-FIPS'})"
        )
        self.store_name = config.store_name
        self.answers_inline = config.answers_inline
        self.inline_hint = cheap_bare_read if config.inline_reads_only else cheap_bare_operation

    def routes(self) -> list[Route]:
        kmip_types = (JSON, OCTETS, XML)
        return [
            Route(
                "POST",
                "/kmip/2_1",
                self.kmip_2_1,
                "KMIP 2.1 in JSON TTLV: a bare operation (root tag = operation name, answered with "
                "<Operation>Response) or a RequestMessage (answered with a ResponseMessage)",
                request_types=(JSON,),
                response_types=(JSON, TEXT),
                tag="kmip",
                inline_hint=self.inline_hint if self.answers_inline else None,
            ),
            Route(
                "POST",
                "/kmip",
                self.kmip,
                "A KMIP Request Message (1.0-2.1) in binary TTLV (application/octet-stream), JSON TTLV "
                "(application/json) or OASIS XML (application/xml, text/xml); the response uses the same encoding",
                request_types=kmip_types,
                response_types=kmip_types,
                tag="kmip",
            ),
            Route(
                "POST",
                "/access/grant",
                self.access_grant,
                "Grant operations on an object to a user ({unique_identifier, user_id, operation_types})",
                request_types=(JSON,),
                tag="access",
            ),
            Route(
                "POST",
                "/access/revoke",
                self.access_revoke,
                "Revoke operations on an object from a user ({unique_identifier, user_id, operation_types})",
                request_types=(JSON,),
                tag="access",
            ),
            Route(
                "GET",
                "/access/list/{id}",
                self.access_list,
                "Who may do what on an object (owner only)",
                tag="access",
            ),
            Route("GET", "/access/owned", self.access_owned, "Objects the caller owns", tag="access"),
            Route("GET", "/access/obtained", self.access_obtained, "Objects shared with the caller", tag="access"),
            Route("GET", "/access/create", self.access_create, "Whether the caller may create objects", tag="access"),
            Route(
                "GET",
                "/access/privileged",
                self.access_privileged,
                "Whether the caller is a privileged (creating) user or an administrator",
                tag="access",
            ),
            Route(
                "POST",
                "/access/privileged",
                self.access_set_privileged,
                "Administrators add or remove a privileged user ({user_id, privileged: bool})",
                request_types=(JSON,),
                tag="access",
            ),
            Route("GET", "/version", self.version, "Server version (a JSON string)", public=True, blocking=False),
            Route("GET", "/server-info", self.server_info, "Version, FIPS mode, HSMs, default user"),
            Route(
                "GET",
                "/health",
                self.health,
                "200 with status UP once the server and its database answer, 503 otherwise",
                public=True,
            ),
            Route("GET", "/me", self.me, "The authenticated user"),
            Route(
                "GET",
                "/metrics",
                self.metrics_text,
                "Prometheus metrics",
                public=True,
                blocking=False,
                response_types=(METRICS_CONTENT_TYPE,),
                tag="server",
            ),
        ]

    # -- KMIP -----------------------------------------------------------------------------------------------------
    def kmip_2_1(self, request: Request) -> Response:
        """``POST /kmip/2_1``: a bare 2.1 operation or a Request Message in Cosmian JSON TTLV."""
        if request.content_type not in ("", JSON) and not request.content_type.endswith("+json"):
            raise HttpError(415, "Unsupported Media Type: /kmip/2_1 takes application/json")
        obj = _parse_ttlv_json(request.body, self.limits)
        if not isinstance(obj, dict) or not isinstance(obj.get("tag"), str):
            raise HttpError(422, "Invalid Request: the body must be one JSON TTLV object {tag, type, value}")
        root = obj["tag"]
        self._check_audit()
        if root in ("RequestMessage", "0x420078"):
            tree: Item | None = None
            try:
                tree = json_codec.decode_obj(obj, self.limits)
            except KmipError as exc:
                response = _messages.error_tree(self.engine, exc)
            else:
                response = self.engine.process_tree(tree, request.user)
            self._audit(request, entries_from_messages(tree, response))
            request.response_tree = response
            return Response(200, json_codec.encode(response).encode(), JSON)
        found = _BARE_OPERATIONS.get("".join(ch for ch in root if ch.isalnum()).lower())
        if found is None:
            raise HttpError(404, f"Route not supported: Operation: {root}")
        operation, cls = found
        value = obj.get("value")
        if not isinstance(value, list):
            raise HttpError(422, f"Invalid Request: {root} must be a Structure (its value a JSON array)")
        name = _OPERATION_JSON[operation]
        payload: Any = None
        v4 = cosmian_v4.is_v4_request(obj)  # Cosmian's 4.x clients (its Python client): read and answer their shapes
        if v4:
            value = cosmian_v4.upgrade_request(obj, int(self.engine.clock()))["value"]
        try:
            payload_item = json_codec.decode_obj(
                {"tag": "RequestPayload", "type": "Structure", "value": value}, self.limits
            )
            payload = from_tree(payload_item, cls)
            result = self.engine.run_operation(operation, payload, request.user)
            out = json_codec.encode_obj(to_tree(result))
        except KmipError as exc:
            request.operations.append((operation, "operation_failed"))
            reason = REASON_TEXT.get(exc.reason, "General_Failure").replace("_", "")
            self._audit(request, [AuditEntry(name, _uid_of(payload), "failure", reason)])
            return _kmip_error_response(exc)
        except StoreError:
            log.exception("store failure in %s", operation.name)
            request.operations.append((operation, "operation_failed"))
            self._audit(request, [AuditEntry(name, _uid_of(payload), "failure", "GeneralFailure")])
            return text(503, "Service Unavailable: storage failure")
        request.operations.append((operation, "success"))
        self._audit(request, [AuditEntry(name, _uid_of(result) or _uid_of(payload), "success")])
        out["tag"] = _RESPONSE_TAG[operation]
        if operation == Operation.RNG_SEED:  # Cosmian's JSON names RNG Seed's Data Length after its Rust field
            out["value"] = [
                {**f, "tag": "AmountOfSeedData"} if f.get("tag") == "DataLength" else f for f in out["value"]
            ]
        if v4:
            out = cosmian_v4.downgrade_response(out)
        return Response(200, json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode(), JSON)

    def kmip(self, request: Request) -> Response:
        """``POST /kmip``: a whole Request Message, encoding chosen by Content-Type."""
        kind = request.content_type
        encoding = encodings.for_content_type(kind)
        if encoding is None:
            raise HttpError(
                415,
                "Unsupported Media Type: POST /kmip takes application/octet-stream (binary TTLV), "
                "application/json (JSON TTLV) or application/xml (OASIS XML)",
            )
        audit = AuditScope(self.audit, "http", request.client) if self.audit.enabled else None
        body, tree = _messages.process(self.engine, encoding, request.body, request.user, self.limits, audit=audit)
        request.response_tree = tree
        # XML answers in the media type it was asked in (application/xml or text/xml).
        return Response(200, body, kind if encoding is encodings.XML else encoding.content_type)

    # -- audit ----------------------------------------------------------------------------------------------------
    def _check_audit(self) -> None:
        if self.audit.enabled and not self.audit.ready():
            raise HttpError(503, f"Service Unavailable: {AUDIT_UNAVAILABLE}")

    def _audit(self, request: Request, entries: Iterable[AuditEntry]) -> None:
        """Log what the request did; a fail-closed log that cannot be written withholds the answer (503)."""
        if not self.audit.enabled:
            return
        try:
            self.audit.record("http", request.client, request.user, list(entries))
        except AuditError:
            raise HttpError(503, f"Service Unavailable: {AUDIT_UNAVAILABLE}") from None

    # -- access rights --------------------------------------------------------------------------------------------
    def _access_body(self, request: Request) -> tuple[str | None, str, list[str]]:
        body = _parse_json_body(request)
        if not isinstance(body, dict):
            raise HttpError(400, "Bad Request: expected a JSON object")
        uid = _require_str(body, "unique_identifier", optional=True)
        target = _require_str(body, "user_id")
        assert target is not None
        operations = body.get("operation_types")
        if not isinstance(operations, list) or not operations or not all(isinstance(o, str) for o in operations):
            raise HttpError(400, "Bad Request: 'operation_types' must be a non-empty list of operation names")
        return uid, target, [o.lower() for o in operations]

    def _change_access(self, request: Request, allow: bool) -> Response:
        uid, target, operations = self._access_body(request)
        self._check_audit()
        name = "Grant" if allow else "Revoke"
        try:
            if "create" in operations:
                # Cosmian grants Create on the "*" object: here that is the privileged-users list (admins only).
                access.set_privileged(self.engine, request.user, target, allow)
                operations = [o for o in operations if o != "create"]
            if operations:
                if uid is None:
                    raise HttpError(400, "Bad Request: 'unique_identifier' is required for these operations")
                change = access.grant if allow else access.revoke
                change(self.engine, request.user, uid, target, operations)
        except KmipError as exc:
            reason = REASON_TEXT.get(exc.reason, "General_Failure").replace("_", "")
            self._audit(request, [AuditEntry(name, uid, "failure", reason)])
            return _kmip_error_response(exc)
        self._audit(request, [AuditEntry(name, uid, "success")])
        verb = "added" if allow else "deleted"
        return json_response({"success": f"Access for {target} successfully {verb}"})

    def access_grant(self, request: Request) -> Response:
        return self._change_access(request, True)

    def access_revoke(self, request: Request) -> Response:
        return self._change_access(request, False)

    def access_list(self, request: Request) -> Response:
        try:
            grants = access.list_access(self.engine, request.user, request.params["id"])
        except KmipError as exc:
            return _kmip_error_response(exc)
        return json_response([{"user_id": user, "operations": ops} for user, ops in sorted(grants.items())])

    def access_owned(self, request: Request) -> Response:
        rows = access.owned(self.engine, request.user)
        return json_response(
            [
                {
                    "object_id": row.uid,
                    "state": _state_text(row.state),
                    "attributes": {"ObjectType": _object_type_text(row.object_type)},
                }
                for row in rows
            ]
        )

    def access_obtained(self, request: Request) -> Response:
        rows = access.obtained(self.engine, request.user)
        return json_response(
            [
                {
                    "object_id": row.uid,
                    "owner_id": row.owner,
                    "state": _state_text(row.state),
                    "operations": list(row.operations),
                }
                for row in rows
            ]
        )

    def access_create(self, request: Request) -> Response:
        return json_response({"has_create_permission": access.may_create(self.engine, request.user)})

    def access_privileged(self, request: Request) -> Response:
        user = request.user
        privileged = user in self.engine.config.admin_users or user in access.privileged_users(self.engine)
        return json_response({"has_privileged_access": privileged})

    def access_set_privileged(self, request: Request) -> Response:
        body = _parse_json_body(request)
        if not isinstance(body, dict):
            raise HttpError(400, "Bad Request: expected a JSON object")
        target = _require_str(body, "user_id")
        assert target is not None
        allowed = body.get("privileged", True)
        if not isinstance(allowed, bool):
            raise HttpError(400, "Bad Request: 'privileged' must be true or false")
        try:
            access.set_privileged(self.engine, request.user, target, allowed)
        except KmipError as exc:
            return _kmip_error_response(exc)
        verb = "added to" if allowed else "removed from"
        return json_response({"success": f"{target} successfully {verb} the privileged users"})

    # -- server ---------------------------------------------------------------------------------------------------
    def version(self, _request: Request) -> Response:
        return json_response(self.version_text)

    def server_info(self, _request: Request) -> Response:
        return json_response(
            {
                "version": self.version_text,
                "fips_mode": self.config.approved_only,
                "hsm_instances": [],
                "default_username": self.config.default_username,
            }
        )

    def health(self, _request: Request) -> Response:
        start = time.perf_counter()
        database: dict[str, Any] = {"name": self.store_name, "status": "UP"}
        try:
            self.store.health()
        except Exception as exc:  # any failure of the backend is "DOWN", never a 500
            database = {"name": self.store_name, "status": "DOWN", "message": str(exc) or type(exc).__name__}
        status = database["status"]
        body = {
            "status": status,
            "latency_ms": round((time.perf_counter() - start) * 1000, 3),
            "dependencies": {"database": database},
        }
        return json_response(body, 200 if status == "UP" else 503)

    def me(self, request: Request) -> Response:
        return json_response({"user": request.user})

    def metrics_text(self, _request: Request) -> Response:
        return Response(200, self.metrics.render(), METRICS_CONTENT_TYPE)


def _uid_of(value: Any) -> str | None:
    """The Unique Identifier a typed request or response names, if any."""
    for attribute in ("unique_identifier", "private_key_unique_identifier"):
        uid = getattr(value, attribute, None)
        if isinstance(uid, str):
            return uid
    return None


def _state_text(name: str) -> str:
    try:
        return _enum_spelling(Tag.STATE, State[name])
    except KeyError:
        return name


def _object_type_text(name: str) -> str:
    try:
        return _enum_spelling(Tag.OBJECT_TYPE, ObjectType[name])
    except KeyError:
        return name


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_LOADS = json.JSONDecoder(parse_constant=_reject_constant).decode


def _parse_ttlv_json(body: bytes, limits: DecodeLimits) -> Any:
    """The JSON value of a ``/kmip/2_1`` body; Cosmian answers unreadable JSON with 422 "Invalid Request"."""
    if not body:
        raise HttpError(422, "Invalid Request: empty body")
    try:
        text_body = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(422, "Invalid Request: the body is not UTF-8") from None
    try:
        return _LOADS(text_body)
    except RecursionError:
        raise HttpError(422, "Invalid Request: JSON nested too deeply") from None
    except ValueError as exc:
        raise HttpError(422, f"Invalid Request: invalid JSON: {exc}") from None


# ------------------------------------------------------------------------------------------------------------------
# Router


class Router:
    """Exact paths in a dict; templates (``/access/list/{id}``) by prefix. No regex on the hot path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self.exact: dict[str, dict[str, Route]] = {}
        self.templates: list[tuple[str, str, dict[str, Route]]] = []
        #: Templates with several parameters or text after one (``/ms_dke/{key_name}/{key_id}/decrypt``): matched
        #: segment by segment, after the others.
        self.segmented: list[tuple[tuple[str, ...], dict[str, Route]]] = []
        for route in routes:
            if route.path.count("{") > 1 or ("{" in route.path and not route.path.endswith("}")):
                segments = tuple(route.path.split("/"))
                for known, methods in self.segmented:
                    if known == segments:
                        methods[route.method] = route
                        break
                else:
                    self.segmented.append((segments, {route.method: route}))
            elif "{" in route.path:
                prefix, _, rest = route.path.partition("{")
                name = rest.rstrip("}")
                for known_prefix, known_name, methods in self.templates:
                    if known_prefix == prefix and known_name == name:
                        methods[route.method] = route
                        break
                else:
                    self.templates.append((prefix, name, {route.method: route}))
            else:
                self.exact.setdefault(route.path, {})[route.method] = route

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and path parameters, or HttpError 404 / 405 (with Allow)."""
        methods = self.exact.get(path)
        params: dict[str, str] = {}
        if methods is None and len(path) > 1 and path.endswith("/"):
            methods = self.exact.get(path.rstrip("/"))
        if methods is None:
            for prefix, name, candidates in self.templates:
                if path.startswith(prefix):
                    value = path[len(prefix) :]
                    if value and "/" not in value:
                        methods, params = candidates, {name: value}
                        break
        if methods is None:
            methods, params = self._match_segments(path)
        if methods is None:
            raise HttpError(404, f"Not Found: {path}")
        route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        if route is None:
            allow = ", ".join(sorted(methods))
            raise HttpError(
                405, f"Method Not Allowed: {method} {path} (allowed: {allow})", [(b"allow", allow.encode())]
            )
        return route, params

    def _match_segments(self, path: str) -> tuple[dict[str, Route] | None, dict[str, str]]:
        parts = path.split("/")
        for segments, candidates in self.segmented:
            if len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            for expected, part in zip(segments, parts, strict=True):
                if expected.startswith("{") and expected.endswith("}"):
                    if not part:
                        break
                    params[expected[1:-1]] = part
                elif expected != part:
                    break
            else:
                return candidates, params
        return None, {}


# ------------------------------------------------------------------------------------------------------------------
# The ASGI application


class HttpApp:
    """The ASGI 3 application: routing, body limits, authentication, the thread hop, errors and metrics."""

    def __init__(
        self,
        config: ServerConfig,
        engine: Engine,
        store: ObjectStore,
        authenticator: Authenticator,
        *,
        metrics: Metrics | None = None,
        executor: Executor | None = None,
        rate_limiter: RateLimiter | None = None,
        audit: AuditLog | None = None,
        trusted_proxies: TrustedProxies | None = None,
    ) -> None:
        from .openapi import openapi_document
        from .ui import WebUi

        self.config = config
        self.metrics = metrics or Metrics()
        self.api = KmsApi(config, engine, store, self.metrics, audit)
        self.authenticator = authenticator
        self.executor = executor
        routes = self.api.routes()
        from . import key_services

        routes += key_services.routes(config, engine)  # /google_cse, /ms_dke when configured
        routes += WebUi(config, authenticator).routes()  # /ui
        openapi_route = Route(
            "GET", "/openapi.json", self._openapi, "This OpenAPI 3 document", public=True, blocking=False, tag="server"
        )
        routes.append(openapi_route)
        self.router = Router(routes)
        self.openapi_body = json.dumps(openapi_document(routes, config), indent=1).encode()
        self.max_body = config.max_message_size
        self.rate_limiter = rate_limiter or RateLimiter(0, 1)
        self.trusted_proxies = trusted_proxies or TrustedProxies(())
        self.ready = True

    def _openapi(self, _request: Request) -> Response:
        return Response(200, self.openapi_body, JSON)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        # websocket: not offered; returning without accepting makes the server refuse it.

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        endpoint = "unmatched"
        request: Request | None = None
        try:
            route, params = self.router.match(method, path)
            endpoint = route.path
            address = self._client_address(scope)
            if self.rate_limiter.enabled and route.path != "/health":
                self._check_rate(address or "?")
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
            body = await self._read_body(headers, receive)
            if body is None:
                return  # the client went away
            request = Request(method, path, headers, body, params, _credentials(scope, headers))
            request.client = address
            request.query = scope.get("query_string", b"").decode("latin-1")
            hint = route.inline_hint
            if route.blocking and self.executor is not None and not (hint is not None and hint(body)):
                loop = asyncio.get_running_loop()
                response = await loop.run_in_executor(self.executor, self._execute, route, request)
            else:
                response = self._execute(route, request)
        except HttpError as exc:
            response = text(exc.status, exc.message, exc.headers)
        if method == "HEAD":
            response = Response(response.status, b"", response.content_type, response.headers)
        await _send(send, response)
        self.metrics.observe_http(endpoint, method, response.status, time.perf_counter() - start)
        if request is not None:
            for operation, result in request.operations:
                self.metrics.observe_operation("http", operation, result)
            if request.response_tree is not None:
                self.metrics.observe_response("http", request.response_tree)

    def _client_address(self, scope: Scope) -> str:
        """The client's address: the connection's (a trusted proxy's PROXY header already named it), or, when that
        is a trusted proxy's, the client its ``X-Forwarded-For`` names (``TrustedProxies.forwarded_client``)."""
        client = scope.get("client")
        address = str(client[0]) if client else ""
        if self.trusted_proxies and address in self.trusted_proxies:
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"x-forwarded-for"]
            if forwarded:
                return self.trusted_proxies.forwarded_client(address, forwarded)
        return address

    def _check_rate(self, address: str) -> None:
        """HttpError 429 with Retry-After when the client address has used up its requests (health probes are
        never limited: a load balancer must see the server as it is)."""
        if not self.rate_limiter.allow(address):
            wait = max(1, math.ceil(self.rate_limiter.retry_after(address)))
            raise HttpError(429, "Too Many Requests: slow down and retry later", [(b"retry-after", str(wait).encode())])

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes | None:
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise HttpError(400, "Bad Request: invalid Content-Length") from None
            if size > self.max_body:
                raise HttpError(413, f"Payload Too Large: {size} bytes exceeds the limit of {self.max_body} bytes")
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                received += len(chunk)
                if received > self.max_body:
                    raise HttpError(413, f"Payload Too Large: the body exceeds the limit of {self.max_body} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _execute(self, route: Route, request: Request) -> Response:
        """Authentication and the handler, in the worker thread; every failure becomes a response here."""
        try:
            if not route.public:
                request.user = self.authenticator.authenticate(request.credentials)
            return route.handler(request)
        except HttpError as exc:
            return text(exc.status, exc.message, exc.headers)
        except AuthError as exc:
            return text(401, f"Access denied: {exc}", [(b"www-authenticate", b'Bearer realm="keystead"')])
        except KmipError as exc:
            return _kmip_error_response(exc)
        except StoreError:
            log.exception("store failure on %s %s", request.method, request.path)
            return text(503, "Service Unavailable: storage failure")
        except Exception:  # a bug: log it, never leak its text
            log.exception("internal error on %s %s", request.method, request.path)
            return text(500, "Internal server error")


def _credentials(scope: Scope, headers: dict[str, str]) -> Credentials:
    cn = None
    extensions = scope.get("extensions")
    if extensions:
        tls = extensions.get("tls")
        if tls:
            cn = tls.get("client_cert_cn")
    return Credentials(client_cert_cn=cn, authorization=headers.get("authorization"))


async def _send(send: Send, response: Response) -> None:
    headers = [
        (b"content-type", response.content_type.encode()),
        (b"content-length", str(len(response.body)).encode()),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = [
    "REASON_TEXT",
    "STATUS_BY_REASON",
    "HttpApp",
    "HttpError",
    "KmsApi",
    "Request",
    "Response",
    "Route",
    "Router",
    "reason_status",
]
