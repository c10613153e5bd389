"""Object management (PKCS#11 3.0 §5.7): create, destroy, attributes, search — each mapped to KMIP.

C_CreateObject → Register (secret keys: Symmetric Key or, for CKK_GENERIC_SECRET, Secret Data; data objects:
Opaque Object); C_DestroyObject → Revoke + Destroy; C_GetAttributeValue → Get Attributes (cached) and Get for
CKA_VALUE; C_SetAttributeValue → Set Attribute / vendor attributes; C_FindObjects* → Locate on the indexed part
of the template (class, label, key type), the rest matched on the cached views.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    EncodingOption,
    KeyFormatType,
    LinkType,
    NameType,
    ObjectType,
    OpaqueDataType,
    Operation,
    Tag,
    WrappingMethod,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes

from . import config as config_module
from . import domain_parameters, imports
from .attributes import (
    ATTRIBUTE_TYPES,
    ATTRIBUTES,
    CERTIFICATE_DERIVED,
    CLASS_ATTRIBUTES,
    CLASS_OBJECT_TYPES,
    DOMAIN_VALUES,
    FINITE_FIELD_KEY_TYPES,
    KEY_TYPE_ALGORITHMS,
    PARAMS_CURVES,
    Kind,
    check_template,
    default,
    disk_encryption_tag_attribute,
    id_group,
    kmip_attributes,
    label_group,
    pack,
    parse_template,
    usage_bits,
    vendor_attribute,
)
from .constants import (
    UNAVAILABLE_INFORMATION,
    Attribute,
    KeyType,
    ObjectClass,
    ReturnValue,
    UserType,
)
from .errors import CkError
from .label_aliases import search_labels
from .library import Library, ObjectView, Session, log
from .session_objects import HeldKey, held_secret, new_uid, secret_key_object, secret_key_values

A = Attribute
# Read on every call of the functions below: module names, since on Python 3.11 each read of a member off its Enum
# class goes through EnumType.__getattr__ (several times the cost of a global).
_TOKEN, _PRIVATE, _USER = A.TOKEN, A.PRIVATE, UserType.USER
_OK, _TYPE_INVALID = ReturnValue.OK, ReturnValue.ATTRIBUTE_TYPE_INVALID


# -- helpers shared with keys.py -------------------------------------------------------------------------------------
def check_write(
    lib: Library, session: Session, template: dict[Attribute, Any], object_class: ObjectClass = ObjectClass.SECRET_KEY
) -> None:
    """§5.7.1: token objects need a R/W session; private objects a logged-in user."""
    if template.get(_TOKEN, default(_TOKEN, object_class)) and not session.read_write:
        raise CkError(ReturnValue.SESSION_READ_ONLY)
    if template.get(_PRIVATE, default(_PRIVATE, object_class)) and lib.login != _USER:
        raise CkError(ReturnValue.USER_NOT_LOGGED_IN, "private objects need a logged-in user")


def is_session_object(template: dict[Attribute, Any]) -> bool:
    """§4.4: CKA_TOKEN defaults to false: an object is a session object unless the template says otherwise."""
    return not template.get(_TOKEN, _TOKEN_DEFAULT)


_TOKEN_DEFAULT = default(A.TOKEN, ObjectClass.DATA)


def adopt(lib: Library, session: Session, uid: str, template: dict[Attribute, Any], *, in_memory: bool) -> int:
    """Register a new object's handle (and its session, for a session object; ``in_memory`` when the
    session-object engine holds it); returns the handle. CKR_SESSION_CLOSED (the session object destroyed) if
    another thread closed the session meanwhile."""
    if is_session_object(template):
        lib.own_session_object(session, uid, in_memory=in_memory)
    lib.cache.drop(uid)
    if lib.view(uid) is None:
        if lib.sessions.get(session.handle) is not session:  # closed meanwhile: its new session object went with it
            raise CkError(ReturnValue.SESSION_CLOSED, "the session was closed while the object was being made")
        raise CkError(ReturnValue.GENERAL_ERROR, "the new object cannot be read back")
    return lib.handles.handle(uid)


def object_view(lib: Library, handle: int) -> ObjectView:
    """The visible object behind a handle, or CKR_OBJECT_HANDLE_INVALID."""
    uid = lib.handles.uid(handle)
    view = lib.view(uid) if uid is not None else None
    if view is None or not lib.visible(view):
        raise CkError(ReturnValue.OBJECT_HANDLE_INVALID)
    return view


# -- §5.7.1 C_CreateObject -------------------------------------------------------------------------------------------
def create_object(lib: Library, session_handle: int, raw_template: Iterable[tuple[int, bytes]]) -> int:
    """§5.7.1 C_CreateObject for CKO_SECRET_KEY (AES, generic secret, HMAC key types) and CKO_DATA."""
    session = lib.session(session_handle)
    template = parse_template(raw_template)
    if A.CLASS not in template:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_CLASS is required")
    try:
        object_class = ObjectClass(template[A.CLASS])
    except ValueError:
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "unknown CKA_CLASS") from None
    if object_class not in CREATABLE:
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"C_CreateObject cannot create {object_class.name} objects")
    check_template(template, object_class)
    check_write(lib, session, template, object_class)
    if object_class in (ObjectClass.CERTIFICATE, ObjectClass.PUBLIC_KEY, ObjectClass.PRIVATE_KEY):
        return _create_imported(lib, session, object_class, template)
    if object_class is ObjectClass.DOMAIN_PARAMETERS:
        key_type = template.get(A.KEY_TYPE)
        if key_type is None:
            raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required")
        for attribute in (A.PRIME_BITS, A.SUBPRIME_BITS):
            if attribute in template:  # §4.7: computed from the values, not given (CKR_TEMPLATE_INCONSISTENT)
                raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, f"CKA_{attribute.name} is computed by the token")
        der = domain_parameters.encode(key_type, template)
        return store_domain_parameters(lib, session, key_type, der, template, generated=False)
    attrs = kmip_attributes(object_class, template, int(time.time()))
    value = template.get(A.VALUE, b"")
    managed: Any
    if object_class is ObjectClass.DATA:
        object_type = ObjectType.OPAQUE_OBJECT
        managed = S.OpaqueObject(opaque_data_type=OpaqueDataType.UNKNOWN, opaque_data_value=value)
    else:
        if A.KEY_TYPE not in template or A.VALUE not in template:
            raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, "a secret key needs CKA_KEY_TYPE and CKA_VALUE")
        given_len = template.get(A.VALUE_LEN)
        if given_len is not None and given_len != len(value):
            raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN does not match CKA_VALUE")
        object_type, managed = secret_key_object(template[A.KEY_TYPE], value)
        if is_session_object(template):
            return lib.hold(held_secret(template, managed, value), session)
    in_memory = is_session_object(template)
    response = lib.run(
        Operation.REGISTER,
        S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=managed),
        in_memory=in_memory,
    )
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


#: Classes C_CreateObject makes.
CREATABLE = frozenset(
    {
        ObjectClass.SECRET_KEY,
        ObjectClass.DATA,
        ObjectClass.CERTIFICATE,
        ObjectClass.PUBLIC_KEY,
        ObjectClass.PRIVATE_KEY,
        ObjectClass.DOMAIN_PARAMETERS,
    }
)


def store_domain_parameters(
    lib: Library, session: Session, key_type: int, der: bytes, template: dict[Attribute, Any], *, generated: bool
) -> int:
    """Register DSA or Diffie-Hellman domain parameters (``domain_parameters``: an Opaque Object holding their DER,
    marked as CKO_DOMAIN_PARAMETERS of ``key_type``); returns the handle."""
    stored = {a: v for a, v in template.items() if a not in DOMAIN_VALUES}
    attrs = kmip_attributes(ObjectClass.DOMAIN_PARAMETERS, stored, int(time.time()))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.CLASS, ObjectClass.DOMAIN_PARAMETERS))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.KEY_TYPE, int(key_type)))
    attrs.add(Tag.ATTRIBUTE, vendor_attribute(A.LOCAL, generated))
    managed = S.OpaqueObject(opaque_data_type=OpaqueDataType.UNKNOWN, opaque_data_value=der)
    in_memory = is_session_object(template)
    response = lib.run(
        Operation.REGISTER,
        S.RegisterRequest(object_type=ObjectType.OPAQUE_OBJECT, attributes=attrs, managed_object=managed),
        in_memory=in_memory,
    )
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


def _create_imported(lib: Library, session: Session, object_class: ObjectClass, template: dict[Attribute, Any]) -> int:
    """C_CreateObject of a certificate or a key pair half (``imports``): Register, with the algorithm, length and
    curve the material determines; the material itself is not kept as attributes."""
    if object_class is ObjectClass.CERTIFICATE and template.get(A.TRUSTED) and lib.login != UserType.SO:
        raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "only the SO marks a certificate trusted (§4.6.1)")
    made = imports.imported(object_class, template)
    stored = {a: v for a, v in template.items() if a not in imports.KEY_MATERIAL}
    attrs = kmip_attributes(object_class, stored, int(time.time()))
    if object_class is ObjectClass.PRIVATE_KEY:
        # No public key object comes with it: CKA_MODULUS, CKA_PUBLIC_EXPONENT or CKA_EC_POINT are kept with it
        # (Java's keystore reads them from the private key).
        for attribute, value in _public_of_private(made.managed).items():
            attrs.add(Tag.ATTRIBUTE, vendor_attribute(attribute, value))
    if made.algorithm is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, made.algorithm)
    if made.length is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, made.length)
    if made.curve is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=made.curve))
    in_memory = is_session_object(template)
    try:
        response = lib.run(
            Operation.REGISTER,
            S.RegisterRequest(object_type=made.object_type, attributes=attrs, managed_object=made.managed),
            in_memory=in_memory,
        )
    except CkError as exc:
        if exc.rv in (ReturnValue.ARGUMENTS_BAD, ReturnValue.FUNCTION_FAILED):
            raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, exc.message) from None
        raise
    return adopt(lib, session, str(response.unique_identifier), template, in_memory=in_memory)


# -- §5.7.3 C_DestroyObject ------------------------------------------------------------------------------------------
def destroy_object(lib: Library, session_handle: int, object_handle: int) -> None:
    """§5.7.3 C_DestroyObject: KMIP Revoke (an Active object cannot be destroyed) then Destroy."""
    session = lib.session(session_handle)
    view = object_view(lib, object_handle)
    if view.token and not session.read_write:
        raise CkError(ReturnValue.SESSION_READ_ONLY)
    if view.private and lib.login != UserType.USER:
        raise CkError(ReturnValue.USER_NOT_LOGGED_IN)
    if not view.values.get(A.DESTROYABLE, True):
        raise CkError(ReturnValue.ACTION_PROHIBITED, "CKA_DESTROYABLE is false")
    lib.destroy(view.uid)


# -- §5.7.4 C_GetObjectSize ------------------------------------------------------------------------------------------
def get_object_size(lib: Library, session_handle: int, object_handle: int) -> int:
    """§5.7.4 C_GetObjectSize: an approximation, as §5.7.4 allows — the encoded size of the object's PKCS#11
    attributes plus its key material (the KMS's own storage overhead is not visible here)."""
    lib.session(session_handle)
    view = object_view(lib, object_handle)
    size = sum(len(pack(ATTRIBUTES[a].kind, v)) + 16 for a, v in view.values.items() if a in ATTRIBUTES)
    length = view.values.get(A.VALUE_LEN)
    if isinstance(length, int) and length != UNAVAILABLE_INFORMATION:
        size += length
    bits = view.values.get(A.MODULUS_BITS)
    if isinstance(bits, int):
        size += (bits // 8) * (5 if view.object_class is ObjectClass.PRIVATE_KEY else 1)
    return size


# -- §5.7.5 C_GetAttributeValue --------------------------------------------------------------------------------------
def get_attribute_value(
    lib: Library, session_handle: int, object_handle: int, requests: Iterable[tuple[int, int | None]]
) -> tuple[ReturnValue, list[tuple[int, bytes | None]]]:
    """§5.7.5 C_GetAttributeValue. ``requests`` are (type, capacity) pairs, capacity None where pValue is NULL.
    Returns the overall CK_RV and, per attribute, (ulValueLen, bytes to copy or None): every attribute is
    processed even after a failure, as the spec requires; the last failure wins the return value."""
    lib.session(session_handle)
    return _answer(lib, object_view(lib, object_handle), requests)


def length_query(
    lib: Library, session_handle: int, object_handle: int, types: Iterable[int]
) -> tuple[ReturnValue, list[tuple[int, bytes | None]], bool]:
    """§5.7.5 C_GetAttributeValue with every pValue NULL: the CK_RV and each attribute's (ulValueLen, value or
    None), as ``get_attribute_value`` answers, and whether the values may be kept for the call that follows (§5.2's
    two calls). They may for a key this library holds (``lib.held``): it changes only through this library, which
    says when (``Library.attributes_changed``); its values are then given with the lengths."""
    lib.session(session_handle)
    view = object_view(lib, object_handle)
    held = view.uid in lib.held
    capacity = _ANY_SIZE if held else None  # a capacity: the value is returned; None: only its length
    rv, out = _answer(lib, view, [(type_, capacity) for type_ in types])
    return rv, out, held


#: A capacity no value exceeds: every value is returned.
_ANY_SIZE = 1 << 62


def _answer(
    lib: Library, view: ObjectView, requests: Iterable[tuple[int, int | None]]
) -> tuple[ReturnValue, list[tuple[int, bytes | None]]]:
    allowed = CLASS_ATTRIBUTES[view.object_class]
    values = view.values
    rv = _OK
    out: list[tuple[int, bytes | None]] = []
    for type_, capacity in requests:
        attribute = ATTRIBUTE_TYPES.get(type_)
        if attribute is None or attribute not in allowed:
            rv = _TYPE_INVALID
            out.append((UNAVAILABLE_INFORMATION, None))
            continue
        if attribute in _VIEW_FLAGS:  # most of what is asked: packed here
            raw = b"\x01" if values[attribute] else b"\x00"
        elif (spec := ATTRIBUTES[attribute]).storage == "value":
            if view.object_class is ObjectClass.PUBLIC_KEY and not _finite_field(view):
                rv = _TYPE_INVALID  # §2.1.2, §2.3.3: only DSA and DH public keys have one
                out.append((UNAVAILABLE_INFORMATION, None))
                continue
            value = secret_value(lib, view) if attribute is A.VALUE else private_values(lib, view).get(attribute)
            if value is None:
                rv = ReturnValue.ATTRIBUTE_SENSITIVE
                out.append((UNAVAILABLE_INFORMATION, None))
                continue
            raw = value
        elif attribute not in values and derived(view, attribute):
            public = public_values(lib, view)
            if attribute not in public:  # e.g. CKA_MODULUS of an EC key (§4.8: attributes depend on the key type)
                rv = _TYPE_INVALID
                out.append((UNAVAILABLE_INFORMATION, None))
                continue
            raw = pack(spec.kind, public[attribute])
        else:
            raw = pack(spec.kind, values[attribute])
        if capacity is None:
            out.append((len(raw), None))
        elif capacity < len(raw):
            rv = ReturnValue.BUFFER_TOO_SMALL
            out.append((UNAVAILABLE_INFORMATION, None))
        else:
            out.append((len(raw), raw))
    return rv, out


#: The CK_BBOOL attributes every view holds (neither key material nor read from the object when asked for).
_VIEW_FLAGS = frozenset(
    a for a, spec in ATTRIBUTES.items() if spec.kind is Kind.BOOL and spec.storage in ("kmip", "vendor")
)


def derived(view: ObjectView, attribute: Attribute) -> bool:
    """Whether ``attribute`` of the object is read from its key or certificate rather than kept in the view."""
    if view.object_class is ObjectClass.CERTIFICATE:
        return attribute in CERTIFICATE_DERIVED
    return ATTRIBUTES[attribute].storage == "public"


def _finite_field(view: ObjectView) -> bool:
    """Whether the object is a DSA or Diffie-Hellman key."""
    return view.values.get(A.KEY_TYPE) in FINITE_FIELD_KEY_TYPES


def _readable(view: ObjectView) -> bool:
    return not view.values.get(A.SENSITIVE) and bool(view.values.get(A.EXTRACTABLE))


def private_values(lib: Library, view: ObjectView) -> dict[Attribute, bytes]:
    """The private values of a key pair's private key (RSA CRT values, the EC or Edwards private value), empty
    when they may not leave the token (§4.9: sensitive or unextractable)."""
    if view.object_class is not ObjectClass.PRIVATE_KEY or not _readable(view):
        return {}
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid, key_format_type=KeyFormatType.PKCS_8))
    material = bytes(response.managed_object.key_block.key_value.key_material)
    if _finite_field(view):  # cryptography deprecates DSA and FFDH: the crypto layer reads them quietly
        return {A.VALUE: domain_parameters.key_values(material)[A.VALUE]}
    key = serialization.load_der_private_key(material, None)

    def big(n: int) -> bytes:
        return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")

    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        values = (n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp)
        names = (A.PRIVATE_EXPONENT, A.PRIME_1, A.PRIME_2, A.EXPONENT_1, A.EXPONENT_2, A.COEFFICIENT)
        return {name: big(v) for name, v in zip(names, values, strict=True)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {A.VALUE: key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")}
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return {A.VALUE: key.private_bytes_raw()}
    return {}


def secret_value(lib: Library, view: ObjectView) -> bytes | None:
    """CKA_VALUE, or None when it may not leave the token (§4.9: sensitive or unextractable keys)."""
    if view.object_class is ObjectClass.PUBLIC_KEY:
        value = public_values(lib, view).get(A.VALUE) if _finite_field(view) else None  # y (§2.2.3, §2.5.3)
        return bytes(value) if value is not None else None
    if view.object_class is ObjectClass.PRIVATE_KEY:
        return private_values(lib, view).get(A.VALUE)
    if view.object_class is ObjectClass.CERTIFICATE:
        response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid))
        return bytes(response.managed_object.certificate_value)
    if view.object_class is ObjectClass.SECRET_KEY and (
        view.values.get(A.SENSITIVE) or not view.values.get(A.EXTRACTABLE)
    ):
        return None
    response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid))
    managed = response.managed_object
    if isinstance(managed, S.OpaqueObject):
        return bytes(managed.opaque_data_value)
    if isinstance(managed, S.Certificate):
        return bytes(managed.certificate_value)
    material = managed.key_block.key_value.key_material
    return bytes(material) if isinstance(material, bytes | bytearray) else None


# -- §5.7.6 C_SetAttributeValue --------------------------------------------------------------------------------------
def set_attribute_value(
    lib: Library, session_handle: int, object_handle: int, raw_template: Iterable[tuple[int, bytes]]
) -> None:
    """§5.7.6 C_SetAttributeValue. CKA_SENSITIVE may only become true and CKA_EXTRACTABLE only false (§4.9,
    sticky); attributes fixed at creation are CKR_ATTRIBUTE_READ_ONLY."""
    session = lib.session(session_handle)
    view = object_view(lib, object_handle)
    template = parse_template(raw_template)
    if view.token and not session.read_write:
        raise CkError(ReturnValue.SESSION_READ_ONLY)
    if not view.values.get(A.MODIFIABLE, True):
        raise CkError(ReturnValue.ACTION_PROHIBITED, "CKA_MODIFIABLE is false")
    allowed = CLASS_ATTRIBUTES[view.object_class]
    for attribute, value in template.items():
        if attribute not in allowed:
            raise CkError(ReturnValue.ATTRIBUTE_TYPE_INVALID, f"{attribute.name} does not apply")
        spec = ATTRIBUTES[attribute]
        if (not spec.modifiable or spec.token_only) and value != view.values.get(attribute):
            raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, f"{attribute.name} cannot change")
        if attribute is A.SENSITIVE and view.values.get(A.SENSITIVE) and not value:
            raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "CKA_SENSITIVE cannot be unset")
        if attribute is A.EXTRACTABLE and not view.values.get(A.EXTRACTABLE) and value:
            raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE cannot be set again")
    key = lib.held.get(view.uid)
    if key is not None:
        _set_held(lib, key, template)
        return
    changes = Attributes()
    #: (old, new) Object Groups of the indexed attributes (CKA_LABEL, CKA_ID) that change
    regroup: list[tuple[str | None, str | None]] = []
    for attribute, value in template.items():
        old = view.values.get(attribute)
        if value == old or not ATTRIBUTES[attribute].modifiable:
            continue
        if attribute in _INDEXED:
            group = _INDEXED[attribute]
            changes.add(Tag.ATTRIBUTE, vendor_attribute(attribute, value))
            regroup.append((group(old) if old else None, group(value) if value else None))
        elif attribute is A.SENSITIVE:
            changes.add(Tag.SENSITIVE, bool(value))
        elif attribute is A.EXTRACTABLE:
            changes.add(Tag.EXTRACTABLE, bool(value))
        elif attribute in usage_bits(view.object_class):
            mask = 0
            for flag, bit in usage_bits(view.object_class).items():
                if template.get(flag, view.values.get(flag)):
                    mask |= bit
            changes.set(Tag.CRYPTOGRAPHIC_USAGE_MASK, mask)
        else:
            changes.add(Tag.ATTRIBUTE, vendor_attribute(attribute, value))
    for tag, value in changes:
        # Vendor attributes are multi-instance: Set Attribute would append; Modify replaces the instance held.
        lib.run(
            Operation.SET_ATTRIBUTE,
            S.SetAttributeRequest(unique_identifier=view.uid, new_attribute=Attributes([(tag, value)])),
        )
    for old_group, new_group in regroup:
        # Object Groups are multi-instance (label and id each have one): add the new, delete the old if present.
        if new_group:
            add = Attributes([(Tag.OBJECT_GROUP, new_group)])
            lib.run(Operation.ADD_ATTRIBUTE, S.AddAttributeRequest(unique_identifier=view.uid, new_attribute=add))
        if old_group and old_group != new_group:
            try:
                current = Attributes([(Tag.OBJECT_GROUP, old_group)])
                request = S.DeleteAttributeRequest(unique_identifier=view.uid, current_attribute=current)
                lib.run(Operation.DELETE_ATTRIBUTE, request)
            except CkError as exc:  # made before the attribute was indexed, or by a KMIP client: no such group
                log.debug("no group %s on %s: %s", old_group, view.uid, exc.message)
    lib.cache.drop(view.uid)


def _set_held(lib: Library, key: HeldKey, template: dict[Attribute, Any]) -> None:
    """C_SetAttributeValue on a held key (checked above): its values change in place; its mirror, registered with
    the old ones, and its prepared Plans are dropped."""
    values = key.view.values
    for attribute, value in template.items():
        if ATTRIBUTES[attribute].modifiable:
            values[attribute] = bool(value) if attribute in (A.SENSITIVE, A.EXTRACTABLE) else value
    lib.attributes_changed()
    key.drop_prepared()
    lib.drop_mirror(key)


#: The attributes a store index (an Object Group) holds, with the group of a value.
_INDEXED: dict[Attribute, Callable[[Any], str]] = {A.LABEL: label_group, A.ID: id_group}


# -- §5.7.7-5.7.9 C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal ---------------------------------------------
def find_objects_init(lib: Library, session_handle: int, raw_template: Iterable[tuple[int, bytes]]) -> None:
    """§5.7.7 C_FindObjectsInit: the matching handles are computed now (Locate + cached views) and handed out by
    C_FindObjects; objects destroyed meanwhile are still returned, as with any token."""
    session = lib.session(session_handle)
    if session.found is not None:
        raise CkError(ReturnValue.OPERATION_ACTIVE)
    template = _find_template(raw_template)
    handles: dict[int, None] = {}  # ordered union over the label's aliases (Oracle TDE's label-only searches)
    label = template.get(A.LABEL)
    alternatives = [template | {A.LABEL: alias} for alias in search_labels(label)] if label else [template]
    for alternative in alternatives:
        uids: dict[str, None] = {}
        key_id = alternative.get(A.ID)
        if key_id:
            uids.update(dict.fromkeys(_located_by_id(lib, alternative, key_id)))
        else:
            for query in _locate_filters(alternative):
                uids.update(dict.fromkeys(lib.locate(S.LocateRequest(attributes=query))))
        uids.update(dict.fromkeys(lib.held.uids()))  # held keys: matched on their views only
        for uid in uids:
            view = lib.view(uid)
            if (key_id or label) and view is not None and not _matches(lib, view, alternative):
                # The index named it: a view cached before another process changed the object may be stale.
                lib.cache.drop(uid)
                view = lib.view(uid)
            if view is None or not lib.visible(view) or not _matches(lib, view, alternative):
                continue
            handles[lib.handles.handle(view.uid)] = None
    session.found = list(handles)


def _find_template(raw_template: Iterable[tuple[int, bytes]]) -> dict[Attribute, Any]:
    try:
        return parse_template(raw_template)
    except CkError as exc:
        if exc.rv == ReturnValue.ATTRIBUTE_TYPE_INVALID:
            # An attribute no object has matches nothing; searching is not an error (§5.7.7).
            return {A.CLASS: -1}
        raise


def _locate_filters(template: dict[Attribute, Any]) -> list[Attributes | None]:
    """The indexed Locate queries whose union holds every match: by label, both the label's Object Group
    (objects made here) and Name (objects made by KMIP clients)."""
    common = Attributes()
    object_class = template.get(A.CLASS)
    if object_class in CLASS_OBJECT_TYPES:
        common.add(Tag.OBJECT_TYPE, CLASS_OBJECT_TYPES[ObjectClass(object_class)])
    key_type = template.get(A.KEY_TYPE)
    if object_class in CLASS_OBJECT_TYPES and object_class is not ObjectClass.DATA:
        pass  # key pairs: the key type is matched on the views (RSA/EC objects have several algorithm names)
    elif key_type == KeyType.GENERIC_SECRET:
        common.add(Tag.OBJECT_TYPE, ObjectType.SECRET_DATA)
    elif key_type is not None and key_type in KEY_TYPE_ALGORITHMS:
        common.add(Tag.CRYPTOGRAPHIC_ALGORITHM, KEY_TYPE_ALGORITHMS[KeyType(key_type)])
    # Secret Data tagged disk-encryption is a data object too (attributes.view_values); its label may come from a
    # tag, so it is located by the tag alone and matched on its view.
    keyfiles = []
    if object_class in (None, ObjectClass.DATA) and key_type is None:
        keyfiles = [
            Attributes([(Tag.OBJECT_TYPE, ObjectType.SECRET_DATA), (Tag.ATTRIBUTE, disk_encryption_tag_attribute())])
        ]
    label = template.get(A.LABEL)
    if not label:
        return [common if len(common) else None, *(keyfiles if len(common) else [])]
    by_group = Attributes([*common.entries, (Tag.OBJECT_GROUP, label_group(label))])
    by_name = Attributes(
        [*common.entries, (Tag.NAME, S.Name(name_value=label, name_type=NameType.UNINTERPRETED_TEXT_STRING))]
    )
    return [by_group, by_name, *keyfiles]


def _located_by_id(lib: Library, template: dict[Attribute, Any], key_id: bytes) -> list[str]:
    """The candidates of a find by a non-empty CKA_ID, in indexed look-ups only: objects made through PKCS#11 by
    their id's Object Group, and KMS certificates linked to them; objects made by KMIP clients, whose CKA_ID is
    the uid of the private key they belong to, by that uid and by their Private Key Link to it."""
    index_ids(lib)
    common = _locate_filters({a: v for a, v in template.items() if a in (A.CLASS, A.KEY_TYPE)})[0] or Attributes()
    by_group = (Tag.OBJECT_GROUP, id_group(key_id))
    found = lib.locate(S.LocateRequest(attributes=Attributes([*common.entries, by_group])))
    if template.get(A.CLASS) in (None, ObjectClass.CERTIFICATE):
        # A KMS certificate of a key made here shows that key's CKA_ID (Library.remember): it links to the key.
        keys = list(found) if not len(common) else lib.locate(S.LocateRequest(attributes=Attributes([by_group])))
        for uid in keys:
            for link_type in (LinkType.PUBLIC_KEY_LINK, LinkType.PRIVATE_KEY_LINK):
                link = S.Link(link_type=link_type, linked_object_identifier=uid)
                query = Attributes([(Tag.OBJECT_TYPE, ObjectType.CERTIFICATE), (Tag.LINK, link)])
                found += lib.locate(S.LocateRequest(attributes=query))
    try:
        private = key_id.decode()
    except UnicodeDecodeError:
        return found
    try:
        if lib.view(private) is not None:
            found.append(private)
    except CkError:  # not an object this user may read
        pass
    link = S.Link(link_type=LinkType.PRIVATE_KEY_LINK, linked_object_identifier=private)
    found += lib.locate(S.LocateRequest(attributes=Attributes([*common.entries, (Tag.LINK, link)])))
    return found


def index_ids(lib: Library) -> None:
    """Give the objects made through PKCS#11 before CKA_ID was indexed the Object Group of their CKA_ID, once per
    KMS user (recorded in the configuration's ``ids_indexed``): one scan, so that finds by CKA_ID stay indexed."""
    user = lib.identity.user
    if user in lib.config.ids_indexed:
        return
    with lib.lock:
        if user in lib.config.ids_indexed:
            return
        for uid in lib.locate(S.LocateRequest()):
            view = lib.view(uid)
            key_id = view.values.get(A.ID) if view is not None else None
            if view is None or not view.pkcs11_made or not key_id:
                continue
            group = Attributes([(Tag.OBJECT_GROUP, id_group(key_id))])
            try:
                lib.run(Operation.ADD_ATTRIBUTE, S.AddAttributeRequest(unique_identifier=uid, new_attribute=group))
            except CkError as exc:  # not this user's to change: its owner's own scan indexes it
                log.info("could not index the CKA_ID of %s: %s", uid, exc.message)
        lib.config = config_module.with_token(lib.config, ids_indexed=(*lib.config.ids_indexed, user))
        try:
            config_module.save(lib.config)
        except (OSError, config_module.ConfigError) as exc:  # indexed all the same; the next process scans again
            log.warning("could not record the CKA_ID index in %s: %s", lib.config.path, exc)


def _matches(lib: Library, view: ObjectView, template: dict[Attribute, Any]) -> bool:
    for attribute, wanted in template.items():
        if attribute is A.VALUE:
            if secret_value(lib, view) != wanted:
                return False
        elif ATTRIBUTES[attribute].storage == "value":
            if private_values(lib, view).get(attribute, _MISSING) != wanted:
                return False
        elif attribute not in view.values and derived(view, attribute):
            if public_values(lib, view).get(attribute, _MISSING) != wanted:
                return False
        elif view.values.get(attribute, _MISSING) != wanted:
            return False
    return True


_MISSING = object()


def find_objects(lib: Library, session_handle: int, max_count: int) -> list[int]:
    """§5.7.8 C_FindObjects: up to ``max_count`` more handles."""
    session = lib.session(session_handle)
    if session.found is None:
        raise CkError(ReturnValue.OPERATION_NOT_INITIALIZED)
    batch = session.found[:max_count]
    del session.found[:max_count]
    return batch


def find_objects_final(lib: Library, session_handle: int) -> None:
    """§5.7.9 C_FindObjectsFinal."""
    session = lib.session(session_handle)
    if session.found is None:
        raise CkError(ReturnValue.OPERATION_NOT_INITIALIZED)
    session.found = None


# -- public-key attributes (CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_POINT) --------------------------------------------
def _der_octet_string(value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return b"\x04" + bytes([n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x04" + bytes([0x80 | len(size)]) + size + value


def public_values(lib: Library, view: ObjectView) -> dict[Attribute, Any]:
    """The attributes read from a key pair's public key (KMIP Get, Key Format Type X.509), kept with the view.
    CKA_EC_POINT is the DER OCTET STRING of the point (§2.3.3), as OpenSC, libp11 and SoftHSM2 use it."""
    if view.public_values is not None:
        return view.public_values
    values: dict[Attribute, Any] = {}
    if view.object_class is ObjectClass.CERTIFICATE:
        certificate = secret_value(lib, view)
        if certificate is not None:
            values.update(imports.certificate_values(certificate))
        view.public_values = values
        return values
    if view.object_class is ObjectClass.DOMAIN_PARAMETERS:
        der = secret_value(lib, view)
        if der is not None:
            values.update(domain_parameters.values(view.values.get(A.KEY_TYPE, 0), der))
        view.public_values = values
        return values
    if view.public_uid is not None and _finite_field(view):
        response = lib.run(
            Operation.GET, S.GetRequest(unique_identifier=view.public_uid, key_format_type=KeyFormatType.X_509)
        )
        found = domain_parameters.key_values(bytes(response.managed_object.key_block.key_value.key_material))
        if view.object_class is not ObjectClass.PUBLIC_KEY:
            found.pop(A.VALUE)  # a private key's CKA_VALUE is x (private_values), never y
        values.update(found)
    elif view.public_uid is not None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

        response = lib.run(
            Operation.GET, S.GetRequest(unique_identifier=view.public_uid, key_format_type=KeyFormatType.X_509)
        )
        material = response.managed_object.key_block.key_value.key_material
        key = serialization.load_der_public_key(bytes(material))
        if isinstance(key, rsa.RSAPublicKey):
            numbers = key.public_numbers()
            values[A.MODULUS] = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            values[A.MODULUS_BITS] = key.key_size
            values[A.PUBLIC_EXPONENT] = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        elif isinstance(key, ec.EllipticCurvePublicKey):
            point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            values[A.EC_POINT] = _der_octet_string(point)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            values[A.EC_POINT] = _der_octet_string(key.public_bytes_raw())
        values.update({a: v for a, v in view.values.items() if ATTRIBUTES[a].storage == "public"})
    view.public_values = values
    return values


# -- §5.7.2 C_CopyObject ---------------------------------------------------------------------------------------------
#: Attributes a copy may change (§5.7.2, §4.4 table 21 footnote 8: the ones settable at copy time).
_COPY_CHANGES = frozenset(
    {A.TOKEN, A.PRIVATE, A.MODIFIABLE, A.DESTROYABLE, A.LABEL, A.ID, A.SENSITIVE, A.EXTRACTABLE, A.COPYABLE}
)
_COPY_KEK_LABEL = "keystead-copy-transport"


def copy_object(
    lib: Library, session_handle: int, object_handle: int, raw_template: Iterable[tuple[int, bytes]]
) -> int:
    """§5.7.2 C_CopyObject. KMIP has no copy: the object is read (a sensitive key wrapped under a one-time AES key,
    inside the KMS) and registered again with the merged attributes — the KMS unwraps it on Register, so the key
    material never appears in the clear outside the KMS. Unextractable keys cannot be copied this way
    (CKR_KEY_UNEXTRACTABLE)."""
    session = lib.session(session_handle)
    view = object_view(lib, object_handle)
    if not view.values.get(A.COPYABLE, True):
        raise CkError(ReturnValue.ACTION_PROHIBITED, "CKA_COPYABLE is false")
    changes = parse_template(raw_template)
    for attribute, value in changes.items():
        if attribute not in CLASS_ATTRIBUTES[view.object_class]:
            raise CkError(ReturnValue.ATTRIBUTE_TYPE_INVALID, f"{attribute.name} does not apply")
        if attribute not in _COPY_CHANGES and value != view.values.get(attribute):
            raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, f"{attribute.name} cannot change in a copy")
    if view.values.get(A.SENSITIVE) and A.SENSITIVE in changes and not changes[A.SENSITIVE]:
        raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "CKA_SENSITIVE cannot be unset")
    if not view.values.get(A.EXTRACTABLE, True) and changes.get(A.EXTRACTABLE):
        raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE cannot be set again")
    if view.values.get(A.MODIFIABLE, True) is False and changes.get(A.MODIFIABLE):
        raise CkError(ReturnValue.ATTRIBUTE_READ_ONLY, "CKA_MODIFIABLE cannot be set again")
    storable = {
        a: v
        for a, v in view.values.items()
        if ATTRIBUTES[a].storage == "vendor"
        and not ATTRIBUTES[a].token_only
        and a in CLASS_ATTRIBUTES[view.object_class]
    }
    for attribute in usage_bits(view.object_class):
        storable[attribute] = view.values.get(attribute, False)
    for attribute in (A.SENSITIVE, A.EXTRACTABLE):
        if attribute in view.values:
            storable[attribute] = view.values[attribute]
    template = storable | changes
    check_write(lib, session, template)
    key = lib.held.get(view.uid)
    if key is not None:
        return _copy_held(lib, session, key, template)
    in_memory = view.uid in lib.in_memory
    if in_memory and not is_session_object(template):
        # A session object held here becomes a KMS object (Java's keystore stores generated keys this way): the
        # material moves from this process's engine to the KMS, as C_CreateObject would send it.
        object_type, managed = _session_material(lib, view.uid)
        # Its public half stays here: the values read from it (CKA_MODULUS, CKA_EC_POINT...) go with the copy.
        public = _public_of_private(managed) if view.object_class is ObjectClass.PRIVATE_KEY else {}
        uid = _register_copy(lib, view, template, managed, object_type, in_memory=False, public=public)
        return adopt(lib, session, uid, template, in_memory=False)
    # Otherwise the copy is made where its original is.
    managed, object_type, kek = _read_for_copy(lib, view, in_memory)
    try:
        uid = _register_copy(lib, view, template, managed, object_type, in_memory=in_memory)
    finally:
        if kek is not None:
            lib.destroy(kek)
    return adopt(lib, session, uid, template, in_memory=in_memory)


def _copy_held(lib: Library, session: Session, key: HeldKey, template: dict[Attribute, Any]) -> int:
    """C_CopyObject of a held key: a session copy is held too (an unextractable key is not copied, as between
    engines); a token copy goes to the KMS with its material, as C_CreateObject would send it."""
    view = key.view
    if is_session_object(template):
        if not view.values[A.EXTRACTABLE]:  # as a copy within the session-object engine (read through KMIP)
            raise CkError(ReturnValue.KEY_UNEXTRACTABLE, "an unextractable key cannot be copied through KMIP")
        copied: dict[Attribute, Any] = {a: v for a, v in template.items() if a not in (A.LOCAL, A.KEY_GEN_MECHANISM)}
        values = secret_key_values(
            copied,
            view.values[A.KEY_TYPE],
            view.values[A.VALUE_LEN],
            local=view.values[A.LOCAL],
            mechanism=view.values[A.KEY_GEN_MECHANISM],
        )
        uid = new_uid()
        values[A.UNIQUE_ID] = uid
        copy = HeldKey(ObjectView(uid, ObjectClass.SECRET_KEY, values, 0.0, True), key.material, key.algorithm)
        return lib.hold(copy, session)
    object_type, managed = key.managed()
    uid = _register_copy(lib, view, template, managed, object_type, in_memory=False)
    return adopt(lib, session, uid, template, in_memory=False)


def _public_of_private(managed: Any) -> dict[Attribute, Any]:
    """CKA_MODULUS and CKA_PUBLIC_EXPONENT, or CKA_EC_POINT, of a private key's DER material (PKCS#8, PKCS#1,
    SEC1); empty for any other form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    material = getattr(getattr(getattr(managed, "key_block", None), "key_value", None), "key_material", None)
    if not isinstance(material, bytes | bytearray):
        return {}
    if managed.key_block.cryptographic_algorithm in (CryptographicAlgorithm.DSA, CryptographicAlgorithm.DH):
        # The domain parameters (the public value y needs a public key object, which has it as CKA_VALUE).
        return {a: v for a, v in domain_parameters.key_values(bytes(material)).items() if a is not A.VALUE}
    try:
        key = serialization.load_der_private_key(bytes(material), None)
    except (ValueError, TypeError):
        return {}
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {
            A.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
            A.PUBLIC_EXPONENT: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
        }
    if isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {A.EC_POINT: _der_octet_string(point)}
    if isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return {A.EC_POINT: _der_octet_string(public.public_bytes_raw())}
    return {}


def _session_material(lib: Library, uid: str) -> tuple[ObjectType, Any]:
    from .backends.memory import MemoryBackend

    backend = lib.memory_backend()
    if not isinstance(backend, MemoryBackend):
        raise CkError(ReturnValue.GENERAL_ERROR, "session objects are not held by a memory engine")
    try:
        object_type, managed = backend.material(uid)
    except KmipError:
        raise CkError(ReturnValue.OBJECT_HANDLE_INVALID) from None
    return object_type, managed


def _register_copy(
    lib: Library,
    view: ObjectView,
    template: dict[Attribute, Any],
    managed: Any,
    object_type: ObjectType,
    *,
    in_memory: bool,
    public: dict[Attribute, Any] | None = None,
) -> str:
    attrs = kmip_attributes(view.object_class, template, int(time.time()))
    for attribute, value in (public or {}).items():
        attrs.add(Tag.ATTRIBUTE, vendor_attribute(attribute, value))
    for attribute in (A.LOCAL, A.KEY_GEN_MECHANISM):
        if attribute in view.values:
            attrs.add(Tag.ATTRIBUTE, vendor_attribute(attribute, view.values[attribute]))
    curve = PARAMS_CURVES.get(view.values.get(A.EC_PARAMS, b""))
    if curve is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, S.CryptographicDomainParameters(recommended_curve=curve))
    # The link to the public key only where that key is (a promoted session key's public half stays here).
    if (
        view.object_class is ObjectClass.PRIVATE_KEY
        and view.public_uid is not None
        and lib.held_here(view.public_uid) == in_memory
    ):
        attrs.add(Tag.LINK, S.Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier=view.public_uid))
    response = lib.run(
        Operation.REGISTER,
        S.RegisterRequest(object_type=object_type, attributes=attrs, managed_object=managed),
        in_memory=in_memory,
    )
    return str(response.unique_identifier)


def _read_for_copy(lib: Library, view: ObjectView, in_memory: bool) -> tuple[Any, ObjectType, str | None]:
    """The object as Register takes it: plain, or wrapped under a one-time transport key when sensitive."""
    if view.object_class is ObjectClass.DATA or not view.values.get(A.SENSITIVE, False):
        response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid))
        return response.managed_object, ObjectType(response.object_type), None
    if not view.values.get(A.EXTRACTABLE, True):
        raise CkError(ReturnValue.KEY_UNEXTRACTABLE, "an unextractable key cannot be copied through KMIP")
    kek_attrs = Attributes()
    kek_attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES)
    kek_attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, 256)
    kek_attrs.add(
        Tag.CRYPTOGRAPHIC_USAGE_MASK, int(CryptographicUsageMask.WRAP_KEY | CryptographicUsageMask.UNWRAP_KEY)
    )
    kek_attrs.add(Tag.ACTIVATION_DATE, int(time.time()))
    kek_attrs.add(Tag.SENSITIVE, True)
    kek_attrs.add(Tag.OBJECT_GROUP, _COPY_KEK_LABEL)
    kek = str(
        lib.run(
            Operation.CREATE,
            S.CreateRequest(object_type=ObjectType.SYMMETRIC_KEY, attributes=kek_attrs),
            in_memory=in_memory,
        ).unique_identifier
    )
    if in_memory:
        lib.in_memory.add(kek)  # so that its Get and Destroy go where it is
    try:
        spec = S.KeyWrappingSpecification(
            wrapping_method=WrappingMethod.ENCRYPT,
            encryption_key_information=S.EncryptionKeyInformation(
                unique_identifier=kek,
                cryptographic_parameters=S.CryptographicParameters(block_cipher_mode=BlockCipherMode.AESKEYWRAPPADDING),
            ),
            encoding_option=EncodingOption.NO_ENCODING,
        )
        response = lib.run(Operation.GET, S.GetRequest(unique_identifier=view.uid, key_wrapping_specification=spec))
    except CkError:
        lib.destroy(kek)
        raise
    return response.managed_object, ObjectType(response.object_type), kek


__all__ = [
    "adopt",
    "check_write",
    "copy_object",
    "CREATABLE",
    "create_object",
    "derived",
    "destroy_object",
    "find_objects",
    "find_objects_final",
    "find_objects_init",
    "get_attribute_value",
    "get_object_size",
    "is_session_object",
    "object_view",
    "private_values",
    "public_values",
    "secret_key_object",
    "secret_value",
    "set_attribute_value",
]
