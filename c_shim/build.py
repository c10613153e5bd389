"""Build ``libkeystead_pkcs11.so`` with cffi's embedding API: ``python -m c_shim.build``.

The library is generated from one table (``c_shim.functions``): every PKCS#11 3.0 entry point is exported and
forwards to an ``extern "Python"`` function bound in ``c_shim._marshal``; the 2.40 and 3.0 function lists point
at those exports; ``marshal.c`` adds the C helpers the marshaller calls to copy attribute templates. In a host
that runs another Python version the same entry points forward each call to a worker process instead
(``c_shim.forward``, from the same table and the mechanisms' parameter layouts). Facts about the building interpreter
(version, libpython, sys.path, executable) are recorded in the library so the embedded interpreter, and the worker,
find this project whatever the host's working directory and environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from provider.mechanisms import PARAMETER_LAYOUTS

from . import forward
from .functions import (
    ALL_FUNCTIONS,
    C_ONLY,
    FUNCTIONS_2_40,
    FUNCTIONS_3_0_EXTRA,
    KEPT_OUTPUT_KINDS,
    PYTHON_FUNCTIONS,
    Function,
)

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
BUILD_DIR = HERE / "_build"
LIBRARY_NAME = "libkeystead_pkcs11.so"
LIBRARY_PATH = BUILD_DIR / LIBRARY_NAME
MODULE_NAME = "_keystead_pkcs11"
CKR_GENERAL_ERROR = 0x05


def _params(function: Function) -> str:
    return ", ".join(f"{ctype} {name}" for ctype, name in function[1]) or "void"


def _args(function: Function) -> str:
    return ", ".join(name for _, name in function[1])


def _list_struct(name: str, functions: tuple[Function, ...]) -> str:
    members = "\n".join(f"    CK_RV (*{fn[0]})({_params(fn)});" for fn in functions)
    return f"struct {name} {{\n    CK_VERSION version;\n{members}\n}};\n"


def c_declarations() -> str:
    """Function-list types (their layout is the order of the table) and the Python callbacks' prototypes."""
    parts = [
        "typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;",
        "typedef CK_FUNCTION_LIST *CK_FUNCTION_LIST_PTR;",
        "typedef CK_FUNCTION_LIST_PTR *CK_FUNCTION_LIST_PTR_PTR;",
        "typedef struct CK_FUNCTION_LIST_3_0 CK_FUNCTION_LIST_3_0;",
        "typedef struct CK_FUNCTION_LIST_3_2 CK_FUNCTION_LIST_3_2;",
        _list_struct("CK_FUNCTION_LIST", FUNCTIONS_2_40),
        _list_struct("CK_FUNCTION_LIST_3_0", FUNCTIONS_2_40 + FUNCTIONS_3_0_EXTRA),
        _list_struct("CK_FUNCTION_LIST_3_2", ALL_FUNCTIONS),
        "static int ks_bound; /* set by c_shim._marshal.bind once every callback is attached */",
        "static void ks_mark_bound(void) { ks_bound = 1; }",
    ]
    parts += [f"static CK_RV ks_py_{fn[0]}({_params(fn)});" for fn in PYTHON_FUNCTIONS]
    return "\n".join(parts) + "\n"


def c_native_functions() -> str:
    """``ks_native_C_x``: the call into Python, for the host's own entry points and for the worker's."""
    out = []
    for fn in PYTHON_FUNCTIONS:
        name = fn[0]
        out.append(
            f"static inline CK_RV ks_native_{name}({_params(fn)}) {{\n"
            f"    CK_RV rv = ks_py_{name}({_args(fn)});\n"
            "    /* an interpreter that failed to start leaves the callback unbound; cffi then returns 0 */\n"
            "    return KS_UNLIKELY(!ks_bound) ? KS_CKR_GENERAL_ERROR : rv;\n"
            "}\n"
        )
    return "\n".join(out)


def c_entry_points() -> str:
    """The exported C_* functions and the three function lists (2.40, 3.0, 3.2). C_Encrypt, C_Decrypt and C_Sign
    first offer the call to ``ks_kept_serve`` (the second call of a length query, answered in C: shim.c), and
    C_GetAttributeValue to ``ks_answers_serve`` (likewise, for a held key's attributes)."""
    out: list[str] = []
    for fn in PYTHON_FUNCTIONS:
        name = fn[0]
        kind = KEPT_OUTPUT_KINDS.get(name)
        served = f"    if (ks_kept_serve({kind}, {_args(fn)})) return KS_CKR_OK;\n" if kind is not None else ""
        if name == "C_GetAttributeValue":
            served = f"    if (ks_answers_serve({_args(fn)})) return KS_CKR_OK;\n"
        out.append(
            f"KS_EXPORT CK_RV {name}({_params(fn)}) {{\n"
            "    CK_RV rv = ks_route();\n"
            "    if (KS_UNLIKELY(rv != KS_CKR_OK)) return rv;\n"
            f"    if (KS_UNLIKELY(ks_mode == KS_FOREIGN)) return ks_fwd_{name}({_args(fn)});\n"
            f"{served}"
            f"    return ks_native_{name}({_args(fn)});\n"
            "}\n"
        )
    out += [f"KS_EXPORT CK_RV {fn[0]}({_params(fn)});" for fn in ALL_FUNCTIONS if fn[0] in C_ONLY]
    names_2_40 = ",\n    ".join(fn[0] for fn in FUNCTIONS_2_40)
    names_3_0 = ",\n    ".join(fn[0] for fn in FUNCTIONS_2_40 + FUNCTIONS_3_0_EXTRA)
    out.append(f"static CK_FUNCTION_LIST ks_list_2_40 = {{\n    {{2, 40}},\n    {names_2_40}\n}};\n")
    out.append(f"static CK_FUNCTION_LIST_3_0 ks_list_3_0 = {{\n    {{3, 0}},\n    {names_3_0}\n}};\n")
    names_3_2 = ",\n    ".join(fn[0] for fn in ALL_FUNCTIONS)
    out.append(f"static CK_FUNCTION_LIST_3_2 ks_list_3_2 = {{\n    {{3, 2}},\n    {names_3_2}\n}};\n")
    return "\n".join(out)


C_INTERFACES = r"""
#define KS_INTERFACES 3
/* §5.4.4 C_GetFunctionList: no Python needed (the entries route a foreign-Python host themselves). */
KS_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
    if (!ppFunctionList) return KS_CKR_ARGUMENTS_BAD;
    CK_RV rv = ks_route();
    if (rv != KS_CKR_OK) return rv;
    *ppFunctionList = &ks_list_2_40;
    return KS_CKR_OK;
}

/* Newest first: C_GetInterface with no version gives the 3.2 list. */
static CK_INTERFACE ks_interfaces[KS_INTERFACES] = {
    {(CK_CHAR *)"PKCS 11", &ks_list_3_2, 0},
    {(CK_CHAR *)"PKCS 11", &ks_list_3_0, 0},
    {(CK_CHAR *)"PKCS 11", &ks_list_2_40, 0},
};

/* §5.4.5 C_GetInterfaceList: every list; their entries route foreign hosts themselves. */
KS_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {
    if (!pulCount) return KS_CKR_ARGUMENTS_BAD;
    if (!pInterfacesList) { *pulCount = KS_INTERFACES; return KS_CKR_OK; }
    if (*pulCount < KS_INTERFACES) { *pulCount = KS_INTERFACES; return 0x150UL; /* CKR_BUFFER_TOO_SMALL */ }
    memcpy(pInterfacesList, ks_interfaces, sizeof ks_interfaces);
    *pulCount = KS_INTERFACES;
    return KS_CKR_OK;
}

/* §5.4.6 C_GetInterface: by name ("PKCS 11" or NULL), version (NULL: the newest) and flags. */
KS_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                               CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags) {
    if (!ppInterface) return KS_CKR_ARGUMENTS_BAD;
    if (pInterfaceName && strcmp((const char *)pInterfaceName, "PKCS 11") != 0) return KS_CKR_ARGUMENTS_BAD;
    for (int i = 0; i < KS_INTERFACES; i++) {
        CK_VERSION *v = (CK_VERSION *)ks_interfaces[i].pFunctionList;
        if (pVersion && (pVersion->major != v->major || pVersion->minor != v->minor)) continue;
        if ((ks_interfaces[i].flags & flags) != flags) continue;
        *ppInterface = &ks_interfaces[i];
        return KS_CKR_OK;
    }
    return KS_CKR_ARGUMENTS_BAD;
}
"""


def _c_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def recorded_sys_path() -> list[str]:
    """The embedded interpreter's sys.path: this project first, then the building interpreter's own path."""
    paths = [str(PROJECT_ROOT)]
    for entry in sys.path:
        if entry and os.path.isdir(entry) and os.path.abspath(entry) not in paths:
            paths.append(os.path.abspath(entry))
    return paths


def c_source() -> str:
    """Everything after cffi's own prologue (which includes Python.h)."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    soname = sysconfig.get_config_var("INSTSONAME") or f"libpython{sys.version_info[0]}.{sys.version_info[1]}.so"
    defines = {
        "KS_PY_VERSION": _c_string(f"{sys.version_info[0]}.{sys.version_info[1]}"),
        "KS_LIBPYTHON_SONAME": _c_string(soname),
        "KS_LIBPYTHON_PATH": _c_string(os.path.join(libdir, soname)),
        "KS_PYTHON_HOME": _c_string(sys.base_prefix),
        "KS_SYS_PATH": ", ".join(_c_string(p) for p in recorded_sys_path()),
        # the worker for a foreign-Python host: this interpreter, and the project it imports c_shim.worker from
        "KS_PYTHON_EXECUTABLE": _c_string(sys.executable),
        "KS_PROJECT_ROOT": _c_string(str(PROJECT_ROOT)),
        "KS_WORKER_START_MS": "30000",
        "KS_WORKER_EXIT_MS": "5000",
    }
    forward_head, forward_body = forward.c_code(PYTHON_FUNCTIONS, forward.layouts_from(PARAMETER_LAYOUTS))
    return "\n".join(
        [
            *(f"#define {k} {v}" for k, v in defines.items()),
            (HERE / "pkcs11_decls.h").read_text(),
            c_declarations(),
            (HERE / "shim.c").read_text(),
            c_native_functions(),
            forward_head,
            (HERE / "forward.c").read_text(),
            forward_body,
            (HERE / "marshal.c").read_text(),
            c_entry_points(),
            C_INTERFACES,
        ]
    )


#: The C functions the marshaller calls (``marshal.c``; ``ks_mark_bound`` once bound; shim.c's tables of outputs
#: and attribute values kept for the second call of a length query, through ``_marshal.KeptInC`` and
#: ``_marshal.AnswersInC``).
HELPERS = """
void ks_mark_bound(void);
CK_RV ks_read_template(const CK_ATTRIBUTE *t, CK_ULONG count, CK_ULONG *fields, unsigned char *values,
                       CK_ULONG capacity);
void ks_read_query(const CK_ATTRIBUTE *t, CK_ULONG count, CK_ULONG *fields);
CK_RV ks_write_query(CK_ATTRIBUTE *t, CK_ULONG count, const CK_ULONG *lengths, const char *data, CK_ULONG size);
unsigned long ks_kept_put(CK_SESSION_HANDLE session, int kind, const char *in, CK_ULONG in_len, const char *out,
                          CK_ULONG out_len);
extern unsigned long ks_kept_served[...];
int ks_kept_take(CK_SESSION_HANDLE session, int kind);
void ks_kept_forget(CK_SESSION_HANDLE session);
void ks_kept_clear(void);
int ks_answers_put(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, unsigned long generation, const CK_ULONG *fields,
                   CK_ULONG count, const CK_ULONG *lengths, const char *data, CK_ULONG size);
extern unsigned long ks_answers_generation[1];
void ks_answers_clear(void);
"""


def cdef() -> str:
    """What cffi must know: the PKCS#11 types, the Python callbacks, and the helpers the marshaller calls."""
    callbacks = "\n".join(f'extern "Python" CK_RV ks_py_{fn[0]}({_params(fn)});' for fn in PYTHON_FUNCTIONS)
    return (HERE / "pkcs11_decls.h").read_text() + HELPERS + callbacks


INIT_CODE = """
import sys
for _path in {paths!r}:
    if _path not in sys.path:
        sys.path.append(_path)
from {module} import ffi, lib
from c_shim import _marshal
_marshal.bind(ffi, lib)
"""


def build(output: Path = LIBRARY_PATH, *, verbose: bool = False) -> Path:
    """Compile the library to ``output`` (atomically replaced) and return its path."""
    import cffi

    ffibuilder = cffi.FFI()
    ffibuilder.cdef(cdef())
    ffibuilder.embedding_init_code(INIT_CODE.format(paths=recorded_sys_path(), module=MODULE_NAME))
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ffibuilder.set_source(
        MODULE_NAME,
        c_source(),
        extra_compile_args=["-O2", "-fvisibility=hidden", "-Wno-unused-function"],
        extra_link_args=[f"-Wl,-rpath,{libdir}", "-Wl,--disable-new-dtags", "-ldl", "-lpthread"],
        library_dirs=[libdir],
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keystead-shim-") as tmp:
        built = ffibuilder.compile(tmpdir=tmp, target=LIBRARY_NAME, verbose=verbose)
        staged = output.with_name(output.name + ".tmp")
        shutil.copyfile(built, staged)
        os.chmod(staged, 0o755)  # noqa: S103 (a shared library is world-readable and executable)
        # rename: a process that has the old library mapped keeps it intact
        os.replace(staged, output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m c_shim.build", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=LIBRARY_PATH, help=f"default: {LIBRARY_PATH}")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    path = build(args.output, verbose=args.verbose)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
