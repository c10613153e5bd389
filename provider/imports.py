"""C_CreateObject of key pairs and certificates (PKCS#11 3.0 §4.6, §4.8-4.10, Current Mechanisms §2.1.2-2.1.3,
§2.3.3-2.3.4): the template's values become the KMIP object Register takes.

| PKCS#11 template                                         | KMIP Register                                        |
|----------------------------------------------------------|------------------------------------------------------|
| CKO_CERTIFICATE, CKC_X_509, CKA_VALUE (DER)              | Certificate, Certificate Type X.509                  |
| CKO_PUBLIC_KEY: CKA_MODULUS + CKA_PUBLIC_EXPONENT;       | Public Key, Key Format Type X.509 (SubjectPublicKey- |
| CKA_EC_PARAMS + CKA_EC_POINT (EC and Edwards)            | Info DER), algorithm, length, Recommended Curve      |
| CKO_PRIVATE_KEY: the RSA CRT values; CKA_EC_PARAMS +     | Private Key, Key Format Type PKCS#8 (DER)            |
| CKA_VALUE (the EC scalar or the Edwards private key)     |                                                      |
| CKK_DSA / CKK_DH: CKA_PRIME, (CKA_SUBPRIME), CKA_BASE +  | Public Key (X.509) / Private Key (PKCS#8), algorithm |
| CKA_VALUE (y of a public key, x of a private key)        | DSA / DH, length the prime's bits                    |

CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_CHECK_VALUE and CKA_PUBLIC_KEY_INFO of a certificate are read from
its DER value when the template does not give them (§4.6.3: they must match it), and stored with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CertificateType as KmipCertificateType,
)
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    ObjectType,
    RecommendedCurve,
)

from . import domain_parameters
from .attributes import FINITE_FIELD_KEY_TYPES, PARAMS_CURVES
from .constants import Attribute, CertificateType, KeyType, ObjectClass, ReturnValue
from .errors import CkError

A = Attribute

#: Curves a PKCS#11 EC key may name, as ``cryptography`` curves.
EC_CURVES: dict[RecommendedCurve, ec.EllipticCurve] = {
    RecommendedCurve.P_192: ec.SECP192R1(),
    RecommendedCurve.P_224: ec.SECP224R1(),
    RecommendedCurve.P_256: ec.SECP256R1(),
    RecommendedCurve.P_384: ec.SECP384R1(),
    RecommendedCurve.P_521: ec.SECP521R1(),
    RecommendedCurve.SECP256K1: ec.SECP256K1(),
    RecommendedCurve.BRAINPOOLP256R1: ec.BrainpoolP256R1(),
    RecommendedCurve.BRAINPOOLP384R1: ec.BrainpoolP384R1(),
    RecommendedCurve.BRAINPOOLP512R1: ec.BrainpoolP512R1(),
}
#: Bits of each curve's order (ECDSA uses that many leading bits of its input, X9.62).
CURVE_BITS: dict[RecommendedCurve, int] = {c: curve.key_size for c, curve in EC_CURVES.items()}
#: Edwards curves: the KMIP algorithm of their keys.
EDWARDS_ALGORITHMS: dict[RecommendedCurve, CryptographicAlgorithm] = {
    RecommendedCurve.CURVEED25519: CryptographicAlgorithm.ED25519,
    RecommendedCurve.CURVEED448: CryptographicAlgorithm.ED448,
}
#: Private key values of RSA (§2.1.3), consumed by the import and never stored as attributes.
RSA_PRIVATE_VALUES = (
    A.MODULUS,
    A.PUBLIC_EXPONENT,
    A.PRIVATE_EXPONENT,
    A.PRIME_1,
    A.PRIME_2,
    A.EXPONENT_1,
    A.EXPONENT_2,
    A.COEFFICIENT,
)
#: Template attributes that carry key material (consumed here, not stored as vendor attributes).
KEY_MATERIAL = frozenset({*RSA_PRIVATE_VALUES, A.EC_PARAMS, A.EC_POINT, A.VALUE, A.PRIME, A.SUBPRIME, A.BASE})


@dataclass(frozen=True, slots=True)
class Imported:
    """What Register needs: the object, its type, and KMIP attributes the material determines."""

    object_type: ObjectType
    managed: Any
    algorithm: CryptographicAlgorithm | None = None
    length: int | None = None
    curve: RecommendedCurve | None = None


def _invalid(message: str) -> CkError:
    return CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, message)


def _integer(template: dict[Attribute, Any], attribute: Attribute) -> int:
    value = template.get(attribute)
    if not value:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, f"CKA_{attribute.name} is required")
    return int.from_bytes(value, "big")


def ec_point(value: bytes) -> bytes:
    """CKA_EC_POINT: the DER OCTET STRING of the point (§2.3.3), or, as some applications send it, the raw point."""
    if len(value) >= 2 and value[0] == 0x04:
        length = value[1]
        if length < 0x80 and len(value) == 2 + length:
            return value[2:]
        if length & 0x80:
            size = length & 0x7F
            if 0 < size <= 2 and len(value) == 2 + size + int.from_bytes(value[2 : 2 + size], "big"):
                return value[2 + size :]
    return value


def _curve(template: dict[Attribute, Any]) -> RecommendedCurve:
    params = template.get(A.EC_PARAMS)
    if params is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required")
    curve = PARAMS_CURVES.get(bytes(params))
    if curve is None:
        raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "the curve is not supported")
    return curve


def _finite_field(template: dict[Attribute, Any], key_type: int, *, private: bool) -> Imported:
    """A DSA or Diffie-Hellman key (the crypto layer builds it: `cryptography` deprecates both)."""
    der, bits = domain_parameters.key_material(key_type, template, private=private)
    algorithm = FINITE_FIELD_KEY_TYPES[KeyType(key_type)]
    block = S.KeyBlock(
        key_format_type=KeyFormatType.PKCS_8 if private else KeyFormatType.X_509,
        key_value=S.KeyValue(key_material=der),
        cryptographic_algorithm=algorithm,
        cryptographic_length=bits,
    )
    if private:
        return Imported(ObjectType.PRIVATE_KEY, S.PrivateKey(key_block=block), algorithm, bits)
    return Imported(ObjectType.PUBLIC_KEY, S.PublicKey(key_block=block), algorithm, bits)


def public_key(template: dict[Attribute, Any], key_type: int) -> Imported:
    """A CKO_PUBLIC_KEY template as a KMIP Public Key (X.509 SubjectPublicKeyInfo)."""
    if key_type in FINITE_FIELD_KEY_TYPES:
        return _finite_field(template, key_type, private=False)
    key: Any
    try:
        if key_type == KeyType.RSA:
            numbers = rsa.RSAPublicNumbers(_integer(template, A.PUBLIC_EXPONENT), _integer(template, A.MODULUS))
            key = numbers.public_key()
            algorithm, length, curve = CryptographicAlgorithm.RSA, key.key_size, None
        elif key_type in (KeyType.EC, KeyType.EC_EDWARDS):
            curve = _curve(template)
            point = template.get(A.EC_POINT)
            if not point:
                raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_EC_POINT is required")
            raw = ec_point(bytes(point))
            if key_type == KeyType.EC and curve in EC_CURVES:
                key = ec.EllipticCurvePublicKey.from_encoded_point(EC_CURVES[curve], raw)
                algorithm, length = CryptographicAlgorithm.EC, key.curve.key_size
            elif key_type == KeyType.EC_EDWARDS and curve in EDWARDS_ALGORITHMS:
                algorithm = EDWARDS_ALGORITHMS[curve]
                if algorithm == CryptographicAlgorithm.ED25519:
                    key, length = ed25519.Ed25519PublicKey.from_public_bytes(raw), 255
                else:
                    key, length = ed448.Ed448PublicKey.from_public_bytes(raw), 448
            else:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "the curve does not fit the key type")
        else:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"public keys of type 0x{key_type:x} cannot be created")
    except ValueError as exc:
        raise _invalid(f"not a valid public key: {exc}") from None
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    block = S.KeyBlock(
        key_format_type=KeyFormatType.X_509,
        key_value=S.KeyValue(key_material=der),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )
    return Imported(ObjectType.PUBLIC_KEY, S.PublicKey(key_block=block), algorithm, length, curve)


def private_key(template: dict[Attribute, Any], key_type: int) -> Imported:
    """A CKO_PRIVATE_KEY template as a KMIP Private Key (PKCS#8)."""
    if key_type in FINITE_FIELD_KEY_TYPES:
        return _finite_field(template, key_type, private=True)
    key: Any
    try:
        if key_type == KeyType.RSA:
            public = rsa.RSAPublicNumbers(_integer(template, A.PUBLIC_EXPONENT), _integer(template, A.MODULUS))
            p, q, d = (_integer(template, a) for a in (A.PRIME_1, A.PRIME_2, A.PRIVATE_EXPONENT))
            dmp1 = int.from_bytes(template.get(A.EXPONENT_1) or b"", "big") or rsa.rsa_crt_dmp1(d, p)
            dmq1 = int.from_bytes(template.get(A.EXPONENT_2) or b"", "big") or rsa.rsa_crt_dmq1(d, q)
            iqmp = int.from_bytes(template.get(A.COEFFICIENT) or b"", "big") or rsa.rsa_crt_iqmp(p, q)
            key = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public).private_key()
            algorithm, length, curve = CryptographicAlgorithm.RSA, key.key_size, None
        elif key_type in (KeyType.EC, KeyType.EC_EDWARDS):
            curve = _curve(template)
            value = template.get(A.VALUE)
            if not value:
                raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE is required")
            if key_type == KeyType.EC and curve in EC_CURVES:
                key = ec.derive_private_key(int.from_bytes(value, "big"), EC_CURVES[curve])
                algorithm, length = CryptographicAlgorithm.EC, key.curve.key_size
            elif key_type == KeyType.EC_EDWARDS and curve in EDWARDS_ALGORITHMS:
                algorithm = EDWARDS_ALGORITHMS[curve]
                if algorithm == CryptographicAlgorithm.ED25519:
                    key, length = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(value)), 255
                else:
                    key, length = ed448.Ed448PrivateKey.from_private_bytes(bytes(value)), 448
            else:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "the curve does not fit the key type")
        else:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"private keys of type 0x{key_type:x} cannot be created")
    except ValueError as exc:
        raise _invalid(f"not a valid private key: {exc}") from None
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    block = S.KeyBlock(
        key_format_type=KeyFormatType.PKCS_8,
        key_value=S.KeyValue(key_material=der),
        cryptographic_algorithm=algorithm,
        cryptographic_length=length,
    )
    return Imported(ObjectType.PRIVATE_KEY, S.PrivateKey(key_block=block), algorithm, length, curve)


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True) if value else b"\x00"
    return b"\x02" + _der_length(len(body)) + body


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(size)]) + size


def certificate_values(der: bytes) -> dict[Attribute, Any]:
    """The attributes an X.509 certificate determines (§4.6.3): subject, issuer and serial number as their DER
    encodings, CKA_CHECK_VALUE (§4.6: the first 3 bytes of the SHA-1 of CKA_VALUE), CKA_PUBLIC_KEY_INFO."""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject, issuer = cert.subject.public_bytes(), cert.issuer.public_bytes()
        serial = cert.serial_number
    except ValueError as exc:
        raise _invalid(f"CKA_VALUE is not a DER X.509 certificate: {exc}") from None
    try:
        key_info = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, TypeError):  # an algorithm cryptography cannot load: the attribute stays empty
        key_info = b""
    return {
        A.SUBJECT: subject,
        A.ISSUER: issuer,
        A.SERIAL_NUMBER: _der_integer(serial),
        A.CHECK_VALUE: hashlib.sha1(der).digest()[:3],  # noqa: S324 (the spec's checksum, not a security use)
        A.PUBLIC_KEY_INFO: key_info,
    }


def certificate(template: dict[Attribute, Any]) -> Imported:
    """A CKO_CERTIFICATE template as a KMIP Certificate; fills the template's certificate-derived attributes."""
    kind = template.get(A.CERTIFICATE_TYPE)
    if kind is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_CERTIFICATE_TYPE is required")
    if kind != CertificateType.X_509:
        raise _invalid("only X.509 public key certificates (CKC_X_509) are supported")
    value = template.get(A.VALUE)
    if not value:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE is required")
    for attribute, derived in certificate_values(bytes(value)).items():
        template.setdefault(attribute, derived)
    managed = S.Certificate(certificate_type=KmipCertificateType.X_509, certificate_value=bytes(value))
    return Imported(ObjectType.CERTIFICATE, managed)


def imported(object_class: ObjectClass, template: dict[Attribute, Any]) -> Imported:
    """The KMIP object for a C_CreateObject template of a key pair half or a certificate."""
    if object_class is ObjectClass.CERTIFICATE:
        return certificate(template)
    key_type = template.get(A.KEY_TYPE)
    if key_type is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required")
    if object_class is ObjectClass.PUBLIC_KEY:
        return public_key(template, key_type)
    return private_key(template, key_type)


__all__ = [
    "CURVE_BITS",
    "EC_CURVES",
    "EDWARDS_ALGORITHMS",
    "KEY_MATERIAL",
    "RSA_PRIVATE_VALUES",
    "Imported",
    "certificate",
    "certificate_values",
    "ec_point",
    "imported",
    "private_key",
    "public_key",
]
