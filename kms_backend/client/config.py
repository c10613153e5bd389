"""The client's configuration: one frozen ``ClientConfig`` built from YAML < ``KEYSTEAD_CLI_*`` variables < flags.

Every option is declared once in ``OPTIONS``; the same list gives the YAML keys (``tls_cert``), the variable names
(``KEYSTEAD_CLI_TLS_CERT``) and the command-line flags (``--tls-cert``), so the three cannot drift apart (STYLE
rule 7). The file is ``~/.config/keystead/client.yaml`` unless ``--config``/``KEYSTEAD_CLI_CONFIG`` names another.
Nothing here reads ``os.environ``: the entry point passes the environment in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "KEYSTEAD_CLI_"
#: The server ``make run`` starts (DESIGN.md, command-line contract).
DEFAULT_URL = "http://127.0.0.1:9998"
PROTOCOLS = ("json", "binary")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which option and where it came from."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Where the KMS is and how to talk to it.

    ``urls`` are tried in order (failover): ``http(s)://host:port`` speaks HTTP (JSON TTLV on ``/kmip/2_1`` or
    binary TTLV on ``/kmip``, by ``protocol``), ``kmip://host:5696`` speaks binary TTLV on the mutual-TLS KMIP port.
    """

    urls: tuple[str, ...] = (DEFAULT_URL,)
    protocol: str = "json"
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    #: Skip server certificate verification (test set-ups only).
    accept_invalid_certs: bool = False
    #: Sent as ``Authorization: Bearer``: an API token or an OIDC access token (``keystead login``).
    token: str | None = None
    timeout: float = 30.0
    #: Rounds over every URL after the first failed one, on connection errors only.
    retries: int = 2
    #: First pause between rounds (doubles each round).
    backoff: float = 0.2
    #: OIDC issuer, client id and scopes for ``keystead login`` (device authorization grant, RFC 8628).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_scopes: str = "openid email"

    @property
    def url(self) -> str:
        """The first (preferred) server URL."""
        return self.urls[0]


def _urls(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    urls = tuple(str(u).strip().rstrip("/") for u in items if str(u).strip())
    if not urls:
        raise ValueError("at least one URL is needed")
    for url in urls:
        if not url.startswith(("http://", "https://", "kmip://")):
            raise ValueError(f"{url!r} is not an http://, https:// or kmip:// URL")
    return urls


def _protocol(value: object) -> str:
    text = str(value).lower()
    if text not in PROTOCOLS:
        raise ValueError(f"must be one of {', '.join(PROTOCOLS)}")
    return text


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


def _positive_float(value: object) -> float:
    number = float(str(value))
    if number <= 0:
        raise ValueError("must be positive")
    return number


def _non_negative_int(value: object) -> int:
    number = int(str(value))
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _non_negative_float(value: object) -> float:
    number = float(str(value))
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _text(value: object) -> str:
    return str(value)


@dataclass(frozen=True, slots=True)
class Option:
    """One configuration option: its field, how to parse a text or YAML value, its help."""

    name: str
    parse: Callable[[object], Any]
    help: str
    #: The YAML key / flag stem when it differs from the field (``url`` for ``urls``).
    key: str | None = None
    #: A switch: ``--flag`` alone means true.
    switch: bool = False

    @property
    def yaml_key(self) -> str:
        return self.key or self.name

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.yaml_key.upper()

    @property
    def flag(self) -> str:
        return "--" + self.yaml_key.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("urls", _urls, f"KMS URL(s), comma-separated for failover (default {DEFAULT_URL})", key="url"),
    Option("protocol", _protocol, "encoding on http(s) URLs: json (/kmip/2_1, default) or binary (/kmip)"),
    Option("tls_cert", _text, "client certificate (PEM) for mutual TLS"),
    Option("tls_key", _text, "client private key (PEM) for mutual TLS"),
    Option("tls_ca", _text, "CA certificate(s) (PEM) that sign the server's certificate"),
    Option("accept_invalid_certs", _bool, "do not verify the server certificate (tests only)", switch=True),
    Option("token", _text, "bearer token: an API token or an OIDC access token"),
    Option("timeout", _positive_float, "seconds to wait for the server (default 30)"),
    Option("retries", _non_negative_int, "rounds over the URLs when they cannot be reached (default 2)"),
    Option("backoff", _non_negative_float, "first pause between rounds in seconds, doubling (default 0.2)"),
    Option("oidc_issuer", _text, "OIDC issuer URL for `keystead login`"),
    Option("oidc_client_id", _text, "OIDC client id for `keystead login`"),
    Option("oidc_scopes", _text, "OIDC scopes for `keystead login` (default: openid email)"),
)
_FIELDS = {f.name for f in fields(ClientConfig)}
assert {o.name for o in OPTIONS} == _FIELDS, "every ClientConfig field has exactly one Option"


def default_config_path(env: Mapping[str, str]) -> Path:
    """``$KEYSTEAD_CLI_CONFIG``, else ``$XDG_CONFIG_HOME/keystead/client.yaml``, else ``~/.config/keystead/…``."""
    explicit = env.get(ENV_PREFIX + "CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "keystead" / "client.yaml"


def _apply(values: dict[str, Any], option: Option, raw: object, source: str) -> None:
    try:
        values[option.name] = option.parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: invalid value {raw!r}: {exc}") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML file as a mapping ({} when it does not exist); ConfigError when it cannot be read or parsed."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return data


def load_config(
    env: Mapping[str, str], flags: Mapping[str, object] | None = None, *, path: Path | None = None
) -> ClientConfig:
    """The configuration from the YAML file, then ``KEYSTEAD_CLI_*`` variables, then ``flags`` (option name to
    value; None means "not given"), later sources winning."""
    path = path or default_config_path(env)
    values: dict[str, Any] = {}
    by_key = {o.yaml_key: o for o in OPTIONS}
    for key, raw in read_yaml(path).items():
        option = by_key.get(str(key).replace("-", "_"))
        if option is None:
            known = ", ".join(sorted(by_key))
            raise ConfigError(f"{path}: unknown option {key!r} (known: {known})")
        if raw is not None:
            _apply(values, option, raw, f"{path}: {key}")
    for option in OPTIONS:
        if option.env_name in env and env[option.env_name] != "":
            _apply(values, option, env[option.env_name], option.env_name)
    for option in OPTIONS:
        raw = (flags or {}).get(option.name)
        if raw is not None:
            _apply(values, option, raw, option.flag)
    config = replace(ClientConfig(), **values)
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("tls_cert and tls_key go together (mutual TLS needs both)")
    if any(u.startswith("kmip://") for u in config.urls) and not (config.tls_cert and config.tls_key):
        raise ConfigError("kmip:// URLs need a client certificate (tls_cert and tls_key): the KMIP port is mutual TLS")
    return config


def save_values(path: Path, updates: Mapping[str, object | None]) -> None:
    """Set (or, with None, remove) keys of the YAML file, keeping the others; the file is private (mode 0600)."""
    data = read_yaml(path)
    for key, value in updates.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


__all__ = ["DEFAULT_URL", "OPTIONS", "ClientConfig", "ConfigError", "Option", "default_config_path", "load_config"]
