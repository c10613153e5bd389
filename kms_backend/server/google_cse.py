"""Google Workspace client-side encryption (CSE): the Key Access Control List Service (KACLS) API at ``/google_cse``.

Google's CSE key-service API (developers.google.com/workspace/cse/reference): ``status``, ``certs``, ``wrap``,
``unwrap``, ``digest``, ``rewrap``, ``privilegedwrap``, ``privilegedunwrap``, ``privatekeysign``,
``privatekeydecrypt``, ``privilegedprivatekeydecrypt`` and ``wrapprivatekey``. Requests carry two JWTs in the body:
the *authentication* token of the customer's identity provider (who the user is) and the *authorization* token
issued by Google (what the user may do to which resource: ``role``, ``resource_name``, ``kacls_url``). Both are
checked against the configured issuers; their emails must match (``google_email`` first), the role must allow the
operation and ``kacls_url`` must be this service's. The privileged operations, which bypass the documents' access
lists, take the authentication token of a user listed in ``google_cse_privileged_users``. Failures answer Google's
structured error ``{"code", "message", "details"}``: 400 bad input, 401 a token that is not genuine, 403 a genuine
token that does not allow the request.

Data encryption keys are wrapped by the KMS key ``google_cse_key_id`` (AES-256-GCM through KMIP Encrypt, the
resource name as additional data): ``wrapped_key = base64(nonce(12) || ciphertext || tag(16))``, the layout
Cosmian KMS uses, so keys wrapped by either server unwrap in the other. S/MIME private keys (Gmail CSE) are wrapped
the same way without additional data.

``rewrap`` moves a key from another KACLS to this one as Google describes it: this service signs a KACLS token
(``aud: kacls-migration``) with ``google_cse_signing_key_id``, whose public key ``/certs`` publishes, and calls the
original KACLS's ``privilegedunwrap``; in turn ``privilegedunwrap`` here accepts such tokens from the KACLS listed
in ``google_cse_kacls_peers``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from .. import __version__
from ..engine import keymaterial
from ..kmip import _schema_data as S
from ..kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    HashingAlgorithm,
    LinkType,
    Operation,
    PaddingMethod,
    ResultReason,
    Tag,
)
from ..kmip.errors import KmipError
from ..store.base import StoreError
from . import key_services
from .auth import Fetcher, fetch_url
from .config import JwtIssuer, ServerConfig
from .http_app import JSON, Request, Response, Route
from .tokens import TokenError, TokenVerifier, string_claim

if TYPE_CHECKING:
    from ..engine.engine import Engine

log = logging.getLogger("keystead.server.google_cse")

NONCE_BYTES = 12
TAG_BYTES = 16
#: Google's size limits (bytes, after base64 decoding where the field is base64).
MAX_KEY = 128
MAX_WRAPPED_KEY = 1024
MAX_WRAPPED_PRIVATE_KEY = 8192
MAX_DIGEST = 128
MAX_ENCRYPTED_DEK = 1024
MAX_REASON = 1024
MAX_RESOURCE_NAME = 128

#: The audience of Google's authorization tokens, and of the tokens one KACLS gives another (privilegedunwrap).
GOOGLE_AUDIENCE = "cse-authorization"
MIGRATION_AUDIENCE = "kacls-migration"
GOOGLE_APPLICATIONS = ("drive", "meet", "calendar", "gmail")
GOOGLE_MIGRATION_ISSUER = "apps-security-cse-kaclscommunication@system.gserviceaccount.com"
GOOGLE_JWKS = "https://www.googleapis.com/service_accounts/v1/jwk/"
#: Lifetime of the tokens this KACLS signs for another.
PEER_TOKEN_SECONDS = 300
PEER_TIMEOUT_SECONDS = 10.0

#: Authorization-token roles that allow each operation.
ROLES: dict[str, frozenset[str]] = {
    "wrap": frozenset({"writer", "upgrader"}),
    "unwrap": frozenset({"reader", "writer", "upgrader"}),
    "digest": frozenset({"verifier"}),
    "rewrap": frozenset({"migrator"}),
    "privatekeysign": frozenset({"signer"}),
    "privatekeydecrypt": frozenset({"decrypter"}),
}

OPERATIONS = (
    "certs",
    "digest",
    "privatekeydecrypt",
    "privatekeysign",
    "privilegedprivatekeydecrypt",
    "privilegedunwrap",
    "privilegedwrap",
    "rewrap",
    "status",
    "unwrap",
    "wrap",
    "wrapprivatekey",
)

#: KMIP failures that say the data is wrong (a wrapped key that does not authenticate), not the service.
_DATA_FAILURES = frozenset({ResultReason.CRYPTOGRAPHIC_FAILURE, ResultReason.INVALID_MESSAGE})

_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, authorization"),
    (b"access-control-max-age", b"3600"),
]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha-1": hashes.SHA1,
    "sha-224": hashes.SHA224,
    "sha-256": hashes.SHA256,
    "sha-384": hashes.SHA384,
    "sha-512": hashes.SHA512,
}
_DIGEST_HASHES: dict[int, type[hashes.HashAlgorithm]] = {32: hashes.SHA256, 48: hashes.SHA384, 64: hashes.SHA512}
_SIGN_ALGORITHMS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256withrsa": hashes.SHA256,
    "sha384withrsa": hashes.SHA384,
    "sha512withrsa": hashes.SHA512,
}
_DECRYPT_ALGORITHMS: dict[str, type[hashes.HashAlgorithm] | None] = {
    "rsa/ecb/pkcs1padding": None,
    "rsa/ecb/oaepwithsha-1andmgf1padding": hashes.SHA1,
    "rsa/ecb/oaepwithsha-256andmgf1padding": hashes.SHA256,
    "rsa/ecb/oaepwithsha-384andmgf1padding": hashes.SHA384,
    "rsa/ecb/oaepwithsha-512andmgf1padding": hashes.SHA512,
}


def google_issuers() -> tuple[JwtIssuer, ...]:
    """Google's issuers of CSE authorization tokens (Drive, Meet, Calendar, Gmail, and KACLS migration), each with
    its JWKS, audience ``cse-authorization``."""
    names = [f"gsuitecse-tokenissuer-{app}@system.gserviceaccount.com" for app in GOOGLE_APPLICATIONS]
    names.append(GOOGLE_MIGRATION_ISSUER)
    return tuple(
        JwtIssuer(issuer=name, jwks_uri=GOOGLE_JWKS + name, audience=(GOOGLE_AUDIENCE,), algorithms=("RS256",))
        for name in names
    )


class CseError(Exception):
    """Ends a CSE request with Google's structured error reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_DETAILS = {
    400: "bad request",
    401: "a token could not be verified",
    403: "the tokens do not allow this request",
    404: "not found",
    500: "internal error of the key service",
    502: "the original key service failed",
    503: "the key service is unavailable now",
}


def error_response(status: int, message: str, operation: str) -> Response:
    """``{"code", "message", "details"}`` (Google's structured error reply), with the CORS headers."""
    body = {"code": status, "message": message, "details": f"{operation}: {_DETAILS.get(status, 'error')}"}
    return Response(status, json.dumps(body).encode(), JSON, list(_CORS))


def _normalized_url(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass(frozen=True, slots=True)
class Authorized:
    """What the tokens of a request allow: the user (email) and the resource."""

    email: str
    resource_name: str
    perimeter_id: str
    claims: Mapping[str, Any]


class GoogleCse:
    """The KACLS endpoints; each handler returns a Response (JSON) and answers failures as Google specifies."""

    def __init__(
        self,
        config: ServerConfig,
        engine: Engine,
        *,
        fetch: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.google_cse_kacls_url is not None
        self.kacls_url = _normalized_url(config.google_cse_kacls_url)
        self.key_id = config.google_cse_key_id
        self.signing_key_id = config.google_cse_signing_key_id
        self.engine = engine
        self.user = config.google_cse_user or config.default_username
        self.clock = clock
        fetcher = fetch or fetch_url
        cache = float(config.jwks_cache_seconds)
        self.authentication = TokenVerifier(
            config.google_cse_authentication_issuers, cache_seconds=cache, fetch=fetcher, clock=clock
        )
        self.authorization = TokenVerifier(
            config.google_cse_authorization_issuers or google_issuers(), cache_seconds=cache, fetch=fetcher, clock=clock
        )
        self.privileged_users = {entry.strip().casefold() for entry in config.google_cse_privileged_users}
        self.peers = {_normalized_url(url) for url in config.google_cse_kacls_peers}
        self.peer_tokens = TokenVerifier(
            [
                JwtIssuer(
                    issuer=url,
                    jwks_uri=url + "/certs",
                    audience=(MIGRATION_AUDIENCE,),
                    algorithms=("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"),
                )
                for url in sorted(self.peers)
            ],
            cache_seconds=cache,
            fetch=fetcher,
            clock=clock,
        )

    def routes(self) -> list[Route]:
        handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "wrap": self.wrap,
            "unwrap": self.unwrap,
            "digest": self.digest,
            "rewrap": self.rewrap,
            "privilegedwrap": self.privileged_wrap,
            "privilegedunwrap": self.privileged_unwrap,
            "privatekeysign": self.private_key_sign,
            "privatekeydecrypt": self.private_key_decrypt,
            "privilegedprivatekeydecrypt": self.privileged_private_key_decrypt,
            "wrapprivatekey": self.wrap_private_key,
        }
        found = [
            Route(
                "GET",
                "/google_cse/status",
                self._endpoint("status", lambda _body: self.status(), body=False),
                "Google Workspace CSE: the KACLS status",
                public=True,
                blocking=False,
                tag="google_cse",
            ),
            Route(
                "GET",
                "/google_cse/certs",
                self._endpoint("certs", lambda _body: self.certs(), body=False),
                "Google Workspace CSE: the JWKS of the key that signs this KACLS's tokens",
                public=True,
                tag="google_cse",
            ),
        ]
        for name, handler in handlers.items():
            found.append(
                Route(
                    "POST",
                    f"/google_cse/{name}",
                    self._endpoint(name, handler),
                    f"Google Workspace CSE: {name} (Google's KACLS API; tokens in the JSON body)",
                    public=True,
                    request_types=(JSON,),
                    tag="google_cse",
                )
            )
        for route in list(found):
            found.append(
                Route(
                    "OPTIONS",
                    route.path,
                    self._preflight,
                    "CORS preflight (browsers call the KACLS directly)",
                    public=True,
                    blocking=False,
                    tag="google_cse",
                )
            )
        return found

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _preflight(self, _request: Request) -> Response:
        return Response(204, b"", JSON, list(_CORS))

    def _endpoint(
        self, name: str, handler: Callable[[dict[str, Any]], dict[str, Any]], *, body: bool = True
    ) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                payload = self._body(request) if body else {}
                result = handler(payload)
            except CseError as exc:
                log.info("google_cse %s refused (%d): %s", name, exc.status, exc.message)
                return error_response(exc.status, exc.message, name)
            except TokenError as exc:
                log.info("google_cse %s refused (%d): %s", name, exc.status, exc.message)
                return error_response(exc.status, exc.message, name)
            except KmipError as exc:
                log.warning("google_cse %s: KMIP failure: %s", name, exc.message)
                status = 400 if exc.reason in _DATA_FAILURES else 500
                return error_response(status, f"the key operation failed: {exc.message}", name)
            except StoreError:
                log.exception("google_cse %s: storage failure", name)
                return error_response(503, "the key service's storage is unavailable", name)
            except Exception:  # a bug: logged, answered in Google's shape, its text not returned
                log.exception("google_cse %s: internal error", name)
                return error_response(500, "internal error of the key service", name)
            return Response(200, json.dumps(result).encode(), JSON, list(_CORS))

        return endpoint

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        try:
            return key_services.json_object(request.body)
        except ValueError as exc:
            raise CseError(400, str(exc)) from None

    # -- token checks ---------------------------------------------------------------------------------------------
    def _check_kacls_url(self, claims: Mapping[str, Any], what: str) -> None:
        url = claims.get("kacls_url")
        if url is not None and (not isinstance(url, str) or _normalized_url(url) != self.kacls_url):
            raise CseError(403, f"the {what} is for the key service {url!r}, not {self.kacls_url!r}")

    def _authorization(self, body: Mapping[str, Any], operation: str) -> Authorized:
        """The authorization token (Google's): genuine, for this KACLS, with a role that allows ``operation``."""
        claims = self.authorization.verify(body.get("authorization"), "authorization token")
        role = string_claim(claims, "role")
        allowed = ROLES[operation]
        if role not in allowed:
            needed = " or ".join(sorted(allowed))
            raise CseError(403, f"the authorization token's role {role!r} does not allow {operation} (needs {needed})")
        self._check_kacls_url(claims, "authorization token")
        email = string_claim(claims, "email")
        if email is None:
            raise CseError(401, "the authorization token has no email claim")
        resource_name = claims.get("resource_name")
        if not isinstance(resource_name, str):
            raise CseError(401, "the authorization token has no resource_name claim")
        perimeter_id = claims.get("perimeter_id")
        return Authorized(email, resource_name, perimeter_id if isinstance(perimeter_id, str) else "", claims)

    def _authentication(self, body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        """The authentication token (the identity provider's): genuine; returns the user's email and the claims."""
        claims = self.authentication.verify(body.get("authentication"), "authentication token")
        self._check_kacls_url(claims, "authentication token")
        # google_email, when present, is the user's Workspace identity (the IdP's email may differ).
        email = string_claim(claims, "google_email") or string_claim(claims, "email")
        if email is None:
            raise CseError(401, "the authentication token has neither a google_email nor an email claim")
        return email, claims

    def _privileged(self, body: Mapping[str, Any], operation: str) -> str:
        """The authentication token of an administrator listed in ``google_cse_privileged_users``: the privileged
        operations bypass the documents' access lists, so a valid identity alone is not enough."""
        email, _ = self._authentication(body)
        folded = email.casefold()
        _, _, domain = folded.rpartition("@")
        if folded not in self.privileged_users and f"@{domain}" not in self.privileged_users:
            raise CseError(403, f"{email} may not call {operation}: it is not in google_cse_privileged_users")
        return email

    def _tokens(self, body: Mapping[str, Any], operation: str) -> Authorized:
        """Both tokens, for the same user (emails compared without case)."""
        authorized = self._authorization(body, operation)
        email, _ = self._authentication(body)
        if email.casefold() != authorized.email.casefold():
            raise CseError(403, "the authentication and authorization tokens name different users")
        delegated = string_claim(authorized.claims, "delegated_to")
        if delegated is not None and delegated.casefold() != email.casefold():
            raise CseError(403, "the authorization token is delegated to another user")
        return authorized

    @staticmethod
    def _reason(body: Mapping[str, Any]) -> str:
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise CseError(400, "'reason' must be a string")
        if len(reason.encode()) > MAX_REASON:
            raise CseError(400, f"'reason' is longer than {MAX_REASON} bytes")
        return reason

    # -- the wrapping key -----------------------------------------------------------------------------------------
    def _call(self, operation: Operation, payload: Any) -> Any:
        try:
            return self.engine.run_operation(operation, payload, self.user)
        except KmipError as exc:
            if exc.reason in _DATA_FAILURES:
                raise
            log.error("google_cse: KMIP %s on %s failed: %s", operation.name, self.key_id, exc.message)
            raise CseError(500, f"the key service cannot use its KMS key: {exc.message}") from None

    def _wrap(self, plaintext: bytes, aad: bytes | None) -> bytes:
        request = S.EncryptRequest(
            unique_identifier=self.key_id,
            cryptographic_parameters=S.CryptographicParameters(
                block_cipher_mode=BlockCipherMode.GCM,
                cryptographic_algorithm=CryptographicAlgorithm.AES,
                iv_length=NONCE_BYTES * 8,
                tag_length=TAG_BYTES,
            ),
            data=plaintext,
            authenticated_encryption_additional_data=aad,
        )
        response = self._call(Operation.ENCRYPT, request)
        nonce, ciphertext, tag = response.iv_counter_nonce, response.data, response.authenticated_encryption_tag
        if not isinstance(nonce, bytes) or not isinstance(ciphertext, bytes) or not isinstance(tag, bytes):
            raise CseError(500, "the KMS key did not answer AES-GCM (is google_cse_key_id an AES key?)")
        return nonce + ciphertext + tag

    def _unwrap(self, wrapped: bytes, aad: bytes | None, what: str = "wrapped key") -> bytes:
        if len(wrapped) < NONCE_BYTES + TAG_BYTES:
            raise CseError(400, f"the {what} is too short")
        request = S.DecryptRequest(
            unique_identifier=self.key_id,
            cryptographic_parameters=S.CryptographicParameters(
                block_cipher_mode=BlockCipherMode.GCM,
                cryptographic_algorithm=CryptographicAlgorithm.AES,
                tag_length=TAG_BYTES,
            ),
            data=wrapped[NONCE_BYTES:-TAG_BYTES],
            iv_counter_nonce=wrapped[:NONCE_BYTES],
            authenticated_encryption_tag=wrapped[-TAG_BYTES:],
            authenticated_encryption_additional_data=aad,
        )
        try:
            response = self._call(Operation.DECRYPT, request)
        except KmipError:
            raise CseError(
                400,
                f"the {what} cannot be unwrapped: it was not wrapped by this key service for "
                "this resource, or it is corrupted",
            ) from None
        data = response.data
        if not isinstance(data, bytes):
            raise CseError(500, "the KMS key answered no data")
        return data

    def _private_key(self, body: Mapping[str, Any]) -> rsa.RSAPrivateKey:
        wrapped = self._field(body, "wrapped_private_key", MAX_WRAPPED_PRIVATE_KEY)
        der = self._unwrap(wrapped, None, "wrapped private key")
        try:
            key = serialization.load_der_private_key(der, password=None)
        except ValueError:
            raise CseError(400, "the wrapped private key does not hold a DER private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CseError(400, "the wrapped private key is not an RSA key")
        return key

    @staticmethod
    def _field(body: Mapping[str, Any], name: str, max_bytes: int) -> bytes:
        try:
            return key_services.b64decode(body.get(name), name, max_bytes)
        except ValueError as exc:
            raise CseError(400, str(exc)) from None

    @staticmethod
    def _text(body: Mapping[str, Any], name: str, max_bytes: int, *, required: bool = True) -> str:
        value = body.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise CseError(400, f"'{name}' must be a non-empty string")
        if len(value.encode()) > max_bytes:
            raise CseError(400, f"'{name}' is longer than {max_bytes} bytes")
        return value

    # -- endpoints ------------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """``GET /status``: this KACLS and what it supports."""
        return {
            "server_type": "KACLS",
            "vendor_id": "Keystead",
            "version": __version__,
            "name": "Keystead KMS",
            "kacls_url": self.kacls_url,
            "operations_supported": list(OPERATIONS),
        }

    def certs(self) -> dict[str, Any]:
        """``GET /certs``: the JWKS with the public key of ``google_cse_signing_key_id`` (empty when unset)."""
        if not self.signing_key_id:
            return {"keys": []}
        uid, _ = self._signing_key()
        public = self._signing_public_key()
        numbers = public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": uid,
                    "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                }
            ]
        }

    def wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /wrap``: the DEK wrapped for the authorization token's resource."""
        authorized = self._tokens(body, "wrap")
        self._reason(body)
        key = self._field(body, "key", MAX_KEY)
        wrapped = self._wrap(key, authorized.resource_name.encode())
        log.info("google_cse wrap for %s on %r", authorized.email, authorized.resource_name)
        return {"wrapped_key": key_services.b64encode(wrapped)}

    def unwrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /unwrap``: the DEK, if the tokens allow the user to read the resource it was wrapped for."""
        authorized = self._tokens(body, "unwrap")
        self._reason(body)
        wrapped = self._field(body, "wrapped_key", MAX_WRAPPED_KEY)
        key = self._unwrap(wrapped, authorized.resource_name.encode())
        log.info("google_cse unwrap for %s on %r", authorized.email, authorized.resource_name)
        return {"key": key_services.b64encode(key)}

    def digest(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /digest``: the resource key hash of a wrapped DEK (authorization token only, role verifier)."""
        authorized = self._authorization(body, "digest")
        self._reason(body)
        wrapped = self._field(body, "wrapped_key", MAX_WRAPPED_KEY)
        key = self._unwrap(wrapped, authorized.resource_name.encode())
        return {"resource_key_hash": resource_key_hash(key, authorized.resource_name, authorized.perimeter_id)}

    def privileged_wrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /privilegedwrap``: wrap a DEK for ``resource_name`` (bulk import by an administrator; the
        authentication token alone)."""
        email = self._privileged(body, "privilegedwrap")
        self._reason(body)
        key = self._field(body, "key", MAX_KEY)
        resource_name = self._text(body, "resource_name", MAX_RESOURCE_NAME)
        self._text(body, "perimeter_id", MAX_RESOURCE_NAME, required=False)
        wrapped = self._wrap(key, resource_name.encode())
        log.info("google_cse privilegedwrap for %s on %r", email, resource_name)
        return {"wrapped_key": key_services.b64encode(wrapped)}

    def privileged_unwrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /privilegedunwrap``: the DEK of an exported or migrated resource, for an identity provider's
        token or a token signed by a KACLS of ``google_cse_kacls_peers`` naming this KACLS and that resource."""
        self._reason(body)
        resource_name = self._text(body, "resource_name", MAX_RESOURCE_NAME)
        who = self._privileged_caller(body, resource_name)
        wrapped = self._field(body, "wrapped_key", MAX_WRAPPED_KEY)
        key = self._unwrap(wrapped, resource_name.encode())
        log.info("google_cse privilegedunwrap for %s on %r", who, resource_name)
        return {"key": key_services.b64encode(key)}

    def _privileged_caller(self, body: Mapping[str, Any], resource_name: str) -> str:
        token = body.get("authentication")
        issuer = _unverified_issuer(token)
        if issuer is not None and _normalized_url(issuer) in self.peers:
            claims = self.peer_tokens.verify(token, "KACLS token")
            if not isinstance(claims.get("kacls_url"), str):
                raise CseError(401, "the KACLS token has no kacls_url claim")
            self._check_kacls_url(claims, "KACLS token")
            if claims.get("resource_name") != resource_name:
                raise CseError(403, "the KACLS token is for another resource")
            return issuer
        return self._privileged(body, "privilegedunwrap")

    def rewrap(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /rewrap``: a DEK wrapped by ``original_kacls_url`` (this KACLS or a configured peer), wrapped
        again by this KACLS, with its resource key hash (role migrator)."""
        authorized = self._authorization(body, "rewrap")
        reason = self._reason(body)
        original = self._text(body, "original_kacls_url", 2048)
        wrapped = self._field(body, "wrapped_key", MAX_WRAPPED_KEY)
        origin = _normalized_url(original)
        if origin == self.kacls_url:
            key = self._unwrap(wrapped, authorized.resource_name.encode())
        elif origin in self.peers:
            key = self._unwrap_at_peer(origin, wrapped, authorized.resource_name, reason)
        else:
            raise CseError(403, f"the original KACLS {original!r} is not one of google_cse_kacls_peers")
        rewrapped = self._wrap(key, authorized.resource_name.encode())
        log.info("google_cse rewrap from %s for %s on %r", origin, authorized.email, authorized.resource_name)
        return {
            "resource_key_hash": resource_key_hash(key, authorized.resource_name, authorized.perimeter_id),
            "wrapped_key": key_services.b64encode(rewrapped),
        }

    def _unwrap_at_peer(self, peer: str, wrapped: bytes, resource_name: str, reason: str) -> bytes:
        token = self._peer_token(peer, resource_name)
        request = {
            "authentication": token,
            "reason": reason or "KACLS migration",
            "resource_name": resource_name,
            "wrapped_key": key_services.b64encode(wrapped),
        }
        try:
            with httpx.Client(timeout=PEER_TIMEOUT_SECONDS) as client:
                response = client.post(peer + "/privilegedunwrap", json=request)
        except httpx.HTTPError as exc:
            raise CseError(502, f"the original KACLS cannot be reached: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            message = answer.get("message") if isinstance(answer, dict) else response.text[:200]
            raise CseError(502, f"the original KACLS refused privilegedunwrap ({response.status_code}): {message}")
        try:
            return key_services.b64decode(answer.get("key"), "key", MAX_KEY)
        except ValueError as exc:
            raise CseError(502, f"the original KACLS answered a bad key: {exc}") from None

    def _peer_token(self, peer: str, resource_name: str) -> str:
        """A JWT (RS256) signed in the KMS by ``google_cse_signing_key_id``: this KACLS asks ``peer`` to unwrap."""
        uid, _ = self._signing_key()
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": uid}
        claims = {
            "iss": self.kacls_url,
            "aud": MIGRATION_AUDIENCE,
            "kacls_url": peer,
            "resource_name": resource_name,
            "iat": now,
            "exp": now + PEER_TOKEN_SECONDS,
        }
        signing_input = (_b64url(_compact(header)) + "." + _b64url(_compact(claims))).encode()
        request = S.SignRequest(
            unique_identifier=uid,
            cryptographic_parameters=S.CryptographicParameters(
                cryptographic_algorithm=CryptographicAlgorithm.RSA,
                padding_method=PaddingMethod.PKCS1_V1_5,
                hashing_algorithm=HashingAlgorithm.SHA_256,
            ),
            data=signing_input,
        )
        signature = self._call(Operation.SIGN, request).signature_data
        if not isinstance(signature, bytes):
            raise CseError(500, "the signing key answered no signature")
        return signing_input.decode() + "." + _b64url(signature)

    def _signing_key(self) -> tuple[str, Any]:
        """The signing private key's unique identifier and attributes (the configuration may name it by tags)."""
        if not self.signing_key_id:
            raise CseError(500, "rewrap from another KACLS needs google_cse_signing_key_id")
        response = self._call(
            Operation.GET_ATTRIBUTES,
            S.GetAttributesRequest(unique_identifier=self.signing_key_id, attribute_reference=[Tag.LINK]),
        )
        return str(response.unique_identifier), response.attributes

    def _signing_public_key(self) -> rsa.RSAPublicKey:
        _, attributes = self._signing_key()
        public_uid = None
        for tag, value in attributes.entries:
            if tag == Tag.LINK and value.link_type == LinkType.PUBLIC_KEY_LINK:
                public_uid = str(value.linked_object_identifier)
        if public_uid is None:
            raise CseError(500, "google_cse_signing_key_id is not a private key linked to its public key")
        got = self._call(Operation.GET, S.GetRequest(unique_identifier=public_uid))
        public = serialization.load_der_public_key(keymaterial.public_key_der(got.managed_object))
        if not isinstance(public, rsa.RSAPublicKey):
            raise CseError(500, "google_cse_signing_key_id is not an RSA key")
        return public

    def private_key_sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /privatekeysign`` (Gmail CSE, role signer): sign a digest with a wrapped S/MIME private key."""
        authorized = self._tokens(body, "privatekeysign")
        self._reason(body)
        key = self._private_key(body)
        self._check_spki(key, authorized.claims.get("spki_hash"), authorized.claims.get("spki_hash_algorithm"))
        digest = self._field(body, "digest", MAX_DIGEST)
        algorithm = body.get("algorithm")
        if not isinstance(algorithm, str):
            raise CseError(400, "'algorithm' must be a string")
        name = algorithm.replace("_", "-").lower()
        if name in _SIGN_ALGORITHMS:
            hash_cls = _SIGN_ALGORITHMS[name]
            _check_digest(digest, hash_cls)
            scheme: padding.AsymmetricPadding = padding.PKCS1v15()
        elif name in ("rsassa-pss", "rsa-pss"):
            found = _DIGEST_HASHES.get(len(digest))
            if found is None:
                raise CseError(400, "the digest is not a SHA-256, SHA-384 or SHA-512 digest")
            hash_cls = found
            salt = body.get("rsa_pss_salt_length", hash_cls().digest_size)
            if isinstance(salt, bool) or not isinstance(salt, int) or salt < 0:
                raise CseError(400, "'rsa_pss_salt_length' must be a non-negative integer")
            scheme = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=salt)
        else:
            raise CseError(
                400,
                f"unsupported signature algorithm {algorithm!r} (SHA256withRSA, SHA384withRSA, "
                "SHA512withRSA or RSASSA-PSS)",
            )
        try:
            signature = key.sign(digest, scheme, utils.Prehashed(hash_cls()))
        except ValueError as exc:
            raise CseError(400, f"cannot sign: {exc}") from None
        log.info("google_cse privatekeysign for %s", authorized.email)
        return {"signature": key_services.b64encode(signature)}

    def private_key_decrypt(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /privatekeydecrypt`` (Gmail CSE, role decrypter): decrypt a message key with a wrapped S/MIME
        private key."""
        authorized = self._tokens(body, "privatekeydecrypt")
        self._reason(body)
        key = self._private_key(body)
        self._check_spki(key, authorized.claims.get("spki_hash"), authorized.claims.get("spki_hash_algorithm"))
        dek = self._rsa_decrypt(key, body)
        log.info("google_cse privatekeydecrypt for %s", authorized.email)
        return {"data_encryption_key": key_services.b64encode(dek)}

    def privileged_private_key_decrypt(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /privilegedprivatekeydecrypt``: as privatekeydecrypt, for an administrator (authentication token
        alone), the private key named by its ``spki_hash``."""
        email = self._privileged(body, "privilegedprivatekeydecrypt")
        self._reason(body)
        key = self._private_key(body)
        spki_hash = body.get("spki_hash")
        if not isinstance(spki_hash, str) or not spki_hash:
            raise CseError(400, "'spki_hash' must be a non-empty string")
        self._check_spki(key, spki_hash, body.get("spki_hash_algorithm", "SHA-256"))
        dek = self._rsa_decrypt(key, body)
        log.info("google_cse privilegedprivatekeydecrypt for %s", email)
        return {"data_encryption_key": key_services.b64encode(dek)}

    def wrap_private_key(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /wrapprivatekey``: wrap a user's S/MIME private key (PEM or base64 DER) for the Gmail endpoints
        (authentication token)."""
        email = self._privileged(body, "wrapprivatekey")
        self._text(body, "perimeter_id", MAX_RESOURCE_NAME, required=False)
        raw = body.get("private_key")
        if not isinstance(raw, str) or not raw:
            raise CseError(400, "'private_key' must be a PEM private key or base64 DER")
        try:
            if "-----BEGIN" in raw:
                key = serialization.load_pem_private_key(raw.encode(), password=None)
            else:
                der = key_services.b64decode(raw, "private_key", MAX_WRAPPED_PRIVATE_KEY)
                key = serialization.load_der_private_key(der, password=None)
        except ValueError as exc:
            raise CseError(400, f"'private_key' cannot be read: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CseError(400, "'private_key' must be an RSA private key")
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        log.info("google_cse wrapprivatekey for %s", email)
        return {"wrapped_private_key": key_services.b64encode(self._wrap(der, None))}

    @staticmethod
    def _check_spki(key: rsa.RSAPrivateKey, expected: object, algorithm: object) -> None:
        """Gmail tokens name the certificate's key by the hash of its SubjectPublicKeyInfo: it must be this key."""
        if expected is None:
            return
        name = algorithm.lower() if isinstance(algorithm, str) else "sha-256"
        hash_cls = _HASHES.get(name.replace("sha256", "sha-256"))
        if hash_cls is None or not isinstance(expected, str):
            raise CseError(400, f"unsupported spki_hash_algorithm {algorithm!r}")
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hash_cls())
        digest.update(spki)
        if not hmac.compare_digest(key_services.b64encode(digest.finalize()), expected.strip()):
            raise CseError(403, "spki_hash does not match the wrapped private key")

    def _rsa_decrypt(self, key: rsa.RSAPrivateKey, body: Mapping[str, Any]) -> bytes:
        algorithm = body.get("algorithm")
        if not isinstance(algorithm, str) or algorithm.lower() not in _DECRYPT_ALGORITHMS:
            raise CseError(
                400,
                f"unsupported algorithm {algorithm!r} (RSA/ECB/PKCS1Padding or "
                "RSA/ECB/OAEPwithSHA-{1,256,384,512}andMGF1Padding)",
            )
        hash_cls = _DECRYPT_ALGORITHMS[algorithm.lower()]
        encrypted = self._field(body, "encrypted_data_encryption_key", MAX_ENCRYPTED_DEK)
        if hash_cls is None:
            scheme: padding.AsymmetricPadding = padding.PKCS1v15()
        else:
            label = body.get("rsa_oaep_label")
            label_bytes = self._field(body, "rsa_oaep_label", 1024) if label else None
            scheme = padding.OAEP(mgf=padding.MGF1(hash_cls()), algorithm=hash_cls(), label=label_bytes)
        try:
            return key.decrypt(encrypted, scheme)
        except ValueError:
            raise CseError(400, "the encrypted data encryption key does not decrypt with this private key") from None


def resource_key_hash(key: bytes, resource_name: str, perimeter_id: str) -> str:
    """Google's resource key hash: base64 HMAC-SHA256, keyed by the DEK, of
    ``"ResourceKeyDigest:" + resource_name + ":" + perimeter_id`` (UTF-8)."""
    message = f"ResourceKeyDigest:{resource_name}:{perimeter_id}".encode()
    return key_services.b64encode(hmac.new(key, message, hashlib.sha256).digest())


def _check_digest(digest: bytes, hash_cls: type[hashes.HashAlgorithm]) -> None:
    algorithm = hash_cls()
    if len(digest) != algorithm.digest_size:
        raise CseError(400, f"the digest is {len(digest)} bytes; {algorithm.name} digests are {algorithm.digest_size}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _unverified_issuer(token: object) -> str | None:
    """The ``iss`` of a JWT before verification: only to choose which verifier checks it."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


__all__ = ["CseError", "GoogleCse", "error_response", "google_issuers", "resource_key_hash"]
