"""What the tests that drive the built library from a Python host share: the script's start (cffi in ABI mode over
the C functions they call, ``check``, C_Initialize, ``open_session``) and running a script against a fresh token."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: The start of a host script: ``L`` is the library (argv[1]), initialised; ``check(rv, want, what)`` fails the
#: script with a message; ``open_session()`` opens a R/W session. The test's own part follows it.
PRELUDE = textwrap.dedent(
    r"""
    import os, sys, threading
    import cffi

    ffi = cffi.FFI()
    ffi.cdef('''
        typedef unsigned long CK_ULONG;
        typedef struct { CK_ULONG mechanism; void *p; CK_ULONG len; } MECH;
        typedef struct { CK_ULONG type; void *p; CK_ULONG len; } ATTR;
        CK_ULONG C_Initialize(void *);
        CK_ULONG C_Finalize(void *);
        CK_ULONG C_OpenSession(CK_ULONG, CK_ULONG, void *, void *, CK_ULONG *);
        CK_ULONG C_CloseSession(CK_ULONG);
        CK_ULONG C_SessionCancel(CK_ULONG, CK_ULONG);
        CK_ULONG C_Login(CK_ULONG, CK_ULONG, char *, CK_ULONG);
        CK_ULONG C_Logout(CK_ULONG);
        CK_ULONG C_GenerateKey(CK_ULONG, MECH *, ATTR *, CK_ULONG, CK_ULONG *);
        CK_ULONG C_GetAttributeValue(CK_ULONG, CK_ULONG, ATTR *, CK_ULONG);
        CK_ULONG C_SetAttributeValue(CK_ULONG, CK_ULONG, ATTR *, CK_ULONG);
        CK_ULONG C_DestroyObject(CK_ULONG, CK_ULONG);
        CK_ULONG C_EncryptInit(CK_ULONG, MECH *, CK_ULONG);
        CK_ULONG C_Encrypt(CK_ULONG, unsigned char *, CK_ULONG, unsigned char *, CK_ULONG *);
        CK_ULONG C_DecryptInit(CK_ULONG, MECH *, CK_ULONG);
        CK_ULONG C_Decrypt(CK_ULONG, unsigned char *, CK_ULONG, unsigned char *, CK_ULONG *);
        CK_ULONG C_SignInit(CK_ULONG, MECH *, CK_ULONG);
        CK_ULONG C_Sign(CK_ULONG, unsigned char *, CK_ULONG, unsigned char *, CK_ULONG *);
    ''')
    L = ffi.dlopen(sys.argv[1])

    def check(rv, want, what):
        if rv != want:
            raise SystemExit(f"FAIL {what}: 0x{rv:x}, want 0x{want:x}")

    check(L.C_Initialize(ffi.NULL), 0, "C_Initialize")

    def open_session():
        handle = ffi.new("CK_ULONG *")
        check(L.C_OpenSession(1, 6, ffi.NULL, ffi.NULL, handle), 0, "C_OpenSession")
        return handle[0]
    """
)


def run_host(library: Path, tmp_path: Path, script: str, done: str) -> None:
    """Run ``PRELUDE`` + ``script`` in a host process loading ``library``, on a fresh token (user PIN 1234), and
    require that it ends well and prints ``done``."""
    subprocess.run(
        [sys.executable, "-m", "kms_backend.cli", "pkcs11", "init", "--dir", str(tmp_path / "token"),
         "--pin", "1234", "--so-pin", "5678"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(tmp_path / "token" / "pkcs11.yaml")
    path = tmp_path / "drive.py"
    path.write_text(PRELUDE + script)
    result = subprocess.run(
        [sys.executable, str(path), str(library)], env=env, cwd="/", capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0 and done in result.stdout, result.stdout + result.stderr
