"""Microsoft Purview Double Key Encryption (DKE): the key service Office clients call, at ``/ms_dke``.

``GET /ms_dke/{key_name}`` answers the RSA public key that Office encrypts to, as Microsoft's DKE service does:
``{"key": {"kty": "RSA", "n": <base64 modulus>, "e": <int>, "alg": "RS256", "kid": "<service URL>/<key_name>/<key
id>"}, "cache": {"exp": "<UTC time>"}}``. The key is the public key tagged ``key_name`` in this KMS, the newest
active one when a rotation has tagged several; the key id is its unique identifier, so that content encrypted
before a rotation still names the key that decrypts it.

``POST /ms_dke/{key_name}/{key_id}/decrypt`` with ``{"alg": "RSA-OAEP-256", "value": <base64>}`` answers
``{"value": <base64>}``: RSA-OAEP with SHA-256 (KMIP Decrypt) by the private key linked to that public key. The
caller presents ``Authorization: Bearer <token>`` from Microsoft Entra ID: it must come from a configured issuer
with the configured audience, from an allowed tenant (``tid``), and name an allowed user (``email``, ``upn`` or
``preferred_username``; an entry ``@example.com`` allows a domain) or carry an allowed ``roles`` value.
Failures answer ``{"error": {"code", "message"}}`` (Microsoft's REST error shape) with 400, 401, 403 or 404.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..engine import keymaterial
from ..engine.objects import COSMIAN_VENDOR, TAG_ATTRIBUTE_NAME, tags_from_attributes
from ..kmip import _schema_data as S
from ..kmip._registry_data import (
    CryptographicAlgorithm,
    HashingAlgorithm,
    ItemType,
    LinkType,
    MaskGenerator,
    ObjectType,
    Operation,
    PaddingMethod,
    ResultReason,
    State,
    Tag,
)
from ..kmip.errors import KmipError
from ..kmip.schema import Attributes
from ..kmip.ttlv import Item
from ..store.base import StoreError
from . import key_services
from .auth import Fetcher, fetch_url
from .config import ServerConfig
from .http_app import JSON, Request, Response, Route
from .tokens import TokenError, TokenVerifier, string_claim

if TYPE_CHECKING:
    from ..engine.engine import Engine

log = logging.getLogger("keystead.server.ms_dke")

#: How long Office may cache the public key (Microsoft's sample service says one day).
CACHE_SECONDS = 24 * 3600
MAX_CIPHERTEXT = 1024
ALGORITHM = "RSA-OAEP-256"
_NOT_FOUND = {ResultReason.ITEM_NOT_FOUND, ResultReason.OBJECT_NOT_FOUND, ResultReason.PERMISSION_DENIED}


class DkeError(Exception):
    """Ends a DKE request with ``status`` and Microsoft's error JSON."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(exc: DkeError) -> Response:
    headers: list[tuple[bytes, bytes]] = []
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer error="invalid_token"'))
    body = {"error": {"code": exc.code, "message": exc.message}}
    return Response(exc.status, json.dumps(body).encode(), JSON, headers)


class MsDke:
    """The DKE endpoints."""

    def __init__(
        self,
        config: ServerConfig,
        engine: Engine,
        *,
        fetch: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.ms_dke_service_url is not None
        self.service_url = config.ms_dke_service_url.strip().rstrip("/")
        self.engine = engine
        self.user = config.ms_dke_user or config.default_username
        self.clock = clock
        self.tokens = TokenVerifier(
            config.ms_dke_issuers,
            cache_seconds=float(config.jwks_cache_seconds),
            fetch=fetch or fetch_url,
            clock=clock,
        )
        self.tenants = {t.strip().lower() for t in config.ms_dke_tenants}
        self.emails = {e.strip().casefold() for e in config.ms_dke_authorized_emails}
        self.roles = set(config.ms_dke_authorized_roles)

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/ms_dke/{key_name}",
                self._endpoint(self.public_key),
                "Microsoft DKE: the RSA public key named key_name, as a JWK with its cache lifetime",
                public=True,
                tag="ms_dke",
            ),
            Route(
                "POST",
                "/ms_dke/{key_name}/{key_id}/decrypt",
                self._endpoint(self.decrypt),
                "Microsoft DKE: RSA-OAEP-256 decryption by the private key of key_id (Entra ID bearer token)",
                public=True,
                request_types=(JSON,),
                tag="ms_dke",
            ),
        ]

    def _endpoint(self, handler: Callable[[Request], dict[str, Any]]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return Response(200, json.dumps(handler(request)).encode(), JSON)
            except DkeError as exc:
                log.info("ms_dke %s refused (%d): %s", request.path, exc.status, exc.message)
                return error_response(exc)
            except StoreError:
                log.exception("ms_dke %s: storage failure", request.path)
                return error_response(DkeError(503, "ServiceUnavailable", "the key service's storage is unavailable"))
            except Exception:  # a bug: logged, answered in Microsoft's shape, its text not returned
                log.exception("ms_dke %s: internal error", request.path)
                return error_response(DkeError(500, "InternalError", "internal error of the key service"))

        return endpoint

    def _call(self, operation: Operation, payload: Any, what: str) -> Any:
        try:
            return self.engine.run_operation(operation, payload, self.user)
        except KmipError as exc:
            if exc.reason in _NOT_FOUND:
                raise DkeError(404, "KeyNotFound", f"no {what}") from None
            if exc.reason == ResultReason.CRYPTOGRAPHIC_FAILURE:
                raise DkeError(400, "DecryptionFailed", "the value does not decrypt with this key") from None
            log.error("ms_dke: KMIP %s failed: %s", operation.name, exc.message)
            raise DkeError(500, "InternalError", f"the key service cannot use its key: {exc.message}") from None

    # -- GET /ms_dke/{key_name} -----------------------------------------------------------------------------------
    def public_key(self, request: Request) -> dict[str, Any]:
        key_name = request.params["key_name"]
        uid = self._current_public_key(key_name)
        got = self._call(Operation.GET, S.GetRequest(unique_identifier=uid), f"public key named {key_name!r}")
        public = self._rsa_public(got.managed_object, key_name)
        numbers = public.public_numbers()
        expires = datetime.fromtimestamp(self.clock(), UTC) + timedelta(seconds=CACHE_SECONDS)
        return {
            "key": {
                "kty": "RSA",
                "n": key_services.b64encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": numbers.e,
                "alg": "RS256",
                "kid": f"{self.service_url}/{urllib.parse.quote(key_name, safe='')}/{urllib.parse.quote(uid, safe='')}",
            },
            "cache": {"exp": expires.strftime("%Y-%m-%dT%H:%M:%S")},
        }

    def _current_public_key(self, key_name: str) -> str:
        """The public key tagged ``key_name``; after a rotation (a new key pair with the same tag) the newest
        active one, the older ones still decrypting what was protected with them."""
        wanted = Attributes([(Tag.OBJECT_TYPE, ObjectType.PUBLIC_KEY), (Tag.ATTRIBUTE, _tag_attribute(key_name))])
        located = self._call(Operation.LOCATE, S.LocateRequest(attributes=wanted), f"key named {key_name!r}")
        uids = [str(uid) for uid in located.unique_identifier]
        if len(uids) == 1:
            return uids[0]
        newest: tuple[int, str] | None = None
        for uid in uids:
            reference: list[Any] = [Tag.STATE, Tag.INITIAL_DATE]
            attributes = self._call(
                Operation.GET_ATTRIBUTES,
                S.GetAttributesRequest(unique_identifier=uid, attribute_reference=reference),
                f"key {uid!r}",
            ).attributes
            created = attributes.get(Tag.INITIAL_DATE)
            if attributes.get(Tag.STATE) == State.ACTIVE and (newest is None or int(created or 0) >= newest[0]):
                newest = (int(created or 0), uid)
        if newest is None:
            raise DkeError(404, "KeyNotFound", f"no active public key named {key_name!r}")
        return newest[1]

    @staticmethod
    def _rsa_public(managed_object: Any, key_name: str) -> rsa.RSAPublicKey:
        try:
            public = serialization.load_der_public_key(keymaterial.public_key_der(managed_object))
        except (KmipError, ValueError):
            public = None
        if not isinstance(public, rsa.RSAPublicKey):
            raise DkeError(404, "KeyNotFound", f"the key named {key_name!r} is not an RSA public key")
        return public

    # -- POST /ms_dke/{key_name}/{key_id}/decrypt -----------------------------------------------------------------
    def decrypt(self, request: Request) -> dict[str, Any]:
        who = self._authorize(request.headers.get("authorization"))
        key_name = request.params["key_name"]  # ASGI paths arrive percent-decoded: "a%20b" is "a b" here
        key_id = request.params["key_id"]
        try:
            body = key_services.json_object(request.body)
        except ValueError as exc:
            raise DkeError(400, "BadRequest", str(exc)) from None
        if body.get("alg") != ALGORITHM:
            raise DkeError(400, "UnsupportedAlgorithm", f"'alg' must be {ALGORITHM}")
        try:
            ciphertext = key_services.b64decode(body.get("value"), "value", MAX_CIPHERTEXT)
        except ValueError as exc:
            raise DkeError(400, "BadRequest", str(exc)) from None
        private_uid = self._private_key_of(key_name, key_id)
        parameters = S.CryptographicParameters(
            cryptographic_algorithm=CryptographicAlgorithm.RSA,
            padding_method=PaddingMethod.OAEP,
            hashing_algorithm=HashingAlgorithm.SHA_256,
            mask_generator=MaskGenerator.MGF1,
            mask_generator_hashing_algorithm=HashingAlgorithm.SHA_256,
        )
        response = self._call(
            Operation.DECRYPT,
            S.DecryptRequest(unique_identifier=private_uid, cryptographic_parameters=parameters, data=ciphertext),
            f"private key for {key_name!r}",
        )
        if not isinstance(response.data, bytes):
            raise DkeError(500, "InternalError", "the key answered no data")
        log.info("ms_dke decrypt with %s/%s for %s", key_name, key_id, who)
        return {"value": key_services.b64encode(response.data)}

    def _private_key_of(self, key_name: str, key_id: str) -> str:
        """The private key linked to public key ``key_id``, which must carry the tag ``key_name``."""
        attributes = self._call(
            Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=key_id), f"key {key_id!r}"
        ).attributes
        tags = tags_from_attributes(attributes) or []
        object_type = attributes.get(Tag.OBJECT_TYPE)
        if key_name not in tags or object_type != ObjectType.PUBLIC_KEY:
            raise DkeError(404, "KeyNotFound", f"no public key {key_id!r} named {key_name!r}")
        for tag, value in attributes.entries:
            if tag == Tag.LINK and value.link_type == LinkType.PRIVATE_KEY_LINK:
                return str(value.linked_object_identifier)
        raise DkeError(404, "KeyNotFound", f"the public key {key_id!r} has no linked private key")

    def _authorize(self, header: str | None) -> str:
        """The user of a valid Entra ID bearer token that the configuration allows to decrypt."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise DkeError(401, "Unauthorized", "an 'Authorization: Bearer <token>' header is required")
        try:
            claims = self.tokens.verify(token.strip(), "bearer token")
        except TokenError as exc:
            code = "ServiceUnavailable" if exc.status == 503 else "Unauthorized"
            raise DkeError(exc.status, code, exc.message) from None
        tenant = string_claim(claims, "tid")
        if self.tenants and (tenant is None or tenant.lower() not in self.tenants):
            raise DkeError(403, "Forbidden", f"the tenant {tenant!r} is not allowed to use this key service")
        user = next((v for v in (string_claim(claims, n) for n in ("email", "upn", "preferred_username")) if v), None)
        if not self.emails and not self.roles:
            return user or str(claims.get("sub", "?"))
        if user is not None and _email_allowed(user.casefold(), self.emails):
            return user
        roles = claims.get("roles")
        if isinstance(roles, list) and self.roles.intersection(r for r in roles if isinstance(r, str)):
            return user or str(claims.get("sub", "?"))
        raise DkeError(403, "Forbidden", f"the user {user!r} is not authorized to decrypt with this key service")


def _tag_attribute(name: str) -> S.VendorAttribute:
    """Cosmian's tag attribute (a JSON array of tags), to Locate the keys carrying the tag ``name``."""
    return S.VendorAttribute(
        vendor_identification=COSMIAN_VENDOR,
        attribute_name=TAG_ATTRIBUTE_NAME,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps([name])),
    )


def _email_allowed(email: str, allowed: set[str]) -> bool:
    if email in allowed:
        return True
    _, at, domain = email.rpartition("@")
    return bool(at) and f"@{domain}" in allowed


__all__ = ["DkeError", "MsDke", "error_response"]
