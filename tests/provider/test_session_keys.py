"""Session secret keys held in the provider's memory (``provider.session_objects``): the same PKCS#11 attributes
as a key made in an engine, the same results, and nothing in any store."""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kms_backend.store.base import LocateQuery
from provider import ciphers, general, keys, objects, sessions, signatures
from provider.attributes import CLASS_ATTRIBUTES
from provider.backends.memory import MemoryBackend
from provider.constants import Attribute, KeyType, Mechanism, ObjectClass, ReturnValue, UserType
from provider.library import Library
from provider.mechanisms import GcmParams
from provider.slots import SLOT_ID

from .conftest import RW, USER_PIN, make_config
from .test_library import attribute, boolean, find, rv_of, ulong

A = Attribute
M = Mechanism
RO = 0x4  # CKF_SERIAL_SESSION only
PLAIN = [(A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))]
#: Attributes that differ between a session and a token key by construction (CKA_VALUE: fresh material each).
_OWN = {A.TOKEN, A.UNIQUE_ID, A.VALUE}


def _store_uids(backend: object) -> list[str]:
    with backend.store.transaction() as tx:  # type: ignore[attr-defined]
        return [str(uid) for uid in tx.locate(LocateQuery())]


def _all_attributes(lib: Library, session: int, handle: int) -> dict[Attribute, bytes | None]:
    return {a: attribute(lib, session, handle, a) for a in sorted(CLASS_ATTRIBUTES[ObjectClass.SECRET_KEY])}


TEMPLATES = [
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(32))]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN, (A.LABEL, b"k"), (A.ID, b"\x01\x02")]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(24)), (A.ENCRYPT, boolean(False)), (A.WRAP, boolean(True))]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.EXTRACTABLE, boolean(True)), (A.DERIVE, boolean(True))]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.PRIVATE, boolean(False)), (A.MODIFIABLE, boolean(False))]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.COPYABLE, boolean(False)), (A.DESTROYABLE, boolean(False))]),
    (M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.START_DATE, b"20260101"), (A.END_DATE, b"20301231")]),
    (M.GENERIC_SECRET_KEY_GEN, [(A.VALUE_LEN, ulong(20)), (A.SIGN, boolean(True)), (A.VERIFY, boolean(True))]),
    (M.DES2_KEY_GEN, [(A.SENSITIVE, boolean(False))]),
    (M.DES3_KEY_GEN, [(A.SIGN_RECOVER, boolean(True)), (A.TRUSTED, boolean(False))]),
]


@pytest.mark.parametrize(("mechanism", "template"), TEMPLATES)
def test_held_key_shows_what_an_engine_key_shows(lib: Library, user_session: int, mechanism, template):
    """Every attribute of a held key is what the KMIP mapping shows for the same key made in the KMS (CKA_TOKEN
    and CKA_UNIQUE_ID aside), before and after C_SetAttributeValue."""
    held = keys.generate_key(lib, user_session, mechanism, template)
    engine = keys.generate_key(lib, user_session, mechanism, [*template, (A.TOKEN, boolean(True))])
    assert lib.handles.uid(held) in lib.held
    ours, theirs = _all_attributes(lib, user_session, held), _all_attributes(lib, user_session, engine)
    assert {a: v for a, v in ours.items() if a not in _OWN} == {a: v for a, v in theirs.items() if a not in _OWN}
    assert ours[A.TOKEN] == boolean(False) and theirs[A.TOKEN] == boolean(True)
    assert ours[A.UNIQUE_ID] == lib.handles.uid(held).encode()
    assert ours[A.VALUE_LEN] is not None and ours[A.ALWAYS_SENSITIVE] is not None
    assert (ours[A.VALUE] is None) == (theirs[A.VALUE] is None)
    if ours[A.VALUE] is not None:
        assert len(ours[A.VALUE]) == len(theirs[A.VALUE]) == int.from_bytes(ours[A.VALUE_LEN], "little")
    if ours[A.MODIFIABLE] == boolean(True):
        change = [(A.LABEL, b"renamed"), (A.SENSITIVE, boolean(True)), (A.EXTRACTABLE, boolean(False))]
        change += [(A.ID, b""), (A.END_DATE, b"20991231"), (A.WRAP_WITH_TRUSTED, boolean(True))]
        for handle in (held, engine):
            objects.set_attribute_value(lib, user_session, handle, change)
        ours, theirs = _all_attributes(lib, user_session, held), _all_attributes(lib, user_session, engine)
        assert {a: v for a, v in ours.items() if a not in _OWN} == {a: v for a, v in theirs.items() if a not in _OWN}
        assert ours[A.LABEL] == b"renamed" and ours[A.VALUE] is None  # now sensitive


def test_session_keygen_reaches_no_store(lib: Library, user_session: int):
    read_only = sessions.open_session(lib, SLOT_ID, RO)  # R/O sessions may make session objects (§5.6.1)
    key = keys.generate_key(lib, read_only, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(32)), *PLAIN])
    value = attribute(lib, read_only, key, A.VALUE)
    assert value is not None and len(value) == 32
    assert _store_uids(lib.backend) == []  # not in the KMS
    assert lib.session_backend is None  # not even in the session-object engine
    iv = os.urandom(16)
    ciphers.encrypt_init(lib, read_only, M.AES_CBC_PAD, iv, key)
    sealed = ciphers.encrypt(lib, read_only, b"secret", 64)
    padder = sym_padding.PKCS7(128).padder()
    clear = padder.update(b"secret") + padder.finalize()
    assert sealed == Cipher(algorithms.AES(value), modes.CBC(iv)).encryptor().update(clear)
    ciphers.decrypt_init(lib, read_only, M.AES_CBC_PAD, iv, key)
    assert ciphers.decrypt(lib, read_only, sealed, 64) == b"secret"
    assert lib.session_backend is None  # single-part use needs no engine either


def test_held_key_vanishes_with_its_session_and_at_finalize(lib: Library, user_session: int):
    other = sessions.open_session(lib, SLOT_ID, RW)
    key = keys.generate_key(lib, other, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.LABEL, b"gone")])
    assert find(lib, user_session, [(A.LABEL, b"gone")]) == [key]  # seen from every session of the application
    sessions.close_session(lib, other)
    assert not lib.held and not lib.session_objects
    assert (
        rv_of(objects.get_attribute_value, lib, user_session, key, [(A.CLASS, 8)]) == ReturnValue.OBJECT_HANDLE_INVALID
    )
    assert find(lib, user_session, [(A.LABEL, b"gone")]) == []
    keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])
    sessions.close_all_sessions(lib, SLOT_ID)
    assert not lib.held
    session = sessions.open_session(lib, SLOT_ID, RW)
    keys.generate_key(lib, session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.PRIVATE, boolean(False))])
    general.finalize(lib, False)
    assert not lib.held


class _Shared:
    """Another application's view of the same KMS (closing it leaves the KMS open)."""

    def __init__(self, backend: object) -> None:
        self.backend = backend

    def run(self, operation, payload, identity):
        return self.backend.run(operation, payload, identity)  # type: ignore[attr-defined]

    def close(self) -> None:
        pass


def test_held_key_is_not_seen_by_another_application(tmp_path: Path, lib: Library, user_session: int):
    key = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.LABEL, b"mine")])
    shared = _Shared(lib.backend)  # a second application on the same KMS
    config = make_config(tmp_path / "other.yaml")
    other = Library(environ={}, config_loader=lambda _env: config, backend_factory=lambda _cfg: shared)
    general.initialize(other, None)
    try:
        session = sessions.open_session(other, SLOT_ID, RW)
        sessions.login(other, session, UserType.USER, USER_PIN)
        assert find(other, session, [(A.LABEL, b"mine")]) == []
        assert find(other, session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == []
        assert (
            rv_of(objects.get_attribute_value, other, session, key, [(A.CLASS, 8)]) == ReturnValue.OBJECT_HANDLE_INVALID
        )
    finally:
        general.finalize(other, False)
    assert find(lib, user_session, [(A.LABEL, b"mine")]) == [key]


def test_private_held_key_needs_the_user(lib: Library, session: int):
    assert rv_of(keys.generate_key, lib, session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))]) == (
        ReturnValue.USER_NOT_LOGGED_IN
    )
    public = keys.generate_key(lib, session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.PRIVATE, boolean(False))])
    sessions.login(lib, session, UserType.USER, USER_PIN)
    private = keys.generate_key(lib, session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])
    assert find(lib, session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == [public, private]
    other = sessions.open_session(lib, SLOT_ID, RW)  # keeps the application's objects past the logout
    sessions.logout(lib, session)
    assert find(lib, session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == [public]
    assert rv_of(objects.get_attribute_value, lib, other, private, [(A.CLASS, 8)]) == ReturnValue.OBJECT_HANDLE_INVALID
    assert rv_of(objects.destroy_object, lib, other, private) == ReturnValue.OBJECT_HANDLE_INVALID


def test_held_key_finds_by_value_label_and_id(lib: Library, user_session: int):
    key = keys.generate_key(
        lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN, (A.LABEL, b"l"), (A.ID, b"i")]
    )
    sensitive = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.LABEL, b"l")])
    value = attribute(lib, user_session, key, A.VALUE)
    assert find(lib, user_session, [(A.LABEL, b"l")]) == [key, sensitive]
    assert find(lib, user_session, [(A.ID, b"i")]) == [key]
    assert find(lib, user_session, [(A.VALUE, value)]) == [key]
    assert find(lib, user_session, [(A.KEY_TYPE, ulong(KeyType.AES)), (A.SENSITIVE, boolean(True))]) == [sensitive]
    assert find(lib, user_session, [(A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET))]) == []


def test_held_key_macs_and_streams_as_the_engine_does(lib: Library, user_session: int):
    template = [(A.VALUE_LEN, ulong(32)), *PLAIN, (A.SIGN, boolean(True)), (A.VERIFY, boolean(True))]
    secret = keys.generate_key(lib, user_session, M.GENERIC_SECRET_KEY_GEN, template)
    raw = attribute(lib, user_session, secret, A.VALUE)
    assert raw is not None
    signatures.sign_init(lib, user_session, M.SHA256_HMAC, None, secret)
    mac = signatures.sign(lib, user_session, b"message", 64)
    assert mac == hmac.digest(raw, b"message", "sha256")
    signatures.verify_init(lib, user_session, M.SHA256_HMAC, None, secret)
    signatures.verify(lib, user_session, b"message", mac)
    signatures.verify_init(lib, user_session, M.SHA256_HMAC, None, secret)
    assert rv_of(signatures.verify, lib, user_session, b"massage", mac) == ReturnValue.SIGNATURE_INVALID
    aes = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN])
    parameter = GcmParams(os.urandom(12), b"aad", 128)
    ciphers.encrypt_init(lib, user_session, M.AES_GCM, parameter, aes)
    sealed = ciphers.encrypt_update(lib, user_session, b"part one, ", 64)
    sealed += ciphers.encrypt_update(lib, user_session, b"part two", 64)
    sealed += ciphers.encrypt_final(lib, user_session, 64)  # a KMIP stream on the key's mirror
    ciphers.decrypt_init(lib, user_session, M.AES_GCM, parameter, aes)
    assert ciphers.decrypt(lib, user_session, sealed, 64) == b"part one, part two"  # answered by the holder
    ciphers.decrypt_init(lib, user_session, M.AES_GCM, parameter, aes)
    bad = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert rv_of(ciphers.decrypt, lib, user_session, bad, 64) == ReturnValue.ENCRYPTED_DATA_INVALID
    ciphers.encrypt_init(lib, user_session, M.AES_CBC, os.urandom(16), aes)
    assert rv_of(ciphers.encrypt, lib, user_session, b"not a block", 64) == ReturnValue.DATA_LEN_RANGE


def test_held_key_keeps_its_plan_until_its_attributes_change(lib: Library, user_session: int):
    """C_EncryptInit on a held key reuses the Plan kept for its mechanism's parameters (one per parameters and
    operation), and the results stay right; C_SetAttributeValue drops the Plans, and the next use prepares them
    again."""
    aes = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN])
    raw = attribute(lib, user_session, aes, A.VALUE)
    assert raw is not None
    key = lib.held.get(lib.handles.uid(aes))
    assert key is not None and key.prepared == ()

    def cbc_pad(iv: bytes, data: bytes) -> bytes:
        ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, aes)
        return ciphers.encrypt(lib, user_session, data, 64)

    def expected(iv: bytes, data: bytes) -> bytes:
        padder = sym_padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
        return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()

    iv1, iv2 = os.urandom(16), os.urandom(16)
    assert cbc_pad(iv1, b"first") == expected(iv1, b"first")
    plan = lib.session(user_session).operations.get(ciphers.ENCRYPT)
    assert plan is None and len(key.prepared) == 1  # the operation ended; its Plan is kept on the key
    kept = key.prepared[0][3]
    assert cbc_pad(iv2, b"second") == expected(iv2, b"second")
    assert len(key.prepared) == 1 and key.prepared[0][3] is kept  # another IV: the same Plan
    ciphers.decrypt_init(lib, user_session, M.AES_CBC_PAD, iv2, aes)
    assert ciphers.decrypt(lib, user_session, expected(iv2, b"second"), 64) == b"second"
    assert len(key.prepared) == 2  # one Plan per operation
    ciphers.encrypt_init(lib, user_session, M.AES_ECB, None, aes)
    assert len(ciphers.encrypt(lib, user_session, bytes(16), 64)) == 16
    assert len(key.prepared) == 3  # and per parameters
    objects.set_attribute_value(lib, user_session, aes, [(A.LABEL, b"changed")])
    assert key.prepared == ()
    assert cbc_pad(iv1, b"again") == expected(iv1, b"again")
    assert len(key.prepared) == 1 and key.prepared[0][3] is not kept


def test_mirror_follows_the_held_key(lib: Library, user_session: int):
    """Operations only an engine runs use a mirror of the key in the session-object engine: registered when
    needed, dropped when the key's attributes change, destroyed with it; never in the KMS."""
    wrap = [(A.VALUE_LEN, ulong(16)), (A.WRAP, boolean(True)), (A.UNWRAP, boolean(True))]
    kek = keys.generate_key(lib, user_session, M.AES_KEY_GEN, wrap)
    target = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(32)), *PLAIN])
    wrapped = keys.wrap_key(lib, user_session, M.AES_KEY_WRAP, None, wrapping_handle=kek, key_handle=target)
    engine = lib.session_backend
    assert isinstance(engine, MemoryBackend)
    mirrors = {lib.held.get(lib.handles.uid(h)).mirror for h in (kek, target)}  # type: ignore[union-attr]
    assert None not in mirrors and set(_store_uids(engine)) == mirrors
    template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES)), *PLAIN]
    unwrapped = keys.unwrap_key(
        lib, user_session, M.AES_KEY_WRAP, None, unwrapping_handle=kek, wrapped=wrapped, raw_template=template
    )
    assert attribute(lib, user_session, unwrapped, A.VALUE) == attribute(lib, user_session, target, A.VALUE)
    objects.set_attribute_value(lib, user_session, target, [(A.LABEL, b"changed")])
    assert lib.held.get(lib.handles.uid(target)).mirror is None  # type: ignore[union-attr]
    assert len(_store_uids(engine)) == 2  # the kek's mirror and the unwrapped session key
    objects.destroy_object(lib, user_session, kek)
    assert _store_uids(engine) == [lib.handles.uid(unwrapped)]
    assert _store_uids(lib.backend) == []
    token_copy = objects.copy_object(lib, user_session, target, [(A.TOKEN, boolean(True))])
    assert _store_uids(lib.backend) == [lib.handles.uid(token_copy)]  # a token copy is a KMS object
    assert attribute(lib, user_session, token_copy, A.VALUE) == attribute(lib, user_session, target, A.VALUE)
    assert attribute(lib, user_session, token_copy, A.LABEL) == b"changed"
    session_copy = objects.copy_object(lib, user_session, target, [(A.LABEL, b"twin")])
    assert lib.handles.uid(session_copy) in lib.held
    assert attribute(lib, user_session, session_copy, A.VALUE) == attribute(lib, user_session, target, A.VALUE)
    assert attribute(lib, user_session, session_copy, A.LOCAL) == boolean(True)


def test_forked_child_drops_the_parents_held_keys(lib: Library, user_session: int):
    keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.LABEL, b"parent")])
    lib.pid = -1  # as in a forked child, which must call C_Initialize again (§5.4.1)
    general.initialize(lib, None)
    assert not lib.held and not lib.session_objects
    session = sessions.open_session(lib, SLOT_ID, RW)
    sessions.login(lib, session, UserType.USER, USER_PIN)
    assert find(lib, session, [(A.LABEL, b"parent")]) == []


CREATED = [
    (KeyType.AES, os.urandom(16), [*PLAIN, (A.LABEL, b"imported")]),
    (KeyType.AES, os.urandom(32), [(A.ENCRYPT, boolean(True)), (A.ID, b"x")]),
    (KeyType.DES3, os.urandom(16), []),  # two keys: shown as CKK_DES2, as the KMIP mapping does
    (KeyType.DES3, os.urandom(24), [(A.SENSITIVE, boolean(True))]),
    (KeyType.GENERIC_SECRET, os.urandom(5), [(A.SIGN, boolean(True)), *PLAIN]),
    (KeyType.SHA256_HMAC, os.urandom(40), [(A.VERIFY, boolean(True))]),
]


@pytest.mark.parametrize(("key_type", "value", "extra"), CREATED)
def test_created_session_key_is_held_and_shows_what_an_engine_key_shows(
    lib: Library, user_session: int, key_type, value, extra
):
    template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(key_type)), (A.VALUE, value), *extra]
    held = objects.create_object(lib, user_session, template)
    engine = objects.create_object(lib, user_session, [*template, (A.TOKEN, boolean(True))])
    assert lib.handles.uid(held) in lib.held
    ours, theirs = _all_attributes(lib, user_session, held), _all_attributes(lib, user_session, engine)
    assert {a: v for a, v in ours.items() if a not in _OWN} == {a: v for a, v in theirs.items() if a not in _OWN}
    assert ours[A.VALUE] == theirs[A.VALUE]  # the same material here
    assert ours[A.LOCAL] == boolean(False) and ours[A.ALWAYS_SENSITIVE] == boolean(False)
    assert len(_store_uids(lib.backend)) == 1 and lib.session_backend is None


def test_created_session_key_is_refused_as_the_kms_refuses_it(lib: Library, user_session: int):
    for key_type, value in ((KeyType.DES3, os.urandom(10)), (KeyType.AES, os.urandom(17)), (KeyType.AES, b"")):
        template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(key_type)), (A.VALUE, value)]
        ours = rv_of(objects.create_object, lib, user_session, template)
        theirs = rv_of(objects.create_object, lib, user_session, [*template, (A.TOKEN, boolean(True))])
        assert ours == theirs and ours != ReturnValue.OK
    assert not lib.held and _store_uids(lib.backend) == []


def _decision(lib: Library, session: int) -> object:
    return lib.session(session).inits.get(ciphers.ENCRYPT)


def test_repeated_init_keeps_its_decision_until_the_held_key_changes(lib: Library, user_session: int):
    """The same C_EncryptInit again (same key, mechanism and parameter) is checked against the kept decision instead
    of decided again; any change of the held key (C_SetAttributeValue, C_DestroyObject) ends that decision, and the
    next C_EncryptInit answers as a first one would."""
    aes = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN])
    other = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), *PLAIN])
    raws = {handle: attribute(lib, user_session, handle, A.VALUE) for handle in (aes, other)}

    def cbc_pad(key: int, iv: bytes, data: bytes) -> bytes:
        ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, iv, key)
        return ciphers.encrypt(lib, user_session, data, 64)

    def expected(key: int, iv: bytes, data: bytes) -> bytes:
        raw = raws[key]
        assert raw is not None
        padder = sym_padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(raw), modes.CBC(iv)).encryptor()
        return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()

    iv1, iv2 = os.urandom(16), os.urandom(16)
    assert cbc_pad(aes, iv1, b"first") == expected(aes, iv1, b"first")
    kept = _decision(lib, user_session)
    assert kept is not None
    assert cbc_pad(aes, iv1, b"second") == expected(aes, iv1, b"second")
    assert _decision(lib, user_session) is kept  # checked, not decided again
    for key, iv in ((aes, iv2), (other, iv2), (aes, iv1)):  # another parameter or key: decided anew, right results
        assert cbc_pad(key, iv, b"third") == expected(key, iv, b"third")
        assert _decision(lib, user_session) is not kept
        kept = _decision(lib, user_session)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC, iv1, aes)  # another mechanism
    assert ciphers.encrypt(lib, user_session, bytes(16), 64) == expected(aes, iv1, bytes(16))[:16]
    assert _decision(lib, user_session) is not kept
    assert cbc_pad(aes, iv1, b"x") == expected(aes, iv1, b"x")
    kept = _decision(lib, user_session)
    objects.set_attribute_value(lib, user_session, aes, [(A.LABEL, b"changed")])  # CKA_ENCRYPT is not modifiable
    assert cbc_pad(aes, iv1, b"y") == expected(aes, iv1, b"y")
    assert _decision(lib, user_session) is not kept
    kept = _decision(lib, user_session)
    assert cbc_pad(aes, iv1, b"y") == expected(aes, iv1, b"y")
    assert _decision(lib, user_session) is kept
    objects.destroy_object(lib, user_session, aes)
    assert _decision(lib, user_session) is None  # nothing keeps the destroyed key's cipher reachable
    lib.session(user_session).inits[ciphers.ENCRYPT] = kept  # and a decision kept anyway is not current
    assert rv_of(ciphers.encrypt_init, lib, user_session, M.AES_CBC_PAD, iv1, aes) == ReturnValue.KEY_HANDLE_INVALID
    assert ciphers.ENCRYPT not in lib.session(user_session).operations


def test_repeated_init_on_a_private_held_key_is_refused_after_logout(lib: Library, user_session: int):
    """A kept decision holds for the login state it was made in: after C_Logout a private key is not visible,
    and the same C_EncryptInit is refused as a first one would be; after C_Login again it is decided anew."""
    key = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])
    other = sessions.open_session(lib, SLOT_ID, RW)  # keeps the application's objects past the logout
    iv = os.urandom(16)
    for _ in range(2):
        ciphers.encrypt_init(lib, other, M.AES_CBC_PAD, iv, key)
        assert len(ciphers.encrypt(lib, other, b"data", 64)) == 16
    kept = _decision(lib, other)
    assert kept is not None
    sessions.logout(lib, user_session)
    assert _decision(lib, other) is None  # C_Logout forgets the kept decisions
    assert rv_of(ciphers.encrypt_init, lib, other, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_HANDLE_INVALID
    lib.session(other).inits[ciphers.ENCRYPT] = kept  # and one kept anyway holds for its login state only
    assert rv_of(ciphers.encrypt_init, lib, other, M.AES_CBC_PAD, iv, key) == ReturnValue.KEY_HANDLE_INVALID
    sessions.login(lib, other, UserType.USER, USER_PIN)
    ciphers.encrypt_init(lib, other, M.AES_CBC_PAD, iv, key)
    assert len(ciphers.encrypt(lib, other, b"data", 64)) == 16
