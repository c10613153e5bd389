"""Java's SunPKCS11 keystore on a Keystead token (how Tomcat, Kafka and Oracle tools use an HSM): keytool
creates an EC (secp256r1) and an RSA key pair with their self-signed certificates on the token, lists them, and
uses the private keys — certificate requests signed on the token, checked here, and a new self-signed
certificate — in a later JVM. Key pairs made by Java itself (imported with C_CreateObject) and made on the token
(C_GenerateKeyPair, then copied to token objects) are both covered."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

USER_PIN, SO_PIN = "1234", "5678"
TIMEOUT = 300
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]


def test_keytool_creates_lists_and_uses_ec_and_rsa_key_pairs(library: Path, tmp_path: Path) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool not installed (Debian package default-jre-headless)")
    subprocess.run(
        [*KEYSTEAD, "pkcs11", "init", "--dir", str(tmp_path / "token"), "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    config = tmp_path / "sunpkcs11.cfg"
    config.write_text(f"name = Keystead\nlibrary = {library}\nslotListIndex = 0\n")
    env = {**os.environ, "KEYSTEAD_PKCS11_CONFIG": str(tmp_path / "token" / "pkcs11.yaml")}
    store = ["-keystore", "NONE", "-storetype", "PKCS11", "-storepass", USER_PIN]
    store += ["-providerClass", "sun.security.pkcs11.SunPKCS11", "-providerArg", str(config)]
    on_token = ["-providerName", "SunPKCS11-Keystead"]

    def run(*args: str) -> str:
        result = subprocess.run(
            [keytool, *args, *store], check=False, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    entries = {
        "ec": ["-keyalg", "EC", "-groupname", "secp256r1"],
        "rsa": ["-keyalg", "RSA", "-keysize", "2048"],
        "ec-token": ["-keyalg", "EC", "-groupname", "secp256r1", *on_token],
        "rsa-token": ["-keyalg", "RSA", "-keysize", "2048", *on_token],
    }
    for alias, algorithm in entries.items():
        run("-genkeypair", "-alias", alias, "-dname", f"CN={alias}", *algorithm)
    listing = run("-list")
    for alias in entries:
        assert f"{alias}, PrivateKeyEntry" in listing, listing
    for alias in entries:
        request = tmp_path / f"{alias}.csr"
        run("-certreq", "-alias", alias, "-file", str(request))
        csr = x509.load_pem_x509_csr(request.read_bytes())
        assert csr.is_signature_valid, alias
        assert csr.subject.rfc4514_string() == f"CN={alias}"
    run("-selfcert", "-alias", "ec", "-dname", "CN=renewed")
    assert "CN=renewed" in run("-list", "-v", "-alias", "ec")
