"""Cryptographic operations through a running ``keystead serve``, each beside the same operation done directly with
`cryptography` in the same run (issue 5 benchmarks).

Operations: AES-256-GCM Encrypt of 64 bytes, RSA-2048 OAEP (SHA-256) Decrypt, ECDSA P-256 (SHA-256) Sign. Paths:

- ``json``: bare JSON TTLV operations on ``POST /kmip/2_1`` over HTTPS (mutual TLS) with one lean keep-alive client
  posting the pre-encoded body (``bench_server.HttpClient``);
- ``5696``: a lean client on the mutual-TLS KMIP port sending a pre-encoded binary TTLV Request Message and reading
  the framed response (8-byte header + length), one connection;
- ``raw``: `cryptography` in this process with the same key.

Each row gives the median time per operation over ``ROUNDS`` rounds of ``BATCH`` operations, and the ratio to raw.
The issue's goal: RSA-2048 decrypt round trip <= 1.2 x the raw decrypt time. Run with ``python -m bench.bench_crypto``.
The server is started as a subprocess with a temporary data directory (``integration_tests/_keystead_server.py``).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench import UNLIMITED
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip import binary_codec, json_codec
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    Operation,
    PaddingMethod,
    Tag,
)
from kms_backend.kmip.mapper import to_tree
from kms_backend.kmip.schema import Attributes, Struct

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration_tests"))
from _keystead_server import KeysteadProcess

from bench._floor import tls_round_trip
from bench.bench_server import HttpClient

ROUNDS = 7
BATCH = 200
DATA = bytes(range(64))

GCM = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.AES, block_cipher_mode=BlockCipherMode.GCM
)
OAEP = S.CryptographicParameters(
    cryptographic_algorithm=CryptographicAlgorithm.RSA,
    padding_method=PaddingMethod.OAEP,
    hashing_algorithm=HashingAlgorithm.SHA_256,
)
ECDSA = S.CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256)


def timed(call: Callable[[], Any]) -> float:
    """Median seconds per call."""
    for _ in range(20):
        call()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(BATCH):
            call()
        samples.append((time.perf_counter() - start) / BATCH)
    return statistics.median(samples)


# -- transports ------------------------------------------------------------------------------------------------


class JsonClient:
    """Bare JSON TTLV operations on /kmip/2_1 over one keep-alive HTTPS connection."""

    def __init__(self, server: KeysteadProcess, tls: ssl.SSLContext) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.http_url, verify=tls, timeout=30)
        assert server.certs is not None
        self.lean_context = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
        self.lean_context.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
        self.lean_context.check_hostname = False

    def body(self, operation: Operation, payload: Struct) -> bytes:
        obj = json_codec.encode_obj(to_tree(payload))
        obj["tag"] = "".join(part.capitalize() for part in operation.name.split("_")).replace("Rng", "RNG")
        return json.dumps(obj).encode()

    def prepared(self, operation: Operation, payload: Struct) -> Callable[[], Any]:
        """A lean keep-alive client (``bench_server.HttpClient``) posting the pre-encoded body: httpx spends more
        CPU per request than the server does, which would measure the client."""
        body = self.body(operation, payload)
        port = int(self.server.http_url.rsplit(":", 1)[1])
        return HttpClient(port, self.lean_context, "/kmip/2_1", body).call

    def run(self, operation: Operation, payload: Struct) -> dict[str, Any]:
        response = self.http.post(
            "/kmip/2_1", content=self.body(operation, payload), headers={"content-type": "application/json"}
        )
        if response.status_code != 200:
            raise RuntimeError(response.text)
        result: dict[str, Any] = response.json()
        return result


class TtlvClient:
    """A lean binary TTLV client on the KMIP port: pre-encoded requests, one TLS connection."""

    def __init__(self, server: KeysteadProcess, tls: ssl.SSLContext) -> None:
        assert server.kmip_port is not None
        raw = socket.create_connection(("127.0.0.1", server.kmip_port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = tls.wrap_socket(raw, server_hostname="localhost")

    @staticmethod
    def encode(operation: Operation, payload: Struct) -> bytes:
        header = S.RequestHeader(
            protocol_version=S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1), batch_count=1
        )
        item = S.RequestBatchItem(operation=operation, request_payload=payload)
        return binary_codec.encode(to_tree(S.RequestMessage(request_header=header, batch_item=[item])))

    def exchange(self, message: bytes) -> bytes:
        self.conn.sendall(message)
        data = self._read(8)
        length = struct.unpack(">I", data[4:8])[0]
        body = self._read(length)
        if b"\x42\x00\x7f\x05\x00\x00\x00\x04\x00\x00\x00\x00" not in body:  # Result Status Success
            raise RuntimeError("KMIP operation failed")
        return data + body

    def _read(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = self.conn.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError("closed")
            chunks += chunk
        return bytes(chunks)

    def prepared(self, operation: Operation, payload: Struct) -> Callable[[], Any]:
        message = self.encode(operation, payload)
        return lambda: self.exchange(message)


# -- keys -------------------------------------------------------------------------------------------------------


def _register(http: JsonClient, object_type: ObjectType, obj: Struct) -> str:
    attrs = Attributes([(Tag.ACTIVATION_DATE, int(time.time()) - 60)])
    response = http.run(
        Operation.REGISTER, S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=obj)
    )
    return str(next(c["value"] for c in response["value"] if c["tag"] == "UniqueIdentifier"))


def _block(material: bytes, key_format: KeyFormatType, algorithm: CryptographicAlgorithm, length: int) -> S.KeyBlock:
    return S.KeyBlock(
        key_format_type=key_format,
        key_value=S.KeyValue(key_material=material),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )


def _pkcs8(key: Any) -> bytes:
    return bytes(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = KeysteadProcess.start(Path(tmp), "--log-level", "warning", *UNLIMITED)
        try:
            _run(server)
        finally:
            server.stop()


def _run(server: KeysteadProcess) -> None:
    assert server.certs is not None
    tls = ssl.create_default_context(cafile=str(server.certs / "ca.pem"))
    tls.load_cert_chain(str(server.certs / "client.pem"), str(server.certs / "client.key"))
    http = JsonClient(server, tls)
    ttlv = TtlvClient(server, tls)

    aes_key = os.urandom(32)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    aes_uid = _register(
        http,
        ObjectType.SYMMETRIC_KEY,
        S.SymmetricKey(key_block=_block(aes_key, KeyFormatType.RAW, CryptographicAlgorithm.AES, 256)),
    )
    rsa_uid = _register(
        http,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=_block(_pkcs8(rsa_key), KeyFormatType.PKCS_8, CryptographicAlgorithm.RSA, 2048)),
    )
    ec_uid = _register(
        http,
        ObjectType.PRIVATE_KEY,
        S.PrivateKey(key_block=_block(_pkcs8(ec_key), KeyFormatType.PKCS_8, CryptographicAlgorithm.EC, 256)),
    )
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    ciphertext = rsa_key.public_key().encrypt(b"a 32-byte data encryption key!!!", oaep)
    aesgcm = AESGCM(aes_key)

    cases: list[tuple[str, Callable[[], Any], Operation, Struct]] = [
        (
            "AES-256-GCM encrypt 64 B",
            lambda: aesgcm.encrypt(os.urandom(12), DATA, None),
            Operation.ENCRYPT,
            S.EncryptRequest(unique_identifier=aes_uid, cryptographic_parameters=GCM, data=DATA),
        ),
        (
            "RSA-2048 OAEP decrypt",
            lambda: rsa_key.decrypt(ciphertext, oaep),
            Operation.DECRYPT,
            S.DecryptRequest(unique_identifier=rsa_uid, cryptographic_parameters=OAEP, data=ciphertext),
        ),
        (
            "ECDSA P-256 sign",
            lambda: ec_key.sign(DATA, ec.ECDSA(hashes.SHA256())),
            Operation.SIGN,
            S.SignRequest(unique_identifier=ec_uid, cryptographic_parameters=ECDSA, data=DATA),
        ),
    ]
    print(f"\nbench_crypto: median of {ROUNDS} rounds x {BATCH} operations, one client, one connection per path")
    print(f"{'operation':<26} {'path':<6} {'µs/op':>9} {'x raw':>7}")
    floor = tls_round_trip(server.certs)
    for name, raw_call, operation, payload in cases:
        json_call = http.prepared(operation, payload)
        ttlv_call = ttlv.prepared(operation, payload)
        json_call()
        ttlv_call()  # both paths answer successfully before timing
        raw = timed(raw_call)
        results = [("raw", raw), ("json", timed(json_call)), ("5696", timed(ttlv_call))]
        for path, seconds in results:
            print(f"{name:<26} {path:<6} {seconds * 1e6:>9.1f} {seconds / raw:>7.2f}")
        # The same work behind a do-nothing TLS echo: the best any server on this machine could do.
        print(f"{name:<26} {'floor':<6} {(raw + floor) * 1e6:>9.1f} {(raw + floor) / raw:>7.2f}")
    print(f"floor = raw + one TLS echo round trip on loopback ({floor * 1e6:.0f} µs, `bench._floor`)")


if __name__ == "__main__":
    main()
