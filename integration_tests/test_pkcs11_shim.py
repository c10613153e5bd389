"""libkeystead_pkcs11.so driven by real consumers: pkcs11-tool (OpenSC), python-pkcs11 on Python 3.11 (the
library shares the host's interpreter), a Python 3.12 host (served by the library's worker process), and a C
program for fork and robustness cases, directly and through the worker. Each test gets its own token
(``keystead pkcs11 init``) with an embedded store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from c_shim import build

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
USER_PIN, SO_PIN = "1234", "5678"
TIMEOUT = 120


@pytest.fixture
def token(tmp_path: Path) -> dict[str, str]:
    """A fresh token; returns the environment that selects it."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kms_backend.cli",
            "pkcs11",
            "init",
            "--dir",
            str(tmp_path / "token"),
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
            "--label",
            "itest",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    assert result.stdout.startswith("export KEYSTEAD_PKCS11_CONFIG=")
    config = result.stdout.strip().split("=", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = config
    return env


def run(args: list[str], env: dict[str, str], cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    # cwd "/": the library must find its packages without the project directory being current
    return subprocess.run(args, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


# -- pkcs11-tool -----------------------------------------------------------------------------------------------------
@pytest.fixture
def pkcs11_tool() -> str:
    tool = shutil.which("pkcs11-tool")
    if tool is None:
        pytest.skip("pkcs11-tool not installed (Debian package opensc)")
    return tool


def test_pkcs11_tool_lists_and_generates(library: Path, token: dict[str, str], pkcs11_tool: str):
    module = [pkcs11_tool, "--module", str(library)]
    info = run([*module, "-I"], token)
    assert info.returncode == 0, info.stderr
    assert "Keystead" in info.stdout and "Cryptoki version 3.0" in info.stdout
    slots = run([*module, "-L"], token)
    assert "token label        : itest" in slots.stdout
    assert "token initialized" in slots.stdout and "PIN initialized" in slots.stdout
    mechanisms = run([*module, "-M"], token)
    assert "AES-KEY-GEN" in mechanisms.stdout
    keygen = run([*module, "--login", "--pin", USER_PIN, "--keygen", "--key-type", "AES:32", "--label", "k1"], token)
    assert keygen.returncode == 0, keygen.stderr
    assert "AES length 32" in keygen.stdout
    listed = run([*module, "--login", "--pin", USER_PIN, "-O"], token)
    assert listed.returncode == 0, listed.stderr
    assert "label:      k1" in listed.stdout
    wrong = run([*module, "--login", "--pin", "0000", "-O"], token)
    assert wrong.returncode != 0 and "CKR_PIN_INCORRECT" in wrong.stderr


def test_pkcs11_tool_data_objects(library: Path, token: dict[str, str], pkcs11_tool: str, tmp_path: Path):
    module = [pkcs11_tool, "--module", str(library), "--login", "--pin", USER_PIN]
    (tmp_path / "data.bin").write_bytes(b"hello data")
    written = run([*module, "--write-object", str(tmp_path / "data.bin"), "--type", "data", "--label", "d1"], token)
    assert written.returncode == 0, written.stderr
    read = subprocess.run(
        [*module, "--read-object", "--type", "data", "--label", "d1"],
        check=False,
        env=token,
        cwd="/",
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert read.returncode == 0 and read.stdout == b"hello data"
    random = subprocess.run(
        [*module, "--generate-random", "32"], check=False, env=token, cwd="/", capture_output=True, timeout=TIMEOUT
    )
    assert random.returncode == 0 and len(random.stdout) == 32


def test_pkcs11_tool_through_the_worker(library: Path, token: dict[str, str], pkcs11_tool: str):
    """KEYSTEAD_PKCS11_FORCE_BRIDGE=1 serves a C host as a foreign-Python host is served: through the worker."""
    env = token | {"KEYSTEAD_PKCS11_FORCE_BRIDGE": "1"}
    result = run(
        [
            pkcs11_tool,
            "--module",
            str(library),
            "--login",
            "--pin",
            USER_PIN,
            "--keygen",
            "--key-type",
            "AES:16",
            "--label",
            "bridged",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    listed = run([pkcs11_tool, "--module", str(library), "--login", "--pin", USER_PIN, "-O"], token)
    assert "bridged" in listed.stdout


# -- python-pkcs11 -----------------------------------------------------------------------------------------------------
PYTHON_PKCS11_SCRIPT = textwrap.dedent(
    """
    import sys
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    lib = pkcs11.lib(sys.argv[1])
    token = lib.get_token(token_label="itest")
    with token.open(user_pin=sys.argv[2], rw=True) as session:
        key = session.generate_key(KeyType.AES, 256, label="pk1", store=True)
        iv = bytes(16)
        sealed = key.encrypt(b"sixteen byte msg", mechanism=pkcs11.Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert key.decrypt(sealed, mechanism=pkcs11.Mechanism.AES_CBC_PAD, mechanism_param=iv) == b"sixteen byte msg"
        found = session.get_key(label="pk1")
        assert found[Attribute.VALUE_LEN] == 32, found[Attribute.VALUE_LEN]
        assert found[Attribute.SENSITIVE] and not found[Attribute.EXTRACTABLE]
        assert found[Attribute.LOCAL]
        try:
            found[Attribute.VALUE]
            raise SystemExit("sensitive value was returned")
        except pkcs11.exceptions.AttributeSensitive:
            pass
        session.generate_key(KeyType.AES, 128, label="temporary")  # a session object
        labels = sorted(o.label for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        assert labels == ["pk1", "temporary"], labels
        assert len(session.generate_random(256)) == 32
    with token.open(user_pin=sys.argv[2]) as session:
        labels = [o.label for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})]
        assert labels == ["pk1"], labels  # the session object died with its session
    with token.open() as session:
        assert list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})) == []  # private before login
    print("python-pkcs11 ok", sys.version_info[:2], lib.library_description)
    """
)


def _has_python_pkcs11(python: str) -> bool:
    return run([python, "-c", "import pkcs11"], dict(os.environ)).returncode == 0


def test_python_pkcs11_same_python(library: Path, token: dict[str, str], tmp_path: Path):
    if not _has_python_pkcs11(sys.executable):
        pytest.skip("python-pkcs11 is not installed (pip install python-pkcs11)")
    script = tmp_path / "drive.py"
    script.write_text(PYTHON_PKCS11_SCRIPT)
    result = run([sys.executable, str(script), str(library), USER_PIN], token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "python-pkcs11 ok (3, 11)" in result.stdout and "Keystead" in result.stdout


def test_python_312_host_is_served_by_the_worker(library: Path, token: dict[str, str], python312: str, tmp_path: Path):
    script = tmp_path / "drive.py"
    script.write_text(PYTHON_PKCS11_SCRIPT)
    result = run([python312, str(script), str(library), USER_PIN], token)  # timeout: must not hang
    assert result.returncode == 0, result.stdout + result.stderr
    assert "python-pkcs11 ok (3, 12)" in result.stdout


# -- a C host: fork, NULL pointers, invalid handles ------------------------------------------------------------------
PROBE_C = textwrap.dedent(
    r"""
    #include <dlfcn.h>
    #include <stdio.h>
    #include <string.h>
    #include <sys/wait.h>
    #include <unistd.h>
    typedef unsigned long CK_ULONG, CK_RV;
    typedef struct { unsigned char major, minor; } CK_VERSION;
    typedef struct { CK_VERSION v; unsigned char m[32]; CK_ULONG flags; unsigned char d[32]; CK_VERSION l; } CK_INFO;
    typedef struct { CK_ULONG type; void *p; CK_ULONG len; } CK_ATTRIBUTE;
    typedef struct { unsigned char *name; void *list; CK_ULONG flags; } CK_INTERFACE;
    typedef struct { CK_ULONG mechanism; void *p; CK_ULONG len; } CK_MECHANISM_T;
    typedef CK_RV (*fn)();
    static int failures;
    #define EXPECT(call, want) do { CK_RV r = (call); if (r != (want)) { \
        printf("FAIL %s = 0x%lx, want 0x%lx\n", #call, r, (CK_ULONG)(want)); failures++; } } while (0)
    int main(int argc, char **argv) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
        #define F(name) ((fn)dlsym(h, #name))
        CK_INFO info; CK_ULONG n = 0, slot = 0, session = 0, count = 0;
        EXPECT(F(C_GetFunctionList)(NULL), 0x7);
        EXPECT(F(C_GetInfo)(&info), 0x190);                       /* not initialised */
        EXPECT(F(C_Initialize)(NULL), 0);
        EXPECT(F(C_Initialize)(NULL), 0x191);
        EXPECT(F(C_GetInfo)(NULL), 0x7);
        EXPECT(F(C_GetSlotList)(0, NULL, NULL), 0x7);
        EXPECT(F(C_GetSlotList)(0, NULL, &n), 0);
        if (n != 1) { printf("FAIL slot count %lu\n", n); failures++; }
        n = 0;
        EXPECT(F(C_GetSlotList)(0, &slot, &n), 0x150);            /* buffer too small */
        EXPECT(F(C_GetSlotList)(0, &slot, &n), 0);
        EXPECT(F(C_OpenSession)(slot, 4 | 2, NULL, NULL, NULL), 0x7);
        EXPECT(F(C_OpenSession)(slot, 2, NULL, NULL, &session), 0xB4);
        EXPECT(F(C_OpenSession)(99, 6, NULL, NULL, &session), 0x3);
        EXPECT(F(C_OpenSession)(slot, 6, NULL, NULL, &session), 0);
        EXPECT(F(C_CloseSession)(9999), 0xB3);
        CK_ATTRIBUTE label = {3, NULL, 0};
        EXPECT(F(C_GetAttributeValue)(session, 4242, &label, 1), 0x82);
        EXPECT(F(C_DestroyObject)(session, 4242), 0x82);
        EXPECT(F(C_FindObjects)(session, NULL, 1, &count), 0x7);
        EXPECT(F(C_FindObjects)(session, &n, 1, &count), 0x91);
        EXPECT(F(C_Login)(session, 1, (unsigned char *)"wrong", 5), 0xA0);
        EXPECT(F(C_Encrypt)(session, NULL, 0, NULL, NULL), 0x7);    /* NULL output length */
        EXPECT(F(C_Encrypt)(session, NULL, 0, NULL, &n), 0x91);     /* no C_EncryptInit */
        EXPECT(F(C_EncryptInit)(session, NULL, 0), 0x7);
        EXPECT(F(C_MessageEncryptInit)(session, NULL, 0), 0x54);
        EXPECT(F(C_Login)(session, 1, (unsigned char *)"1234", 4), 0);
        {
            CK_ULONG cls = 4, len32 = 32, key = 0, got = 0; unsigned char no = 0;
            CK_ATTRIBUTE tmpl[] = {{0, &cls, sizeof cls}, {0x161, &len32, sizeof len32}, {1, &no, 1}};
            CK_MECHANISM_T gen = {0x1080, NULL, 0};
            EXPECT(F(C_GenerateKey)(session, &gen, tmpl, 3, &key), 0);
            unsigned char iv[16] = {0}, data[20] = "twenty bytes of data", out[64], small[8];
            CK_MECHANISM_T cbc = {0x1085, iv, 16}, bad_iv = {0x1085, iv, 3}, ecdsa = {0x1041, NULL, 0};
            EXPECT(F(C_EncryptInit)(session, &cbc, 4242), 0x60);     /* invalid key handle */
            EXPECT(F(C_EncryptInit)(session, &bad_iv, key), 0x71);   /* IV of the wrong size */
            CK_MECHANISM_T no_iv = {0x1085, NULL, 16}, gcm_null = {0x1087, NULL, 40};
            EXPECT(F(C_EncryptInit)(session, &no_iv, key), 0x71);    /* a length and no IV: CBC needs one */
            EXPECT(F(C_EncryptInit)(session, &gcm_null, key), 0x71); /* a CK_GCM_PARAMS length, no pointer */
            EXPECT(F(C_SignInit)(session, &ecdsa, key), 0x63);       /* an AES key for ECDSA */
            EXPECT(F(C_EncryptInit)(session, &cbc, key), 0);
            EXPECT(F(C_EncryptInit)(session, &cbc, key), 0x90);      /* already active */
            EXPECT(F(C_Encrypt)(session, data, 20, NULL, &got), 0);  /* length query */
            if (got != 32) { printf("FAIL length query %lu\n", got); failures++; }
            got = sizeof small;
            EXPECT(F(C_Encrypt)(session, data, 20, small, &got), 0x150);
            got = sizeof out;
            EXPECT(F(C_Encrypt)(session, data, 20, out, &got), 0);
            EXPECT(F(C_Encrypt)(session, data, 20, out, &got), 0x91); /* the operation ended */
            EXPECT(F(C_EncryptInit)(session, &cbc, key), 0);
            EXPECT(F(C_Encrypt)(session, NULL, 20, out, &got), 0x7);  /* NULL data with a length */
            EXPECT(F(C_DecryptInit)(session, &cbc, key), 0);
            CK_ULONG back = sizeof small;
            EXPECT(F(C_Decrypt)(session, out, 31, small, &back), 0x41); /* not whole blocks */
            EXPECT(F(C_DecryptInit)(session, &cbc, key), 0);
            back = sizeof small;
            EXPECT(F(C_Decrypt)(session, out, 32, NULL, &back), 0);
            unsigned char plain[32]; back = sizeof plain;
            EXPECT(F(C_Decrypt)(session, out, 32, plain, &back), 0);
            if (back != 20 || memcmp(plain, data, 20)) { printf("FAIL round trip\n"); failures++; }
        }
        CK_INTERFACE list[3]; n = 0;
        EXPECT(F(C_GetInterfaceList)(NULL, &n), 0);
        if (n != 3) { printf("FAIL interface count %lu\n", n); failures++; }  /* 3.2, 3.0, 2.40 */
        EXPECT(F(C_GetInterfaceList)(list, &n), 0);
        CK_INTERFACE *iface = NULL;
        EXPECT(F(C_GetInterface)(NULL, NULL, &iface, 0), 0);
        if (!iface || ((CK_VERSION *)iface->list)->major != 3) { printf("FAIL default interface\n"); failures++; }
        EXPECT(F(C_GetInterface)((unsigned char *)"nope", NULL, &iface, 0), 0x7);
        pid_t pid = fork();
        if (pid == 0) {
            int bad = 0;
            if (F(C_GetInfo)(&info) != 0x190) bad |= 1;              /* the child must re-initialise */
            if (F(C_Initialize)(NULL) != 0) bad |= 2;
            CK_ULONG s = 0;
            if (F(C_OpenSession)(slot, 6, NULL, NULL, &s) != 0) bad |= 4;
            if (F(C_GetInfo)(&info) != 0) bad |= 8;
            if (F(C_Finalize)(NULL) != 0) bad |= 16;
            _exit(bad);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { printf("FAIL child status 0x%x\n", status); failures++; }
        EXPECT(F(C_GetInfo)(&info), 0);                            /* the parent is unaffected */
        EXPECT(F(C_CloseSession)(session), 0);
        EXPECT(F(C_Finalize)((void *)1), 0x7);
        EXPECT(F(C_Finalize)(NULL), 0);
        EXPECT(F(C_Finalize)(NULL), 0x190);
        printf(failures ? "probe failed\n" : "probe ok\n");
        return failures != 0;
    }
    """
)


@pytest.mark.parametrize("route", ["direct", "worker"])
def test_c_host_fork_null_pointers_and_invalid_handles(
    library: Path, token: dict[str, str], tmp_path: Path, route: str
):
    """The same answers whether the library serves the host itself or forwards to its worker (as for a
    foreign-Python host): the worker must carry NULL pointers, short buffers and fork exactly."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None
    (tmp_path / "probe.c").write_text(PROBE_C)
    subprocess.run(
        [compiler, "-o", str(tmp_path / "probe"), str(tmp_path / "probe.c"), "-ldl"], check=True, timeout=TIMEOUT
    )
    env = token | {"KEYSTEAD_PKCS11_FORCE_BRIDGE": "1"} if route == "worker" else token
    result = run([str(tmp_path / "probe"), str(library)], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "probe ok" in result.stdout


def test_keystead_pkcs11_path_reports_the_built_library():
    result = run([sys.executable, "-m", "kms_backend.cli", "pkcs11", "path"], dict(os.environ), cwd=ROOT)
    if build.LIBRARY_PATH.is_file():
        assert result.returncode == 0 and result.stdout.strip() == str(build.LIBRARY_PATH)
    else:
        assert result.returncode == 1 and "not built" in result.stderr
