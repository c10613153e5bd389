"""Generating and storing key pairs (Create Key Pair §6.1.9, Re-key Key Pair §6.1.47).

Private keys are stored as PKCS#8, public keys as X.509 SubjectPublicKeyInfo; the public key's Unique
Identifier is the private key's plus ``_pk`` (Cosmian KMS convention), and the two are linked both ways.
"""

from __future__ import annotations

from typing import Any

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CryptographicAlgorithm,
    KeyFormatType,
    LinkType,
    ObjectType,
    RecommendedCurve,
    ResultReason,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..lifecycle import key_pair_usage
from ..objects import ManagedObject
from ._common import client_attributes, new_object, server_generated

#: EC key sizes clients give as Cryptographic Length instead of a curve.
_CURVE_BY_LENGTH = {
    224: RecommendedCurve.P_224,
    256: RecommendedCurve.P_256,
    384: RecommendedCurve.P_384,
    521: RecommendedCurve.P_521,
}
_EC_ALGORITHMS = frozenset({CryptographicAlgorithm.EC, CryptographicAlgorithm.ECDSA, CryptographicAlgorithm.ECDH})


def merged_attributes(common: Attributes | None, specific: Attributes | None) -> Attributes:
    """Common Attributes overlaid by the private- or public-key-specific ones (KMIP 2.1 §6.1.9)."""
    merged = client_attributes(common)
    for tag, value in client_attributes(specific):
        if tag in (Tag.NAME, Tag.LINK, Tag.OBJECT_GROUP, Tag.ATTRIBUTE):
            merged.add(tag, value)
        else:
            merged.set(tag, value)
    return merged


def key_pair_parameters(attrs: Attributes) -> tuple[int, int | None, int | None]:
    """(Cryptographic Algorithm, RSA length, EC curve) requested by ``attrs``."""
    algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM)
    if algorithm is None:
        raise KmipError(ResultReason.INVALID_FIELD, "Cryptographic Algorithm is required to create a key pair")
    length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH)
    curve = None
    domain = attrs.get(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS)
    if isinstance(domain, S.CryptographicDomainParameters):
        curve = domain.recommended_curve
    if curve is None and algorithm in _EC_ALGORITHMS and isinstance(length, int):
        curve = _CURVE_BY_LENGTH.get(length)
        if curve is None:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"no standard curve of {length} bits")
    return int(algorithm), length if isinstance(length, int) else None, int(curve) if curve is not None else None


#: DSA and Diffie-Hellman key pairs on given domain parameters: KMIP's Cryptographic Domain Parameters hold only a
#: Qlength and a Recommended Curve, so the parameters themselves come in this Vendor Attribute (KMIP 2.1 §4.60), a
#: Byte String holding RFC 3279 ``Dss-Parms`` or PKCS #3 ``DHParameter`` DER (the PKCS#11 provider sends it for
#: CKM_DSA_KEY_PAIR_GEN and CKM_DH_PKCS_KEY_PAIR_GEN). It stays on both keys, so Re-key Key Pair keeps the group.
DOMAIN_PARAMETERS_VENDOR = "keystead"
DOMAIN_PARAMETERS_NAME = "domain_parameters"


def domain_parameters(attrs: Attributes) -> bytes | None:
    """The DSA / Diffie-Hellman domain parameters DER a Create Key Pair asks for, if any."""
    for value in attrs.get_all(Tag.ATTRIBUTE):
        if (
            isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == DOMAIN_PARAMETERS_VENDOR
            and value.attribute_name == DOMAIN_PARAMETERS_NAME
        ):
            raw = value.attribute_value.value if value.attribute_value is not None else None
            if not isinstance(raw, bytes):
                raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "domain_parameters is a Byte String of DER")
            return raw
    return None


def create_pair(
    ctx: RequestContext,
    private_attrs: Attributes,
    public_attrs: Attributes,
    parameters: tuple[int, int | None, int | None],
    *,
    uid: str | None = None,
) -> tuple[ManagedObject, ManagedObject]:
    """Generate, store and link a key pair of ``parameters`` (algorithm, RSA length, EC curve); returns
    (private, public)."""
    algorithm, length, curve = parameters
    try:  # values outside the registries (the codec keeps unknown enumeration values as integers)
        known = CryptographicAlgorithm(algorithm)
        named_curve = RecommendedCurve(curve) if curve is not None else None
    except ValueError:
        raise KmipError(ResultReason.INVALID_FIELD, f"unknown Cryptographic Algorithm {algorithm} or curve") from None
    private_der, public_der = crypto.generate_key_pair(
        known,
        length=length,
        curve=named_curve,
        domain_parameters=domain_parameters(private_attrs) or domain_parameters(public_attrs),
        approved_only=ctx.engine.config.approved_only,
    )
    description = crypto.describe_key(public_der)
    private_mask, public_mask = key_pair_usage(algorithm)
    for attrs, mask in ((private_attrs, private_mask), (public_attrs, public_mask)):
        if Tag.CRYPTOGRAPHIC_USAGE_MASK not in attrs:
            attrs.set(Tag.CRYPTOGRAPHIC_USAGE_MASK, mask)
    private_uid = uid or ctx.new_uid()
    public_uid = f"{private_uid}_pk"
    for attrs, other, link in (
        (private_attrs, public_uid, LinkType.PUBLIC_KEY_LINK),
        (public_attrs, private_uid, LinkType.PRIVATE_KEY_LINK),
    ):
        attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, description.algorithm)
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, description.length_bits)
        if description.curve is not None:
            attrs.set(
                Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
                S.CryptographicDomainParameters(recommended_curve=description.curve),
            )
        attrs.add(Tag.LINK, S.Link(link_type=link, linked_object_identifier=other))
        server_generated(attrs)
    # KMIP's default Key Format Type for RSA keys is PKCS#1 (the OASIS AKLC test cases expect it); other keys
    # are stored as PKCS#8 / X.509 SubjectPublicKeyInfo.
    private_format, public_format = (
        (KeyFormatType.PKCS_1, KeyFormatType.PKCS_1)
        if description.algorithm == CryptographicAlgorithm.RSA
        else (KeyFormatType.PKCS_8, KeyFormatType.X_509)
    )
    private_material = _in_format(crypto.export_private_key(private_der, private_format))
    public_material = _in_format(crypto.export_public_key(public_der, public_format))
    private = new_object(
        ctx,
        ObjectType.PRIVATE_KEY,
        key_object(S.PrivateKey, private_format, private_material, description),
        private_attrs,
        uid=private_uid,
        key_material=private_material,
        key_format_type=private_format,
    )
    public = new_object(
        ctx,
        ObjectType.PUBLIC_KEY,
        key_object(S.PublicKey, public_format, public_material, description),
        public_attrs,
        uid=public_uid,
        key_material=public_material,
        key_format_type=public_format,
    )
    return private, public


def _in_format(material: object) -> bytes:
    assert isinstance(material, bytes)  # PKCS#1, PKCS#8 and X.509 are DER bytes, never transparent structures
    return material


def key_object(cls: Any, key_format: KeyFormatType, der: bytes, description: crypto.KeyDescription) -> Any:
    """A Private or Public Key object holding ``der`` in ``key_format``, described by ``description``."""
    return cls(
        key_block=S.KeyBlock(
            key_format_type=key_format,
            key_value=S.KeyValue(key_material=der),
            cryptographic_algorithm=description.algorithm,
            cryptographic_length=description.length_bits,
        )
    )


__all__ = [
    "DOMAIN_PARAMETERS_NAME",
    "DOMAIN_PARAMETERS_VENDOR",
    "create_pair",
    "domain_parameters",
    "key_object",
    "key_pair_parameters",
    "merged_attributes",
]
