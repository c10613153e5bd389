"""KMS certificates as CKO_CERTIFICATE objects (X.509, read-only), paired with their keys by CKA_ID — what
systemd-cryptenroll looks for (a certificate, then the RSA private key with the same CKA_ID)."""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ItemType,
    NameType,
    Operation,
    Tag,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item
from provider import sessions
from provider.constants import Attribute, CertificateType, KeyType, ObjectClass, UserType
from provider.library import Library

from .conftest import USER_PIN
from .test_library import attribute, boolean, find, ulong

A = Attribute
U = CryptographicUsageMask


def certify(lib: Library, subject: str, name: str) -> str:
    """Cosmian's `certificates certify --generate-key-pair`: an RSA pair and a self-signed certificate."""
    attrs = Attributes()
    attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA)
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, 2048)
    attrs.add(Tag.CRYPTOGRAPHIC_USAGE_MASK, int(U.SIGN | U.VERIFY | U.ENCRYPT | U.DECRYPT))
    value = Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, subject)
    attrs.add(
        Tag.ATTRIBUTE,
        S.VendorAttribute(vendor_identification="cosmian", attribute_name="subject_name", attribute_value=value),
    )
    tags = Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps(["luks"]))
    attrs.add(
        Tag.ATTRIBUTE, S.VendorAttribute(vendor_identification="cosmian", attribute_name="tag", attribute_value=tags)
    )
    attrs.add(Tag.NAME, S.Name(name_value=name, name_type=NameType.UNINTERPRETED_TEXT_STRING))
    return str(lib.run(Operation.CERTIFY, S.CertifyRequest(attributes=attrs)).unique_identifier)


def test_certificate_found_read_and_paired_with_its_private_key(lib: Library, session: int):
    uid = certify(lib, "CN=luks-disk,O=Keystead", "luks-disk")
    x509_certificates = [(A.CLASS, ulong(ObjectClass.CERTIFICATE)), (A.CERTIFICATE_TYPE, ulong(CertificateType.X_509))]
    before_login = find(lib, session, x509_certificates)
    assert [lib.handles.uid(h) for h in before_login] == [uid]  # certificates are public objects
    sessions.login(lib, session, UserType.USER, USER_PIN)
    (handle,) = find(lib, session, x509_certificates)
    der = attribute(lib, session, handle, A.VALUE)
    assert der is not None
    certificate = x509.load_der_x509_certificate(der)
    assert certificate.subject.rfc4514_string() == "CN=luks-disk,O=Keystead"
    assert attribute(lib, session, handle, A.SUBJECT) == certificate.subject.public_bytes()
    assert attribute(lib, session, handle, A.ISSUER) == certificate.issuer.public_bytes()
    serial = attribute(lib, session, handle, A.SERIAL_NUMBER)
    assert serial is not None and serial[0] == 0x02 and int.from_bytes(serial[2:], "big") == certificate.serial_number
    assert attribute(lib, session, handle, A.LABEL) == b"luks-disk"
    assert attribute(lib, session, handle, A.PRIVATE) == boolean(False)
    assert attribute(lib, session, handle, A.CERTIFICATE_TYPE) == ulong(CertificateType.X_509)
    # systemd's unlock search: the RSA private key that decrypts, with the certificate's CKA_ID.
    pair_id = attribute(lib, session, handle, A.ID)
    assert pair_id
    private = find(
        lib,
        session,
        [
            (A.CLASS, ulong(ObjectClass.PRIVATE_KEY)),
            (A.KEY_TYPE, ulong(KeyType.RSA)),
            (A.DECRYPT, boolean(True)),
            (A.ID, pair_id),
        ],
    )
    assert len(private) == 1 and lib.handles.uid(private[0]) == pair_id.decode()
    public = find(lib, session, [(A.CLASS, ulong(ObjectClass.PUBLIC_KEY)), (A.ID, pair_id)])
    assert len(public) == 1
    assert attribute(lib, session, public[0], A.MODULUS) == certificate.public_key().public_numbers().n.to_bytes(
        256, "big"
    )
    # A secret encrypted to the certificate (PKCS#1 v1.5, as systemd does) decrypts with the paired key in the KMS.
    secret = b"s" * 32
    wrapped = certificate.public_key().encrypt(secret, padding.PKCS1v15())
    response = lib.run(
        Operation.DECRYPT,
        S.DecryptRequest(
            unique_identifier=pair_id.decode(),
            cryptographic_parameters=S.CryptographicParameters(
                cryptographic_algorithm=CryptographicAlgorithm.RSA, padding_method=_pkcs1v15()
            ),
            data=wrapped,
        ),
    )
    assert response.data == secret


def _pkcs1v15():
    from kms_backend.kmip._registry_data import PaddingMethod

    return PaddingMethod.PKCS1_V1_5
