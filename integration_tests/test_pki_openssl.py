"""Certificates, chains and PKCS#7/PKCS#12 files the engine produces, checked by the OpenSSL command line: ``openssl
verify``, ``openssl x509 -text``, ``openssl pkcs7 -print_certs`` and ``openssl pkcs12 -info``. And the other way:
a CSR made by ``openssl req`` certified by the KMS, a PKCS#12 made by ``openssl pkcs12 -export`` imported."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kms_backend import crypto
from kms_backend.engine import Engine, EngineConfig
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CertificateRequestType,
    CertificateType,
    CryptographicAlgorithm,
    ItemType,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    Tag,
    ValidityIndicator,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item
from kms_backend.store.memory import MemoryStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command line is not installed"),
]

USER = "alice"
CA = "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"


def openssl(*args: str | Path, input: bytes | None = None) -> str:
    result = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode(errors="replace")


def vendor(attribute: str, value: str) -> tuple[int, S.VendorAttribute]:
    return (
        Tag.ATTRIBUTE,
        S.VendorAttribute(
            vendor_identification="cosmian",
            attribute_name=attribute,
            attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, value),
        ),
    )


def link(link_type: LinkType, uid: str) -> tuple[int, S.Link]:
    return (Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=uid))


class Kms:
    def __init__(self) -> None:
        self.engine = Engine(MemoryStore(), EngineConfig(), clock=time.time)

    def run(self, operation: Operation, payload: Any) -> Any:
        return self.engine.run_operation(operation, payload, USER)

    def key_pair(
        self, algorithm: CryptographicAlgorithm = CryptographicAlgorithm.EC, length: int = 256
    ) -> tuple[str, str]:
        attrs = Attributes(
            [
                (Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm),
                (Tag.CRYPTOGRAPHIC_LENGTH, length),
                (Tag.ACTIVATION_DATE, int(time.time()) - 60),
            ]
        )
        response = self.run(Operation.CREATE_KEY_PAIR, S.CreateKeyPairRequest(common_attributes=attrs))
        return str(response.private_key_unique_identifier), str(response.public_key_unique_identifier)

    def certify(self, public: str | None, *attrs: tuple[int, Any], csr: bytes | None = None) -> str:
        request = S.CertifyRequest(
            unique_identifier=public,
            certificate_request_type=CertificateRequestType.PEM if csr else None,
            certificate_request_value=csr,
            attributes=Attributes(list(attrs)),
        )
        return str(self.run(Operation.CERTIFY, request).unique_identifier)

    def get(self, uid: str, key_format: KeyFormatType | None = None) -> Any:
        return self.run(Operation.GET, S.GetRequest(unique_identifier=uid, key_format_type=key_format)).managed_object

    def pem(self, uid: str) -> bytes:
        return crypto.certificate_to_pem(self.get(uid).certificate_value)


@pytest.fixture(scope="module")
def kms() -> Kms:
    return Kms()


@pytest.fixture(scope="module")
def chain(kms: Kms, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Root CA (RSA) → intermediate CA (EC P-384) → server certificate (EC P-256), all issued in the KMS."""
    root_key, root_pub = kms.key_pair(CryptographicAlgorithm.RSA, 2048)
    root = kms.certify(
        root_pub, vendor("subject_name", "CN=Keystead Test Root,O=Keystead"), vendor("x509-extension", CA)
    )
    _inter_key, inter_pub = kms.key_pair(CryptographicAlgorithm.EC, 384)
    inter = kms.certify(
        inter_pub,
        vendor("subject_name", "CN=Keystead Test Intermediate,O=Keystead"),
        vendor("x509-extension", CA),
        link(LinkType.PRIVATE_KEY_LINK, root_key),
    )
    leaf_key, leaf_pub = kms.key_pair()
    leaf = kms.certify(
        leaf_pub,
        vendor("subject_name", "CN=server.test"),
        vendor(
            "x509-extension",
            '{"keyUsage": ["critical", "digitalSignature"], "extendedKeyUsage": ["serverAuth"],'
            ' "subjectAltName": ["DNS:server.test", "IP:127.0.0.1"]}',
        ),
        link(LinkType.CERTIFICATE_LINK, inter),
    )
    folder = tmp_path_factory.mktemp("pki")
    files = {}
    for name, uid in (("root", root), ("inter", inter), ("leaf", leaf)):
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(kms.pem(uid))
    return {"uids": {"root": root, "inter": inter, "leaf": leaf, "leaf_key": leaf_key}, "files": files, "dir": folder}


def test_openssl_verifies_the_chain(chain: dict[str, Any]) -> None:
    files = chain["files"]
    out = openssl("verify", "-x509_strict", "-CAfile", files["root"], "-untrusted", files["inter"], files["leaf"])
    assert out.strip().endswith("OK")
    assert openssl("verify", "-CAfile", files["root"], files["inter"]).strip().endswith("OK")
    assert openssl("verify", "-CAfile", files["root"], files["root"]).strip().endswith("OK")
    # without the intermediate the chain does not verify
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files["root"]), str(files["leaf"])], capture_output=True, check=False
    )
    assert result.returncode != 0


def test_openssl_reads_the_extensions(chain: dict[str, Any]) -> None:
    text = openssl("x509", "-in", chain["files"]["leaf"], "-noout", "-text")
    issuer = next(line for line in text.splitlines() if line.strip().startswith("Issuer:"))
    assert "O = Keystead, CN = Keystead Test Intermediate" in issuer  # RFC 4514 text lists the RDNs in reverse
    assert "DNS:server.test, IP Address:127.0.0.1" in text
    assert "TLS Web Server Authentication" in text
    assert "ecdsa-with-SHA384" in text  # signed by the P-384 intermediate
    assert "X509v3 Subject Key Identifier" in text and "X509v3 Authority Key Identifier" in text
    root = openssl("x509", "-in", chain["files"]["root"], "-noout", "-text")
    assert "CA:TRUE" in root and "sha256WithRSAEncryption" in root


def test_openssl_reads_the_pkcs7_chain(kms: Kms, chain: dict[str, Any]) -> None:
    bundle = kms.get(chain["uids"]["leaf"], KeyFormatType.PKCS_7)
    assert bundle.certificate_type == CertificateType.PKCS_7
    path = chain["dir"] / "chain.p7b"
    path.write_bytes(bundle.certificate_value)
    text = openssl("pkcs7", "-inform", "DER", "-in", path, "-print_certs", "-noout")
    for subject in ("server.test", "Keystead Test Intermediate", "Keystead Test Root"):
        assert subject in text


def test_openssl_opens_the_pkcs12_with_its_password(kms: Kms, chain: dict[str, Any]) -> None:
    leaf_key = chain["uids"]["leaf_key"]
    kms.run(
        Operation.ADD_ATTRIBUTE,
        S.AddAttributeRequest(
            unique_identifier=leaf_key, new_attribute=Attributes([vendor("pkcs12_password", "hunter2")])
        ),
    )
    kms.run(
        Operation.SET_ATTRIBUTE,
        S.SetAttributeRequest(
            unique_identifier=leaf_key, new_attribute=Attributes([(Tag.PKCS_12_FRIENDLY_NAME, "server")])
        ),
    )
    blob = kms.get(leaf_key, KeyFormatType.PKCS_12).key_block.key_value.key_material
    path = chain["dir"] / "server.p12"
    path.write_bytes(blob)
    info = openssl("pkcs12", "-in", path, "-info", "-nokeys", "-passin", "pass:hunter2")
    assert "friendlyName: server" in info
    assert info.count("-----BEGIN CERTIFICATE-----") == 3
    keys = openssl("pkcs12", "-in", path, "-nocerts", "-nodes", "-passin", "pass:hunter2")
    assert "PRIVATE KEY" in keys
    bad = subprocess.run(
        ["openssl", "pkcs12", "-in", str(path), "-info", "-nokeys", "-passin", "pass:wrong"],
        capture_output=True,
        check=False,
    )
    assert bad.returncode != 0


def test_openssl_csr_certified_and_validated(kms: Kms, chain: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    csr = openssl(
        "req", "-new", "-key", key, "-subj", "/O=Outside/CN=client.test", "-addext", "subjectAltName=DNS:client.test"
    )
    uid = kms.certify(None, link(LinkType.CERTIFICATE_LINK, chain["uids"]["inter"]), csr=csr.encode())
    cert = tmp_path / "client.pem"
    cert.write_bytes(kms.pem(uid))
    files = chain["files"]
    assert openssl("verify", "-CAfile", files["root"], "-untrusted", files["inter"], cert).strip().endswith("OK")
    # the certificate holds the key openssl generated
    assert openssl("x509", "-in", cert, "-noout", "-pubkey") == openssl("pkey", "-in", key, "-pubout")
    validity = kms.run(Operation.VALIDATE, S.ValidateRequest(unique_identifier=[uid])).validity_indicator
    assert validity == ValidityIndicator.VALID


def test_an_openssl_pkcs12_imported(kms: Kms, tmp_path: Path) -> None:
    key, cert, p12 = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "x.p12"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=from openssl",
    )
    openssl("pkcs12", "-export", "-inkey", key, "-in", cert, "-out", p12, "-passout", "pass:pw", "-name", "imported")
    obj = S.PrivateKey(
        key_block=S.KeyBlock(key_format_type=KeyFormatType.PKCS_12, key_value=S.KeyValue(key_material=p12.read_bytes()))
    )
    request = S.RegisterRequest(
        object_type=ObjectType.PRIVATE_KEY, attributes=Attributes([vendor("pkcs12_password", "pw")]), managed_object=obj
    )
    private = str(kms.run(Operation.REGISTER, request).unique_identifier)
    attrs = kms.run(Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=private)).attributes
    assert attrs.get(Tag.PKCS_12_FRIENDLY_NAME) == "imported"
    certificate = next(
        v.linked_object_identifier for v in attrs.get_all(Tag.LINK) if v.link_type == LinkType.CERTIFICATE_LINK
    )
    assert kms.pem(str(certificate)) == crypto.certificate_to_pem(crypto.load_certificate(cert.read_bytes()))
