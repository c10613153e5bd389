"""PKI through the engine: Certify (self-signed, from a CSR, CA-issued chains), Re-certify, Validate, and the
certificate forms of Register/Import and Get/Export (X.509, PKCS#7, PKCS#12), with their exact failure reasons."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from kms_backend import crypto
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CertificateRequestType,
    CertificateType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    ItemType,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    RecommendedCurve,
    ResultReason,
    RevocationReasonCode,
    State,
    Tag,
    ValidityIndicator,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item

from .conftest import NOW, OTHER, Kms, name

DAY = 86_400


# -- helpers -----------------------------------------------------------------------------------------------------


def vendor(attribute: str, value: str | int | bytes) -> tuple[int, S.VendorAttribute]:
    item_type = (
        ItemType.INTEGER
        if isinstance(value, int)
        else ItemType.BYTE_STRING
        if isinstance(value, bytes)
        else ItemType.TEXT_STRING
    )
    return (
        Tag.ATTRIBUTE,
        S.VendorAttribute(
            vendor_identification="cosmian",
            attribute_name=attribute,
            attribute_value=Item(Tag.ATTRIBUTE_VALUE, item_type, value),
        ),
    )


def link(link_type: LinkType, uid: str) -> tuple[int, S.Link]:
    return (Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=uid))


def links(kms: Kms, uid: str, link_type: LinkType) -> list[str]:
    return [str(v.linked_object_identifier) for v in kms.attributes(uid).get_all(Tag.LINK) if v.link_type == link_type]


def key_pair(kms: Kms, *, activate: bool = True, curve: RecommendedCurve = RecommendedCurve.P_256) -> tuple[str, str]:
    extra: list[tuple[int, Any]] = [
        (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC),
        (Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve)),
    ]
    if activate:
        extra.append((Tag.ACTIVATION_DATE, NOW - 60))
    response = kms.run(Operation.CREATE_KEY_PAIR, S.CreateKeyPairRequest(common_attributes=Attributes(extra)))
    return str(response.private_key_unique_identifier), str(response.public_key_unique_identifier)


def certify(kms: Kms, uid: str | None, *attrs: tuple[int, Any], csr: bytes | None = None, user: str = "alice") -> str:
    request = S.CertifyRequest(
        unique_identifier=uid,
        certificate_request_type=CertificateRequestType.PKCS_10 if csr is not None else None,
        certificate_request_value=csr,
        attributes=Attributes(list(attrs)),
    )
    return str(kms.run(Operation.CERTIFY, request, user).unique_identifier)


def certify_fails(
    kms: Kms, uid: str | None, *attrs: tuple[int, Any], csr: bytes | None = None, user: str = "alice"
) -> int:
    request = S.CertifyRequest(
        unique_identifier=uid,
        certificate_request_value=csr,
        attributes=Attributes(list(attrs)),
    )
    return kms.fail(Operation.CERTIFY, request, user).reason


def cert_der(kms: Kms, uid: str) -> bytes:
    obj = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object
    assert isinstance(obj, S.Certificate)
    assert obj.certificate_type == CertificateType.X_509
    return obj.certificate_value


def load(kms: Kms, uid: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert_der(kms, uid))


CA_EXTENSIONS = "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"


def make_ca(kms: Kms, subject: str, issuer_key: str | None = None) -> tuple[str, str, str]:
    """A CA key pair and its certificate (self-signed, or issued by the CA whose private key is ``issuer_key``);
    returns (private key, public key, certificate)."""
    private, public = key_pair(kms)
    attrs: list[tuple[int, Any]] = [vendor("subject_name", subject), vendor("x509-extension", CA_EXTENSIONS)]
    if issuer_key is not None:
        attrs.append(link(LinkType.PRIVATE_KEY_LINK, issuer_key))
    return private, public, certify(kms, public, *attrs)


def validate(kms: Kms, *uids: str, certificates: list[bytes] = (), at: int | None = None) -> ValidityIndicator:  # type: ignore[assignment]
    request = S.ValidateRequest(
        unique_identifier=list(uids),
        certificate=[S.Certificate(certificate_type=CertificateType.X_509, certificate_value=c) for c in certificates],
        validity_date=at,
    )
    return kms.run(Operation.VALIDATE, request).validity_indicator


def external_csr(subject: str = "CN=external.example,O=Outside", extensions: str | None = None) -> tuple[bytes, bytes]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return crypto.create_csr(der, crypto.parse_name(subject), extensions), der


# -- self-signed -------------------------------------------------------------------------------------------------


def test_self_signed_certificate_for_a_key_pair(kms: Kms) -> None:
    private, public = key_pair(kms)
    uid = certify(kms, public, vendor("subject_name", "CN=Self,O=Keystead,C=FR"), vendor("validity_days", 30))
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=Self,O=Keystead,C=FR"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert int(cert.not_valid_before_utc.timestamp()) == NOW
    assert int(cert.not_valid_after_utc.timestamp()) == NOW + 30 * DAY

    attrs = kms.attributes(uid)
    assert attrs.get(Tag.OBJECT_TYPE) == ObjectType.CERTIFICATE
    assert attrs.get(Tag.CERTIFICATE_TYPE) == CertificateType.X_509
    assert attrs.get(Tag.CERTIFICATE_LENGTH) == len(cert_der(kms, uid))
    assert attrs.get(Tag.DIGITAL_SIGNATURE_ALGORITHM) == DigitalSignatureAlgorithm.ECDSA_WITH_SHA256
    assert attrs.get(Tag.X_509_CERTIFICATE_SUBJECT).subject_distinguished_name == cert.subject.public_bytes()
    assert attrs.get(Tag.X_509_CERTIFICATE_ISSUER).issuer_distinguished_name == cert.issuer.public_bytes()
    identifier = attrs.get(Tag.X_509_CERTIFICATE_IDENTIFIER)
    assert int.from_bytes(identifier.certificate_serial_number, "big") == cert.serial_number
    assert attrs.get(Tag.ACTIVATION_DATE) == NOW
    assert attrs.get(Tag.DEACTIVATION_DATE) == NOW + 30 * DAY
    assert attrs.get(Tag.STATE) == State.ACTIVE
    assert links(kms, uid, LinkType.PUBLIC_KEY_LINK) == [public]
    assert links(kms, uid, LinkType.PRIVATE_KEY_LINK) == [private]
    assert links(kms, uid, LinkType.PARENT_LINK) == []
    assert links(kms, public, LinkType.CERTIFICATE_LINK) == [uid]
    assert links(kms, private, LinkType.CERTIFICATE_LINK) == [uid]
    assert "_cert" in kms.tags(uid)
    assert validate(kms, uid) == ValidityIndicator.VALID


def test_certificate_attributes_of_2x_are_derived_from_the_names(kms: Kms) -> None:
    """KMIP 2.1 §4.6 Certificate Attributes: one text attribute per subject and issuer name field, readable by
    Attribute Reference (OASIS BL-M-10)."""
    ca_private, _, ca_cert = make_ca(kms, "CN=Root,O=Keystead,C=FR")
    _, public = key_pair(kms)
    leaf = certify(
        kms,
        public,
        vendor("subject_name", "CN=leaf.example,OU=Ops,EMAIL=ops@example.org"),
        link(LinkType.PRIVATE_KEY_LINK, ca_private),
    )
    wanted = [
        Tag.CERTIFICATE_SUBJECT_CN,
        Tag.CERTIFICATE_SUBJECT_OU,
        Tag.CERTIFICATE_SUBJECT_EMAIL,
        Tag.CERTIFICATE_SUBJECT_O,
        Tag.CERTIFICATE_ISSUER_CN,
        Tag.CERTIFICATE_ISSUER_O,
        Tag.CERTIFICATE_ISSUER_C,
    ]
    response = kms.run(
        Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=leaf, attribute_reference=wanted)
    )
    found = {tag: (value.value if isinstance(value, Item) else value) for tag, value in response.attributes}
    assert found == {
        Tag.CERTIFICATE_SUBJECT_CN: "leaf.example",
        Tag.CERTIFICATE_SUBJECT_OU: "Ops",
        Tag.CERTIFICATE_SUBJECT_EMAIL: "ops@example.org",
        Tag.CERTIFICATE_ISSUER_CN: "Root",
        Tag.CERTIFICATE_ISSUER_O: "Keystead",
        Tag.CERTIFICATE_ISSUER_C: "FR",
    }
    assert kms.attribute(ca_cert, Tag.CERTIFICATE_SUBJECT_CN).value == "Root"


def test_subject_from_cosmian_certificate_attributes_and_dates_from_attributes(kms: Kms) -> None:
    _private, public = key_pair(kms)
    structure = Item(
        Tag.CERTIFICATE_ATTRIBUTES,
        ItemType.STRUCTURE,
        [
            Item(Tag.CERTIFICATE_SUBJECT_CN, ItemType.TEXT_STRING, "Structured"),
            Item(Tag.CERTIFICATE_SUBJECT_O, ItemType.TEXT_STRING, "Acme"),
            Item(Tag.CERTIFICATE_SUBJECT_C, ItemType.TEXT_STRING, "FR"),
        ],
    )
    uid = certify(
        kms,
        public,
        (Tag.CERTIFICATE_ATTRIBUTES, structure),
        (Tag.ACTIVATION_DATE, NOW - DAY),
        (Tag.DEACTIVATION_DATE, NOW + 2 * DAY),
    )
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=Structured,O=Acme,C=FR"
    assert int(cert.not_valid_before_utc.timestamp()) == NOW - DAY
    assert int(cert.not_valid_after_utc.timestamp()) == NOW + 2 * DAY
    assert Tag.CERTIFICATE_ATTRIBUTES not in kms.attributes(uid)


def test_subject_from_x509_certificate_subject_text_and_extensions_as_json(kms: Kms) -> None:
    _private, public = key_pair(kms)
    extensions = (
        '{"keyUsage": ["critical", "digitalSignature"], "extendedKeyUsage": "serverAuth,clientAuth",'
        ' "subjectAltName": ["DNS:web.example", "IP:127.0.0.1"], "basicConstraints": "CA:FALSE"}'
    )
    uid = certify(
        kms,
        public,
        (Tag.X_509_CERTIFICATE_SUBJECT, S.X509CertificateSubject(subject_distinguished_name=b"/C=FR/CN=web.example")),
        vendor("x509-extension", extensions.encode()),
        (Tag.NAME, name("web certificate")),
    )
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=web.example,C=FR"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["web.example"]
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert kms.attributes(uid).get(Tag.X_509_CERTIFICATE_SUBJECT).subject_alternative_name == [
        b"DNS:web.example",
        b"IP:127.0.0.1",
    ]
    assert kms.attribute(uid, Tag.NAME).name_value == "web certificate"


def test_rsa_key_pair_self_signed(kms: Kms) -> None:
    response = kms.run(
        Operation.CREATE_KEY_PAIR,
        S.CreateKeyPairRequest(
            common_attributes=Attributes(
                [
                    (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA),
                    (Tag.CRYPTOGRAPHIC_LENGTH, 2048),
                    (Tag.ACTIVATION_DATE, NOW),
                ]
            )
        ),
    )
    uid = certify(kms, str(response.public_key_unique_identifier), vendor("subject_name", "CN=rsa"))
    assert kms.attribute(uid, Tag.DIGITAL_SIGNATURE_ALGORITHM) == DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION
    assert kms.attribute(uid, Tag.CRYPTOGRAPHIC_ALGORITHM) == CryptographicAlgorithm.RSA
    assert kms.attribute(uid, Tag.DEACTIVATION_DATE) == NOW + 365 * DAY


# -- CA-issued ---------------------------------------------------------------------------------------------------


def test_chain_of_three_issued_in_the_kms(kms: Kms) -> None:
    root_key, _root_pub, root = make_ca(kms, "CN=Root CA,O=Keystead")
    # the intermediate names its issuer by certificate (Cosmian's Certificate Link), the leaf by private key
    inter_key, inter_pub = key_pair(kms)
    inter = certify(
        kms,
        inter_pub,
        vendor("subject_name", "CN=Intermediate CA,O=Keystead"),
        vendor("x509-extension", "basicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = keyCertSign"),
        link(LinkType.CERTIFICATE_LINK, root),
    )
    leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(
        kms,
        leaf_pub,
        vendor("subject_name", "CN=leaf.example"),
        vendor("x509-extension", "subjectAltName = DNS:leaf.example\nextendedKeyUsage = serverAuth"),
        link(LinkType.PRIVATE_KEY_LINK, inter_key),
    )
    root_cert, inter_cert, leaf_cert = load(kms, root), load(kms, inter), load(kms, leaf)
    inter_cert.verify_directly_issued_by(root_cert)
    leaf_cert.verify_directly_issued_by(inter_cert)
    assert leaf_cert.issuer == inter_cert.subject
    aki = leaf_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = inter_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    assert links(kms, leaf, LinkType.PARENT_LINK) == [inter]
    assert links(kms, inter, LinkType.PARENT_LINK) == [root]
    assert links(kms, inter, LinkType.CHILD_LINK) == [leaf]
    assert links(kms, root, LinkType.CHILD_LINK) == [inter]
    assert links(kms, leaf, LinkType.PRIVATE_KEY_LINK) == [leaf_key]
    assert links(kms, leaf_key, LinkType.CERTIFICATE_LINK) == [leaf]
    assert (
        kms.attribute(leaf, Tag.X_509_CERTIFICATE_ISSUER).issuer_distinguished_name == inter_cert.subject.public_bytes()
    )
    assert root_key != inter_key

    assert validate(kms, leaf, inter, root) == ValidityIndicator.VALID
    assert validate(kms, root, leaf, inter) == ValidityIndicator.VALID  # any order
    assert validate(kms, leaf) == ValidityIndicator.VALID  # completed through Parent Links
    by_value = [cert_der(kms, leaf), cert_der(kms, inter)]
    assert validate(kms, certificates=by_value) == ValidityIndicator.UNKNOWN  # no root
    assert validate(kms, root, certificates=by_value) == ValidityIndicator.VALID


def test_certify_a_csr_given_in_the_request(kms: Kms) -> None:
    ca_key, _, ca = make_ca(kms, "CN=Issuing CA")
    csr, _key = external_csr(extensions="subjectAltName = DNS:external.example\nbasicConstraints = CA:TRUE")
    uid = certify(kms, None, link(LinkType.PRIVATE_KEY_LINK, ca_key), csr=csr)
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=external.example,O=Outside"
    cert.verify_directly_issued_by(load(kms, ca))
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    with pytest.raises(x509.ExtensionNotFound):  # a CSR cannot make itself a CA
        cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert links(kms, uid, LinkType.PUBLIC_KEY_LINK) == []
    assert links(kms, uid, LinkType.PARENT_LINK) == [ca]


def test_pem_csr_and_subject_override(kms: Kms) -> None:
    ca_key, _, _ca = make_ca(kms, "CN=Issuing CA")
    csr, _key = external_csr()
    pem = x509.load_der_x509_csr(csr).public_bytes(serialization.Encoding.PEM)
    request = S.CertifyRequest(
        certificate_request_type=CertificateRequestType.PEM,
        certificate_request_value=pem,
        attributes=Attributes([link(LinkType.PARENT_LINK, _ca), vendor("subject_name", "CN=renamed")]),
    )
    uid = str(kms.run(Operation.CERTIFY, request).unique_identifier)
    assert load(kms, uid).subject.rfc4514_string() == "CN=renamed"
    assert ca_key


def test_certify_a_registered_certificate_request_object(kms: Kms) -> None:
    ca_key, _, _ca = make_ca(kms, "CN=Issuing CA")
    csr, _key = external_csr()
    request_uid = str(
        kms.run(
            Operation.REGISTER,
            S.RegisterRequest(
                object_type=ObjectType.CERTIFICATE_REQUEST,
                attributes=Attributes(),
                managed_object=S.CertificateRequest(
                    certificate_request_type=CertificateRequestType.PKCS_10, certificate_request_value=csr
                ),
            ),
        ).unique_identifier
    )
    uid = certify(kms, request_uid, link(LinkType.PRIVATE_KEY_LINK, ca_key))
    assert load(kms, uid).subject.rfc4514_string() == "CN=external.example,O=Outside"


# -- Re-certify --------------------------------------------------------------------------------------------------


def test_re_certify_a_ca_issued_certificate(kms: Kms, clock: Any) -> None:
    ca_key, _, ca = make_ca(kms, "CN=CA")
    leaf_key, leaf_pub = key_pair(kms)
    old = certify(
        kms,
        leaf_pub,
        link(LinkType.PRIVATE_KEY_LINK, ca_key),
        vendor("subject_name", "CN=renewed.example"),
        vendor("validity_days", 10),
        vendor("x509-extension", "subjectAltName = DNS:renewed.example"),
        (Tag.NAME, name("server cert")),
    )
    clock.advance(5 * DAY)
    response = kms.run(
        Operation.RE_CERTIFY,
        S.ReCertifyRequest(unique_identifier=old, attributes=Attributes([vendor("validity_days", 90)])),
    )
    new = str(response.unique_identifier)
    old_cert, new_cert = load(kms, old), load(kms, new)
    assert new_cert.subject == old_cert.subject
    assert new_cert.public_key() == old_cert.public_key()
    assert new_cert.serial_number != old_cert.serial_number
    assert int(new_cert.not_valid_before_utc.timestamp()) == NOW + 5 * DAY
    assert int(new_cert.not_valid_after_utc.timestamp()) == NOW + 95 * DAY
    new_cert.verify_directly_issued_by(load(kms, ca))
    assert new_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert links(kms, old, LinkType.REPLACEMENT_OBJECT_LINK) == [new]
    assert links(kms, new, LinkType.REPLACED_OBJECT_LINK) == [old]
    assert links(kms, new, LinkType.PARENT_LINK) == [ca]
    assert sorted(links(kms, ca, LinkType.CHILD_LINK)) == sorted([old, new])
    assert links(kms, leaf_pub, LinkType.CERTIFICATE_LINK) == [new]
    assert links(kms, leaf_key, LinkType.CERTIFICATE_LINK) == [new]
    assert kms.attribute(new, Tag.NAME).name_value == "server cert"
    assert kms.attribute(old, Tag.NAME) is None


def test_re_certify_self_signed_keeps_its_lifetime_and_offset(kms: Kms) -> None:
    _private, public = key_pair(kms)
    old = certify(kms, public, vendor("subject_name", "CN=self"), vendor("validity_days", 20))
    new = str(kms.run(Operation.RE_CERTIFY, S.ReCertifyRequest(unique_identifier=old, offset=DAY)).unique_identifier)
    cert = load(kms, new)
    cert.verify_directly_issued_by(cert)
    assert int(cert.not_valid_before_utc.timestamp()) == NOW + DAY
    assert int(cert.not_valid_after_utc.timestamp()) == NOW + 21 * DAY
    assert kms.attribute(new, Tag.STATE) == State.PRE_ACTIVE  # its validity starts tomorrow


# -- Validate ----------------------------------------------------------------------------------------------------


def test_validate_dates(kms: Kms) -> None:
    _private, public = key_pair(kms)
    uid = certify(kms, public, vendor("subject_name", "CN=short"), vendor("validity_days", 1))
    assert validate(kms, uid) == ValidityIndicator.VALID
    assert validate(kms, uid, at=NOW + 2 * DAY) == ValidityIndicator.INVALID
    assert validate(kms, uid, at=NOW - 1) == ValidityIndicator.INVALID


def test_validate_an_expired_intermediate(kms: Kms) -> None:
    root_key, _, root = make_ca(kms, "CN=Root")
    inter_key, inter_pub = key_pair(kms)
    inter = certify(
        kms,
        inter_pub,
        vendor("subject_name", "CN=Short-lived CA"),
        vendor("x509-extension", CA_EXTENSIONS),
        vendor("validity_days", 1),
        link(LinkType.PRIVATE_KEY_LINK, root_key),
    )
    _leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(kms, leaf_pub, vendor("subject_name", "CN=leaf"), link(LinkType.PRIVATE_KEY_LINK, inter_key))
    assert validate(kms, leaf, inter, root) == ValidityIndicator.VALID
    assert validate(kms, leaf, inter, root, at=NOW + 3 * DAY) == ValidityIndicator.INVALID


def test_validate_a_broken_chain(kms: Kms) -> None:
    root_key, _, root = make_ca(kms, "CN=Root")
    _other_key, _, impostor = make_ca(kms, "CN=Root")  # same name, another key
    _leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(kms, leaf_pub, vendor("subject_name", "CN=leaf"), link(LinkType.PRIVATE_KEY_LINK, root_key))
    assert validate(kms, leaf, root) == ValidityIndicator.VALID
    assert validate(kms, certificates=[cert_der(kms, leaf), cert_der(kms, impostor)]) == ValidityIndicator.INVALID
    # a certificate that is not a CA cannot issue (built outside the KMS, which refuses to)
    plain_key, plain_pub = key_pair(kms)
    plain = certify(kms, plain_pub, vendor("subject_name", "CN=plain"))
    signer = serialization.load_der_private_key(kms_private_der(kms, plain_key), None)
    child_key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "child")]))
        .issuer_name(load(kms, plain).subject)
        .public_key(child_key.public_key())
        .serial_number(1)
        .not_valid_before(load(kms, plain).not_valid_before_utc)
        .not_valid_after(load(kms, plain).not_valid_after_utc)
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    assert validate(kms, plain) == ValidityIndicator.VALID
    assert validate(kms, plain, certificates=[forged.public_bytes(serialization.Encoding.DER)]) == (
        ValidityIndicator.INVALID
    )


def kms_private_der(kms: Kms, uid: str) -> bytes:
    obj = kms.run(
        Operation.GET, S.GetRequest(unique_identifier=uid, key_format_type=KeyFormatType.PKCS_8)
    ).managed_object
    return obj.key_block.key_value.key_material


def test_validate_a_revoked_certificate(kms: Kms) -> None:
    _private, public = key_pair(kms)
    uid = certify(kms, public, vendor("subject_name", "CN=revoked"))
    kms.run(
        Operation.REVOKE,
        S.RevokeRequest(
            unique_identifier=uid,
            revocation_reason=S.RevocationReason(revocation_reason_code=RevocationReasonCode.KEY_COMPROMISE),
            compromise_occurrence_date=NOW,
        ),
    )
    assert validate(kms, uid) == ValidityIndicator.INVALID


def test_validate_refuses_keys(kms: Kms) -> None:
    _private, public = key_pair(kms)
    error = kms.fail(Operation.VALIDATE, S.ValidateRequest(unique_identifier=[public]))
    assert error.reason == ResultReason.INVALID_OBJECT_TYPE
    error = kms.fail(Operation.VALIDATE, S.ValidateRequest())
    assert error.reason == ResultReason.INVALID_FIELD


# -- Register / Get of certificates, PKCS#7, PKCS#12 ---------------------------------------------------------------


def register(kms: Kms, object_type: ObjectType, obj: Any, *attrs: tuple[int, Any]) -> str:
    request = S.RegisterRequest(object_type=object_type, attributes=Attributes(list(attrs)), managed_object=obj)
    return str(kms.run(Operation.REGISTER, request).unique_identifier)


def test_register_a_pem_certificate_stores_der_with_attributes(kms: Kms) -> None:
    _private, public = key_pair(kms)
    der = cert_der(kms, certify(kms, public, vendor("subject_name", "CN=copy")))
    pem = crypto.certificate_to_pem(der)
    uid = register(
        kms, ObjectType.CERTIFICATE, S.Certificate(certificate_type=CertificateType.X_509, certificate_value=pem)
    )
    assert cert_der(kms, uid) == der
    assert kms.attribute(uid, Tag.CERTIFICATE_LENGTH) == len(der)
    assert kms.attribute(uid, Tag.X_509_CERTIFICATE_SUBJECT).subject_distinguished_name == crypto.parse_name("CN=copy")
    got = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid, key_format_type=KeyFormatType.X_509))
    assert got.managed_object.certificate_value == der


def test_pkcs7_chain_export_and_import(kms: Kms) -> None:
    root_key, _, root = make_ca(kms, "CN=Root")
    inter_key, _, inter = make_ca(kms, "CN=Inter", issuer_key=root_key)
    _leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(kms, leaf_pub, vendor("subject_name", "CN=leaf"), link(LinkType.PRIVATE_KEY_LINK, inter_key))
    exported = kms.run(Operation.EXPORT, S.ExportRequest(unique_identifier=leaf, key_format_type=KeyFormatType.PKCS_7))
    bundle = exported.managed_object
    assert bundle.certificate_type == CertificateType.PKCS_7
    certs = pkcs7.load_der_pkcs7_certificates(bundle.certificate_value)
    # a SignedData's certificates are a DER SET OF: their order is the encoding's, not the chain's
    assert sorted(c.public_bytes(serialization.Encoding.DER) for c in certs) == sorted(
        [cert_der(kms, leaf), cert_der(kms, inter), cert_der(kms, root)]
    )

    # back in, as another user: every certificate is stored, linked leaf to root, the leaf's uid returned
    shuffled = crypto.build_pkcs7([cert_der(kms, root), cert_der(kms, leaf), cert_der(kms, inter)])
    new_leaf = str(
        kms.run(
            Operation.REGISTER,
            S.RegisterRequest(
                object_type=ObjectType.CERTIFICATE,
                attributes=Attributes(),
                managed_object=S.Certificate(certificate_type=CertificateType.PKCS_7, certificate_value=shuffled),
            ),
            OTHER,
        ).unique_identifier
    )
    assert cert_der_as(kms, new_leaf, OTHER) == cert_der(kms, leaf)
    parents = [
        str(v.linked_object_identifier)
        for v in kms.attributes(new_leaf, OTHER).get_all(Tag.LINK)
        if v.link_type == LinkType.PARENT_LINK
    ]
    assert len(parents) == 1
    assert cert_der_as(kms, parents[0], OTHER) == cert_der(kms, inter)
    assert kms.run(Operation.VALIDATE, S.ValidateRequest(unique_identifier=[new_leaf]), OTHER).validity_indicator == (
        ValidityIndicator.VALID
    )


def cert_der_as(kms: Kms, uid: str, user: str) -> bytes:
    return kms.run(Operation.GET, S.GetRequest(unique_identifier=uid), user).managed_object.certificate_value


def secret(kms: Kms, password: bytes) -> str:
    return register(
        kms,
        ObjectType.SECRET_DATA,
        S.SecretData(
            secret_data_type=1,  # Password
            key_block=S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=password)),
        ),
    )


def test_pkcs12_round_trip_with_password(kms: Kms) -> None:
    root_key, _, root = make_ca(kms, "CN=Root")
    inter_key, _, inter = make_ca(kms, "CN=Inter", issuer_key=root_key)
    leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(kms, leaf_pub, vendor("subject_name", "CN=p12 leaf"), link(LinkType.PRIVATE_KEY_LINK, inter_key))
    password_uid = secret(kms, b"s3cret!")
    kms.run(
        Operation.ADD_ATTRIBUTE,
        S.AddAttributeRequest(
            unique_identifier=leaf_key,
            new_attribute=Attributes([link(LinkType.PKCS_12_PASSWORD_LINK, password_uid)]),
        ),
    )
    kms.run(
        Operation.SET_ATTRIBUTE,
        S.SetAttributeRequest(
            unique_identifier=leaf_key, new_attribute=Attributes([(Tag.PKCS_12_FRIENDLY_NAME, "my key")])
        ),
    )
    got = kms.run(Operation.GET, S.GetRequest(unique_identifier=leaf_key, key_format_type=KeyFormatType.PKCS_12))
    assert isinstance(got.managed_object, S.PrivateKey)
    block = got.managed_object.key_block
    assert block.key_format_type == KeyFormatType.PKCS_12
    blob = block.key_value.key_material
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(blob, b"wrong")
    loaded = pkcs12.load_pkcs12(blob, b"s3cret!")
    assert loaded.cert is not None and loaded.cert.friendly_name == b"my key"
    assert loaded.cert.certificate.public_bytes(serialization.Encoding.DER) == cert_der(kms, leaf)
    assert [c.certificate.subject.rfc4514_string() for c in loaded.additional_certs] == ["CN=Inter", "CN=Root"]
    assert loaded.key is not None
    assert crypto.public_key_from_private(
        loaded.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ) == kms_public_der(kms, leaf_pub)

    # the same blob through Register, with the password as a linked Secret Data: key, public key, certs, links
    imported = register(
        kms,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(
            key_block=S.KeyBlock(key_format_type=KeyFormatType.PKCS_12, key_value=S.KeyValue(key_material=blob))
        ),
        link(LinkType.PKCS_12_PASSWORD_LINK, password_uid),
        (Tag.NAME, name("imported p12")),
    )
    attrs = kms.attributes(imported)
    assert attrs.get(Tag.OBJECT_TYPE) == ObjectType.PRIVATE_KEY
    assert attrs.get(Tag.KEY_FORMAT_TYPE) == KeyFormatType.PKCS_8
    assert attrs.get(Tag.PKCS_12_FRIENDLY_NAME) == "my key"
    assert attrs.get(Tag.NAME).name_value == "imported p12"
    assert links(kms, imported, LinkType.PKCS_12_PASSWORD_LINK) == []
    imported_pub = links(kms, imported, LinkType.PUBLIC_KEY_LINK)[0]
    imported_cert = links(kms, imported, LinkType.CERTIFICATE_LINK)[0]
    assert kms_public_der(kms, imported_pub) == kms_public_der(kms, leaf_pub)
    assert cert_der(kms, imported_cert) == cert_der(kms, leaf)
    assert links(kms, imported_cert, LinkType.PRIVATE_KEY_LINK) == [imported]
    parent = links(kms, imported_cert, LinkType.PARENT_LINK)[0]
    assert cert_der(kms, parent) == cert_der(kms, inter)
    assert validate(kms, imported_cert) == ValidityIndicator.VALID
    assert root

    # and out again through the imported certificate: the key has no password, so the file is not encrypted
    again = kms.run(Operation.GET, S.GetRequest(unique_identifier=imported_cert, key_format_type=KeyFormatType.PKCS_12))
    assert pkcs12.load_pkcs12(again.managed_object.key_block.key_value.key_material, None).key is not None


def kms_public_der(kms: Kms, uid: str) -> bytes:
    obj = kms.run(
        Operation.GET, S.GetRequest(unique_identifier=uid, key_format_type=KeyFormatType.X_509)
    ).managed_object
    return obj.key_block.key_value.key_material


def test_pkcs12_vendor_password_and_import_under_a_uid(kms: Kms) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "external")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "external")]))
        .public_key(private.public_key())
        .serial_number(7)
        .not_valid_before(datetime.datetime.fromtimestamp(NOW - DAY, tz=datetime.UTC))
        .not_valid_after(datetime.datetime.fromtimestamp(NOW + DAY, tz=datetime.UTC))
        .sign(private, hashes.SHA384())
    )
    blob = pkcs12.serialize_key_and_certificates(
        b"friendly", private, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    obj = S.PrivateKey(
        key_block=S.KeyBlock(key_format_type=KeyFormatType.PKCS_12, key_value=S.KeyValue(key_material=blob))
    )
    request = S.ImportRequest(
        unique_identifier="p12-key",
        object_type=ObjectType.PRIVATE_KEY,
        attributes=Attributes([vendor("pkcs12_password", "pw")]),
        managed_object=obj,
    )
    assert kms.run(Operation.IMPORT, request).unique_identifier == "p12-key"
    assert kms.attribute("p12-key", Tag.PKCS_12_FRIENDLY_NAME) == "friendly"
    assert kms.attribute("p12-key_pk", Tag.OBJECT_TYPE) == ObjectType.PUBLIC_KEY
    assert kms.attribute("p12-key", Tag.ATTRIBUTE) is None  # the password is not kept
    certificate = links(kms, "p12-key", LinkType.CERTIFICATE_LINK)[0]
    assert load(kms, certificate) == cert

    wrong = S.RegisterRequest(
        object_type=ObjectType.PRIVATE_KEY,
        attributes=Attributes([vendor("pkcs12_password", "nope")]),
        managed_object=obj,
    )
    assert kms.fail(Operation.REGISTER, wrong).reason == ResultReason.BAD_PASSWORD
    garbage = S.PrivateKey(
        key_block=S.KeyBlock(key_format_type=KeyFormatType.PKCS_12, key_value=S.KeyValue(key_material=b"junk"))
    )
    bad = S.RegisterRequest(object_type=ObjectType.PRIVATE_KEY, attributes=Attributes(), managed_object=garbage)
    assert kms.fail(Operation.REGISTER, bad).reason == ResultReason.INVALID_FIELD


def test_pkcs12_export_refuses_sensitive_and_wrapped(kms: Kms) -> None:
    response = kms.run(
        Operation.CREATE_KEY_PAIR,
        S.CreateKeyPairRequest(
            common_attributes=Attributes(
                [
                    (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC),
                    (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                    (Tag.ACTIVATION_DATE, NOW),
                ]
            ),
            private_key_attributes=Attributes([(Tag.SENSITIVE, True)]),
        ),
    )
    private = str(response.private_key_unique_identifier)
    error = kms.fail(Operation.GET, S.GetRequest(unique_identifier=private, key_format_type=KeyFormatType.PKCS_12))
    assert error.reason == ResultReason.SENSITIVE
    wrapping = kms.create_key()
    request = S.GetRequest(
        unique_identifier=private,
        key_format_type=KeyFormatType.PKCS_12,
        key_wrapping_specification=S.KeyWrappingSpecification(
            wrapping_method=1, encryption_key_information=S.EncryptionKeyInformation(unique_identifier=wrapping)
        ),
    )
    assert kms.fail(Operation.GET, request).reason == ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED


def test_certificate_key_format_errors(kms: Kms) -> None:
    _private, public = key_pair(kms)
    uid = certify(kms, public, vendor("subject_name", "CN=x"))
    error = kms.fail(Operation.GET, S.GetRequest(unique_identifier=uid, key_format_type=KeyFormatType.PKCS_8))
    assert error.reason == ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED
    bad = S.Certificate(certificate_type=CertificateType.X_509, certificate_value=b"not a certificate")
    request = S.RegisterRequest(object_type=ObjectType.CERTIFICATE, attributes=Attributes(), managed_object=bad)
    assert kms.fail(Operation.REGISTER, request).reason == ResultReason.INVALID_FIELD
    bad_csr = S.CertificateRequest(
        certificate_request_type=CertificateRequestType.PKCS_10, certificate_request_value=b"junk"
    )
    request = S.RegisterRequest(
        object_type=ObjectType.CERTIFICATE_REQUEST, attributes=Attributes(), managed_object=bad_csr
    )
    assert kms.fail(Operation.REGISTER, request).reason == ResultReason.INVALID_CSR


# -- negative Certify / Re-certify ---------------------------------------------------------------------------------


def test_a_csr_with_a_bad_signature_is_invalid_csr(kms: Kms) -> None:
    ca_key, _, _ca = make_ca(kms, "CN=CA")
    csr, _ = external_csr()
    tampered = bytearray(csr)
    tampered[-5] ^= 0x01  # inside the signature
    assert (
        certify_fails(kms, None, link(LinkType.PRIVATE_KEY_LINK, ca_key), csr=bytes(tampered))
        == ResultReason.INVALID_CSR
    )
    assert certify_fails(kms, None, link(LinkType.PRIVATE_KEY_LINK, ca_key), csr=b"garbage") == ResultReason.INVALID_CSR
    crmf = S.CertifyRequest(
        certificate_request_type=CertificateRequestType.CRMF,
        certificate_request_value=csr,
        attributes=Attributes([link(LinkType.PRIVATE_KEY_LINK, ca_key)]),
    )
    assert kms.fail(Operation.CERTIFY, crmf).reason == ResultReason.FEATURE_NOT_SUPPORTED


def test_certify_argument_errors(kms: Kms) -> None:
    private, public = key_pair(kms)
    assert certify_fails(kms, public) == ResultReason.INVALID_FIELD  # no subject name
    assert certify_fails(kms, private, vendor("subject_name", "CN=x")) == ResultReason.INVALID_OBJECT_TYPE
    assert certify_fails(kms, kms.create_key(), vendor("subject_name", "CN=x")) == ResultReason.INVALID_OBJECT_TYPE
    assert certify_fails(kms, public, vendor("subject_name", "XX=1")) == ResultReason.INVALID_ATTRIBUTE_VALUE
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), vendor("x509-extension", "fooBar = 1")) == (
        ResultReason.INVALID_ATTRIBUTE_VALUE
    )
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), vendor("validity_days", "many")) == (
        ResultReason.INVALID_ATTRIBUTE_VALUE
    )
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), (Tag.DEACTIVATION_DATE, NOW - DAY)) == (
        ResultReason.INVALID_FIELD
    )
    csr, _ = external_csr()
    assert certify_fails(kms, None, csr=csr) == ResultReason.INVALID_FIELD  # a CSR needs an issuer
    assert certify_fails(kms, None) == ResultReason.INVALID_FIELD
    assert certify_fails(kms, "missing", vendor("subject_name", "CN=x")) == ResultReason.ITEM_NOT_FOUND


def test_the_signing_key_must_be_active_and_allowed_to_sign(kms: Kms) -> None:
    _private, public = key_pair(kms, activate=False)
    assert certify_fails(kms, public, vendor("subject_name", "CN=x")) == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    response = kms.run(
        Operation.CREATE_KEY_PAIR,
        S.CreateKeyPairRequest(
            common_attributes=Attributes(
                [
                    (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC),
                    (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                    (Tag.ACTIVATION_DATE, NOW),
                ]
            ),
            private_key_attributes=Attributes([(Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.DECRYPT)]),
        ),
    )
    assert certify_fails(kms, str(response.public_key_unique_identifier), vendor("subject_name", "CN=x")) == (
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK
    )


def test_issuer_errors(kms: Kms) -> None:
    _private, public = key_pair(kms)
    plain_key, plain_pub = key_pair(kms)
    certify(kms, plain_pub, vendor("subject_name", "CN=not a CA"))
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), link(LinkType.PRIVATE_KEY_LINK, plain_key)) == (
        ResultReason.INVALID_FIELD
    )
    lonely_key, _ = key_pair(kms)  # no certificate
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), link(LinkType.PRIVATE_KEY_LINK, lonely_key)) == (
        ResultReason.INVALID_FIELD
    )
    assert certify_fails(kms, public, vendor("subject_name", "CN=x"), link(LinkType.CERTIFICATE_LINK, public)) == (
        ResultReason.INVALID_OBJECT_TYPE
    )


def test_certify_access_control_on_the_issuer(kms: Kms) -> None:
    ca_key, _, ca = make_ca(kms, "CN=Alice CA")
    bob_key = str(
        kms.run(
            Operation.CREATE_KEY_PAIR,
            S.CreateKeyPairRequest(
                common_attributes=Attributes(
                    [
                        (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC),
                        (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                        (Tag.ACTIVATION_DATE, NOW),
                    ]
                )
            ),
            OTHER,
        ).public_key_unique_identifier
    )
    attrs = (vendor("subject_name", "CN=bob"), link(LinkType.CERTIFICATE_LINK, ca))
    assert certify_fails(kms, bob_key, *attrs, user=OTHER) == ResultReason.PERMISSION_DENIED
    kms.grant(ca, OTHER, [Operation.CERTIFY])  # the certificate alone does not let him sign with the CA key
    assert certify_fails(kms, bob_key, *attrs, user=OTHER) == ResultReason.PERMISSION_DENIED
    kms.grant(ca_key, OTHER, [Operation.CERTIFY])
    uid = certify(kms, bob_key, *attrs, user=OTHER)
    assert load_as(kms, uid, OTHER).issuer.rfc4514_string() == "CN=Alice CA"
    # Alice's CA certificate records its child; bob owns the new certificate
    assert uid in links(kms, ca, LinkType.CHILD_LINK)


def load_as(kms: Kms, uid: str, user: str) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert_der_as(kms, uid, user))


def test_re_certify_errors(kms: Kms) -> None:
    _private, public = key_pair(kms)
    assert kms.fail(Operation.RE_CERTIFY, S.ReCertifyRequest(unique_identifier=public)).reason == (
        ResultReason.INVALID_OBJECT_TYPE
    )
    # a certificate whose issuer is not in the KMS
    csr, _ = external_csr()
    ca_key, _, ca = make_ca(kms, "CN=CA")
    issued = certify(kms, None, link(LinkType.PRIVATE_KEY_LINK, ca_key), csr=csr)
    foreign = register(
        kms,
        ObjectType.CERTIFICATE,
        S.Certificate(certificate_type=CertificateType.X_509, certificate_value=cert_der(kms, issued)),
    )
    assert (
        kms.fail(Operation.RE_CERTIFY, S.ReCertifyRequest(unique_identifier=foreign)).reason
        == ResultReason.INVALID_FIELD
    )
    # ...unless the request names it
    renewed = kms.run(
        Operation.RE_CERTIFY,
        S.ReCertifyRequest(unique_identifier=foreign, attributes=Attributes([link(LinkType.CERTIFICATE_LINK, ca)])),
    ).unique_identifier
    assert load(kms, str(renewed)).subject.rfc4514_string() == "CN=external.example,O=Outside"


def test_batch_certify_then_get_through_the_id_placeholder(kms: Kms) -> None:
    _private, public = key_pair(kms)
    response = kms.batch(
        (
            Operation.CERTIFY,
            S.CertifyRequest(unique_identifier=public, attributes=Attributes([vendor("subject_name", "CN=batched")])),
        ),
        (Operation.GET, S.GetRequest()),
    )
    assert [item.result_status for item in response.batch_item] == [0, 0]
    assert isinstance(response.batch_item[1].response_payload.managed_object, S.Certificate)


def test_linked_certificates_are_read_on_the_authority_of_the_named_object(kms: Kms) -> None:
    root_key, _, _root = make_ca(kms, "CN=Root")
    inter_key, _, _inter = make_ca(kms, "CN=Inter", issuer_key=root_key)
    leaf_key, leaf_pub = key_pair(kms)
    leaf = certify(kms, leaf_pub, vendor("subject_name", "CN=leaf"), link(LinkType.PRIVATE_KEY_LINK, inter_key))
    request = S.ValidateRequest(unique_identifier=[leaf])
    assert kms.fail(Operation.VALIDATE, request, OTHER).reason == ResultReason.PERMISSION_DENIED
    kms.grant(leaf, OTHER, [Operation.VALIDATE])
    assert kms.run(Operation.VALIDATE, request, OTHER).validity_indicator == ValidityIndicator.VALID

    export = S.ExportRequest(unique_identifier=leaf_key, key_format_type=KeyFormatType.PKCS_12)
    assert kms.fail(Operation.EXPORT, export, OTHER).reason == ResultReason.PERMISSION_DENIED
    kms.grant(leaf_key, OTHER, [Operation.EXPORT])
    blob = kms.run(Operation.EXPORT, export, OTHER).managed_object.key_block.key_value.key_material
    assert len(pkcs12.load_pkcs12(blob, None).additional_certs) == 2
    # through the certificate, the private key still needs its own right
    by_cert = S.GetRequest(unique_identifier=leaf, key_format_type=KeyFormatType.PKCS_12)
    kms.grant(leaf, OTHER, [Operation.GET])
    assert kms.fail(Operation.GET, by_cert, OTHER).reason == ResultReason.PERMISSION_DENIED


# -- Certify that generates the subject's key pair (Cosmian KMS's form: no Unique Identifier, no CSR) -----------------


def rsa_2048() -> list[tuple[int, Any]]:
    return [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048)]


def p_256() -> list[tuple[int, Any]]:
    domain = S.CryptographicDomainParameters(recommended_curve=RecommendedCurve.P_256)
    return [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC), (Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, domain)]


def generated_keys(kms: Kms, certificate: str) -> tuple[str, str]:
    """(private, public) uids the generated certificate links to, checking the links go both ways."""
    (private,) = links(kms, certificate, LinkType.PRIVATE_KEY_LINK)
    (public,) = links(kms, certificate, LinkType.PUBLIC_KEY_LINK)
    assert links(kms, private, LinkType.CERTIFICATE_LINK) == [certificate]
    assert links(kms, public, LinkType.CERTIFICATE_LINK) == [certificate]
    assert links(kms, private, LinkType.PUBLIC_KEY_LINK) == [public]
    assert links(kms, public, LinkType.PRIVATE_KEY_LINK) == [private]
    assert public == f"{private}_pk"
    return private, public


def spki(kms: Kms, public: str) -> bytes:
    request = S.GetRequest(unique_identifier=public, key_format_type=KeyFormatType.X_509)
    return kms.run(Operation.GET, request).managed_object.key_block.key_value.key_material


def test_certify_generates_a_self_signed_rsa_2048_key_pair(kms: Kms) -> None:
    uid = certify(
        kms, None, *rsa_2048(), vendor("subject_name", "CN=Generated RSA,O=Keystead"), (Tag.NAME, name("gen"))
    )
    assert kms.attribute(uid, Tag.OBJECT_TYPE) == ObjectType.CERTIFICATE
    private, public = generated_keys(kms, uid)
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=Generated RSA,O=Keystead" and cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)  # raises if the self-signature does not verify
    assert cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == spki(kms, public)
    assert cert.public_key().key_size == 2048
    assert kms.attribute(uid, Tag.DIGITAL_SIGNATURE_ALGORITHM) == DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION
    for key in (private, public):
        attrs = kms.attributes(key)
        assert attrs.get(Tag.STATE) == State.ACTIVE
        assert (attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM), attrs.get(Tag.CRYPTOGRAPHIC_LENGTH)) == (
            CryptographicAlgorithm.RSA,
            2048,
        )
        assert Tag.NAME not in attrs  # the Name is the certificate's
    assert kms.attribute(uid, Tag.NAME).name_value == "gen"
    assert links(kms, uid, LinkType.PARENT_LINK) == []
    assert validate(kms, uid) == ValidityIndicator.VALID
    # the new private key is usable with the certificate's public key
    signature = kms.run(Operation.SIGN, S.SignRequest(unique_identifier=private, data=b"doc")).signature_data
    check = S.SignatureVerifyRequest(unique_identifier=public, data=b"doc", signature_data=signature)
    assert kms.run(Operation.SIGNATURE_VERIFY, check).validity_indicator == ValidityIndicator.VALID


def test_certify_generates_a_p_256_key_pair_from_cosmian_client_attributes(kms: Kms) -> None:
    """What Cosmian's ``ckms certificates certify --generate-key-pair --algorithm nist-p256`` sends: the subject
    as Certificate Attributes, the curve as Domain Parameters, plus Object Type and Key Format Type of the key."""
    structure = Item(
        Tag.CERTIFICATE_ATTRIBUTES,
        ItemType.STRUCTURE,
        [
            Item(Tag.CERTIFICATE_SUBJECT_CN, ItemType.TEXT_STRING, "Generated EC"),
            Item(Tag.CERTIFICATE_SUBJECT_C, ItemType.TEXT_STRING, "FR"),
        ],
    )
    uid = certify(
        kms,
        None,
        *p_256(),
        (Tag.CERTIFICATE_ATTRIBUTES, structure),
        (Tag.OBJECT_TYPE, ObjectType.PRIVATE_KEY),
        (Tag.KEY_FORMAT_TYPE, KeyFormatType.ECPRIVATEKEY),
        vendor("validity_days", 10),
    )
    private, public = generated_keys(kms, uid)
    cert = load(kms, uid)
    assert cert.subject.rfc4514_string() == "CN=Generated EC,C=FR"
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == spki(kms, public)
    assert int(cert.not_valid_after_utc.timestamp()) == NOW + 10 * DAY
    assert kms.attribute(uid, Tag.DIGITAL_SIGNATURE_ALGORITHM) == DigitalSignatureAlgorithm.ECDSA_WITH_SHA256
    assert kms.attribute(uid, Tag.KEY_FORMAT_TYPE) is None
    domain = kms.attribute(private, Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS)
    assert domain.recommended_curve == RecommendedCurve.P_256


def test_certify_generates_a_key_pair_issued_by_a_ca_in_the_kms(kms: Kms) -> None:
    ca_key, _ca_pub, ca = make_ca(kms, "CN=Issuing CA,O=Keystead")
    uid = certify(
        kms,
        None,
        *rsa_2048(),
        vendor("subject_name", "CN=server.example"),
        vendor("x509-extension", "subjectAltName = DNS:server.example\nextendedKeyUsage = serverAuth"),
        link(LinkType.PRIVATE_KEY_LINK, ca_key),
        (Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.SIGN | CryptographicUsageMask.VERIFY),
    )
    private, public = generated_keys(kms, uid)
    cert, ca_cert = load(kms, uid), load(kms, ca)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.issuer.rfc4514_string() == "CN=Issuing CA,O=Keystead"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["server.example"]
    assert cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == spki(kms, public)
    assert links(kms, uid, LinkType.PARENT_LINK) == [ca]
    assert uid in links(kms, ca, LinkType.CHILD_LINK)
    assert (
        kms.attribute(private, Tag.CRYPTOGRAPHIC_USAGE_MASK)
        == CryptographicUsageMask.SIGN | CryptographicUsageMask.VERIFY
    )
    assert (
        kms.attribute(uid, Tag.CRYPTOGRAPHIC_USAGE_MASK) != CryptographicUsageMask.SIGN | CryptographicUsageMask.VERIFY
    )
    assert validate(kms, uid) == ValidityIndicator.VALID  # completed through the Parent Link


def test_certify_generation_errors_leave_nothing_behind(kms: Kms) -> None:
    ca_key, _, _ = make_ca(kms, "CN=CA")
    before = set(kms.store.all_uids())
    assert certify_fails(kms, None, *rsa_2048()) == ResultReason.INVALID_FIELD  # no subject name
    assert certify_fails(kms, None, vendor("subject_name", "CN=x")) == ResultReason.INVALID_FIELD  # no algorithm
    aes = [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES)]
    assert certify_fails(kms, None, *aes, vendor("subject_name", "CN=x")) == (
        ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS
    )
    # self-signed: the new key signs its own certificate, so its usage mask must allow signing
    decrypt_only = (Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.DECRYPT)
    assert certify_fails(kms, None, *p_256(), decrypt_only, vendor("subject_name", "CN=x")) == (
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK
    )
    # bob may create, but not sign with alice's CA key
    issued = (vendor("subject_name", "CN=bob"), link(LinkType.PRIVATE_KEY_LINK, ca_key))
    assert certify_fails(kms, None, *p_256(), *issued, user=OTHER) == ResultReason.PERMISSION_DENIED
    assert set(kms.store.all_uids()) == before
    kms.grant(ca_key, OTHER, [Operation.CERTIFY])
    uid = certify(kms, None, *p_256(), *issued, user=OTHER)
    assert load_as(kms, uid, OTHER).issuer.rfc4514_string() == "CN=CA"


def test_certify_generating_keys_needs_the_right_to_create(clock: Any) -> None:
    from kms_backend.engine import Engine, EngineConfig
    from kms_backend.store.memory import MemoryStore

    from .conftest import ADMIN, OWNER

    store = MemoryStore()
    config = EngineConfig(admin_users=frozenset({ADMIN}), privileged_users=frozenset({OWNER}))
    restricted = Kms(engine=Engine(store, config, clock=clock), clock=clock, store=store)
    attrs = (*p_256(), vendor("subject_name", "CN=x"))
    assert certify_fails(restricted, None, *attrs, user=OTHER) == ResultReason.PERMISSION_DENIED
    assert list(store.all_uids()) == []
    certify(restricted, None, *attrs, user=OWNER)
    assert len(list(store.all_uids())) == 3  # certificate, private key, public key
