"""``keystead pkcs11 init``: an embedded token, or one whose keys live on a remote KMS (--url and TLS files)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kms_backend.cli import main
from provider.config import load_file, verify_pin


def test_embedded_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["pkcs11", "init", "--dir", str(tmp_path / "t"), "--pin", "1234", "--so-pin", "5678"]) == 0
    assert capsys.readouterr().out.strip() == f"export KEYSTEAD_PKCS11_CONFIG={tmp_path / 't' / 'pkcs11.yaml'}"
    config = load_file(tmp_path / "t" / "pkcs11.yaml")
    assert config.backend.type == "embedded"
    assert (tmp_path / "t" / "keystead.db").is_file()


def test_remote_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("c.pem", "c.key", "ca.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    argv = ["pkcs11", "init", "--dir", "t", "--pin", "1234", "--so-pin", "5678", "--label", "veracrypt"]
    argv += ["--url", "https://kms.example:9998", "--tls-cert", "c.pem", "--tls-key", "c.key", "--tls-ca", "ca.pem"]
    assert main(argv) == 0
    raw = yaml.safe_load((tmp_path / "t" / "pkcs11.yaml").read_text())
    assert raw["backend"]["type"] == "remote"
    config = load_file(tmp_path / "t" / "pkcs11.yaml")
    assert config.backend.url == "https://kms.example:9998"
    assert config.backend.tls_cert == str(tmp_path / "c.pem")  # made absolute: applications run elsewhere
    assert config.backend.tls_ca == str(tmp_path / "ca.pem")
    assert config.label == "veracrypt" and verify_pin(b"1234", config.user_pin_hash)
    assert not (tmp_path / "t" / "keystead.db").exists()


def test_bad_remote_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    base = ["pkcs11", "init", "--dir", str(tmp_path / "t"), "--pin", "1234", "--so-pin", "5678"]
    assert main([*base, "--tls-cert", str(tmp_path / "nope.pem")]) == 1
    err = capsys.readouterr().err
    assert "go with --url" in err and "no such file" in err
    assert not (tmp_path / "t").exists()


def test_certify_prints_the_uri_of_a_paired_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    from provider import general, objects, sessions
    from provider.attributes import Kind, pack
    from provider.constants import Attribute, ObjectClass, SessionFlag, UserType
    from provider.library import Library
    from provider.slots import SLOT_ID

    assert main(["pkcs11", "init", "--dir", str(tmp_path / "t"), "--pin", "1234", "--so-pin", "5678"]) == 0
    monkeypatch.setenv("KEYSTEAD_PKCS11_CONFIG", str(tmp_path / "t" / "pkcs11.yaml"))
    capsys.readouterr()
    assert main(["pkcs11", "certify", "--label", "disk", "--pin", "nope"]) == 1
    assert "wrong PIN" in capsys.readouterr().err
    assert main(["pkcs11", "certify", "--label", "disk", "--pin", "1234", "--subject", "CN=disk,O=Test"]) == 0
    uri = capsys.readouterr().out.strip()
    assert uri.startswith("pkcs11:token=Keystead;id=%")
    pair_id = bytes.fromhex(uri.split("id=", 1)[1].replace("%", ""))
    # The token shows a certificate and a private key with that CKA_ID.
    lib = Library(environ={"KEYSTEAD_PKCS11_CONFIG": str(tmp_path / "t" / "pkcs11.yaml")})
    general.initialize(lib, None)
    try:
        session = sessions.open_session(lib, SLOT_ID, SessionFlag.SERIAL_SESSION)
        sessions.login(lib, session, UserType.USER, b"1234")
        for object_class in (ObjectClass.CERTIFICATE, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
            template = [(Attribute.CLASS, pack(Kind.ULONG, object_class)), (Attribute.ID, pair_id)]
            objects.find_objects_init(lib, session, template)
            assert len(objects.find_objects(lib, session, 10)) == 1, object_class
            objects.find_objects_final(lib, session)
    finally:
        general.finalize(lib, None)
