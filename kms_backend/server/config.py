"""The server's configuration: one frozen ``ServerConfig`` built from YAML < ``KEYSTEAD_*`` variables < flags.

Every option is declared once in ``OPTIONS`` (name, type, default, help). The same list generates the argparse
flags (``--http-port``), the environment variable names (``KEYSTEAD_HTTP_PORT``) and the YAML keys
(``http_port``), so the three can never drift apart (STYLE rule 7; DESIGN.md "Command-line contract").
Nothing below the entry point reads ``os.environ``: ``load_config`` takes the environment as an argument.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "KEYSTEAD_"
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
HTTP_CLIENT_AUTH_CHOICES = ("auto", "none", "optional", "required")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: Requests per second per client (--rate-limit): far above what one honest application sends, far below what
#: one flooding client could take from the others (a node answers some thousands per second per core).
DEFAULT_RATE_LIMIT = 1000.0


#: Asymmetric signatures only: with HS* the verification key is a shared secret, so it must be asked for explicitly.
DEFAULT_JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the option and where it came from."""


@dataclass(frozen=True, slots=True)
class JwtIssuer:
    """One trusted issuer of JSON Web Tokens (RFC 7519) whose keys come from a JWKS (RFC 7517)."""

    issuer: str
    jwks_uri: str | None = None
    jwks_file: str | None = None
    #: Accepted audiences (``aud``); empty means the token's audience is not checked.
    audience: tuple[str, ...] = ()
    #: Accepted signature algorithms; HS* only when listed here explicitly, ``none`` never.
    algorithms: tuple[str, ...] = DEFAULT_JWT_ALGORITHMS
    #: Claims tried in order for the user name.
    user_claims: tuple[str, ...] = ("email", "sub")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``keystead serve`` needs; see ``OPTIONS`` for the meaning of each field."""

    host: str = "127.0.0.1"
    http_port: int = 9998
    kmip_port: int = 5696
    database: str | None = None
    data_dir: str = "./data"
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    http_client_auth: str = "auto"
    default_username: str = "admin"
    privileged_users: tuple[str, ...] = ()
    admin_users: tuple[str, ...] = ()
    api_tokens: tuple[str, ...] = ()
    api_tokens_file: str | None = None
    jwt_issuers: tuple[JwtIssuer, ...] = ()
    jwks_cache_seconds: int = 300
    redis_key_file: str | None = None
    change_stamp_lag: float = 0.0
    log_level: str = "info"
    approved_only: bool = False
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    threads: int = 16
    workers: int = 1
    kmip_max_connections: int = 512
    kmip_idle_timeout: float = 300.0
    kmip_message_timeout: float = 10.0
    http_header_timeout: float = 10.0
    http_body_timeout: float = 60.0
    http_idle_timeout: float = 75.0
    max_header_size: int = 64 * 1024
    max_connections_per_client: int = 64
    rate_limit: float = DEFAULT_RATE_LIMIT
    rate_limit_burst: int = 0
    trusted_proxies: tuple[str, ...] = ()
    kek_file: str | None = None
    kek: str | None = None
    kek_previous: tuple[str, ...] = ()
    seal_keys: bool = True
    audit_log: str | None = None
    audit_fail_closed: bool = False
    hsm_module: str | None = None
    hsm_token_label: str | None = None
    hsm_pin: str | None = None
    hsm_kek_label: str | None = None
    hsm_create_kek: bool = False
    hsm_cache_size: int = 1024
    hsm_cache_seconds: float = 300.0
    hsm_admins: tuple[str, ...] = ("admin",)
    google_cse_kacls_url: str | None = None
    google_cse_key_id: str = '["google_cse"]'
    google_cse_signing_key_id: str | None = None
    google_cse_user: str | None = None
    google_cse_authentication_issuers: tuple[JwtIssuer, ...] = ()
    google_cse_authorization_issuers: tuple[JwtIssuer, ...] = ()
    google_cse_kacls_peers: tuple[str, ...] = ()
    google_cse_privileged_users: tuple[str, ...] = ()
    ms_dke_service_url: str | None = None
    ms_dke_user: str | None = None
    ms_dke_issuers: tuple[JwtIssuer, ...] = ()
    ms_dke_tenants: tuple[str, ...] = ()
    ms_dke_authorized_emails: tuple[str, ...] = ()
    ms_dke_authorized_roles: tuple[str, ...] = ()
    ui_oidc_issuer: str | None = None
    ui_oidc_client_id: str | None = None
    ui_oidc_client_secret: str | None = None
    ui_oidc_scopes: str = "openid email profile"
    ui_oidc_redirect_uri: str | None = None
    #: Where each value came from (option name -> "default", "yaml", "env" or "flag"), for diagnostics.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # -- derived values -------------------------------------------------------------------------------------
    @property
    def tls_enabled(self) -> bool:
        """HTTPS and the KMIP socket need a certificate and its key."""
        return bool(self.tls_cert and self.tls_key)

    @property
    def database_url(self) -> str:
        """``database`` or, by default, an SQLite file under ``data_dir``."""
        if self.database:
            return self.database
        return f"sqlite:///{(Path(self.data_dir) / 'keystead.sqlite').resolve()}"

    @property
    def store_name(self) -> str:
        """The database URL's scheme without its driver (``sqlite``, ``postgresql``, ``memory``...)."""
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    @property
    def answers_inline(self) -> bool:
        """Whether small requests may run on the event loops: with a local store (SQLite, memory), or with a remote
        one where kept objects and Plans answer without a database round trip: PostgreSQL (change notices,
        ``store._pg_notices``) and any whose change stamp is polled (``change_stamp_lag``). Otherwise (MySQL, Redis
        in strict mode) every request runs on the thread pool, so one waiting for the database holds up only its
        own client."""
        return self.store_name in ("sqlite", "memory", "postgresql", "postgres") or self.change_stamp_lag > 0

    @property
    def inline_reads_only(self) -> bool:
        """Whether only reads (``server._messages.READ_OPERATIONS``) may run on the event loops: with a database on
        another host, a write there would hold the loop for its round trips."""
        return self.store_name not in ("sqlite", "memory")

    @property
    def kmip_enabled(self) -> bool:
        """The KMIP socket opens only with a port and the TLS files (mutual TLS is mandatory there)."""
        return self.kmip_port != 0 and self.tls_enabled and bool(self.tls_ca)

    @property
    def kek_path(self) -> Path:
        """The key file of the software key-encryption key (``kek_file``, by default under ``data_dir``)."""
        return Path(self.kek_file) if self.kek_file else Path(self.data_dir) / "keystead.kek"

    @property
    def software_sealing(self) -> bool:
        """Stored key material is sealed by the software key-encryption key: ``seal_keys`` on, no HSM (which seals
        with its own key), and a SQL store (Redis seals its records itself; memory:// keeps nothing at rest)."""
        return (
            self.seal_keys
            and not self.hsm_requested
            and self.store_name in ("sqlite", "postgresql", "postgres", "mysql", "mariadb")
        )

    @property
    def burst(self) -> int:
        """Requests a client may send at once before ``rate_limit`` applies (default: one second's worth, >= 1)."""
        return self.rate_limit_burst or max(1, int(self.rate_limit))

    @property
    def hsm_requested(self) -> bool:
        """Any of the HSM options is set (then all four of module, token, PIN and KEK label must be)."""
        return any((self.hsm_module, self.hsm_token_label, self.hsm_pin, self.hsm_kek_label, self.hsm_create_kek))


# ------------------------------------------------------------------------------------------------------------------
# The one field list


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_issuers(value: Any) -> tuple[JwtIssuer, ...]:
    """A list of issuer mappings (YAML), or JSON text of one (environment variable, flag)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list of issuers: {exc}") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of {issuer, jwks_uri | jwks_file, audience, algorithms}")
    issuers = []
    for entry in value:
        if not isinstance(entry, Mapping):
            raise ValueError(f"issuer entry must be a mapping, got {entry!r}")
        unknown = set(entry) - {f.name for f in fields(JwtIssuer)}
        if unknown:
            raise ValueError(f"unknown issuer keys {sorted(unknown)}")
        if not entry.get("issuer"):
            raise ValueError("every issuer needs 'issuer'")
        if not entry.get("jwks_uri") and not entry.get("jwks_file"):
            raise ValueError(f"issuer {entry['issuer']!r} needs jwks_uri or jwks_file")
        kwargs: dict[str, Any] = {"issuer": str(entry["issuer"])}
        for key in ("jwks_uri", "jwks_file"):
            if entry.get(key):
                kwargs[key] = str(entry[key])
        for key in ("audience", "algorithms", "user_claims"):
            if key in entry:
                raw = entry[key]
                kwargs[key] = (raw,) if isinstance(raw, str) else tuple(str(v) for v in raw)
        algorithms = kwargs.get("algorithms", DEFAULT_JWT_ALGORITHMS)
        if any(a.lower() == "none" for a in algorithms):
            raise ValueError("algorithm 'none' is never accepted")
        issuers.append(JwtIssuer(**kwargs))
    return tuple(issuers)


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option: its field name, how to read it from text, its flag help."""

    name: str
    kind: str  # "str", "int", "float", "bool", "list", "issuers"
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def default(self) -> Any:
        return ServerConfig.__dataclass_fields__[self.name].default

    def convert(self, value: Any) -> Any:
        """The typed value from YAML data or from text (environment, flag); ValueError if it does not fit."""
        converters: dict[str, Callable[[Any], Any]] = {
            "str": _to_str,
            "int": _to_int,
            "float": _to_float,
            "bool": lambda v: v if isinstance(v, bool) else _parse_bool(str(v)),
            "list": _to_list,
            "issuers": _parse_issuers,
        }
        result = converters[self.kind](value)
        if self.choices is not None and result not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {result!r}")
        return result


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _to_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _split_list(value)
    if isinstance(value, (list, tuple)):
        return tuple(item for v in value for item in _split_list(str(v)))
    raise ValueError(f"expected a list, got {value!r}")


OPTIONS: tuple[Option, ...] = (
    Option("host", "str", "address to listen on (HTTP and KMIP)", "HOST"),
    Option("http_port", "int", "HTTP(S) port; 0 picks a free port", "PORT"),
    Option("kmip_port", "int", "KMIP-over-TLS port (needs --tls-cert/--tls-key/--tls-ca); 0 disables it", "PORT"),
    Option(
        "database",
        "str",
        "store URL: sqlite:///path, postgresql://..., mysql://..., redis://...",
        "URL",
    ),
    Option("data_dir", "str", "directory for the default SQLite database and other state", "DIR"),
    Option("tls_cert", "str", "server certificate (PEM); with --tls-key the HTTP port serves HTTPS", "FILE"),
    Option("tls_key", "str", "private key of --tls-cert (PEM)", "FILE"),
    Option("tls_ca", "str", "CA certificate(s) (PEM) that sign client certificates (mutual TLS)", "FILE"),
    Option(
        "http_client_auth",
        "str",
        "client certificates on HTTPS: none, optional, required, or auto (required when no token or JWT "
        "authentication is configured, optional otherwise)",
        "MODE",
        HTTP_CLIENT_AUTH_CHOICES,
    ),
    Option("default_username", "str", "user for requests when no authentication is configured", "USER"),
    Option("privileged_users", "list", "users allowed to create objects (comma-separated; empty: everyone)", "USERS"),
    Option("admin_users", "list", "administrators: every right on every object (comma-separated)", "USERS"),
    Option("api_tokens", "list", "bearer API tokens as TOKEN:USER pairs (comma-separated)", "PAIRS"),
    Option("api_tokens_file", "str", "file with one TOKEN:USER pair per line ('#' comments)", "FILE"),
    Option(
        "jwt_issuers",
        "issuers",
        "trusted JWT issuers: JSON list of {issuer, jwks_uri | jwks_file, audience, algorithms, user_claims}",
        "JSON",
    ),
    Option("jwks_cache_seconds", "int", "how long a JWKS fetched from jwks_uri is reused", "SECONDS"),
    Option("redis_key_file", "str", "file holding the key that encrypts data in a redis:// store", "FILE"),
    Option(
        "change_stamp_lag",
        "float",
        "PostgreSQL, MySQL, Redis: longest time a change committed by another server (a Revoke, a Destroy) may take "
        "to be seen here. 0: seen by the next request (MySQL, Redis: every request checks the database's change "
        "stamp, one small query; PostgreSQL: change notices, no query); above 0 a thread polls the stamp and "
        "requests use a value younger than this (this server's own changes are always seen at once)",
        "SECONDS",
    ),
    Option("log_level", "str", "log level", "LEVEL", LOG_LEVELS),
    Option("approved_only", "bool", "refuse algorithms that are not FIPS-approved"),
    Option("max_message_size", "int", "largest request accepted, in bytes (HTTP 413 / KMIP error beyond)", "BYTES"),
    Option(
        "threads",
        "int",
        "threads running the KMIP operations that do not run on the event loops: key-pair generation, "
        "certificates, large messages, remote databases (0: run everything on the event loops)",
        "N",
    ),
    Option(
        "workers",
        "int",
        "server processes sharing the HTTP and KMIP ports, each with its own engine and database connection "
        "(SQLite, PostgreSQL, MySQL or Redis; not memory://); /metrics shows the answering process's counters",
        "N",
    ),
    Option("kmip_max_connections", "int", "simultaneous KMIP-over-TLS connections (per worker)", "N"),
    Option("kmip_idle_timeout", "float", "seconds an idle KMIP connection stays open", "SECONDS"),
    Option(
        "kmip_message_timeout",
        "float",
        "seconds a KMIP client has to finish sending a message it has started (then the connection is closed)",
        "SECONDS",
    ),
    Option(
        "http_header_timeout",
        "float",
        "seconds an HTTP client has to send a request's headers once it has started (408 and close beyond)",
        "SECONDS",
    ),
    Option("http_body_timeout", "float", "seconds an HTTP client has to send a request's body", "SECONDS"),
    Option(
        "http_idle_timeout",
        "float",
        "seconds an HTTP connection may stay open without a request (after the TLS handshake or a response)",
        "SECONDS",
    ),
    Option("max_header_size", "int", "largest HTTP request head (request line and headers), in bytes", "BYTES"),
    Option(
        "max_connections_per_client",
        "int",
        "simultaneous HTTP and KMIP connections from one client address (0: no cap); behind a load balancer the "
        "client's own address with --trusted-proxies, else the balancer's, which every connection then has",
        "N",
    ),
    Option(
        "rate_limit",
        "float",
        "requests per second allowed per client address on HTTP and KMIP, counted before authentication (0: no "
        "limit); beyond it HTTP answers 429 with Retry-After and KMIP fails the message with Server Limit Exceeded",
        "PER_SECOND",
    ),
    Option("rate_limit_burst", "int", "requests a client may send at once above --rate-limit (0: one second's)", "N"),
    Option(
        "trusted_proxies",
        "list",
        "load balancers allowed to name the client (addresses or CIDR blocks, comma-separated): their connections "
        "may start with a PROXY protocol v1/v2 header (HAProxy send-proxy-v2) on the KMIP and HTTP ports, and their "
        "HTTP requests may carry X-Forwarded-For; a PROXY header from any other peer is refused, X-Forwarded-For "
        "ignored (empty: nobody)",
        "CIDRS",
    ),
    Option(
        "kek_file",
        "str",
        "file holding the key-encryption key that seals stored keys (created mode 0600 on first start; default: "
        "keystead.kek in the data directory); keep it apart from database backups",
        "FILE",
    ),
    Option(
        "kek",
        "str",
        "the key-encryption key itself (32 bytes, hex or base64) instead of --kek-file: set it through the "
        "environment (KEYSTEAD_KEK), not on the command line",
        "KEY",
    ),
    Option(
        "kek_previous",
        "list",
        "keys --kek replaced (comma-separated, hex or base64), still read until `keystead store rekey` has "
        "re-sealed everything under --kek",
        "KEYS",
    ),
    Option(
        "seal_keys",
        "bool",
        "seal stored key material with AES-256-GCM under the key-encryption key (SQLite, PostgreSQL, MySQL; "
        "Redis always seals, an HSM seals with its own key)",
    ),
    Option("audit_log", "str", "append one JSON line per KMIP operation to this file ('-': standard error)", "FILE"),
    Option("audit_fail_closed", "bool", "refuse a request whose audit line cannot be written"),
    Option("hsm_module", "str", "PKCS#11 library of the HSM holding the key-encryption key", "LIB"),
    Option("hsm_token_label", "str", "label of the HSM token", "LABEL"),
    Option("hsm_pin", "str", "user PIN of the HSM token", "PIN"),
    Option("hsm_kek_label", "str", "label of the key-encryption key on the HSM", "LABEL"),
    Option("hsm_create_kek", "bool", "create the key-encryption key on the HSM if it does not exist"),
    Option("hsm_cache_size", "int", "unwrapped objects kept in memory to spare the HSM (0: no cache)", "N"),
    Option("hsm_cache_seconds", "float", "how long an unwrapped object stays in that cache", "SECONDS"),
    Option("hsm_admins", "list", "users who may create, use and grant HSM keys (hsm::<slot>::<label>)", "USERS"),
    Option(
        "google_cse_kacls_url",
        "str",
        "public URL of the Google Workspace CSE key service (https://HOST/google_cse); setting it serves /google_cse",
        "URL",
    ),
    Option(
        "google_cse_key_id",
        "str",
        "the AES-256 KMS key that wraps Google Workspace CSE data keys: its id, or a JSON array of its tags",
        "ID",
    ),
    Option(
        "google_cse_signing_key_id",
        "str",
        "the RSA private KMS key (its id, or a JSON array of its tags) that signs this KACLS's tokens to other "
        "KACLS (rewrap); its public key is served at /google_cse/certs",
        "ID",
    ),
    Option(
        "google_cse_user",
        "str",
        "KMS user the CSE service runs its key operations as (none: --default-username)",
        "USER",
    ),
    Option(
        "google_cse_authentication_issuers",
        "issuers",
        "identity providers whose authentication tokens CSE accepts: JSON list of {issuer, jwks_uri | jwks_file, "
        "audience, algorithms}",
        "JSON",
    ),
    Option(
        "google_cse_authorization_issuers",
        "issuers",
        "issuers of CSE authorization tokens (none: Google's Drive, Meet, Calendar, Gmail and KACLS-migration "
        "issuers with audience cse-authorization)",
        "JSON",
    ),
    Option(
        "google_cse_kacls_peers",
        "list",
        "URLs of other KACLS whose signed tokens privilegedunwrap accepts (their keys from URL/certs), for rewrap",
        "URLS",
    ),
    Option(
        "google_cse_privileged_users",
        "list",
        "emails or @domains (of the authentication token) allowed the privileged CSE operations: privilegedwrap, "
        "privilegedunwrap, privilegedprivatekeydecrypt, wrapprivatekey (empty: nobody)",
        "EMAILS",
    ),
    Option(
        "ms_dke_service_url",
        "str",
        "public URL of the Microsoft Double Key Encryption service (https://HOST/ms_dke); setting it serves /ms_dke",
        "URL",
    ),
    Option(
        "ms_dke_user",
        "str",
        "KMS user the DKE service runs its key operations as (none: --default-username)",
        "USER",
    ),
    Option(
        "ms_dke_issuers",
        "issuers",
        "token issuers DKE accepts (Microsoft Entra ID): JSON list of {issuer, jwks_uri | jwks_file, audience, "
        "algorithms}",
        "JSON",
    ),
    Option("ms_dke_tenants", "list", "Entra tenant ids (tid claim) allowed to decrypt (empty: any)", "IDS"),
    Option(
        "ms_dke_authorized_emails",
        "list",
        "email addresses or @domains (email, upn or preferred_username claim) allowed to decrypt",
        "EMAILS",
    ),
    Option("ms_dke_authorized_roles", "list", "values of the roles claim allowed to decrypt", "ROLES"),
    Option(
        "ui_oidc_issuer",
        "str",
        "OpenID Connect provider of the web UI's sign-in (its issuer URL; it must also be one of --jwt-issuers)",
        "URL",
    ),
    Option("ui_oidc_client_id", "str", "the web UI's client id at that provider", "ID"),
    Option(
        "ui_oidc_client_secret", "str", "its client secret, if the provider issued one (confidential client)", "SECRET"
    ),
    Option("ui_oidc_scopes", "str", "scopes the web UI asks for", "SCOPES"),
    Option(
        "ui_oidc_redirect_uri",
        "str",
        "redirect URI registered at the provider (default: <scheme>://<Host header>/ui/oidc/callback)",
        "URL",
    ),
)
_BY_NAME = {option.name: option for option in OPTIONS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one flag per option to ``parser``; unset flags stay absent from the namespace."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"YAML file with any of the options below as keys (env: {ENV_PREFIX}CONFIG)",
    )
    for option in OPTIONS:
        default = option.default()
        shown = "SQLite under the data directory" if option.name == "database" else default
        if isinstance(shown, tuple):
            shown = ",".join(str(v) for v in shown) or "none"
        elif shown is None:
            shown = "none"
        help_text = f"{option.help} (default: {shown}; env: {option.env}; YAML: {option.name})"
        if option.kind == "bool":
            parser.add_argument(
                option.flag,
                dest=option.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif option.kind == "list":
            parser.add_argument(
                option.flag,
                dest=option.name,
                action="append",
                metavar=option.metavar,
                default=argparse.SUPPRESS,
                help=help_text + "; repeatable",
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.name,
                metavar=option.metavar,
                choices=option.choices,
                default=argparse.SUPPRESS,
                help=help_text,
            )


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option names to values")
    unknown = sorted(str(k) for k in data if k not in _BY_NAME)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return data


def load_config(
    flags: argparse.Namespace | Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerConfig:
    """Build the configuration: defaults, then the YAML file (``--config`` or ``KEYSTEAD_CONFIG``), then
    ``KEYSTEAD_*`` variables from ``environ``, then ``flags`` (an argparse namespace from ``add_arguments``)."""
    given = dict(vars(flags) if isinstance(flags, argparse.Namespace) else (flags or {}))
    environ = environ if environ is not None else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {option.name: "default" for option in OPTIONS}

    def apply(option: Option, raw: Any, source: str) -> None:
        try:
            values[option.name] = option.convert(raw)
        except (TypeError, ValueError) as exc:
            where = {"yaml": f"YAML key {option.name}", "env": option.env, "flag": option.flag}[source]
            raise ConfigError(f"{where}: {exc}") from None
        sources[option.name] = source

    config_file = given.get("config") or environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        for key, raw in _read_yaml(str(config_file)).items():
            apply(_BY_NAME[key], raw, "yaml")
    for option in OPTIONS:
        if option.env in environ:
            apply(option, environ[option.env], "env")
    for option in OPTIONS:
        if option.name in given and given[option.name] is not None:
            apply(option, given[option.name], "flag")
    config = replace(ServerConfig(), **values, sources=sources)
    validate(config)
    return config


def validate(config: ServerConfig) -> None:
    """Refuse combinations that cannot work, with a message that says how to fix them."""
    for name in ("http_port", "kmip_port"):
        port = getattr(config, name)
        if not 0 <= port <= 65535:
            raise ConfigError(f"--{name.replace('_', '-')} must be between 0 and 65535, got {port}")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    if config.tls_ca and not config.tls_enabled:
        raise ConfigError("--tls-ca needs --tls-cert and --tls-key")
    if config.http_client_auth in ("optional", "required") and not config.tls_ca:
        raise ConfigError(f"--http-client-auth {config.http_client_auth} needs --tls-cert, --tls-key and --tls-ca")
    if config.max_message_size < 1024:
        raise ConfigError("--max-message-size must be at least 1024 bytes")
    if config.threads < 0 or config.kmip_max_connections < 1:
        raise ConfigError("--threads must be >= 0 and --kmip-max-connections >= 1")
    if config.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if config.workers > 1 and config.database_url.partition(":")[0].lower() == "memory":
        raise ConfigError("--workers above 1 needs a shared database: memory:// lives inside one process")
    for name in (
        "kmip_idle_timeout",
        "kmip_message_timeout",
        "http_header_timeout",
        "http_body_timeout",
        "http_idle_timeout",
    ):
        if getattr(config, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive")
    if config.max_header_size < 1024:
        raise ConfigError("--max-header-size must be at least 1024 bytes")
    if config.max_connections_per_client < 0 or config.rate_limit < 0 or config.rate_limit_burst < 0:
        raise ConfigError("--max-connections-per-client, --rate-limit and --rate-limit-burst must not be negative")
    for entry in config.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(f"--trusted-proxies: {entry!r} is not an IP address or CIDR block") from None
    if config.audit_fail_closed and not config.audit_log:
        raise ConfigError("--audit-fail-closed needs --audit-log")
    if config.hsm_requested:
        missing = [
            "--" + name.replace("_", "-")
            for name in ("hsm_module", "hsm_token_label", "hsm_pin", "hsm_kek_label")
            if not getattr(config, name)
        ]
        if missing:
            raise ConfigError(f"the HSM options go together: {', '.join(missing)} missing")
    if config.change_stamp_lag < 0:
        raise ConfigError("--change-stamp-lag must be >= 0")
    if config.hsm_cache_size < 0 or config.hsm_cache_seconds < 0:
        raise ConfigError("--hsm-cache-size and --hsm-cache-seconds must not be negative")
    _validate_key_services(config)
    if bool(config.ui_oidc_issuer) != bool(config.ui_oidc_client_id):
        raise ConfigError("--ui-oidc-issuer and --ui-oidc-client-id go together")
    if config.ui_oidc_issuer:
        known = {issuer.issuer.rstrip("/") for issuer in config.jwt_issuers}
        if config.ui_oidc_issuer.rstrip("/") not in known:
            raise ConfigError(
                f"--ui-oidc-issuer {config.ui_oidc_issuer} must also be one of --jwt-issuers (with its jwks_uri and "
                "the client id as audience), so that the ID tokens it issues are accepted"
            )
        if "openid" not in config.ui_oidc_scopes.split():
            raise ConfigError("--ui-oidc-scopes must include openid")
    for pair in config.api_tokens:
        token, sep, user = pair.partition(":")
        if not sep or not token or not user:
            raise ConfigError("--api-tokens entries must be TOKEN:USER")


def _validate_key_services(config: ServerConfig) -> None:
    for name in ("google_cse_kacls_url", "ms_dke_service_url"):
        url = getattr(config, name)
        if url is not None and not url.startswith(("https://", "http://")):
            raise ConfigError(f"--{name.replace('_', '-')} must be an http(s) URL, got {url!r}")
    for url in config.google_cse_kacls_peers:
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"--google-cse-kacls-peers entries must be http(s) URLs, got {url!r}")
    if config.google_cse_kacls_url and not config.google_cse_authentication_issuers:
        raise ConfigError(
            "--google-cse-kacls-url needs --google-cse-authentication-issuers: the identity providers whose "
            "authentication tokens the key service accepts"
        )
    if config.ms_dke_service_url and not config.ms_dke_issuers:
        raise ConfigError("--ms-dke-service-url needs --ms-dke-issuers: the issuers of the tokens DKE accepts")


def config_from_env(flags: argparse.Namespace) -> ServerConfig:
    """``load_config`` with the real process environment: only the entry point calls this."""
    return load_config(flags, os.environ)


def option_names() -> Sequence[str]:
    """Every option name (YAML key), in declaration order."""
    return [option.name for option in OPTIONS]


__all__ = [
    "DEFAULT_RATE_LIMIT",
    "OPTIONS",
    "ConfigError",
    "JwtIssuer",
    "Option",
    "ServerConfig",
    "add_arguments",
    "config_from_env",
    "load_config",
    "option_names",
    "validate",
]
