"""Encrypt and decrypt files of any size with a KMS key, streamed in chunks (memory stays bounded by two chunks).

Two modes share one file format:

* **server-side** (default): the KMS encrypts each chunk with the named key (one KMIP Encrypt per chunk); the key
  never leaves the KMS.
* **envelope** (client-side): a fresh 256-bit data key is drawn locally, wrapped by the KMS key (KMIP Encrypt,
  AES-GCM or RFC 5649 key wrap) and stored in the header; the chunks are encrypted locally, so the file's bytes
  never travel to the KMS and only the 32-byte data key is sent to it, to wrap and to unwrap.

File format (all integers big-endian)::

    magic          4 bytes   b"KSE1"
    mode           1 byte    0 = server-side, 1 = envelope
    algorithm      1 byte    1 = AES-GCM, 2 = ChaCha20-Poly1305 (the chunk cipher)
    wrapping       1 byte    envelope: 1 = AES-GCM, 2 = RFC 5649 (how the data key is wrapped); 0 otherwise
    reserved       1 byte    0
    chunk size     4 bytes   plaintext bytes per chunk (every chunk but the last is exactly this long)
    wrapped length 2 bytes   length of the wrapped data key (0 in server-side mode)
    wrapped key    n bytes   envelope: the KMS output (AES-GCM: nonce ‖ ciphertext ‖ tag; RFC 5649: the wrap)
    chunks         ...       each: nonce (12) ‖ ciphertext (same length as its plaintext) ‖ tag (16)

Chunk *i* (from 0) is authenticated with the additional data ``header ‖ i (8 bytes) ‖ final (1 byte: 1 for the
last chunk)``: chunks cannot be reordered, moved to another file or dropped from the end unnoticed. A plaintext
whose length is a multiple of the chunk size ends with an empty final chunk. In envelope mode with AES-GCM
wrapping, the data key's additional data is the header up to and excluding the wrapped length.

Decryption writes to ``OUTPUT.part`` and renames it only once the final chunk has been verified: a failure leaves
no partial plaintext under the requested name.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..kmip import _schema_data as S
from ..kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, ResultReason
from .client import KmsClient
from .errors import KmsError, KmsProtocolError

MAGIC = b"KSE1"
MODES = {"server": 0, "envelope": 1}
ALGORITHMS = {"aes-gcm": 1, "chacha20-poly1305": 2}
WRAPPINGS = {"aes-gcm": 1, "rfc5649": 2}
DEFAULT_CHUNK_SIZE = 1 << 20
#: A KMS message must carry a chunk as hex JSON (twice its size) within the server's 16 MiB default.
MAX_CHUNK_SIZE = 4 << 20
NONCE = 12
TAG = 16
_FIXED = struct.Struct(">4sBBBBIH")
DATA_KEY_BYTES = 32
#: Server-side chunks in flight at once: the client encodes chunk i+1 while the KMS works on chunk i (memory stays
#: bounded by this many chunks).
IN_FLIGHT = 3
T = TypeVar("T")


class FileFormatError(KmsError):
    """The input is not a file this module wrote, or it was altered (a chunk fails authentication)."""

    def __init__(self, message: str) -> None:
        super().__init__(ResultReason.CRYPTOGRAPHIC_FAILURE, message)


@dataclass(frozen=True, slots=True)
class Header:
    """The parsed header of an encrypted file."""

    mode: int
    algorithm: int
    wrapping: int
    chunk_size: int
    wrapped_key: bytes

    def encode(self) -> bytes:
        fixed = _FIXED.pack(MAGIC, self.mode, self.algorithm, self.wrapping, 0, self.chunk_size, len(self.wrapped_key))
        return fixed + self.wrapped_key

    def key_aad(self) -> bytes:
        """What authenticates a data key wrapped with AES-GCM: the header before the wrapped length."""
        return self.encode()[: _FIXED.size - 2]


def read_header(stream: BinaryIO) -> Header:
    """The header at the start of ``stream`` (FileFormatError if it is not one)."""
    fixed = stream.read(_FIXED.size)
    if len(fixed) < _FIXED.size or fixed[:4] != MAGIC:
        raise FileFormatError("not a Keystead encrypted file (bad magic)")
    _, mode, algorithm, wrapping, _reserved, chunk_size, wrapped_length = _FIXED.unpack(fixed)
    if mode not in MODES.values() or algorithm not in ALGORITHMS.values():
        raise FileFormatError(f"unknown mode {mode} or algorithm {algorithm}")
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise FileFormatError(f"invalid chunk size {chunk_size}")
    if mode == MODES["envelope"] and (wrapping not in WRAPPINGS.values() or not wrapped_length):
        raise FileFormatError("an envelope-mode file needs a wrapped data key")
    wrapped = stream.read(wrapped_length)
    if len(wrapped) != wrapped_length:
        raise FileFormatError("the file ends inside its header")
    return Header(mode, algorithm, wrapping, chunk_size, wrapped)


def _chunk_aad(header_bytes: bytes, index: int, final: bool) -> bytes:
    return header_bytes + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _chunks(stream: BinaryIO, size: int) -> Iterator[tuple[bytes, bool]]:
    """The stream in pieces of ``size`` bytes with a flag on the last one (read one ahead: works on pipes)."""
    current = _read_full(stream, size)
    while True:
        following = _read_full(stream, size) if len(current) == size else b""
        final = not following and len(current) < size
        yield current, final
        if final:
            return
        if not following:
            # The plaintext ended exactly on a chunk boundary: an empty final chunk marks the end.
            yield b"", True
            return
        current = following


def _read_full(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    remaining = size
    while remaining:
        part = stream.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _in_order(jobs: Iterable[Callable[[], T]], depth: int = IN_FLIGHT) -> Iterator[T]:
    """Run ``jobs`` on ``depth`` threads, yielding their results in order; at most ``depth`` run or wait at once.
    A failure is raised in order too, and the jobs not started are cancelled."""
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="keystead-chunk") as pool:
        pending: deque[Future[T]] = deque()
        try:
            for job in jobs:
                pending.append(pool.submit(job))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _server_parameters(algorithm: int) -> S.CryptographicParameters:
    if algorithm == ALGORITHMS["chacha20-poly1305"]:
        return S.CryptographicParameters(cryptographic_algorithm=CryptographicAlgorithm.CHACHA20POLY1305)
    return S.CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM, tag_length=TAG)


def _wrapping_parameters(wrapping: int) -> S.CryptographicParameters:
    if wrapping == WRAPPINGS["rfc5649"]:
        return S.CryptographicParameters(block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING)
    return S.CryptographicParameters(block_cipher_mode=BlockCipherMode.GCM, tag_length=TAG)


def _local_cipher(algorithm: int, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return ChaCha20Poly1305(key) if algorithm == ALGORITHMS["chacha20-poly1305"] else AESGCM(key)


Progress = Callable[[int], None]


def encrypt_stream(
    kms: KmsClient,
    key: str,
    source: BinaryIO,
    target: BinaryIO,
    *,
    mode: str = "server",
    algorithm: str = "aes-gcm",
    wrapping: str = "aes-gcm",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
) -> int:
    """Encrypt ``source`` into ``target`` with KMS key ``key`` (an id or a JSON tag list); plaintext bytes read."""
    if mode not in MODES or algorithm not in ALGORITHMS or wrapping not in WRAPPINGS:
        raise ValueError("unknown mode, algorithm or wrapping")
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be 1 to {MAX_CHUNK_SIZE} bytes")
    algo = ALGORITHMS[algorithm]
    local: AESGCM | ChaCha20Poly1305 | None = None
    if mode == "envelope":
        data_key = os.urandom(DATA_KEY_BYTES)
        draft = Header(MODES[mode], algo, WRAPPINGS[wrapping], chunk_size, b"")
        sealed = kms.encrypt(
            key,
            data_key,
            parameters=_wrapping_parameters(draft.wrapping),
            aad=draft.key_aad() if draft.wrapping == WRAPPINGS["aes-gcm"] else None,
        )
        wrapped = (sealed.iv_counter_nonce or b"") + _bytes(sealed.data) + (sealed.authenticated_encryption_tag or b"")
        header = Header(draft.mode, algo, draft.wrapping, chunk_size, wrapped)
        local = _local_cipher(algo, data_key)
    else:
        header = Header(MODES[mode], algo, 0, chunk_size, b"")
    header_bytes = header.encode()
    target.write(header_bytes)
    parameters = _server_parameters(algo)

    def seal(index: int, plain: bytes, final: bool) -> tuple[int, list[bytes]]:
        aad = _chunk_aad(header_bytes, index, final)
        if local is not None:
            nonce = os.urandom(NONCE)
            return len(plain), [nonce, local.encrypt(nonce, plain, aad)]
        result = kms.encrypt(key, plain, parameters=parameters, aad=aad)
        chosen, tag = result.iv_counter_nonce, result.authenticated_encryption_tag
        if chosen is None or len(chosen) != NONCE or tag is None or len(tag) != TAG:
            raise KmsProtocolError("the KMS did not answer a 12-byte nonce and a 16-byte tag (is it an AES key?)")
        return len(plain), [chosen, _bytes(result.data), tag]

    jobs = (
        (lambda i=index, p=plain, f=final: seal(i, p, f))
        for index, (plain, final) in enumerate(_chunks(source, chunk_size))
    )
    total = 0
    for size, parts in _in_order(jobs, 1 if local is not None else IN_FLIGHT):
        for part in parts:
            target.write(part)
        total += size
        if progress is not None:
            progress(size)
    return total


def decrypt_stream(
    kms: KmsClient, key: str, source: BinaryIO, target: BinaryIO, *, progress: Progress | None = None
) -> int:
    """Decrypt a file written by ``encrypt_stream`` (either mode); plaintext bytes written."""
    header = read_header(source)
    header_bytes = header.encode()
    local: AESGCM | ChaCha20Poly1305 | None = None
    if header.mode == MODES["envelope"]:
        wrapped = header.wrapped_key
        if header.wrapping == WRAPPINGS["aes-gcm"]:
            if len(wrapped) != NONCE + DATA_KEY_BYTES + TAG:
                raise FileFormatError("the wrapped data key has the wrong length")
            data_key = kms.decrypt(
                key,
                wrapped[NONCE:-TAG],
                parameters=_wrapping_parameters(header.wrapping),
                iv=wrapped[:NONCE],
                tag=wrapped[-TAG:],
                aad=header.key_aad(),
            )
        else:
            data_key = kms.decrypt(key, wrapped, parameters=_wrapping_parameters(header.wrapping))
        if len(data_key) != DATA_KEY_BYTES:
            raise FileFormatError("the unwrapped data key has the wrong length")
        local = _local_cipher(header.algorithm, data_key)
    parameters = _server_parameters(header.algorithm)

    def open_chunk(index: int, sealed: bytes, final: bool) -> bytes:
        if final and not sealed:
            raise FileFormatError("the file is truncated (its final chunk is missing)")
        if len(sealed) < NONCE + TAG:
            raise FileFormatError(f"chunk {index} is truncated")
        aad = _chunk_aad(header_bytes, index, final)
        nonce, body, tag = sealed[:NONCE], sealed[NONCE:-TAG], sealed[-TAG:]
        if local is None:
            return kms.decrypt(key, body, parameters=parameters, iv=nonce, tag=tag, aad=aad)
        try:
            return local.decrypt(nonce, body + tag, aad)
        except InvalidTag:
            raise FileFormatError(f"chunk {index} fails authentication (altered, reordered or truncated)") from None

    jobs = (
        (lambda i=index, s=sealed, f=final: open_chunk(i, s, f))
        for index, (sealed, final) in enumerate(_chunks(source, header.chunk_size + NONCE + TAG))
    )
    total = 0
    for plain in _in_order(jobs, 1 if local is not None else IN_FLIGHT):
        target.write(plain)
        total += len(plain)
        if progress is not None:
            progress(len(plain))
    return total


def encrypt_file(
    kms: KmsClient,
    key: str,
    source: Path,
    output: Path,
    *,
    mode: str = "server",
    algorithm: str = "aes-gcm",
    wrapping: str = "aes-gcm",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
) -> int:
    """``encrypt_stream`` from file to file, the output renamed into place only once complete."""
    with source.open("rb") as src, _atomic(output) as dst:
        return encrypt_stream(
            kms,
            key,
            src,
            dst,
            mode=mode,
            algorithm=algorithm,
            wrapping=wrapping,
            chunk_size=chunk_size,
            progress=progress,
        )


def decrypt_file(kms: KmsClient, key: str, source: Path, output: Path, *, progress: Progress | None = None) -> int:
    """``decrypt_stream`` from file to file, the output renamed into place only once complete and verified."""
    with source.open("rb") as src, _atomic(output) as dst:
        return decrypt_stream(kms, key, src, dst, progress=progress)


class _atomic:  # noqa: N801 - used like open()
    """A file written as ``PATH.part`` and renamed to ``PATH`` on success, removed on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self.handle: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        self.handle = self.part.open("wb")
        return self.handle

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        assert self.handle is not None
        self.handle.close()
        if exc_type is None:
            self.part.replace(self.path)
        else:
            self.part.unlink(missing_ok=True)


def _bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    raise KmsProtocolError("the KMS answered without Data")


__all__ = [
    "ALGORITHMS",
    "DEFAULT_CHUNK_SIZE",
    "MODES",
    "WRAPPINGS",
    "FileFormatError",
    "Header",
    "decrypt_file",
    "decrypt_stream",
    "encrypt_file",
    "encrypt_stream",
    "read_header",
]
