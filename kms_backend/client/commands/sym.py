"""``keystead sym …``: symmetric keys and file encryption (the Cosmian CLI's ``sym`` verbs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    KeyFormatType,
    ObjectType,
)
from .. import files
from ..client import key_attributes
from . import _keys
from ._common import (
    CommandError,
    Exit,
    Session,
    SubParsers,
    add_group,
    add_object_options,
    add_verb,
    enum_choice,
    object_id,
    progress_bar,
    read_bytes,
    write_bytes,
)

SYM_ALGORITHMS = ("aes", "chacha20", "camellia", "3des", "hmac-sha256", "hmac-sha384", "hmac-sha512")


def _algorithm(text: str) -> CryptographicAlgorithm:
    algorithm: CryptographicAlgorithm = enum_choice(CryptographicAlgorithm, text, {"3des": "DES3"})
    return algorithm


def cmd_keys_create(session: Session) -> None:
    args = session.args
    algorithm = _algorithm(args.algorithm)
    mask = _keys.usage_mask(args.key_usage)
    kms = session.client
    if args.bytes_b64 is not None or args.bytes_hex is not None:
        material = (
            _keys.decode_b64(args.bytes_b64) if args.bytes_b64 is not None else bytes.fromhex(str(args.bytes_hex))
        )
        key = _keys.raw_symmetric_key(algorithm, material)
        attributes = key_attributes(
            object_type=ObjectType.SYMMETRIC_KEY,
            algorithm=algorithm,
            length=len(material) * 8,
            tags=args.tag,
            usage_mask=mask,
            activation_date=kms.now(),
            name=args.name,
        )
        uid = kms.register(ObjectType.SYMMETRIC_KEY, key, attributes)
    else:
        if args.number_of_bits <= 0:
            raise CommandError("--number-of-bits must be positive")
        uid = kms.create_symmetric_key(
            algorithm, args.number_of_bits, tags=args.tag, usage_mask=mask, active=not args.pre_active, name=args.name
        )
    session.emit(uid, {"unique_identifier": uid, "tags": args.tag})


def cmd_keys_re_key(session: Session) -> None:
    uid = session.client.re_key(object_id(session.args))
    session.emit(uid, {"unique_identifier": uid})


def cmd_encrypt(session: Session) -> None:
    args = session.args
    key = object_id(args)
    source = Path(args.file)
    output = Path(args.output_file) if args.output_file else source.with_name(source.name + ".enc")
    mode = "envelope" if args.key_encryption_algorithm else "server"
    with progress_bar(session, _size(source), "encrypting") as advance:
        count = files.encrypt_file(
            session.client,
            key,
            source,
            output,
            mode=mode,
            algorithm=args.data_encryption_algorithm,
            wrapping=args.key_encryption_algorithm or "aes-gcm",
            chunk_size=args.chunk_size,
            progress=advance,
        )
    session.emit(
        f"The encrypted file is available at {output}",
        {"input": str(source), "output": str(output), "bytes": count, "mode": mode},
    )


def cmd_decrypt(session: Session) -> None:
    args = session.args
    key = object_id(args)
    source = Path(args.file)
    if args.output_file:
        output = Path(args.output_file)
    else:
        output = source.with_suffix("") if source.suffix == ".enc" else source.with_name(source.name + ".plain")
        if output.suffix == "":
            output = output.with_name(output.name + ".plain")
    with progress_bar(session, _size(source), "decrypting") as advance:
        try:
            count = files.decrypt_file(session.client, key, source, output, progress=advance)
        except files.FileFormatError as exc:
            raise CommandError(f"{source}: {exc.message}", Exit.CRYPTO_FAILED) from None
    session.emit(
        f"The decrypted file is available at {output}", {"input": str(source), "output": str(output), "bytes": count}
    )


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def cmd_keys_wrap(session: Session) -> None:
    """RFC 5649 key wrap of raw key bytes by a KMS key."""
    args = session.args
    data = read_bytes(args.input)
    parameters = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING)
    wrapped = session.client.encrypt(object_id(args, "wrapping key"), data, parameters=parameters).data
    assert isinstance(wrapped, bytes)
    write_bytes(args.output, wrapped)
    session.emit(None if args.output == "-" else f"The wrapped key is at {args.output}", {"output": args.output})


def cmd_keys_unwrap(session: Session) -> None:
    """Reverse of ``wrap``."""
    args = session.args
    data = read_bytes(args.input)
    parameters = S.CryptographicParameters(block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING)
    plain = session.client.decrypt(object_id(args, "wrapping key"), data, parameters=parameters)
    write_bytes(args.output, plain)
    session.emit(None if args.output == "-" else f"The unwrapped key is at {args.output}", {"output": args.output})


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``sym`` and its verbs."""
    sym = add_group(sub, "sym", "symmetric keys and file encryption")
    keys = add_group(sym, "keys", "create, import, export and manage symmetric keys")

    create = add_verb(
        keys,
        "create",
        cmd_keys_create,
        "create a symmetric key (or register given bytes) and print its unique identifier",
    )
    create.add_argument("-l", "--number-of-bits", type=int, default=256, help="key length in bits (default 256)")
    create.add_argument("-a", "--algorithm", default="aes", help=f"{', '.join(SYM_ALGORITHMS)} (default aes)")
    create.add_argument("-t", "--tag", action="append", default=[], help="a tag for the key (repeatable)")
    create.add_argument("-k", "--bytes-b64", help="register these key bytes (base64) instead of generating a key")
    create.add_argument("--bytes-hex", help="register these key bytes (hexadecimal)")
    create.add_argument("--name", help="a Name attribute")
    create.add_argument("--key-usage", action="append", default=[], help=_keys.USAGE_HELP)
    create.add_argument("--pre-active", action="store_true", help="leave the key Pre-Active (activate it later)")

    re_key = add_verb(keys, "re-key", cmd_keys_re_key, "replace a key by a new one (KMIP Re-key); prints its id")
    add_object_options(re_key)
    _keys.add_lifecycle_verbs(keys, "symmetric key")
    _keys.add_transfer_verbs(keys, ObjectType.SYMMETRIC_KEY, KeyFormatType.RAW)

    wrap = add_verb(keys, "wrap", cmd_keys_wrap, "wrap raw key bytes with a KMS key (RFC 5649 AES key wrap)")
    wrap.add_argument("input", help="file of raw key bytes (- for standard input)")
    wrap.add_argument("output", help="file for the wrapped key (- for standard output)")
    add_object_options(wrap, "wrapping key")
    unwrap = add_verb(keys, "unwrap", cmd_keys_unwrap, "unwrap an RFC 5649 wrapped key with a KMS key")
    unwrap.add_argument("input", help="file of the wrapped key (- for standard input)")
    unwrap.add_argument("output", help="file for the raw key bytes (- for standard output)")
    add_object_options(unwrap, "wrapping key")

    description = (
        "Encrypt a file of any size in chunks (streamed, bounded memory). Server-side by default: the KMS encrypts "
        "each chunk with the key. With --key-encryption-algorithm: envelope encryption, a local data key wrapped "
        "by the KMS key. Format: see kms_backend/client/files.py and the README."
    )
    encrypt = add_verb(sym, "encrypt", cmd_encrypt, "encrypt a file with a symmetric key", description=description)
    encrypt.add_argument("file", help="the file to encrypt")
    add_object_options(encrypt)
    encrypt.add_argument("-o", "--output-file", help="the encrypted file (default FILE.enc)")
    encrypt.add_argument(
        "-d",
        "--data-encryption-algorithm",
        choices=sorted(files.ALGORITHMS),
        default="aes-gcm",
        help="chunk cipher (default aes-gcm; chacha20-poly1305 needs a ChaCha20 key server-side)",
    )
    encrypt.add_argument(
        "-e",
        "--key-encryption-algorithm",
        choices=sorted(files.WRAPPINGS),
        help="envelope encryption: wrap a local data key with the KMS key this way",
    )
    encrypt.add_argument(
        "--chunk-size",
        type=int,
        default=files.DEFAULT_CHUNK_SIZE,
        help=f"plaintext bytes per chunk (default {files.DEFAULT_CHUNK_SIZE})",
    )
    decrypt = add_verb(sym, "decrypt", cmd_decrypt, "decrypt a file written by `keystead sym encrypt`")
    decrypt.add_argument("file", help="the encrypted file")
    add_object_options(decrypt)
    decrypt.add_argument("-o", "--output-file", help="the decrypted file (default: FILE without .enc)")


__all__ = ["register"]
