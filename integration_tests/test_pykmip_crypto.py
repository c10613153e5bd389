"""The cryptographic operations from PyKMIP's ProxyKmipClient against ``keystead serve`` over mutual TLS (KMIP 1.2
and 2.0): Encrypt/Decrypt, Sign/Signature Verify, MAC, Derive Key. PyKMIP has no Create/Join Split Key payloads,
so those go as raw TTLV request messages over the same TLS port."""

from __future__ import annotations

import socket
import ssl
import struct
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, messages
from kms_backend.kmip._registry_data import CryptographicAlgorithm as Alg
from kms_backend.kmip._registry_data import ObjectType, Operation, ResultStatus, SplitKeyMethod, Tag
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.schema import Attributes

try:
    from ._keystead_server import KeysteadProcess, pykmip_client  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, pykmip_client

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*MovedIn20Warning.*"),
]

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        from kmip import enums
        from kmip.pie.exceptions import KmipOperationFailure
    except ImportError:  # pragma: no cover - PyKMIP is a dev dependency
        enums = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("crypto"))
    assert process.kmip_port is not None
    yield process
    assert process.stop() == 0


@pytest.fixture(params=["KMIP_1_2", "KMIP_2_0"])
def pykmip(request: pytest.FixtureRequest, server: KeysteadProcess) -> Iterator[Any]:
    if enums is None:
        pytest.skip("PyKMIP is not installed")
    with pykmip_client(server, request.param) as client:
        yield client


def active_aes(pykmip: Any, length: int = 256, *usage: Any) -> str:
    mask = list(usage) or [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
    uid = pykmip.create(enums.CryptographicAlgorithm.AES, length, cryptographic_usage_mask=mask)
    pykmip.activate(uid)
    return str(uid)


def test_encrypt_decrypt_aes_cbc(pykmip: Any) -> None:
    uid = active_aes(pykmip)
    params = {
        "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
        "block_cipher_mode": enums.BlockCipherMode.CBC,
        "padding_method": enums.PaddingMethod.PKCS5,
        "random_iv": True,
    }
    ciphertext, iv = pykmip.encrypt(b"attack at dawn", uid=uid, cryptographic_parameters=params)
    assert len(iv) == 16 and len(ciphertext) == 16
    params.pop("random_iv")
    assert (
        pykmip.decrypt(ciphertext, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv) == b"attack at dawn"
    )


def test_encrypt_with_a_pre_active_key_fails(pykmip: Any) -> None:
    uid = pykmip.create(enums.CryptographicAlgorithm.AES, 128)
    with pytest.raises(KmipOperationFailure) as info:
        pykmip.encrypt(b"x", uid=uid, cryptographic_parameters={"block_cipher_mode": enums.BlockCipherMode.CBC})
    assert info.value.reason in (enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE, enums.ResultReason.PERMISSION_DENIED)


def test_rsa_encrypt_decrypt_and_sign_verify(pykmip: Any) -> None:
    public, private = pykmip.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048)
    pykmip.activate(public)
    pykmip.activate(private)
    oaep = {
        "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
        "padding_method": enums.PaddingMethod.OAEP,
        "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
    }
    ciphertext, _ = pykmip.encrypt(b"session key", uid=public, cryptographic_parameters=oaep)
    assert len(ciphertext) == 256
    assert pykmip.decrypt(ciphertext, uid=private, cryptographic_parameters=oaep) == b"session key"
    pss = {
        "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
        "padding_method": enums.PaddingMethod.PSS,
        "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
    }
    signature = pykmip.sign(b"document", uid=private, cryptographic_parameters=pss)
    valid = pykmip.signature_verify(b"document", signature, uid=public, cryptographic_parameters=pss)
    assert valid == enums.ValidityIndicator.VALID
    forged = pykmip.signature_verify(b"d0cument", signature, uid=public, cryptographic_parameters=pss)
    assert forged == enums.ValidityIndicator.INVALID


def test_mac(pykmip: Any) -> None:
    mask = [enums.CryptographicUsageMask.MAC_GENERATE, enums.CryptographicUsageMask.MAC_VERIFY]
    uid = pykmip.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, cryptographic_usage_mask=mask)
    pykmip.activate(uid)
    got_uid, mac = pykmip.mac(b"message", uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    assert got_uid == uid and len(mac) == 32
    assert pykmip.mac(b"message", uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)[1] == mac


def test_derive_key(pykmip: Any) -> None:
    base = active_aes(pykmip, 256, enums.CryptographicUsageMask.DERIVE_KEY)
    derived = pykmip.derive_key(
        enums.ObjectType.SYMMETRIC_KEY,
        [base],
        enums.DerivationMethod.HMAC,
        {
            "cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256},
            "derivation_data": b"context",
        },
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        cryptographic_length=128,
    )
    assert len(pykmip.get(derived).value) == 16
    pbkdf2 = pykmip.derive_key(
        enums.ObjectType.SYMMETRIC_KEY,
        [base],
        enums.DerivationMethod.PBKDF2,
        {
            "cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256},
            "salt": b"salt" * 4,
            "iteration_count": 1000,
        },
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        cryptographic_length=256,
    )
    assert len(pykmip.get(pbkdf2).value) == 32


# --- Create / Join Split Key as raw TTLV messages --------------------------------------------------------------------


def roundtrip(server: KeysteadProcess, operation: Operation, payload: Any) -> Any:
    """One 2.1 request over the mutual-TLS KMIP port; the response payload (asserting success)."""
    assert server.certs is not None and server.kmip_port is not None
    context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    context.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    header = S.RequestHeader(
        protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1), batch_count=1
    )
    message = S.RequestMessage(
        request_header=header, batch_item=[S.RequestBatchItem(operation=operation, request_payload=payload)]
    )
    with (
        socket.create_connection(("127.0.0.1", server.kmip_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(binary_codec.encode(to_tree(message)))
        data = b""
        while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
            chunk = conn.recv(65536)
            assert chunk, "connection closed"
            data += chunk
    response = messages.decode_response(binary_codec.decode(data))
    item = response.batch_item[0]
    assert item.result_status == ResultStatus.SUCCESS, item.result_message
    return item.response_payload


@pytest.mark.parametrize(
    ("method", "prime_field_size"),
    [
        (SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8, None),
        (SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16, None),
        (SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD, (1 << 521) - 1),  # a Big Integer on the wire
    ],
    ids=["gf256", "gf65536", "prime"],
)
def test_create_and_join_split_key(
    server: KeysteadProcess, pykmip: Any, method: SplitKeyMethod, prime_field_size: int | None
) -> None:
    key = bytes(range(32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from kmip.pie import objects

    uid = pykmip.register(
        objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, key, name=f"split-{uuid.uuid4()}")
    )
    split = roundtrip(
        server,
        Operation.CREATE_SPLIT_KEY,
        S.CreateSplitKeyRequest(
            object_type=ObjectType.SYMMETRIC_KEY,
            unique_identifier=uid,
            split_key_parts=4,
            split_key_threshold=2,
            split_key_method=method,
            prime_field_size=prime_field_size,
            attributes=Attributes(),
        ),
    )
    parts = [str(u) for u in split.unique_identifier]
    assert len(parts) == 4
    joined = roundtrip(
        server,
        Operation.JOIN_SPLIT_KEY,
        S.JoinSplitKeyRequest(
            object_type=ObjectType.SYMMETRIC_KEY,
            unique_identifier=[parts[3], parts[1]],
            attributes=Attributes([(Tag.CRYPTOGRAPHIC_ALGORITHM, Alg.AES)]),
        ),
    )
    assert pykmip.get(str(joined.unique_identifier)).value == key
