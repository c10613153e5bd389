"""Managed objects as the engine sees them, and their conversion to and from store records.

A ``ManagedObject`` is a typed KMIP 2.1 object (``SymmetricKey``, ``PrivateKey``…), its Attributes (2.1 form,
including the server-maintained ones: Unique Identifier, Object Type, State, dates…), its owner and its tags.
The store receives binary TTLV blobs plus the index fields Locate filters on.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..kmip import _schema_data as S
from ..kmip import binary_codec
from ..kmip._registry_data import ObjectType, ResultReason, State, Tag
from ..kmip.errors import KmipError
from ..kmip.mapper import attributes_from_tree, attributes_to_tree, from_tree, to_tree
from ..kmip.schema import Attributes, Struct
from ..store.base import StoredObject

OBJECT_CLASSES: dict[ObjectType, type[Struct]] = {
    ObjectType.CERTIFICATE: S.Certificate,
    ObjectType.SYMMETRIC_KEY: S.SymmetricKey,
    ObjectType.PUBLIC_KEY: S.PublicKey,
    ObjectType.PRIVATE_KEY: S.PrivateKey,
    ObjectType.SPLIT_KEY: S.SplitKey,
    ObjectType.SECRET_DATA: S.SecretData,
    ObjectType.OPAQUE_OBJECT: S.OpaqueObject,
    ObjectType.PGP_KEY: S.PGPKey,
    ObjectType.CERTIFICATE_REQUEST: S.CertificateRequest,
    # 1.x only (deprecated in 1.3, removed in 2.0): its attributes are kept in their 1.x form (engine.templates).
    ObjectType.TEMPLATE: S.TemplateV1,
}
OBJECT_TYPES: dict[type[Struct], ObjectType] = {cls: ot for ot, cls in OBJECT_CLASSES.items()}

#: Cosmian's system tags, added to every object of the type (Cosmian KMS convention).
SYSTEM_TAGS: dict[ObjectType, str] = {
    ObjectType.SYMMETRIC_KEY: "_kk",
    ObjectType.PRIVATE_KEY: "_sk",
    ObjectType.PUBLIC_KEY: "_pk",
    ObjectType.CERTIFICATE: "_cert",
    ObjectType.SECRET_DATA: "_sd",
    ObjectType.OPAQUE_OBJECT: "_oo",
}
COSMIAN_VENDOR = "cosmian"
TAG_ATTRIBUTE_NAME = "tag"

DATE_TAGS = (
    Tag.INITIAL_DATE,
    Tag.ACTIVATION_DATE,
    Tag.DEACTIVATION_DATE,
    Tag.DESTROY_DATE,
    Tag.COMPROMISE_DATE,
    Tag.COMPROMISE_OCCURRENCE_DATE,
    Tag.ARCHIVE_DATE,
    Tag.LAST_CHANGE_DATE,
    Tag.ORIGINAL_CREATION_DATE,
    Tag.PROCESS_START_DATE,
    Tag.PROTECT_STOP_DATE,
)

STORAGE_ONLINE = 1
STORAGE_ARCHIVED = 2
STORAGE_DESTROYED = 4


@dataclass(slots=True)
class ManagedObject:
    """A managed object with its attributes, owner and tags (KMIP 2.1 §2, §4)."""

    uid: str
    owner: str
    object: Struct | None
    attributes: Attributes
    tags: list[str] = field(default_factory=list)
    storage_status: int = STORAGE_ONLINE
    revision: int = 0
    #: The object blob as stored (sealed); reused on write unless ``object_changed`` is set.
    sealed_object: bytes = b""
    object_changed: bool = True

    def replace_object(self, obj: Struct | None) -> None:
        """Swap the key material (Re-key, Destroy) so the next write re-seals it."""
        self.object = obj
        self.object_changed = True

    @property
    def object_type(self) -> ObjectType:
        value = self.attributes.get(Tag.OBJECT_TYPE)
        return ObjectType(value)

    @property
    def state(self) -> State:
        return State(self.attributes.get(Tag.STATE, State.PRE_ACTIVE))

    def attribute(self, tag: int, default: Any = None) -> Any:
        return self.attributes.get(tag, default)


# ----------------------------------------------------------------------------------------------------------------
# Cosmian tags: a vendor attribute ("cosmian", "tag") holding a JSON array of strings as a Text String.


def tags_from_attributes(attrs: Attributes) -> list[str] | None:
    """The user tags carried in ``attrs`` (None if there is no tag attribute). Invalid JSON is an Invalid Attribute
    Value error."""
    for tag, value in attrs:
        if _is_tag_attribute(tag, value):
            assert isinstance(value, S.VendorAttribute)
            return parse_tag_list(value.attribute_value.value if value.attribute_value else "[]")
    return None


def parse_tag_list(raw: object) -> list[str]:
    """A JSON array of strings (as Text String or UTF-8 Byte String) as a list of tags."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(t, str) for t in parsed):
        raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "tags must be a JSON array of strings")
    return [t for t in parsed if t]


def remove_tag_attribute(attrs: Attributes) -> None:
    attrs.entries = [(t, v) for t, v in attrs.entries if not _is_tag_attribute(t, v)]


def _is_tag_attribute(tag: int, value: object) -> bool:
    return (
        tag == Tag.ATTRIBUTE
        and isinstance(value, S.VendorAttribute)
        and value.vendor_identification.lower() == COSMIAN_VENDOR
        and value.attribute_name == TAG_ATTRIBUTE_NAME
    )


# ----------------------------------------------------------------------------------------------------------------
# store records

ObjectSealer = Callable[[str, bytes], bytes]


@dataclass(slots=True)
class _Decoded:
    """A decoded record: the blobs it came from (to validate cache hits) and their typed content. The typed
    values are shared between readers, so nothing may mutate them in place (handlers replace, never modify)."""

    attributes_bytes: bytes
    object_bytes: bytes
    attributes: Attributes
    object: Struct | None = None


def identity(_uid: str, data: bytes) -> bytes:
    return data


class RecordCodec:
    """Turns ManagedObjects into StoredObjects and back. ``seal``/``unseal`` protect the key material blob (the
    HSM layer wraps it under a key-encryption key); by default they are the identity.

    Decoding a record (binary TTLV → typed attributes and object, plus unsealing) is the costliest part of a read,
    so decoded records are kept in a bounded LRU keyed by uid and validated against the stored bytes: a hit needs
    the exact same blobs (any write changes at least the revision-bearing attributes blob), so a cache can never
    serve stale data even when other servers share the store. ``invalidate`` drops an entry (Destroy, KEK
    rotation); ``cache_size`` 0 disables caching.
    """

    def __init__(self, seal: ObjectSealer = identity, unseal: ObjectSealer = identity, cache_size: int = 4096) -> None:
        self.seal = seal
        self.unseal = unseal
        self.cache_size = cache_size
        self._cache: OrderedDict[str, _Decoded] = OrderedDict()
        self._lock = threading.Lock()

    def invalidate(self, uid: str | None = None) -> None:
        """Forget the decoded copy of ``uid`` (all of them when None)."""
        with self._lock:
            if uid is None:
                self._cache.clear()
            else:
                self._cache.pop(uid, None)

    def to_record(self, mo: ManagedObject) -> StoredObject:
        attrs = mo.attributes
        if mo.object_changed or (mo.object is not None and not mo.sealed_object):
            plain = binary_codec.encode(to_tree(mo.object)) if mo.object is not None else b""
            mo.sealed_object = self.seal(mo.uid, plain) if plain else b""
            mo.object_changed = False
        names = [n.name_value for n in attrs.get_all(Tag.NAME) if isinstance(n, S.Name)]
        links = [
            (int(link.link_type), str(link.linked_object_identifier))
            for link in attrs.get_all(Tag.LINK)
            if isinstance(link, S.Link)
        ]
        dates = {int(tag): int(v) for tag in DATE_TAGS if isinstance(v := attrs.get(tag), int)}
        algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM)
        attributes_bytes = binary_codec.encode(attributes_to_tree(attrs))
        # The next read of this record (a Create is followed by a Get Attributes) finds it decoded already.
        self._remember(mo.uid, _Decoded(attributes_bytes, mo.sealed_object, Attributes(list(attrs.entries))))
        return StoredObject(
            uid=mo.uid,
            object_type=int(mo.object_type),
            owner=mo.owner,
            state=int(mo.state),
            object_bytes=mo.sealed_object,
            attributes_bytes=attributes_bytes,
            cryptographic_algorithm=int(algorithm) if isinstance(algorithm, int) else None,
            cryptographic_length=attrs.get(Tag.CRYPTOGRAPHIC_LENGTH),
            cryptographic_usage_mask=attrs.get(Tag.CRYPTOGRAPHIC_USAGE_MASK),
            names=names,
            object_groups=[g for g in attrs.get_all(Tag.OBJECT_GROUP) if isinstance(g, str)],
            tags=list(mo.tags),
            links=links,
            dates=dates,
            storage_status=mo.storage_status,
            revision=mo.revision,
        )

    def from_record(self, rec: StoredObject, with_object: bool = True) -> ManagedObject:
        decoded = self._cached(rec)
        if decoded is None:
            decoded = _Decoded(
                rec.attributes_bytes, rec.object_bytes, attributes_from_tree(binary_codec.decode(rec.attributes_bytes))
            )
            self._remember(rec.uid, decoded)
        if with_object and rec.object_bytes and decoded.object is None:
            cls = OBJECT_CLASSES[ObjectType(rec.object_type)]
            decoded.object = from_tree(binary_codec.decode(self.unseal(rec.uid, rec.object_bytes)), cls)
        attrs = Attributes(list(decoded.attributes.entries))
        obj = decoded.object if with_object else None
        return ManagedObject(
            uid=rec.uid,
            owner=rec.owner,
            object=obj,
            attributes=attrs,
            tags=list(rec.tags),
            storage_status=rec.storage_status,
            revision=rec.revision,
            sealed_object=rec.object_bytes,
            object_changed=False,
        )

    def _cached(self, rec: StoredObject) -> _Decoded | None:
        if not self.cache_size:
            return None
        with self._lock:
            hit = self._cache.get(rec.uid)
            if hit is None:
                return None
            if hit.attributes_bytes != rec.attributes_bytes or hit.object_bytes != rec.object_bytes:
                del self._cache[rec.uid]
                return None
            self._cache.move_to_end(rec.uid)
            return hit

    def _remember(self, uid: str, decoded: _Decoded) -> None:
        if not self.cache_size:
            return
        with self._lock:
            self._cache[uid] = decoded
            self._cache.move_to_end(uid)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def load_object(self, mo: ManagedObject) -> Struct | None:
        """Unseal and decode the object of a ManagedObject read without it."""
        if mo.object is None and mo.sealed_object:
            cls = OBJECT_CLASSES[mo.object_type]
            mo.object = from_tree(binary_codec.decode(self.unseal(mo.uid, mo.sealed_object)), cls)
        return mo.object


__all__ = [
    "DATE_TAGS",
    "OBJECT_CLASSES",
    "OBJECT_TYPES",
    "SYSTEM_TAGS",
    "ManagedObject",
    "RecordCodec",
    "parse_tag_list",
    "remove_tag_attribute",
    "tags_from_attributes",
]
