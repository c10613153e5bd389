/* VeraCrypt's security-token keyfile calls, replayed against a PKCS#11 module (VeraCrypt cannot be installed here).
 *
 * The call sequence follows VeraCrypt's SecurityToken code as recorded in ../shared/notes/integrations.md section 4:
 *   C_Initialize(NULL); C_GetSlotList(TRUE) twice (count, then slots); C_GetSlotInfo, skipping slots without
 *   CKF_TOKEN_PRESENT; C_GetTokenInfo; C_OpenSession(CKF_SERIAL_SESSION, plus CKF_RW_SESSION unless the token is
 *   write protected); C_GetSessionInfo, then C_Login(CKU_USER, PIN) only if the token has CKF_LOGIN_REQUIRED and the
 *   session is not logged in yet (CKR_USER_ALREADY_LOGGED_IN is fine);
 *   keyfiles: C_FindObjectsInit({CKA_CLASS = CKO_DATA}), C_FindObjects one handle at a time until none is left,
 *   C_FindObjectsFinal; per object C_GetAttributeValue(CKA_PRIVATE): objects that are not private are ignored;
 *   CKA_LABEL read in two calls (length, then value), empty labels ignored; the keyfile's path is
 *   token://slot/<slot id>/file/<label>;
 *   use: C_GetAttributeValue(CKA_VALUE) in two calls; only the first 1 MiB of a keyfile counts;
 *   import: refused if the label exists; C_CreateObject{CKA_CLASS=CKO_DATA, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL,
 *   CKA_VALUE}, then CKA_VALUE read back and the object destroyed if its length differs;
 *   delete: C_DestroyObject.
 *
 * Usage: veracrypt_token LIBRARY PIN list | export LABEL FILE | import LABEL FILE | delete LABEL
 * Exit status 3 and "C_X failed: CK_RV 0x.." on stderr when the module refuses a call. */
#include "p11_client.h"

#define MAX_KEYFILE (1024UL * 1024UL)
#define MAX_FILES 256

typedef struct {
    CK_SLOT_ID slot;
    CK_OBJECT_HANDLE handle;
    char label[256];
} Keyfile;

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE session;

static void open_token(const char *pin) {
    CK_ULONG count = 0;
    CHECK(p11->C_GetSlotList(CK_TRUE, NULL, &count));
    CK_SLOT_ID *slots = calloc(count ? count : 1, sizeof *slots);
    CHECK(p11->C_GetSlotList(CK_TRUE, slots, &count));
    for (CK_ULONG i = 0; i < count; i++) {
        CK_SLOT_INFO slot_info;
        CHECK(p11->C_GetSlotInfo(slots[i], &slot_info));
        if (!(slot_info.flags & CKF_TOKEN_PRESENT)) continue;
        CK_TOKEN_INFO token;
        CHECK(p11->C_GetTokenInfo(slots[i], &token));
        slot = slots[i];
        CK_FLAGS flags = CKF_SERIAL_SESSION | ((token.flags & CKF_WRITE_PROTECTED) ? 0 : CKF_RW_SESSION);
        CHECK(p11->C_OpenSession(slot, flags, NULL, NULL, &session));
        CK_SESSION_INFO info;
        CHECK(p11->C_GetSessionInfo(session, &info));
        int logged_in = info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS;
        if ((token.flags & CKF_LOGIN_REQUIRED) && !logged_in) {
            CK_BYTE *secret = (token.flags & CKF_PROTECTED_AUTHENTICATION_PATH) ? NULL : (CK_BYTE *)pin;
            CK_RV rv = p11->C_Login(session, CKU_USER, secret, secret ? strlen(pin) : 0);
            if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
                fprintf(stderr, "C_Login failed: CK_RV 0x%lx\n", rv);
                exit(3);
            }
        }
        free(slots);
        return;
    }
    fprintf(stderr, "no slot with a token\n");
    exit(3);
}

/* A two-call read: NULL pValue for the length, then the value. Returns a malloc'd buffer (NUL-terminated). */
static CK_BYTE *read_attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type, CK_ULONG *length) {
    CK_ATTRIBUTE probe = {type, NULL, 0};
    CHECK(p11->C_GetAttributeValue(session, object, &probe, 1));
    CK_BYTE *value = calloc(probe.ulValueLen + 1, 1);
    CK_ATTRIBUTE read = {type, value, probe.ulValueLen};
    CHECK(p11->C_GetAttributeValue(session, object, &read, 1));
    *length = read.ulValueLen;
    return value;
}

static size_t list_keyfiles(Keyfile *files) {
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE template[] = {{CKA_CLASS, &data, sizeof data}};
    CK_OBJECT_HANDLE handles[MAX_FILES];
    size_t found = 0, kept = 0;
    CHECK(p11->C_FindObjectsInit(session, template, 1));
    for (;;) {
        CK_ULONG count = 0;
        CHECK(p11->C_FindObjects(session, &handles[found], 1, &count));
        if (count == 0 || ++found == MAX_FILES) break;
    }
    CHECK(p11->C_FindObjectsFinal(session));
    for (size_t i = 0; i < found; i++) {
        CK_BBOOL private_object = CK_FALSE;
        CK_ATTRIBUTE is_private = {CKA_PRIVATE, &private_object, 1};
        CHECK(p11->C_GetAttributeValue(session, handles[i], &is_private, 1));
        if (private_object != CK_TRUE) continue;
        CK_ULONG length;
        CK_BYTE *label = read_attribute(handles[i], CKA_LABEL, &length);
        if (length > 0 && length < sizeof files[kept].label) {
            files[kept].slot = slot;
            files[kept].handle = handles[i];
            memcpy(files[kept].label, label, length + 1);
            kept++;
        }
        free(label);
    }
    return kept;
}

static const Keyfile *find_keyfile(const Keyfile *files, size_t count, const char *label) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(files[i].label, label) == 0) return &files[i];
    return NULL;
}

static int import_keyfile(const Keyfile *files, size_t count, const char *label, const char *path) {
    if (find_keyfile(files, count, label)) {
        fprintf(stderr, "a keyfile labelled %s is already on the token\n", label);
        return 8;
    }
    FILE *in = fopen(path, "rb");
    if (in == NULL) return 2;
    fseek(in, 0, SEEK_END);
    CK_ULONG size = (CK_ULONG)ftell(in);
    rewind(in);
    CK_BYTE *content = malloc(size ? size : 1);
    if (fread(content, 1, size, in) != size) return 2;
    fclose(in);
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE template[] = {{CKA_CLASS, &data, sizeof data},
                               {CKA_TOKEN, &yes, 1},
                               {CKA_PRIVATE, &yes, 1},
                               {CKA_LABEL, (void *)label, strlen(label)},
                               {CKA_VALUE, content, size}};
    CK_OBJECT_HANDLE object;
    CHECK(p11->C_CreateObject(session, template, 5, &object));
    CK_ULONG stored;
    free(read_attribute(object, CKA_VALUE, &stored));
    free(content);
    if (stored != size) {  /* the token truncated it: VeraCrypt removes the object and reports it */
        CHECK(p11->C_DestroyObject(session, object));
        fprintf(stderr, "the token kept %lu of %lu bytes\n", stored, size);
        return 9;
    }
    printf("imported token://slot/%lu/file/%s (%lu bytes)\n", slot, label, size);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s LIBRARY PIN list | export LABEL FILE | import LABEL FILE | delete LABEL\n", argv[0]);
        return 2;
    }
    const char *command = argv[3];
    p11 = p11_load(argv[1]);
    CHECK(p11->C_Initialize(NULL));
    open_token(argv[2]);
    static Keyfile files[MAX_FILES];
    size_t count = list_keyfiles(files);
    int status = 0;
    if (strcmp(command, "list") == 0) {
        for (size_t i = 0; i < count; i++) printf("token://slot/%lu/file/%s\n", files[i].slot, files[i].label);
    } else if (strcmp(command, "export") == 0 && argc == 6) {
        const Keyfile *file = find_keyfile(files, count, argv[4]);
        if (file == NULL) {
            fprintf(stderr, "no keyfile labelled %s\n", argv[4]);
            return 8;
        }
        CK_ULONG length;
        CK_BYTE *value = read_attribute(file->handle, CKA_VALUE, &length);
        FILE *out = fopen(argv[5], "wb");
        if (out == NULL) return 2;
        fwrite(value, 1, length > MAX_KEYFILE ? MAX_KEYFILE : length, out);
        fclose(out);
        free(value);
    } else if (strcmp(command, "import") == 0 && argc == 6) {
        status = import_keyfile(files, count, argv[4], argv[5]);
    } else if (strcmp(command, "delete") == 0 && argc == 5) {
        const Keyfile *file = find_keyfile(files, count, argv[4]);
        if (file == NULL) {
            fprintf(stderr, "no keyfile labelled %s\n", argv[4]);
            return 8;
        }
        CHECK(p11->C_DestroyObject(session, file->handle));
    } else {
        fprintf(stderr, "bad command line\n");
        return 2;
    }
    CHECK(p11->C_CloseSession(session));
    CHECK(p11->C_Finalize(NULL));
    return status;
}
