"""Security-token keyfiles (VeraCrypt): KMS objects tagged ``disk-encryption`` are private CKO_DATA objects."""

from __future__ import annotations

import json

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    ItemType,
    KeyFormatType,
    NameType,
    ObjectType,
    OpaqueDataType,
    Operation,
    SecretDataType,
    Tag,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item
from provider import sessions
from provider.constants import Attribute, KeyType, ObjectClass, UserType
from provider.library import Library

from .conftest import USER_PIN
from .test_library import attribute, boolean, find, ulong

A = Attribute


def tagged(*tags: str, name: str | None = None) -> Attributes:
    attrs = Attributes()
    value = Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, json.dumps(list(tags)))
    attrs.add(
        Tag.ATTRIBUTE, S.VendorAttribute(vendor_identification="cosmian", attribute_name="tag", attribute_value=value)
    )
    if name is not None:
        attrs.add(Tag.NAME, S.Name(name_value=name, name_type=NameType.UNINTERPRETED_TEXT_STRING))
    return attrs


def register_secret(lib: Library, value: bytes, attrs: Attributes) -> str:
    block = S.KeyBlock(key_format_type=KeyFormatType.OPAQUE, key_value=S.KeyValue(key_material=value))
    secret = S.SecretData(secret_data_type=SecretDataType.PASSWORD, key_block=block)
    request = S.RegisterRequest(object_type=ObjectType.SECRET_DATA, attributes=attrs, managed_object=secret)
    return str(lib.run(Operation.REGISTER, request).unique_identifier)


def register_opaque(lib: Library, value: bytes, attrs: Attributes) -> str:
    opaque = S.OpaqueObject(opaque_data_type=OpaqueDataType.UNKNOWN, opaque_data_value=value)
    request = S.RegisterRequest(object_type=ObjectType.OPAQUE_OBJECT, attributes=attrs, managed_object=opaque)
    return str(lib.run(Operation.REGISTER, request).unique_identifier)


def test_tagged_secret_data_is_a_private_data_object(lib: Library, session: int):
    keyfile = register_secret(lib, b"k" * 64, tagged("disk-encryption", "vol1", "zz-other"))
    plain = register_secret(lib, b"s" * 32, tagged("vol2"))
    bare = register_secret(lib, b"b" * 16, tagged("disk-encryption"))
    named = register_opaque(lib, b"o" * 20, tagged("disk-encryption", "tag", name="named-keyfile"))
    data = [(A.CLASS, ulong(ObjectClass.DATA))]
    assert find(lib, session, data) == []  # readable only after login
    sessions.login(lib, session, UserType.USER, USER_PIN)
    found = find(lib, session, data)
    uids = {lib.handles.uid(h): h for h in found}
    assert set(uids) == {keyfile, bare, named}
    handle = uids[keyfile]
    assert attribute(lib, session, handle, A.LABEL) == b"vol1"
    assert attribute(lib, session, handle, A.PRIVATE) == boolean(True)
    assert attribute(lib, session, handle, A.VALUE) == b"k" * 64
    assert attribute(lib, session, uids[bare], A.LABEL) == bare.encode()
    assert attribute(lib, session, uids[named], A.LABEL) == b"named-keyfile"
    # Found by their labels, with or without the class; an untagged Secret Data stays a generic secret key.
    assert find(lib, session, [*data, (A.LABEL, b"vol1")]) == [handle]
    assert find(lib, session, [(A.LABEL, b"vol1")]) == [handle]
    secrets = find(lib, session, [(A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET))])
    assert [lib.handles.uid(h) for h in secrets] == [plain]
    assert find(lib, session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.LABEL, b"vol1")]) == []
