"""OpenSC's own checks of a module: ``pkcs11-tool --test`` (with an RSA and an EC key on the token, software
mechanisms allowed) and ``--test-ec`` (key pair generation, CKA_ID and CKA_LABEL changes, CKM_ECDSA, deletion),
and certificates written with ``--write-object --type cert`` and read back."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

USER_PIN, SO_PIN = "1234", "5678"
TIMEOUT = 300
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory, library: Path) -> tuple[list[str], dict[str, str]]:
    """``pkcs11-tool --module <the library> --login --pin …`` and the environment that selects a fresh token."""
    tool = shutil.which("pkcs11-tool")
    if tool is None:
        pytest.skip("pkcs11-tool not installed (Debian package opensc)")
    directory = tmp_path_factory.mktemp("pkcs11-tool")
    subprocess.run(
        [*KEYSTEAD, "pkcs11", "init", "--dir", str(directory / "token"), "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    env = {**os.environ, "KEYSTEAD_PKCS11_CONFIG": str(directory / "token" / "pkcs11.yaml")}
    return [tool, "--module", str(library), "--login", "--pin", USER_PIN], env


def tool(module: tuple[list[str], dict[str, str]], *args: str) -> str:
    command, env = module
    result = subprocess.run([*command, *args], check=False, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_pkcs11_tool_test_and_test_ec(module: tuple[list[str], dict[str, str]]) -> None:
    tool(module, "--keypairgen", "--key-type", "rsa:2048", "--id", "01", "--label", "rsa")
    tool(module, "--keypairgen", "--key-type", "EC:prime256v1", "--id", "02", "--label", "ec")
    out = tool(module, "--test", "--allow-sw")
    assert "No errors" in out and "SHA256-RSA-PKCS: OK" in out, out
    out = tool(module, "--session-rw", "--test-ec", "--id", "03", "--key-type", "EC:secp256r1")
    assert "==> OK" in out, out


def test_pkcs11_tool_writes_and_reads_a_certificate(module: tuple[list[str], dict[str, str]], tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "written by pkcs11-tool")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    (tmp_path / "cert.der").write_bytes(der)
    tool(module, "--write-object", str(tmp_path / "cert.der"), "--type", "cert", "--id", "c0ffee", "--label", "crt")
    listing = tool(module, "--list-objects", "--type", "cert")
    assert "Certificate Object; type = X.509 cert" in listing and "written by pkcs11-tool" in listing, listing
    tool(module, "--read-object", "--type", "cert", "--id", "c0ffee", "--output-file", str(tmp_path / "back.der"))
    assert (tmp_path / "back.der").read_bytes() == der
