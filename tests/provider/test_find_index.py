"""Finds by CKA_ID and CKA_LABEL go through the store's index (Object Groups), stay right when another process
changes the store, and index objects made before CKA_ID was indexed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation, Tag
from kms_backend.kmip.schema import Attributes
from provider import general, keys, objects, sessions
from provider.attributes import id_group
from provider.backends.embedded import EmbeddedBackend
from provider.config import BackendConfig, ProviderConfig, hash_pin, load_file, save
from provider.constants import Attribute, Mechanism, UserType
from provider.library import SLOT_ID, Library

from .conftest import RW, USER_PIN
from .test_library import aes_template, attribute, find

A = Attribute


def keyed(label: str, key_id: bytes) -> list[tuple[int, bytes]]:
    return [*aes_template(label), (A.ID, key_id)]


def open_library(config: ProviderConfig) -> tuple[Library, int]:
    """A Library of its own over ``config``'s SQLite file, as another process has (its own engine and caches)."""
    library = Library(environ={}, config_loader=lambda _env: config)
    general.initialize(library, None)
    session = sessions.open_session(library, SLOT_ID, RW)
    sessions.login(library, session, UserType.USER, USER_PIN)
    return library, session


@pytest.fixture
def shared(tmp_path: Path):
    config = ProviderConfig(
        path=tmp_path / "pkcs11.yaml",
        user_pin_hash=hash_pin(USER_PIN),
        backend=BackendConfig(type="embedded", database=f"sqlite:///{tmp_path / 'keystead.db'}"),
        cache_ttl=60.0,  # a long cache: what another process changes must be seen without waiting for it
    )
    save(config)
    opened = [open_library(config), open_library(config)]
    yield opened
    for library, _ in opened:
        general.finalize(library, False)


def test_a_key_made_here_carries_its_id_group_and_is_found_by_id(lib: Library, user_session: int):
    first = keys.generate_key(lib, user_session, Mechanism.AES_KEY_GEN, keyed("k1", b"\x01\x02"))
    second = keys.generate_key(lib, user_session, Mechanism.AES_KEY_GEN, keyed("k2", b"\x03"))
    assert find(lib, user_session, [(A.ID, b"\x01\x02")]) == [first]
    assert find(lib, user_session, [(A.ID, b"\x03"), (A.LABEL, b"k2")]) == [second]
    assert find(lib, user_session, [(A.ID, b"\x03"), (A.LABEL, b"k1")]) == []
    assert find(lib, user_session, [(A.ID, b"\x09")]) == []
    uid = lib.handles.uid(first)
    response = lib.run(Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=uid))
    assert id_group(b"\x01\x02") in response.attributes.get_all(Tag.OBJECT_GROUP)


def test_a_changed_id_is_found_under_the_new_id_only(lib: Library, user_session: int):
    handle = keys.generate_key(lib, user_session, Mechanism.AES_KEY_GEN, keyed("k", b"old"))
    objects.set_attribute_value(lib, user_session, handle, [(A.ID, b"new")])
    assert find(lib, user_session, [(A.ID, b"new")]) == [handle]
    assert find(lib, user_session, [(A.ID, b"old")]) == []


def test_changes_made_by_another_process_are_found_at_once(shared):
    (mine, my_session), (theirs, their_session) = shared
    made = keys.generate_key(theirs, their_session, Mechanism.AES_KEY_GEN, keyed("theirs", b"t1"))
    uid = theirs.handles.uid(made)
    [found] = find(mine, my_session, [(A.ID, b"t1")])
    assert mine.handles.uid(found) == uid
    assert find(mine, my_session, [(A.LABEL, b"theirs")]) == [found]
    # They change the id and the label: the index finds the new ones although this process's view is cached.
    objects.set_attribute_value(theirs, their_session, made, [(A.ID, b"t2"), (A.LABEL, b"renamed")])
    assert find(mine, my_session, [(A.ID, b"t2")]) == [found]
    assert find(mine, my_session, [(A.LABEL, b"renamed")]) == [found]
    assert attribute(mine, my_session, found, A.ID) == b"t2"
    objects.destroy_object(theirs, their_session, made)
    assert find(mine, my_session, [(A.ID, b"t2")]) == []
    assert find(mine, my_session, [(A.LABEL, b"renamed")]) == []


def test_objects_made_before_the_id_index_are_indexed_once(shared):
    (mine, my_session), (theirs, their_session) = shared
    made = keys.generate_key(theirs, their_session, Mechanism.AES_KEY_GEN, keyed("older", b"legacy"))
    uid = theirs.handles.uid(made)
    # As an object made before CKA_ID was indexed: without the group.
    assert isinstance(theirs.backend, EmbeddedBackend)
    theirs.backend.engine.run_operation(
        Operation.DELETE_ATTRIBUTE,
        S.DeleteAttributeRequest(
            unique_identifier=uid, current_attribute=Attributes([(Tag.OBJECT_GROUP, id_group(b"legacy"))])
        ),
        "admin",
    )
    assert mine.config.ids_indexed == ()
    [found] = find(mine, my_session, [(A.ID, b"legacy")])
    assert mine.handles.uid(found) == uid
    assert mine.config.ids_indexed == ("admin",)
    assert mine.config.path is not None and load_file(mine.config.path).ids_indexed == ("admin",)


def test_kmip_made_key_pairs_are_found_by_their_pairing_id(lib: Library, user_session: int):
    """A KMIP client's key pair has CKA_ID = the private key's uid, on both halves (attributes._pairing_id)."""
    response = lib.run(
        Operation.CREATE_KEY_PAIR,
        S.CreateKeyPairRequest(
            common_attributes=Attributes(
                [(Tag.CRYPTOGRAPHIC_ALGORITHM, 0x06), (Tag.CRYPTOGRAPHIC_LENGTH, 256)]  # EC P-256
            ),
            private_key_attributes=Attributes([(Tag.CRYPTOGRAPHIC_USAGE_MASK, 1)]),
            public_key_attributes=Attributes([(Tag.CRYPTOGRAPHIC_USAGE_MASK, 2)]),
        ),
    )
    private = str(response.private_key_unique_identifier)
    public = str(response.public_key_unique_identifier)
    found = find(lib, user_session, [(A.ID, private.encode())])
    assert sorted(lib.handles.uid(h) for h in found) == sorted([private, public])
