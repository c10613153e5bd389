"""The second call of a length query answered by the C entry point (c_shim/shim.c's kept outputs): a Python host
drives the built library through its exported C functions (cffi, ABI mode) and counts the calls that reach the
provider, so each case shows both the answer and whether Python was entered. The provider's side of it (taking the
copy back, forgetting it) is tests/provider/test_kept_outputs.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.c_shim._host import run_host

pytestmark = [pytest.mark.shim, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    r"""
    OK, TOO_SMALL, NOT_INITIALIZED, HANDLE_INVALID, CRYPTOKI_NOT_INITIALIZED = 0, 0x150, 0x91, 0xB3, 0x190

    from provider import ciphers, signatures  # the modules the library's callbacks call (this interpreter's)

    entered = []
    for module, name in ((ciphers, "encrypt"), (ciphers, "decrypt"), (signatures, "sign")):
        def counting(*args, _real=getattr(module, name), _name=name):
            entered.append((_name, args[3]))
            return _real(*args)
        setattr(module, name, counting)

    session = open_session()
    check(L.C_Login(session, 1, b"1234", 4), OK, "C_Login")
    true, klass, length = ffi.new("unsigned char *", 1), ffi.new("CK_ULONG *", 4), ffi.new("CK_ULONG *", 32)
    template = ffi.new("ATTR[5]", [(0, klass, 8), (0x161, length, 8), (0x104, true, 1), (0x105, true, 1),
                                    (0x108, true, 1)])
    key = ffi.new("CK_ULONG *")
    check(L.C_GenerateKey(session, ffi.new("MECH *", (0x1080, ffi.NULL, 0)), template, 5, key), OK, "keygen")
    key = key[0]
    iv = ffi.new("char[16]", b"\x01" * 16)
    cbc = ffi.new("MECH *", (0x1085, iv, 16))  # CKM_AES_CBC_PAD
    cmac = ffi.new("MECH *", (0x108A, ffi.NULL, 0))  # CKM_AES_CMAC
    data = b"thirty-nine bytes of data to encrypt..."

    def call(function, handle, source, out_size):
        # out_size None: a length query; returns (rv, bytes written, length reported). A new input buffer each
        # time: the entry point compares bytes, not addresses.
        length = ffi.new("CK_ULONG *", 0 if out_size is None else out_size)
        out = ffi.NULL if out_size is None else ffi.new("unsigned char[]", max(out_size, 1))
        rv = function(handle, ffi.from_buffer("unsigned char[]", bytearray(source)), len(source), out, length)
        written = b"" if out_size is None or rv != OK else bytes(ffi.buffer(out, length[0]))
        return rv, written, length[0]

    def encrypt_once(handle, source):
        check(L.C_EncryptInit(handle, cbc, key), OK, "C_EncryptInit")
        rv, _, needed = call(L.C_Encrypt, handle, source, None)
        check(rv, OK, "length query")
        return needed

    # same input: the second call is answered without Python, and the operation ends
    needed = encrypt_once(session, data)
    del entered[:]
    rv, sealed, got = call(L.C_Encrypt, session, data, 64)
    check(rv, OK, "second call")
    assert got == needed == 48 and len(sealed) == 48, (got, needed)
    assert entered == [], entered
    check(call(L.C_Encrypt, session, data, 64)[0], NOT_INITIALIZED, "the operation ended")
    assert entered == [("encrypt", 64)], entered
    # the answer is the provider's: it decrypts (and Decrypt's own second call is served too)
    check(L.C_DecryptInit(session, cbc, key), OK, "C_DecryptInit")
    del entered[:]
    check(call(L.C_Decrypt, session, sealed, None)[0], OK, "decrypt length query")
    rv, plain, _ = call(L.C_Decrypt, session, sealed, 64)
    check(rv, OK, "decrypt")
    assert plain == data and entered == [("decrypt", None)], (plain, entered)
    # a new C_EncryptInit learns the operation ended there (Python takes the copy back)
    encrypt_once(session, data)
    check(L.C_EncryptInit(session, cbc, key), 0x90, "still active: the copy was not handed over")

    # different input: Python answers, for that input
    other = b"other data"
    del entered[:]
    rv, sealed_other, _ = call(L.C_Encrypt, session, other, 64)
    check(rv, OK, "different input")
    assert entered == [("encrypt", 64)] and len(sealed_other) == 16, entered

    # too small a buffer: CKR_BUFFER_TOO_SMALL with the length, the operation still active, then served
    encrypt_once(session, data)
    del entered[:]
    rv, _, got = call(L.C_Encrypt, session, data, 8)
    check(rv, TOO_SMALL, "too small")
    assert got == 48 and entered == [("encrypt", 8)], (got, entered)
    rv, again, _ = call(L.C_Encrypt, session, data, 48)
    check(rv, OK, "after too small")
    assert again == sealed and entered == [("encrypt", 8)], entered

    # C_SessionCancel, C_Logout: the operation ended in Python; the entry point must not answer
    encrypt_once(session, data)
    check(L.C_SessionCancel(session, 0), OK, "C_SessionCancel")
    check(call(L.C_Encrypt, session, data, 64)[0], NOT_INITIALIZED, "after C_SessionCancel")
    encrypt_once(session, data)
    check(L.C_Logout(session), OK, "C_Logout")
    check(call(L.C_Encrypt, session, data, 64)[0], NOT_INITIALIZED, "after C_Logout")
    check(L.C_Login(session, 1, b"1234", 4), OK, "C_Login again")

    # another session, and another thread: the copy belongs to its session, whichever thread calls
    second = open_session()
    encrypt_once(session, data)
    results = {}
    def on_second():
        results["second"] = call(L.C_Encrypt, second, data, 64)[0]
    def on_first():
        results["first"] = call(L.C_Encrypt, session, data, 64)
    for target in (on_second, on_first):
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    check(results["second"], NOT_INITIALIZED, "another session")
    check(results["first"][0], OK, "from another thread")
    assert results["first"][1] == sealed

    # C_Sign (CMAC), whose second call is served the same way
    check(L.C_SignInit(session, cmac, key), OK, "C_SignInit")
    del entered[:]
    check(call(L.C_Sign, session, data, None)[0], OK, "sign length query")
    rv, mac, _ = call(L.C_Sign, session, data, 16)
    check(rv, OK, "sign")
    assert len(mac) == 16 and entered == [("sign", None)], entered
    check(L.C_SignInit(session, cmac, key), OK, "C_SignInit again")
    check(call(L.C_Sign, session, data, 16)[0], OK, "sign in one call")
    assert entered[-1] == ("sign", 16)

    # a closed session: its copy is gone with it
    encrypt_once(second, data)
    check(L.C_CloseSession(second), OK, "C_CloseSession")
    check(call(L.C_Encrypt, second, data, 64)[0], HANDLE_INVALID, "closed session")

    # fork: the child's library must be initialised again; the parent's copy is not the child's
    encrypt_once(session, data)
    pid = os.fork()
    if pid == 0:
        os._exit(0 if call(L.C_Encrypt, session, data, 64)[0] == CRYPTOKI_NOT_INITIALIZED else 1)
    assert os.waitpid(pid, 0)[1] == 0, "the child was answered from the parent's copy"
    check(call(L.C_Encrypt, session, data, 64)[0], OK, "the parent's copy")

    # C_Finalize forgets everything; a new library instance starts clean
    encrypt_once(session, data)
    check(L.C_Finalize(ffi.NULL), OK, "C_Finalize")
    check(call(L.C_Encrypt, session, data, 64)[0], CRYPTOKI_NOT_INITIALIZED, "after C_Finalize")
    print("kept outputs ok")
    """
)


def test_the_second_call_is_answered_by_the_entry_point_only_when_it_may_be(library: Path, tmp_path: Path) -> None:
    run_host(library, tmp_path, SCRIPT, "kept outputs ok")
