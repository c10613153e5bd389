"""Coming from Cosmian KMS: requests shaped as Cosmian's 5.x clients (``ckms``, its test vectors) and its 4.x Python
client send them to ``POST /kmip/2_1``, and the answers their clients read. Shapes follow Cosmian's documentation
(JSON TTLV, bare operations) and the wire captures of ``cosmian-kms`` 4.22.1 in ../shared/notes/cosmian.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration_tests._keystead_server import request_message
from tests.server.conftest import Call

PAST = {"tag": "ActivationDate", "type": "DateTime", "value": "2024-01-01T00:00:00Z"}
UNRESTRICTED = 0x00200000


def node(tag: str, kind: str, value: Any) -> dict[str, Any]:
    return {"tag": tag, "type": kind, "value": value}


def enum(tag: str, value: str) -> dict[str, Any]:
    return node(tag, "Enumeration", value)


def uid_node(uid: str) -> dict[str, Any]:
    return node("UniqueIdentifier", "TextString", uid)


def post(call: Call, body: dict[str, Any], status: int = 200) -> Any:
    response = call("POST", "/kmip/2_1", json=body)
    assert response.status_code == status, response.text
    return response.json() if status == 200 else response.text


def find(tree: Any, tag: str) -> Any:
    """The value of the first node tagged ``tag`` (depth first)."""
    if isinstance(tree, dict):
        if tree.get("tag") == tag:
            return tree.get("value")
        return find(tree.get("value"), tag)
    if isinstance(tree, list):
        for child in tree:
            found = find(child, tag)
            if found is not None:
                return found
    return None


def create_key_pair(call: Call, algorithm: str, *extra: dict[str, Any], mask: int | None = None) -> tuple[str, str]:
    """Cosmian's CreateKeyPair shape: the same attributes in CommonAttributes and in each key's attributes."""
    attributes = [enum("CryptographicAlgorithm", algorithm), *extra, PAST]
    if mask is not None:
        attributes.append(node("CryptographicUsageMask", "Integer", mask))
    answer = post(
        call,
        {
            "tag": "CreateKeyPair",
            "value": [
                {"tag": "CommonAttributes", "value": attributes},
                {"tag": "PrivateKeyAttributes", "value": [*attributes, enum("ObjectType", "PrivateKey")]},
                {"tag": "PublicKeyAttributes", "value": [*attributes, enum("ObjectType", "PublicKey")]},
            ],
        },
    )
    return find(answer, "PrivateKeyUniqueIdentifier"), find(answer, "PublicKeyUniqueIdentifier")


def sign_and_verify(call: Call, private: str, public: str) -> None:
    signed = post(call, {"tag": "Sign", "value": [uid_node(private), node("Data", "ByteString", "48454C4C4F")]})
    signature = find(signed, "SignatureData")
    verified = post(
        call,
        {
            "tag": "SignatureVerify",
            "value": [
                uid_node(public),
                node("Data", "ByteString", "48454C4C4F"),
                node("SignatureData", "ByteString", signature),
            ],
        },
    )
    assert find(verified, "ValidityIndicator") == "Valid"


CURVE_P256 = {"tag": "CryptographicDomainParameters", "value": [enum("RecommendedCurve", "P256")]}


@pytest.mark.parametrize(
    ("algorithm", "extra"),
    [
        ("ECDH", [CURVE_P256]),
        ("ECDSA", [CURVE_P256]),
        ("Ed25519", []),
        ("RSA", [node("CryptographicLength", "Integer", 2048)]),
        ("MLDSA_44", []),
        ("SLHDSA_SHAKE_128F", []),
    ],
)
@pytest.mark.parametrize("mask", [None, UNRESTRICTED], ids=["no-mask", "unrestricted"])
def test_key_pairs_sign_with_no_mask_or_cosmians_unrestricted_mask(
    call: Call, algorithm: str, extra: list[dict[str, Any]], mask: int | None
) -> None:
    private, public = create_key_pair(call, algorithm, *extra, mask=mask)
    sign_and_verify(call, private, public)


@pytest.mark.parametrize("algorithm", ["MLKEM_512", "MLKEM_768", "MLKEM_1024"])
def test_ml_kem_encapsulates_and_decapsulates_with_cosmians_unrestricted_mask(call: Call, algorithm: str) -> None:
    """Cosmian's ML-KEM Encrypt of empty Data on the public key answers the shared secret as Data and the
    encapsulation as IVCounterNonce; Decrypt of that encapsulation with the private key gives the secret back.
    Data to encrypt still gets the hybrid (KEM + AES-GCM) encryption."""
    private, public = create_key_pair(call, algorithm, mask=UNRESTRICTED)
    encapsulated = post(call, {"tag": "Encrypt", "value": [uid_node(public), node("Data", "ByteString", "")]})
    shared, ciphertext = find(encapsulated, "Data"), find(encapsulated, "IVCounterNonce")
    assert len(bytes.fromhex(shared)) == 32 and ciphertext
    decapsulated = post(call, {"tag": "Decrypt", "value": [uid_node(private), node("Data", "ByteString", ciphertext)]})
    assert find(decapsulated, "Data") == shared
    sealed = post(call, {"tag": "Encrypt", "value": [uid_node(public), node("Data", "ByteString", "48454C4C4F")]})
    opened = post(
        call, {"tag": "Decrypt", "value": [uid_node(private), node("Data", "ByteString", find(sealed, "Data"))]}
    )
    assert find(opened, "Data") == "48454C4C4F"


def test_default_masks_follow_the_algorithm(call: Call) -> None:
    """Signature-only algorithms sign and verify; ML-KEM keys do not sign; RSA pairs may do both."""
    private, public = create_key_pair(call, "SLHDSA_SHA2_128F")
    masks = [
        find(post(call, {"tag": "GetAttributes", "value": [uid_node(uid)]}), "CryptographicUsageMask")
        for uid in (private, public)
    ]
    assert masks[0] & 0x1 and not masks[0] & 0x8  # Sign, not Decrypt
    assert masks[1] & 0x2 and not masks[1] & 0x4  # Verify, not Encrypt
    kem_private, _ = create_key_pair(call, "MLKEM_768")
    signed = post(call, {"tag": "Sign", "value": [uid_node(kem_private), node("Data", "ByteString", "00")]}, status=422)
    assert "Incompatible_Cryptographic_Usage_Mask" in signed or "sign" in signed.lower()


def test_kmip_1_4_attribute_values_given_by_enumeration_name(call: Call) -> None:
    """A 1.4-style Template-Attribute whose Attribute Values are enumeration (and mask) names, as FortiGate, VAST
    and Cosmian's own KMIP 1.4 vectors send them in JSON."""

    def attribute(name: str, kind: str, value: Any) -> dict[str, Any]:
        return {
            "tag": "Attribute",
            "value": [node("AttributeName", "TextString", name), node("AttributeValue", kind, value)],
        }

    template = {
        "tag": "TemplateAttribute",
        "value": [
            attribute("Cryptographic Algorithm", "Enumeration", "AES"),
            attribute("Cryptographic Length", "Integer", 128),
            attribute("Cryptographic Usage Mask", "Integer", "Encrypt|Decrypt"),
        ],
    }
    message = request_message(("Create", [enum("ObjectType", "SymmetricKey"), template]), version=(1, 4))
    answer = post(call, message)
    assert find(answer, "ResultStatus") == "Success", answer
    uid = find(answer, "UniqueIdentifier")
    attributes = post(call, {"tag": "GetAttributes", "value": [uid_node(uid)]})
    assert find(attributes, "CryptographicAlgorithm") == "AES"
    assert find(attributes, "CryptographicUsageMask") == 12


def create_aes(call: Call, *extra: dict[str, Any], length: int = 256) -> str:
    answer = post(
        call,
        {
            "tag": "Create",
            "value": [
                enum("ObjectType", "SymmetricKey"),
                {
                    "tag": "Attributes",
                    "value": [
                        enum("CryptographicAlgorithm", "AES"),
                        node("CryptographicLength", "Integer", length),
                        node("CryptographicUsageMask", "Integer", 2108),
                        PAST,
                        *extra,
                    ],
                },
            ],
        },
    )
    return str(find(answer, "UniqueIdentifier"))


def test_derive_key_with_cosmians_object_unique_identifier(call: Call) -> None:
    """Cosmian's DeriveKey names the base object ``ObjectUniqueIdentifier``; HKDF-SHA256 gives RFC 5869's A.1
    output from its IKM, salt and info."""
    imported = post(
        call,
        {
            "tag": "Import",
            "value": [
                uid_node("hkdf-base"),
                enum("ObjectType", "SecretData"),
                {
                    "tag": "Attributes",
                    "value": [node("CryptographicUsageMask", "Integer", 0x200), PAST],
                },
                {
                    "tag": "SecretData",
                    "value": [
                        enum("SecretDataType", "Seed"),
                        {
                            "tag": "KeyBlock",
                            "value": [
                                enum("KeyFormatType", "Raw"),
                                {"tag": "KeyValue", "value": [node("KeyMaterial", "ByteString", "0B" * 22)]},
                            ],
                        },
                    ],
                },
            ],
        },
    )
    base = find(imported, "UniqueIdentifier")
    derived = post(
        call,
        {
            "tag": "DeriveKey",
            "value": [
                enum("ObjectType", "SecretData"),
                node("ObjectUniqueIdentifier", "TextString", base),
                enum("DerivationMethod", "HKDF"),
                {
                    "tag": "DerivationParameters",
                    "value": [
                        {"tag": "CryptographicParameters", "value": [enum("HashingAlgorithm", "SHA256")]},
                        node("DerivationData", "ByteString", "F0F1F2F3F4F5F6F7F8F9"),
                        node("Salt", "ByteString", "000102030405060708090A0B0C"),
                    ],
                },
                {"tag": "Attributes", "value": [node("CryptographicLength", "Integer", 336), PAST]},
            ],
        },
    )
    got = post(call, {"tag": "Get", "value": [uid_node(find(derived, "UniqueIdentifier"))]})
    assert find(got, "KeyMaterial") == (
        "3CB25F25FAACD57A90434F64D0362F2A2D2D0A90CF1A5A4C5DB02D56ECC4C5BF34007208D5B887185865"
    )


def test_aes_xts_keys_are_512_bits(call: Call) -> None:
    uid = create_aes(call, length=512)
    params = {
        "tag": "CryptographicParameters",
        "value": [enum("BlockCipherMode", "XTS"), enum("CryptographicAlgorithm", "AES")],
    }
    tweak = node("IVCounterNonce", "ByteString", "00" * 15 + "02")
    data = "41455320585453207365637465722032"
    encrypted = post(
        call, {"tag": "Encrypt", "value": [uid_node(uid), params, node("Data", "ByteString", data), tweak]}
    )
    ciphertext = find(encrypted, "Data")
    assert ciphertext != data and len(ciphertext) == len(data)
    decrypted = post(
        call, {"tag": "Decrypt", "value": [uid_node(uid), params, node("Data", "ByteString", ciphertext), tweak]}
    )
    assert find(decrypted, "Data") == data


def wrapping_key_id(kek: str) -> dict[str, Any]:
    return {
        "tag": "Attribute",
        "value": [
            node("VendorIdentification", "TextString", "cosmian"),
            node("AttributeName", "TextString", "wrapping_key_id"),
            node("AttributeValue", "TextString", kek),
        ],
    }


def test_wrapping_key_id_stores_the_key_wrapped_and_re_key_keeps_it_so(call: Call) -> None:
    kek = create_aes(call)
    uid = create_aes(call, wrapping_key_id(kek))
    got = post(call, {"tag": "Get", "value": [uid_node(uid)]})
    assert find(got, "WrappingMethod") == "Encrypt"
    assert find(find(got, "EncryptionKeyInformation"), "UniqueIdentifier") == kek
    # Usable as it is: the server unwraps it for the operation.
    encrypted = post(call, {"tag": "Encrypt", "value": [uid_node(uid), node("Data", "ByteString", "00FF")]})
    assert find(encrypted, "IVCounterNonce")
    # Re-key: the replacement is Active at once (no Offset) and stored wrapped with the same key.
    new = find(post(call, {"tag": "ReKey", "value": [uid_node(uid)]}), "UniqueIdentifier")
    got = post(call, {"tag": "Get", "value": [uid_node(new)]})
    assert find(got, "WrappingMethod") == "Encrypt"
    post(call, {"tag": "Encrypt", "value": [uid_node(new), node("Data", "ByteString", "00FF")]})


def revoke(call: Call, uid: str) -> None:
    reason = {"tag": "RevocationReason", "value": [enum("RevocationReasonCode", "Unspecified")]}
    post(call, {"tag": "Revoke", "value": [uid_node(uid), reason]})


def test_re_key_key_pair_leaves_the_new_pair_usable(call: Call) -> None:
    private, public = create_key_pair(call, "ECDSA", CURVE_P256)
    answer = post(call, {"tag": "ReKeyKeyPair", "value": [node("PrivateKeyUniqueIdentifier", "TextString", private)]})
    sign_and_verify(call, find(answer, "PrivateKeyUniqueIdentifier"), find(answer, "PublicKeyUniqueIdentifier"))
    assert public != find(answer, "PublicKeyUniqueIdentifier")


def test_re_key_key_pair_replaces_deactivated_and_pre_active_pairs_and_refuses_unlinked_ones(call: Call) -> None:
    """Cosmian refuses Pre-Active pairs; KMIP does not (§6.1.47 has no Wrong Key Lifecycle State), and KMIP clients
    (PyKMIP) re-key a pair they have just created, so Keystead replaces it."""
    private, _public = create_key_pair(call, "ECDSA", CURVE_P256)
    revoke(call, private)
    answer = post(call, {"tag": "ReKeyKeyPair", "value": [node("PrivateKeyUniqueIdentifier", "TextString", private)]})
    sign_and_verify(call, find(answer, "PrivateKeyUniqueIdentifier"), find(answer, "PublicKeyUniqueIdentifier"))
    pending = post(
        call,
        {
            "tag": "CreateKeyPair",
            "value": [{"tag": "CommonAttributes", "value": [enum("CryptographicAlgorithm", "Ed25519")]}],
        },
    )
    pre_active = find(pending, "PrivateKeyUniqueIdentifier")
    answer = post(
        call, {"tag": "ReKeyKeyPair", "value": [node("PrivateKeyUniqueIdentifier", "TextString", pre_active)]}
    )
    assert find(answer, "PrivateKeyUniqueIdentifier") != pre_active  # the replacement of a Pre-Active pair waits too
    private, _public = create_key_pair(call, "ECDSA", CURVE_P256)
    link = {
        "tag": "Link",
        "value": [enum("LinkType", "PublicKeyLink"), node("LinkedObjectIdentifier", "TextString", _public)],
    }
    post(call, {"tag": "DeleteAttribute", "value": [uid_node(private), {"tag": "CurrentAttribute", "value": [link]}]})
    refused = post(
        call, {"tag": "ReKeyKeyPair", "value": [node("PrivateKeyUniqueIdentifier", "TextString", private)]}, 422
    )
    assert "no PublicKeyLink" in refused


def test_cosmian_4x_python_client_shapes(call: Call) -> None:
    """The requests ``cosmian-kms`` 4.22.1 sends (wire captures): Create with nested VendorAttributes tags and no
    Activation Date (4.x servers made keys Active), Encrypt answered with ``IvCounterNonce``, Get answered with
    ``Object`` ▸ TransparentSymmetricKey, Revoke with a bare text reason."""
    tags = json.dumps(["v4-tag", "t2"]).encode().hex().upper()
    created = post(
        call,
        {
            "tag": "Create",
            "type": "Structure",
            "value": [
                enum("ObjectType", "SymmetricKey"),
                {
                    "tag": "Attributes",
                    "type": "Structure",
                    "value": [
                        enum("CryptographicAlgorithm", "AES"),
                        node("CryptographicLength", "Integer", 256),
                        node("CryptographicUsageMask", "Integer", 2108),
                        enum("KeyFormatType", "TransparentSymmetricKey"),
                        enum("ObjectType", "SymmetricKey"),
                        node("Sensitive", "Boolean", False),
                        {
                            "tag": "VendorAttributes",
                            "type": "Structure",
                            "value": [
                                {
                                    "tag": "VendorAttributes",
                                    "type": "Structure",
                                    "value": [
                                        node("VendorIdentification", "TextString", "cosmian"),
                                        node("AttributeName", "TextString", "tag"),
                                        node("AttributeValue", "ByteString", tags),
                                    ],
                                }
                            ],
                        },
                    ],
                },
            ],
        },
    )
    uid = find(created, "UniqueIdentifier")
    encrypted = post(
        call,
        {
            "tag": "Encrypt",
            "type": "Structure",
            "value": [node("UniqueIdentifier", "TextString", '["v4-tag"]'), node("Data", "ByteString", "68656C6C6F")],
        },
    )
    assert find(encrypted, "IvCounterNonce") and find(encrypted, "IVCounterNonce") is None
    got = post(
        call,
        {"tag": "Get", "type": "Structure", "value": [uid_node(uid), enum("KeyWrapType", "AsRegistered")]},
    )
    obj = next(child for child in got["value"] if child["tag"] == "Object")
    assert find(obj, "KeyFormatType") == "TransparentSymmetricKey" and len(bytes.fromhex(find(obj, "Key"))) == 32
    revoked = post(
        call,
        {
            "tag": "Revoke",
            "type": "Structure",
            "value": [uid_node(uid), node("RevocationReason", "TextString", "compromised")],
        },
    )
    assert find(revoked, "UniqueIdentifier") == uid
    # A 5.x request for the same key still gets 5.x shapes.
    got = post(call, {"tag": "Get", "value": [uid_node(uid), enum("KeyFormatType", "Raw")]})
    assert find(got, "SymmetricKey") is not None and find(got, "Object") is None


def set_rotate_name(call: Call, uid: str, name: str, status: int = 200) -> Any:
    """Cosmian's key-set call: SetAttribute of RotateName as a bare Text String."""
    return post(
        call,
        {
            "tag": "SetAttribute",
            "value": [uid_node(uid), {"tag": "NewAttribute", "value": [node("RotateName", "TextString", name)]}],
        },
        status,
    )


def encrypt(call: Call, key: str, data: str) -> dict[str, str]:
    answer = post(call, {"tag": "Encrypt", "value": [uid_node(key), node("Data", "ByteString", data)]})
    return {
        "uid": find(answer, "UniqueIdentifier"),
        "data": find(answer, "Data"),
        "iv": find(answer, "IVCounterNonce"),
        "tag": find(answer, "AuthenticatedEncryptionTag"),
    }


def decrypt(call: Call, key: str, sealed: dict[str, str]) -> dict[str, Any]:
    answer = post(
        call,
        {
            "tag": "Decrypt",
            "value": [
                uid_node(key),
                node("Data", "ByteString", sealed["data"]),
                node("IVCounterNonce", "ByteString", sealed["iv"]),
                node("AuthenticatedEncryptionTag", "ByteString", sealed["tag"]),
            ],
        },
    )
    return {"uid": find(answer, "UniqueIdentifier"), "data": find(answer, "Data")}


def test_key_sets_encrypt_with_the_latest_and_decrypt_with_whichever_fits(call: Call) -> None:
    first = create_aes(call)
    set_rotate_name(call, first, "payments")
    before = encrypt(call, "payments", "0102")
    assert before["uid"] == first
    second = find(post(call, {"tag": "ReKey", "value": [uid_node(first)]}), "UniqueIdentifier")
    third = find(post(call, {"tag": "ReKey", "value": [uid_node(second)]}), "UniqueIdentifier")
    # The bare name and name@latest designate the newest key; name@first and name@N the others.
    after = encrypt(call, "payments", "0304")
    assert after["uid"] == third
    assert encrypt(call, "payments@latest", "05")["uid"] == third
    assert encrypt(call, "payments@first", "05")["uid"] == first
    assert encrypt(call, "payments@1", "05")["uid"] == second
    # Decrypt with the set's name: whichever key fits, newest first.
    assert decrypt(call, "payments", before) == {"uid": first, "data": "0102"}
    assert decrypt(call, "payments", after) == {"uid": third, "data": "0304"}
    # Only the latest key of a set may be re-keyed.
    refused = post(call, {"tag": "ReKey", "value": [uid_node(first)]}, 422)
    assert "not the latest" in refused
    # '@' is reserved for the selectors.
    assert "must not contain '@'" in set_rotate_name(call, create_aes(call), "bad@name", 422)
    attributes = post(call, {"tag": "GetAttributes", "value": [uid_node(third)]})
    assert find(find(attributes, "RotateName"), "RotateNameValue") == "payments"
    assert find(attributes, "RotateGeneration") == 2


def test_rng_seed_answers_amount_of_seed_data(call: Call) -> None:
    answer = post(call, {"tag": "RNGSeed", "value": [node("Data", "ByteString", "AB" * 32)]})
    assert find(answer, "AmountOfSeedData") == 32


def test_lifecycle_errors_carry_the_phrases_cosmian_clients_match(call: Call) -> None:
    uid = create_aes(call)
    refused = post(call, {"tag": "Activate", "value": [uid_node(uid)]}, 422)
    assert "Wrong_Key_Lifecycle_State" in refused and "already" in refused
    refused = post(
        call,
        {"tag": "SetAttribute", "value": [uid_node(uid), {"tag": "NewAttribute", "value": [enum("State", "Active")]}]},
        422,
    )
    assert "server-managed" in refused
