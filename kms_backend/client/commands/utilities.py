"""``keystead hash``, ``mac compute|verify``, ``rng retrieve|seed`` and ``derive-key``."""

from __future__ import annotations

import argparse

from ...kmip import _schema_data as S
from ...kmip._registry_data import CryptographicAlgorithm, DerivationMethod, HashingAlgorithm, ObjectType
from ..client import key_attributes
from ._common import (
    CommandError,
    Exit,
    Session,
    SubParsers,
    add_group,
    add_object_options,
    add_verb,
    enum_choice,
    fail,
    hex_or_base64,
    object_id,
    read_bytes,
    write_bytes,
)


def _hashing(text: str) -> HashingAlgorithm:
    algorithm: HashingAlgorithm = enum_choice(HashingAlgorithm, text, {"sha256": "SHA_256", "sha1": "SHA_1"})
    return algorithm


def _input(args: argparse.Namespace) -> bytes:
    if args.data is not None and args.file is not None:
        raise CommandError("give a FILE or --data, not both")
    if args.data is not None:
        return hex_or_base64(args.data)
    if args.file is None:
        raise CommandError("give a FILE (- for standard input) or --data HEX")
    return read_bytes(args.file)


def _add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="input file (- for standard input)")
    parser.add_argument("--data", help="the input itself, in hexadecimal (or b64:BASE64)")


def cmd_hash(session: Session) -> None:
    args = session.args
    parameters = S.CryptographicParameters(hashing_algorithm=_hashing(args.algorithm))
    digest = session.client.hash(_input(args), parameters)
    session.emit(digest.hex(), {"algorithm": args.algorithm, "digest": digest.hex()})


def _mac_parameters(args: argparse.Namespace) -> S.CryptographicParameters | None:
    if not args.algorithm:
        return None
    algorithm = enum_choice(CryptographicAlgorithm, args.algorithm)
    return S.CryptographicParameters(cryptographic_algorithm=algorithm)


def cmd_mac_compute(session: Session) -> None:
    args = session.args
    mac = session.client.mac(object_id(args), _input(args), parameters=_mac_parameters(args))
    session.emit(mac.hex(), {"mac": mac.hex()})


def cmd_mac_verify(session: Session) -> None:
    args = session.args
    valid = session.client.mac_verify(
        object_id(args), _input(args), hex_or_base64(args.mac), parameters=_mac_parameters(args)
    )
    session.emit("valid" if valid else "invalid", {"valid": valid})
    if not valid:
        fail("the MAC does not match", Exit.CRYPTO_FAILED)


def cmd_rng_retrieve(session: Session) -> None:
    args = session.args
    if not 0 < args.number_of_bytes <= 1 << 20:
        raise CommandError("--number-of-bytes must be 1 to 1048576")
    data = session.client.rng_retrieve(args.number_of_bytes)
    if args.output_file:
        write_bytes(args.output_file, data)
        session.emit(None if args.output_file == "-" else f"{len(data)} bytes written to {args.output_file}", {})
        return
    session.emit(data.hex(), {"random": data.hex()})


def cmd_rng_seed(session: Session) -> None:
    used = session.client.rng_seed(hex_or_base64(session.args.seed))
    session.emit(f"{used} bytes of seed used", {"bytes_used": used})


def cmd_derive_key(session: Session) -> None:
    args = session.args
    method = enum_choice(DerivationMethod, args.method)
    parameters = S.DerivationParameters(
        cryptographic_parameters=S.CryptographicParameters(hashing_algorithm=_hashing(args.digest_algorithm)),
        salt=hex_or_base64(args.salt) if args.salt else None,
        iteration_count=args.iterations if method == DerivationMethod.PBKDF2 else None,
        derivation_data=[hex_or_base64(args.derivation_data)] if args.derivation_data else [],
        initialization_vector=hex_or_base64(args.iv) if args.iv else None,
    )
    kms = session.client
    attributes = key_attributes(
        algorithm=enum_choice(CryptographicAlgorithm, args.algorithm),
        length=args.number_of_bits,
        tags=args.new_tag,
        activation_date=kms.now(),
    )
    request = S.DeriveKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=[object_id(args, "base key")],
        derivation_method=method,
        derivation_parameters=parameters,
        attributes=attributes,
    )
    uid = kms.derive_key(request)
    session.emit(uid, {"unique_identifier": uid, "tags": args.new_tag})


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``hash``, ``mac``, ``rng`` and ``derive-key``."""
    hashing = add_verb(sub, "hash", cmd_hash, "hash data on the KMS (KMIP Hash)")
    _add_input(hashing)
    hashing.add_argument("-a", "--algorithm", default="sha256", help="sha256 (default), sha384, sha512, sha3-256...")

    mac = add_group(sub, "mac", "MACs with a KMS key (HMAC, CMAC)")
    compute = add_verb(mac, "compute", cmd_mac_compute, "compute a MAC (KMIP MAC); prints it in hexadecimal")
    verify = add_verb(mac, "verify", cmd_mac_verify, "check a MAC (KMIP MAC Verify); exit 6 if it does not match")
    for parser in (compute, verify):
        add_object_options(parser)
        _add_input(parser)
        parser.add_argument("-a", "--algorithm", help="hmac-sha256, hmac-sha512... (default: the key's)")
    verify.add_argument("--mac", required=True, help="the MAC, in hexadecimal")

    rng = add_group(sub, "rng", "the KMS's random number generator")
    retrieve = add_verb(rng, "retrieve", cmd_rng_retrieve, "random bytes from the KMS (KMIP RNG Retrieve)")
    retrieve.add_argument("-l", "--number-of-bytes", type=int, default=32, help="how many (default 32)")
    retrieve.add_argument("-o", "--output-file", help="write the bytes here instead of printing them in hexadecimal")
    seed = add_verb(rng, "seed", cmd_rng_seed, "add entropy to the KMS's generator (KMIP RNG Seed)")
    seed.add_argument("seed", help="the seed, in hexadecimal (or b64:BASE64)")

    derive = add_verb(sub, "derive-key", cmd_derive_key, "derive a new symmetric key from a KMS object")
    add_object_options(derive, "base key")
    derive.add_argument("-m", "--method", default="pbkdf2", help="pbkdf2 (default), hkdf, hmac, hash, encrypt...")
    derive.add_argument("-s", "--salt", help="salt, in hexadecimal")
    derive.add_argument("-i", "--iterations", type=int, default=600_000, help="PBKDF2 iterations (default 600000)")
    derive.add_argument("--derivation-data", help="derivation data (HKDF info...), in hexadecimal")
    derive.add_argument("--iv", help="initialization vector (encrypt method), in hexadecimal")
    derive.add_argument("--digest-algorithm", default="sha256", help="hash of the KDF (default sha256)")
    derive.add_argument("-a", "--algorithm", default="aes", help="algorithm of the new key (default aes)")
    derive.add_argument("-l", "--number-of-bits", type=int, default=256, help="length of the new key (default 256)")
    derive.add_argument("--new-tag", action="append", default=[], help="a tag for the new key (repeatable)")


__all__ = ["register"]
