"""Key management (PKCS#11 3.0 §5.18): C_GenerateKey → KMIP Create, C_GenerateKeyPair → Create Key Pair,
C_WrapKey → Get with a Key Wrapping Specification, C_UnwrapKey → Register of a wrapped key (the KMS unwraps it),
C_DeriveKey (ECDH) → Derive Key. Key material is generated, wrapped and unwrapped inside the KMS."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    EncodingOption,
    KeyFormatType,
    ObjectType,
    Operation,
    RecommendedCurve,
    SecretDataType,
    Tag,
    WrappingMethod,
)
from kms_backend.kmip.schema import Attributes

from .attributes import (
    GENERATION_PARAMETERS,
    KEY_TYPE_ALGORITHMS,
    PARAMS_CURVES,
    check_template,
    kmip_attributes,
    parse_template,
    vendor_attribute,
)
from .constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError
from .library import Library, ObjectView
from .mechanisms import MECHANISMS, MechanismParameter, lookup, wrap_parameters
from .objects import adopt, check_write, object_view
from .operations import key_for
from .sessions import get_session

A = Attribute
_NAMED_CURVES = {
    RecommendedCurve.P_256: 32,
    RecommendedCurve.P_384: 48,
    RecommendedCurve.P_521: 66,
}
_RSA_EXPONENT = b"\x01\x00\x01"


def generate_key(lib: Library, session_handle: int, mechanism: int, raw_template: Iterable[tuple[int, bytes]]) -> int:
    """§5.18.1 C_GenerateKey with CKM_AES_KEY_GEN, CKM_DES2/DES3_KEY_GEN or CKM_GENERIC_SECRET_KEY_GEN; returns
    the key's handle."""
    session = get_session(lib, session_handle)
    kind, spec = lookup(mechanism, MechanismFlag.GENERATE)
    assert spec.key_type is not None and spec.object_type is not None
    template = parse_template(raw_template)
    if template.get(A.CLASS, ObjectClass.SECRET_KEY) != ObjectClass.SECRET_KEY:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes secret keys")
    if template.get(A.KEY_TYPE, spec.key_type) != spec.key_type:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes {spec.key_type.name} keys")
    template.pop(A.CLASS, None)
    template.pop(A.KEY_TYPE, None)
    check_template(template, ObjectClass.SECRET_KEY, forbidden=(A.VALUE,))
    length = template.pop(A.VALUE_LEN, spec.key_bytes or None)
    if length is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
    if spec.key_bytes:
        if length != spec.key_bytes:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"{spec.key_type.name} keys are {spec.key_bytes} bytes")
    elif spec.key_type is KeyType.AES:
        if length not in (16, 24, 32):
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "AES keys are 16, 24 or 32 bytes")
    elif not spec.min_key_size <= length * 8 <= spec.max_key_size:
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "generic secret length out of range")
    check_write(lib, session, template)
    attrs = kmip_attributes(ObjectClass.SECRET_KEY, template, int(time.time()))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.LOCAL, True))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.KEY_GEN_MECHANISM, int(kind)))
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)
    if spec.object_type == ObjectType.SYMMETRIC_KEY:
        algorithm: CryptographicAlgorithm = KEY_TYPE_ALGORITHMS[spec.key_type]
        attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
    response = lib.run(Operation.CREATE, S.CreateRequest(object_type=spec.object_type, attributes=attrs))
    return adopt(lib, session, str(response.unique_identifier), template)


# -- §5.18.2 C_GenerateKeyPair ---------------------------------------------------------------------------------------
def _pair_template(raw: Iterable[tuple[int, bytes]], object_class: ObjectClass, key_type: KeyType) -> dict[A, Any]:
    template = parse_template(raw)
    if template.pop(A.CLASS, object_class) != object_class:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"CKA_CLASS must be {object_class.name}")
    if template.pop(A.KEY_TYPE, key_type) != key_type:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"CKA_KEY_TYPE must be {key_type.name}")
    check_template(template, object_class, forbidden=(A.VALUE, A.MODULUS, A.EC_POINT))
    return template


def generate_key_pair(
    lib: Library,
    session_handle: int,
    mechanism: int,
    raw_public: Iterable[tuple[int, bytes]],
    raw_private: Iterable[tuple[int, bytes]],
) -> tuple[int, int]:
    """§5.18.2 C_GenerateKeyPair (RSA with CKA_MODULUS_BITS and exponent 65537; EC on P-256/384/521 named by
    CKA_EC_PARAMS; Ed25519); returns (public handle, private handle)."""
    session = get_session(lib, session_handle)
    kind, spec = lookup(mechanism, MechanismFlag.GENERATE_KEY_PAIR)
    key_type = spec.key_type
    assert key_type is not None
    public = _pair_template(raw_public, ObjectClass.PUBLIC_KEY, key_type)
    private = _pair_template(raw_private, ObjectClass.PRIVATE_KEY, key_type)
    common = Attributes()
    if key_type is KeyType.RSA:
        bits = public.get(A.MODULUS_BITS, private.get(A.MODULUS_BITS))
        if bits is None:
            raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS is required")
        if not spec.min_key_size <= bits <= spec.max_key_size or bits % 8:
            raise CkError(ReturnValue.KEY_SIZE_RANGE, f"RSA keys are {spec.min_key_size} to {spec.max_key_size} bits")
        exponent = public.get(A.PUBLIC_EXPONENT)
        if exponent is not None and exponent.lstrip(b"\x00") != _RSA_EXPONENT:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "only the public exponent 65537 is supported")
        common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA)
        common.add(Tag.CRYPTOGRAPHIC_LENGTH, bits)
    else:
        params = public.get(A.EC_PARAMS, private.get(A.EC_PARAMS))
        if key_type is KeyType.EC:
            if params is None:
                raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required")
            curve = PARAMS_CURVES.get(params)
            if curve not in _NAMED_CURVES:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "P-256, P-384 and P-521 are supported")
            common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC)
            common.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve))
        else:
            if params is not None and PARAMS_CURVES.get(params) != RecommendedCurve.CURVEED25519:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "Ed25519 is the supported Edwards curve")
            common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.ED25519)
    for template in (public, private):
        for attribute in GENERATION_PARAMETERS:
            template.pop(attribute, None)
        check_write(lib, session, template)
    now = int(time.time())
    specific = []
    for object_class, template in ((ObjectClass.PRIVATE_KEY, private), (ObjectClass.PUBLIC_KEY, public)):
        attrs = kmip_attributes(object_class, template, now)
        attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.LOCAL, True))
        attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.KEY_GEN_MECHANISM, int(kind)))
        specific.append(attrs)
    response = lib.run(
        Operation.CREATE_KEY_PAIR,
        S.CreateKeyPairRequest(
            common_attributes=common, private_key_attributes=specific[0], public_key_attributes=specific[1]
        ),
    )
    private_uid = str(response.private_key_unique_identifier)
    public_uid = str(response.public_key_unique_identifier)
    return adopt(lib, session, public_uid, public), adopt(lib, session, private_uid, private)


# -- §5.18.3 C_WrapKey / §5.18.4 C_UnwrapKey -------------------------------------------------------------------------
def _wrapping_key(lib: Library, handle: int, kind: Mechanism, *, unwrap: bool) -> ObjectView:
    spec = MECHANISMS[kind]
    rsa = kind is Mechanism.RSA_PKCS_OAEP
    if unwrap:
        classes = (ObjectClass.PRIVATE_KEY,) if rsa else (ObjectClass.SECRET_KEY,)
        invalid = ReturnValue.UNWRAPPING_KEY_HANDLE_INVALID
    else:
        classes = (ObjectClass.PUBLIC_KEY,) if rsa else (ObjectClass.SECRET_KEY,)
        invalid = ReturnValue.WRAPPING_KEY_HANDLE_INVALID
    try:
        return key_for(lib, handle, spec, classes, A.UNWRAP if unwrap else A.WRAP, invalid=invalid)
    except CkError as exc:
        if exc.rv == ReturnValue.KEY_TYPE_INCONSISTENT:
            rv = ReturnValue.UNWRAPPING_KEY_TYPE_INCONSISTENT if unwrap else ReturnValue.WRAPPING_KEY_TYPE_INCONSISTENT
            raise CkError(rv, exc.message) from None
        raise


def wrap_key(
    lib: Library,
    session_handle: int,
    mechanism: int,
    parameter: MechanismParameter,
    *,
    wrapping_handle: int,
    key_handle: int,
) -> bytes:
    """§5.18.3 C_WrapKey: secret keys as their raw value, private keys as PKCS#8 (what CKM_AES_KEY_WRAP_KWP and
    CKM_RSA_PKCS_OAEP unwrap into on any token)."""
    get_session(lib, session_handle)
    kind, _spec = lookup(mechanism, MechanismFlag.WRAP)
    cp = wrap_parameters(kind, parameter)
    wrapping = _wrapping_key(lib, wrapping_handle, kind, unwrap=False)
    try:
        view = object_view(lib, key_handle)
    except CkError:
        raise CkError(ReturnValue.KEY_HANDLE_INVALID) from None
    if view.object_class not in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY):
        raise CkError(ReturnValue.KEY_NOT_WRAPPABLE, f"a {view.object_class.name} is not wrapped")
    if not view.values.get(A.EXTRACTABLE, True):
        raise CkError(ReturnValue.KEY_UNEXTRACTABLE)
    spec = S.KeyWrappingSpecification(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(
            unique_identifier=wrapping.uid, cryptographic_parameters=cp
        ),
        encoding_option=EncodingOption.NO_ENCODING,
    )
    key_format = KeyFormatType.PKCS_8 if view.object_class is ObjectClass.PRIVATE_KEY else None
    try:
        response = lib.run(
            Operation.GET,
            S.GetRequest(unique_identifier=view.uid, key_format_type=key_format, key_wrapping_specification=spec),
        )
    except CkError as exc:
        if exc.rv == ReturnValue.ARGUMENTS_BAD:  # e.g. RFC 3394 of a key that is not a multiple of 8 bytes
            raise CkError(ReturnValue.KEY_SIZE_RANGE, exc.message) from None
        raise
    wrapped = response.managed_object.key_block.key_value
    if not isinstance(wrapped, bytes | bytearray):
        raise CkError(ReturnValue.DEVICE_ERROR, "the KMS did not return wrapped bytes")
    return bytes(wrapped)


def unwrap_key(
    lib: Library,
    session_handle: int,
    mechanism: int,
    parameter: MechanismParameter,
    *,
    unwrapping_handle: int,
    wrapped: bytes,
    raw_template: Iterable[tuple[int, bytes]],
) -> int:
    """§5.18.4 C_UnwrapKey: KMIP Register of the wrapped key, whose Key Wrapping Data names the unwrapping key; the
    KMS unwraps it and stores the result. The template's CKA_CLASS and CKA_KEY_TYPE say what it is."""
    session = get_session(lib, session_handle)
    kind, _spec = lookup(mechanism, MechanismFlag.UNWRAP)
    cp = wrap_parameters(kind, parameter)
    unwrapping = _wrapping_key(lib, unwrapping_handle, kind, unwrap=True)
    template = parse_template(raw_template)
    object_class = template.pop(A.CLASS, None)
    key_type = template.pop(A.KEY_TYPE, None)
    if object_class is None or key_type is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_CLASS and CKA_KEY_TYPE are required")
    if object_class not in (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY):
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "secret and private keys can be unwrapped")
    object_class = ObjectClass(object_class)
    length = template.pop(A.VALUE_LEN, None)
    check_template(template, object_class, forbidden=(A.VALUE,))
    check_write(lib, session, template)
    wrapping_data = S.KeyWrappingData(
        wrapping_method=WrappingMethod.ENCRYPT,
        encryption_key_information=S.EncryptionKeyInformation(
            unique_identifier=unwrapping.uid, cryptographic_parameters=cp
        ),
        encoding_option=EncodingOption.NO_ENCODING,
    )
    if length is None and kind is not Mechanism.RSA_PKCS_OAEP and len(wrapped) >= 24:
        length = len(wrapped) - 8  # RFC 3394 adds 8 bytes; so does RFC 5649 to a multiple of 8
    attrs = kmip_attributes(object_class, template, int(time.time()))
    managed: Any
    if object_class is ObjectClass.PRIVATE_KEY:
        algorithm = {KeyType.RSA: CryptographicAlgorithm.RSA, KeyType.EC: CryptographicAlgorithm.EC}.get(key_type)
        if algorithm is None:
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "RSA and EC private keys can be unwrapped")
        curve = PARAMS_CURVES.get(template.get(A.EC_PARAMS, b""))
        if curve is not None:
            attrs.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve))
        block = S.KeyBlock(
            key_format_type=KeyFormatType.PKCS_8,
            key_value=wrapped,
            cryptographic_algorithm=algorithm,
            key_wrapping_data=wrapping_data,
        )
        object_type, managed = ObjectType.PRIVATE_KEY, S.PrivateKey(key_block=block)
    elif key_type == KeyType.GENERIC_SECRET:
        block = S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=wrapped, key_wrapping_data=wrapping_data)
        if length is not None:
            attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)
        object_type = ObjectType.SECRET_DATA
        managed = S.SecretData(secret_data_type=SecretDataType.SEED, key_block=block)
    else:
        try:
            algorithm = KEY_TYPE_ALGORITHMS[KeyType(key_type)]
        except (ValueError, KeyError):
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"key type 0x{key_type:x} cannot be unwrapped") from None
        block = S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=wrapped,
            cryptographic_algorithm=algorithm,
            cryptographic_length=length * 8 if length else None,
            key_wrapping_data=wrapping_data,
        )
        object_type, managed = ObjectType.SYMMETRIC_KEY, S.SymmetricKey(key_block=block)
    try:
        response = lib.run(
            Operation.REGISTER, S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=managed)
        )
    except CkError as exc:
        if exc.rv in (ReturnValue.FUNCTION_FAILED, ReturnValue.ARGUMENTS_BAD):
            raise CkError(ReturnValue.WRAPPED_KEY_INVALID, exc.message) from None
        raise
    return adopt(lib, session, str(response.unique_identifier), template)


# -- §5.18.5 C_DeriveKey ---------------------------------------------------------------------------------------------
def derive_key(
    lib: Library,
    session_handle: int,
    mechanism: int,
    parameter: MechanismParameter,
    *,
    base_handle: int,
    raw_template: Iterable[tuple[int, bytes]],
) -> int:
    """§5.18.5 C_DeriveKey → KMIP Derive Key with the fields the mechanism's row plans (ECDH: Asymmetric Key and
    the peer's point; AES_*_ENCRYPT_DATA: Encrypt and the data)."""
    session = get_session(lib, session_handle)
    kind, spec = lookup(mechanism, MechanismFlag.DERIVE)
    if spec.derive is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not derive keys")
    base = key_for(lib, base_handle, spec, (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY), A.DERIVE)
    plan = spec.derive(parameter, base.values)
    template = parse_template(raw_template)
    if template.pop(A.CLASS, ObjectClass.SECRET_KEY) != ObjectClass.SECRET_KEY:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} derives secret keys")
    key_type = template.pop(A.KEY_TYPE, KeyType.GENERIC_SECRET)
    length = template.pop(A.VALUE_LEN, None)
    check_template(template, ObjectClass.SECRET_KEY, forbidden=(A.VALUE,))
    check_write(lib, session, template)
    if length is None:
        if key_type != KeyType.GENERIC_SECRET or not plan.default_length:
            raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
        length = plan.default_length
    if not 0 < length <= plan.max_length:
        raise CkError(plan.too_long, f"at most {plan.max_length} bytes can be derived")
    attrs = kmip_attributes(ObjectClass.SECRET_KEY, template, int(time.time()))
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)
    if key_type == KeyType.GENERIC_SECRET:
        object_type = ObjectType.SECRET_DATA
    else:
        try:
            algorithm = KEY_TYPE_ALGORITHMS[KeyType(key_type)]
        except (ValueError, KeyError):
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"cannot derive key type 0x{key_type:x}") from None
        if algorithm == CryptographicAlgorithm.AES and length not in (16, 24, 32):
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "AES keys are 16, 24 or 32 bytes")
        attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
        object_type = ObjectType.SYMMETRIC_KEY
    response = lib.run(
        Operation.DERIVE_KEY,
        S.DeriveKeyRequest(
            object_type=object_type,
            unique_identifier=[base.uid],
            derivation_method=plan.method,
            derivation_parameters=plan.parameters,
            attributes=attrs,
        ),
    )
    return adopt(lib, session, str(response.unique_identifier), template)


__all__ = ["derive_key", "generate_key", "generate_key_pair", "unwrap_key", "wrap_key"]
