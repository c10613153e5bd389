"""Get with a Key Wrapping Specification (KMIP 2.1 §6.1.18, §2.1.5 Encoding Option): the shape of the wrapped
Key Value and the Key Wrapping Data, and Register of what Get returned."""

from __future__ import annotations

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicUsageMask,
    EncodingOption,
    ObjectType,
    Operation,
    Tag,
    WrappingMethod,
)
from kms_backend.kmip.schema import Attributes

from .conftest import Kms, create_request

WRAP = CryptographicUsageMask.WRAP_KEY | CryptographicUsageMask.UNWRAP_KEY


def wrapped_get(kms: Kms, uid: str, kek: str, encoding: EncodingOption | None) -> S.SymmetricKey:
    spec = S.KeyWrappingSpecification(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(
            unique_identifier=kek,
            cryptographic_parameters=S.CryptographicParameters(block_cipher_mode=BlockCipherMode.NISTKEYWRAP),
        ),
        encoding_option=encoding,
    )
    got = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid, key_wrapping_specification=spec))
    assert isinstance(got.managed_object, S.SymmetricKey)
    return got.managed_object


def keys(kms: Kms) -> tuple[str, str, bytes, bytes]:
    kek = kms.run(Operation.CREATE, create_request((Tag.CRYPTOGRAPHIC_USAGE_MASK, WRAP))).unique_identifier
    uid = kms.run(Operation.CREATE, create_request()).unique_identifier
    for one in (kek, uid):
        kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=one))
    plain = kms.run(Operation.GET, S.GetRequest(unique_identifier=uid)).managed_object.key_block.key_value
    kek_bytes = kms.run(Operation.GET, S.GetRequest(unique_identifier=kek)).managed_object.key_block.key_value
    return kek, uid, plain.key_material, kek_bytes.key_material


def test_no_encoding_keeps_a_key_value_structure_with_wrapped_material(kms: Kms) -> None:
    kek, uid, plain, kek_bytes = keys(kms)
    block = wrapped_get(kms, uid, kek, EncodingOption.NO_ENCODING).key_block
    assert isinstance(block.key_value, S.KeyValue)
    assert aes_key_unwrap(kek_bytes, block.key_value.key_material) == plain
    assert block.key_wrapping_data.wrapping_method == WrappingMethod.ENCRYPT
    assert block.key_wrapping_data.encryption_key_information.unique_identifier == kek
    # What Get returned registers back as the same key (Register unwraps it).
    registered = kms.run(
        Operation.REGISTER,
        S.RegisterRequest(
            object_type=ObjectType.SYMMETRIC_KEY,
            attributes=Attributes([]),
            managed_object=S.SymmetricKey(key_block=block),
        ),
    ).unique_identifier
    again = kms.run(Operation.GET, S.GetRequest(unique_identifier=registered)).managed_object
    assert again.key_block.key_value.key_material == plain


def test_without_an_encoding_option_the_key_value_is_the_wrapped_byte_string(kms: Kms) -> None:
    kek, uid, plain, kek_bytes = keys(kms)
    block = wrapped_get(kms, uid, kek, None).key_block
    assert isinstance(block.key_value, bytes)
    assert aes_key_unwrap(kek_bytes, block.key_value) == plain
    assert block.key_wrapping_data.wrapping_method == WrappingMethod.ENCRYPT
