"""Signature Verify (KMIP 2.1 §6.1.56) with an EC key and ECDSA-with-SHA* parameters: the Digital Signature
Algorithm alone says how to verify (it must not be read as RSA parameters)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DigitalSignatureAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    Tag,
    ValidityIndicator,
)
from kms_backend.kmip.schema import Attributes

from .conftest import Kms

CASES = [
    (DigitalSignatureAlgorithm.ECDSA_WITH_SHA256, hashes.SHA256()),
    (DigitalSignatureAlgorithm.ECDSA_WITH_SHA384, hashes.SHA384()),
    (DigitalSignatureAlgorithm.ECDSA_WITH_SHA512, hashes.SHA512()),
]


@pytest.mark.parametrize(("algorithm", "digest"), CASES, ids=lambda v: getattr(v, "name", ""))
def test_ecdsa_parameters_verify_an_ec_signature(
    kms: Kms, algorithm: DigitalSignatureAlgorithm, digest: hashes.HashAlgorithm
) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    block = S.KeyBlock(
        key_format_type=KeyFormatType.X_509,
        key_value=S.KeyValue(key_material=der),
        cryptographic_algorithm=CryptographicAlgorithm.EC,
        cryptographic_length=384,
    )
    uid = kms.run(
        Operation.REGISTER,
        S.RegisterRequest(
            object_type=ObjectType.PUBLIC_KEY,
            attributes=Attributes([(Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.VERIFY)]),
            managed_object=S.PublicKey(key_block=block),
        ),
    ).unique_identifier
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=uid))
    params = S.CryptographicParameters(digital_signature_algorithm=algorithm)
    signature = private.sign(b"message", ec.ECDSA(digest))
    for data, expected in ((b"message", ValidityIndicator.VALID), (b"other", ValidityIndicator.INVALID)):
        request = S.SignatureVerifyRequest(
            unique_identifier=uid, cryptographic_parameters=params, data=data, signature_data=signature
        )
        assert kms.run(Operation.SIGNATURE_VERIFY, request).validity_indicator == expected
