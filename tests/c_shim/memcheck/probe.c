/* Drives the PKCS#11 library under valgrind memcheck (tests/c_shim/test_memcheck.py): threads x sessions, huge
   templates, a fork whose child initialises again, and C_Finalize while calls are in flight. argv: library, threads. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
typedef unsigned long CK_ULONG, CK_RV;
typedef struct { CK_ULONG type; void *p; CK_ULONG len; } CK_ATTRIBUTE;
typedef struct { CK_ULONG mechanism; void *p; CK_ULONG len; } CK_MECHANISM_T;
typedef struct { void *create, *destroy, *lock, *unlock; CK_ULONG flags; void *reserved; } CK_INIT_ARGS;
typedef CK_RV (*fn)();
static void *h;
static int failures;
#define F(name) ((fn)dlsym(h, #name))
#define EXPECT(call, want) do { CK_RV r = (call); if (r != (want)) { \
    printf("FAIL %s = 0x%lx, want 0x%lx\n", #call, r, (CK_ULONG)(want)); __sync_fetch_and_add(&failures, 1); } } while (0)
static CK_ULONG slot = 1;
static volatile int finalized;

static CK_ULONG session_with_key(CK_ULONG *key) {
    CK_ULONG session = 0;
    EXPECT(F(C_OpenSession)(slot, 6, NULL, NULL, &session), 0);
    CK_RV r = F(C_Login)(session, 1, (unsigned char *)"1234", 4);
    if (r != 0 && r != 0x100) { printf("FAIL C_Login 0x%lx\n", r); __sync_fetch_and_add(&failures, 1); }
    CK_ULONG cls = 4, len = 32; unsigned char yes = 1;
    CK_ATTRIBUTE t[] = {{0, &cls, sizeof cls}, {0x161, &len, sizeof len}, {0x104, &yes, 1}, {0x105, &yes, 1}};
    CK_MECHANISM_T gen = {0x1080, NULL, 0};
    EXPECT(F(C_GenerateKey)(session, &gen, t, 4, key), 0);
    return session;
}

static int round_trip(CK_ULONG session, CK_ULONG key) {
    unsigned char iv[16] = {0}, in[64], out[96], back[96];
    memset(in, 7, sizeof in);
    CK_MECHANISM_T cbc = {0x1085, iv, sizeof iv}; /* CKM_AES_CBC_PAD */
    CK_ULONG out_len = sizeof out, back_len = sizeof back;
    CK_RV r = F(C_EncryptInit)(session, &cbc, key);
    if (r) return (int)r;
    if ((r = F(C_Encrypt)(session, in, sizeof in, NULL, &out_len))) return (int)r; /* length query: kept in C */
    if ((r = F(C_Encrypt)(session, in, sizeof in, out, &out_len))) return (int)r;  /* handed over by the entry */
    if ((r = F(C_DecryptInit)(session, &cbc, key))) return (int)r;
    if ((r = F(C_Decrypt)(session, out, out_len, back, &back_len))) return (int)r;
    if (back_len != sizeof in || memcmp(in, back, sizeof in)) return -1;
    return 0;
}

static void *worker(void *arg) {
    (void)arg;
    CK_ULONG keys[2] = {0, 0}, sessions[2] = {0, 0};
    for (int s = 0; s < 2; s++) sessions[s] = session_with_key(&keys[s]);
    for (int i = 0; i < 6; i++)
        for (int s = 0; s < 2; s++) {
            int r = round_trip(sessions[s], keys[s]);
            if (r) { printf("FAIL round trip %d\n", r); __sync_fetch_and_add(&failures, 1); }
        }
    for (int s = 0; s < 2; s++) EXPECT(F(C_CloseSession)(sessions[s]), 0);
    return NULL;
}

static void *in_flight(void *arg) {
    CK_ULONG session = ((CK_ULONG *)arg)[0], key = ((CK_ULONG *)arg)[1];
    /* Calls until C_Finalize lands: each returns a code (OK until then, then whatever error the library has in that
       state: not initialised, session or key handle invalid...), and none crashes or touches freed memory. */
    for (int i = 0; i < 200; i++)
        if (round_trip(session, key)) break;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("dlopen: %s\n", dlerror()); return 2; }
    CK_INIT_ARGS args = {NULL, NULL, NULL, NULL, 2 /* CKF_OS_LOCKING_OK */, NULL};
    EXPECT(F(C_Initialize)(&args), 0);
    CK_ULONG n = 1;
    EXPECT(F(C_GetSlotList)(0, &slot, &n), 0);
    /* One session logged in from the start to the end: the application stays logged in throughout. */
    CK_ULONG main_key = 0, main_session = session_with_key(&main_key);

    /* threads x sessions */
    pthread_t t[64];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);

    /* huge templates: 20000 attributes of 1 KiB in C_FindObjectsInit and C_GetAttributeValue */
    CK_ULONG key = 0, session = session_with_key(&key);
    int count = 20000;
    CK_ATTRIBUTE *huge = calloc(count, sizeof *huge);
    unsigned char *values = calloc(count, 1024);
    for (int i = 0; i < count; i++) { huge[i].type = 3 /* CKA_LABEL */; huge[i].p = values + 1024 * i; huge[i].len = 1024; }
    CK_RV r = F(C_FindObjectsInit)(session, huge, (CK_ULONG)count);
    if (r == 0) { CK_ULONG found[4], got = 0; F(C_FindObjects)(session, found, 4, &got); F(C_FindObjectsFinal)(session); }
    for (int i = 0; i < count; i++) huge[i].type = 0x11; /* CKA_VALUE: sensitive or too small, a code either way */
    r = F(C_GetAttributeValue)(session, key, huge, (CK_ULONG)count);
    if (r == 0) { printf("FAIL huge C_GetAttributeValue returned OK\n"); failures++; }
    CK_ULONG created = 0;
    EXPECT(F(C_CreateObject)(session, huge, (CK_ULONG)count, &created), 0x13); /* lengths left at -1 */
    free(huge); free(values);

    /* a fork: the child initialises again and works on its own */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        CK_RV ir = F(C_Initialize)(&args);
        if (ir != 0 && ir != 0x191) { printf("FAIL child C_Initialize 0x%lx\n", ir); _exit(1); }
        CK_ULONG child_key = 0, child_session = session_with_key(&child_key);
        int cr = round_trip(child_session, child_key);
        F(C_Finalize)(NULL);
        _exit(cr != 0 || failures != 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { printf("FAIL child status 0x%x\n", status); failures++; }
    EXPECT(round_trip(session, key), 0);
    EXPECT(round_trip(main_session, main_key), 0);

    /* C_Finalize while calls are in flight */
    CK_ULONG pairs[8][2] = {{0}};
    pthread_t busy[8];
    int nbusy = threads < 8 ? threads : 8;
    for (int i = 0; i < nbusy; i++) { pairs[i][0] = session_with_key(&pairs[i][1]); }
    for (int i = 0; i < nbusy; i++) pthread_create(&busy[i], NULL, in_flight, pairs[i]);
    usleep(200000);
    EXPECT(F(C_Finalize)(NULL), 0);
    for (int i = 0; i < nbusy; i++) pthread_join(busy[i], NULL);
    printf(failures ? "probe failed\n" : "probe ok\n");
    dlclose(h);
    return failures != 0;
}
