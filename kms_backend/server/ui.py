"""The web UI at ``/ui``: the single-page application built from ``kms_backend/ui/web`` (``make`` runs Vite; no Node
at run time), plus the few JSON routes it needs beside the KMIP API.

* ``GET /ui/``, ``/ui/{file}``, ``/ui/assets/{file}``: the built files, read once at start-up, gzipped when the
  browser accepts it; hashed assets are cached for a year, ``index.html`` is revalidated.
* ``GET /ui/config.json`` (public): which sign-in methods this server accepts (client certificate, API token,
  OIDC), so the sign-in page offers exactly those.
* ``GET /ui/whoami`` (public): who the request authenticates as, always 200 (``authenticated`` false with the
  reason otherwise), so that asking does not fill the browser console with 401s.
* ``GET /ui/oidc/login`` and ``/ui/oidc/callback``: OpenID Connect sign-in (authorization code flow with PKCE,
  RFC 7636; OpenID Connect Core 1.0 §3.1). The server exchanges the code (with the client secret, if the
  identity provider issued one), checks the ID token with the same ``Authenticator`` as every API call (the
  provider must be one of ``jwt_issuers``) and its nonce, then hands the ID token to the page in the URL fragment,
  which never reaches a server. The page sends it as ``Authorization: Bearer``: the API stays stateless, no
  session cookie exists to forge across sites.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import logging
import mimetypes
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from ..ui import DIST
from .auth import Authenticator, AuthError
from .config import ServerConfig

if TYPE_CHECKING:
    from .http_app import Request, Response, Route

log = logging.getLogger("keystead.server.ui")

#: Where ``make`` puts the built application (``npm run build`` in kms_backend/ui/web).
DEFAULT_DIST = DIST
OIDC_COOKIE = "keystead_oidc"
OIDC_COOKIE_SECONDS = 600
OIDC_TIMEOUT = 10.0
DISCOVERY_CACHE_SECONDS = 3600.0
#: The page loads only its own scripts and styles, may not be framed, and sends no Referer (a token in the URL
#: fragment is not part of a Referer anyway, but the object identifiers in its paths need not leave either).
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_NOT_BUILT = (
    "The web UI is not built. In the source tree run `make setup` (it needs Node.js 20 and npm), then restart "
    "keystead serve."
)


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    cache_control: bytes


def load_static(root: Path) -> dict[str, StaticFile]:
    """Every file of the built application, keyed by its path below ``root`` (``index.html``, ``assets/x.js``)."""
    files: dict[str, StaticFile] = {}
    if not (root / "index.html").is_file():
        return files
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        body = path.read_bytes()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        compressible = len(body) > 1024 and path.suffix not in (".png", ".jpg", ".woff2", ".gz")
        hashed = relative.startswith("assets/")
        files[relative] = StaticFile(
            body=body,
            gzipped=gzip.compress(body, 9, mtime=0) if compressible else None,
            content_type=content_type,
            cache_control=b"public, max-age=31536000, immutable" if hashed else b"no-cache",
        )
    return files


# ------------------------------------------------------------------------------------------------------------------
# OpenID Connect


class OidcError(Exception):
    """The sign-in cannot complete; the message is shown to the user (it never contains a secret)."""


JsonFetcher = Callable[[str], Mapping[str, Any]]
FormPoster = Callable[[str, Mapping[str, str]], Mapping[str, Any]]


def _fetch_json(url: str) -> Mapping[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise OidcError(f"unsupported URL scheme in {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
    with urllib.request.urlopen(request, timeout=OIDC_TIMEOUT) as response:  # noqa: S310
        data = json.loads(response.read(1024 * 1024))
    if not isinstance(data, dict):
        raise OidcError(f"{url} did not answer a JSON object")
    return data


def _post_form(url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise OidcError(f"unsupported URL scheme in {url!r}")
    body = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked
        url,
        data=body,
        headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=OIDC_TIMEOUT) as response:  # noqa: S310
            data = json.loads(response.read(1024 * 1024))
    except urllib.error.HTTPError as exc:
        # RFC 6749 §5.2: the error body says why (invalid_grant, invalid_client...).
        try:
            detail = json.loads(exc.read(64 * 1024))
            reason = f"{detail.get('error', exc.code)}: {detail.get('error_description', '')}".rstrip(": ")
        except (ValueError, AttributeError):
            reason = f"HTTP {exc.code}"
        raise OidcError(f"the identity provider refused the code: {reason}") from None
    if not isinstance(data, dict):
        raise OidcError("the token endpoint did not answer a JSON object")
    return data


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcSignIn:
    """The authorization code flow of one configured OpenID provider (``ui_oidc_*`` options)."""

    def __init__(
        self,
        config: ServerConfig,
        authenticator: Authenticator,
        *,
        fetch_json: JsonFetcher = _fetch_json,
        post_form: FormPoster = _post_form,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.ui_oidc_issuer is not None and config.ui_oidc_client_id is not None
        self.issuer = config.ui_oidc_issuer.rstrip("/")
        self.client_id = config.ui_oidc_client_id
        self.client_secret = config.ui_oidc_client_secret
        self.scopes = config.ui_oidc_scopes
        self.redirect_uri = config.ui_oidc_redirect_uri
        self.secure_cookie = config.tls_enabled
        self.scheme = "https" if config.tls_enabled else "http"
        self.authenticator = authenticator
        self.fetch_json = fetch_json
        self.post_form = post_form
        self.clock = clock
        self._discovery: Mapping[str, Any] | None = None
        self._discovered_at = float("-inf")
        self._lock = threading.Lock()

    def discovery(self) -> Mapping[str, Any]:
        """The provider's metadata (OpenID Connect Discovery 1.0 §4), cached for an hour."""
        with self._lock:
            if self._discovery is None or self.clock() - self._discovered_at > DISCOVERY_CACHE_SECONDS:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    data = self.fetch_json(url)
                except OidcError:
                    raise
                except Exception as exc:
                    raise OidcError(f"cannot read {url}: {exc}") from None
                for key in ("authorization_endpoint", "token_endpoint"):
                    if not isinstance(data.get(key), str):
                        raise OidcError(f"the provider's discovery document has no {key}")
                self._discovery, self._discovered_at = data, self.clock()
            return self._discovery

    def callback_uri(self, host: str) -> str:
        if self.redirect_uri:
            return self.redirect_uri
        return f"{self.scheme}://{host}/ui/oidc/callback"

    def start(self, host: str) -> tuple[str, str]:
        """The authorization URL to send the browser to, and the cookie holding state, nonce and PKCE verifier."""
        endpoint = str(self.discovery()["authorization_endpoint"])
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.callback_uri(host),
                "scope": self.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{query}", self._cookie(f"{state}.{nonce}.{verifier}", OIDC_COOKIE_SECONDS)

    def _cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.secure_cookie else ""
        return f"{OIDC_COOKIE}={value}; Path=/ui/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"

    def clear_cookie(self) -> str:
        return self._cookie("", 0)

    def finish(self, host: str, query: Mapping[str, str], cookie_value: str | None) -> tuple[str, str]:
        """Check the callback against the cookie, exchange the code; the ID token and its user."""
        if "error" in query:
            detail = f"{query['error']}: {query.get('error_description', '')}".rstrip(": ")
            raise OidcError(f"the identity provider answered {detail}")
        parts = (cookie_value or "").split(".")
        if len(parts) != 3:
            raise OidcError("the sign-in expired or was started in another browser: sign in again")
        state, nonce, verifier = parts
        if not hmac.compare_digest(query.get("state", "").encode(), state.encode()):
            raise OidcError("the sign-in answer does not match the sign-in this browser started: sign in again")
        code = query.get("code")
        if not code:
            raise OidcError("the identity provider returned no authorization code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_uri(host),
            "client_id": self.client_id,
            "code_verifier": verifier,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            tokens = self.post_form(str(self.discovery()["token_endpoint"]), form)
        except OidcError:
            raise
        except Exception as exc:
            raise OidcError(f"cannot reach the token endpoint: {exc}") from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the identity provider returned no ID token")
        try:
            user = self.authenticator.verify_jwt(id_token)
        except AuthError as exc:
            raise OidcError(f"the ID token is not accepted: {exc}") from None
        claims = jwt.decode(id_token, options={"verify_signature": False})
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise OidcError("the ID token's nonce does not match this sign-in")
        return id_token, user


# ------------------------------------------------------------------------------------------------------------------
# Routes


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


class WebUi:
    """The ``/ui`` routes (see the module docstring)."""

    def __init__(
        self,
        config: ServerConfig,
        authenticator: Authenticator,
        *,
        root: Path = DEFAULT_DIST,
        oidc: OidcSignIn | None = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.root = root
        self.files = load_static(root)
        if oidc is None and config.ui_oidc_issuer and config.ui_oidc_client_id:
            oidc = OidcSignIn(config, authenticator)
        self.oidc = oidc
        if not self.files:
            log.warning("the web UI is not built (%s has no index.html): /ui explains how to build it", root)
        self.client_configuration = json.dumps(
            {
                "auth": {
                    "none": not authenticator.enabled,
                    "default_user": config.default_username if not authenticator.enabled else None,
                    "certificate": authenticator.cert_auth,
                    "token": bool(authenticator.tokens),
                    "oidc": {"issuer": self.oidc.issuer} if self.oidc is not None else None,
                },
                "max_message_size": config.max_message_size,
            },
            separators=(",", ":"),
        ).encode()

    def routes(self) -> list[Route]:
        from .http_app import TEXT, Route

        html = ("text/html",)
        return [
            Route("GET", "/", self.to_ui, "Redirects to the web UI", public=True, blocking=False, tag="ui",
                  response_types=html),
            Route("GET", "/ui", self.to_ui, "Redirects to /ui/", public=True, blocking=False, tag="ui",
                  response_types=html),
            Route("GET", "/ui/", self.index, "The web UI", public=True, blocking=False, tag="ui", response_types=html),
            Route("GET", "/ui/{file}", self.top_file, "A file of the web UI", public=True, blocking=False, tag="ui",
                  response_types=("*/*",)),
            Route("GET", "/ui/assets/{file}", self.asset, "A script, style or image of the web UI", public=True,
                  blocking=False, tag="ui", response_types=("*/*",)),
            Route("GET", "/ui/config.json", self.configuration, "The sign-in methods this server accepts",
                  public=True, blocking=False, tag="ui"),
            Route("GET", "/ui/whoami", self.whoami, "Who this request authenticates as (always 200)", public=True,
                  tag="ui"),
            Route("GET", "/ui/oidc/login", self.oidc_login, "Starts OpenID Connect sign-in (redirect)", public=True,
                  tag="ui", response_types=(TEXT,)),
            Route("GET", "/ui/oidc/callback", self.oidc_callback, "OpenID Connect redirect URI", public=True,
                  tag="ui", response_types=(TEXT,)),
        ]  # fmt: skip

    # -- static files ---------------------------------------------------------------------------------------------
    def to_ui(self, _request: Request) -> Response:
        from .http_app import Response

        return Response(308, b"", "text/plain", [(b"location", b"/ui/")])

    def _serve(self, request: Request, relative: str) -> Response:
        from .http_app import HttpError, Response, text

        if not self.files:
            return text(503, _NOT_BUILT)
        found = self.files.get(relative)
        if found is None:
            raise HttpError(404, f"Not Found: {request.path}")
        headers = [(b"cache-control", found.cache_control), (b"vary", b"accept-encoding"), *SECURITY_HEADERS]
        if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            return Response(200, found.gzipped, found.content_type, [(b"content-encoding", b"gzip"), *headers])
        return Response(200, found.body, found.content_type, headers)

    def index(self, request: Request) -> Response:
        return self._serve(request, "index.html")

    def top_file(self, request: Request) -> Response:
        return self._serve(request, request.params["file"])

    def asset(self, request: Request) -> Response:
        return self._serve(request, "assets/" + request.params["file"])

    # -- JSON helpers ---------------------------------------------------------------------------------------------
    def configuration(self, _request: Request) -> Response:
        from .http_app import Response

        return Response(200, self.client_configuration, headers=[(b"cache-control", b"no-store")])

    def whoami(self, request: Request) -> Response:
        from .http_app import json_response

        credentials = request.credentials
        method = "certificate" if credentials.client_cert_cn else "bearer" if credentials.authorization else "none"
        try:
            user = self.authenticator.authenticate(credentials)
        except AuthError as exc:
            return json_response({"authenticated": False, "reason": str(exc)})
        return json_response({"authenticated": True, "user": user, "method": method})

    # -- OpenID Connect -------------------------------------------------------------------------------------------
    def _back_to_ui(self, fragment: str, cookie: str | None) -> Response:
        from .http_app import Response

        headers = [(b"location", f"/ui/#{fragment}".encode()), (b"cache-control", b"no-store"), *SECURITY_HEADERS]
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode()))
        return Response(303, b"", "text/plain", headers)

    def oidc_login(self, request: Request) -> Response:
        from .http_app import HttpError, Response

        if self.oidc is None:
            raise HttpError(404, "Not Found: OpenID Connect sign-in is not configured (ui_oidc_issuer)")
        try:
            url, cookie = self.oidc.start(request.headers.get("host", "localhost"))
        except OidcError as exc:
            log.warning("OIDC sign-in cannot start: %s", exc)
            return self._back_to_ui("oidc_error=" + urllib.parse.quote(str(exc)), None)
        headers = [(b"location", url.encode()), (b"set-cookie", cookie.encode()), (b"cache-control", b"no-store")]
        return Response(302, b"", "text/plain", headers)

    def oidc_callback(self, request: Request) -> Response:
        from .http_app import HttpError

        if self.oidc is None:
            raise HttpError(404, "Not Found: OpenID Connect sign-in is not configured (ui_oidc_issuer)")
        query = dict(urllib.parse.parse_qsl(request.query, keep_blank_values=True))
        try:
            token, user = self.oidc.finish(
                request.headers.get("host", "localhost"), query, _cookie(request.headers, OIDC_COOKIE)
            )
        except OidcError as exc:
            log.info("OIDC sign-in failed: %s", exc)
            return self._back_to_ui("oidc_error=" + urllib.parse.quote(str(exc)), self.oidc.clear_cookie())
        log.info("OIDC sign-in of %s", user)
        return self._back_to_ui("oidc_token=" + token, self.oidc.clear_cookie())


__all__ = ["DEFAULT_DIST", "OidcError", "OidcSignIn", "StaticFile", "WebUi", "load_static"]
