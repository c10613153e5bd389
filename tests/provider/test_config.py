from pathlib import Path

import pytest

from provider.config import (
    ENV_CONFIG,
    BackendConfig,
    ConfigError,
    ProviderConfig,
    find_config_path,
    from_mapping,
    hash_pin,
    load_config,
    load_file,
    save,
    verify_pin,
)


def test_pin_hash_round_trip():
    stored = hash_pin(b"1234")
    assert stored.startswith("scrypt$")
    assert b"1234" not in stored.encode()
    assert verify_pin(b"1234", stored)
    assert not verify_pin(b"12345", stored)
    assert not verify_pin(b"1234", None)
    assert not verify_pin(b"1234", "garbage")


def test_search_order(tmp_path: Path):
    home = tmp_path / "home"
    user_file = home / ".config/keystead/pkcs11.yaml"
    explicit = tmp_path / "explicit.yaml"
    assert find_config_path({ENV_CONFIG: str(explicit)}, home) == explicit
    assert find_config_path({}, home) in (None, Path("/etc/keystead/pkcs11.yaml"))
    user_file.parent.mkdir(parents=True)
    user_file.write_text("token: {label: Mine}\n")
    assert find_config_path({}, home) == user_file
    assert load_config({}, home).label == "Mine"


def test_defaults_without_a_file(tmp_path: Path):
    config = load_config({"HOME": str(tmp_path)}, tmp_path)
    assert config.label == "Keystead"
    assert not config.token_initialized
    assert config.backend.type == "embedded"
    assert config.path == tmp_path / ".config/keystead/pkcs11.yaml"


def test_save_and_load(tmp_path: Path):
    config = ProviderConfig(
        path=tmp_path / "p.yaml",
        label="T",
        user_pin_hash=hash_pin(b"1111"),
        so_pin_hash=hash_pin(b"2222"),
        backend=BackendConfig(type="remote", url="https://kms:9998", tls_cert="c.pem", tls_key="c.key"),
        log_file="p.log",
        log_level="debug",
    )
    save(config)
    assert (tmp_path / "p.yaml").stat().st_mode & 0o777 == 0o600
    loaded = load_file(tmp_path / "p.yaml")
    assert loaded.label == "T"
    assert verify_pin(b"1111", loaded.user_pin_hash)
    assert loaded.backend.url == "https://kms:9998"
    assert loaded.backend.tls_cert == str(tmp_path / "c.pem")  # relative to the file
    assert loaded.log_level == "debug"


@pytest.mark.parametrize(
    "raw",
    [
        {"token": {"label": "x" * 33}},
        {"backend": {"type": "carrier-pigeon"}},
        {"backend": {"type": "remote"}},
        {"log": {"level": "loud"}},
        {"token": []},
    ],
)
def test_invalid_configurations(raw):
    with pytest.raises(ConfigError):
        from_mapping(raw)
