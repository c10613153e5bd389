"""The provider's PKCS#11 functions against the engine over a MemoryStore (no C involved)."""

from __future__ import annotations

import os

import pytest

from provider import general, keys, objects, rng, sessions, slots
from provider.attributes import Kind, pack
from provider.config import load_file, verify_pin
from provider.constants import (
    UNAVAILABLE_INFORMATION,
    Attribute,
    KeyType,
    Mechanism,
    ObjectClass,
    ReturnValue,
    SessionFlag,
    SessionState,
    TokenFlag,
    UserType,
)
from provider.errors import CkError
from provider.library import Library
from provider.slots import SLOT_ID

from .conftest import RW, SO_PIN, USER_PIN

A = Attribute


def ulong(value: int) -> bytes:
    return pack(Kind.ULONG, value)


def boolean(value: bool) -> bytes:
    return pack(Kind.BOOL, value)


def rv_of(call, *args) -> ReturnValue:
    with pytest.raises(CkError) as info:
        call(*args)
    return info.value.rv


def aes_template(label: str, *, token: bool = True, **extra: bool) -> list[tuple[int, bytes]]:
    template = [(A.VALUE_LEN, ulong(32)), (A.LABEL, label.encode()), (A.TOKEN, boolean(token))]
    template += [(A[name.upper()], boolean(v)) for name, v in extra.items()]
    return template


def generate(lib: Library, session: int, label: str, **kw) -> int:
    return keys.generate_key(lib, session, Mechanism.AES_KEY_GEN, aes_template(label, **kw))


def find(lib: Library, session: int, template: list[tuple[int, bytes]]) -> list[int]:
    objects.find_objects_init(lib, session, template)
    try:
        return objects.find_objects(lib, session, 1000)
    finally:
        objects.find_objects_final(lib, session)


def attribute(lib: Library, session: int, handle: int, attr: Attribute) -> bytes | None:
    rv, [(length, _)] = objects.get_attribute_value(lib, session, handle, [(attr, None)])
    if rv != ReturnValue.OK:
        return None
    rv, [(_, data)] = objects.get_attribute_value(lib, session, handle, [(attr, length)])
    assert rv == ReturnValue.OK
    return data


# -- §5.4 ------------------------------------------------------------------------------------------------------------
def test_initialize_twice_and_finalize(lib: Library):
    assert rv_of(general.initialize, lib, None) == ReturnValue.CRYPTOKI_ALREADY_INITIALIZED
    general.finalize(lib, False)
    assert rv_of(general.get_info, lib) == ReturnValue.CRYPTOKI_NOT_INITIALIZED
    assert rv_of(general.finalize, lib, False) == ReturnValue.CRYPTOKI_NOT_INITIALIZED
    general.initialize(lib, None)


def test_initialize_arguments(lib: Library):
    general.finalize(lib, False)
    bad = general.InitializeArgs((True, False, False, False), 0, False)
    assert rv_of(general.initialize, lib, bad) == ReturnValue.ARGUMENTS_BAD
    reserved = general.InitializeArgs((False,) * 4, 0, True)
    assert rv_of(general.initialize, lib, reserved) == ReturnValue.ARGUMENTS_BAD
    general.initialize(lib, general.InitializeArgs((False,) * 4, 2, False))


def test_forked_child_must_initialize_again(lib: Library, session: int):
    lib.pid = os.getpid() + 1  # what a child sees: the parent's pid recorded
    assert rv_of(general.get_info, lib) == ReturnValue.CRYPTOKI_NOT_INITIALIZED
    general.initialize(lib, None)
    assert lib.sessions == {}  # the parent's sessions are not the child's


def test_info(lib: Library):
    info = general.get_info(lib)
    assert info.cryptoki_version == (3, 0)
    assert info.manufacturer_id == "Keystead"


# -- §5.5 ------------------------------------------------------------------------------------------------------------
def test_slot_and_token(lib: Library):
    assert slots.get_slot_list(lib, True) == [SLOT_ID]
    token = slots.get_token_info(lib, SLOT_ID)
    assert token.label == "Keystead"
    assert token.flags & TokenFlag.TOKEN_INITIALIZED and token.flags & TokenFlag.USER_PIN_INITIALIZED
    assert rv_of(slots.get_token_info, lib, 99) == ReturnValue.SLOT_ID_INVALID
    assert Mechanism.AES_KEY_GEN in slots.get_mechanism_list(lib, SLOT_ID)
    assert slots.get_mechanism_info(lib, SLOT_ID, Mechanism.AES_KEY_GEN)[:2] == (16, 32)
    assert rv_of(slots.get_mechanism_info, lib, SLOT_ID, 0x7777) == ReturnValue.MECHANISM_INVALID


def test_init_token_set_pin_init_pin(lib: Library):
    assert rv_of(slots.init_token, lib, SLOT_ID, b"wrong", b"x".ljust(32)) == ReturnValue.PIN_INCORRECT
    slots.init_token(lib, SLOT_ID, SO_PIN, b"Renamed".ljust(32))
    saved = load_file(lib.config.path)
    assert saved.label == "Renamed" and saved.user_pin_hash is None
    s = sessions.open_session(lib, SLOT_ID, RW)
    assert rv_of(slots.init_token, lib, SLOT_ID, SO_PIN, b" " * 32) == ReturnValue.SESSION_EXISTS
    assert rv_of(sessions.login, lib, s, UserType.USER, USER_PIN) == ReturnValue.USER_PIN_NOT_INITIALIZED
    sessions.login(lib, s, UserType.SO, SO_PIN)
    slots.init_pin(lib, s, b"4321")
    slots.set_pin(lib, s, SO_PIN, b"8765")
    sessions.logout(lib, s)
    sessions.login(lib, s, UserType.USER, b"4321")
    slots.set_pin(lib, s, b"4321", b"9999")
    assert rv_of(slots.set_pin, lib, s, b"4321", b"0000") == ReturnValue.PIN_INCORRECT
    assert rv_of(slots.set_pin, lib, s, b"9999", b"1") == ReturnValue.PIN_LEN_RANGE
    saved = load_file(lib.config.path)
    assert verify_pin(b"9999", saved.user_pin_hash) and verify_pin(b"8765", saved.so_pin_hash)


# -- §5.6 ------------------------------------------------------------------------------------------------------------
def test_session_states_and_login(lib: Library):
    ro = sessions.open_session(lib, SLOT_ID, SessionFlag.SERIAL_SESSION)
    rw = sessions.open_session(lib, SLOT_ID, RW)
    assert sessions.get_session_info(lib, ro)[1] == SessionState.RO_PUBLIC_SESSION
    assert rv_of(sessions.open_session, lib, SLOT_ID, 0) == ReturnValue.SESSION_PARALLEL_NOT_SUPPORTED
    assert rv_of(sessions.login, lib, rw, UserType.USER, b"bad!") == ReturnValue.PIN_INCORRECT
    assert rv_of(sessions.login, lib, rw, UserType.SO, SO_PIN) == ReturnValue.SESSION_READ_ONLY_EXISTS
    assert rv_of(sessions.login, lib, rw, 7, USER_PIN) == ReturnValue.USER_TYPE_INVALID
    sessions.login(lib, rw, UserType.USER, USER_PIN)
    assert sessions.get_session_info(lib, ro)[1] == SessionState.RO_USER_FUNCTIONS
    assert sessions.get_session_info(lib, rw)[1] == SessionState.RW_USER_FUNCTIONS
    assert rv_of(sessions.login, lib, rw, UserType.USER, USER_PIN) == ReturnValue.USER_ALREADY_LOGGED_IN
    assert rv_of(sessions.login, lib, rw, UserType.SO, SO_PIN) == ReturnValue.USER_ANOTHER_ALREADY_LOGGED_IN
    sessions.logout(lib, ro)
    assert rv_of(sessions.logout, lib, ro) == ReturnValue.USER_NOT_LOGGED_IN
    sessions.close_session(lib, ro)
    assert rv_of(sessions.close_session, lib, ro) == ReturnValue.SESSION_HANDLE_INVALID
    sessions.login(lib, rw, UserType.SO, SO_PIN)
    assert sessions.get_session_info(lib, rw)[1] == SessionState.RW_SO_FUNCTIONS
    assert rv_of(sessions.open_session, lib, SLOT_ID, SessionFlag.SERIAL_SESSION) == (
        ReturnValue.SESSION_READ_WRITE_SO_EXISTS
    )
    sessions.close_all_sessions(lib, SLOT_ID)
    assert lib.login is None  # closing the last session logs out


def test_user_colon_pin_form(lib: Library, session: int):
    sessions.login(lib, session, UserType.USER, b"alice:alicepin")
    assert lib.identity.user == "alice"
    sessions.logout(lib, session)
    sessions.login(lib, session, UserType.USER, b"admin:" + USER_PIN)
    assert lib.identity.user == "admin"
    sessions.logout(lib, session)
    assert rv_of(sessions.login, lib, session, UserType.USER, b"alice:nope") == ReturnValue.PIN_INCORRECT


# -- §5.7, §5.18 -----------------------------------------------------------------------------------------------------
def test_generate_find_and_read(lib: Library, user_session: int):
    handle = generate(lib, user_session, "k1")
    assert find(lib, user_session, [(A.LABEL, b"k1")]) == [handle]
    assert find(lib, user_session, [(A.LABEL, b"k1"), (A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET))]) == []
    assert find(lib, user_session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == [handle]
    assert attribute(lib, user_session, handle, A.VALUE_LEN) == ulong(32)
    assert attribute(lib, user_session, handle, A.LOCAL) == boolean(True)
    assert attribute(lib, user_session, handle, A.KEY_GEN_MECHANISM) == ulong(Mechanism.AES_KEY_GEN)
    assert attribute(lib, user_session, handle, A.ALWAYS_SENSITIVE) == boolean(True)
    # Two-call convention, short buffer, sensitive and invalid attributes in one call (§5.7.5).
    rv, results = objects.get_attribute_value(
        lib, user_session, handle, [(A.LABEL, 1), (A.VALUE, 32), (A.APPLICATION, 10), (A.ID, 10)]
    )
    assert rv in (ReturnValue.BUFFER_TOO_SMALL, ReturnValue.ATTRIBUTE_SENSITIVE, ReturnValue.ATTRIBUTE_TYPE_INVALID)
    assert [length for length, _ in results][:3] == [UNAVAILABLE_INFORMATION] * 3
    assert results[3] == (0, b"")


def test_handles_stable_across_sessions(lib: Library, user_session: int):
    handle = generate(lib, user_session, "stable")
    other = sessions.open_session(lib, SLOT_ID, RW)
    assert find(lib, other, [(A.LABEL, b"stable")]) == [handle]


def test_extractable_key_value(lib: Library, user_session: int):
    handle = generate(lib, user_session, "open", sensitive=False, extractable=True)
    value = attribute(lib, user_session, handle, A.VALUE)
    assert value is not None and len(value) == 32


def test_private_objects_hidden_before_login(lib: Library, user_session: int):
    private = generate(lib, user_session, "secret")
    public = generate(lib, user_session, "public", private=False)
    sessions.logout(lib, user_session)
    assert find(lib, user_session, []) == [public]
    assert rv_of(objects.get_attribute_value, lib, user_session, private, [(A.LABEL, None)]) == (
        ReturnValue.OBJECT_HANDLE_INVALID
    )
    assert rv_of(generate, lib, user_session, "x") == ReturnValue.USER_NOT_LOGGED_IN


def test_read_only_session_cannot_create_token_objects(lib: Library):
    ro = sessions.open_session(lib, SLOT_ID, SessionFlag.SERIAL_SESSION)
    sessions.login(lib, ro, UserType.USER, USER_PIN)
    assert rv_of(generate, lib, ro, "x") == ReturnValue.SESSION_READ_ONLY
    generate(lib, ro, "session-object", token=False)  # session objects are fine in R/O sessions


def test_session_objects_die_with_their_session(lib: Library, user_session: int):
    other = sessions.open_session(lib, SLOT_ID, RW)
    temporary = generate(lib, other, "tmp", token=False)
    assert find(lib, user_session, [(A.LABEL, b"tmp")]) == [temporary]
    sessions.close_session(lib, other)
    assert find(lib, user_session, [(A.LABEL, b"tmp")]) == []


def test_find_sees_changes(lib: Library, user_session: int):
    first = generate(lib, user_session, "same")
    assert find(lib, user_session, [(A.LABEL, b"same")]) == [first]
    second = generate(lib, user_session, "same")
    assert sorted(find(lib, user_session, [(A.LABEL, b"same")])) == sorted([first, second])
    objects.destroy_object(lib, user_session, first)
    assert find(lib, user_session, [(A.LABEL, b"same")]) == [second]
    assert rv_of(objects.destroy_object, lib, user_session, first) == ReturnValue.OBJECT_HANDLE_INVALID


def test_find_state_machine(lib: Library, user_session: int):
    assert rv_of(objects.find_objects, lib, user_session, 1) == ReturnValue.OPERATION_NOT_INITIALIZED
    objects.find_objects_init(lib, user_session, [])
    assert rv_of(objects.find_objects_init, lib, user_session, []) == ReturnValue.OPERATION_ACTIVE
    objects.find_objects_final(lib, user_session)
    assert find(lib, user_session, [(0x7FFF_0000, b"")]) == []  # unknown attributes match nothing


def test_create_secret_and_data_objects(lib: Library, user_session: int):
    key = objects.create_object(
        lib,
        user_session,
        [
            (A.CLASS, ulong(ObjectClass.SECRET_KEY)),
            (A.KEY_TYPE, ulong(KeyType.AES)),
            (A.VALUE, bytes(range(16))),
            (A.ID, b"\x01\x02"),
            (A.SENSITIVE, boolean(False)),
            (A.EXTRACTABLE, boolean(True)),
        ],
    )
    assert attribute(lib, user_session, key, A.VALUE) == bytes(range(16))
    assert attribute(lib, user_session, key, A.ALWAYS_SENSITIVE) == boolean(False)
    assert find(lib, user_session, [(A.ID, b"\x01\x02")]) == [key]
    generic = objects.create_object(
        lib,
        user_session,
        [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET)), (A.VALUE, b"x" * 20)],
    )
    assert attribute(lib, user_session, generic, A.KEY_TYPE) == ulong(KeyType.GENERIC_SECRET)
    data = objects.create_object(
        lib,
        user_session,
        [(A.CLASS, ulong(ObjectClass.DATA)), (A.LABEL, b"d"), (A.VALUE, b"hello"), (A.APPLICATION, b"app")],
    )
    assert attribute(lib, user_session, data, A.VALUE) == b"hello"
    assert attribute(lib, user_session, data, A.APPLICATION) == b"app"
    rv, results = objects.get_attribute_value(lib, user_session, data, [(A.KEY_TYPE, None)])
    assert (rv, results) == (ReturnValue.ATTRIBUTE_TYPE_INVALID, [(UNAVAILABLE_INFORMATION, None)])


@pytest.mark.parametrize(
    ("template", "rv"),
    [
        ([], ReturnValue.TEMPLATE_INCOMPLETE),
        ([(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES))], ReturnValue.TEMPLATE_INCOMPLETE),
        (
            [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES)), (A.VALUE, b"short")],
            ReturnValue.ATTRIBUTE_VALUE_INVALID,
        ),
        ([(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.LOCAL, boolean(True))], ReturnValue.ATTRIBUTE_READ_ONLY),
        ([(A.CLASS, ulong(ObjectClass.DATA)), (A.KEY_TYPE, ulong(0))], ReturnValue.ATTRIBUTE_TYPE_INVALID),
    ],
)
def test_create_object_errors(lib: Library, user_session: int, template, rv):
    assert rv_of(objects.create_object, lib, user_session, template) == rv


def test_generate_key_errors(lib: Library, user_session: int):
    gen = keys.generate_key
    assert rv_of(gen, lib, user_session, Mechanism.AES_ECB, []) == ReturnValue.MECHANISM_INVALID
    assert rv_of(gen, lib, user_session, Mechanism.AES_KEY_GEN, []) == ReturnValue.TEMPLATE_INCOMPLETE
    assert rv_of(gen, lib, user_session, Mechanism.AES_KEY_GEN, [(A.VALUE_LEN, ulong(7))]) == (
        ReturnValue.ATTRIBUTE_VALUE_INVALID
    )
    assert rv_of(
        gen, lib, user_session, Mechanism.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.KEY_TYPE, ulong(KeyType.DES3))]
    ) == (ReturnValue.TEMPLATE_INCONSISTENT)
    assert rv_of(gen, lib, user_session, Mechanism.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.VALUE, b"x")]) == (
        ReturnValue.TEMPLATE_INCONSISTENT
    )
    handle = gen(lib, user_session, Mechanism.GENERIC_SECRET_KEY_GEN, [(A.VALUE_LEN, ulong(20))])
    assert attribute(lib, user_session, handle, A.VALUE_LEN) == ulong(20)


def test_sticky_attributes(lib: Library, user_session: int):
    handle = generate(lib, user_session, "sticky", sensitive=True, extractable=False)
    set_value = objects.set_attribute_value
    assert rv_of(set_value, lib, user_session, handle, [(A.SENSITIVE, boolean(False))]) == (
        ReturnValue.ATTRIBUTE_READ_ONLY
    )
    assert rv_of(set_value, lib, user_session, handle, [(A.EXTRACTABLE, boolean(True))]) == (
        ReturnValue.ATTRIBUTE_READ_ONLY
    )
    assert rv_of(set_value, lib, user_session, handle, [(A.KEY_TYPE, ulong(KeyType.DES3))]) == (
        ReturnValue.ATTRIBUTE_READ_ONLY
    )


def test_random(lib: Library, session: int):
    assert len(rng.generate_random(lib, session, 48)) == 48
    rng.seed_random(lib, session, b"seed")
    assert rv_of(rng.generate_random, lib, 999, 1) == ReturnValue.SESSION_HANDLE_INVALID


def test_set_label_and_usage(lib: Library, user_session: int):
    handle = generate(lib, user_session, "before")
    assert rv_of(objects.set_attribute_value, lib, user_session, handle, [(A.ENCRYPT, boolean(False))]) == (
        ReturnValue.ATTRIBUTE_READ_ONLY  # KMIP fixes the usage mask at creation
    )
    objects.set_attribute_value(lib, user_session, handle, [(A.LABEL, b"after"), (A.ID, b"\x07")])
    assert attribute(lib, user_session, handle, A.LABEL) == b"after"
    assert attribute(lib, user_session, handle, A.ID) == b"\x07"
    assert find(lib, user_session, [(A.LABEL, b"after")]) == [handle]
    objects.set_attribute_value(lib, user_session, handle, [(A.SENSITIVE, boolean(True))])  # no change: fine
