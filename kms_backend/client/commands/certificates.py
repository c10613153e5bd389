"""``keystead certificates certify|import|export|revoke|destroy|activate|validate`` (PEM, DER, PKCS#12), and
``keystead secret-data …`` / ``keystead opaque-object …``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CertificateRequestType,
    CertificateType,
    CryptographicAlgorithm,
    ItemType,
    KeyFormatType,
    LinkType,
    ObjectType,
    RecommendedCurve,
    SecretDataType,
    Tag,
)
from ...kmip.ttlv import Item
from ..client import TAG_VENDOR, key_attributes
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
    hex_or_base64,
    object_id,
    read_bytes,
    write_bytes,
)

#: ``certify --algorithm`` for a generated key pair: (algorithm, RSA length, EC curve).
KEY_ALGORITHMS: dict[str, tuple[CryptographicAlgorithm, int | None, RecommendedCurve | None]] = {
    "rsa2048": (CryptographicAlgorithm.RSA, 2048, None),
    "rsa3072": (CryptographicAlgorithm.RSA, 3072, None),
    "rsa4096": (CryptographicAlgorithm.RSA, 4096, None),
    "nist-p256": (CryptographicAlgorithm.EC, None, RecommendedCurve.P_256),
    "nist-p384": (CryptographicAlgorithm.EC, None, RecommendedCurve.P_384),
    "nist-p521": (CryptographicAlgorithm.EC, None, RecommendedCurve.P_521),
    "ed25519": (CryptographicAlgorithm.ED25519, None, None),
    "ed448": (CryptographicAlgorithm.ED448, None, None),
}


def vendor(name: str, value: str) -> S.VendorAttribute:
    """A Cosmian vendor attribute with a text value (``subject_name``, ``validity_days``, ``x509-extension``)."""
    return S.VendorAttribute(
        vendor_identification=TAG_VENDOR,
        attribute_name=name,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, value),
    )


def cmd_certify(session: Session) -> None:
    args = session.args
    sources = [bool(args.certificate_signing_request), bool(args.public_key_id_to_certify), args.generate_key_pair]
    if sum(sources) != 1:
        raise CommandError("give exactly one of --certificate-signing-request, --public-key-id-to-certify, --generate")
    extra: list[tuple[int, Any]] = []
    if args.subject_name:
        extra.append((Tag.ATTRIBUTE, vendor("subject_name", args.subject_name)))
    if args.days:
        extra.append((Tag.ATTRIBUTE, vendor("validity_days", str(args.days))))
    if args.certificate_extensions:
        extra.append((Tag.ATTRIBUTE, vendor("x509-extension", Path(args.certificate_extensions).read_text())))
    for target, link_type in (
        (args.issuer_certificate_id, LinkType.CERTIFICATE_LINK),
        (args.issuer_private_key_id, LinkType.PRIVATE_KEY_LINK),
    ):
        if target:
            extra.append((Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=target)))
    algorithm = length = None
    if args.generate_key_pair:
        algorithm, length, curve = KEY_ALGORITHMS[args.algorithm]
        if curve is not None:
            domain = S.CryptographicDomainParameters(recommended_curve=curve)
            extra.append((Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, domain))
    attributes = key_attributes(algorithm=algorithm, length=length, tags=args.tag, extra=extra)
    request = S.CertifyRequest(unique_identifier=args.public_key_id_to_certify, attributes=attributes)
    if args.certificate_signing_request:
        csr = read_bytes(args.certificate_signing_request)
        pem = csr.lstrip().startswith(b"-----BEGIN")
        request.certificate_request_type = CertificateRequestType.PEM if pem else CertificateRequestType.PKCS_10
        request.certificate_request_value = csr
    uid = session.client.certify(request)
    session.emit(uid, {"unique_identifier": uid, "tags": args.tag})


def cmd_import(session: Session) -> None:
    args = session.args
    data = read_bytes(args.certificate_file)
    extra: list[tuple[int, Any]] = []
    obj: Any
    if args.format == "pkcs12":
        object_type = ObjectType.PRIVATE_KEY
        block = S.KeyBlock(key_format_type=KeyFormatType.PKCS_12, key_value=S.KeyValue(key_material=data))
        obj = S.PrivateKey(key_block=block)
        if args.pkcs12_password:
            extra.append((Tag.ATTRIBUTE, vendor("pkcs12_password", args.pkcs12_password)))
    else:
        object_type = ObjectType.CERTIFICATE
        if args.format == "pem":
            blocks = [der for label, der in _keys.pem_blocks(data) if label == "CERTIFICATE"]
            if not blocks:
                raise CommandError("no CERTIFICATE block in the PEM file")
            data = blocks[0]
        obj = S.Certificate(certificate_type=CertificateType.X_509, certificate_value=data)
    kms = session.client
    attributes = key_attributes(object_type=object_type, tags=args.tag, extra=extra)
    if args.certificate_id:
        uid = kms.import_object(args.certificate_id, object_type, obj, attributes, replace=args.replace)
    else:
        uid = kms.register(object_type, obj, attributes)
    session.emit(uid, {"unique_identifier": uid, "tags": args.tag})


def cmd_export(session: Session) -> None:
    args = session.args
    uid = object_id(args, "certificate")
    kms = session.client
    if args.format == "pkcs12":
        got = kms.get(uid, key_format_type=KeyFormatType.PKCS_12)
        data = _keys.key_material(got.managed_object)
    else:
        obj = kms.get(uid).managed_object
        if not isinstance(obj, S.Certificate):
            raise CommandError(f"{uid} is not a certificate (use -f pkcs12 for a private key)")
        data = obj.certificate_value if args.format == "der" else _keys.pem("CERTIFICATE", obj.certificate_value)
    write_bytes(args.certificate_file, data)
    session.emit(
        None if args.certificate_file == "-" else f"The certificate was exported to {args.certificate_file}",
        {"unique_identifier": uid, "file": args.certificate_file, "format": args.format},
    )


def cmd_validate(session: Session) -> None:
    args = session.args
    certificates = []
    for path in args.certificate:
        data = read_bytes(path)
        blocks = [der for label, der in _keys.pem_blocks(data) if label == "CERTIFICATE"]
        certificates.extend(blocks or [data])
    if not args.certificate_id and not certificates:
        raise CommandError("give --certificate-id ID or --certificate FILE (repeatable)")
    valid = session.client.validate(args.certificate_id, certificates)
    session.emit("Valid" if valid else "Invalid", {"valid": valid})
    if not valid:
        raise CommandError("the certificate chain is not valid", Exit.CRYPTO_FAILED)


# -- secret data and opaque objects ---------------------------------------------------------------------------------
def cmd_secret_create(session: Session) -> None:
    args = session.args
    kms = session.client
    if args.value is not None:
        data = hex_or_base64(args.value)
        obj = S.SecretData(
            secret_data_type=enum_choice(SecretDataType, args.secret_data_type),
            key_block=S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=data)),
        )
        attributes = key_attributes(object_type=ObjectType.SECRET_DATA, tags=args.tag, activation_date=kms.now())
        uid = kms.register(ObjectType.SECRET_DATA, obj, attributes)
    else:
        attributes = key_attributes(
            object_type=ObjectType.SECRET_DATA, length=args.number_of_bits, tags=args.tag, activation_date=kms.now()
        )
        uid = kms.create(ObjectType.SECRET_DATA, attributes)
    session.emit(uid, {"unique_identifier": uid, "tags": args.tag})


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``certificates``, ``secret-data`` and ``opaque-object``."""
    certs = add_group(sub, "certificates", "X.509 certificates: issue, import, export (PEM, DER, PKCS#12), validate")
    certify = add_verb(certs, "certify", cmd_certify, "issue a certificate; prints its unique identifier")
    certify.add_argument("-r", "--certificate-signing-request", help="a PKCS#10 CSR file (PEM or DER)")
    certify.add_argument("-p", "--public-key-id-to-certify", help="certify this public key of the KMS")
    certify.add_argument("-g", "--generate-key-pair", action="store_true", help="generate the key pair too")
    certify.add_argument(
        "-a", "--algorithm", choices=sorted(KEY_ALGORITHMS), default="rsa4096", help="with -g (default rsa4096)"
    )
    certify.add_argument("-s", "--subject-name", help='subject, e.g. "CN=web,O=Acme,C=FR"')
    certify.add_argument("-k", "--issuer-private-key-id", help="the issuer's private key (default: self-signed)")
    certify.add_argument("-i", "--issuer-certificate-id", help="the issuer's certificate")
    certify.add_argument("-d", "--days", type=int, help="validity in days (default 365)")
    certify.add_argument("-e", "--certificate-extensions", help="file of OpenSSL extension lines (v3_ca section...)")
    certify.add_argument("-t", "--tag", action="append", default=[], help="a tag (repeatable)")

    imp = add_verb(certs, "import", cmd_import, "import a certificate (PEM, DER) or a PKCS#12 file")
    imp.add_argument("certificate_file", help="input file (- for standard input)")
    imp.add_argument("-f", "--format", choices=("pem", "der", "pkcs12"), default="pem", help="default pem")
    imp.add_argument("-p", "--pkcs12-password", help="password of a PKCS#12 file")
    imp.add_argument("--certificate-id", help="unique identifier to give it (default: the server chooses)")
    imp.add_argument("-r", "--replace", action="store_true", help="replace an existing object with that id")
    imp.add_argument("-t", "--tag", action="append", default=[], help="a tag (repeatable)")
    export = add_verb(certs, "export", cmd_export, "write a certificate (PEM, DER) or its key and chain (PKCS#12)")
    export.add_argument("certificate_file", help="output file (- for standard output)")
    add_object_options(export, "certificate")
    export.add_argument("-f", "--format", choices=("pem", "der", "pkcs12"), default="pem", help="default pem")
    _keys.add_lifecycle_verbs(certs, "certificate")
    validate = add_verb(certs, "validate", cmd_validate, "validate a certificate chain (exit 6 if invalid)")
    validate.add_argument("-k", "--certificate-id", action="append", default=[], help="a certificate in the KMS")
    validate.add_argument("--certificate", action="append", default=[], help="a certificate file (PEM or DER)")

    secret = add_group(sub, "secret-data", "secret data: passwords and seeds kept in the KMS")
    create = add_verb(secret, "create", cmd_secret_create, "create (random) or register secret data; prints its id")
    create.add_argument("-l", "--number-of-bits", type=int, default=256, help="random secret length (default 256)")
    create.add_argument("--value", help="register this secret instead (hexadecimal, or b64:BASE64)")
    create.add_argument("--secret-data-type", default="password", help="password (default) or seed")
    create.add_argument("-t", "--tag", action="append", default=[], help="a tag (repeatable)")
    _keys.add_transfer_verbs(
        secret, ObjectType.SECRET_DATA, None, what="secret", export_formats=("json-ttlv", "raw", "base64")
    )
    _keys.add_lifecycle_verbs(secret, "secret")

    opaque = add_group(sub, "opaque-object", "opaque objects: any bytes kept in the KMS")
    _keys.add_transfer_verbs(
        opaque, ObjectType.OPAQUE_OBJECT, None, what="opaque object", export_formats=("json-ttlv", "raw", "base64")
    )
    _keys.add_lifecycle_verbs(opaque, "opaque object")


__all__ = ["KEY_ALGORITHMS", "register"]
