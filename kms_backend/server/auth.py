"""Who is asking: HTTP authentication by TLS client certificate, API token or JSON Web Token.

Evaluated in order (``Authenticator.authenticate``):

1. a verified TLS client certificate: the user is its subject Common Name;
2. ``Authorization: Bearer <token>``: a configured API token (compared in constant time), else a JWT signed by a
   configured issuer (RFC 7519; keys from the issuer's JWKS, RFC 7517), the user being its ``email`` or ``sub``
   claim (configurable per issuer);
3. nothing configured at all: everyone is ``default_username``.

When some method is configured and none succeeds the request is refused with 401. Algorithms are never taken from
the token alone: ``none`` is refused outright and HMAC (HS*) only when an issuer lists it explicitly.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from .config import JwtIssuer, ServerConfig

log = logging.getLogger("keystead.server.auth")

#: JWKS refetches triggered by an unknown ``kid`` are at most this frequent (a flood of forged kids must not turn
#: into a flood of requests to the identity provider).
MIN_REFETCH_SECONDS = 10.0
JWKS_FETCH_TIMEOUT = 5.0
#: Tolerated clock difference for exp/nbf/iat.
LEEWAY_SECONDS = 30


class AuthError(Exception):
    """Authentication failed; the message is safe to return (it never echoes secrets)."""


class KeysUnavailable(AuthError):
    """An issuer's JWKS cannot be loaded (network, file or JSON trouble) and no earlier copy is kept: the token may
    be genuine, the server cannot tell."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a transport knows about the caller before authentication."""

    #: Subject Common Name of a verified TLS client certificate.
    client_cert_cn: str | None = None
    #: The ``Authorization`` header, verbatim.
    authorization: str | None = None


def parse_api_tokens(pairs: tuple[str, ...], file: str | None) -> dict[str, str]:
    """``TOKEN:USER`` pairs from the configuration and from ``file`` (one per line, ``#`` comments)."""
    entries = list(pairs)
    if file:
        for line in Path(file).read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                entries.append(stripped)
    tokens: dict[str, str] = {}
    for entry in entries:
        token, sep, user = entry.partition(":")
        if not sep or not token.strip() or not user.strip():
            raise ValueError("API tokens must be TOKEN:USER pairs")
        tokens[token.strip()] = user.strip()
    return tokens


Fetcher = Callable[[str], bytes]


def fetch_url(url: str) -> bytes:
    """The body of an http(s) GET (at most 1 MiB): a JWKS."""
    # Only http(s): a file:// or other scheme in a jwks_uri is a configuration mistake, not a key source.
    if not url.startswith(("https://", "http://")):
        raise AuthError(f"unsupported JWKS URI scheme in {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=JWKS_FETCH_TIMEOUT) as response:  # noqa: S310
        body: bytes = response.read(1024 * 1024)
        return body


class KeySet:
    """The signing keys of one issuer, from a JWKS file or URI, cached for ``ttl`` seconds."""

    def __init__(self, issuer: JwtIssuer, ttl: float, fetch: Fetcher, clock: Callable[[], float]) -> None:
        self.issuer = issuer
        self.ttl = ttl
        self.fetch = fetch
        self.clock = clock
        #: (key, the "alg" its JWKS entry declares, if any)
        self.keys: list[tuple[jwt.PyJWK, str | None]] = []
        self.loaded_at = float("-inf")
        self.lock = threading.Lock()

    def _load(self) -> None:
        if self.issuer.jwks_file:
            raw = Path(self.issuer.jwks_file).read_bytes()
        else:
            assert self.issuer.jwks_uri is not None
            raw = self.fetch(self.issuer.jwks_uri)
        data = json.loads(raw)
        keys = []
        for entry in data.get("keys", []) if isinstance(data, dict) else []:
            try:
                declared = entry.get("alg")
                keys.append((jwt.PyJWK(entry), declared if isinstance(declared, str) else None))
            except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
                # One key of an unsupported type must not take the whole set down.
                log.warning("ignoring a JWKS key of issuer %s: %s", self.issuer.issuer, exc)
        self.keys = keys
        self.loaded_at = self.clock()

    def key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        with self.lock:
            now = self.clock()
            if now - self.loaded_at > self.ttl:
                self._refresh()
            key = self._match(kid, alg)
            if key is None and now - self.loaded_at > MIN_REFETCH_SECONDS and not self.issuer.jwks_file:
                self._refresh()  # the issuer may have rotated its keys since the last fetch
                key = self._match(kid, alg)
        if key is None:
            raise AuthError("no key of the issuer matches the token")
        return key

    def _refresh(self) -> None:
        try:
            self._load()
        except Exception as exc:  # network, file or JSON trouble: keep the old keys, say why
            log.warning("cannot load the JWKS of issuer %s: %s", self.issuer.issuer, exc)
            if not self.keys:
                raise KeysUnavailable("the issuer's signing keys are unavailable") from None
            self.loaded_at = self.clock()

    def _match(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        candidates = [(k, a) for k, a in self.keys if kid is None or k.key_id == kid]
        if kid is None and len(candidates) != 1:
            return None  # without a kid only an unambiguous single-key set is acceptable
        for key, declared in candidates:
            if declared is None or declared == alg:
                return key
        return None


class Authenticator:
    """Resolves the user of an HTTP request (see the module docstring for the order)."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        fetch: Fetcher = fetch_url,
        clock: Callable[[], float] = time.time,
        cert_auth: bool = False,
    ) -> None:
        self.default_username = config.default_username
        self.tokens = parse_api_tokens(config.api_tokens, config.api_tokens_file)
        self.issuers: dict[str, KeySet] = {
            issuer.issuer: KeySet(issuer, float(config.jwks_cache_seconds), fetch, clock)
            for issuer in config.jwt_issuers
        }
        self.cert_auth = cert_auth
        self.clock = clock
        supported = set(get_default_algorithms())
        for issuer in config.jwt_issuers:
            unknown = [a for a in issuer.algorithms if a not in supported or a.lower() == "none"]
            if unknown:
                raise ValueError(f"issuer {issuer.issuer}: unsupported JWT algorithm(s) {', '.join(unknown)}")

    @property
    def enabled(self) -> bool:
        """Whether any authentication method is configured (otherwise everyone is the default user)."""
        return bool(self.cert_auth or self.tokens or self.issuers)

    def authenticate(self, credentials: Credentials) -> str:
        """The user name, or AuthError."""
        if credentials.client_cert_cn:
            return credentials.client_cert_cn
        if credentials.authorization:
            scheme, _, token = credentials.authorization.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthError("the Authorization header must be 'Bearer <token>'")
            user = self._api_token_user(token)
            if user is not None:
                return user
            if self.issuers and token.count(".") == 2:
                return self.verify_jwt(token)
            raise AuthError("invalid bearer token")
        if not self.enabled:
            return self.default_username
        raise AuthError("authentication required: present a client certificate or a bearer token")

    def _api_token_user(self, token: str) -> str | None:
        found = None
        presented = token.encode()
        # Compare with every token, without stopping at a match, so timing says nothing about which one matched.
        for candidate, user in self.tokens.items():
            if hmac.compare_digest(candidate.encode(), presented):
                found = user
        return found

    def verify_jwt(self, token: str) -> str:
        """Check a JWT's signature, issuer, audience, expiry and not-before; return its user claim."""
        try:
            header = jwt.get_unverified_header(token)
            unverified: Mapping[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthError("malformed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise AuthError("unsigned JWT refused")
        iss = unverified.get("iss")
        keys = self.issuers.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise AuthError("JWT from an unknown issuer")
        issuer = keys.issuer
        if alg not in issuer.algorithms:
            raise AuthError(f"JWT algorithm {alg} is not accepted for this issuer")
        kid = header.get("kid")
        key = keys.key_for(kid if isinstance(kid, str) else None, alg)
        try:
            claims: Mapping[str, Any] = decode_claims(token, key.key, alg, issuer)
        except jwt.ExpiredSignatureError:
            raise AuthError("JWT expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("JWT audience not accepted") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("JWT not valid yet") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid JWT: {exc}") from None
        for claim in issuer.user_claims:
            value = claims.get(claim)
            if isinstance(value, str) and value:
                return value
        raise AuthError(f"JWT has none of the user claims {', '.join(issuer.user_claims)}")


def decode_claims(token: str, key: Any, alg: str, issuer: JwtIssuer) -> dict[str, Any]:
    """The claims of ``token``, checked as every Keystead JWT is: its signature by ``key`` with ``alg``, the issuer,
    the audience when the issuer names one, and ``exp``/``iss`` present, with ``LEEWAY_SECONDS`` of clock skew.
    PyJWT's errors pass through for the caller to answer in its own terms."""
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[alg],
        issuer=issuer.issuer,
        audience=list(issuer.audience) or None,
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "iss"], "verify_aud": bool(issuer.audience)},
    )
    return claims


def subject_common_name(peercert: Mapping[str, Any] | None) -> str | None:
    """The subject CN of a certificate as ``ssl.SSLSocket.getpeercert()`` returns it (None if absent)."""
    if not peercert:
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and value:
                return str(value)
    return None


__all__ = [
    "AuthError",
    "Authenticator",
    "Credentials",
    "Fetcher",
    "KeySet",
    "KeysUnavailable",
    "fetch_url",
    "parse_api_tokens",
    "subject_common_name",
]
