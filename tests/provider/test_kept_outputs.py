"""The provider's side of outputs handed over by the entry points (``Library.outputs``; the C table is
c_shim/shim.c, driven end to end by tests/c_shim/test_kept_outputs.py). ``EntryPoint`` is a double of that table
with the entry point's rule: it answers the next call of the kind on the session when the input is the same and
the buffer large enough. The provider must offer only single-part outputs, learn at its next look that a copy was
handed over, and forget the copies of every operation it ends itself."""

from __future__ import annotations

import os

import pytest

from provider import ciphers, digests, general, sessions, signatures
from provider.constants import Mechanism, ReturnValue
from provider.errors import CkError
from provider.library import Library
from provider.slots import SLOT_ID

from .conftest import RW
from .test_crypto import aes_key

M = Mechanism
IV = bytes(range(16))
DATA = b"data of a length query"


class EntryPoint:
    """``KeptOutputs`` with the C entry point's serving rule."""

    def __init__(self) -> None:
        #: (session, kind) -> (input, output, ticket, handed over)
        self.kept: dict[tuple[int, str], tuple[bytes, bytes, int, bool]] = {}
        self.tickets = 0
        #: Tickets of the copies handed over that ``handed_over`` knows (the C table's array: not all of them).
        self.known: set[int] = set()
        #: A hook run inside ``keep``, as another thread could run between two of the provider's steps.
        self.during_keep = None

    def keep(self, session: int, kind: str, data: bytes, output: bytes) -> int:
        if self.during_keep is not None:
            self.during_keep()
        self.tickets += 1
        self.kept[session, kind] = (data, output, self.tickets, False)
        return self.tickets

    def handed_over(self, ticket: int) -> bool:
        return ticket in self.known

    def take(self, session: int, kind: str) -> bool:
        entry = self.kept.pop((session, kind), None)
        return entry is not None and entry[3]

    def forget(self, session: int) -> None:
        for key in [key for key in self.kept if key[0] == session]:
            del self.kept[key]

    def clear(self) -> None:
        self.kept.clear()

    def serve(self, session: int, kind: str, data: bytes, capacity: int, *, known: bool = True) -> bytes | None:
        """What the entry point answers without the provider (None: the call goes to the provider). ``known``
        False: its ticket is not where ``handed_over`` looks (overwritten by later ones), so ``take`` must say."""
        entry = self.kept.get((session, kind))
        if entry is None or entry[3] or entry[0] != data or capacity < len(entry[1]):
            return None
        self.kept[session, kind] = (*entry[:3], True)
        if known:
            self.known.add(entry[2])
        return entry[1]


@pytest.fixture
def entry(lib: Library) -> EntryPoint:
    lib.outputs = entry = EntryPoint()
    return entry


def _length_query(lib: Library, session: int, key: int) -> bytes:
    ciphers.encrypt_init(lib, session, M.AES_CBC_PAD, IV, key)
    return ciphers.encrypt(lib, session, DATA, None)


def test_a_copy_handed_over_ends_the_operation(lib: Library, user_session: int, entry: EntryPoint):
    key = aes_key(lib, user_session)
    sealed = _length_query(lib, user_session, key)
    assert entry.serve(user_session, "encrypt", DATA, 64) == sealed
    with pytest.raises(CkError) as info:
        ciphers.encrypt(lib, user_session, DATA, 64)
    assert info.value.rv == ReturnValue.OPERATION_NOT_INITIALIZED
    assert "encrypt" not in lib.session(user_session).operations
    # and a new C_EncryptInit is not refused as CKR_OPERATION_ACTIVE
    assert _length_query(lib, user_session, key) == sealed
    assert entry.serve(user_session, "encrypt", DATA, 64) == sealed
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)
    assert entry.kept[user_session, "encrypt"][3]  # known handed over: left to be replaced
    assert ciphers.encrypt(lib, user_session, DATA, None) == sealed
    assert not entry.kept[user_session, "encrypt"][3]
    # a copy handed over whose ticket is no longer where ``handed_over`` looks: ``take`` says
    assert entry.serve(user_session, "encrypt", DATA, 64, known=False) == sealed
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)
    assert entry.kept == {}


def test_a_copy_not_handed_over_is_taken_back(lib: Library, user_session: int, entry: EntryPoint):
    key = aes_key(lib, user_session)
    sealed = _length_query(lib, user_session, key)
    with pytest.raises(CkError) as info:  # the operation is still active: the copy is taken back
        ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)
    assert info.value.rv == ReturnValue.OPERATION_ACTIVE and entry.kept == {}
    assert ciphers.encrypt(lib, user_session, DATA, 64) == sealed  # the provider's own kept output
    assert "encrypt" not in lib.session(user_session).operations


def test_different_input_and_too_small_a_buffer(lib: Library, user_session: int, entry: EntryPoint):
    key = aes_key(lib, user_session)
    sealed = _length_query(lib, user_session, key)
    assert entry.serve(user_session, "encrypt", b"other", 64) is None
    assert entry.serve(user_session, "encrypt", DATA, len(sealed) - 1) is None
    # too small: the provider answers (the marshaller says CKR_BUFFER_TOO_SMALL) and offers the copy again
    assert ciphers.encrypt(lib, user_session, DATA, 8) == sealed
    assert entry.serve(user_session, "encrypt", DATA, 64) == sealed
    # a different input: new work for that input, no copy left behind
    _length_query(lib, user_session, key)
    other = ciphers.encrypt(lib, user_session, b"other", 64)
    assert other != sealed and len(other) == 16 and entry.kept == {}


@pytest.mark.parametrize("end", ["cancel", "close", "close_all", "logout", "finalize"])
def test_operations_ended_by_the_provider_forget_their_copies(
    lib: Library, user_session: int, entry: EntryPoint, end: str
):
    key = aes_key(lib, user_session)
    _length_query(lib, user_session, key)
    other = sessions.open_session(lib, SLOT_ID, RW)
    ciphers.encrypt_init(lib, other, M.AES_CBC_PAD, IV, key)
    ciphers.encrypt(lib, other, DATA, None)
    assert set(entry.kept) == {(user_session, "encrypt"), (other, "encrypt")}
    if end == "cancel":
        sessions.session_cancel(lib, user_session)
        assert set(entry.kept) == {(other, "encrypt")}  # the other session's operation goes on
    elif end == "close":
        sessions.close_session(lib, user_session)
        assert set(entry.kept) == {(other, "encrypt")}
    elif end == "close_all":
        sessions.close_all_sessions(lib, SLOT_ID)
        assert entry.kept == {}
    elif end == "logout":
        sessions.logout(lib, user_session)
        assert entry.kept == {}
    else:
        general.finalize(lib, False)
        assert entry.kept == {}


def test_only_single_part_outputs_are_offered(lib: Library, user_session: int, entry: EntryPoint):
    key = aes_key(lib, user_session)
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)
    ciphers.encrypt_update(lib, user_session, DATA, None)
    ciphers.encrypt_update(lib, user_session, DATA, 64)
    ciphers.encrypt_final(lib, user_session, None)  # an Update or Final output is not C_Encrypt's to hand over
    assert entry.kept == {}
    digests.digest_init(lib, user_session, M.SHA256, None)
    digests.digest(lib, user_session, DATA, None)
    assert entry.kept == {}


def test_decrypt_and_sign_offer_theirs(lib: Library, user_session: int, entry: EntryPoint):
    key = aes_key(lib, user_session)
    sealed = _length_query(lib, user_session, key)
    ciphers.encrypt(lib, user_session, DATA, 64)
    ciphers.decrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)
    assert ciphers.decrypt(lib, user_session, sealed, None) == DATA
    assert entry.serve(user_session, "decrypt", sealed, 64) == DATA
    signatures.sign_init(lib, user_session, M.AES_CMAC, None, key)
    mac = signatures.sign(lib, user_session, DATA, None)
    assert entry.serve(user_session, "sign", DATA, 16) == mac
    signatures.sign_init(lib, user_session, M.AES_CMAC, None, key)  # both ended: no CKR_OPERATION_ACTIVE
    ciphers.decrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)


@pytest.mark.parametrize("meanwhile", ["close", "cancel"])
def test_a_copy_kept_while_another_thread_ends_the_operation_is_taken_back(
    lib: Library, user_session: int, entry: EntryPoint, meanwhile: str
):
    """Another thread closes the session or cancels its operations while the copy is being kept (after the
    provider computed the output, before the copy is in the table): the copy must not stay for an entry point to
    serve an operation that has ended."""
    key = aes_key(lib, user_session)
    sessions.open_session(lib, SLOT_ID, RW)  # closing ``user_session`` must not log out
    ciphers.encrypt_init(lib, user_session, M.AES_CBC_PAD, IV, key)

    def other_thread() -> None:
        entry.during_keep = None
        if meanwhile == "close":
            sessions.close_session(lib, user_session)
        else:
            sessions.session_cancel(lib, user_session)

    entry.during_keep = other_thread
    ciphers.encrypt(lib, user_session, os.urandom(20), None)
    assert entry.kept == {}


def test_no_outputs_no_offer(lib: Library, user_session: int):
    """A library without ``outputs`` (tests, the KMS's own provider) keeps its outputs in the operation only."""
    assert lib.outputs is None
    key = aes_key(lib, user_session)
    sealed = _length_query(lib, user_session, key)
    assert ciphers.encrypt(lib, user_session, DATA, 64) == sealed
