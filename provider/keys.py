"""Key management (PKCS#11 3.0 §5.18): C_GenerateKey through KMIP Create. Key pairs, wrapping and derivation
follow with the engine's Create Key Pair / Get with wrapping / Derive Key (issue 4)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ObjectType, Operation, Tag

from .attributes import KEY_TYPE_ALGORITHMS, check_template, kmip_attributes, parse_template, vendor_attribute
from .constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue
from .errors import CkError
from .library import Library
from .mechanisms import MECHANISMS
from .objects import adopt, check_write
from .sessions import get_session

A = Attribute


def generate_key(lib: Library, session_handle: int, mechanism: int, raw_template: Iterable[tuple[int, bytes]]) -> int:
    """§5.18.1 C_GenerateKey with CKM_AES_KEY_GEN or CKM_GENERIC_SECRET_KEY_GEN; returns the key's handle."""
    session = get_session(lib, session_handle)
    try:
        kind = Mechanism(mechanism)
        spec = MECHANISMS[kind]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.MECHANISM_INVALID, f"mechanism 0x{mechanism:x} is not supported") from None
    if not spec.flags & MechanismFlag.GENERATE or spec.key_type is None or spec.object_type is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not generate keys")
    template = parse_template(raw_template)
    if template.get(A.CLASS, ObjectClass.SECRET_KEY) != ObjectClass.SECRET_KEY:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes secret keys")
    if template.get(A.KEY_TYPE, spec.key_type) != spec.key_type:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"{kind.name} makes {spec.key_type.name} keys")
    template.pop(A.CLASS, None)
    template.pop(A.KEY_TYPE, None)
    check_template(template, ObjectClass.SECRET_KEY, forbidden=(A.VALUE,))
    length = template.pop(A.VALUE_LEN, None)
    if length is None:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN is required")
    if spec.key_type is KeyType.AES:
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


__all__ = ["generate_key"]
