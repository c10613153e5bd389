"""Register (KMIP 2.1 §6.1.43): store a client-supplied managed object with its attributes."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import CryptographicAlgorithm, ObjectType, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..keyformats import unwrap_object
from ..keymaterial import private_key_der, public_key_der, symmetric_key
from ..lifecycle import key_block, raw_key_material
from ..objects import OBJECT_TYPES
from ._common import client_attributes, known_object_type, new_object
from ._pkcs12 import store_pki_object


def handle(ctx: RequestContext, request: S.RegisterRequest) -> S.RegisterResponse:
    ctx.check_create()
    obj = request.managed_object
    object_type = known_object_type(request.object_type)
    if OBJECT_TYPES.get(type(obj)) != object_type:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"the object is not a {object_type.name}")
    attrs = client_attributes(_without_restated(request.attributes, obj))
    attrs.remove(Tag.OBJECT_TYPE)
    obj = unwrap_object(ctx, obj)  # type: ignore[assignment]
    pki = store_pki_object(ctx, obj, attrs, uid=None)  # certificates, CSRs, PKCS#7 and PKCS#12 (handlers/_pki)
    if pki is not None:
        return S.RegisterResponse(unique_identifier=ctx.returned(pki.uid))
    block = key_block(obj)
    key_format = None
    if block is not None:
        key_format = block.key_format_type
        # Algorithm and length travel in the Key Block; mirror them as attributes (KMIP 2.1 §3.1).
        for tag, value in (
            (Tag.CRYPTOGRAPHIC_ALGORITHM, block.cryptographic_algorithm),
            (Tag.CRYPTOGRAPHIC_LENGTH, block.cryptographic_length),
        ):
            if value is not None:
                given = attrs.get(tag)
                if given is not None and given != value:
                    raise KmipError(ResultReason.INVALID_FIELD, f"{tag.name} attribute contradicts the Key Block")
                attrs.set(tag, value)
        _describe_material(object_type, obj, attrs)
        if object_type == ObjectType.SYMMETRIC_KEY:
            _check_key_fits(obj, attrs)
    mo = new_object(ctx, object_type, obj, attrs, key_material=raw_key_material(obj), key_format_type=key_format)
    return S.RegisterResponse(unique_identifier=ctx.returned(mo.uid))


def _check_key_fits(obj: object, attrs: Attributes) -> None:
    """A symmetric key must fit its algorithm and stated length: a stored 17-byte "AES" key would fail only later,
    in whichever client uses it."""
    try:
        material = symmetric_key(obj)  # type: ignore[arg-type]
    except KmipError:
        return  # a format the crypto layer does not read as raw bytes: used as registered
    algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM)
    length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH)
    crypto.check_symmetric_key(
        algorithm if isinstance(algorithm, CryptographicAlgorithm) else None,
        length if isinstance(length, int) else None,
        material,
    )


def _without_restated(attrs: Attributes, obj: object) -> Attributes:
    """The request's attributes less a Certificate Type that merely restates the certificate's own (clients such
    as the OASIS Baseline test cases send it; the server sets it from the object either way)."""
    if not isinstance(obj, S.Certificate):
        return attrs
    given = attrs.get_all(Tag.CERTIFICATE_TYPE)
    if given and all(value == obj.certificate_type for value in given):
        return Attributes([(t, v) for t, v in attrs if t != Tag.CERTIFICATE_TYPE])
    return attrs


def _describe_material(object_type: int, obj: object, attrs: Attributes) -> None:
    """Fill Cryptographic Algorithm / Length / Domain Parameters the client left out from the key itself (a key
    unwrapped on Register carries no Key Block metadata of its own)."""
    if Tag.CRYPTOGRAPHIC_LENGTH in attrs and (
        object_type == ObjectType.SYMMETRIC_KEY or Tag.CRYPTOGRAPHIC_ALGORITHM in attrs
    ):
        return
    try:
        if object_type in (ObjectType.SYMMETRIC_KEY, ObjectType.SECRET_DATA):
            if Tag.CRYPTOGRAPHIC_LENGTH not in attrs:
                attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, 8 * len(symmetric_key(obj)))  # type: ignore[arg-type]
            return
        if object_type == ObjectType.PRIVATE_KEY:
            der = private_key_der(obj)  # type: ignore[arg-type]
        elif object_type == ObjectType.PUBLIC_KEY:
            der = public_key_der(obj)  # type: ignore[arg-type]
        else:
            return
        described = crypto.describe_key(der)
    except KmipError:
        return  # material the crypto layer cannot read stays as registered; using it will report the problem
    if Tag.CRYPTOGRAPHIC_ALGORITHM not in attrs:
        attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, described.algorithm)
    if Tag.CRYPTOGRAPHIC_LENGTH not in attrs:
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, described.length_bits)
    if described.curve is not None and Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS not in attrs:
        attrs.set(
            Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=described.curve)
        )


__all__ = ["handle"]
