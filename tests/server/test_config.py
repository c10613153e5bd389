"""``ServerConfig``: one field list drives flags, KEYSTEAD_* variables and YAML keys; YAML < env < flags."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from kms_backend.cli import main
from kms_backend.server.config import OPTIONS, ConfigError, ServerConfig, add_arguments, load_config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    config = load_config()
    assert (config.host, config.http_port, config.kmip_port) == ("127.0.0.1", 9998, 5696)
    assert config.data_dir == "./data" and config.database is None
    assert config.database_url.startswith("sqlite:///") and config.database_url.endswith("data/keystead.sqlite")
    assert config.default_username == "admin"
    assert not config.tls_enabled and not config.kmip_enabled
    assert all(source == "default" for source in config.sources.values())


def test_yaml_then_env_then_flags(tmp_path: Path) -> None:
    yaml_file = tmp_path / "keystead.yaml"
    yaml_file.write_text("host: 0.0.0.0\nhttp_port: 1000\nkmip_port: 2000\nadmin_users: [root, ops]\nthreads: 3\n")
    env = {"KEYSTEAD_HTTP_PORT": "1001", "KEYSTEAD_KMIP_PORT": "2001", "KEYSTEAD_APPROVED_ONLY": "yes"}
    config = load_config(parse("--config", str(yaml_file), "--kmip-port", "2002"), env)
    assert config.host == "0.0.0.0"  # YAML only
    assert config.http_port == 1001  # env beats YAML
    assert config.kmip_port == 2002  # flag beats env
    assert config.admin_users == ("root", "ops")
    assert config.approved_only is True
    assert config.threads == 3
    assert config.sources["host"] == "yaml" and config.sources["http_port"] == "env"
    assert config.sources["kmip_port"] == "flag" and config.sources["database"] == "default"


def test_config_file_from_environment(tmp_path: Path) -> None:
    yaml_file = tmp_path / "k.yaml"
    yaml_file.write_text("default_username: carol\n")
    assert load_config({}, {"KEYSTEAD_CONFIG": str(yaml_file)}).default_username == "carol"


def test_every_option_has_flag_env_and_yaml_key(capsys: pytest.CaptureFixture[str]) -> None:
    names = {f for f in ServerConfig.__dataclass_fields__ if f != "sources"}
    assert {o.name for o in OPTIONS} == names
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = capsys.readouterr().out
    for option in OPTIONS:
        assert option.flag in help_text, option.flag
        assert option.env == "KEYSTEAD_" + option.name.upper()
    for flag in ("--config", "--host", "--http-port", "--kmip-port", "--database", "--data-dir", "--tls-cert"):
        assert flag in help_text
    for flag in ("--tls-key", "--tls-ca", "--hsm-module", "--hsm-token-label", "--hsm-pin", "--hsm-kek-label"):
        assert flag in help_text
    assert "--hsm-create-kek" in help_text


def test_lists_from_flags_env_and_yaml(tmp_path: Path) -> None:
    config = load_config(parse("--admin-users", "a,b", "--admin-users", "c"), {"KEYSTEAD_PRIVILEGED_USERS": "x, y"})
    assert config.admin_users == ("a", "b", "c")
    assert config.privileged_users == ("x", "y")


def test_booleans() -> None:
    assert load_config(parse("--approved-only")).approved_only is True
    assert load_config(parse("--no-approved-only"), {"KEYSTEAD_APPROVED_ONLY": "1"}).approved_only is False
    with pytest.raises(ConfigError, match="KEYSTEAD_APPROVED_ONLY"):
        load_config({}, {"KEYSTEAD_APPROVED_ONLY": "maybe"})


def test_jwt_issuers_from_json_and_yaml(tmp_path: Path) -> None:
    issuers = [{"issuer": "https://idp", "jwks_file": "/k.json", "audience": "kms", "algorithms": ["ES256"]}]
    config = load_config({}, {"KEYSTEAD_JWT_ISSUERS": json.dumps(issuers)})
    (issuer,) = config.jwt_issuers
    assert issuer.issuer == "https://idp" and issuer.audience == ("kms",) and issuer.algorithms == ("ES256",)
    yaml_file = tmp_path / "k.yaml"
    yaml_file.write_text("jwt_issuers:\n  - issuer: https://a\n    jwks_uri: http://127.0.0.1:1/jwks\n")
    assert load_config({"config": str(yaml_file)}).jwt_issuers[0].jwks_uri == "http://127.0.0.1:1/jwks"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"http_port": "http"}, "--http-port"),
        ({"http_port": "70000"}, "between 0 and 65535"),
        ({"tls_cert": "c.pem"}, "go together"),
        ({"tls_ca": "ca.pem"}, "--tls-ca needs"),
        ({"http_client_auth": "required"}, "needs --tls-cert"),
        ({"max_message_size": "10"}, "at least 1024"),
        ({"api_tokens": ["no-user"]}, "TOKEN:USER"),
        ({"jwt_issuers": '[{"issuer": "x"}]'}, "jwks_uri or jwks_file"),
        ({"jwt_issuers": '[{"issuer": "x", "jwks_file": "f", "algorithms": ["none"]}]'}, "never accepted"),
        ({"log_level": "loud"}, "expected one of"),
        ({"workers": "0"}, "--workers must be at least 1"),
        ({"workers": "2", "database": "memory://"}, "needs a shared database"),
        ({"change_stamp_lag": "-1"}, "--change-stamp-lag must be >= 0"),
    ],
)
def test_invalid_values_are_refused_with_the_option_named(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(options)


def test_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("unknown_key: 1\n")
    with pytest.raises(ConfigError, match="unknown option"):
        load_config({"config": str(bad)})
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config({"config": str(bad)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config({"config": str(tmp_path / "missing.yaml")})


def test_kmip_needs_tls_files() -> None:
    tls = {"tls_cert": "s.pem", "tls_key": "s.key", "tls_ca": "ca.pem"}
    assert load_config(tls).kmip_enabled
    assert not load_config({**tls, "kmip_port": 0}).kmip_enabled
    assert not load_config({"tls_cert": "s.pem", "tls_key": "s.key"}).kmip_enabled


def test_workers_from_flag_env_and_yaml(tmp_path: Path) -> None:
    assert load_config({}).workers == 1
    yaml_file = tmp_path / "keystead.yaml"
    yaml_file.write_text("workers: 3\n")
    assert load_config({"config": str(yaml_file)}).workers == 3
    assert load_config({"config": str(yaml_file)}, {"KEYSTEAD_WORKERS": "4"}).workers == 4
    assert load_config({"config": str(yaml_file), "workers": "2"}, {"KEYSTEAD_WORKERS": "4"}).workers == 2


def test_small_requests_run_on_the_event_loop_only_where_they_need_no_round_trip() -> None:
    assert load_config({}).answers_inline  # SQLite
    assert load_config({"database": "postgresql://kms@db/keystead"}).answers_inline  # change notices: no query
    remote = {"database": "mysql://kms@db/keystead"}
    assert not load_config(remote).answers_inline  # every request checks the change stamp in the database
    lagged = load_config(remote, {"KEYSTEAD_CHANGE_STAMP_LAG": "0.05"})
    assert lagged.change_stamp_lag == 0.05 and lagged.answers_inline  # a polled stamp: kept objects need no query
    # Writes on a database on another host would hold the loop for their round trips: reads only there.
    assert not load_config({}).inline_reads_only
    assert load_config({"database": "postgresql://kms@db/keystead"}).inline_reads_only
    assert lagged.inline_reads_only
