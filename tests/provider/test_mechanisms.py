"""The mechanism table (provider/mechanisms/): every row is complete, and every declared C parameter layout is
the one a C compiler gives its declaration and is read correctly from C memory."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from provider.constants import Mechanism, MechanismFlag, ReturnValue
from provider.errors import CkError
from provider.mechanisms import MECHANISMS, PARAMETER_LAYOUTS, CStruct, GcmParams, OaepParams
from provider.mechanisms.aes import GCM_PARAMS, GCM_PARAMS_V240
from provider.mechanisms.rsa import OAEP_PARAMS

F = MechanismFlag
LAYOUTS = sorted({layout.name: layout for by_size in PARAMETER_LAYOUTS.values() for layout in by_size.values()}.items())
# What the declarations name besides CK_ULONG and CK_BYTE (pkcs11t.h: all CK_ULONG or pointers).
PREAMBLE = """
#include <stddef.h>
#include <stdio.h>
typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef CK_BYTE *CK_BYTE_PTR;
typedef void *CK_VOID_PTR;
typedef CK_ULONG CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE, CK_RSA_PKCS_OAEP_SOURCE_TYPE, CK_EC_KDF_TYPE;
typedef CK_ULONG CK_HEDGE_TYPE, CK_X9_42_DH_KDF_TYPE;
"""


def _read(address: int, length: int) -> bytes:
    if not address:
        if length:
            raise CkError(ReturnValue.ARGUMENTS_BAD, "NULL")
        return b""
    return ctypes.string_at(address, length)


def test_every_row_has_the_plans_its_flags_promise() -> None:
    for kind, spec in MECHANISMS.items():
        assert isinstance(kind, Mechanism)
        if spec.flags & (F.ENCRYPT | F.DECRYPT):
            assert spec.cipher is not None, kind
        if spec.flags & (F.SIGN | F.VERIFY):
            assert spec.signature is not None, kind
        if spec.flags & (F.WRAP | F.UNWRAP):
            assert spec.wrap is not None, kind
        if spec.flags & (F.GENERATE | F.GENERATE_KEY_PAIR):
            assert spec.key_type is not None, kind
        if spec.flags & F.DERIVE:
            assert spec.derive is not None, kind
        if spec.flags & F.DIGEST:
            assert spec.hash_name is not None, kind
        sizes = [layout.size for layout in spec.parameter]
        assert len(sizes) == len(set(sizes)), f"{kind.name}: layouts must differ in size to be told apart"


def test_layouts_match_the_c_compiler(tmp_path: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "the PKCS#11 library itself is built with a C compiler"
    body = []
    for _name, layout in LAYOUTS:
        body.append(f'printf("{layout.name} size %zu\\n", sizeof({layout.name}));')
        if layout.typedef is None:
            body += [
                f'printf("{layout.name} {f.name} %zu\\n", offsetof({layout.name}, {f.name}));' for f in layout.fields
            ]
    source = tmp_path / "layouts.c"
    declarations = "\n".join(layout.declaration() for _name, layout in LAYOUTS)
    source.write_text(PREAMBLE + declarations + "\nint main(void) {\n" + "\n".join(body) + "\nreturn 0;\n}\n")
    subprocess.run([compiler, "-Wall", "-Werror", "-o", str(tmp_path / "layouts"), str(source)], check=True)
    printed = subprocess.run([str(tmp_path / "layouts")], check=True, capture_output=True, text=True).stdout
    expected = []
    for _name, layout in LAYOUTS:
        expected.append(f"{layout.name} size {layout.size}")
        if layout.typedef is None:
            expected += [f"{layout.name} {member} {offset}" for member, offset in layout.offsets().items()]
    assert printed.splitlines() == expected


class _Gcm(ctypes.Structure):
    _fields_ = [
        ("pIv", ctypes.c_void_p),
        ("ulIvLen", ctypes.c_ulong),
        ("ulIvBits", ctypes.c_ulong),
        ("pAAD", ctypes.c_void_p),
        ("ulAADLen", ctypes.c_ulong),
        ("ulTagBits", ctypes.c_ulong),
    ]


def _raw(structure: ctypes.Structure) -> bytes:
    return ctypes.string_at(ctypes.addressof(structure), ctypes.sizeof(structure))


def test_a_layout_reads_c_memory() -> None:
    iv, aad = ctypes.create_string_buffer(b"\x01" * 12, 12), ctypes.create_string_buffer(b"header", 6)
    gcm = _Gcm(ctypes.addressof(iv), 12, 96, ctypes.addressof(aad), 6, 128)
    assert PARAMETER_LAYOUTS[Mechanism.AES_GCM][ctypes.sizeof(gcm)] is GCM_PARAMS
    assert GCM_PARAMS.read(_raw(gcm), _read) == GcmParams(b"\x01" * 12, b"header", 128)
    assert GCM_PARAMS_V240.size == ctypes.sizeof(gcm) - 8
    # no label: pSourceData NULL with length 0 is legal; NULL with a length is not
    oaep = (ctypes.c_ulong * 5)(Mechanism.SHA256, 2, 1, 0, 0)
    assert OAEP_PARAMS.read(bytes(oaep), _read) == OaepParams(Mechanism.SHA256, 2, 1, b"")
    oaep[4] = 5
    with pytest.raises(CkError) as caught:
        OAEP_PARAMS.read(bytes(oaep), _read)
    assert caught.value.rv == ReturnValue.ARGUMENTS_BAD


def test_a_declaration_reads_like_the_header() -> None:
    assert GCM_PARAMS.declaration() == (
        "typedef struct CK_GCM_PARAMS {\n    CK_BYTE_PTR pIv;\n    CK_ULONG ulIvLen;\n    CK_ULONG ulIvBits;\n"
        "    CK_BYTE_PTR pAAD;\n    CK_ULONG ulAADLen;\n    CK_ULONG ulTagBits;\n} CK_GCM_PARAMS;"
    )
    assert isinstance(GCM_PARAMS, CStruct)
