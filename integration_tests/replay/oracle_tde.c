/* Oracle Database TDE's HSM keystore calls, replayed against a PKCS#11 module (Oracle itself cannot run here).
 *
 * What is replayed (see integrations/oracle-tde/README.md and ../shared/notes/integrations.md section 7):
 *   - the library is loaded with dlopen + C_GetFunctionList and initialised with C_Initialize(NULL);
 *   - "IDENTIFIED BY <secret>" is passed whole to C_Login(CKU_USER) (HSM vendors document "user:pin");
 *   - the master key is C_GenerateKey(CKM_AES_KEY_GEN, 32 bytes) labelled ORACLE.TDE.HSM.MK.<MKID>: token,
 *     sensitive, not extractable, encrypt/decrypt/wrap/unwrap; Oracle checks those attributes afterwards;
 *   - later the key is found by CKA_LABEL alone as ORACLE.SECURITY.KM.ENCRYPTION.<hex of the MKID's ASCII>;
 *   - table and tablespace keys are wrapped with C_Encrypt and unwrapped with C_Decrypt, CKM_AES_CBC_PAD or
 *     CKM_AES_CBC with a 16-byte IV;
 *   - many sessions at once (Oracle's server processes and threads);
 *   - every output pointer (phSession, pulObjectCount, phObject, phKey, pulEncryptedDataLen...) points into a
 *     packed structure, so it is misaligned, as in Oracle's own callers; the bytes around it must stay intact.
 *
 * Usage: oracle_tde LIBRARY SECRET COMMAND [ARGS]
 *   open                               log in and print the session state
 *   set-key MKID                       generate the master key and check it as Oracle does
 *   encrypt MKID cbc|cbc-pad IV DATA   print the ciphertext (hex arguments and output)
 *   decrypt MKID cbc|cbc-pad IV DATA   print the plaintext
 *   stress MKID THREADS ROUNDS         THREADS sessions wrapping and unwrapping random table keys at once
 * Exit status 3 and "C_X failed: CK_RV 0x.." on stderr when the module refuses a call. */
#include <pthread.h>

#include "p11_client.h"

#define CANARY 0xA5

#pragma pack(push, 1)
/* Output variables as Oracle lays them out: each one byte past an 8-byte boundary. */
typedef struct {
    CK_BYTE pad0;
    CK_SESSION_HANDLE session;
    CK_BYTE pad1;
    CK_ULONG count;
    CK_BYTE pad2;
    CK_OBJECT_HANDLE object;
    CK_BYTE pad3;
    CK_OBJECT_HANDLE key;
    CK_BYTE pad4;
    CK_ULONG length;
    CK_BYTE pad5;
} Outputs;
#pragma pack(pop)

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;

static void outputs_init(Outputs *out) {
    memset(out, 0, sizeof *out);
    out->pad0 = out->pad1 = out->pad2 = out->pad3 = out->pad4 = out->pad5 = CANARY;
}

static void outputs_check(const Outputs *out) {
    if (((unsigned long)&out->session) % sizeof(CK_ULONG) == 0) {
        fprintf(stderr, "harness error: the output pointers are aligned\n");
        exit(2);
    }
    if (out->pad0 != CANARY || out->pad1 != CANARY || out->pad2 != CANARY || out->pad3 != CANARY ||
        out->pad4 != CANARY || out->pad5 != CANARY) {
        fprintf(stderr, "the module wrote outside an output variable\n");
        exit(4);
    }
}

static void master_label(const char *mkid, char *out, size_t size) { snprintf(out, size, "ORACLE.TDE.HSM.MK.%s", mkid); }

static void security_label(const char *mkid, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "ORACLE.SECURITY.KM.ENCRYPTION.");
    for (const char *c = mkid; *c && used + 3 < size; c++) used += (size_t)snprintf(out + used, size - used, "%02X", *c);
}

static CK_SESSION_HANDLE open_session(Outputs *out) {
    CHECK(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &out->session));
    outputs_check(out);
    return out->session;
}

static void login(CK_SESSION_HANDLE session, const char *secret) {
    CK_RV rv = p11->C_Login(session, CKU_USER, (CK_BYTE *)secret, strlen(secret));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        fprintf(stderr, "C_Login failed: CK_RV 0x%lx\n", rv);
        exit(3);
    }
}

/* The label-only search Oracle makes for its master key; exactly one object must answer. */
static CK_OBJECT_HANDLE find_master_key(CK_SESSION_HANDLE session, const char *mkid, Outputs *out) {
    char label[256];
    security_label(mkid, label, sizeof label);
    CK_ATTRIBUTE template[] = {{CKA_LABEL, label, strlen(label)}};
    CHECK(p11->C_FindObjectsInit(session, template, 1));
    CK_OBJECT_HANDLE found = 0;
    CK_ULONG total = 0;
    for (;;) {
        CHECK(p11->C_FindObjects(session, &out->object, 1, &out->count));
        outputs_check(out);
        if (out->count == 0) break;
        total += out->count;
        found = out->object;
    }
    CHECK(p11->C_FindObjectsFinal(session));
    if (total != 1) {
        fprintf(stderr, "label-only search for %s found %lu objects\n", label, total);
        exit(5);
    }
    return found;
}

static CK_MECHANISM_TYPE mechanism_named(const char *name) {
    if (strcmp(name, "cbc-pad") == 0) return CKM_AES_CBC_PAD;
    if (strcmp(name, "cbc") == 0) return CKM_AES_CBC;
    fprintf(stderr, "unknown mechanism %s\n", name);
    exit(2);
}

/* C_Encrypt or C_Decrypt, length query first (NULL output), then into a buffer of exactly that size. */
static CK_ULONG crypt(CK_SESSION_HANDLE session, int encrypt, CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key,
                      CK_BYTE *iv, CK_BYTE *in, CK_ULONG in_len, CK_BYTE *result, Outputs *out) {
    CK_MECHANISM mechanism = {type, iv, 16};
    if (encrypt) {
        CHECK(p11->C_EncryptInit(session, &mechanism, key));
        CHECK(p11->C_Encrypt(session, in, in_len, NULL, &out->length));
        outputs_check(out);
        CHECK(p11->C_Encrypt(session, in, in_len, result, &out->length));
    } else {
        CHECK(p11->C_DecryptInit(session, &mechanism, key));
        CHECK(p11->C_Decrypt(session, in, in_len, NULL, &out->length));
        outputs_check(out);
        CHECK(p11->C_Decrypt(session, in, in_len, result, &out->length));
    }
    outputs_check(out);
    return out->length;
}

static void set_key(CK_SESSION_HANDLE session, const char *mkid, Outputs *out) {
    char label[256];
    master_label(mkid, label, sizeof label);
    CK_OBJECT_CLASS class = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    CK_ULONG length = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE template[] = {
        {CKA_CLASS, &class, sizeof class},  {CKA_KEY_TYPE, &key_type, sizeof key_type},
        {CKA_LABEL, label, strlen(label)},  {CKA_VALUE_LEN, &length, sizeof length},
        {CKA_TOKEN, &yes, 1},               {CKA_SENSITIVE, &yes, 1},
        {CKA_EXTRACTABLE, &no, 1},          {CKA_ENCRYPT, &yes, 1},
        {CKA_DECRYPT, &yes, 1},             {CKA_WRAP, &yes, 1},
        {CKA_UNWRAP, &yes, 1},
    };
    CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, NULL, 0};
    CHECK(p11->C_GenerateKey(session, &mechanism, template, sizeof template / sizeof *template, &out->key));
    outputs_check(out);
    /* What Oracle checks on its master key; CKA_VALUE must stay inside. */
    CK_BBOOL sensitive = 0, extractable = 1, wrap = 0, unwrap = 0, token = 0;
    CK_ATTRIBUTE check[] = {{CKA_SENSITIVE, &sensitive, 1}, {CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_WRAP, &wrap, 1},           {CKA_UNWRAP, &unwrap, 1},
                            {CKA_TOKEN, &token, 1}};
    CHECK(p11->C_GetAttributeValue(session, out->key, check, 5));
    if (!sensitive || extractable || !wrap || !unwrap || !token) {
        fprintf(stderr, "master key attributes: sensitive=%d extractable=%d wrap=%d unwrap=%d token=%d\n", sensitive,
                extractable, wrap, unwrap, token);
        exit(6);
    }
    CK_BYTE value[64];
    CK_ATTRIBUTE secret[] = {{CKA_VALUE, value, sizeof value}};
    if (p11->C_GetAttributeValue(session, out->key, secret, 1) != CKR_ATTRIBUTE_SENSITIVE) {
        fprintf(stderr, "the master key's CKA_VALUE was readable\n");
        exit(6);
    }
    if (find_master_key(session, mkid, out) != out->key) {
        fprintf(stderr, "the label-only search found another object than the new master key\n");
        exit(5);
    }
    printf("master key %s\n", label);
}

typedef struct {
    const char *mkid;
    int rounds;
    int failures;
} Worker;

/* One Oracle server process's session: wrap and unwrap fresh table keys with the master key. */
static void *stress_worker(void *arg) {
    Worker *worker = arg;
    Outputs out;
    outputs_init(&out);
    CK_SESSION_HANDLE session = open_session(&out);
    CK_OBJECT_HANDLE key = find_master_key(session, worker->mkid, &out);
    for (int round = 0; round < worker->rounds; round++) {
        CK_BYTE table_key[48], iv[16], wrapped[80], unwrapped[80];
        CHECK(p11->C_GenerateRandom(session, table_key, sizeof table_key));
        CHECK(p11->C_GenerateRandom(session, iv, sizeof iv));
        CK_MECHANISM_TYPE type = round % 2 ? CKM_AES_CBC : CKM_AES_CBC_PAD;
        CK_ULONG plain_len = round % 2 ? 48 : 32 + (CK_ULONG)(round % 16);
        CK_ULONG wrapped_len = crypt(session, 1, type, key, iv, table_key, plain_len, wrapped, &out);
        CK_ULONG back = crypt(session, 0, type, key, iv, wrapped, wrapped_len, unwrapped, &out);
        if (back != plain_len || memcmp(unwrapped, table_key, plain_len) != 0) worker->failures++;
    }
    CHECK(p11->C_CloseSession(session));
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s LIBRARY SECRET open|set-key|encrypt|decrypt|stress ...\n", argv[0]);
        return 2;
    }
    const char *secret = argv[2], *command = argv[3];
    p11 = p11_load(argv[1]);
    CHECK(p11->C_Initialize(NULL));
    Outputs out;
    outputs_init(&out);
    CHECK(p11->C_GetSlotList(CK_TRUE, NULL, &out.count));
    outputs_check(&out);
    if (out.count == 0) {
        fprintf(stderr, "no slot with a token\n");
        return 3;
    }
    CK_SLOT_ID slots[16];
    out.count = 16;
    CHECK(p11->C_GetSlotList(CK_TRUE, slots, &out.count));
    slot = slots[0];
    CK_SESSION_HANDLE session = open_session(&out);
    login(session, secret);

    if (strcmp(command, "open") == 0) {
        CK_SESSION_INFO info;
        CHECK(p11->C_GetSessionInfo(session, &info));
        printf("keystore open: session state %lu\n", info.state);
    } else if (strcmp(command, "set-key") == 0 && argc == 5) {
        set_key(session, argv[4], &out);
    } else if ((strcmp(command, "encrypt") == 0 || strcmp(command, "decrypt") == 0) && argc == 8) {
        CK_BYTE iv[16], data[4096], result[4200];
        if (hex_parse(argv[6], iv, sizeof iv) != 16) {
            fprintf(stderr, "the IV is 16 bytes\n");
            return 2;
        }
        CK_ULONG length = hex_parse(argv[7], data, sizeof data);
        CK_OBJECT_HANDLE key = find_master_key(session, argv[4], &out);
        int encrypt = command[0] == 'e';
        CK_ULONG n = crypt(session, encrypt, mechanism_named(argv[5]), key, iv, data, length, result, &out);
        hex_print(result, n);
    } else if (strcmp(command, "stress") == 0 && argc == 7) {
        int threads = atoi(argv[5]);
        pthread_t ids[64];
        Worker workers[64];
        if (threads < 1 || threads > 64) return 2;
        for (int i = 0; i < threads; i++) {
            workers[i] = (Worker){argv[4], atoi(argv[6]), 0};
            pthread_create(&ids[i], NULL, stress_worker, &workers[i]);
        }
        int failures = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(ids[i], NULL);
            failures += workers[i].failures;
        }
        if (failures) {
            fprintf(stderr, "%d table keys did not come back intact\n", failures);
            return 7;
        }
        printf("%d sessions x %s rounds: every table key came back\n", threads, argv[6]);
    } else {
        fprintf(stderr, "bad command line\n");
        return 2;
    }
    CHECK(p11->C_CloseSession(session));
    CHECK(p11->C_Finalize(NULL));
    return 0;
}
