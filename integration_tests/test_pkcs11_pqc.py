"""PKCS#11 3.2 post-quantum mechanisms through libkeystead_pkcs11.so, driven by a C caller compiled here: the 3.2
interface (C_GetInterface, CK_FUNCTION_LIST_3_2 in the header's order), ML-KEM through C_EncapsulateKey and
C_DecapsulateKey, and ML-DSA signatures, on a fresh embedded token, called in-process and through the worker that
serves hosts running another Python."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from test_pkcs11_shim import TIMEOUT, USER_PIN, run, token  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

PQC_C = textwrap.dedent(
    r"""
    #include <dlfcn.h>
    #include <stdio.h>
    #include <string.h>
    typedef unsigned long CK_ULONG, CK_RV;
    typedef unsigned char CK_BYTE;
    typedef struct { CK_BYTE major, minor; } CK_VERSION;
    typedef struct { CK_ULONG type; void *p; CK_ULONG len; } CK_ATTRIBUTE;
    typedef struct { CK_ULONG mechanism; void *p; CK_ULONG len; } CK_MECHANISM;
    typedef CK_RV (*fn)();
    /* CK_FUNCTION_LIST_3_2: the version, then the 68 functions of 2.40, the 24 of 3.0 and the 12 of 3.2, in
     * pkcs11f.h order; C_EncapsulateKey and C_DecapsulateKey are the first two of 3.2. */
    typedef struct { CK_VERSION version; fn f[104]; } LIST_3_2;
    typedef struct { CK_BYTE *name; void *list; CK_ULONG flags; } CK_INTERFACE;
    enum { ENCAPSULATE = 92, DECAPSULATE = 93, UNWRAP_AUTHENTICATED = 103 };
    static int failures;
    #define EXPECT(call, want) do { CK_RV r = (call); if (r != (want)) { \
        printf("FAIL %s = 0x%lx, want 0x%lx\n", #call, r, (CK_ULONG)(want)); failures++; } } while (0)
    #define CHECK(cond) do { if (!(cond)) { printf("FAIL %s\n", #cond); failures++; } } while (0)
    int main(int argc, char **argv) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
        #define F(name) ((fn)dlsym(h, #name))
        CK_ULONG n = 0;
        EXPECT(F(C_GetInterfaceList)(NULL, &n), 0);
        CHECK(n == 3);
        CK_INTERFACE *iface = NULL;
        CK_VERSION v30 = {3, 0};
        EXPECT(F(C_GetInterface)((CK_BYTE *)"PKCS 11", &v30, &iface, 0), 0);
        CHECK(iface && ((CK_VERSION *)iface->list)->major == 3 && ((CK_VERSION *)iface->list)->minor == 0);
        EXPECT(F(C_GetInterface)(NULL, NULL, &iface, 0), 0);      /* no version: the newest */
        LIST_3_2 *l = (LIST_3_2 *)iface->list;
        CHECK(l->version.major == 3 && l->version.minor == 2);
        CHECK(l->f[ENCAPSULATE] == F(C_EncapsulateKey) && l->f[DECAPSULATE] == F(C_DecapsulateKey));
        CHECK(l->f[UNWRAP_AUTHENTICATED] == F(C_UnwrapKeyAuthenticated));
        CHECK(l->f[0] == F(C_Initialize));
        EXPECT(l->f[0](NULL), 0);
        CK_ULONG slot = 0, session = 0; n = 1;
        EXPECT(F(C_GetSlotList)(0, &slot, &n), 0);
        EXPECT(F(C_OpenSession)(slot, 6, NULL, NULL, &session), 0);
        EXPECT(F(C_Login)(session, 1, (CK_BYTE *)argv[2], strlen(argv[2])), 0);
        CK_BYTE yes = 1, no = 0;
        CK_ULONG secret = 4, aes = 0x1f, len32 = 32, set_768 = 2, set_44 = 1, pub = 0, priv = 0;

        /* ML-KEM-768 */
        CK_ATTRIBUTE kem_pub[] = {{1, &no, 1}, {0x61d, &set_768, sizeof set_768}, {0x633, &yes, 1}};
        CK_ATTRIBUTE kem_priv[] = {{1, &no, 1}, {0x634, &yes, 1}};
        CK_MECHANISM kem_gen = {0xf, NULL, 0}, kem = {0x17, NULL, 0};
        EXPECT(F(C_GenerateKeyPair)(session, &kem_gen, kem_pub, 3, kem_priv, 2, &pub, &priv), 0);
        CK_ATTRIBUTE shared[] = {{0, &secret, sizeof secret}, {0x100, &aes, sizeof aes},
                                 {0x161, &len32, sizeof len32}, {1, &no, 1}, {0x103, &no, 1}, {0x162, &yes, 1}};
        CK_BYTE ct[2000], small[10];
        CK_ULONG ct_len = 0, sent = 0, received = 0;
        EXPECT(l->f[ENCAPSULATE](session, &kem, pub, shared, 6, NULL, &ct_len, &sent), 0);
        CHECK(ct_len == 1088 && sent == 0);                        /* a length query makes no key */
        ct_len = sizeof small;
        EXPECT(l->f[ENCAPSULATE](session, &kem, pub, shared, 6, small, &ct_len, &sent), 0x150);
        CHECK(ct_len == 1088);
        ct_len = sizeof ct;
        EXPECT(l->f[ENCAPSULATE](session, &kem, priv, shared, 6, ct, &ct_len, &sent), 0x63);
        EXPECT(l->f[ENCAPSULATE](session, &kem, pub, shared, 6, ct, &ct_len, &sent), 0);
        CHECK(ct_len == 1088 && sent != 0);
        EXPECT(l->f[DECAPSULATE](session, &kem, priv, shared, 6, ct, ct_len - 1, &received), 0x41);
        EXPECT(l->f[DECAPSULATE](session, &kem, priv, shared, 6, ct, ct_len, &received), 0);
        CK_BYTE one[32], two[32];
        CK_ATTRIBUTE v1 = {0x11, one, sizeof one}, v2 = {0x11, two, sizeof two};
        EXPECT(F(C_GetAttributeValue)(session, sent, &v1, 1), 0);
        EXPECT(F(C_GetAttributeValue)(session, received, &v2, 1), 0);
        CHECK(v1.len == 32 && v2.len == 32 && memcmp(one, two, 32) == 0);
        ct[5] ^= 1;                                                 /* implicit rejection: another secret */
        EXPECT(l->f[DECAPSULATE](session, &kem, priv, shared, 6, ct, ct_len, &received), 0);
        EXPECT(F(C_GetAttributeValue)(session, received, &v2, 1), 0);
        CHECK(memcmp(one, two, 32) != 0);

        /* ML-DSA-44 */
        CK_ATTRIBUTE dsa_pub[] = {{1, &no, 1}, {0x61d, &set_44, sizeof set_44}};
        CK_ATTRIBUTE dsa_priv[] = {{1, &no, 1}};
        CK_MECHANISM dsa_gen = {0x1c, NULL, 0}, dsa = {0x1d, NULL, 0};
        EXPECT(F(C_GenerateKeyPair)(session, &dsa_gen, dsa_pub, 2, dsa_priv, 1, &pub, &priv), 0);
        CK_BYTE message[] = "post-quantum", signature[4000];
        CK_ULONG sig_len = sizeof signature;
        EXPECT(F(C_SignInit)(session, &dsa, priv), 0);
        EXPECT(F(C_Sign)(session, message, 12, signature, &sig_len), 0);
        CHECK(sig_len == 2420);                                     /* FIPS 204: ML-DSA-44 signatures */
        EXPECT(F(C_VerifyInit)(session, &dsa, pub), 0);
        EXPECT(F(C_Verify)(session, message, 12, signature, sig_len), 0);
        message[0] ^= 1;
        EXPECT(F(C_VerifyInit)(session, &dsa, pub), 0);
        EXPECT(F(C_Verify)(session, message, 12, signature, sig_len), 0xC0);
        EXPECT(F(C_Finalize)(NULL), 0);
        printf(failures ? "pqc failed\n" : "pqc ok\n");
        return failures != 0;
    }
    """
)


@pytest.mark.parametrize("route", ["native", "worker"])
def test_ml_kem_and_ml_dsa_from_a_c_caller(library: Path, token: dict[str, str], tmp_path: Path, route: str):  # noqa: F811
    """``worker``: the calls forwarded as for a host running another Python (C_EncapsulateKey's length query and
    CK_SIGN_ADDITIONAL_CONTEXT-free ML-DSA included)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None
    (tmp_path / "pqc.c").write_text(PQC_C)
    subprocess.run(
        [compiler, "-o", str(tmp_path / "pqc"), str(tmp_path / "pqc.c"), "-ldl"], check=True, timeout=TIMEOUT
    )
    env = token | {"KEYSTEAD_PKCS11_FORCE_BRIDGE": "1"} if route == "worker" else token
    result = run([str(tmp_path / "pqc"), str(library), USER_PIN], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pqc ok" in result.stdout
