"""``keystead certs init``: the development PKI."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kms_backend.cli import main
from kms_backend.server import certs


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_init_writes_the_contracted_files(tmp_path: Path) -> None:
    target = tmp_path / "certs"
    assert main(["certs", "init", str(target)]) == 0
    for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "user.pem", "user.key"):
        assert (target / name).read_bytes().startswith(b"-----BEGIN ")
    for key in target.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca, server = load(target / "ca.pem"), load(target / "server.pem")
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert common_name(load(target / "client.pem")) == "admin"
    assert common_name(load(target / "user.pem")) == "user"
    for name in ("server.pem", "client.pem", "user.pem"):
        load(target / name).verify_directly_issued_by(ca)
    client_eku = load(target / "client.pem").extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in client_eku


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs.init(tmp_path)
    before = (tmp_path / "ca.pem").read_bytes()
    assert main(["certs", "init", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "ca.pem").read_bytes() == before
    assert main(["certs", "init", "--force", str(tmp_path)]) == 0
    assert (tmp_path / "ca.pem").read_bytes() != before
