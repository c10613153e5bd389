"""Verbs shared by every object family (``sym keys``, ``rsa keys``, ``ec keys``, ``pqc keys``, ``secret-data``,
``opaque-object``, ``certificates``): revoke, destroy, activate, export and import, and their file formats."""

from __future__ import annotations

import argparse
import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from ...kmip import _schema_data as S
from ...kmip import json_codec
from ...kmip._registry_data import (
    CertificateType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    KeyFormatType,
    ObjectType,
    OpaqueDataType,
    RecommendedCurve,
    RevocationReasonCode,
    SecretDataType,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.mapper import from_tree, to_tree
from ...kmip.schema import Struct
from ..client import key_attributes, tags_of
from ._common import (
    CommandError,
    Session,
    SubParsers,
    add_object_options,
    add_verb,
    enum_choice,
    object_id,
    read_bytes,
    write_bytes,
)

USAGE_HELP = (
    "allowed use, repeatable: sign, verify, encrypt, decrypt, wrap-key, unwrap-key, mac-generate, mac-verify, "
    "derive-key, key-agreement, certificate-sign... (default: no restriction)"
)


def usage_mask(names: list[str]) -> int | None:
    """A Cryptographic Usage Mask from names (None when none is given)."""
    if not names:
        return None
    mask = 0
    for name in names:
        mask |= int(enum_choice(CryptographicUsageMask, name))
    return mask


def decode_b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise CommandError("not valid base64") from None


def raw_symmetric_key(algorithm: CryptographicAlgorithm, material: bytes) -> S.SymmetricKey:
    """A Symmetric Key object holding raw key bytes."""
    return S.SymmetricKey(
        key_block=S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValue(key_material=material),
            cryptographic_algorithm=algorithm,
            cryptographic_length=len(material) * 8,
        )
    )


# -- lifecycle ------------------------------------------------------------------------------------------------------
def cmd_revoke(session: Session) -> None:
    args = session.args
    code = enum_choice(RevocationReasonCode, args.code)
    uid = session.client.revoke(object_id(args, args.what), code, args.reason)
    session.emit(f"Revoked {uid}", {"unique_identifier": uid, "state": "revoked"})


def cmd_destroy(session: Session) -> None:
    uid = session.client.destroy(object_id(session.args, session.args.what))
    session.emit(f"Destroyed {uid}", {"unique_identifier": uid, "state": "destroyed"})


def cmd_activate(session: Session) -> None:
    uid = session.client.activate(object_id(session.args, session.args.what))
    session.emit(f"Activated {uid}", {"unique_identifier": uid, "state": "active"})


def add_lifecycle_verbs(group: SubParsers[argparse.ArgumentParser], what: str) -> None:
    """``revoke REASON``, ``destroy`` and ``activate`` for objects named by id or tags."""
    revoke = add_verb(group, "revoke", cmd_revoke, f"revoke a {what} (it can no longer protect new data)")
    revoke.add_argument("reason", help="revocation message")
    revoke.add_argument(
        "--code",
        default="unspecified",
        help="reason code: unspecified (default), key-compromise, ca-compromise, affiliation-changed, superseded, "
        "cessation-of-operation, privilege-withdrawn",
    )
    add_object_options(revoke, what)
    destroy = add_verb(group, "destroy", cmd_destroy, f"destroy a {what}'s material (revoke it or never activate it)")
    add_object_options(destroy, what)
    activate = add_verb(group, "activate", cmd_activate, f"activate a Pre-Active {what}")
    add_object_options(activate, what)
    for parser in (revoke, destroy, activate):
        parser.set_defaults(what=what)


# -- export and import ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Format:
    """A file format for key material: the KMIP Key Format Type asked of the server and the PEM label."""

    key_format: KeyFormatType | None
    pem_label: str | None = None


#: Export formats (Cosmian's names). ``json-ttlv`` is the object as JSON TTLV, in the server's format.
EXPORT_FORMATS: dict[str, Format] = {
    "json-ttlv": Format(None),
    "raw": Format(KeyFormatType.RAW),
    "base64": Format(KeyFormatType.RAW),
    "pkcs8-pem": Format(KeyFormatType.PKCS_8, "PRIVATE KEY"),
    "pkcs8-der": Format(KeyFormatType.PKCS_8),
    "pkcs1-pem": Format(KeyFormatType.PKCS_1, "RSA PRIVATE KEY"),
    "pkcs1-der": Format(KeyFormatType.PKCS_1),
    "spki-pem": Format(KeyFormatType.X_509, "PUBLIC KEY"),
    "spki-der": Format(KeyFormatType.X_509),
    "sec1-pem": Format(KeyFormatType.ECPRIVATEKEY, "EC PRIVATE KEY"),
    "sec1-der": Format(KeyFormatType.ECPRIVATEKEY),
}

#: The object class of each Object Type (for JSON TTLV files and Register).
OBJECT_CLASSES: dict[ObjectType, type[Struct]] = {
    ObjectType.SYMMETRIC_KEY: S.SymmetricKey,
    ObjectType.PRIVATE_KEY: S.PrivateKey,
    ObjectType.PUBLIC_KEY: S.PublicKey,
    ObjectType.SECRET_DATA: S.SecretData,
    ObjectType.OPAQUE_OBJECT: S.OpaqueObject,
    ObjectType.CERTIFICATE: S.Certificate,
}
_TYPE_OF_CLASS = {cls: object_type for object_type, cls in OBJECT_CLASSES.items()}


def pem(label: str, der: bytes) -> bytes:
    """DER bytes in a PEM envelope (RFC 7468)."""
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return ("\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n").encode()


_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every (label, DER) block of a PEM file."""
    blocks = []
    for match in _PEM.finditer(data):
        try:
            blocks.append((match.group(1).decode(), base64.b64decode(b"".join(match.group(2).split()))))
        except binascii.Error:
            raise CommandError(f"PEM block {match.group(1).decode()} is not valid base64") from None
    return blocks


def key_material(obj: Struct) -> bytes:
    """The key bytes of an object in a byte-string format (Raw, PKCS#8...)."""
    block = getattr(obj, "key_block", None)
    if isinstance(obj, S.Certificate):
        return obj.certificate_value
    if isinstance(obj, S.OpaqueObject):
        return obj.opaque_data_value
    if block is None:
        raise CommandError("this object has no key material to write in that format")
    value = block.key_value
    if isinstance(value, S.KeyValue):
        value = value.key_material
    if isinstance(value, S.TransparentSymmetricKey):
        value = value.key
    if not isinstance(value, bytes):
        raise CommandError("the server answered a structured key: use --format json-ttlv")
    return value


def object_to_json(obj: Struct) -> bytes:
    return json_codec.encode(to_tree(obj)).encode() + b"\n"


def object_from_json(data: bytes) -> tuple[ObjectType, Struct]:
    """A managed object read from a JSON TTLV file (written by ``export``, ours or Cosmian's)."""
    try:
        item = json_codec.decode(data)
    except KmipError as exc:
        raise CommandError(f"not a JSON TTLV object: {exc.message}") from None
    for cls, object_type in _TYPE_OF_CLASS.items():
        if cls.__kmip__.tag == item.tag:
            return object_type, from_tree(item, cls)
    raise CommandError(f"a JSON TTLV {json_codec.encode(item)[:40]}... is not a managed object")


def cmd_export(session: Session) -> None:
    args = session.args
    fmt = EXPORT_FORMATS[args.format]
    wrapping = None
    if args.wrap_key_id:
        wrapping = S.KeyWrappingSpecification(
            wrapping_method=_wrapping_method(),
            encryption_key_information=S.EncryptionKeyInformation(unique_identifier=args.wrap_key_id),
        )
        if args.format not in ("json-ttlv", "raw", "base64"):
            raise CommandError("a wrapped key is written as json-ttlv, raw or base64")
    uid = object_id(args, args.what)
    kms = session.client
    # raw/base64 take the family's raw format (Raw for symmetric keys; as stored for secrets and opaque objects).
    key_format = args.raw_format if args.format in ("raw", "base64") else fmt.key_format
    if wrapping is not None:
        key_format = None
    if args.allow_revoked:
        exported = kms.export(uid, key_format_type=key_format, wrapping=wrapping)
        obj, real_uid = exported.managed_object, exported.unique_identifier
    else:
        got = kms.get(uid, key_format_type=key_format, wrapping=wrapping)
        obj, real_uid = got.managed_object, got.unique_identifier
    if args.format == "json-ttlv":
        data = object_to_json(obj)
    else:
        material = key_material(obj)
        if args.format == "base64":
            data = base64.b64encode(material) + b"\n"
        elif fmt.pem_label:
            data = pem(fmt.pem_label, material)
        else:
            data = material
    write_bytes(args.key_file, data)
    session.emit(
        None if args.key_file == "-" else f"The object {real_uid} was exported to {args.key_file}",
        {"unique_identifier": real_uid, "file": args.key_file, "format": args.format},
    )


def _wrapping_method() -> Any:
    from ...kmip._registry_data import WrappingMethod

    return WrappingMethod.ENCRYPT


#: What a PEM label holds: the object type, the Key Format Type of its DER.
PEM_LABELS: dict[str, tuple[ObjectType, KeyFormatType | None]] = {
    "PRIVATE KEY": (ObjectType.PRIVATE_KEY, KeyFormatType.PKCS_8),
    "RSA PRIVATE KEY": (ObjectType.PRIVATE_KEY, KeyFormatType.PKCS_1),
    "EC PRIVATE KEY": (ObjectType.PRIVATE_KEY, KeyFormatType.ECPRIVATEKEY),
    "PUBLIC KEY": (ObjectType.PUBLIC_KEY, KeyFormatType.X_509),
    "RSA PUBLIC KEY": (ObjectType.PUBLIC_KEY, KeyFormatType.PKCS_1),
    "CERTIFICATE": (ObjectType.CERTIFICATE, None),
}


def asymmetric_key(object_type: ObjectType, key_format: KeyFormatType, der: bytes) -> tuple[Struct, list[Any]]:
    """A Private or Public Key object from DER, with the algorithm/length attributes read from the key itself."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_der_public_key,
    )

    loaded: Any
    try:
        if object_type == ObjectType.PRIVATE_KEY:
            if key_format == KeyFormatType.PKCS_1:
                from cryptography.hazmat.primitives.serialization import load_pem_private_key

                loaded = load_pem_private_key(pem("RSA PRIVATE KEY", der), None)
            else:
                loaded = load_der_private_key(der, None)
        elif key_format == KeyFormatType.PKCS_1:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            loaded = load_pem_public_key(pem("RSA PUBLIC KEY", der))
        else:
            loaded = load_der_public_key(der)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"cannot read the key: {exc}") from None
    extra: list[Any] = []
    if isinstance(loaded, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        algorithm, length = CryptographicAlgorithm.RSA, loaded.key_size
    elif isinstance(loaded, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        algorithm, length = CryptographicAlgorithm.EC, loaded.curve.key_size
        curve = {"secp256r1": "P_256", "secp384r1": "P_384", "secp521r1": "P_521", "secp256k1": "SECP256K1"}
        name = curve.get(loaded.curve.name)
        if name:
            domain = S.CryptographicDomainParameters(recommended_curve=RecommendedCurve[name])
            extra.append((Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, domain))
    elif isinstance(loaded, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        algorithm, length = CryptographicAlgorithm.ED25519, 256
    elif isinstance(loaded, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        algorithm, length = CryptographicAlgorithm.ED448, 456
    elif isinstance(loaded, x25519.X25519PrivateKey | x25519.X25519PublicKey):
        algorithm, length = CryptographicAlgorithm.EC, 256
    elif isinstance(loaded, x448.X448PrivateKey | x448.X448PublicKey):
        algorithm, length = CryptographicAlgorithm.EC, 448
    elif (pqc := _post_quantum(loaded)) is not None:
        algorithm, length = pqc
    else:
        raise CommandError(f"unsupported key type {type(loaded).__name__}")
    block = S.KeyBlock(
        key_format_type=key_format,
        key_value=S.KeyValue(key_material=der),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )
    cls = S.PrivateKey if object_type == ObjectType.PRIVATE_KEY else S.PublicKey
    extra[:0] = [(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm), (Tag.CRYPTOGRAPHIC_LENGTH, length)]
    return cls(key_block=block), extra


#: ML-KEM and ML-DSA keys by their class name in cryptography, with the Cryptographic Length the KMS reports for
#: them (the NIST category's classical strength, FIPS 203/204).
_POST_QUANTUM: dict[str, tuple[CryptographicAlgorithm, int]] = {
    "MLKEM512": (CryptographicAlgorithm.ML_KEM_512, 128),
    "MLKEM768": (CryptographicAlgorithm.ML_KEM_768, 192),
    "MLKEM1024": (CryptographicAlgorithm.ML_KEM_1024, 256),
    "MLDSA44": (CryptographicAlgorithm.ML_DSA_44, 128),
    "MLDSA65": (CryptographicAlgorithm.ML_DSA_65, 192),
    "MLDSA87": (CryptographicAlgorithm.ML_DSA_87, 256),
}


def _post_quantum(key: Any) -> tuple[CryptographicAlgorithm, int] | None:
    """(algorithm, length) of an ML-KEM or ML-DSA key loaded by cryptography, else None."""
    for cls in type(key).__mro__:
        family = cls.__name__.removesuffix("PrivateKey").removesuffix("PublicKey")
        if family in _POST_QUANTUM and cls.__module__.startswith("cryptography."):
            return _POST_QUANTUM[family]
    return None


IMPORT_FORMATS = ("json-ttlv", "pem", "der", "raw", "base64")


def read_object(args: argparse.Namespace, data: bytes) -> tuple[ObjectType, Struct, list[Any]]:
    """The object a key file holds, in ``args.format`` (for raw/base64: ``args.default_type``)."""
    fmt = args.format
    if fmt == "json-ttlv":
        object_type, obj = object_from_json(data)
        return object_type, obj, []
    if fmt == "pem":
        blocks = pem_blocks(data)
        if not blocks:
            raise CommandError("no PEM block found")
        label, der = blocks[0]
        if label not in PEM_LABELS:
            raise CommandError(f"unsupported PEM block {label!r}")
        object_type, key_format = PEM_LABELS[label]
        if object_type == ObjectType.CERTIFICATE or key_format is None:
            return (
                ObjectType.CERTIFICATE,
                S.Certificate(certificate_type=CertificateType.X_509, certificate_value=der),
                [],
            )
        obj, extra = asymmetric_key(object_type, key_format, der)
        return object_type, obj, extra
    material = decode_b64(data.decode().strip()) if fmt == "base64" else data
    default: ObjectType = args.default_type
    if default == ObjectType.SYMMETRIC_KEY:
        algorithm = enum_choice(CryptographicAlgorithm, args.algorithm or "aes")
        extra = [(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm), (Tag.CRYPTOGRAPHIC_LENGTH, len(material) * 8)]
        return default, raw_symmetric_key(algorithm, material), extra
    if default == ObjectType.CERTIFICATE:
        return default, S.Certificate(certificate_type=CertificateType.X_509, certificate_value=material), []
    if default == ObjectType.SECRET_DATA:
        block = S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=material))
        return default, S.SecretData(secret_data_type=SecretDataType.PASSWORD, key_block=block), []
    if default == ObjectType.OPAQUE_OBJECT:
        # KMIP defines no standard Opaque Data Type value; Cosmian's Unknown is what its clients send.
        return default, S.OpaqueObject(opaque_data_type=OpaqueDataType.UNKNOWN, opaque_data_value=material), []
    if default in (ObjectType.PRIVATE_KEY, ObjectType.PUBLIC_KEY):
        key_format = KeyFormatType.PKCS_8 if default == ObjectType.PRIVATE_KEY else KeyFormatType.X_509
        obj, extra = asymmetric_key(default, key_format, material)
        return default, obj, extra
    raise CommandError(f"--format {fmt} is not available for this object type")


def cmd_import(session: Session) -> None:
    args = session.args
    object_type, obj, extra = read_object(args, read_bytes(args.key_file))
    kms = session.client
    attributes = key_attributes(
        object_type=object_type,
        tags=args.tag,
        usage_mask=usage_mask(args.key_usage),
        activation_date=kms.now() if object_type != ObjectType.CERTIFICATE else None,
        extra=extra,
    )
    if args.key_id:
        uid = kms.import_object(args.key_id, object_type, obj, attributes, replace=args.replace)
    else:
        uid = kms.register(object_type, obj, attributes)
    session.emit(uid, {"unique_identifier": uid, "object_type": object_type.name, "tags": args.tag})


def add_transfer_verbs(
    group: SubParsers[argparse.ArgumentParser],
    default_type: ObjectType,
    raw_format: KeyFormatType | None,
    *,
    what: str = "key",
    export_formats: tuple[str, ...] | None = None,
) -> None:
    """``export KEY_FILE`` and ``import KEY_FILE`` for one family."""
    formats = export_formats or tuple(EXPORT_FORMATS)
    export = add_verb(group, "export", cmd_export, f"write a {what} to a file (json-ttlv, raw, PEM, DER...)")
    export.add_argument("key_file", help="output file (- for standard output)")
    add_object_options(export, what)
    export.add_argument("-f", "--format", choices=formats, default="json-ttlv", help="file format (default json-ttlv)")
    export.add_argument("-w", "--wrap-key-id", help="wrap the exported key with this KMS key")
    export.add_argument(
        "-i", "--allow-revoked", action="store_true", help="use KMIP Export, which also returns revoked objects"
    )
    export.set_defaults(what=what, raw_format=raw_format)
    imp = add_verb(group, "import", cmd_import, f"import a {what} from a file; prints its unique identifier")
    imp.add_argument("key_file", help="input file (- for standard input)")
    imp.add_argument("--key-id", help="unique identifier to give it (KMIP Import); default: the server chooses")
    imp.add_argument(
        "-f", "--format", choices=IMPORT_FORMATS, default="json-ttlv", help="file format (default json-ttlv)"
    )
    imp.add_argument("-a", "--algorithm", help="algorithm of raw symmetric key bytes (default aes)")
    imp.add_argument("-t", "--tag", action="append", default=[], help="a tag (repeatable)")
    imp.add_argument("-r", "--replace", action="store_true", help="replace an existing object with that id")
    imp.add_argument("--key-usage", action="append", default=[], help=USAGE_HELP)
    imp.set_defaults(default_type=default_type, raw_format=raw_format)


def describe_attributes(attributes: Any) -> dict[str, Any]:
    """Attributes as a JSON-friendly mapping: attribute name to value (lists for repeated attributes)."""
    from ...kmip.mapper import attributes_to_tree

    tree = attributes_to_tree(attributes)
    out: dict[str, Any] = {}
    for child in json_codec.encode_obj(tree)["value"]:
        name, value = child["tag"], child.get("value")
        if name == "Attribute":
            continue
        if name in out:
            existing = out[name]
            out[name] = [*(existing if isinstance(existing, list) else [existing]), value]
        else:
            out[name] = value
    tags = tags_of(attributes)
    if tags:
        out["Tags"] = tags
    return out


__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "USAGE_HELP",
    "add_lifecycle_verbs",
    "add_transfer_verbs",
    "asymmetric_key",
    "decode_b64",
    "describe_attributes",
    "pem",
    "pem_blocks",
    "raw_symmetric_key",
    "usage_mask",
]
