"""Key management (PKCS#11 3.0 §5.18): C_GenerateKey → KMIP Create (DSA/DH domain parameters: computed here and
Registered, ``domain_parameters``), C_GenerateKeyPair → Create Key Pair,
C_WrapKey → Get with a Key Wrapping Specification, C_UnwrapKey → Register of a wrapped key (the KMS unwraps it),
C_DeriveKey (ECDH) → Derive Key. Key material is generated, wrapped and unwrapped inside the KMS."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kms_backend import crypto
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DerivationMethod,
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

from . import domain_parameters
from .attributes import (
    FINITE_FIELD_KEY_TYPES,
    GENERATION_PARAMETERS,
    KEY_TYPE_ALGORITHMS,
    PARAMETER_SETS,
    PARAMS_CURVES,
    check_template,
    kmip_attributes,
    parse_template,
    vendor_attribute,
)
from .constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError
from .imports import CURVE_BITS, EDWARDS_ALGORITHMS
from .library import Library, ObjectView, Session
from .mechanisms import MECHANISMS, MechanismParameter, lookup, wrap_parameters
from .mechanisms.dsa import PRIME_BITS as DSA_PRIME_BITS
from .objects import adopt, check_write, is_session_object, object_view, store_domain_parameters
from .operations import key_for
from .session_objects import HeldKey, generate_secret, new_uid, secret_key_values

A = Attribute
#: Named curves of EC keys → the byte size of a coordinate (and of an ECDH secret).
_NAMED_CURVES = {curve: (bits + 7) // 8 for curve, bits in CURVE_BITS.items()}
_RSA_EXPONENT = b"\x01\x00\x01"
_ED25519 = RecommendedCurve.CURVEED25519
# Read on every C_GenerateKey: module names, since on Python 3.11 each read of a member off its Enum class goes
# through EnumType.__getattr__ (several times the cost of a global).
_GENERATE, _OPAQUE_OBJECT, _AES = MechanismFlag.GENERATE, ObjectType.OPAQUE_OBJECT, KeyType.AES
_SECRET, _CLASS, _KEY_TYPE = ObjectClass.SECRET_KEY, A.CLASS, A.KEY_TYPE
_VALUE_LEN, _UNIQUE_ID = A.VALUE_LEN, A.UNIQUE_ID
#: What a C_GenerateKey template may not give: the token makes the value.
_MADE_BY_THE_TOKEN = (A.VALUE,)


def generate_key(lib: Library, session_handle: int, mechanism: int, raw_template: Iterable[tuple[int, bytes]]) -> int:
    """§5.18.1 C_GenerateKey with CKM_AES_KEY_GEN, CKM_DES2/DES3_KEY_GEN or CKM_GENERIC_SECRET_KEY_GEN; returns
    the key's handle."""
    session = lib.session(session_handle)
    kind, spec = lookup(mechanism, _GENERATE)
    assert spec.key_type is not None and spec.object_type is not None
    template = parse_template(raw_template)
    if spec.object_type == _OPAQUE_OBJECT:
        return _generate_domain_parameters(lib, session, kind, template)
    if template.pop(_CLASS, _SECRET) != _SECRET:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes secret keys")
    if template.pop(_KEY_TYPE, spec.key_type) != spec.key_type:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes {spec.key_type.name} keys")
    check_template(template, _SECRET, forbidden=_MADE_BY_THE_TOKEN)
    length = template.pop(_VALUE_LEN, spec.key_bytes or None)
    if length is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
    if spec.key_bytes:
        if length != spec.key_bytes:
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"{spec.key_type.name} keys are {spec.key_bytes} bytes")
    elif spec.key_type is _AES:
        if length not in (16, 24, 32):
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "AES keys are 16, 24 or 32 bytes")
    elif not spec.min_key_size <= length * 8 <= spec.max_key_size:
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "generic secret length out of range")
    check_write(lib, session, template)
    if is_session_object(template):
        return _generate_held(lib, session, kind, key_type=spec.key_type, length=length, template=template)
    attrs = kmip_attributes(ObjectClass.SECRET_KEY, template, int(time.time()))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.LOCAL, True))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.KEY_GEN_MECHANISM, int(kind)))
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)
    if spec.object_type == ObjectType.SYMMETRIC_KEY:
        algorithm: CryptographicAlgorithm = KEY_TYPE_ALGORITHMS[spec.key_type]
        attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
    response = lib.run(Operation.CREATE, S.CreateRequest(object_type=spec.object_type, attributes=attrs))
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=False)


def _generate_held(
    lib: Library, session: Session, kind: Mechanism, *, key_type: KeyType, length: int, template: dict[A, Any]
) -> int:
    """A session secret key: generated here and held in this process's memory (``session_objects``)."""
    algorithm, material = generate_secret(key_type, length)
    uid = new_uid()
    values = secret_key_values(template, key_type, length, local=True, mechanism=int(kind))
    values[_UNIQUE_ID] = uid
    view = ObjectView(uid, _SECRET, values, 0.0, True)
    return lib.hold(HeldKey(view, material, algorithm), session)


def _generate_domain_parameters(lib: Library, session: Session, kind: Mechanism, template: dict[A, Any]) -> int:
    """C_GenerateKey with CKM_DSA_PARAMETER_GEN or CKM_DH_PKCS_PARAMETER_GEN (Current Mechanisms §2.2.8, §2.5.6):
    CKO_DOMAIN_PARAMETERS with a prime of CKA_PRIME_BITS."""
    spec = MECHANISMS[kind]
    assert spec.key_type is not None
    if template.pop(A.CLASS, ObjectClass.DOMAIN_PARAMETERS) != ObjectClass.DOMAIN_PARAMETERS:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes domain parameters")
    if template.pop(A.KEY_TYPE, spec.key_type) != spec.key_type:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes {spec.key_type.name} parameters")
    check_template(template, ObjectClass.DOMAIN_PARAMETERS, forbidden=(A.PRIME, A.SUBPRIME, A.BASE, A.SUBPRIME_BITS))
    bits = template.pop(A.PRIME_BITS, None)
    if bits is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_PRIME_BITS is required")
    allowed = DSA_PRIME_BITS if spec.key_type is KeyType.DSA else None
    if not spec.min_key_size <= bits <= spec.max_key_size or (allowed is not None and bits not in allowed):
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"CKA_PRIME_BITS {bits} is not offered by {kind.name}")
    check_write(lib, session, template, ObjectClass.DOMAIN_PARAMETERS)
    der = crypto.generate_domain_parameters(FINITE_FIELD_KEY_TYPES[spec.key_type], bits)
    return store_domain_parameters(lib, session, spec.key_type, der, template, generated=True)


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
    CKA_EC_PARAMS; Ed25519 and Ed448; ML-DSA and ML-KEM by CKA_PARAMETER_SET; DSA and Diffie-Hellman on the public
    template's CKA_PRIME, CKA_SUBPRIME, CKA_BASE); returns (public handle, private handle)."""
    session = lib.session(session_handle)
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
    elif key_type in (KeyType.ML_DSA, KeyType.ML_KEM):
        common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, _parameter_set(key_type, public, private))
    elif key_type in FINITE_FIELD_KEY_TYPES:
        # §2.2.4, §2.5.4: the domain parameters come in the public key template.
        der = domain_parameters.encode(key_type, public)
        bits = int.from_bytes(public[A.PRIME], "big").bit_length()
        if not spec.min_key_size <= bits <= spec.max_key_size:
            raise CkError(ReturnValue.KEY_SIZE_RANGE, f"primes of {spec.min_key_size} to {spec.max_key_size} bits")
        common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, FINITE_FIELD_KEY_TYPES[key_type])
        common.add(Tag.CRYPTOGRAPHIC_LENGTH, bits)
        common.add(Tag.ATTRIBUTE, domain_parameters.vendor_attribute(der))
    else:
        params = public.get(A.EC_PARAMS, private.get(A.EC_PARAMS))
        if key_type is KeyType.EC:
            if params is None:
                raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS is required")
            curve = PARAMS_CURVES.get(params)
            if curve not in _NAMED_CURVES:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "the curve is not supported")
            common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC)
            common.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve))
        else:
            edwards_curve = PARAMS_CURVES.get(params) if params is not None else _ED25519
            edwards = EDWARDS_ALGORITHMS.get(edwards_curve) if edwards_curve is not None else None
            if edwards is None:
                raise CkError(ReturnValue.CURVE_NOT_SUPPORTED, "Ed25519 and Ed448 are the supported Edwards curves")
            common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, edwards)
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
        if template.get(A.DECAPSULATE):
            # C_DecapsulateKey is a KMIP Derive Key (Asymmetric Key) on the private key: it needs Key Agreement.
            mask = int(attrs.get(Tag.CRYPTOGRAPHIC_USAGE_MASK, 0))
            attrs.set(Tag.CRYPTOGRAPHIC_USAGE_MASK, mask | CryptographicUsageMask.KEY_AGREEMENT)
        specific.append(attrs)
    # A pair with one token half is made in the KMS; its session half is destroyed with the session.
    in_memory = is_session_object(public) and is_session_object(private)
    try:
        response = lib.run(
            Operation.CREATE_KEY_PAIR,
            S.CreateKeyPairRequest(
                common_attributes=common, private_key_attributes=specific[0], public_key_attributes=specific[1]
            ),
            in_memory=in_memory,
        )
    except CkError as exc:
        # A KMS without this ML-DSA/ML-KEM parameter set (ML-KEM-512 is not in cryptography) says Feature Not
        # Supported; PKCS#11 3.2 has a return value for exactly that.
        if key_type in (KeyType.ML_DSA, KeyType.ML_KEM) and exc.rv == ReturnValue.FUNCTION_NOT_SUPPORTED:
            raise CkError(ReturnValue.PARAMETER_SET_NOT_SUPPORTED, exc.message) from None
        raise
    private_uid = str(response.private_key_unique_identifier)
    public_uid = str(response.public_key_unique_identifier)
    try:
        public_handle = adopt(lib, session, public_uid, public, in_memory=in_memory)
    except CkError as exc:
        # The session was closed under this call: the private half, a session object too, goes with it.
        if exc.rv == ReturnValue.SESSION_CLOSED and is_session_object(private):
            lib.discard_session_object(private_uid, in_memory=in_memory)
        raise
    return public_handle, adopt(lib, session, private_uid, private, in_memory=in_memory)


def _parameter_set(key_type: KeyType, public: dict[A, Any], private: dict[A, Any]) -> CryptographicAlgorithm:
    """The KMIP algorithm of an ML-DSA or ML-KEM key pair, from CKA_PARAMETER_SET (PKCS#11 3.2)."""
    number = public.get(A.PARAMETER_SET, private.get(A.PARAMETER_SET))
    if number is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_PARAMETER_SET is required")
    algorithm = PARAMETER_SETS.get((key_type, number))
    if algorithm is None:
        raise CkError(ReturnValue.PARAMETER_SET_NOT_SUPPORTED, f"parameter set {number} of {key_type.name}")
    return algorithm


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
    lib.session(session_handle)
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
    if lib.held_here(view.uid) != lib.held_here(wrapping.uid):
        # Session objects held here and KMS objects are in two engines; neither can reach the other's key.
        raise CkError(ReturnValue.KEY_NOT_WRAPPABLE, "wrap session keys with session keys, token keys with token keys")
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
    if isinstance(wrapped, S.KeyValue):
        # No Encoding: the Key Value stays a structure whose Key Material is the wrapped bytes (KMIP 2.1 §2.1.5);
        # some servers (Cosmian) answer a bare Byte String, taken as it is.
        wrapped = wrapped.key_material
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
    session = lib.session(session_handle)
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
    in_memory = _placed_with(lib, unwrapping.uid, template)
    try:
        response = lib.run(
            Operation.REGISTER,
            S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=managed),
            in_memory=in_memory,
        )
    except CkError as exc:
        if exc.rv in (ReturnValue.FUNCTION_FAILED, ReturnValue.ARGUMENTS_BAD):
            raise CkError(ReturnValue.WRAPPED_KEY_INVALID, exc.message) from None
        raise
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


def _placed_with(lib: Library, uid: str, template: dict[Attribute, Any]) -> bool:
    """Where a key made from the key ``uid`` goes (True: the session-object engine): where that key is, since
    the KMS uses it there. A session object made from a token key is a KMS object destroyed with its session; a
    token object cannot be made from a session object held here (CKR_TEMPLATE_INCONSISTENT)."""
    in_memory = lib.held_here(uid)
    if in_memory and not is_session_object(template):
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "a token object cannot be made from a session key")
    return in_memory


# -- §5.18.5 C_DeriveKey, and the 3.2 KEM functions ----------------------------------------------------------------
def _new_secret(
    lib: Library,
    session: Session,
    kind: Mechanism,
    raw_template: Iterable[tuple[int, bytes]],
    *,
    max_length: int,
    default_length: int,
    too_long: ReturnValue = ReturnValue.ATTRIBUTE_VALUE_INVALID,
) -> tuple[ObjectType, Attributes, dict[A, Any], int]:
    """The secret key a derivation or KEM makes, from its template: (KMIP Object Type, KMIP attributes, the
    PKCS#11-side template, its length in bytes). ``default_length`` serves a generic secret without CKA_VALUE_LEN
    (0: CKA_VALUE_LEN required)."""
    template = parse_template(raw_template)
    if template.pop(A.CLASS, ObjectClass.SECRET_KEY) != ObjectClass.SECRET_KEY:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes secret keys")
    key_type = template.pop(A.KEY_TYPE, KeyType.GENERIC_SECRET)
    length = template.pop(A.VALUE_LEN, None)
    check_template(template, ObjectClass.SECRET_KEY, forbidden=(A.VALUE,))
    check_write(lib, session, template)
    if length is None:
        if key_type != KeyType.GENERIC_SECRET or not default_length:
            raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
        length = default_length
    if not 0 < length <= max_length:
        raise CkError(too_long, f"at most {max_length} bytes can be made")
    attrs = kmip_attributes(ObjectClass.SECRET_KEY, template, int(time.time()))
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length * 8)
    if key_type == KeyType.GENERIC_SECRET:
        return ObjectType.SECRET_DATA, attrs, template, length
    try:
        algorithm = KEY_TYPE_ALGORITHMS[KeyType(key_type)]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"cannot make key type 0x{key_type:x}") from None
    if algorithm == CryptographicAlgorithm.AES and length not in (16, 24, 32):
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "AES keys are 16, 24 or 32 bytes")
    attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
    return ObjectType.SYMMETRIC_KEY, attrs, template, length


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
    session = lib.session(session_handle)
    kind, spec = lookup(mechanism, MechanismFlag.DERIVE)
    if spec.derive is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not derive keys")
    base = key_for(lib, base_handle, spec, (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY), A.DERIVE)
    plan = spec.derive(parameter, base.values)
    object_type, attrs, template, _length = _new_secret(
        lib,
        session,
        kind,
        raw_template,
        max_length=plan.max_length,
        default_length=plan.default_length,
        too_long=plan.too_long,
    )
    in_memory = _placed_with(lib, base.uid, template)
    try:
        response = lib.run(
            Operation.DERIVE_KEY,
            S.DeriveKeyRequest(
                object_type=object_type,
                unique_identifier=[base.uid],
                derivation_method=plan.method,
                derivation_parameters=plan.parameters,
                attributes=attrs,
            ),
            in_memory=in_memory,
        )
    except CkError as exc:
        if exc.rv == ReturnValue.ARGUMENTS_BAD:  # the KMS refused the data the parameter gave (a peer value)
            raise CkError(ReturnValue.MECHANISM_PARAM_INVALID, exc.message) from None
        raise
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


#: ML-KEM ciphertext sizes by CKA_PARAMETER_SET (FIPS 203 Table 3); the shared secret is 32 bytes.
CIPHERTEXT_BYTES = {1: 768, 2: 1088, 3: 1568}
SHARED_SECRET_BYTES = 32


def _kem_key(
    lib: Library, handle: int, mechanism: int, parameter: MechanismParameter, *, encapsulate: bool
) -> tuple[Mechanism, ObjectView, int]:
    """The key of C_EncapsulateKey (public) or C_DecapsulateKey (private) and its ciphertext length."""
    flag = MechanismFlag.ENCAPSULATE if encapsulate else MechanismFlag.DECAPSULATE
    kind, spec = lookup(mechanism, flag)
    if parameter:
        raise CkError(ReturnValue.MECHANISM_PARAM_INVALID, f"{kind.name} takes no parameter")
    classes = (ObjectClass.PUBLIC_KEY,) if encapsulate else (ObjectClass.PRIVATE_KEY,)
    view = key_for(lib, handle, spec, classes, A.ENCAPSULATE if encapsulate else A.DECAPSULATE)
    size = CIPHERTEXT_BYTES.get(view.values.get(A.PARAMETER_SET, 0))
    if size is None:
        raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, "not an ML-KEM key of a known parameter set")
    return kind, view, size


def encapsulated_length(
    lib: Library, session_handle: int, mechanism: int, parameter: MechanismParameter, public_handle: int
) -> int:
    """The ciphertext length C_EncapsulateKey will give (its length query: no key is made)."""
    lib.session(session_handle)
    return _kem_key(lib, public_handle, mechanism, parameter, encapsulate=True)[2]


def encapsulate_key(
    lib: Library,
    session_handle: int,
    mechanism: int,
    parameter: MechanismParameter,
    *,
    public_handle: int,
    raw_template: Iterable[tuple[int, bytes]],
) -> tuple[bytes, int]:
    """PKCS#11 3.2 C_EncapsulateKey with CKM_ML_KEM: (ciphertext, handle of the new secret key). Encapsulation
    needs only the public key, so it is computed here (FIPS 203 ML-KEM.Encaps); the shared secret becomes a key in
    the KMS by KMIP Register, its leading CKA_VALUE_LEN bytes (all 32 by default)."""
    session = lib.session(session_handle)
    kind, view, _size = _kem_key(lib, public_handle, mechanism, parameter, encapsulate=True)
    object_type, attrs, template, length = _new_secret(
        lib, session, kind, raw_template, max_length=SHARED_SECRET_BYTES, default_length=SHARED_SECRET_BYTES
    )
    response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid, key_format_type=KeyFormatType.X_509))
    public_der = bytes(response.managed_object.key_block.key_value.key_material)
    shared, ciphertext = crypto.encapsulate(public_der)
    value = S.KeyValue(key_material=shared[:length])
    managed: Any
    if object_type is ObjectType.SECRET_DATA:
        block = S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=value)
        managed = S.SecretData(secret_data_type=SecretDataType.SEED, key_block=block)
    else:
        algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM)
        block = S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=value,
            cryptographic_algorithm=algorithm,
            cryptographic_length=length * 8,
        )
        managed = S.SymmetricKey(key_block=block)
    in_memory = is_session_object(template)  # the shared secret is computed here: it goes where it is asked to
    registered = lib.run(
        Operation.REGISTER,
        S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=managed),
        in_memory=in_memory,
    )
    return ciphertext, adopt(lib, session, str(registered.unique_identifier), template, in_memory=in_memory)


def decapsulate_key(
    lib: Library,
    session_handle: int,
    mechanism: int,
    parameter: MechanismParameter,
    *,
    private_handle: int,
    ciphertext: bytes,
    raw_template: Iterable[tuple[int, bytes]],
) -> int:
    """PKCS#11 3.2 C_DecapsulateKey with CKM_ML_KEM → KMIP Derive Key, Asymmetric Key, the ciphertext as
    Derivation Data: the KMS decapsulates with the private key it holds (FIPS 203 ML-KEM.Decaps)."""
    session = lib.session(session_handle)
    kind, view, size = _kem_key(lib, private_handle, mechanism, parameter, encapsulate=False)
    if len(ciphertext) != size:
        raise CkError(ReturnValue.ENCRYPTED_DATA_LEN_RANGE, f"this ML-KEM key's ciphertexts are {size} bytes")
    object_type, attrs, template, _length = _new_secret(
        lib, session, kind, raw_template, max_length=SHARED_SECRET_BYTES, default_length=SHARED_SECRET_BYTES
    )
    in_memory = _placed_with(lib, view.uid, template)
    response = lib.run(
        Operation.DERIVE_KEY,
        S.DeriveKeyRequest(
            object_type=object_type,
            unique_identifier=[view.uid],
            derivation_method=DerivationMethod.ASYMMETRIC_KEY,
            derivation_parameters=S.DerivationParameters(derivation_data=[ciphertext]),
            attributes=attrs,
        ),
        uid=view.uid,
        in_memory=in_memory,
    )
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


__all__ = [
    "CIPHERTEXT_BYTES",
    "decapsulate_key",
    "encapsulate_key",
    "encapsulated_length",
    "derive_key",
    "generate_key",
    "generate_key_pair",
    "unwrap_key",
    "wrap_key",
]
