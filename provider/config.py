"""The provider's configuration: one frozen ``ProviderConfig`` read from YAML (STYLE rule 7).

Search order (issue 4): ``$KEYSTEAD_PKCS11_CONFIG``, ``~/.config/keystead/pkcs11.yaml``, ``/etc/keystead/pkcs11.yaml``.
The environment is passed in by the caller (the C_Initialize entry point), never read here.

File layout::

    token:
      label: Keystead            # slot and token label (CK_TOKEN_INFO.label, at most 32 bytes)
      user: admin                # the KMS user the token acts as (embedded backend; remote: TLS identity)
      user_pin: scrypt$...       # hashed PINs (``hash_pin``); absent: PIN not initialised
      so_pin: scrypt$...
      users: {alice: scrypt$...} # extra users for the ``user:pin`` PIN form
      pin_is_token: false        # remote backend: the user PIN is a bearer token for the KMS
      ids_indexed: [admin]       # written by the provider: users whose older objects' CKA_IDs were indexed
    backend:
      type: embedded             # embedded | remote | memory
      database: sqlite:////var/lib/keystead/pkcs11.db
      url: https://kms.example:9998      # remote
      tls_cert: client.pem               # remote, mutual TLS
      tls_key: client.key
      tls_ca: ca.pem
      bearer_token: ...                  # remote, instead of a client certificate
      timeout: 30
      seal_keys: true                    # embedded: key material sealed at rest (AES-256-GCM), as by the server
      kek_file: keystead.kek             # embedded: its key file (default: beside an SQLite store; mode 0600)
    cache_ttl: 1.0               # seconds an object's attributes are reused without asking the KMS again
    log:
      file: /var/log/keystead-pkcs11.log
      level: warning
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from kms_backend.sealing.rekey import sqlite_path

ENV_CONFIG = "KEYSTEAD_PKCS11_CONFIG"
USER_CONFIG = Path(".config/keystead/pkcs11.yaml")
SYSTEM_CONFIG = Path("/etc/keystead/pkcs11.yaml")
DEFAULT_LABEL = "Keystead"
BACKEND_TYPES = ("embedded", "remote", "memory")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# scrypt at N=2^14, r=8, p=1: ~16 MiB and tens of milliseconds per check, the RFC 7914 interactive-login cost.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class ConfigError(ValueError):
    """An unreadable or invalid configuration file."""


@dataclass(frozen=True, slots=True)
class HsmConfig:
    """The HSM whose key-encryption key seals the embedded store (issue 6), as for ``keystead serve --hsm-*``.

    YAML ``backend.hsm: {module, token_label, pin, kek_label, create_kek}``; ``KEYSTEAD_HSM_MODULE``,
    ``KEYSTEAD_HSM_TOKEN_LABEL``, ``KEYSTEAD_HSM_PIN``, ``KEYSTEAD_HSM_KEK_LABEL`` and ``KEYSTEAD_HSM_CREATE_KEK``
    override it."""

    module: str
    token_label: str
    pin: str
    kek_label: str
    create_kek: bool = False


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """Where the keys live: the engine in-process over a database, a remote KMS, or memory (tests)."""

    type: str = "embedded"
    database: str | None = None
    url: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    bearer_token: str | None = None
    timeout: float = 30.0
    hsm: HsmConfig | None = None
    #: The embedded store's key material is sealed at rest under a software key-encryption key (unless ``hsm``
    #: seals it): the key file ``kek_file``, created mode 0600 on first use, or ``kek`` from ``KEYSTEAD_KEK`` (with
    #: ``kek_previous`` from ``KEYSTEAD_KEK_PREVIOUS``), exactly as ``keystead serve`` seals its store.
    seal_keys: bool = True
    kek_file: str | None = None
    kek: str | None = None
    kek_previous: tuple[str, ...] = ()
    #: The configuration file's directory (not saved): the key file's place when the database is not SQLite.
    directory: str | None = None

    @property
    def kek_path(self) -> Path | None:
        """The key file sealing the embedded store: ``kek_file``, else ``keystead.kek`` beside an SQLite database,
        else beside the configuration file (None without one: the embedded backend then asks for ``kek_file``)."""
        if self.kek_file:
            return Path(self.kek_file)
        database = sqlite_path(self.database or "")
        if database is not None:
            return database.parent / "keystead.kek"
        return Path(self.directory) / "keystead.kek" if self.directory else None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Everything the provider needs; built once by ``load_config`` and passed in."""

    path: Path | None = None
    label: str = DEFAULT_LABEL
    user: str = "admin"
    user_pin_hash: str | None = None
    so_pin_hash: str | None = None
    users: tuple[tuple[str, str], ...] = ()
    pin_is_token: bool = False
    backend: BackendConfig = field(default_factory=BackendConfig)
    cache_ttl: float = 1.0
    #: The KMS users whose objects made through PKCS#11 before CKA_ID was indexed have been indexed since
    #: (``objects.index_ids``); every object made or changed since carries its CKA_ID's Object Group.
    ids_indexed: tuple[str, ...] = ()
    log_file: str | None = None
    log_level: str = "warning"

    @property
    def token_initialized(self) -> bool:
        """CKF_TOKEN_INITIALIZED: an SO PIN has been set (``keystead pkcs11 init`` or C_InitToken)."""
        return self.so_pin_hash is not None


def hash_pin(pin: bytes) -> str:
    """A salted scrypt hash of a PIN, as stored in the configuration file."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin, salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: bytes, stored: str | None) -> bool:
    """Whether ``pin`` matches a ``hash_pin`` value (constant-time comparison)."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected), maxmem=2**26
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def find_config_path(environ: Mapping[str, str], home: Path | None = None) -> Path | None:
    """The first configuration file of the search order that exists (the variable wins even if missing)."""
    explicit = environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit)
    home = home if home is not None else Path(environ.get("HOME") or Path.home())
    for candidate in (home / USER_CONFIG, SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_config(environ: Mapping[str, str], home: Path | None = None) -> ProviderConfig:
    """The configuration from the search order; defaults (an uninitialised token in ~/.config) if none exists."""
    path = find_config_path(environ, home)
    if path is None:
        home = home if home is not None else Path(environ.get("HOME") or Path.home())
        data_dir = home / ".local/share/keystead"
        config = ProviderConfig(
            path=home / USER_CONFIG,
            backend=BackendConfig(database=f"sqlite:///{data_dir / 'pkcs11.db'}"),
        )
    else:
        config = load_file(path)
    hsm = _hsm_from_environ(environ)
    if hsm is not None:
        config = dataclasses.replace(config, backend=dataclasses.replace(config.backend, hsm=hsm))
    if environ.get("KEYSTEAD_KEK"):
        previous = tuple(k.strip() for k in environ.get("KEYSTEAD_KEK_PREVIOUS", "").split(",") if k.strip())
        backend = dataclasses.replace(config.backend, kek=environ["KEYSTEAD_KEK"], kek_previous=previous)
        config = dataclasses.replace(config, backend=backend)
    return config


_HSM_VARIABLES = ("KEYSTEAD_HSM_TOKEN_LABEL", "KEYSTEAD_HSM_PIN", "KEYSTEAD_HSM_KEK_LABEL")


def _hsm_from_environ(environ: Mapping[str, str]) -> HsmConfig | None:
    module = environ.get("KEYSTEAD_HSM_MODULE")
    if not module:
        return None
    missing = [name for name in _HSM_VARIABLES if not environ.get(name)]
    if missing:
        raise ConfigError(f"KEYSTEAD_HSM_MODULE is set but {', '.join(missing)} is not")
    return HsmConfig(
        module=module,
        token_label=environ["KEYSTEAD_HSM_TOKEN_LABEL"],
        pin=environ["KEYSTEAD_HSM_PIN"],
        kek_label=environ["KEYSTEAD_HSM_KEK_LABEL"],
        create_kek=environ.get("KEYSTEAD_HSM_CREATE_KEK", "").lower() in ("1", "true", "yes"),
    )


def _hsm_from_mapping(section: Mapping[str, Any]) -> HsmConfig | None:
    if not section:
        return None
    values = {key: _opt_str(section, key) for key in ("module", "token_label", "pin", "kek_label")}
    missing = [key for key, value in values.items() if not value]
    if missing:
        raise ConfigError(f"backend.hsm needs {', '.join(missing)}")
    return HsmConfig(
        module=str(values["module"]),
        token_label=str(values["token_label"]),
        pin=str(values["pin"]),
        kek_label=str(values["kek_label"]),
        create_kek=bool(section.get("create_kek", False)),
    )


def load_file(path: Path) -> ProviderConfig:
    """Parse one configuration file (ConfigError if unreadable or invalid)."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return from_mapping(raw, path)


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"'{name}' must be a mapping")
    return value


def _opt_str(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise ConfigError(f"'{key}' must be a string")
    return str(value)


def from_mapping(raw: Mapping[str, Any], path: Path | None = None) -> ProviderConfig:
    """Build and validate a configuration from parsed YAML; relative file names are relative to ``path``."""
    token = _section(raw, "token")
    backend = _section(raw, "backend")
    log = _section(raw, "log")
    base = path.parent if path is not None else Path.cwd()

    def file_name(value: str | None) -> str | None:
        return str((base / value).resolve()) if value and not os.path.isabs(value) else value

    label = _opt_str(token, "label") or DEFAULT_LABEL
    if len(label.encode()) > 32:
        raise ConfigError("token label must be at most 32 bytes (CK_TOKEN_INFO.label)")
    users_raw = token.get("users") or {}
    if not isinstance(users_raw, Mapping):
        raise ConfigError("'users' must map user names to PIN hashes")
    kind = _opt_str(backend, "type") or "embedded"
    if kind not in BACKEND_TYPES:
        raise ConfigError(f"backend type must be one of {', '.join(BACKEND_TYPES)}")
    database = _opt_str(backend, "database")
    data_dir = file_name(_opt_str(backend, "data_dir"))
    if kind == "embedded" and database is None:
        database = f"sqlite:///{Path(data_dir or base) / 'keystead.db'}"
    if kind == "remote" and not _opt_str(backend, "url"):
        raise ConfigError("a remote backend needs 'url'")
    seal_keys = backend.get("seal_keys", True)
    if not isinstance(seal_keys, bool):
        raise ConfigError("'seal_keys' must be true or false")
    kek_file = file_name(_opt_str(backend, "kek_file"))
    level = (_opt_str(log, "level") or "warning").lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    try:
        timeout = float(backend.get("timeout", 30.0))
        cache_ttl = float(raw.get("cache_ttl", 1.0))
    except (TypeError, ValueError):
        raise ConfigError("'timeout' and 'cache_ttl' are numbers of seconds") from None
    return ProviderConfig(
        path=path,
        label=label,
        user=_opt_str(token, "user") or "admin",
        user_pin_hash=_opt_str(token, "user_pin"),
        so_pin_hash=_opt_str(token, "so_pin"),
        users=tuple(sorted((str(k), str(v)) for k, v in users_raw.items())),
        pin_is_token=bool(token.get("pin_is_token", False)),
        ids_indexed=tuple(str(u) for u in token.get("ids_indexed") or ()),
        backend=BackendConfig(
            type=kind,
            database=database,
            url=_opt_str(backend, "url"),
            tls_cert=file_name(_opt_str(backend, "tls_cert")),
            tls_key=file_name(_opt_str(backend, "tls_key")),
            tls_ca=file_name(_opt_str(backend, "tls_ca")),
            bearer_token=_opt_str(backend, "bearer_token"),
            timeout=timeout,
            hsm=_hsm_from_mapping(_section(backend, "hsm")),
            seal_keys=seal_keys,
            kek_file=kek_file,
            directory=str(base),
        ),
        cache_ttl=cache_ttl,
        log_file=file_name(_opt_str(log, "file")),
        log_level=level,
    )


def to_mapping(config: ProviderConfig) -> dict[str, Any]:
    """The YAML form of a configuration (what ``keystead pkcs11 init`` and C_InitToken write)."""
    token: dict[str, Any] = {"label": config.label, "user": config.user}
    if config.user_pin_hash:
        token["user_pin"] = config.user_pin_hash
    if config.so_pin_hash:
        token["so_pin"] = config.so_pin_hash
    if config.users:
        token["users"] = dict(config.users)
    if config.pin_is_token:
        token["pin_is_token"] = True
    if config.ids_indexed:
        token["ids_indexed"] = list(config.ids_indexed)
    b = config.backend
    backend: dict[str, Any] = {
        k: v
        for k, v in (
            ("type", b.type),
            ("database", b.database),
            ("url", b.url),
            ("tls_cert", b.tls_cert),
            ("tls_key", b.tls_key),
            ("tls_ca", b.tls_ca),
            ("bearer_token", b.bearer_token),
        )
        if v is not None
    }
    if not b.seal_keys:
        backend["seal_keys"] = False
    if b.kek_file is not None:
        # Relative to the configuration file when beside it, so that the token's directory can move.
        kek_file = Path(b.kek_file)
        if config.path is not None and kek_file.parent == config.path.parent:
            kek_file = Path(kek_file.name)
        backend["kek_file"] = str(kek_file)
    if b.hsm is not None:
        backend["hsm"] = {
            "module": b.hsm.module,
            "token_label": b.hsm.token_label,
            "pin": b.hsm.pin,
            "kek_label": b.hsm.kek_label,
            "create_kek": b.hsm.create_kek,
        }
    out: dict[str, Any] = {"token": token, "backend": backend, "cache_ttl": config.cache_ttl}
    log = {"level": config.log_level} | ({"file": config.log_file} if config.log_file else {})
    out["log"] = log
    return out


def save(config: ProviderConfig) -> None:
    """Write the configuration to ``config.path`` atomically, mode 0600 (it holds PIN hashes)."""
    if config.path is None:
        raise ConfigError("this configuration has no file to save to")
    config.path.parent.mkdir(parents=True, exist_ok=True)
    staged = config.path.with_name(config.path.name + ".tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(to_mapping(config), out, sort_keys=False)
    os.replace(staged, config.path)


def with_token(config: ProviderConfig, **changes: Any) -> ProviderConfig:
    """A copy with token fields changed (label, user_pin_hash, so_pin_hash)."""
    return replace(config, **changes)


__all__ = [
    "BackendConfig",
    "HsmConfig",
    "ConfigError",
    "ProviderConfig",
    "find_config_path",
    "from_mapping",
    "hash_pin",
    "load_config",
    "load_file",
    "save",
    "to_mapping",
    "verify_pin",
    "with_token",
]
