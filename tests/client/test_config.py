"""``ClientConfig``: YAML < KEYSTEAD_CLI_* < flags, the default URL, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from kms_backend.client import DEFAULT_URL, ClientConfig, ConfigError, load_config
from kms_backend.client.config import OPTIONS, default_config_path, save_values


def test_nothing_configured_means_the_make_run_server(tmp_path: Path) -> None:
    config = load_config({"HOME": str(tmp_path)})
    assert config == ClientConfig()
    assert config.url == DEFAULT_URL == "http://127.0.0.1:9998"


def test_default_path_is_under_home_config(tmp_path: Path) -> None:
    assert default_config_path({"HOME": str(tmp_path)}) == tmp_path / ".config" / "keystead" / "client.yaml"
    assert default_config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "keystead" / "client.yaml"
    assert default_config_path({"KEYSTEAD_CLI_CONFIG": "/x/c.yaml"}) == Path("/x/c.yaml")


def test_yaml_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / ".config" / "keystead" / "client.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("url: http://yaml:1\ntimeout: 5\nretries: 7\ntoken: from-yaml\n")
    env = {"HOME": str(tmp_path), "KEYSTEAD_CLI_URL": "http://env:2", "KEYSTEAD_CLI_TIMEOUT": "9"}
    config = load_config(env)
    assert (config.url, config.timeout, config.retries, config.token) == ("http://env:2", 9.0, 7, "from-yaml")
    config = load_config(env, {"urls": "http://flag:3,kmip://flag:4", "timeout": None, "tls_cert": "c", "tls_key": "k"})
    assert config.urls == ("http://flag:3", "kmip://flag:4") and config.timeout == 9.0


def test_yaml_url_list(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("url: [http://a:1, https://b:2/]\naccept_invalid_certs: true\n")
    config = load_config({}, path=path)
    assert config.urls == ("http://a:1", "https://b:2") and config.accept_invalid_certs


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEYSTEAD_CLI_URL": "ftp://x"}, "KEYSTEAD_CLI_URL: invalid value 'ftp://x'"),
        ({"KEYSTEAD_CLI_TIMEOUT": "-1"}, "must be positive"),
        ({"KEYSTEAD_CLI_PROTOCOL": "xml"}, "json, binary"),
        ({"KEYSTEAD_CLI_TLS_CERT": "c.pem"}, "go together"),
        ({"KEYSTEAD_CLI_URL": "kmip://h:5696"}, "need a client certificate"),
    ],
)
def test_bad_values_name_their_source(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({"HOME": str(tmp_path), **env})


def test_unknown_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("urll: http://x\n")
    with pytest.raises(ConfigError, match="unknown option 'urll'"):
        load_config({}, path=path)


def test_save_values_keeps_other_keys_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "client.yaml"
    save_values(path, {"url": "http://a:1", "token": "t"})
    save_values(path, {"token": None, "timeout": 3})
    assert load_config({}, path=path) == ClientConfig(urls=("http://a:1",), timeout=3.0)
    assert path.stat().st_mode & 0o777 == 0o600


def test_every_option_has_a_variable_and_a_flag() -> None:
    assert {o.env_name for o in OPTIONS} >= {"KEYSTEAD_CLI_URL", "KEYSTEAD_CLI_TLS_CERT", "KEYSTEAD_CLI_TOKEN"}
    assert {o.flag for o in OPTIONS} >= {"--url", "--tls-ca", "--accept-invalid-certs"}
