"""``keystead rsa …``, ``keystead ec …`` and ``keystead pqc …``: key pairs and their operations (encrypt, decrypt,
sign, sign-verify), one table of families instead of three copies."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CryptographicAlgorithm,
    HashingAlgorithm,
    ObjectType,
    PaddingMethod,
    RecommendedCurve,
    Tag,
)
from ...kmip.schema import Attributes
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
    fail,
    object_id,
    read_bytes,
    write_bytes,
)

#: ``ec keys create --curve`` spellings: (algorithm, curve).
EC_CURVES: dict[str, tuple[CryptographicAlgorithm, RecommendedCurve | None]] = {
    "nist-p256": (CryptographicAlgorithm.EC, RecommendedCurve.P_256),
    "nist-p384": (CryptographicAlgorithm.EC, RecommendedCurve.P_384),
    "nist-p521": (CryptographicAlgorithm.EC, RecommendedCurve.P_521),
    "nist-p224": (CryptographicAlgorithm.EC, RecommendedCurve.P_224),
    "secp256k1": (CryptographicAlgorithm.EC, RecommendedCurve.SECP256K1),
    "x25519": (CryptographicAlgorithm.EC, RecommendedCurve.CURVE25519),
    "x448": (CryptographicAlgorithm.EC, RecommendedCurve.CURVE448),
    "ed25519": (CryptographicAlgorithm.ED25519, None),
    "ed448": (CryptographicAlgorithm.ED448, None),
}

PQC_ALGORITHMS = ("ml-kem-512", "ml-kem-768", "ml-kem-1024", "ml-dsa-44", "ml-dsa-65", "ml-dsa-87")

RSA_ENCRYPTION = {
    "ckm-rsa-pkcs-oaep": PaddingMethod.OAEP,
    "ckm-rsa-pkcs": PaddingMethod.PKCS1_V1_5,
    "ckm-rsa-aes-key-wrap": PaddingMethod.NONE,
}
RSA_SIGNATURE = {"rsassa-pss": PaddingMethod.PSS, "rsassa-pkcs1-v1_5": PaddingMethod.PKCS1_V1_5}


def _hash(text: str) -> HashingAlgorithm:
    algorithm: HashingAlgorithm = enum_choice(HashingAlgorithm, text, {"sha256": "SHA_256", "sha1": "SHA_1"})
    return algorithm


@dataclass(frozen=True)
class Family:
    """One asymmetric family: its name, how ``keys create`` builds the common attributes, which operations."""

    name: str
    description: str
    add_create_options: Callable[[argparse.ArgumentParser], None]
    common_attributes: Callable[[argparse.Namespace], Attributes]
    encrypt_parameters: Callable[[argparse.Namespace], S.CryptographicParameters | None] | None
    sign_parameters: Callable[[argparse.Namespace], S.CryptographicParameters | None]
    add_crypto_options: Callable[[argparse.ArgumentParser, str], None]


# -- rsa ------------------------------------------------------------------------------------------------------------
def _rsa_create_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-s", "--size-in-bits", type=int, default=4096, help="modulus size (default 4096)")


def _rsa_attributes(args: argparse.Namespace) -> Attributes:
    return key_attributes(algorithm=CryptographicAlgorithm.RSA, length=args.size_in_bits)


def _rsa_crypto_options(parser: argparse.ArgumentParser, verb: str) -> None:
    if verb in ("encrypt", "decrypt"):
        parser.add_argument(
            "-e",
            "--encryption-algorithm",
            choices=sorted(RSA_ENCRYPTION),
            default="ckm-rsa-pkcs-oaep",
            help="default ckm-rsa-pkcs-oaep",
        )
    else:
        parser.add_argument(
            "-a",
            "--signature-algorithm",
            choices=sorted(RSA_SIGNATURE),
            default="rsassa-pss",
            help="default rsassa-pss",
        )
    parser.add_argument("-s", "--hashing-algorithm", default="sha256", help="default sha256")


def _rsa_encrypt_parameters(args: argparse.Namespace) -> S.CryptographicParameters:
    return S.CryptographicParameters(
        cryptographic_algorithm=CryptographicAlgorithm.RSA,
        padding_method=RSA_ENCRYPTION[args.encryption_algorithm],
        hashing_algorithm=_hash(args.hashing_algorithm),
    )


def _rsa_sign_parameters(args: argparse.Namespace) -> S.CryptographicParameters:
    return S.CryptographicParameters(
        cryptographic_algorithm=CryptographicAlgorithm.RSA,
        padding_method=RSA_SIGNATURE[args.signature_algorithm],
        hashing_algorithm=_hash(args.hashing_algorithm),
    )


# -- ec -------------------------------------------------------------------------------------------------------------
def _ec_create_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--curve", choices=sorted(EC_CURVES), default="nist-p256", help="default nist-p256")


def _ec_attributes(args: argparse.Namespace) -> Attributes:
    algorithm, curve = EC_CURVES[args.curve]
    extra = []
    if curve is not None:
        extra.append((Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve)))
    return key_attributes(algorithm=algorithm, extra=extra)


def _ec_crypto_options(parser: argparse.ArgumentParser, verb: str) -> None:
    if verb in ("sign", "sign-verify"):
        parser.add_argument("-s", "--hashing-algorithm", help="ECDSA hash (default: the curve's; none for EdDSA)")


def _ec_sign_parameters(args: argparse.Namespace) -> S.CryptographicParameters | None:
    if getattr(args, "hashing_algorithm", None):
        return S.CryptographicParameters(hashing_algorithm=_hash(args.hashing_algorithm))
    return None


# -- pqc ------------------------------------------------------------------------------------------------------------
def _pqc_create_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-a", "--algorithm", choices=PQC_ALGORITHMS, required=True, help="the post-quantum scheme")


def _pqc_attributes(args: argparse.Namespace) -> Attributes:
    return key_attributes(algorithm=enum_choice(CryptographicAlgorithm, args.algorithm))


def _none(_args: argparse.Namespace) -> None:
    return None


def _no_options(_parser: argparse.ArgumentParser, _verb: str) -> None:
    return None


FAMILIES = (
    Family(
        "rsa",
        "RSA key pairs: encryption (OAEP, PKCS#1 v1.5, RSA-AES key wrap) and signatures (PSS, PKCS#1 v1.5)",
        _rsa_create_options,
        _rsa_attributes,
        _rsa_encrypt_parameters,
        _rsa_sign_parameters,
        _rsa_crypto_options,
    ),
    Family(
        "ec",
        "elliptic-curve key pairs: ECDSA/EdDSA signatures and ECIES encryption",
        _ec_create_options,
        _ec_attributes,
        _none,
        _ec_sign_parameters,
        _ec_crypto_options,
    ),
    Family(
        "pqc",
        "post-quantum key pairs: ML-KEM encryption (KEM + AES-GCM) and ML-DSA signatures",
        _pqc_create_options,
        _pqc_attributes,
        _none,
        _none,
        _no_options,
    ),
)
_BY_NAME = {family.name: family for family in FAMILIES}


def _family(args: argparse.Namespace) -> Family:
    return _BY_NAME[args.family]


def cmd_keys_create(session: Session) -> None:
    args = session.args
    kms = session.client
    common = _family(args).common_attributes(args)
    common.add(Tag.ACTIVATION_DATE, kms.now())
    mask_private = _keys.usage_mask(args.private_key_usage)
    mask_public = _keys.usage_mask(args.public_key_usage)
    private_attrs = key_attributes(tags=args.tag, usage_mask=mask_private)
    public_attrs = key_attributes(tags=args.tag, usage_mask=mask_public)
    private, public = kms.create_key_pair(common, private_attrs or None, public_attrs or None)
    session.emit(
        f"Private key unique identifier: {private}\nPublic key unique identifier: {public}",
        {"private_key_id": private, "public_key_id": public, "tags": args.tag},
    )


def cmd_keys_re_key(session: Session) -> None:
    private, public = session.client.re_key_key_pair(object_id(session.args, "private key"))
    session.emit(
        f"Private key unique identifier: {private}\nPublic key unique identifier: {public}",
        {"private_key_id": private, "public_key_id": public},
    )


def _output(args: argparse.Namespace, default_suffix: str) -> str:
    return str(args.output_file or (args.file + default_suffix))


def cmd_encrypt(session: Session) -> None:
    args = session.args
    family = _family(args)
    parameters = family.encrypt_parameters(args) if family.encrypt_parameters else None
    result = session.client.encrypt(object_id(args), read_bytes(args.file), parameters=parameters)
    if not isinstance(result.data, bytes):
        fail("the KMS answered without ciphertext", Exit.PROTOCOL)
    output = _output(args, ".enc")
    write_bytes(output, result.data)
    session.emit(f"The encrypted file is available at {output}", {"output": output, "bytes": len(result.data)})


def cmd_decrypt(session: Session) -> None:
    args = session.args
    family = _family(args)
    parameters = family.encrypt_parameters(args) if family.encrypt_parameters else None
    plain = session.client.decrypt(object_id(args), read_bytes(args.file), parameters=parameters)
    output = _output(args, ".plain")
    write_bytes(output, plain)
    session.emit(f"The decrypted file is available at {output}", {"output": output, "bytes": len(plain)})


def cmd_sign(session: Session) -> None:
    args = session.args
    signature = session.client.sign(
        object_id(args, "private key"),
        read_bytes(args.file),
        parameters=_family(args).sign_parameters(args),
        digested=args.digested,
    )
    output = _output(args, ".sig")
    write_bytes(output, signature)
    session.emit(f"The signature is available at {output}", {"output": output, "signature": signature.hex()})


def cmd_sign_verify(session: Session) -> None:
    args = session.args
    valid = session.client.signature_verify(
        object_id(args, "public key"),
        read_bytes(args.file),
        read_bytes(args.signature_file),
        parameters=_family(args).sign_parameters(args),
        digested=args.digested,
    )
    session.emit("Signature verification is valid" if valid else "Signature verification is invalid", {"valid": valid})
    if not valid:
        raise CommandError("the signature does not match", Exit.CRYPTO_FAILED)


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``rsa``, ``ec`` and ``pqc``."""
    for family in FAMILIES:
        group = add_group(sub, family.name, family.description)
        keys = add_group(group, "keys", f"create, import, export and manage {family.name.upper()} key pairs")
        create = add_verb(keys, "create", cmd_keys_create, "create a key pair; prints the private and public key ids")
        family.add_create_options(create)
        create.add_argument("-t", "--tag", action="append", default=[], help="a tag for both keys (repeatable)")
        create.add_argument("--private-key-usage", action="append", default=[], help=_keys.USAGE_HELP)
        create.add_argument("--public-key-usage", action="append", default=[], help=_keys.USAGE_HELP)
        re_key = add_verb(keys, "re-key", cmd_keys_re_key, "replace a key pair (KMIP Re-key Key Pair)")
        add_object_options(re_key, "private key")
        _keys.add_lifecycle_verbs(keys, "key")
        _keys.add_transfer_verbs(keys, ObjectType.PRIVATE_KEY, None)
        verbs = [("encrypt", cmd_encrypt, "encrypt a small file with a public key", "public key", ".enc")]
        verbs.append(("decrypt", cmd_decrypt, "decrypt a file with a private key", "private key", ".plain"))
        verbs.append(("sign", cmd_sign, "sign a file with a private key", "private key", ".sig"))
        for name, handler, help_text, what, suffix in verbs:
            verb = add_verb(group, name, handler, help_text)
            verb.add_argument("file", help="input file (- for standard input)")
            add_object_options(verb, what)
            verb.add_argument("-o", "--output-file", help=f"output file (default FILE{suffix})")
            if name == "sign":
                verb.add_argument("--digested", action="store_true", help="FILE is already a digest")
            family.add_crypto_options(verb, name)
            verb.set_defaults(family=family.name)
        verify = add_verb(group, "sign-verify", cmd_sign_verify, "verify a signature (exit 6 if invalid)")
        verify.add_argument("file", help="the signed file")
        verify.add_argument("signature_file", help="the signature")
        add_object_options(verify, "public key")
        verify.add_argument("--digested", action="store_true", help="FILE is already a digest")
        family.add_crypto_options(verify, "sign-verify")
        for action in (create, re_key, verify):
            action.set_defaults(family=family.name)


__all__ = ["EC_CURVES", "FAMILIES", "PQC_ALGORITHMS", "register"]
