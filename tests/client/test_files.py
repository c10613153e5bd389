"""Streamed file encryption (``client.files``): both modes round-trip every size around chunk boundaries, and any
alteration (a flipped byte, reordered, dropped or truncated chunks, a changed header) fails authentication."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kms_backend.client import KmsClient, KmsOperationError
from kms_backend.client.files import (
    FileFormatError,
    Header,
    decrypt_file,
    decrypt_stream,
    encrypt_file,
    encrypt_stream,
    read_header,
)
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ResultReason

CHUNK = 64
MODES = [("server", "aes-gcm"), ("envelope", "aes-gcm"), ("envelope", "rfc5649")]


def _encrypt(kms: KmsClient, key: str, data: bytes, mode: str, wrapping: str = "aes-gcm", **kw: object) -> bytes:
    out = io.BytesIO()
    read = encrypt_stream(kms, key, io.BytesIO(data), out, mode=mode, wrapping=wrapping, chunk_size=CHUNK, **kw)  # type: ignore[arg-type]
    assert read == len(data)
    return out.getvalue()


def _decrypt(kms: KmsClient, key: str, sealed: bytes) -> bytes:
    out = io.BytesIO()
    decrypt_stream(kms, key, io.BytesIO(sealed), out)
    return out.getvalue()


@pytest.mark.parametrize(("mode", "wrapping"), MODES)
@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_round_trip(kms: KmsClient, mode: str, wrapping: str, size: int) -> None:
    key = kms.create_symmetric_key()
    data = os.urandom(size)
    sealed = _encrypt(kms, key, data, mode, wrapping)
    header = read_header(io.BytesIO(sealed))
    chunks = size // CHUNK + 1
    assert len(sealed) == len(header.encode()) + size + chunks * 28
    assert _decrypt(kms, key, sealed) == data


def test_envelope_sends_only_the_data_key_to_the_kms(kms: KmsClient) -> None:
    key = kms.create_symmetric_key()
    transport = kms._transports[0]
    before = transport.exchanges  # type: ignore[attr-defined]
    sealed = _encrypt(kms, key, os.urandom(10 * CHUNK), "envelope")
    assert transport.exchanges - before == 1  # type: ignore[attr-defined]
    assert read_header(io.BytesIO(sealed)).mode == 1


def test_chacha20_poly1305_chunks(kms: KmsClient) -> None:
    key = kms.create_symmetric_key(CryptographicAlgorithm.CHACHA20, 256)
    data = os.urandom(2 * CHUNK + 3)
    sealed = _encrypt(kms, key, data, "server", algorithm="chacha20-poly1305")
    assert _decrypt(kms, key, sealed) == data
    aes = kms.create_symmetric_key()
    sealed = _encrypt(kms, aes, data, "envelope", algorithm="chacha20-poly1305")
    assert _decrypt(kms, aes, sealed) == data


def _layout(sealed: bytes) -> tuple[bytes, list[bytes]]:
    header = read_header(io.BytesIO(sealed)).encode()
    body = sealed[len(header) :]
    size = CHUNK + 28
    return header, [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize(("mode", "wrapping"), MODES)
def test_alterations_fail(kms: KmsClient, mode: str, wrapping: str) -> None:
    key = kms.create_symmetric_key()
    data = os.urandom(3 * CHUNK)  # a multiple: the last chunk is the empty final one
    sealed = _encrypt(kms, key, data, mode, wrapping)
    header, chunks = _layout(sealed)
    assert len(chunks) == 4 and len(chunks[-1]) == 28
    flipped = bytearray(sealed)
    flipped[len(header) + 40] ^= 1
    altered = {
        "flipped byte": bytes(flipped),
        "reordered": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "final chunk dropped": header + b"".join(chunks[:-1]),
        "cut inside a chunk": sealed[:-5],
        "last full chunk dropped": header + b"".join(chunks[:2]) + chunks[3],
        "header changed": header[:8] + (CHUNK + 1).to_bytes(4, "big") + sealed[12:],
    }
    for name, bad in altered.items():
        with pytest.raises((FileFormatError, KmsOperationError)) as failure:
            _decrypt(kms, key, bad)
        assert failure.value.reason == ResultReason.CRYPTOGRAPHIC_FAILURE, name


def test_not_our_format(kms: KmsClient) -> None:
    key = kms.create_symmetric_key()
    with pytest.raises(FileFormatError, match="bad magic"):
        _decrypt(kms, key, b"\x89PNG\r\n" + bytes(40))
    with pytest.raises(FileFormatError, match="header"):
        _decrypt(kms, key, Header(1, 1, 1, CHUNK, b"x" * 60).encode()[:-10])


def test_wrong_key_fails(kms: KmsClient) -> None:
    sealed = _encrypt(kms, kms.create_symmetric_key(), b"secret", "server")
    with pytest.raises(KmsOperationError) as failure:
        _decrypt(kms, kms.create_symmetric_key(), sealed)
    assert failure.value.reason == ResultReason.CRYPTOGRAPHIC_FAILURE


def test_files_are_replaced_only_when_complete(kms: KmsClient, tmp_path: Path) -> None:
    key = kms.create_symmetric_key()
    source, sealed, plain = tmp_path / "in.bin", tmp_path / "in.enc", tmp_path / "out.bin"
    source.write_bytes(os.urandom(5 * CHUNK + 1))
    seen: list[int] = []
    encrypt_file(kms, key, source, sealed, chunk_size=CHUNK, progress=seen.append)
    assert sum(seen) == 5 * CHUNK + 1
    decrypt_file(kms, key, sealed, plain)
    assert plain.read_bytes() == source.read_bytes()
    data = bytearray(sealed.read_bytes())
    data[-1] ^= 1
    sealed.write_bytes(bytes(data))
    plain.unlink()
    with pytest.raises(KmsOperationError):
        decrypt_file(kms, key, sealed, plain)
    assert not plain.exists() and not (tmp_path / "out.bin.part").exists()
