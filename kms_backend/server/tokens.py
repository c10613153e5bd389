"""JSON Web Tokens (RFC 7519) carried inside the requests of the external key services (Google Workspace CSE,
Microsoft DKE): verified against a fixed set of trusted issuers, each with its JWKS (RFC 7517) from a URL or a file.

Unlike ``auth.Authenticator``, which names the HTTP caller, a ``TokenVerifier`` only says whether one token is
genuine and returns its claims; what the claims must say (role, email, tenant...) is the key service's business.
Failures are ``TokenError`` with the HTTP status to answer: 401 when the token is not genuine (unknown issuer,
bad signature, expired, wrong audience), so that a client knows to fetch a new one; 503 when the issuer's keys
cannot be fetched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt

from .auth import AuthError, Fetcher, KeySet, KeysUnavailable, decode_claims, fetch_url
from .config import JwtIssuer


class TokenError(Exception):
    """A token or its claims are not acceptable; ``status`` is the HTTP status to answer, the message is safe to
    return (it never echoes the token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TokenVerifier:
    """Verifies tokens from ``issuers``: signature by a key of the issuer's JWKS (``kid`` and ``alg`` must match
    it; ``none`` and algorithms the issuer does not list are refused), ``iss``, ``exp`` (required), ``nbf``,
    ``iat`` and, when the issuer lists audiences, ``aud``."""

    def __init__(
        self,
        issuers: Iterable[JwtIssuer],
        *,
        cache_seconds: float = 300.0,
        fetch: Fetcher = fetch_url,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key_sets = {issuer.issuer: KeySet(issuer, cache_seconds, fetch, clock) for issuer in issuers}
        self.clock = clock

    def __bool__(self) -> bool:
        return bool(self.key_sets)

    def verify(self, token: object, what: str) -> dict[str, Any]:
        """The claims of ``token`` (named ``what`` in messages: "authentication token"), or TokenError 401."""
        if not isinstance(token, str) or not token:
            raise TokenError(401, f"the {what} is missing")
        try:
            header = jwt.get_unverified_header(token)
            unverified: Mapping[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError(401, f"the {what} is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenError(401, f"the {what} is not signed")
        iss = unverified.get("iss")
        keys = self.key_sets.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise TokenError(401, f"the {what} comes from an issuer that is not trusted ({_shown(iss)})")
        issuer = keys.issuer
        if alg not in issuer.algorithms:
            raise TokenError(401, f"the {what} is signed with {alg}, which is not accepted for its issuer")
        kid = header.get("kid")
        try:
            key = keys.key_for(kid if isinstance(kid, str) else None, alg)
        except KeysUnavailable as exc:
            # The issuer's keys cannot be fetched: the server's trouble, not the token's (the client may retry).
            raise TokenError(503, f"the {what} cannot be checked now: {exc}") from None
        except AuthError as exc:
            raise TokenError(401, f"the {what} cannot be checked: {exc}") from None
        try:
            claims = decode_claims(token, key.key, alg, issuer)
        except jwt.ExpiredSignatureError:
            raise TokenError(401, f"the {what} has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "aud":
                raise TokenError(401, f"the {what} is not meant for this service (no audience)") from None
            raise TokenError(401, f"the {what} has no {exc.claim} claim") from None
        except jwt.InvalidAudienceError:
            raise TokenError(401, f"the {what} is not meant for this service (audience)") from None
        except jwt.ImmatureSignatureError:
            raise TokenError(401, f"the {what} is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise TokenError(401, f"the {what} has an invalid signature") from None
        except jwt.PyJWTError as exc:
            raise TokenError(401, f"the {what} is invalid: {exc}") from None
        return claims


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def string_claim(claims: Mapping[str, Any], name: str) -> str | None:
    """A non-empty string claim, or None."""
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


__all__ = ["TokenError", "TokenVerifier", "string_claim"]
