"""The crypto layer's PKI: names, CSRs, extensions, issuing, chain validation, PKCS#7 and PKCS#12."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kms_backend import crypto
from kms_backend.kmip._registry_data import DigitalSignatureAlgorithm, ResultReason, ValidityIndicator
from kms_backend.kmip.errors import KmipError

NOW = 1_700_000_000
DAY = 86_400


def pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ec_key() -> bytes:
    return pkcs8(ec.generate_private_key(ec.SECP256R1()))


def reason(exc: pytest.ExceptionInfo[KmipError]) -> ResultReason:
    return exc.value.reason


def issue(
    key: bytes, subject: str, *, issuer: tuple[bytes, bytes] | None = None, ext: str | None = None, **kw: int
) -> bytes:
    """A certificate for ``key``'s public half, self-signed or by ``issuer`` = (private key, certificate)."""
    return crypto.issue_certificate(
        subject=crypto.parse_name(subject),
        public_key=crypto.public_key_from_private(key),
        signer_private_key=issuer[0] if issuer else key,
        issuer_certificate=issuer[1] if issuer else None,
        not_before=kw.get("not_before", NOW),
        not_after=kw.get("not_after", NOW + 30 * DAY),
        extensions=ext,
    )


CA = "basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign"


@pytest.fixture(scope="module")
def chain() -> dict[str, bytes]:
    root_key, inter_key, leaf_key = ec_key(), ec_key(), ec_key()
    root = issue(root_key, "CN=Root,O=Test", ext=CA)
    inter = issue(inter_key, "CN=Inter,O=Test", issuer=(root_key, root), ext=CA)
    leaf = issue(leaf_key, "CN=leaf.test", issuer=(inter_key, inter), ext="subjectAltName = DNS:leaf.test")
    return {"root": root, "inter": inter, "leaf": leaf, "leaf_key": leaf_key, "inter_key": inter_key}


# -- names -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CN=Web,O=Acme,C=FR", "CN=Web,O=Acme,C=FR"),
        ("/C=FR/O=Acme/CN=Web", "CN=Web,O=Acme,C=FR"),
        ("CN=a\\,b", "CN=a\\,b"),
        ("emailAddress=x@y.z,CN=n", "1.2.840.113549.1.9.1=x@y.z,CN=n"),
    ],
)
def test_parse_name(text: str, expected: str) -> None:
    assert crypto.name_text(crypto.parse_name(text)) == expected


def test_name_der_round_trip_keeps_string_types() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.COMMON_NAME, "printable", x509.name._ASN1Type.PrintableString),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
        ]
    )
    der = name.public_bytes()
    assert crypto.name_text(der) == name.rfc4514_string()
    # A request made for that Name carries exactly its bytes: the PrintableString Common Name stays one.
    assert crypto.parse_csr(crypto.create_csr(ec_key(), der)).subject == der
    leaf = issue(ec_key(), "CN=x")
    assert crypto.certificate_info(leaf).subject == crypto.parse_name("CN=x")


@pytest.mark.parametrize("text", ["", "XX=1", "/CN", "CN"])
def test_bad_names(text: str) -> None:
    with pytest.raises(KmipError) as info:
        crypto.parse_name(text)
    assert reason(info) == ResultReason.INVALID_ATTRIBUTE_VALUE


def test_build_name_and_bad_der() -> None:
    assert crypto.name_text(crypto.build_name([("C", "FR"), ("O", "Acme"), ("CN", "x")])) == "CN=x,O=Acme,C=FR"
    with pytest.raises(KmipError):
        crypto.build_name([("C", "France")])  # country codes are two letters
    with pytest.raises(KmipError):
        crypto.name_text(b"\x30\x05\x31")
    good = crypto.build_name([("CN", "x")])
    for bad in (good + b"\x00", b"\x31" + good[1:], b"\x04\x02ab"):  # trailing bytes, a SET, not a Name at all
        with pytest.raises(KmipError) as info:
            crypto.name_text(bad)
        assert reason(info) == ResultReason.INVALID_ATTRIBUTE_VALUE


# -- extensions --------------------------------------------------------------------------------------------------


def test_openssl_extension_text_uses_the_v3_ca_section() -> None:
    text = """
    [ req ]
    distinguished_name = dn
    [ v3_ca ]
    basicConstraints = critical, CA:TRUE, pathlen:1   # a comment
    keyUsage = keyCertSign, cRLSign, digitalSignature
    extendedKeyUsage = serverAuth, 1.3.6.1.5.5.7.3.2
    subjectAltName = DNS:a.example, IP:10.0.0.1, email:x@a.example, URI:https://a.example/
    crlDistributionPoints = URI:http://crl.example/ca.crl
    subjectKeyIdentifier = hash
    """
    found = {type(ext).__name__: (ext, critical) for ext, critical in crypto.parse_extensions(text)}
    constraints, critical = found["BasicConstraints"]
    assert critical and constraints.ca and constraints.path_length == 1  # type: ignore[attr-defined]
    usage = found["KeyUsage"][0]
    assert usage.key_cert_sign and usage.crl_sign and not usage.key_encipherment  # type: ignore[attr-defined]
    assert list(found["ExtendedKeyUsage"][0]) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # type: ignore[call-overload]
    assert len(list(found["SubjectAlternativeName"][0])) == 4  # type: ignore[call-overload]
    assert "CRLDistributionPoints" in found
    assert "SubjectKeyIdentifier" not in found  # always computed


def test_json_extensions() -> None:
    found = crypto.parse_extensions('{"basicConstraints": "CA:FALSE", "keyUsage": ["critical", "keyAgreement"]}')
    assert [type(e).__name__ for e, _ in found] == ["BasicConstraints", "KeyUsage"]
    assert found[1][1] is True


@pytest.mark.parametrize(
    "text",
    [
        "nameConstraints = permitted;DNS:x",
        "keyUsage = flying",
        "basicConstraints = CA:maybe",
        "subjectAltName = FTP:x",
        "subjectAltName = IP:not-an-ip",
        "extendedKeyUsage = neverHeardOf",
        "just text",
        "{not json",
        '["a list"]',
        '{"keyUsage": 3}',
        "keyUsage = critical",
    ],
)
def test_bad_extensions(text: str) -> None:
    with pytest.raises(KmipError) as info:
        crypto.parse_extensions(text)
    assert reason(info) == ResultReason.INVALID_ATTRIBUTE_VALUE


# -- CSRs --------------------------------------------------------------------------------------------------------


def test_csr_round_trip_der_and_pem() -> None:
    key = ec_key()
    der = crypto.create_csr(key, crypto.parse_name("CN=req"), "subjectAltName = DNS:req.example")
    info = crypto.parse_csr(der)
    assert info.der == der
    assert crypto.name_text(info.subject) == "CN=req"
    assert info.public_key == crypto.public_key_from_private(key)
    pem = x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM)
    assert crypto.parse_csr(pem).der == der


def test_csr_with_a_bad_signature() -> None:
    der = bytearray(crypto.create_csr(ec_key(), crypto.parse_name("CN=req")))
    der[-3] ^= 0xFF
    with pytest.raises(KmipError) as info:
        crypto.parse_csr(bytes(der))
    assert reason(info) == ResultReason.INVALID_CSR
    with pytest.raises(KmipError) as info:
        crypto.parse_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    assert reason(info) == ResultReason.INVALID_CSR


# -- issuing -----------------------------------------------------------------------------------------------------


def test_issued_chain(chain: dict[str, bytes]) -> None:
    root, inter, leaf = (x509.load_der_x509_certificate(chain[n]) for n in ("root", "inter", "leaf"))
    root.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(inter)
    assert leaf.not_valid_before_utc == datetime.datetime.fromtimestamp(NOW, tz=datetime.UTC)
    assert leaf.version == x509.Version.v3
    assert 0 < leaf.serial_number < 2**160
    info = crypto.certificate_info(chain["leaf"])
    assert info.issuer == inter.subject.public_bytes()
    assert info.signature_algorithm == DigitalSignatureAlgorithm.ECDSA_WITH_SHA256
    assert info.subject_alternative_names == (b"DNS:leaf.test",)
    assert not info.is_ca and not info.self_issued
    assert crypto.certificate_info(chain["root"]).self_issued
    assert crypto.certificate_info(chain["inter"]).is_ca


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (lambda: rsa.generate_private_key(65537, 2048), DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION),
        (lambda: ec.generate_private_key(ec.SECP384R1()), DigitalSignatureAlgorithm.ECDSA_WITH_SHA384),
        (lambda: ec.generate_private_key(ec.SECP521R1()), DigitalSignatureAlgorithm.ECDSA_WITH_SHA512),
        (ed25519.Ed25519PrivateKey.generate, None),
    ],
    ids=["rsa", "p384", "p521", "ed25519"],
)
def test_signature_algorithms(key: object, algorithm: DigitalSignatureAlgorithm | None) -> None:
    der = issue(pkcs8(key()), "CN=alg")  # type: ignore[operator]
    assert crypto.certificate_info(der).signature_algorithm == algorithm
    cert = x509.load_der_x509_certificate(der)
    cert.verify_directly_issued_by(cert)


def test_extensions_copied_from_a_csr_except_basic_constraints(chain: dict[str, bytes]) -> None:
    key = ec_key()
    csr = crypto.create_csr(key, crypto.parse_name("CN=c"), "basicConstraints = CA:TRUE\nsubjectAltName = DNS:c")
    der = crypto.issue_certificate(
        subject=crypto.parse_csr(csr).subject,
        public_key=crypto.public_key_from_private(key),
        signer_private_key=chain["inter_key"],
        issuer_certificate=chain["inter"],
        not_before=NOW,
        not_after=NOW + DAY,
        extensions="keyUsage = digitalSignature\nsubjectAltName = DNS:override",
        copy_extensions_from=csr,
    )
    cert = x509.load_der_x509_certificate(der)
    assert not crypto.certificate_info(der).is_ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["override"]


def test_issuing_errors(chain: dict[str, bytes]) -> None:
    key = ec_key()
    with pytest.raises(KmipError) as info:  # self-signed by another key
        crypto.issue_certificate(
            subject=crypto.parse_name("CN=x"),
            public_key=crypto.public_key_from_private(key),
            signer_private_key=ec_key(),
            issuer_certificate=None,
            not_before=NOW,
            not_after=NOW + 1,
        )
    assert reason(info) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as info:  # issuer key and certificate do not match
        issue(key, "CN=x", issuer=(chain["inter_key"], chain["root"]))
    assert reason(info) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as info:  # the issuer is not a CA
        issue(key, "CN=x", issuer=(chain["leaf_key"], chain["leaf"]))
    assert reason(info) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as info:
        issue(key, "CN=x", not_before=NOW, not_after=NOW)
    assert reason(info) == ResultReason.INVALID_FIELD
    with pytest.raises(KmipError) as info:
        crypto.certificate_info(b"\x30\x03\x02\x01\x00")
    assert reason(info) == ResultReason.INVALID_FIELD


def test_pem_and_der() -> None:
    der = issue(ec_key(), "CN=pem")
    pem = crypto.certificate_to_pem(der)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert crypto.load_certificate(pem) == der
    assert crypto.load_certificate(der) == der


# -- validation --------------------------------------------------------------------------------------------------


def test_validate_chain(chain: dict[str, bytes]) -> None:
    full = [chain["inter"], chain["root"], chain["leaf"]]
    result = crypto.validate_chain(full, NOW + DAY)
    assert result.indicator == ValidityIndicator.VALID
    assert result.chain == (chain["leaf"], chain["inter"], chain["root"])
    assert crypto.validate_chain([chain["leaf"], chain["inter"]], NOW).indicator == ValidityIndicator.UNKNOWN
    assert crypto.validate_chain(full, NOW - 1).indicator == ValidityIndicator.INVALID
    assert crypto.validate_chain(full, NOW + 31 * DAY).indicator == ValidityIndicator.INVALID
    assert crypto.validate_chain([chain["root"]], NOW).indicator == ValidityIndicator.VALID


def test_validate_detects_a_forged_signature_and_strays(chain: dict[str, bytes]) -> None:
    other_root = issue(ec_key(), "CN=Root,O=Test", ext=CA)  # same name, other key
    assert crypto.validate_chain([chain["inter"], other_root], NOW).indicator == ValidityIndicator.INVALID
    stray = issue(ec_key(), "CN=stray")
    result = crypto.validate_chain([chain["leaf"], chain["inter"], chain["root"], stray], NOW)
    assert result.indicator == ValidityIndicator.INVALID
    with pytest.raises(KmipError):
        crypto.validate_chain([], NOW)


# -- containers --------------------------------------------------------------------------------------------------


def test_pkcs7(chain: dict[str, bytes]) -> None:
    bundle = crypto.build_pkcs7([chain["leaf"], chain["inter"], chain["root"]])
    assert sorted(crypto.parse_pkcs7(bundle)) == sorted([chain["leaf"], chain["inter"], chain["root"]])
    assert crypto.order_chain(crypto.parse_pkcs7(bundle)) == [chain["leaf"], chain["inter"], chain["root"]]
    with pytest.raises(KmipError) as info:
        crypto.parse_pkcs7(b"junk")
    assert reason(info) == ResultReason.INVALID_FIELD


def test_pkcs12(chain: dict[str, bytes]) -> None:
    blob = crypto.build_pkcs12(
        chain["leaf_key"], chain["leaf"], [chain["inter"], chain["root"]], password=b"pw", friendly_name="leaf"
    )
    content = crypto.parse_pkcs12(blob, b"pw")
    assert content.private_key == chain["leaf_key"]
    assert content.certificate == chain["leaf"]
    assert content.chain == (chain["inter"], chain["root"])
    assert content.friendly_name == "leaf"
    assert pkcs12.load_pkcs12(blob, b"pw").key is not None
    with pytest.raises(KmipError) as info:
        crypto.parse_pkcs12(blob, b"wrong")
    assert reason(info) == ResultReason.BAD_PASSWORD
    with pytest.raises(KmipError) as info:
        crypto.parse_pkcs12(b"\x30\x00", b"pw")
    assert reason(info) in (ResultReason.INVALID_FIELD, ResultReason.BAD_PASSWORD)
    unencrypted = crypto.build_pkcs12(chain["leaf_key"], None, password=None)
    assert crypto.parse_pkcs12(unencrypted, None).certificate is None
    with pytest.raises(KmipError) as info:  # a certificate of another key
        crypto.build_pkcs12(chain["leaf_key"], chain["root"], password=b"pw")
    assert reason(info) == ResultReason.INVALID_FIELD
