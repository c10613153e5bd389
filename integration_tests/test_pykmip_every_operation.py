"""PyKMIP 0.11 drives every operation it has against ``keystead serve`` over the mutual-TLS KMIP port, in KMIP 1.2
and 2.0: ``ProxyKmipClient`` (activate, check, create, create_key_pair, decrypt, delete_attribute, derive_key,
destroy, encrypt, get with and without key wrapping, get_attribute_list, get_attributes, locate, mac,
modify_attribute, register, rekey, revoke, set_attribute, sign, signature_verify) and the lower ``KMIPProxy``
for the rest (discover_versions, query, rekey_key_pair). Each result is checked against what the server holds,
not only for the absence of an error."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap

try:
    from ._keystead_server import KeysteadProcess, pykmip_client  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, pykmip_client

pytestmark = [
    pytest.mark.integration,
    # PyKMIP 0.11 uses deprecated ssl and SQLAlchemy APIs; pytest turns warnings into errors.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*MovedIn20Warning.*"),
]

with warnings.catch_warnings():  # PyKMIP is locked in requirements.lock: its absence is an error, not a skip
    warnings.simplefilter("ignore")
    from kmip import enums
    from kmip.core import objects as cobjects
    from kmip.core import primitives
    from kmip.pie import objects
    from kmip.pie.exceptions import KmipOperationFailure

VERSIONS = ["KMIP_1_2", "KMIP_2_0"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("pykmip"))
    yield process
    assert process.stop() == 0


@pytest.fixture(params=VERSIONS)
def client(request: pytest.FixtureRequest, server: KeysteadProcess) -> Iterator[Any]:
    with pykmip_client(server, request.param) as opened:
        opened.version_name = request.param
        yield opened


def unique(prefix: str) -> str:
    """A fresh Name: the server keeps Names unique per object type, and PyKMIP's default is one fixed name."""
    return f"{prefix}-{uuid.uuid4()}"


def is_2x(client: Any) -> bool:
    return bool(client.version_name == "KMIP_2_0")


def aes_key(client: Any, bits: int = 256, *masks: Any) -> str:
    usage = list(masks) or [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    uid = client.create(enums.CryptographicAlgorithm.AES, bits, cryptographic_usage_mask=usage)
    client.activate(uid)
    return str(uid)


def test_lifecycle_check_and_attributes(client: Any) -> None:
    name = unique("lifecycle")
    uid = client.create(enums.CryptographicAlgorithm.AES, 128, name=name)
    assert isinstance(client.get(uid), objects.SymmetricKey)
    assert "Cryptographic Length" in client.get_attribute_list(uid)
    _, attributes = client.get_attributes(uid, ["State"])
    assert attributes[0].attribute_value.value == enums.State.PRE_ACTIVE
    client.activate(uid)
    # PyKMIP's check needs a usage mask (it iterates it unconditionally).
    assert client.check(uid, cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT]) == uid
    assert client.locate(attributes=[_attribute("Name", name)]) == [uid]
    client.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    client.destroy(uid)
    with pytest.raises(KmipOperationFailure):
        client.get(uid)


def _attribute(name: str, value: Any, index: int | None = None) -> Any:
    from kmip.core.factories.attributes import AttributeFactory

    return AttributeFactory().create_attribute(enums.AttributeType(name), value, index)


def test_encrypt_decrypt(client: Any) -> None:
    uid = aes_key(client)
    params = {
        "block_cipher_mode": enums.BlockCipherMode.CBC,
        "padding_method": enums.PaddingMethod.PKCS5,
        "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
    }
    iv = bytes(range(16))
    ciphertext, _ = client.encrypt(b"every operation", uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)
    assert len(ciphertext) == 16
    assert client.decrypt(ciphertext, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv) == (
        b"every operation"
    )


def test_mac(client: Any) -> None:
    uid = client.create(
        enums.CryptographicAlgorithm.HMAC_SHA256,
        256,
        cryptographic_usage_mask=[enums.CryptographicUsageMask.MAC_GENERATE],
    )
    client.activate(uid)
    mac_uid, mac = client.mac(b"message", uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    key = client.get(uid).value
    expected = hmac.HMAC(key, hashes.SHA256())
    expected.update(b"message")
    assert (mac_uid, mac) == (uid, expected.finalize())


def test_rsa_sign_and_verify(client: Any) -> None:
    public, private = client.create_key_pair(
        enums.CryptographicAlgorithm.RSA,
        2048,
        public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
        private_usage_mask=[enums.CryptographicUsageMask.SIGN],
    )
    client.activate(public)
    client.activate(private)
    params = {
        "padding_method": enums.PaddingMethod.PSS,
        "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
        "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
    }
    signature = client.sign(b"signed", uid=private, cryptographic_parameters=params)
    der = client.get(public).value
    key = serialization.load_der_public_key(der)
    key.verify(  # type: ignore[union-attr,call-arg]
        signature,
        b"signed",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),  # type: ignore[arg-type]
        hashes.SHA256(),  # type: ignore[arg-type]
    )
    valid = client.signature_verify(b"signed", signature, uid=public, cryptographic_parameters=params)
    assert valid == enums.ValidityIndicator.VALID
    invalid = client.signature_verify(b"other", signature, uid=public, cryptographic_parameters=params)
    assert invalid == enums.ValidityIndicator.INVALID


def test_ecdsa_sign_and_verify(client: Any) -> None:
    """ECDSA-with-SHA256 parameters on an EC key must not be read as RSA parameters."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = client.register(
        objects.PublicKey(
            enums.CryptographicAlgorithm.ECDSA,
            256,
            public_der,
            enums.KeyFormatType.X_509,
            masks=[enums.CryptographicUsageMask.VERIFY],
            name=unique("ec-public"),
        )
    )
    client.activate(public)
    signature = private_key.sign(b"ec message", ec.ECDSA(hashes.SHA256()))
    params = {
        "digital_signature_algorithm": enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256,
        "cryptographic_algorithm": enums.CryptographicAlgorithm.ECDSA,
        "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
    }
    assert client.signature_verify(b"ec message", signature, uid=public, cryptographic_parameters=params) == (
        enums.ValidityIndicator.VALID
    )
    assert client.signature_verify(b"tampered", signature, uid=public, cryptographic_parameters=params) == (
        enums.ValidityIndicator.INVALID
    )


def test_register_secret_and_derive_key(client: Any) -> None:
    secret = objects.SecretData(
        b"derivation base secret 32 bytes!",
        enums.SecretDataType.SEED,
        masks=[enums.CryptographicUsageMask.DERIVE_KEY],
        name=unique("derivation-base"),
    )
    base = client.register(secret)
    client.activate(base)
    derived = client.derive_key(
        enums.ObjectType.SYMMETRIC_KEY,
        [base],
        enums.DerivationMethod.HASH,
        {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256}},
        cryptographic_length=256,
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"derivation base secret 32 bytes!")
    assert client.get(derived).value == digest.finalize()


def test_rekey(client: Any) -> None:
    uid = aes_key(client)
    new_uid = client.rekey(uid=uid)
    assert new_uid != uid
    assert len(client.get(new_uid).value) == 32


def test_get_wrapped_with_no_encoding(client: Any) -> None:
    """A Get with a Key Wrapping Specification whose Encoding Option is No Encoding returns a Key Value
    structure whose Key Material is the wrapped bytes (PyKMIP parses it), with its Wrapping Method."""
    kek = aes_key(client, 256, enums.CryptographicUsageMask.WRAP_KEY, enums.CryptographicUsageMask.UNWRAP_KEY)
    uid = aes_key(client, 128)
    wrapped = client.get(
        uid,
        key_wrapping_specification={
            "wrapping_method": enums.WrappingMethod.ENCRYPT,
            "encryption_key_information": {
                "unique_identifier": kek,
                "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP},
            },
            "encoding_option": enums.EncodingOption.NO_ENCODING,
        },
    )
    assert wrapped.key_wrapping_data["wrapping_method"] == enums.WrappingMethod.ENCRYPT
    assert aes_key_unwrap(client.get(kek).value, wrapped.value) == client.get(uid).value


def test_set_modify_delete_attribute(client: Any) -> None:
    uid = client.create(enums.CryptographicAlgorithm.AES, 128, name=unique("first-name"))
    if is_2x(client):
        assert client.set_attribute(uid, attribute_name="Contact Information", attribute_value="ops") == uid
        new = cobjects.NewAttribute(attribute=primitives.TextString("oncall", tag=enums.Tags.CONTACT_INFORMATION))
        client.modify_attribute(uid, new_attribute=new)
        _, attributes = client.get_attributes(uid, ["Contact Information"])
        assert attributes[0].attribute_value.value == "oncall"
        current = cobjects.CurrentAttribute(
            attribute=primitives.TextString("oncall", tag=enums.Tags.CONTACT_INFORMATION)
        )
        client.delete_attribute(uid, current_attribute=current)
    else:
        second = unique("second-name")
        returned_uid, modified = client.modify_attribute(uid, attribute=_attribute("Name", second, 0))
        assert returned_uid == uid and modified.attribute_name.value == "Name"
        _, attributes = client.get_attributes(uid, ["Name"])
        assert attributes[0].attribute_value.name_value.value == second
        client.delete_attribute(uid, attribute_name="Name", attribute_index=0)
    _, attributes = client.get_attributes(uid, ["Contact Information", "Name"] if is_2x(client) else ["Name"])
    assert [a.attribute_name.value for a in attributes] == (["Name"] if is_2x(client) else [])


def test_discover_versions_query_and_rekey_key_pair(client: Any) -> None:
    proxy = client.proxy
    versions = proxy.discover_versions().protocol_versions
    assert (2, 0) in [(v.major, v.minor) for v in versions] and (1, 2) in [(v.major, v.minor) for v in versions]
    query = proxy.query(query_functions=[enums.QueryFunction.QUERY_OPERATIONS, enums.QueryFunction.QUERY_OBJECTS])
    operations = {enums.Operation(o.value) for o in query.operations}
    assert {enums.Operation.CREATE, enums.Operation.POLL, enums.Operation.CANCEL} <= operations
    public, private = client.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048)
    from kmip.core.attributes import PrivateKeyUniqueIdentifier

    result = proxy.rekey_key_pair(private_key_uuid=PrivateKeyUniqueIdentifier(private))
    assert result.result_status.value == enums.ResultStatus.SUCCESS, result.result_message
    assert result.private_key_uuid not in (None, private)
    assert client.get(result.public_key_uuid).value != client.get(public).value
