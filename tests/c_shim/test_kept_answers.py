"""The second call of a C_GetAttributeValue length query answered by the C entry point (c_shim/shim.c's kept
answers): a Python host drives the built library through its exported C functions (cffi, ABI mode) and counts the
calls that reach the provider, so each case shows both the answer and whether Python was entered. Only a key the
library holds in memory is answered this way, and any change that could alter the answer (C_SetAttributeValue,
C_DestroyObject, closing a session, C_Logout, C_Finalize, a fork) makes the next call go to the provider."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.c_shim._host import run_host

pytestmark = [pytest.mark.shim, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    r"""
    OK, TYPE_INVALID, TOO_SMALL, OBJECT_INVALID, SESSION_INVALID, NOT_INITIALIZED = 0, 0x12, 0x150, 0x82, 0xB3, 0x190
    UNAVAILABLE = 2**64 - 1
    CLASS, TOKEN, PRIVATE, LABEL, KEY_TYPE, ENCRYPT, SIGN, MODULUS = 0, 1, 2, 3, 0x100, 0x104, 0x108, 0x120

    from provider import objects  # the module the library's callbacks call (this interpreter's)

    entered = []
    for name in ("get_attribute_value", "length_query"):
        def counting(*args, _real=getattr(objects, name), _name=name):
            entered.append(_name)
            return _real(*args)
        setattr(objects, name, counting)

    def generate(session, label, token=False, private=False):
        flag = lambda value: ffi.new("unsigned char *", int(value))
        keep = [ffi.new("CK_ULONG *", 4), ffi.new("CK_ULONG *", 32), flag(token), flag(private), flag(True),
                ffi.new("char[]", label)]
        template = ffi.new("ATTR[6]", [(CLASS, keep[0], 8), (0x161, keep[1], 8), (TOKEN, keep[2], 1),
                                        (PRIVATE, keep[3], 1), (ENCRYPT, keep[4], 1), (LABEL, keep[5], len(label))])
        key = ffi.new("CK_ULONG *")
        check(L.C_GenerateKey(session, ffi.new("MECH *", (0x1080, ffi.NULL, 0)), template, 6, key), OK, "keygen")
        return key[0]

    def query(session, key, types):
        # the length query: (rv, lengths)
        template = ffi.new("ATTR[]", [(kind, ffi.NULL, 0) for kind in types])
        rv = L.C_GetAttributeValue(session, key, template, len(types))
        return rv, [template[i].len for i in range(len(types))]

    def read(session, key, types, sizes):
        # a call with buffers (None: a NULL pValue): (rv, [value or length])
        buffers = [None if size is None else ffi.new("unsigned char[]", max(size, 1)) for size in sizes]
        template = ffi.new("ATTR[]", [(kind, ffi.NULL if b is None else b, 0 if s is None else s)
                                      for kind, b, s in zip(types, buffers, sizes)])
        rv = L.C_GetAttributeValue(session, key, template, len(types))
        out = []
        for i, b in enumerate(buffers):
            length = template[i].len
            out.append(length if b is None or length == UNAVAILABLE else bytes(ffi.buffer(b, length)))
        return rv, out

    def two_calls(session, key, types):
        # python-pkcs11's idiom: the length query, then the attributes that had a length, in order
        rv, lengths = query(session, key, types)
        available = [(kind, length) for kind, length in zip(types, lengths) if length != UNAVAILABLE]
        return rv, read(session, key, [k for k, _ in available], [n for _, n in available])

    session = open_session()
    check(L.C_Login(session, 1, b"1234", 4), OK, "C_Login")
    key = generate(session, b"held")
    asked = [CLASS, TOKEN, LABEL, KEY_TYPE, MODULUS, ENCRYPT, SIGN]  # CKA_MODULUS: not a secret key's

    # the second call is answered by the entry point, with what the provider answers
    del entered[:]
    rv, (rv2, values) = two_calls(session, key, asked)
    check(rv, TYPE_INVALID, "length query")
    check(rv2, OK, "second call")
    assert entered == ["length_query"], entered
    rv3, direct = read(session, key, [CLASS, TOKEN, LABEL, KEY_TYPE, ENCRYPT, SIGN], [8, 1, 4, 8, 1, 1])
    check(rv3, OK, "the provider's own answer")
    assert values == direct and values[2] == b"held", (values, direct)
    assert entered == ["length_query", "get_attribute_value"], entered

    # once: the same call again goes to the provider
    query(session, key, [LABEL])
    del entered[:]
    assert read(session, key, [LABEL], [4]) == (OK, [b"held"])
    assert read(session, key, [LABEL], [4]) == (OK, [b"held"])
    assert entered == ["get_attribute_value"], entered

    # not the call it was kept for: another order, too small a buffer, a NULL pValue, another object or session
    other = generate(session, b"other")
    second = open_session()
    for what, call in (
        ("order", lambda: read(session, key, [KEY_TYPE, LABEL], [8, 4])),
        ("too small", lambda: read(session, key, [LABEL, KEY_TYPE], [3, 8])),
        ("NULL pValue", lambda: read(session, key, [LABEL, KEY_TYPE], [4, None])),
        ("object", lambda: read(session, other, [LABEL, KEY_TYPE], [5, 8])),
        ("session", lambda: read(second, key, [LABEL, KEY_TYPE], [4, 8])),
    ):
        query(session, key, [LABEL, KEY_TYPE])
        del entered[:]
        rv, out = call()
        assert entered == ["get_attribute_value"], (what, entered)
        if what == "too small":
            check(rv, TOO_SMALL, what)
        else:
            check(rv, OK, what)

    # changes in between: the provider answers, with the change
    query(session, key, [LABEL])
    label = ffi.new("char[]", b"renamed")
    check(L.C_SetAttributeValue(second, key, ffi.new("ATTR *", (LABEL, label, 7)), 1), OK, "C_SetAttributeValue")
    del entered[:]
    assert read(session, key, [LABEL], [7]) == (OK, [b"renamed"])
    assert entered == ["get_attribute_value"], entered
    query(session, other, [LABEL])
    check(L.C_DestroyObject(second, other), OK, "C_DestroyObject")
    check(read(session, other, [LABEL], [5])[0], OBJECT_INVALID, "destroyed")

    private = generate(session, b"private", private=True)
    query(session, private, [LABEL])
    check(L.C_Logout(session), OK, "C_Logout")
    check(read(session, private, [LABEL], [7])[0], OBJECT_INVALID, "hidden by C_Logout")
    check(L.C_Login(session, 1, b"1234", 4), OK, "C_Login again")
    assert read(session, private, [LABEL], [7]) == (OK, [b"private"])

    third = open_session()
    query(third, key, [LABEL])
    check(L.C_CloseSession(third), OK, "C_CloseSession")
    check(read(third, key, [LABEL], [7])[0], SESSION_INVALID, "closed session")
    mine = generate(second, b"mine")
    query(session, mine, [LABEL])
    check(L.C_CloseSession(second), OK, "C_CloseSession of the key's session")
    check(read(session, mine, [LABEL], [4])[0], OBJECT_INVALID, "destroyed with its session")

    # values computed before a change that lands before they are kept are not kept
    real = objects.length_query
    def racing(lib, *args):
        answer = real(lib, *args)
        lib.attributes_changed()  # as another thread's change would, between the provider's answer and the put
        return answer
    objects.length_query = racing
    query(session, key, [LABEL])
    objects.length_query = real
    del entered[:]
    assert read(session, key, [LABEL], [7]) == (OK, [b"renamed"])
    assert entered == ["get_attribute_value"], entered

    # a token object (another process may change it): always the provider
    token_key = generate(session, b"token", token=True)
    del entered[:]
    rv, (rv2, values) = two_calls(session, token_key, [LABEL, TOKEN])
    check(rv2, OK, "token object")
    assert values == [b"token", b"\x01"] and entered == ["length_query", "get_attribute_value"], (values, entered)

    # another thread: the entry belongs to the session, whichever thread calls
    query(session, key, [LABEL])
    results = {}
    thread = threading.Thread(target=lambda: results.setdefault("read", read(session, key, [LABEL], [7])))
    del entered[:]
    thread.start()
    thread.join()
    assert results["read"] == (OK, [b"renamed"]) and entered == [], (results, entered)

    # fork: the child's library must be initialised again; the parent's entry is not the child's
    query(session, key, [LABEL])
    pid = os.fork()
    if pid == 0:
        os._exit(0 if read(session, key, [LABEL], [7])[0] == NOT_INITIALIZED else 1)
    assert os.waitpid(pid, 0)[1] == 0, "the child was answered from the parent's entry"
    del entered[:]
    assert read(session, key, [LABEL], [7]) == (OK, [b"renamed"]) and entered == [], entered

    # C_Finalize forgets everything
    query(session, key, [LABEL])
    check(L.C_Finalize(ffi.NULL), OK, "C_Finalize")
    check(read(session, key, [LABEL], [7])[0], NOT_INITIALIZED, "after C_Finalize")
    print("kept answers ok")
    """
)


def test_the_second_attribute_call_is_answered_by_the_entry_point_only_when_it_may_be(
    library: Path, tmp_path: Path
) -> None:
    run_host(library, tmp_path, SCRIPT, "kept answers ok")
