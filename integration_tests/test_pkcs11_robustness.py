"""Edge cases of the C ABI a careful HSM survives, driven from a C program: an empty C_GetAttributeValue template,
undersized value buffers (CKR_BUFFER_TOO_SMALL, the caller's memory untouched beyond them), input templates (a NULL
value with a length; values of several sizes read back beside a length query and a missing attribute) and an OAEP
parameter with no source data (NULL pSourceData with ulSourceDataLen 0 is legal). The same program runs both routes a
host can take: the library embedding Python in the caller's process, and the worker process a foreign-Python host is
served by (``KEYSTEAD_PKCS11_FORCE_BRIDGE=1`` sends this C host there), whose forwarding must carry each case through
unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.shim]

USER_PIN, SO_PIN = "1234", "5678"
TIMEOUT = 120

PROBE_C = textwrap.dedent(
    r"""
    #include <dlfcn.h>
    #include <stdio.h>
    #include <string.h>
    typedef unsigned long CK_ULONG, CK_RV;
    typedef struct { CK_ULONG type; void *p; CK_ULONG len; } CK_ATTRIBUTE;
    typedef struct { CK_ULONG mechanism; void *p; CK_ULONG len; } CK_MECHANISM_T;
    typedef struct { CK_ULONG hashAlg, mgf, source; void *pSourceData; CK_ULONG ulSourceDataLen; } CK_OAEP;
    typedef CK_RV (*fn)();
    static int failures;
    #define EXPECT(call, want) do { CK_RV r = (call); if (r != (want)) { \
        printf("FAIL %s = 0x%lx, want 0x%lx\n", #call, r, (CK_ULONG)(want)); failures++; } } while (0)
    #define INTACT(buf, from, n) do { for (int i = (from); i < (n); i++) if ((buf)[i] != 0xAA) { \
        printf("FAIL %s[%d] overwritten\n", #buf, i); failures++; break; } } while (0)
    int main(int argc, char **argv) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
        #define F(name) ((fn)dlsym(h, #name))
        CK_ULONG slot = 1, session = 0, n = 1;
        EXPECT(F(C_Initialize)(NULL), 0);
        EXPECT(F(C_GetSlotList)(0, &slot, &n), 0);
        EXPECT(F(C_OpenSession)(slot, 6, NULL, NULL, &session), 0);
        EXPECT(F(C_Login)(session, 1, (unsigned char *)"1234", 4), 0);
        CK_ULONG cls = 4, len = 16, key = 0; unsigned char yes = 1, no = 0;
        CK_ATTRIBUTE tmpl[] = {{0, &cls, sizeof cls}, {0x161, &len, sizeof len}, {0x162, &yes, 1}, {0x103, &no, 1}};
        CK_MECHANISM_T gen = {0x1080, NULL, 0};
        EXPECT(F(C_GenerateKey)(session, &gen, tmpl, 4, &key), 0);

        /* a template of count 0, with and without a pointer; a NULL template that claims entries */
        EXPECT(F(C_GetAttributeValue)(session, key, NULL, 0), 0);
        EXPECT(F(C_GetAttributeValue)(session, key, tmpl, 0), 0);
        EXPECT(F(C_GetAttributeValue)(session, key, NULL, 2), 0x7);
        EXPECT(F(C_GetAttributeValue)(session, key + 1000, tmpl, 0), 0x82); /* the handle is still checked */

        /* CK_BBOOL and CK_ULONG values into buffers too small for them */
        unsigned char guard[16];
        memset(guard, 0xAA, sizeof guard);
        CK_ATTRIBUTE extractable = {0x162, guard, 0};
        EXPECT(F(C_GetAttributeValue)(session, key, &extractable, 1), 0x150);
        if (extractable.len != (CK_ULONG)-1) { printf("FAIL ulValueLen %lu\n", extractable.len); failures++; }
        INTACT(guard, 0, 16);
        CK_ATTRIBUTE size_only = {0x162, NULL, 0}; /* NULL pValue: the length alone */
        EXPECT(F(C_GetAttributeValue)(session, key, &size_only, 1), 0);
        if (size_only.len != 1) { printf("FAIL CK_BBOOL length %lu\n", size_only.len); failures++; }
        CK_ATTRIBUTE klass = {0, guard, sizeof(CK_ULONG) - 1};
        EXPECT(F(C_GetAttributeValue)(session, key, &klass, 1), 0x150);
        INTACT(guard, 0, 16);
        CK_ATTRIBUTE both[] = {{0x162, guard, 1}, {0x161, guard + 1, 2}};
        EXPECT(F(C_GetAttributeValue)(session, key, both, 2), 0x150); /* the first fits, the second does not */
        if (guard[0] != 1 || both[0].len != 1) { printf("FAIL CKA_EXTRACTABLE not returned\n"); failures++; }
        INTACT(guard, 1, 16);
        CK_ATTRIBUTE value = {0x11, guard, 15};
        EXPECT(F(C_GetAttributeValue)(session, key, &value, 1), 0x150);
        INTACT(guard, 1, 16);

        /* input templates: a NULL value with a length; values of several sizes, more than 256 bytes in all, read
           back in place, beside a length query and an attribute the object lacks */
        CK_ULONG data_class = 0, data = 0;
        unsigned char blob[1000];
        for (int i = 0; i < (int)sizeof blob; i++) blob[i] = (unsigned char)(i * 7);
        CK_ATTRIBUTE null_value[] = {{0, &data_class, sizeof data_class}, {0x11, NULL, 4}};
        EXPECT(F(C_CreateObject)(session, null_value, 2, &data), 0x7);
        CK_ATTRIBUTE made[] = {{0, &data_class, sizeof data_class}, {0x3, "probe label", 11}, {0x10, "", 0},
                               {0x11, blob, sizeof blob}};
        EXPECT(F(C_CreateObject)(session, made, 4, &data), 0);
        unsigned char label[32], read_back[1000];
        memset(label, 0xAA, sizeof label);
        CK_ATTRIBUTE asked[] = {{0x3, label, sizeof label}, {0x11, NULL, 0}, {0x161, guard, 8}, {0x11, read_back, 1000},
                                {0x10, guard + 8, 8}};
        EXPECT(F(C_GetAttributeValue)(session, data, asked, 5), 0x12); /* CKA_VALUE_LEN: not a data object's */
        if (asked[0].len != 11 || memcmp(label, "probe label", 11)) { printf("FAIL CKA_LABEL\n"); failures++; }
        INTACT(label, 11, 32);
        if (asked[1].len != sizeof blob) { printf("FAIL CKA_VALUE length %lu\n", asked[1].len); failures++; }
        if (asked[2].len != (CK_ULONG)-1) { printf("FAIL CKA_VALUE_LEN length %lu\n", asked[2].len); failures++; }
        if (asked[3].len != sizeof blob || memcmp(read_back, blob, sizeof blob)) {
            printf("FAIL CKA_VALUE\n");
            failures++;
        }
        if (asked[4].len != 0) { printf("FAIL CKA_APPLICATION length %lu\n", asked[4].len); failures++; }

        /* CKM_RSA_PKCS_OAEP with no label: NULL pSourceData, ulSourceDataLen 0 */
        CK_ULONG bits = 2048, pub = 0, priv = 0;
        CK_ATTRIBUTE pub_t[] = {{0x121, &bits, sizeof bits}};
        CK_MECHANISM_T rsa_gen = {0x0, NULL, 0};
        EXPECT(F(C_GenerateKeyPair)(session, &rsa_gen, pub_t, 1, NULL, 0, &pub, &priv), 0);
        CK_OAEP oaep = {0x250, 2, 1, NULL, 0}; /* SHA-256, MGF1-SHA-256, CKZ_DATA_SPECIFIED */
        CK_MECHANISM_T oaep_m = {0x9, &oaep, sizeof oaep};
        unsigned char sealed[256], opened[256];
        CK_ULONG sealed_len = sizeof sealed, opened_len = sizeof opened;
        EXPECT(F(C_EncryptInit)(session, &oaep_m, pub), 0);
        EXPECT(F(C_Encrypt)(session, (unsigned char *)"secret", 6, sealed, &sealed_len), 0);
        EXPECT(F(C_DecryptInit)(session, &oaep_m, priv), 0);
        EXPECT(F(C_Decrypt)(session, sealed, sealed_len, opened, &opened_len), 0);
        if (opened_len != 6 || memcmp(opened, "secret", 6)) { printf("FAIL OAEP round trip\n"); failures++; }
        CK_OAEP bad = {0x250, 2, 1, NULL, 4}; /* NULL with a length is not legal */
        CK_MECHANISM_T bad_m = {0x9, &bad, sizeof bad};
        EXPECT(F(C_EncryptInit)(session, &bad_m, pub), 0x7);

        EXPECT(F(C_Finalize)(NULL), 0);
        printf(failures ? "probe failed\n" : "probe ok\n");
        return failures != 0;
    }
    """
)


@pytest.mark.parametrize("route", ["embedded", "worker"])
def test_empty_templates_small_buffers_and_oaep_without_label(library: Path, tmp_path: Path, route: str):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the probe")
    subprocess.run(
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
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    (tmp_path / "probe.c").write_text(PROBE_C)
    subprocess.run(
        [compiler, "-o", str(tmp_path / "probe"), str(tmp_path / "probe.c"), "-ldl"], check=True, timeout=TIMEOUT
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(tmp_path / "token" / "pkcs11.yaml")
    if route == "worker":
        env["KEYSTEAD_PKCS11_FORCE_BRIDGE"] = "1"
    result = subprocess.run(
        [str(tmp_path / "probe"), str(library)],
        check=False,
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "probe ok" in result.stdout
